"""Run denoisers over a test set with seeded noise, and compare them pairwise.

A denoiser is any ``f(noisy) -> clean`` on HxWx3 float32 images in [0, 1]: a trained model, a classical
method or the identity (``noisy``). Every method sees exactly the same noisy pixels (noise fixed by seed and
image index), so per-image differences between methods are paired.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import LoadedModel, load_model
from .data import NamedImage, load_source, make_split, resize_square
from .errors import CaeDenoiseError
from .inference import denoise_array
from .metrics import (
    HIGHER_IS_BETTER,
    METRIC_NAMES,
    PSNR_CONVENTION,
    SSIM_CONVENTION,
    image_metrics,
    mean_metrics,
)
from .noise import GaussianNoise
from .reports import environment

Denoiser = Callable[[np.ndarray], np.ndarray]
NOISY = "noisy"


def model_denoiser(loaded: LoadedModel, device: torch.device | str = "cpu") -> Denoiser:
    """Wrap a loaded model as an image-to-image denoiser (tiled, any size)."""
    return lambda noisy: denoise_array(loaded.model, noisy, device=device)


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
    sigma: float
    seed: int
    methods: dict[str, MethodScores] = field(default_factory=dict)
    metric_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "noise": {"kind": "gaussian", "sigma_255": self.sigma, "clip": True, "seed": self.seed},
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
    sigma: float,
    seed: int,
    on_image: Callable[[str, str], None] | None = None,
) -> Evaluation:
    """Score each method (plus ``noisy``, the identity) on seeded noisy copies of ``images``."""
    if not images:
        raise CaeDenoiseError("no test images to evaluate on")
    noise = GaussianNoise(sigma, sigma)
    result = Evaluation([image.name for image in images], sigma, seed)
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in (NOISY, *methods)}
    seconds = dict.fromkeys(rows, 0.0)
    metric_seconds = 0.0
    for index, image in enumerate(images):
        noisy = noise.add_seeded(image.pixels, seed, index)
        for name in rows:
            tick = time.perf_counter()
            output = noisy if name == NOISY else methods[name](noisy)
            seconds[name] += time.perf_counter() - tick
            tick = time.perf_counter()
            rows[name].append(image_metrics(image.pixels, output))
            metric_seconds += time.perf_counter() - tick
            if on_image:
                on_image(image.name, name)
    result.methods = {name: MethodScores(rows[name], seconds[name]) for name in rows}
    result.metric_seconds = metric_seconds
    return result


def load_test_images(data: str, split: str = "test", resize: int | None = None) -> tuple[list[NamedImage], list[str]]:
    """Images of one split of a source (resized if ``resize``), and the files that had to be skipped."""
    source = load_source(data)
    images = source.by_names(make_split(source).part(split))
    if resize:
        images = [NamedImage(image.name, resize_square(image.pixels, resize)) for image in images]
    return images, [f"{name}: {reason}" for name, reason in source.skipped]


def leakage(loaded: LoadedModel, data: str, images: list[NamedImage]) -> list[str]:
    """Names of evaluation images that this model was trained on (same source), which would inflate scores."""
    config = loaded.config
    if config.get("data") != data:
        return []
    trained_on = set(loaded.payload.get("split", {}).get("train", []))
    return [image.name for image in images if image.name in trained_on]


def paired_differences(reference: MethodScores, other: MethodScores) -> dict[str, dict[str, Any]]:
    """Per metric: both means, ``other - reference`` (absolute and relative %), per-image deltas, win/tie/loss."""
    summary: dict[str, dict[str, Any]] = {}
    for metric in METRIC_NAMES:
        ref = np.array([row[metric] for row in reference.per_image], dtype=np.float64)
        new = np.array([row[metric] for row in other.per_image], dtype=np.float64)
        delta = new - ref
        sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
        better = sign * delta
        ref_mean, new_mean = float(ref.mean()), float(new.mean())
        summary[metric] = {
            "reference_mean": ref_mean,
            "mean": new_mean,
            "difference": new_mean - ref_mean,
            "relative_percent": 100.0 * (new_mean - ref_mean) / abs(ref_mean) if ref_mean else None,
            "per_image": delta.tolist(),
            "wins": int((better > 0).sum()),
            "ties": int((better == 0).sum()),
            "losses": int((better < 0).sum()),
        }
    return summary


def checkpoint_label(path: str | Path, loaded: LoadedModel, taken: set[str]) -> str:
    """A short unique label: the architecture name, else the path."""
    label = loaded.payload.get("arch", Path(path).stem)
    return label if label not in taken else str(path)


def _common_resize(models: list[LoadedModel]) -> int | None:
    sizes = {m.config.get("resize") for m in models}
    if len(sizes) > 1:
        raise CaeDenoiseError(
            "models were trained with different --resize settings; compare them on the same input size"
        )
    return sizes.pop()


def evaluate_checkpoints(
    paths: list[str | Path],
    *,
    data: str = "builtin",
    split: str = "test",
    sigma: float = 25.0,
    seed: int = 0,
    device: str | torch.device = "cpu",
    on_image: Callable[[str, str], None] | None = None,
) -> dict[str, Any]:
    """Evaluate one or more checkpoints on the same seeded noisy test images; returns the report body.

    With two or more, the first is the reference and ``differences`` holds each other's paired deltas.
    """
    if not 0 <= sigma <= 255:
        raise CaeDenoiseError(f"--sigma {sigma:g}: must be in [0, 255]")
    started = time.perf_counter()
    loaded: dict[str, LoadedModel] = {}
    sources: dict[str, str] = {}
    for path in paths:
        model = load_model(path, device)
        label = checkpoint_label(path, model, set(loaded))
        loaded[label], sources[label] = model, str(path)
    images, skipped = load_test_images(data, split, _common_resize(list(loaded.values())))
    methods = {label: model_denoiser(model, device) for label, model in loaded.items()}
    evaluation = evaluate_methods(methods, images, sigma=sigma, seed=seed, on_image=on_image)
    labels = list(loaded)
    reference = evaluation.methods[labels[0]]
    return {
        "data": data,
        "split": split,
        "checkpoints": {
            label: {
                "path": sources[label],
                "arch": model.payload.get("arch"),
                "arch_args": model.payload.get("arch_args"),
                "trained_on": model.config.get("data"),
                "train_sigma": model.config.get("sigma"),
                "test_images_seen_in_training": leakage(model, data, images),
            }
            for label, model in loaded.items()
        },
        "skipped_files": skipped,
        **evaluation.to_dict(),
        "reference": labels[0],
        "differences": {label: paired_differences(reference, evaluation.methods[label]) for label in labels[1:]},
        "environment": environment(device),
        "wall_time_s": time.perf_counter() - started,
    }
