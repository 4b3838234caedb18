"""The Gaussian noise level of a noisy image, estimated (Donoho): what a level-conditioned model is told when
the user gives no level. One numpy version for images, one batched torch version that exported models carry.
"""

from __future__ import annotations

import numpy as np
import torch

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


def central_positions(length: int, crop: int, step: int, device: torch.device) -> torch.Tensor:
    """Every ``step``-th position of the central ``crop`` positions of an axis of ``length`` (all of a shorter
    one), as indices: a gather rather than a slice, so that ``torch.export`` needs no guard on which side is
    longer."""
    return torch.arange(min(length, crop) // step, device=device) * step + max((length - crop) // 2, 0)


def estimate_noise_sigma_batch(images: torch.Tensor, crop: int = 1024) -> torch.Tensor:
    """``estimate_noise_sigma`` of each image of an NCHW batch (N values, 0-255 scale), on its device.

    The same estimator, central ``crop`` square and all, so that a model trained on these estimates sees the
    same numbers at inference; float32 on the device instead of float64, so values agree to about 1e-4.
    Written with gathers and a sort (the median of an even count is the mean of the middle two, as numpy's),
    so that TorchScript, ``torch.export`` and the ONNX exporter all take it for any input size (``models/export.py``
    builds it into exported models).
    """
    height, width = images.shape[-2], images.shape[-1]
    if min(height, crop) < 2 or min(width, crop) < 2:
        return torch.zeros(images.shape[0], device=images.device)
    rows = central_positions(height, crop, 2, images.device)
    columns = central_positions(width, crop, 2, images.device)
    upper, lower = images.index_select(2, rows).float(), images.index_select(2, rows + 1).float()
    diagonal = (
        upper.index_select(3, columns)
        - upper.index_select(3, columns + 1)
        - lower.index_select(3, columns)
        + lower.index_select(3, columns + 1)
    ) / 2
    values = diagonal.abs().flatten(2).sort(dim=-1).values
    count = values.shape[-1]
    median = (values[:, :, (count - 1) // 2] + values[:, :, count // 2]) / 2
    return (median / 0.6745).mean(dim=1) * 255.0  # 0.6745 is _MEDIAN_ABS_OF_UNIT_NORMAL: TorchScript has no globals
