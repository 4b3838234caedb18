"""Export a trained denoiser for deployment without cae-denoise: TorchScript, or ONNX when ``onnx`` is installed.

The exported model takes an NCHW float32 batch in [0, 1] of any height and width and returns the denoised
batch, clamped to [0, 1]: it pads (edge replicate) to the architecture's size multiple and crops back inside,
as ``inference.run_model`` does. Tiling of large photos is left to the caller. A model told the noise level
(``unet-level``, the default model) estimates it per input image inside the TorchScript file (blind, as
``cae-denoise denoise`` is at ``--strength 1``); its ONNX file takes the level as a second input instead,
``level``: one value per image on the 0-255 scale (e.g. ``estimate_noise_sigma`` of each, times a strength).

    model = torch.jit.load("denoiser.pt")
    clean = model(noisy)  # N x 3 x H x W
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
import torch.nn.functional as functional
from torch import nn

from .checkpoint import load_model
from .errors import UsageError
from .models import takes_noise_level
from .noise import estimate_noise_sigma_batch
from .outputs import write_file

FORMATS = ("torchscript", "onnx")


def _pad(noisy: torch.Tensor, multiple: int) -> torch.Tensor:
    height, width = noisy.shape[-2], noisy.shape[-1]
    pad_h, pad_w = (multiple - height % multiple) % multiple, (multiple - width % multiple) % multiple
    return functional.pad(noisy, [0, pad_w, 0, pad_h], mode="replicate")


class PaddedDenoiser(nn.Module):
    """A network wrapped to take any size: pad to its multiple, run, crop back, clamp to [0, 1]."""

    def __init__(self, network: nn.Module, multiple: int) -> None:
        super().__init__()
        self.network = network
        self.multiple = multiple

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        output = self.network(_pad(noisy, self.multiple))
        return output[:, :, : noisy.shape[-2], : noisy.shape[-1]].clamp(0.0, 1.0)


class PaddedLevelDenoiser(PaddedDenoiser):
    """``PaddedDenoiser`` for a network told the noise level: ``level`` (N values, 0-255) is passed on."""

    def forward(self, noisy: torch.Tensor, level: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        output = self.network(_pad(noisy, self.multiple), level)
        return output[:, :, : noisy.shape[-2], : noisy.shape[-1]].clamp(0.0, 1.0)


class BlindLevelDenoiser(PaddedLevelDenoiser):
    """``PaddedLevelDenoiser`` that estimates each input image's level itself (as ``run_model`` does)."""

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        output = self.network(_pad(noisy, self.multiple), estimate_noise_sigma_batch(noisy))
        return output[:, :, : noisy.shape[-2], : noisy.shape[-1]].clamp(0.0, 1.0)


def _example(multiple: int) -> torch.Tensor:
    side = 8 * multiple
    return torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0))


def export_model(
    checkpoint: str | Path, target: str | Path, *, fmt: str = "torchscript", overwrite: bool = False
) -> Path:
    """Write ``checkpoint`` (or ``"default"``) as a self-contained TorchScript or ONNX file at ``target``."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: choose {' or '.join(FORMATS)}")
    loaded = load_model(checkpoint, "cpu")
    network = loaded.model.to(memory_format=torch.contiguous_format).eval()
    multiple = int(getattr(network, "size_multiple", 1))
    example = _example(multiple)
    buffer = io.BytesIO()
    told_level = takes_noise_level(network)
    inputs = (example, torch.full((1,), 25.0)) if told_level else (example,)
    with torch.no_grad():
        traced = torch.jit.trace(network, inputs)  # the networks have no shape-dependent Python control flow
        if fmt == "torchscript":
            wrapped = BlindLevelDenoiser(traced, multiple) if told_level else PaddedDenoiser(traced, multiple)
            torch.jit.save(torch.jit.script(wrapped), buffer)
        else:
            wrapper = PaddedLevelDenoiser if told_level else PaddedDenoiser
            _export_onnx(wrapper(network, multiple), inputs, buffer)
    return write_file(target, buffer.getvalue(), overwrite=overwrite)


def _export_onnx(model: nn.Module, inputs: tuple[torch.Tensor, ...], buffer: io.BytesIO) -> None:
    try:
        import onnx  # noqa: F401 - torch's exporter needs it
    except ImportError as error:
        raise UsageError("ONNX export needs the onnx package: pip install 'cae-denoise[onnx]'") from error
    dims = {0: "batch", 2: "height", 3: "width"}
    names = ["noisy", "level"][: len(inputs)]
    axes = {"noisy": dims, "clean": dims, "level": {0: "batch"}}
    torch.onnx.export(
        model,
        inputs,
        buffer,
        input_names=names,
        output_names=["clean"],
        dynamic_axes={name: axes[name] for name in [*names, "clean"]},
        dynamo=False,
    )
