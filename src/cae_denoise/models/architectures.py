"""Denoising architectures and the registry that ``--arch`` looks names up in.

Model side: NCHW float32 tensors in [0, 1]. Every model takes any H and W that are multiples of its
``size_multiple``; ``models/inference.py`` pads other sizes and crops back. Add an architecture by writing a
constructor decorated with ``@register_model("name")`` in this file, and its line of ``--help`` in
``choices.ARCHITECTURES``.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CaeDenoiseError
from ..noise.estimate import estimate_noise_sigma_batch

ModelFactory = Callable[..., nn.Module]
_REGISTRY: dict[str, ModelFactory] = {}
#: Noise levels (0-255) are divided by this before they enter a network: typical levels become about 0-1.
LEVEL_SCALE = 50.0
#: The central square a level is estimated on in larger images (``noise.estimate_noise_sigma`` reads the same).
ESTIMATE_CROP = 1024


def register_model(name: str) -> Callable[[ModelFactory], ModelFactory]:
    """Register a model constructor under ``name``; duplicate names are a programming error."""

    def decorator(factory: ModelFactory) -> ModelFactory:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return decorator


def list_models() -> list[str]:
    """Names accepted by ``create_model``, sorted (``--arch`` offers those ``choices.ARCHITECTURES`` declares)."""
    return sorted(_REGISTRY)


def model_factory(name: str) -> ModelFactory:
    """The registered constructor for ``name``; an unknown name is an error listing the known ones."""
    if name not in _REGISTRY:
        raise CaeDenoiseError(f"unknown architecture {name!r}; choose one of: {', '.join(list_models())}")
    return _REGISTRY[name]


def create_model(name: str, **arch_args: object) -> nn.Module:
    """Build a registered architecture; ``arch_args`` are its constructor's keyword arguments."""
    factory = model_factory(name)
    try:
        return factory(**arch_args)
    except TypeError as error:
        raise CaeDenoiseError(f"architecture {name!r}: bad arguments {arch_args} ({error})") from error


def _activation(kind: str, negative_slope: float) -> nn.Module:
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "leaky_relu":
        return nn.LeakyReLU(negative_slope, inplace=True)
    raise ValueError(f"unknown activation {kind!r}")


class ConvAutoencoder(nn.Module):
    """A plain convolutional autoencoder: no skip connections between encoder and decoder.

    Encoder: 3x3 conv at full resolution, then ``depth`` stride-2 3x3 convs each followed by a 3x3 conv,
    doubling the channels at each level. Decoder: the mirror image with 2x2 stride-2 transposed convs.
    A final 3x3 conv maps back to 3 channels; the output is linear (the loss and the clamp at inference
    bound it). ``activation`` is the only difference between ``baseline`` (ReLU) and ``leaky`` (LeakyReLU).

    The default (48 channels, one 2x level) learns in minutes on a CPU: in a 150 s trial on the built-in
    data it reached 27.8 dB at sigma 25 where 32 channels and two levels reached 24.5 dB. A residual
    output does not suit this topology (20.9 dB): without skips the noise cannot pass the bottleneck.
    """

    def __init__(
        self,
        channels: int = 48,
        depth: int = 1,
        activation: str = "relu",
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        if channels < 1 or depth < 1:
            raise ValueError("channels and depth must be positive")
        self.size_multiple = 2**depth

        def act() -> nn.Module:
            return _activation(activation, negative_slope)

        encoder: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1), act()]
        width = channels
        for _ in range(depth):
            encoder += [nn.Conv2d(width, width * 2, 3, stride=2, padding=1), act()]
            encoder += [nn.Conv2d(width * 2, width * 2, 3, padding=1), act()]
            width *= 2
        decoder: list[nn.Module] = []
        for _ in range(depth):
            decoder += [nn.ConvTranspose2d(width, width // 2, 2, stride=2), act()]
            decoder += [nn.Conv2d(width // 2, width // 2, 3, padding=1), act()]
            width //= 2
        decoder.append(nn.Conv2d(width, 3, 3, padding=1))
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(*decoder)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(noisy))


@register_model("baseline")
def baseline(channels: int = 48, depth: int = 1) -> nn.Module:
    """The ReLU convolutional autoencoder: the reference side of the ReLU-vs-LeakyReLU experiment."""
    return ConvAutoencoder(channels=channels, depth=depth, activation="relu")


@register_model("leaky")
def leaky(channels: int = 48, depth: int = 1, negative_slope: float = 0.2) -> nn.Module:
    """``baseline`` with every ReLU replaced by LeakyReLU(``negative_slope``); nothing else differs."""
    return ConvAutoencoder(channels=channels, depth=depth, activation="leaky_relu", negative_slope=negative_slope)


class _ConvBlock(nn.Sequential):
    """Two 3x3 convolutions, each followed by LeakyReLU."""

    def __init__(self, channels: int, negative_slope: float) -> None:
        super().__init__(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.LeakyReLU(negative_slope, inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.LeakyReLU(negative_slope, inplace=True),
        )


def central_crop(batch: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size`` x ``size`` square of an NCHW batch (all of a side shorter than ``size``)."""
    height, width = batch.shape[-2], batch.shape[-1]
    top, left = max((height - size) // 2, 0), max((width - size) // 2, 0)
    return batch[:, :, top : top + size, left : left + size]


class LevelEstimator(nn.Module):
    """A small network that predicts an image's noise level (the rms of its noise, 0-255) from its pixels.

    Five 3x3 convolutions (two of them stride 2) give a local estimate every 4 pixels from about 30 pixels of
    context; their mean is the image's level. Trained on the true rms of the noise of each training patch
    (``training/objectives.py``), it learns what Donoho's estimator cannot: correlated camera noise is strong, a clean
    textured photo is clean, and grey noise is as strong as colour noise of the same rms.
    """

    def __init__(self, width: int = 24, negative_slope: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for index, stride in enumerate((1, 2, 1, 2)):
            layers += [nn.Conv2d(3 if index == 0 else width, width, 3, stride=stride, padding=1)]
            layers += [nn.LeakyReLU(negative_slope, inplace=True)]
        self.features = nn.Sequential(*layers, nn.Conv2d(width, 1, 3, padding=1))

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """N levels on the 0-255 scale, one per image of an NCHW batch in [0, 1]."""
        return LEVEL_SCALE * F.softplus(self.features(noisy)).mean(dim=(1, 2, 3))


class ResidualUNet(nn.Module):
    """A convolutional autoencoder with symmetric skip connections and a residual output.

    Each encoder level is a conv block followed by a stride-2 conv that doubles the channels; each decoder
    level upsamples with a 2x2 transposed conv, adds the encoder features of the same level (skip), and
    applies a conv block. The network predicts the noise: ``output = input - prediction``.

    With ``level_input`` the network is also told the noise level (as FFDNet is, Zhang et al. 2018): a
    per-channel offset, linear in the level, is added after the head and after each downsampling. The level
    (0-255, per image) is what ``estimate_level`` says unless ``forward`` is told one, so the model is blind by
    default and a caller can scale the level to ask for more or less smoothing. ``estimate_level`` is
    ``noise.estimate_noise_sigma`` (Donoho's estimator) or, with ``learned_level``, a ``LevelEstimator``
    trained beside the network. The offsets start at zero, so such a model can start from ``unet`` weights.
    """

    def __init__(
        self,
        channels: int = 32,
        depth: int = 2,
        negative_slope: float = 0.2,
        level_input: bool = False,
        learned_level: bool = False,
    ):
        super().__init__()
        if channels < 1 or depth < 1:
            raise ValueError("channels and depth must be positive")
        self.size_multiple = 2**depth
        self.takes_noise_level = level_input or learned_level
        widths = [channels * 2**level for level in range(depth + 1)]
        self.head = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.LeakyReLU(negative_slope, inplace=True))
        self.encoders = nn.ModuleList(_ConvBlock(width, negative_slope) for width in widths[:-1])
        self.downs = nn.ModuleList(nn.Conv2d(w, w * 2, 3, stride=2, padding=1) for w in widths[:-1])
        self.bottom = _ConvBlock(widths[-1], negative_slope)
        self.ups = nn.ModuleList(nn.ConvTranspose2d(w * 2, w, 2, stride=2) for w in reversed(widths[:-1]))
        self.decoders = nn.ModuleList(_ConvBlock(width, negative_slope) for width in reversed(widths[:-1]))
        self.tail = nn.Conv2d(channels, 3, 3, padding=1)
        self.level_offsets = nn.ModuleList(nn.Linear(1, width) for width in widths) if self.takes_noise_level else None
        for offset in self.level_offsets or []:
            nn.init.zeros_(offset.weight)
            nn.init.zeros_(offset.bias)
        self.estimator = LevelEstimator(negative_slope=negative_slope) if learned_level else None

    def estimate_level(self, noisy: torch.Tensor) -> torch.Tensor:
        """The noise level (0-255) of each image of an NCHW batch, as this model estimates it: both estimators
        read the central ``ESTIMATE_CROP`` square of larger images."""
        if self.estimator is None:
            return estimate_noise_sigma_batch(noisy)
        return self.estimator(central_crop(noisy, ESTIMATE_CROP))

    def _offsets(self, noisy: torch.Tensor, level: torch.Tensor | None) -> list[torch.Tensor]:
        """One N x C x 1 x 1 offset per stage for the noise ``level`` (0-255, one per image), or none."""
        if self.level_offsets is None:
            return []
        if level is None:
            level = self.estimate_level(noisy)
        scaled = (level.to(noisy.dtype) / LEVEL_SCALE).reshape(-1, 1)
        return [offset(scaled)[:, :, None, None] for offset in self.level_offsets]

    def forward(
        self, noisy: torch.Tensor, level: torch.Tensor | None = None, with_estimate: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The denoised batch; with ``with_estimate`` (training a ``learned_level`` model, told the true
        ``level``), also ``estimate_level``'s guess of it, from the one call that wrappers such as DDP see."""
        denoised = self._denoise(noisy, level)
        return (denoised, self.estimate_level(noisy)) if with_estimate else denoised

    def _denoise(self, noisy: torch.Tensor, level: torch.Tensor | None) -> torch.Tensor:
        offsets = self._offsets(noisy, level)
        features = self.head(noisy)
        if offsets:
            features = features + offsets[0]
        skips = []
        for stage, (encoder, down) in enumerate(zip(self.encoders, self.downs, strict=True)):
            features = encoder(features)
            skips.append(features)
            features = down(features)
            if offsets:
                features = features + offsets[stage + 1]
        features = self.bottom(features)
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips), strict=True):
            features = decoder(up(features) + skip)
        return noisy - self.tail(features)


@register_model("unet")
def unet(channels: int = 32, depth: int = 2, negative_slope: float = 0.2) -> nn.Module:
    """Residual CAE with symmetric additive skips and LeakyReLU: the strong, general-purpose denoiser."""
    return ResidualUNet(channels=channels, depth=depth, negative_slope=negative_slope)


@register_model("unet-level")
def unet_level(channels: int = 32, depth: int = 2, negative_slope: float = 0.2) -> nn.Module:
    """``unet`` that is also told the noise level (estimated, or scaled by ``denoise --strength``)."""
    return ResidualUNet(channels=channels, depth=depth, negative_slope=negative_slope, level_input=True)


@register_model("unet-estimate")
def unet_estimate(channels: int = 32, depth: int = 2, negative_slope: float = 0.2) -> nn.Module:
    """``unet-level`` whose noise level comes from an estimator network trained with it, not Donoho's rule."""
    return ResidualUNet(channels=channels, depth=depth, negative_slope=negative_slope, learned_level=True)


def learns_level(model: nn.Module) -> bool:
    """Whether ``model`` estimates its noise level with a network that training must teach (``LevelEstimator``)."""
    return getattr(model, "estimator", None) is not None


def takes_noise_level(model: nn.Module) -> bool:
    """Whether ``model(noisy, level)`` uses a noise level (see ``ResidualUNet``)."""
    return bool(getattr(model, "takes_noise_level", False))


@dataclass(frozen=True)
class Architecture:
    """An architecture as a run builds it: its name, the constructor arguments it accepts among those given,
    what its input sides must be a multiple of, and its number of weights (read once, on the meta device)."""

    name: str
    args: dict[str, Any]
    size_multiple: int
    weights: int

    def build(self) -> nn.Module:
        """A fresh model (weights from torch's global RNG, as ``create_model``)."""
        return create_model(self.name, **self.args)


def architecture(name: str, **given: Any) -> Architecture:
    """``name`` with those of ``given`` (channels, depth, negative_slope) that are not None and that its
    constructor accepts (the rest fall back to its defaults); built once on the meta device, which allocates
    nothing, to read its size."""
    accepted = inspect.signature(model_factory(name)).parameters
    args = {key: value for key, value in given.items() if key in accepted and value is not None}
    with torch.device("meta"):
        model = create_model(name, **args)
    weights = sum(tensor.numel() for tensor in model.state_dict().values())
    return Architecture(name, args, int(getattr(model, "size_multiple", 1)), weights)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def weights_sha256(model: nn.Module) -> str:
    """SHA-256 of all parameters and buffers (names and values): tells models apart, and is equal on every
    rank of a distributed run when DDP kept them in sync."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
