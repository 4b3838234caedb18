"""Helpers shared by the quality benchmarks (``bench_no_harm.py``, ``bench_strength.py``): the photos, the model run
exactly as ``cae-denoise denoise`` runs it, comparators told the level a user has, and Markdown tables.

Not part of the package; the scripts import it as a sibling module (``python benchmarks/bench_x.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from cae_denoise.data.sources import BUILTIN, NamedImage
from cae_denoise.evaluation.classical import Denoiser
from cae_denoise.evaluation.evaluate import load_test_images
from cae_denoise.evaluation.methods import ESTIMATED, resolve_methods
from cae_denoise.models.checkpoint import LoadedModel
from cae_denoise.models.inference import Smoothing, denoise_array

QUICK_CROP = 64


def load_photos(data: str, quick: bool) -> list[NamedImage]:
    """The built-in test photos (``data`` = ``builtin``) or every photo of a folder or archive, as HxWx3 float32
    in [0, 1] (a grey file has three equal channels, as ``images.read_rgb`` gives it); with ``quick``, centre
    crops of the first four, ``QUICK_CROP`` pixels square."""
    photos, _ = load_test_images(data, "test" if data == BUILTIN else "all")
    if not quick:
        return photos
    crops = []
    for photo in photos[:4]:
        height, width = photo.pixels.shape[:2]
        top, left = max((height - QUICK_CROP) // 2, 0), max((width - QUICK_CROP) // 2, 0)
        crops.append(NamedImage(photo.name, photo.pixels[top : top + QUICK_CROP, left : left + QUICK_CROP].copy()))
    return crops


def is_grey(pixels: np.ndarray) -> bool:
    """Whether an HxWx3 image's three channels are equal (a grey file read as RGB)."""
    return bool(np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2]))


def denoise_as_the_cli(
    loaded: LoadedModel, rgb: np.ndarray, device: torch.device | str, strength: float = 1.0
) -> tuple[np.ndarray, float | None]:
    """The model's output on ``rgb`` as ``cae-denoise denoise --strength STRENGTH`` computes it, and the level it
    was told (``inference.Smoothing.told_level``: None for a model told no level), then ``denoise_array`` with
    the device's default tiling."""
    level = Smoothing(strength).told_level(loaded.model, rgb, device)
    return denoise_array(loaded.model, rgb, device=device, noise_level=level), level


def user_level_comparator(name: str, device: torch.device | str) -> tuple[str, Denoiser]:
    """A classical method or peer told each image's estimated level (``NAME:estimated``), as a user has it."""
    (method,) = resolve_methods([f"{name}:{ESTIMATED}"], device)
    return method.label, method.denoiser(None, device)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]], left: Sequence[int] = (0,)) -> str:
    """A Markdown table, the columns numbered in ``left`` left-aligned and the others right-aligned."""
    rule = "".join("|---" if column in left else "|---:" for column in range(len(headers)))
    lines = ["| " + " | ".join(headers) + " |", rule + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
