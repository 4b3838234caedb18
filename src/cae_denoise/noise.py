"""Noise: additive white Gaussian noise models (sigma on the 0-255 scale) and an estimator of its level.

A fixed level (``"25"``) or a range for blind training (``"5-50"``, drawn uniformly per sample).
Training draws fresh noise from a ``torch.Generator``; evaluation derives one numpy generator per
(seed, image index), so two denoisers evaluated with the same seed see exactly the same noisy pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from .errors import CaeDenoiseError, UsageError

MAX_SIGMA = 255.0


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
