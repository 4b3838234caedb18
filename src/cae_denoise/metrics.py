"""Image-quality metrics: SSIM, MSE and PSNR, one value per image, with scikit-image as the reference.

Arrays are HxWxC floats; ``data_range`` is required (1.0 for our [0, 1] images). SSIM follows Wang et al.
(2004): an 11x11 Gaussian window with sigma 1.5 and population covariance. Averaging over images happens in
evaluation, never here.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from .errors import CaeDenoiseError

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

METRIC_NAMES = ("ssim", "mse", "psnr")
#: Whether a larger value is better, per metric.
HIGHER_IS_BETTER = {"ssim": True, "mse": False, "psnr": True}

_MIN_SSIM_SIDE = 11


def ssim(reference: np.ndarray, test: np.ndarray, *, data_range: float) -> float:
    """Structural similarity of two HxWxC images (Wang et al.'s Gaussian-window convention)."""
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
    return float(mean_squared_error(reference, test)) / data_range**2


def psnr(reference: np.ndarray, test: np.ndarray, *, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical images."""
    if np.array_equal(reference, test):
        return float("inf")
    return float(peak_signal_noise_ratio(reference, test, data_range=data_range))


def image_metrics(reference: np.ndarray, test: np.ndarray, *, data_range: float = 1.0) -> dict[str, float]:
    """All three metrics for one image pair, keyed by ``METRIC_NAMES``."""
    if reference.shape != test.shape:
        raise ValueError(f"shape mismatch: {reference.shape} vs {test.shape}")
    return {
        "ssim": ssim(reference, test, data_range=data_range),
        "mse": mse(reference, test, data_range=data_range),
        "psnr": psnr(reference, test, data_range=data_range),
    }


def mean_metrics(per_image: list[dict[str, float]]) -> dict[str, float]:
    """Arithmetic mean of each metric over images (PSNR averaged in dB, as the literature does)."""
    if not per_image:
        raise ValueError("no images to average")
    return {name: float(np.mean([row[name] for row in per_image])) for name in METRIC_NAMES}
