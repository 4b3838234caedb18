"""Image-quality metrics: SSIM, MSE and PSNR, one value per image, with scikit-image as the reference.

Arrays are HxWxC floats; ``data_range`` is required (1.0 for our [0, 1] images). SSIM follows Wang et al.
(2004): an 11x11 Gaussian window with sigma 1.5 and population covariance. Averaging over images happens in
evaluation, never here. ``METRICS`` holds each metric with what tables and progress lines need to show it: add a
metric by writing its function and registering it there. scikit-image is imported by the functions, so that
the command line's tables and progress lines read ``METRICS`` without loading it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import CaeDenoiseError

#: Written into every report so a reader knows exactly what "SSIM" means there.
SSIM_CONVENTION = {
    "implementation": "skimage.metrics.structural_similarity",
    "gaussian_weights": True,
    "sigma": 1.5,
    "use_sample_covariance": False,
    "channel_axis": -1,
    "data_range": 1.0,
    "colour": "mean of per-channel SSIM over RGB",
}
PSNR_CONVENTION = "per-image PSNR on RGB, data_range 1.0, no border shaving, averaged in dB"

_MIN_SSIM_SIDE = 11


def ssim(reference: np.ndarray, test: np.ndarray, *, data_range: float) -> float:
    """Structural similarity of two HxWxC images (Wang et al.'s Gaussian-window convention)."""
    from skimage.metrics import structural_similarity

    if min(reference.shape[:2]) < _MIN_SSIM_SIDE:
        raise CaeDenoiseError(
            f"SSIM needs images at least {_MIN_SSIM_SIDE}x{_MIN_SSIM_SIDE}, got {reference.shape[:2]}"
        )
    return float(
        structural_similarity(
            reference,
            test,
            data_range=data_range,
            channel_axis=-1,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )


def mse(reference: np.ndarray, test: np.ndarray, *, data_range: float) -> float:
    """Mean squared error, in units of ``data_range`` squared (so comparable across ranges)."""
    from skimage.metrics import mean_squared_error

    return float(mean_squared_error(reference, test)) / data_range**2


def psnr(reference: np.ndarray, test: np.ndarray, *, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical images."""
    from skimage.metrics import peak_signal_noise_ratio

    if np.array_equal(reference, test):
        return float("inf")
    return float(peak_signal_noise_ratio(reference, test, data_range=data_range))


@dataclass(frozen=True)
class Metric:
    """A metric as reports, tables and progress lines use it: ``function(reference, test, data_range=...)``, whether
    a larger value is better, the decimals a value is shown with, and its unit: a metric with a unit shows a change
    as a difference in it (``PSNR +1.15 dB``), one without as a percentage of the reference (``SSIM +1.4%``)."""

    function: Callable[..., float]
    higher_is_better: bool
    decimals: int
    unit: str = ""

    def format(self, value: float) -> str:
        """A value as tables show it, without its unit: ``0.7890``, ``28.86``."""
        return f"{value:.{self.decimals}f}"


#: The metrics every evaluation computes, by name, in the order tables show them.
METRICS = {
    "ssim": Metric(ssim, higher_is_better=True, decimals=4),
    "mse": Metric(mse, higher_is_better=False, decimals=6),
    "psnr": Metric(psnr, higher_is_better=True, decimals=2, unit="dB"),
}
METRIC_NAMES = tuple(METRICS)
#: Whether a larger value is better, per metric.
HIGHER_IS_BETTER = {name: metric.higher_is_better for name, metric in METRICS.items()}


def image_metrics(reference: np.ndarray, test: np.ndarray, *, data_range: float = 1.0) -> dict[str, float]:
    """Every metric of ``METRICS`` for one image pair, keyed by name."""
    if reference.shape != test.shape:
        raise ValueError(f"shape mismatch: {reference.shape} vs {test.shape}")
    return {name: metric.function(reference, test, data_range=data_range) for name, metric in METRICS.items()}


def mean_metrics(per_image: list[dict[str, float]]) -> dict[str, float]:
    """Arithmetic mean of each metric over images (PSNR averaged in dB, as the literature does)."""
    if not per_image:
        raise ValueError("no images to average")
    return {name: float(np.mean([row[name] for row in per_image])) for name in METRIC_NAMES}
