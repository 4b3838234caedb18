"""Noise models: what ``--noise`` and ``--sigma`` name (the level estimator is ``estimate.py``).

Every model adds noise to clean images in [0, 1] two ways: ``add_to_batch(clean, generator)`` for training
(an NCHW tensor, fresh noise from the run's ``torch.Generator``, so runs are seeded and resumable), and
``add_seeded(clean, seed, index)`` for evaluation (an HxWx3 array, noise fixed by seed and image index, so
two denoisers evaluated with the same seed see exactly the same noisy pixels). ``to_dict()`` records the
model in reports; ``spec`` is the string that parses back to it. The models (``parse_noise`` reads them):

- ``gaussian:25`` or ``gaussian:5-50``: additive white Gaussian noise, sigma on the 0-255 scale, one level
  or drawn uniformly per image (``--sigma 25`` is the same thing);
- ``poisson-gaussian[:shot=A[-B]][:read=R[-S]]``: shot noise (Poisson, variance ``shot * signal``) plus
  Gaussian read noise (std ``read`` on the 0-255 scale), added to the pixel values as they are;
- ``camera[:low|high|A-B][:jpeg=Q|Q1-Q2|none][:demosaic=bilinear|mhc|any][:matrix=random|none|any]``: the
  noise of a real camera (``noise/camera.py``): shot and read noise on a Bayer mosaic in linear light, demosaicked,
  colour-corrected (or not), gamma-encoded, 8-bit and JPEG-compressed;
- ``jpeg:Q`` or ``jpeg:Q1-Q2``: JPEG compression artefacts alone;
- ``grey:SPEC``: SPEC's noise without colour, the same in every channel (a grey file's noise);
- ``A+B+...``: a mixture: each image gets one of the models, chosen uniformly, or in proportion to weights
  written before a component (``3*gaussian:0-55+camera``: three Gaussian images for one camera image).

Each model's spec is read by a parser registered beside its class (``@register_noise("name")``), under a name
whose forms ``choices.NOISE_FORMS`` declares for ``--help`` and for errors.

Numbers may use exponents (``camera:1e-4-2e-2``). Training noise runs on the batch's device (``jpeg.simulate``
stands in for the codec there); evaluation noise uses the real JPEG codec.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import torch

from ..choices import NOISE_FORMS, noise_forms
from ..errors import CaeDenoiseError, UsageError, shorten
from . import camera, jpeg

MAX_SIGMA = 255.0
#: Shot-noise ranges of ``camera:low`` and ``camera:high``: a light and a strong camera noise.
CAMERA_STRENGTHS = {"low": (1e-3, 3e-3), "high": (3e-3, 1.2e-2)}
#: JPEG qualities a camera model draws from unless told otherwise (what phones and cameras save).
DEFAULT_CAMERA_JPEG = (85, 95)


class NoiseModel(Protocol):
    """What every noise model offers (see the module docstring)."""

    @property
    def spec(self) -> str: ...

    @property
    def known_sigma_255(self) -> float | None: ...

    def add_to_batch(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...

    def add_seeded(self, clean: np.ndarray, seed: int, index: int) -> np.ndarray: ...

    def to_dict(self) -> dict[str, Any]: ...


#: Reads the ``:``-separated fields after a spec's name (``spec`` is the whole text, for errors); None when the
#: fields fit none of the model's forms.
SpecParser = Callable[[list[str], str], "NoiseModel | None"]
_PARSERS: dict[str, SpecParser] = {}


def register_noise(name: str) -> Callable[[SpecParser], SpecParser]:
    """Register the parser of the specs named ``name`` (``name:...``), whose forms ``choices.NOISE_FORMS``
    declares; an undeclared or duplicate name is a programming error."""

    def decorator(parser: SpecParser) -> SpecParser:
        if name not in NOISE_FORMS or name in _PARSERS:
            raise ValueError(f"noise {name!r} is already registered or not declared in choices.NOISE_FORMS")
        _PARSERS[name] = parser
        return parser

    return decorator


def list_noises() -> list[str]:
    """The names a noise spec may start with, in the order ``choices.NOISE_FORMS`` lists them."""
    return [name for name in NOISE_FORMS if name in _PARSERS]


@dataclass(frozen=True)
class GaussianNoise:
    """Additive Gaussian noise; ``sigma_min``/``sigma_max`` on the 0-255 scale, clipped to [0, 1] if ``clip``."""

    sigma_min: float = 25.0
    sigma_max: float = 25.0
    clip: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.sigma_min <= self.sigma_max <= MAX_SIGMA:
            raise CaeDenoiseError(
                f"noise sigma must satisfy 0 <= min <= max <= {MAX_SIGMA:g}, got {self.sigma_min:g}-{self.sigma_max:g}"
            )

    @property
    def is_blind(self) -> bool:
        """Whether sigma varies per sample (a range) rather than being one level."""
        return self.sigma_max > self.sigma_min

    @property
    def label(self) -> str:
        """Human-readable level, e.g. ``"25"`` or ``"5-50"``."""
        if self.is_blind:
            return f"{self.sigma_min:g}-{self.sigma_max:g}"
        return f"{self.sigma_min:g}"

    @property
    def spec(self) -> str:
        """``gaussian:25`` or ``gaussian:5-50``."""
        return f"gaussian:{self.label}"

    @property
    def known_sigma_255(self) -> float | None:
        """The one level, which classical methods are tuned to, or None when it varies."""
        return None if self.is_blind else self.sigma_min

    def to_dict(self) -> dict[str, object]:
        """JSON-safe settings, the inverse of ``GaussianNoise(**d)``."""
        return asdict(self)

    def add_to_batch(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Noisy copy of an NCHW batch in [0, 1]; each sample gets its own sigma when blind."""
        count = clean.shape[0]
        uniform = torch.rand(count, 1, 1, 1, generator=generator, device=clean.device)
        sigma = (self.sigma_min + (self.sigma_max - self.sigma_min) * uniform) / 255.0
        noise = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
        noisy = clean + sigma * noise
        return noisy.clamp_(0.0, 1.0) if self.clip else noisy

    def add_seeded(self, clean: np.ndarray, seed: int, index: int) -> np.ndarray:
        """Noisy copy of an HWC float32 image with noise fixed by (``seed``, ``index``) alone."""
        rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
        sigma = rng.uniform(self.sigma_min, self.sigma_max) / 255.0 if self.is_blind else self.sigma_min / 255.0
        noisy = clean + (sigma * rng.standard_normal(clean.shape)).astype(np.float32)
        return np.clip(noisy, 0.0, 1.0) if self.clip else noisy


@register_noise("gaussian")
def _gaussian(fields: list[str], spec: str) -> GaussianNoise | None:
    return GaussianNoise(*_numbers(fields[0], spec, "sigma")) if len(fields) == 1 else None


def _seeded_generator(seed: int, index: int) -> torch.Generator:
    """A CPU torch generator whose stream is fixed by (``seed``, ``index``) alone."""
    state = np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))


def _range_label(low: float, high: float) -> str:
    return f"{low:g}" if low == high else f"{low:g}-{high:g}"


#: ``jpeg.simulate`` or ``jpeg.round_trip_batch``: an NCHW batch and one quality per sample, to their JPEG copies.
JpegCodec = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class _BatchNoise:
    """Base of the models written in torch: ``add(clean, generator, codec)`` noises an NCHW batch, every random
    choice drawn from ``generator``, on the batch's device (a GPU batch never visits the host).

    Evaluation (``add_seeded``) runs in float64 on the CPU, from a generator fixed by the seed and the image's
    index, with the real JPEG codec (``jpeg.round_trip_batch``). Training (``add_to_batch``) uses the real
    codec on the CPU too, where it is faster than ``jpeg.simulate``, and the simulation on
    other devices, so that a GPU batch never visits the host.
    """

    known_sigma_255: float | None = None

    def add(self, clean: torch.Tensor, generator: torch.Generator, codec: JpegCodec) -> torch.Tensor:
        raise NotImplementedError

    def add_to_batch(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Noisy copy of an NCHW batch in [0, 1], each sample with its own noise drawn from ``generator``."""
        codec = jpeg.round_trip_batch if clean.device.type == "cpu" else jpeg.simulate
        return self.add(clean, generator, codec).to(clean.dtype)

    def add_seeded(self, clean: np.ndarray, seed: int, index: int) -> np.ndarray:
        """Noisy copy of an HxWx3 float32 image with noise fixed by (``seed``, ``index``) alone."""
        batch = torch.from_numpy(np.asarray(clean, dtype=np.float64).transpose(2, 0, 1).copy())[None]
        noisy = self.add(batch, _seeded_generator(seed, index), jpeg.round_trip_batch)
        return np.ascontiguousarray(noisy[0].permute(1, 2, 0).numpy(), dtype=np.float32)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe settings, the inverse of ``type(model)(**d)``."""
        return asdict(self)  # type: ignore[call-overload]


def _on(values: torch.Tensor, batch: torch.Tensor, dims: int = 3) -> torch.Tensor:
    """Per-sample ``values`` (N, ...) moved to the batch's device and dtype, with ``dims`` trailing axes added."""
    return values.to(batch.device, batch.dtype).reshape(*values.shape, *(1,) * dims)


@dataclass(frozen=True)
class PoissonGaussianNoise(_BatchNoise):
    """Signal-dependent noise on the pixel values: ``shot * Poisson(x / shot) + N(0, read)``.

    ``shot`` (variance per unit of signal, signal in [0, 1]) is drawn log-uniformly from its range per image,
    ``read`` (std, 0-255 scale) uniformly; the result is clipped to [0, 1].
    """

    shot_min: float = 1e-3
    shot_max: float = 2e-2
    read_min: float = 0.0
    read_max: float = 5.0

    def __post_init__(self) -> None:
        if not (0 < self.shot_min <= self.shot_max <= 1 and 0 <= self.read_min <= self.read_max <= MAX_SIGMA):
            raise CaeDenoiseError("poisson-gaussian needs 0 < shot <= 1 and 0 <= read <= 255 (ranges low-high)")

    @property
    def spec(self) -> str:
        shot, read = _range_label(self.shot_min, self.shot_max), _range_label(self.read_min, self.read_max)
        return f"poisson-gaussian:shot={shot}:read={read}"

    def add(self, clean: torch.Tensor, generator: torch.Generator, codec: JpegCodec) -> torch.Tensor:
        count = clean.shape[0]
        shot = _on(camera.log_uniform(count, self.shot_min, self.shot_max, generator), clean)
        read = _on(camera.uniform(count, self.read_min, self.read_max, generator), clean) / 255.0
        rates = (clean.clamp(0.0, 1.0) / shot).to(generator.device)
        photons = torch.poisson(rates, generator=generator).to(clean.device, clean.dtype)
        reads = torch.randn(clean.shape, generator=generator, device=generator.device, dtype=clean.dtype)
        return (shot * photons + read * reads.to(clean.device)).clamp(0.0, 1.0)


@register_noise("poisson-gaussian")
def _poisson_gaussian(fields: list[str], spec: str) -> PoissonGaussianNoise:
    options = _options(fields, spec, ("shot", "read"))
    shot = _numbers(options.get("shot", "0.001-0.02"), spec, "shot")
    read = _numbers(options.get("read", "0-5"), spec, "read")
    return PoissonGaussianNoise(*shot, *read)


def _chosen(option: str, alternative: str, count: int, generator: torch.Generator) -> torch.Tensor:
    """Per sample, whether it takes ``alternative``: all if ``option`` names it, half at random if ``any``."""
    draws = torch.rand(count, generator=generator, device=generator.device)
    return draws < (0.5 if option == "any" else float(option == alternative))


@dataclass(frozen=True)
class CameraNoise(_BatchNoise):
    """A camera's noise, after Brooks et al. 2019 (see ``noise/camera.py`` for each step).

    Per image: a colour matrix (a random sensor's, or none: ``matrix`` is ``random``, ``none`` or ``any``),
    white-balance gains, a Bayer phase, shot noise log-uniform in [``shot_min``, ``shot_max``] and read noise
    from the sensor fit, a demosaicker (``bilinear``, ``mhc`` or ``any``) and a JPEG quality uniform in
    [``jpeg_min``, ``jpeg_max``] (0: no JPEG). The image goes to linear light, to the sensor's colours and
    through inverse white balance; shot + read noise is drawn on the Bayer mosaic of that signal and
    demosaicked, which spreads it to neighbours; the sum is clipped, re-balanced and colour-corrected (which
    mixes the noise across channels), gamma-encoded, saved as 8 bits and, optionally, as JPEG. Only the noise
    goes through the demosaicker, not the signal: a real camera's demosaicker keeps far more detail than
    these interpolators, and a model should learn to remove noise, not to undo one interpolator.
    """

    shot_min: float = camera.SHOT_NOISE_RANGE[0]
    shot_max: float = camera.SHOT_NOISE_RANGE[1]
    jpeg_min: int = DEFAULT_CAMERA_JPEG[0]
    jpeg_max: int = DEFAULT_CAMERA_JPEG[1]
    demosaic: str = "bilinear"
    matrix: str = "random"

    def __post_init__(self) -> None:
        if not 0 < self.shot_min <= self.shot_max <= 1:
            raise CaeDenoiseError("camera noise needs a shot-noise range with 0 < low <= high <= 1")
        if not (self.jpeg_min == self.jpeg_max == 0 or 1 <= self.jpeg_min <= self.jpeg_max <= 100):
            raise CaeDenoiseError("camera noise needs JPEG qualities with 1 <= low <= high <= 100 (or none)")
        if self.demosaic not in (*camera.DEMOSAICKERS, "any"):
            raise CaeDenoiseError(f"camera noise: demosaic is one of {', '.join(camera.DEMOSAICKERS)} or any")
        if self.matrix not in (*camera.COLOUR_MATRICES, "any"):
            raise CaeDenoiseError(f"camera noise: matrix is one of {', '.join(camera.COLOUR_MATRICES)} or any")

    @property
    def spec(self) -> str:
        strength = next((name for name, bounds in CAMERA_STRENGTHS.items() if bounds == self.shot_range), None)
        jpeg_label = "none" if self.jpeg_max == 0 else _range_label(self.jpeg_min, self.jpeg_max)
        spec = f"camera:{strength or _range_label(self.shot_min, self.shot_max)}:jpeg={jpeg_label}"
        spec += "" if self.demosaic == "bilinear" else f":demosaic={self.demosaic}"
        return spec + ("" if self.matrix == "random" else f":matrix={self.matrix}")

    @property
    def shot_range(self) -> tuple[float, float]:
        return (self.shot_min, self.shot_max)

    def add(self, clean: torch.Tensor, generator: torch.Generator, codec: JpegCodec) -> torch.Tensor:
        count, _, height, width = clean.shape
        device = generator.device
        plain = _chosen(self.matrix, "none", count, generator)
        to_srgb = camera.colour_corrections(count, generator, identity=plain).to(clean.device, clean.dtype)
        gains = _on(camera.white_balance_gains(count, generator), clean, dims=0)[:, :, None, None]
        sites = camera.bayer_masks(height, width, torch.randint(0, 2, (count, 2), generator=generator, device=device))
        shot, read = camera.shot_and_read_levels(count, self.shot_range, generator)
        normal = torch.randn((count, 1, height, width), generator=generator, device=device, dtype=clean.dtype)
        smart = _chosen(self.demosaic, "mhc", count, generator)
        qualities = torch.randint(self.jpeg_min, self.jpeg_max + 1, (count,), generator=generator, device=device)
        sites, normal = sites.to(clean.device), normal.to(clean.device)
        linear = camera.srgb_to_linear(clean)
        sensor = (torch.einsum("nij,njhw->nihw", torch.linalg.inv(to_srgb), linear) / gains).clamp(0.0, 1.0)
        raw = camera.mosaic(sensor, sites)
        raw_noise = torch.sqrt(_on(shot, clean) * raw + _on(read, clean)) * normal
        noise = camera.demosaic(raw_noise, sites, "bilinear")
        if bool(smart.any()):
            noise = torch.where(_on(smart, clean).bool(), camera.demosaic(raw_noise, sites, "mhc"), noise)
        noisy_sensor = (sensor + noise).clamp(0.0, 1.0) * gains
        noisy = camera.quantise_8bit(camera.linear_to_srgb(torch.einsum("nij,njhw->nihw", to_srgb, noisy_sensor)))
        return codec(noisy, qualities) if self.jpeg_max else noisy


@register_noise("camera")
def _camera(fields: list[str], spec: str) -> CameraNoise:
    options = _options(fields, spec, ("", "jpeg", "demosaic", "matrix"))
    strength = options.get("", "")
    shot = CAMERA_STRENGTHS.get(strength) or (
        _numbers(strength, spec, "strength") if strength else camera.SHOT_NOISE_RANGE
    )
    jpeg_text = options.get("jpeg", "-".join(map(str, DEFAULT_CAMERA_JPEG)))
    quality = (0, 0) if jpeg_text == "none" else _numbers(jpeg_text, spec, "jpeg quality")
    demosaic = _choice(options, "demosaic", (*camera.DEMOSAICKERS, "any"), spec)
    matrix = _choice(options, "matrix", (*camera.COLOUR_MATRICES, "any"), spec)
    return CameraNoise(*shot, int(quality[0]), int(quality[1]), demosaic, matrix)


@dataclass(frozen=True)
class JpegNoise(_BatchNoise):
    """JPEG compression artefacts alone: quality uniform in [``quality_min``, ``quality_max``] per image."""

    quality_min: int = 90
    quality_max: int = 90

    def __post_init__(self) -> None:
        if not 1 <= self.quality_min <= self.quality_max <= 100:
            raise CaeDenoiseError("JPEG quality must satisfy 1 <= low <= high <= 100")

    @property
    def spec(self) -> str:
        return f"jpeg:{_range_label(self.quality_min, self.quality_max)}"

    def add(self, clean: torch.Tensor, generator: torch.Generator, codec: JpegCodec) -> torch.Tensor:
        count = clean.shape[0]
        qualities = torch.randint(
            self.quality_min, self.quality_max + 1, (count,), generator=generator, device=generator.device
        )
        return codec(clean, qualities)


@register_noise("jpeg")
def _jpeg(fields: list[str], spec: str) -> JpegNoise | None:
    if len(fields) != 1:
        return None
    low, high = _numbers(fields[0], spec, "quality")
    return JpegNoise(int(low), int(high))


@dataclass(frozen=True)
class GreyNoise:
    """``inner``'s noise without colour: one channel of it (drawn per image) added to all three channels.

    What a grey file holds (one channel, so the same noise in R, G and B once read as RGB), and what a
    colour JPEG holds after a camera's chroma noise reduction: luminance noise alone. ``grey:gaussian:20``
    on a grey photo is Gaussian noise added to the grey file.
    """

    inner: NoiseModel

    @property
    def spec(self) -> str:
        return f"grey:{self.inner.spec}"

    @property
    def known_sigma_255(self) -> float | None:
        return None

    def add_to_batch(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = self.inner.add_to_batch(clean, generator) - clean
        channels = torch.randint(0, 3, (clean.shape[0],), generator=generator, device=generator.device)
        picked = noise[torch.arange(clean.shape[0], device=clean.device), channels.to(clean.device)][:, None]
        return (clean + picked).clamp(0.0, 1.0)

    def add_seeded(self, clean: np.ndarray, seed: int, index: int) -> np.ndarray:
        noise = self.inner.add_seeded(clean, seed, index) - clean
        channel = int(np.random.default_rng(np.random.SeedSequence([seed, index, 3])).integers(3))
        return np.clip(clean + noise[..., channel : channel + 1], 0.0, 1.0).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"inner": noise_record(self.inner)}


@register_noise("grey")
def _grey(fields: list[str], spec: str) -> GreyNoise | None:
    return GreyNoise(_parse_one(":".join(fields), spec)) if fields else None


@dataclass(frozen=True)
class NoiseMixture:
    """Each image gets one of ``components``, chosen with probabilities proportional to ``weights`` (uniform
    when there are none), per sample in training."""

    components: tuple[NoiseModel, ...]
    weights: tuple[float, ...] | None = None
    known_sigma_255 = None

    def __post_init__(self) -> None:
        weights = self.weights
        if weights is not None and (len(weights) != len(self.components) or min(weights) <= 0):
            raise CaeDenoiseError("a noise mixture needs one positive weight per component")

    @property
    def probabilities(self) -> np.ndarray:
        """Each component's chance, summing to 1."""
        weights = np.asarray(self.weights or [1.0] * len(self.components), dtype=np.float64)
        return weights / weights.sum()

    @property
    def spec(self) -> str:
        weights = self.weights or [1.0] * len(self.components)
        return "+".join(
            (f"{weight:g}*" if weight != 1 else "") + component.spec
            for weight, component in zip(weights, self.components, strict=True)
        )

    def add_seeded(self, clean: np.ndarray, seed: int, index: int) -> np.ndarray:
        choice = np.random.default_rng(np.random.SeedSequence([seed, index, len(self.components)]))
        if self.weights is None:  # the stream of uniform mixtures from before weights existed
            picked = int(choice.integers(len(self.components)))
        else:
            picked = int(choice.choice(len(self.components), p=self.probabilities))
        return self.components[picked].add_seeded(clean, seed, index)

    def add_to_batch(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        count, device = clean.shape[0], generator.device
        if self.weights is None:
            choices = torch.randint(0, len(self.components), (count,), generator=generator, device=device)
        else:
            probabilities = torch.tensor(self.probabilities, device=device)
            choices = torch.multinomial(probabilities, count, replacement=True, generator=generator)
        noisy = clean.clone()
        for number, component in enumerate(self.components):
            chosen = (choices == number).nonzero().flatten().to(clean.device)
            if len(chosen):
                noisy[chosen] = component.add_to_batch(clean[chosen], generator)
        return noisy

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"components": [noise_record(component) for component in self.components]}
        if self.weights is not None:
            record["weights"] = list(self.weights)
        return record


def noise_record(model: NoiseModel) -> dict[str, Any]:
    """What a report says of a noise model: its ``spec`` and all its settings."""
    return {"spec": model.spec, **model.to_dict()}


def parse_sigma(text: str) -> GaussianNoise:
    """Parse ``"25"`` or ``"5-50"`` (0-255 scale) into a ``GaussianNoise``; errors say what was wrong."""
    bounds = _range(str(text))
    if bounds is None:
        raise UsageError(f"--sigma {text!r}: expected a level like 25 or a range like 5-50 (0-255 scale)")
    low, high = bounds
    if low > high:
        raise UsageError(f"--sigma {text!r}: range must be low-high, e.g. 5-50")
    if high > MAX_SIGMA:
        raise UsageError(f"--sigma {text!r}: at most {MAX_SIGMA:g} (sigma is on the 0-255 pixel scale)")
    return GaussianNoise(low, high)


def parse_sigma_list(text: str) -> list[float]:
    """Parse ``"15,25,50"`` into fixed levels, each in [0, 255]."""
    parts = str(text).split(",")
    if any(not part.strip() for part in parts):
        raise UsageError(f"--sigma {text!r}: expected one level or a comma list like 15,25,50 (an empty item)")
    levels = [parse_sigma(part) for part in parts]
    if not levels or any(level.is_blind for level in levels):
        raise UsageError(f"--sigma {text!r}: expected one level or a comma list like 15,25,50")
    return [level.sigma_min for level in levels]


#: A number in a spec: digits with an optional fraction and exponent (``25``, ``0.5``, ``1e-3``), never signed.
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"({_NUMBER})(?:-({_NUMBER}))?")
_WEIGHTED = re.compile(rf"({_NUMBER})\*(.*)", re.DOTALL)


def _range(text: str) -> tuple[float, float] | None:
    """``"25"``, ``"5-50"`` or ``"1e-4-2e-2"`` as (low, high), or None for anything else (low may exceed high)."""
    match = _RANGE.fullmatch(text.strip())
    values = [float(group) for group in match.groups() if group is not None] if match else []
    return (values[0], values[-1]) if values and all(np.isfinite(values)) else None


def _numbers(text: str, spec: str, what: str) -> tuple[float, float]:
    """``_range`` of a field of ``spec``; anything else, or high below low, is a usage error naming ``spec``."""
    bounds = _range(text)
    if bounds is None:
        raise UsageError(
            f"--noise {shorten(spec)!r}: {what} {shorten(text)!r} is not a number or a low-high range; "
            f"valid forms: {noise_forms()}"
        )
    low, high = bounds
    if low > high:
        raise UsageError(f"--noise {shorten(spec)!r}: {what} range {shorten(text)!r} must be low-high")
    return low, high


def _options(fields: list[str], spec: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """``key=value`` fields of a spec; a field without ``=`` is stored under ``""``."""
    options: dict[str, str] = {}
    for field in fields:
        key, _, value = field.partition("=") if "=" in field else ("", "", field)
        if key not in allowed or key in options or not value:
            raise UsageError(f"--noise {shorten(spec)!r}: cannot read {shorten(field)!r}; valid forms: {noise_forms()}")
        options[key] = value
    return options


def _choice(options: dict[str, str], key: str, allowed: tuple[str, ...], spec: str) -> str:
    """The value of ``key`` (default: the first of ``allowed``), which must be one of ``allowed``."""
    value = options.get(key, allowed[0])
    if value not in allowed:
        raise UsageError(f"--noise {shorten(spec)!r}: {key}={shorten(value)!r}; choose {', '.join(allowed)}")
    return value


def _parse_one(text: str, spec: str) -> NoiseModel:
    """One model of a spec (no ``+``), by the parser registered under its name."""
    name, *fields = text.strip().lower().split(":")
    parser = _PARSERS.get(name)
    try:
        model = parser(fields, spec) if parser else None
    except CaeDenoiseError as error:
        if isinstance(error, UsageError):
            raise
        raise UsageError(f"--noise {shorten(spec)!r}: {error}") from error
    if model is None:
        raise UsageError(f"--noise {shorten(spec)!r}: unknown noise {shorten(text)!r}; valid forms: {noise_forms()}")
    return model


def parse_noise(text: str) -> NoiseModel:
    """A noise model from its spec (see the module docstring); errors list the valid forms."""
    spec = str(text).strip()
    parts = spec.split("+")
    if not spec or any(not part.strip() for part in parts):
        raise UsageError(f"--noise {shorten(spec)!r}: empty; valid forms: {noise_forms()}")
    weights, models = [], []
    for part in parts:
        weighted = _WEIGHTED.fullmatch(part.strip())
        weights.append(float(weighted.group(1)) if weighted else 1.0)
        models.append(_parse_one(weighted.group(2) if weighted else part, spec))
    if len(models) == 1 and weights == [1.0]:
        return models[0]
    if not all(np.isfinite(weight) and weight > 0 for weight in weights):
        raise UsageError(f"--noise {shorten(spec)!r}: a mixture's weights must be positive numbers (2*camera)")
    return NoiseMixture(tuple(models), None if len(set(weights)) == 1 else tuple(weights))


def parse_noise_list(text: str) -> list[NoiseModel]:
    """Noise models from a comma list of specs, e.g. ``camera:low,camera:high`` (one per evaluation level)."""
    parts = str(text).split(",")
    if any(not part.strip() for part in parts):
        raise UsageError(f"--noise {text!r}: expected specs separated by commas (an empty item)")
    return [parse_noise(part) for part in parts]


def evaluation_noises(sigma: str | None, noise: str | None) -> list[NoiseModel]:
    """The noise of each evaluation level from ``--sigma`` (a list of levels) or ``--noise`` (a list of specs)."""
    if sigma is not None and noise is not None:
        raise UsageError("give --sigma or --noise, not both (--sigma 25 is the same as --noise gaussian:25)")
    if noise is not None:
        return parse_noise_list(noise)
    return [GaussianNoise(level, level) for level in parse_sigma_list("25" if sigma is None else sigma)]
