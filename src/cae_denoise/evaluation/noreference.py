"""Checks of a denoiser that need no clean image, for noisy photos alone (self-supervised training).

Per noisy image (HxWx3 float32 in [0, 1]) and its denoised output:

- ``loss``: the Neighbor2Neighbor reconstruction error, MSE between the denoised first neighbour sub-image and
  the second one (``data/neighbours.py``, fixed by a seed): what self-supervised training minimises, on
  held-out images. Lower is better; it cannot reach 0 (the second sub-image carries its own noise).
- ``input_sigma``: the estimated noise level of the input (0-255 scale, ``noise.estimate_noise_sigma``).
- ``residual_sigma``: the same estimate on the removed part, ``noisy - denoised``. Close to ``input_sigma``
  when the model removed about as much noise as the input holds; far below, it left noise in.
- ``residual_structure``: |correlation| between the removed part and the denoised image's edges (a Laplacian,
  on gray). Pure noise does not correlate with the image: near 0 is good; a model that smooths away detail
  removes edges too, and this rises.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from ..data.neighbours import neighbour_choices, subsample
from ..noise.estimate import estimate_noise_sigma
from .classical import Denoiser


def _sub_images(noisy: np.ndarray, seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """The two neighbour sub-images (HWC) of an image cropped to even sides, choices fixed by (seed, index)."""
    height, width = noisy.shape[0] // 2 * 2, noisy.shape[1] // 2 * 2
    batch = torch.from_numpy(np.ascontiguousarray(noisy[:height, :width].transpose(2, 0, 1)))[None]
    generator = torch.Generator().manual_seed(seed * 1_000_003 + index)
    first, second = subsample(batch, neighbour_choices((1, height, width), generator))
    return first[0].permute(1, 2, 0).numpy(), second[0].permute(1, 2, 0).numpy()


def residual_structure(residual: np.ndarray, denoised: np.ndarray) -> float:
    """|Pearson correlation| between the removed part and the edges (Laplacian) of the denoised image, on gray."""
    edges = ndimage.laplace(denoised.mean(axis=2).astype(np.float64))
    removed = residual.mean(axis=2).astype(np.float64)
    if edges.std() == 0 or removed.std() == 0:
        return 0.0
    return float(abs(np.corrcoef(edges.ravel(), removed.ravel())[0, 1]))


def no_reference_scores(denoiser: Denoiser, noisy_images: list[np.ndarray], *, seed: int = 0) -> dict[str, float]:
    """The module's four checks, averaged over ``noisy_images``."""
    rows = []
    for index, noisy in enumerate(noisy_images):
        first, second = _sub_images(noisy, seed, index)
        denoised = denoiser(noisy)
        residual = noisy - denoised
        rows.append(
            {
                "loss": float(np.mean((denoiser(first).astype(np.float64) - second) ** 2)),
                "input_sigma": estimate_noise_sigma(noisy),
                "residual_sigma": estimate_noise_sigma(residual),
                "residual_structure": residual_structure(residual, denoised),
            }
        )
    return {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
