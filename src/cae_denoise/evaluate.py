"""Score denoisers on a test set with seeded noise, and compare each with a reference, image by image.

Every method sees exactly the same noisy pixels (noise fixed by seed and image index), so per-image
differences between methods are paired; ``stats.paired_difference`` says what they support.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .classical import Denoiser
from .data import NamedImage, load_source, make_split, resize_square
from .errors import CaeDenoiseError, UsageError
from .methods import common_resize, resolve_methods
from .metrics import (
    HIGHER_IS_BETTER,
    METRIC_NAMES,
    PSNR_CONVENTION,
    SSIM_CONVENTION,
    image_metrics,
    mean_metrics,
)
from .noise import GaussianNoise
from .pictures import GridCollector
from .reports import environment
from .stats import describe, paired_difference

NOISY = "noisy"
CLEAN = "clean"


@dataclass
class MethodScores:
    """Per-image metrics of one method, in test-image order, and the seconds it spent denoising."""

    per_image: list[dict[str, float]]
    seconds: float = 0.0

    @property
    def mean(self) -> dict[str, float]:
        return mean_metrics(self.per_image)


@dataclass
class Evaluation:
    """All methods' scores on one test set at one noise level and seed."""

    images: list[str]
    sigma_255: float
    seed: int
    methods: dict[str, MethodScores] = field(default_factory=dict)
    metric_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "noise": {"kind": "gaussian", "sigma_255": self.sigma_255, "clip": True, "seed": self.seed},
            "methods": {
                name: {
                    "mean": scores.mean,
                    "per_image": [{"image": n, **row} for n, row in zip(self.images, scores.per_image, strict=True)],
                    "denoise_seconds": scores.seconds,
                }
                for name, scores in self.methods.items()
            },
            "metric_seconds": self.metric_seconds,
            "conventions": {"ssim": SSIM_CONVENTION, "psnr": PSNR_CONVENTION},
        }


def evaluate_methods(
    methods: dict[str, Denoiser],
    images: list[NamedImage],
    *,
    sigma_255: float,
    seed: int,
    include_noisy: bool = True,
    on_image: Callable[[str, str], None] | None = None,
    on_output: Callable[[int, str, np.ndarray], None] | None = None,
) -> Evaluation:
    """Score each method (plus ``noisy``, the identity, unless ``include_noisy`` is off) on seeded noisy copies.

    ``on_image(image, method)`` reports progress; ``on_output(index, method, output)`` sees every output,
    and the clean reference first, as method ``CLEAN``.
    """
    if not images:
        raise CaeDenoiseError("no test images to evaluate on")
    if seed < 0:
        raise UsageError(f"--seed {seed}: must be 0 or more")
    noise = GaussianNoise(sigma_255, sigma_255)
    result = Evaluation([image.name for image in images], sigma_255, seed)
    names = (NOISY, *methods) if include_noisy else tuple(methods)
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    seconds = dict.fromkeys(rows, 0.0)
    metric_seconds = 0.0
    for index, image in enumerate(images):
        noisy = noise.add_seeded(image.pixels, seed, index)
        if on_output:
            on_output(index, CLEAN, image.pixels)
        for name in rows:
            tick = time.perf_counter()
            output = noisy if name == NOISY else methods[name](noisy)
            seconds[name] += time.perf_counter() - tick
            tick = time.perf_counter()
            rows[name].append(image_metrics(image.pixels, output))
            if on_output:
                on_output(index, name, output)
            metric_seconds += time.perf_counter() - tick
            if on_image:
                on_image(image.name, name)
    result.methods = {name: MethodScores(rows[name], seconds[name]) for name in rows}
    result.metric_seconds = metric_seconds
    return result


def compare_with_reference(
    reference: MethodScores, other: MethodScores, *, label: str, reference_label: str, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Per metric: ``stats.paired_difference`` over images (``other - reference``) and its sentence."""
    summary = {}
    for metric in METRIC_NAMES:
        row = paired_difference(
            [r[metric] for r in reference.per_image],
            [r[metric] for r in other.per_image],
            higher_is_better=HIGHER_IS_BETTER[metric],
            seed=seed,
        )
        row["verdict"] = describe(row, label=label, reference=reference_label, metric=metric, unit_name="images")
        summary[metric] = row
    return summary


def load_test_images(data: str, split: str = "test", resize: int | None = None) -> tuple[list[NamedImage], list[str]]:
    """Images of one split of a source (resized if ``resize``), and the files that had to be skipped."""
    source = load_source(data)
    images = source.by_names(make_split(source).part(split))
    if resize:
        images = [NamedImage(image.name, resize_square(image.pixels, resize)) for image in images]
    return images, [f"{name}: {reason}" for name, reason in source.skipped]


def evaluate_specs(
    specs: list[str],
    *,
    data: str = "builtin",
    split: str = "test",
    sigmas_255: list[float] | tuple[float, ...] = (25.0,),
    seed: int = 0,
    device: str | torch.device = "cpu",
    on_image: Callable[[str, str], None] | None = None,
    grid: GridCollector | None = None,
) -> dict[str, Any]:
    """Evaluate methods on the same seeded noisy test images at each noise level; returns the report body.

    ``grid``, if given, collects output crops at the first noise level for ``GridCollector.picture``.

    The first method is the reference: ``levels[i]["differences"]`` holds every other method's paired
    statistics against it. ``noisy`` (the input itself) is always scored as the floor.
    """
    if not specs:
        raise UsageError("name at least one checkpoint or method")
    for sigma in sigmas_255:
        if not 0 <= sigma <= 255:
            raise UsageError(f"--sigma {sigma:g}: must be in [0, 255]")
    started = time.perf_counter()
    methods = resolve_methods(specs, device)
    images, skipped = load_test_images(data, split, common_resize(methods))
    levels = []
    for position, sigma in enumerate(sigmas_255):
        denoisers = {m.label: m.denoiser(sigma, device) for m in methods if m.label != NOISY}
        collector = grid if position == 0 else None
        evaluation = evaluate_methods(
            denoisers, images, sigma_255=sigma, seed=seed, on_image=on_image, on_output=collector
        )
        reference = methods[0].label
        differences = {
            m.label: compare_with_reference(
                evaluation.methods[reference],
                evaluation.methods[m.label],
                label=m.label,
                reference_label=reference,
                seed=seed,
            )
            for m in methods[1:]
        }
        levels.append({**evaluation.to_dict(), "reference": reference, "differences": differences})
    return {
        "data": data,
        "split": split,
        "images": [image.name for image in images],
        "methods": {m.label: m.describe(data, images) for m in methods},
        "skipped_files": skipped,
        "levels": levels,
        "environment": environment(device),
        "wall_time_s": time.perf_counter() - started,
    }
