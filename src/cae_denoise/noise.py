"""Noise models (what ``--noise`` and ``--sigma`` name) and an estimator of a noisy image's level.

Every model adds noise to clean images in [0, 1] two ways: ``add_to_batch(clean, generator)`` for training
(an NCHW tensor, fresh noise from the run's ``torch.Generator``, so runs are seeded and resumable), and
``add_seeded(clean, seed, index)`` for evaluation (an HxWx3 array, noise fixed by seed and image index, so
two denoisers evaluated with the same seed see exactly the same noisy pixels). ``to_dict()`` records the
model in reports; ``spec`` is the string that parses back to it. The models (``parse_noise`` reads them):

- ``gaussian:25`` or ``gaussian:5-50``: additive white Gaussian noise, sigma on the 0-255 scale, one level
  or drawn uniformly per image (``--sigma 25`` is the same thing);
- ``poisson-gaussian[:shot=A[-B]][:read=R[-S]]``: shot noise (Poisson, variance ``shot * signal``) plus
  Gaussian read noise (std ``read`` on the 0-255 scale), added to the pixel values as they are;
- ``camera[:low|high|A-B][:jpeg=Q|Q1-Q2|none]``: the noise of a real camera (``camera.py``): shot and read
  noise on a Bayer mosaic in linear light, demosaicked, gamma-encoded, 8-bit and JPEG-compressed;
- ``jpeg:Q`` or ``jpeg:Q1-Q2``: JPEG compression artefacts alone;
- ``A+B+...``: a mixture: each image gets one of the models, chosen uniformly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import torch

from . import camera
from .errors import CaeDenoiseError, UsageError

MAX_SIGMA = 255.0
#: Shot-noise ranges of ``camera:low`` and ``camera:high``: on the built-in test photos the noisy images are at
#: about 27 and 22 dB PSNR without JPEG, 29.5 and 24.4 dB with the default JPEG (seed 0).
CAMERA_STRENGTHS = {"low": (1e-3, 3e-3), "high": (3e-3, 1.2e-2)}
#: JPEG qualities a camera model draws from unless told otherwise (what phones and cameras save).
DEFAULT_CAMERA_JPEG = (85, 95)
VALID_FORMS = (
    "gaussian:25, gaussian:5-50, poisson-gaussian[:shot=0.01][:read=2], camera[:low|high|0.001-0.01]"
    "[:jpeg=90|85-95|none], jpeg:90 or jpeg:70-95, and mixtures joined by + (gaussian:0-55+camera)"
)


class NoiseModel(Protocol):
    """What every noise model offers (see the module docstring)."""

    @property
    def spec(self) -> str: ...

    @property
    def known_sigma_255(self) -> float | None: ...

    def add_to_batch(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...

    def add_seeded(self, clean: np.ndarray, seed: int, index: int) -> np.ndarray: ...

    def to_dict(self) -> dict[str, Any]: ...


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


def _seeded_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def _range_label(low: float, high: float) -> str:
    return f"{low:g}" if low == high else f"{low:g}-{high:g}"


class _PerImageNoise:
    """Base of the models written in numpy, one image at a time: ``add(clean, rng)`` is the model.

    A training batch gets one seed per sample from the run's generator, so it is as seeded and resumable
    as Gaussian noise (the images go through the CPU; these models are not the fast path on a GPU).
    """

    known_sigma_255: float | None = None

    def add(self, clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def add_seeded(self, clean: np.ndarray, seed: int, index: int) -> np.ndarray:
        """Noisy copy of an HxWx3 float32 image with noise fixed by (``seed``, ``index``) alone."""
        return self.add(np.asarray(clean, dtype=np.float32), _seeded_rng(seed, index))

    def add_to_batch(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Noisy copy of an NCHW batch in [0, 1], each sample with its own seed drawn from ``generator``."""
        seeds = torch.randint(0, 2**62, (clean.shape[0],), generator=generator, device=generator.device).tolist()
        images = clean.detach().float().permute(0, 2, 3, 1).cpu().numpy()
        noisy = np.stack(
            [self.add(image, np.random.default_rng(seed)) for image, seed in zip(images, seeds, strict=True)]
        )
        return torch.from_numpy(noisy).permute(0, 3, 1, 2).to(clean.device, clean.dtype)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe settings, the inverse of ``type(model)(**d)``."""
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class PoissonGaussianNoise(_PerImageNoise):
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

    def add(self, clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        shot = float(np.exp(rng.uniform(np.log(self.shot_min), np.log(self.shot_max))))
        read = rng.uniform(self.read_min, self.read_max) / 255.0
        photons = rng.poisson(np.clip(clean, 0.0, 1.0) / shot)
        noisy = shot * photons + read * rng.standard_normal(clean.shape)
        return np.clip(noisy, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class CameraNoise(_PerImageNoise):
    """A camera's noise, after Brooks et al. 2019 (see ``camera.py`` for each step).

    Per image: a colour matrix, white-balance gains, a Bayer phase, shot noise log-uniform in [``shot_min``,
    ``shot_max``] and read noise from the sensor fit, and a JPEG quality uniform in [``jpeg_min``,
    ``jpeg_max``] (0: no JPEG). The image goes to linear light, to the sensor's colours and through inverse
    white balance; shot + read noise is drawn on the Bayer mosaic of that signal and demosaicked, which
    spreads it to neighbours; the sum is clipped, re-balanced and colour-corrected (which mixes the noise
    across channels), gamma-encoded, saved as 8 bits and, optionally, as JPEG. Only the noise goes through
    the (bilinear) demosaicker, not the signal: a real camera's demosaicker keeps far more detail than
    bilinear interpolation, and a model should learn to remove noise, not to undo one interpolator.
    """

    shot_min: float = camera.SHOT_NOISE_RANGE[0]
    shot_max: float = camera.SHOT_NOISE_RANGE[1]
    jpeg_min: int = DEFAULT_CAMERA_JPEG[0]
    jpeg_max: int = DEFAULT_CAMERA_JPEG[1]

    def __post_init__(self) -> None:
        if not 0 < self.shot_min <= self.shot_max <= 1:
            raise CaeDenoiseError("camera noise needs a shot-noise range with 0 < low <= high <= 1")
        if not (self.jpeg_min == self.jpeg_max == 0 or 1 <= self.jpeg_min <= self.jpeg_max <= 100):
            raise CaeDenoiseError("camera noise needs JPEG qualities with 1 <= low <= high <= 100 (or none)")

    @property
    def spec(self) -> str:
        strength = next((name for name, bounds in CAMERA_STRENGTHS.items() if bounds == self.shot_range), None)
        jpeg = "none" if self.jpeg_max == 0 else _range_label(self.jpeg_min, self.jpeg_max)
        return f"camera:{strength or _range_label(self.shot_min, self.shot_max)}:jpeg={jpeg}"

    @property
    def shot_range(self) -> tuple[float, float]:
        return (self.shot_min, self.shot_max)

    def add(self, clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        to_srgb, gains = camera.colour_correction(rng), camera.white_balance_gains(rng)
        masks = camera.bayer_masks(*clean.shape[:2], phase=tuple(rng.integers(0, 2, size=2)))
        sensor = np.clip(camera.srgb_to_linear(clean) @ np.linalg.inv(to_srgb).T / gains, 0.0, 1.0)
        raw = camera.mosaic(sensor, masks)
        shot, read = camera.shot_and_read_levels(rng, self.shot_range)
        raw_noise = np.sqrt(shot * raw + read) * rng.standard_normal(raw.shape).astype(np.float32)
        noisy_sensor = np.clip(sensor + camera.demosaic(raw_noise, masks), 0.0, 1.0)
        noisy = camera.quantise_8bit(camera.linear_to_srgb((noisy_sensor * gains) @ to_srgb.T))
        if self.jpeg_max:
            noisy = camera.jpeg_round_trip(noisy, int(rng.integers(self.jpeg_min, self.jpeg_max + 1)))
        return noisy


@dataclass(frozen=True)
class JpegNoise(_PerImageNoise):
    """JPEG compression artefacts alone: quality uniform in [``quality_min``, ``quality_max``] per image."""

    quality_min: int = 90
    quality_max: int = 90

    def __post_init__(self) -> None:
        if not 1 <= self.quality_min <= self.quality_max <= 100:
            raise CaeDenoiseError("JPEG quality must satisfy 1 <= low <= high <= 100")

    @property
    def spec(self) -> str:
        return f"jpeg:{_range_label(self.quality_min, self.quality_max)}"

    def add(self, clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return camera.jpeg_round_trip(clean, int(rng.integers(self.quality_min, self.quality_max + 1)))


@dataclass(frozen=True)
class NoiseMixture:
    """Each image gets one of ``components``, chosen uniformly (per sample in training)."""

    components: tuple[NoiseModel, ...]
    known_sigma_255 = None

    @property
    def spec(self) -> str:
        return "+".join(component.spec for component in self.components)

    def add_seeded(self, clean: np.ndarray, seed: int, index: int) -> np.ndarray:
        choice = np.random.default_rng(np.random.SeedSequence([seed, index, len(self.components)]))
        return self.components[int(choice.integers(len(self.components)))].add_seeded(clean, seed, index)

    def add_to_batch(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        choices = torch.randint(
            0, len(self.components), (clean.shape[0],), generator=generator, device=generator.device
        )
        noisy = clean.clone()
        for number, component in enumerate(self.components):
            chosen = (choices == number).nonzero().flatten().to(clean.device)
            if len(chosen):
                noisy[chosen] = component.add_to_batch(clean[chosen], generator)
        return noisy

    def to_dict(self) -> dict[str, Any]:
        return {"components": [noise_record(component) for component in self.components]}


def noise_record(model: NoiseModel) -> dict[str, Any]:
    """What a report says of a noise model: its ``spec`` and all its settings."""
    return {"spec": model.spec, **model.to_dict()}


def parse_sigma(text: str, *, clip: bool = True) -> GaussianNoise:
    """Parse ``"25"`` or ``"5-50"`` (0-255 scale) into a ``GaussianNoise``; errors say what was wrong."""
    parts = str(text).strip().split("-")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or any(not np.isfinite(v) for v in values):
        raise UsageError(f"--sigma {text!r}: expected a level like 25 or a range like 5-50 (0-255 scale)")
    low, high = (values[0], values[0]) if len(values) == 1 else values
    if low > high:
        raise UsageError(f"--sigma {text!r}: range must be low-high, e.g. 5-50")
    if high > MAX_SIGMA:
        raise UsageError(f"--sigma {text!r}: at most {MAX_SIGMA:g} (sigma is on the 0-255 pixel scale)")
    return GaussianNoise(low, high, clip)


def parse_sigma_list(text: str) -> list[float]:
    """Parse ``"15,25,50"`` into fixed levels, each in [0, 255]."""
    parts = str(text).split(",")
    if any(not part.strip() for part in parts):
        raise UsageError(f"--sigma {text!r}: expected one level or a comma list like 15,25,50 (an empty item)")
    levels = [parse_sigma(part) for part in parts]
    if not levels or any(level.is_blind for level in levels):
        raise UsageError(f"--sigma {text!r}: expected one level or a comma list like 15,25,50")
    return [level.sigma_min for level in levels]


#: Median absolute value of a standard normal variable: median(|noise|) / this = its standard deviation.
_MEDIAN_ABS_OF_UNIT_NORMAL = 0.6745


def estimate_noise_sigma(rgb: np.ndarray) -> float:
    """Gaussian noise level of an HxWx3 image on the 0-255 scale (0 for images under 2x2 pixels).

    Donoho's estimator, as in ``skimage.restoration.estimate_sigma`` but with the Haar wavelet written in
    numpy, so that it needs no PyWavelets: the finest diagonal wavelet coefficients are almost pure noise,
    and their median absolute value / 0.6745 is the noise's standard deviation. Per channel on a central
    crop of at most 1024 x 1024 pixels (for speed), then averaged.
    """
    height, width = rgb.shape[:2]
    top, left = max((height - 1024) // 2, 0), max((width - 1024) // 2, 0)
    crop = rgb[top : top + 1024, left : left + 1024].astype(np.float64)
    crop = crop[: crop.shape[0] // 2 * 2, : crop.shape[1] // 2 * 2]
    if crop.size == 0:
        return 0.0
    diagonal = (crop[0::2, 0::2] - crop[0::2, 1::2] - crop[1::2, 0::2] + crop[1::2, 1::2]) / 2
    per_channel = np.median(np.abs(diagonal), axis=(0, 1)) / _MEDIAN_ABS_OF_UNIT_NORMAL
    return float(per_channel.mean()) * 255.0


def estimate_noise_sigma_batch(images: torch.Tensor) -> torch.Tensor:
    """``estimate_noise_sigma`` of each image of an NCHW batch (N values, 0-255 scale), on its device.

    The same estimator, crop and all, so that a model trained on these estimates sees the same numbers at
    inference; float32 on the device instead of float64, so values agree to about 1e-4. TorchScript can
    compile it (``export.py`` does, so that exported models estimate the level of any size of input).
    """
    height, width = images.shape[-2], images.shape[-1]
    top, left = max((height - 1024) // 2, 0), max((width - 1024) // 2, 0)
    crop = images[:, :, top : top + 1024, left : left + 1024].float()
    crop = crop[:, :, : crop.shape[-2] // 2 * 2, : crop.shape[-1] // 2 * 2]
    if crop.shape[-1] == 0 or crop.shape[-2] == 0:
        return torch.zeros(images.shape[0], device=images.device)
    diagonal = (crop[:, :, 0::2, 0::2] - crop[:, :, 0::2, 1::2] - crop[:, :, 1::2, 0::2] + crop[:, :, 1::2, 1::2]) / 2
    median = torch.quantile(diagonal.abs().flatten(2), 0.5, dim=-1)
    return (median / 0.6745).mean(dim=1) * 255.0  # 0.6745 is _MEDIAN_ABS_OF_UNIT_NORMAL: TorchScript has no globals


def _numbers(text: str, spec: str, what: str) -> tuple[float, float]:
    """``"25"`` or ``"5-50"`` as (low, high); anything else is a usage error naming ``spec``."""
    parts = text.split("-")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or not all(np.isfinite(values)):
        raise UsageError(
            f"--noise {spec!r}: {what} {text!r} is not a number or a low-high range; valid forms: {VALID_FORMS}"
        )
    low, high = values[0], values[-1]
    if low > high:
        raise UsageError(f"--noise {spec!r}: {what} range {text!r} must be low-high")
    return low, high


def _options(fields: list[str], spec: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """``key=value`` fields of a spec; a field without ``=`` is stored under ``""``."""
    options: dict[str, str] = {}
    for field in fields:
        key, _, value = field.partition("=") if "=" in field else ("", "", field)
        if key not in allowed or key in options or not value:
            raise UsageError(f"--noise {spec!r}: cannot read {field!r}; valid forms: {VALID_FORMS}")
        options[key] = value
    return options


def _parse_one(text: str, spec: str) -> NoiseModel:
    name, *fields = text.strip().lower().split(":")
    try:
        if name == "gaussian" and len(fields) == 1:
            low, high = _numbers(fields[0], spec, "sigma")
            return GaussianNoise(low, high)
        if name == "jpeg" and len(fields) == 1:
            low, high = _numbers(fields[0], spec, "quality")
            return JpegNoise(int(low), int(high))
        if name == "poisson-gaussian":
            options = _options(fields, spec, ("shot", "read"))
            shot = _numbers(options.get("shot", "0.001-0.02"), spec, "shot")
            read = _numbers(options.get("read", "0-5"), spec, "read")
            return PoissonGaussianNoise(*shot, *read)
        if name == "camera":
            options = _options(fields, spec, ("", "jpeg"))
            strength = options.get("", "")
            shot = CAMERA_STRENGTHS.get(strength) or (
                _numbers(strength, spec, "strength") if strength else camera.SHOT_NOISE_RANGE
            )
            jpeg_text = options.get("jpeg", "-".join(map(str, DEFAULT_CAMERA_JPEG)))
            jpeg = (0, 0) if jpeg_text == "none" else _numbers(jpeg_text, spec, "jpeg quality")
            return CameraNoise(*shot, int(jpeg[0]), int(jpeg[1]))
    except CaeDenoiseError as error:
        if isinstance(error, UsageError):
            raise
        raise UsageError(f"--noise {spec!r}: {error}") from error
    raise UsageError(f"--noise {spec!r}: unknown noise {text!r}; valid forms: {VALID_FORMS}")


def parse_noise(text: str) -> NoiseModel:
    """A noise model from its spec (see the module docstring); errors list the valid forms."""
    spec = str(text).strip()
    parts = spec.split("+")
    if not spec or any(not part.strip() for part in parts):
        raise UsageError(f"--noise {spec!r}: empty; valid forms: {VALID_FORMS}")
    models = [_parse_one(part, spec) for part in parts]
    return models[0] if len(models) == 1 else NoiseMixture(tuple(models))


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
