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
from .classical import CLASSICAL_SETTINGS, Denoiser, classical_denoiser, classical_names
from .data import BUILTIN, NamedImage, load_source, make_split, resize_square
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
from .pictures import GridCollector
from .reports import environment
from .stats import bootstrap_ci, paired_tests, verdict

NOISY = "noisy"
CLEAN = "clean"


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
    on_output: Callable[[int, str, np.ndarray], None] | None = None,
) -> Evaluation:
    """Score each method (plus ``noisy``, the identity) on seeded noisy copies of ``images``.

    ``on_image(image, method)`` reports progress; ``on_output(index, method, output)`` sees every output,
    and the clean reference first, as method ``CLEAN``.
    """
    if not images:
        raise CaeDenoiseError("no test images to evaluate on")
    if seed < 0:
        raise CaeDenoiseError(f"--seed {seed}: must be 0 or more")
    noise = GaussianNoise(sigma, sigma)
    result = Evaluation([image.name for image in images], sigma, seed)
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in (NOISY, *methods)}
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


def load_test_images(data: str, split: str = "test", resize: int | None = None) -> tuple[list[NamedImage], list[str]]:
    """Images of one split of a source (resized if ``resize``), and the files that had to be skipped."""
    source = load_source(data)
    images = source.by_names(make_split(source).part(split))
    if resize:
        images = [NamedImage(image.name, resize_square(image.pixels, resize)) for image in images]
    return images, [f"{name}: {reason}" for name, reason in source.skipped]


def same_source(first: str, second: str) -> bool:
    """Whether two ``--data`` values name the same source, however the path is spelled."""
    if BUILTIN in (first, second):
        return first == second
    return Path(first).resolve() == Path(second).resolve()


def leakage(loaded: LoadedModel, data: str, images: list[NamedImage]) -> list[str]:
    """Names of evaluation images that this model was trained on (same source), which would inflate scores."""
    if not same_source(str(loaded.config.get("data")), data):
        return []
    trained_on = set(loaded.payload.get("split", {}).get("train", []))
    return [image.name for image in images if image.name in trained_on]


def paired_differences(
    reference: MethodScores, other: MethodScores, *, label: str, reference_label: str, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Per metric: both means, ``other - reference`` (absolute, relative %, 95% bootstrap CI), per-image deltas,
    win/tie/loss counts (a win is ``other`` better), paired test p-values and a verdict sentence."""
    summary: dict[str, dict[str, Any]] = {}
    for metric in METRIC_NAMES:
        ref = np.array([row[metric] for row in reference.per_image], dtype=np.float64)
        new = np.array([row[metric] for row in other.per_image], dtype=np.float64)
        delta = new - ref
        better = delta if HIGHER_IS_BETTER[metric] else -delta
        ref_mean, new_mean = float(ref.mean()), float(new.mean())
        row = {
            "reference_mean": ref_mean,
            "mean": new_mean,
            "difference": new_mean - ref_mean,
            "relative_percent": 100.0 * (new_mean - ref_mean) / abs(ref_mean) if ref_mean else None,
            "ci95": list(bootstrap_ci(delta, seed=seed)),
            **paired_tests(delta),
            "per_image": delta.tolist(),
            "wins": int((better > 0).sum()),
            "ties": int((better == 0).sum()),
            "losses": int((better < 0).sum()),
            "better_is_positive": HIGHER_IS_BETTER[metric],
        }
        row["verdict"] = verdict(label, reference_label, metric, row)
        summary[metric] = row
    return summary


@dataclass
class Method:
    """A method named on the command line: a checkpoint (or ``default``) or a classical method."""

    label: str
    spec: str
    loaded: LoadedModel | None = None

    def denoiser(self, sigma: float, device: torch.device | str) -> Denoiser:
        """The denoiser to run at noise level ``sigma`` (classical methods are tuned to it)."""
        if self.loaded is None:
            return classical_denoiser(self.spec, sigma)
        return model_denoiser(self.loaded, device)

    def describe(self, data: str, images: list[NamedImage]) -> dict[str, Any]:
        """Report entry: what the method is and, for a model, what it was trained on."""
        if self.loaded is None:
            return {"kind": "classical", "settings": CLASSICAL_SETTINGS[self.spec]}
        payload = self.loaded.payload
        return {
            "kind": "model",
            "checkpoint": self.spec,
            "arch": payload.get("arch"),
            "arch_args": payload.get("arch_args"),
            "trained_on": self.loaded.config.get("data"),
            "train_sigma": self.loaded.config.get("sigma"),
            "test_images_seen_in_training": leakage(self.loaded, data, images),
            "train_config": self.loaded.config,
        }


def resolve_methods(specs: list[str], device: torch.device | str = "cpu") -> list[Method]:
    """Load each spec once: classical names as they are, anything else as a checkpoint path or ``default``.

    Labels are the classical name, else the model's architecture, else (if taken) the path as given.
    """
    methods: list[Method] = []
    for spec in specs:
        taken = {method.label for method in methods}
        if spec in classical_names():
            if spec in taken:
                raise CaeDenoiseError(f"{spec} is named twice")
            methods.append(Method(spec, spec))
            continue
        if not Path(spec).exists() and spec != "default":
            raise CaeDenoiseError(
                f"{spec}: no such checkpoint file, and not a method name ({', '.join(classical_names())}, default)"
            )
        loaded = load_model(spec, device)
        candidates = ["default" if spec == "default" else str(loaded.payload.get("arch", spec)), spec]
        candidates += [f"{spec} ({copy})" for copy in range(2, len(specs) + 2)]
        label = next(c for c in candidates if c not in taken and c not in classical_names())
        methods.append(Method(label, spec, loaded))
    return methods


def _common_resize(methods: list[Method]) -> int | None:
    sizes = {method.loaded.config.get("resize") for method in methods if method.loaded is not None}
    if len(sizes) > 1:
        raise CaeDenoiseError("models were trained with different --resize settings; compare them on one input size")
    return sizes.pop() if sizes else None


def evaluate_specs(
    specs: list[str],
    *,
    data: str = "builtin",
    split: str = "test",
    sigmas: list[float] | tuple[float, ...] = (25.0,),
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
        raise CaeDenoiseError("name at least one checkpoint or method")
    for sigma in sigmas:
        if not 0 <= sigma <= 255:
            raise CaeDenoiseError(f"--sigma {sigma:g}: must be in [0, 255]")
    started = time.perf_counter()
    methods = resolve_methods(specs, device)
    images, skipped = load_test_images(data, split, _common_resize(methods))
    levels = []
    for position, sigma in enumerate(sigmas):
        denoisers = {m.label: m.denoiser(sigma, device) for m in methods if m.label != NOISY}
        collector = grid if position == 0 else None
        evaluation = evaluate_methods(denoisers, images, sigma=sigma, seed=seed, on_image=on_image, on_output=collector)
        reference = methods[0].label
        differences = {
            m.label: paired_differences(
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
