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

from ..data.pairs import load_pairs
from ..data.sources import DEFAULT_MAX_MEGAPIXELS, NamedImage, load_source, make_split, resize_square
from ..errors import CaeDenoiseError, UsageError
from ..io.reports import environment
from ..noise.models import GaussianNoise, NoiseModel
from .classical import Denoiser
from .grid import CLEAN, GridCollector
from .methods import Method, common_resize, resolve_methods
from .metrics import HIGHER_IS_BETTER, METRIC_NAMES, PSNR_CONVENTION, SSIM_CONVENTION, image_metrics, mean_metrics
from .oracle import OracleDenoiser
from .stats import describe, paired_difference

NOISY = "noisy"
#: An evaluation report's ``scoring``: against clean references (``levels``), or by the no-reference checks of
#: a model trained on noisy photos alone (``no_reference``, ``tasks.SelfSupervisedTask``).
REFERENCE, NO_REFERENCE = "reference", "no-reference"


@dataclass
class MethodScores:
    """Per-image metrics of one method, in test-image order, and the seconds it spent denoising; for an oracle
    variant, ``oracle`` records the sigma it chose per image (``OracleDenoiser.record``)."""

    per_image: list[dict[str, float]]
    seconds: float = 0.0
    oracle: dict[str, Any] | None = None

    @property
    def mean(self) -> dict[str, float]:
        return mean_metrics(self.per_image)


@dataclass
class Evaluation:
    """All methods' scores on one test set with one noise (``noise`` describes it, for the report)."""

    images: list[str]
    noise: dict[str, Any]
    methods: dict[str, MethodScores] = field(default_factory=dict)
    metric_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "noise": self.noise,
            "methods": {
                name: {
                    "mean": scores.mean,
                    "per_image": [{"image": n, **row} for n, row in zip(self.images, scores.per_image, strict=True)],
                    "denoise_seconds": scores.seconds,
                    **({"oracle": scores.oracle} if scores.oracle is not None else {}),
                }
                for name, scores in self.methods.items()
            },
            "metric_seconds": self.metric_seconds,
            "conventions": {"ssim": SSIM_CONVENTION, "psnr": PSNR_CONVENTION},
        }


def evaluate_methods(
    methods: dict[str, Denoiser | OracleDenoiser],
    images: list[NamedImage],
    *,
    sigma_255: float | None = None,
    noise: NoiseModel | None = None,
    seed: int = 0,
    noisy_images: list[np.ndarray] | None = None,
    noisy_data: str | None = None,
    include_noisy: bool = True,
    on_image: Callable[[str, str], None] | None = None,
    on_output: Callable[[int, str, np.ndarray], None] | None = None,
) -> Evaluation:
    """Score each method (plus ``noisy``, the identity, unless ``include_noisy`` is off) against clean ``images``.

    The inputs are seeded noisy copies (noise fixed by ``seed`` and image index) made by ``noise``, or by
    Gaussian noise at ``sigma_255`` (its shorthand), or, for real pairs, ``noisy_images`` as they are (one per
    image, from ``noisy_data``). An ``OracleDenoiser`` also sees the clean image, and its seconds include every
    level it tried. ``on_image(image, method)`` reports progress; ``on_output(index, method, output)`` sees every
    output, and the clean reference first, as method ``CLEAN``.
    """
    if not images:
        raise CaeDenoiseError("no test images to evaluate on")
    if seed < 0:
        raise UsageError(f"--seed {seed}: must be 0 or more")
    if noisy_images is None:
        noise = noise or GaussianNoise(sigma_255, sigma_255)
        description = noise_description(noise, seed)
    else:
        description = {"kind": "real noisy/clean pairs", "noisy_data": noisy_data}
    result = Evaluation([image.name for image in images], description)
    names = (NOISY, *methods) if include_noisy else tuple(methods)
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    seconds = dict.fromkeys(rows, 0.0)
    metric_seconds = 0.0
    for index, image in enumerate(images):  # one noisy image at a time: memory stays that of one image
        noisy = noise.add_seeded(image.pixels, seed, index) if noisy_images is None else noisy_images[index]
        if on_output:
            on_output(index, CLEAN, image.pixels)
        for name in rows:
            tick = time.perf_counter()
            output = noisy if name == NOISY else _run(methods[name], noisy, image.pixels)
            seconds[name] += time.perf_counter() - tick
            tick = time.perf_counter()
            rows[name].append(image_metrics(image.pixels, output))
            if on_output:
                on_output(index, name, output)
            metric_seconds += time.perf_counter() - tick
            if on_image:
                on_image(image.name, name)
    result.methods = {name: MethodScores(rows[name], seconds[name]) for name in rows}
    for name, method in methods.items():
        if isinstance(method, OracleDenoiser):
            result.methods[name].oracle = method.record(result.images)
    result.metric_seconds = metric_seconds
    return result


def _run(method: Denoiser | OracleDenoiser, noisy: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """A denoiser's output; an oracle variant also sees the clean reference."""
    return method(noisy, clean) if isinstance(method, OracleDenoiser) else method(noisy)


def noise_description(noise: NoiseModel, seed: int) -> dict[str, Any]:
    """A report's record of seeded noise: one Gaussian level as ``sigma_255``, any model by its ``spec``."""
    if noise.known_sigma_255 is not None:
        return {"kind": "gaussian", "sigma_255": noise.known_sigma_255, "spec": noise.spec, "clip": True, "seed": seed}
    return {"kind": "synthetic", "spec": noise.spec, "settings": noise.to_dict(), "seed": seed}


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


def load_test_images(
    data: str, split: str = "test", resize: int | None = None, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS
) -> tuple[list[NamedImage], list[str]]:
    """Images of one split of a source (resized if ``resize``), and the files that had to be skipped."""
    source = load_source(data, max_megapixels=max_megapixels)
    images = source.by_names(make_split(source).part(split))
    if resize:
        images = [NamedImage(image.name, resize_square(image.pixels, resize)) for image in images]
    return images, [f"{name}: {reason}" for name, reason in source.skipped]


def _level(
    methods: list[Method],
    images: list[NamedImage],
    *,
    device: str | torch.device,
    seed: int,
    noise: NoiseModel | None = None,
    noisy_images: list[np.ndarray] | None = None,
    noisy_data: str | None = None,
    on_image: Callable[[str, str], None] | None = None,
    on_output: Callable[[int, str, np.ndarray], None] | None = None,
) -> dict[str, Any]:
    """Every method scored on one noise, and each one's paired comparison with the first method."""
    known_sigma = noise.known_sigma_255 if noise is not None else None
    denoisers = {m.label: m.denoiser(known_sigma, device) for m in methods if m.label != NOISY}
    evaluation = evaluate_methods(
        denoisers,
        images,
        noise=noise,
        seed=seed,
        noisy_images=noisy_images,
        noisy_data=noisy_data,
        on_image=on_image,
        on_output=on_output,
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
    return {**evaluation.to_dict(), "reference": reference, "differences": differences}


def evaluate_specs(
    specs: list[str],
    *,
    data: str = "builtin",
    noisy_data: str | None = None,
    split: str = "test",
    sigmas_255: list[float] | tuple[float, ...] = (25.0,),
    noises: list[NoiseModel] | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    on_image: Callable[[str, str], None] | None = None,
    grid: GridCollector | None = None,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> dict[str, Any]:
    """Evaluate methods on the same noisy test images; returns the report body.

    Without ``noisy_data``: seeded noise is added to the clean images of ``data``, once per model of ``noises``
    or, without them, per Gaussian level of ``sigmas_255`` (one entry of ``levels`` each). Classical methods
    and peers are tuned to the true sigma of one Gaussian level, else to each noisy image's estimated level;
    ``NAME:oracle`` variants to each image's best level against its clean image. With ``noisy_data``: the real
    pairs of ``data`` (clean) and ``noisy_data`` are scored as they are (one level; classical methods and peers
    get each image's estimated noise level). ``grid``, if given, collects output crops at
    every level for ``GridCollector.picture``. The data may hold at most ``max_megapixels`` decoded
    (``data.load_sources``).

    The first method is the reference: ``levels[i]["differences"]`` holds every other method's paired
    statistics against it. ``noisy`` (the input itself) is always scored as the floor.
    """
    if not specs:
        raise UsageError("name at least one checkpoint or method")
    for sigma in sigmas_255:
        if not 0 <= sigma <= 255:
            raise UsageError(f"--sigma {sigma:g}: must be in [0, 255]")
    noises = noises or [GaussianNoise(sigma, sigma) for sigma in sigmas_255]
    started = time.perf_counter()
    methods = resolve_methods(specs, device)
    noisy_images = None
    if noisy_data is None:
        images, skipped = load_test_images(data, split, common_resize(methods), max_megapixels)
    else:
        if common_resize(methods):
            raise UsageError("models trained with --resize cannot be scored on real pairs; they expect resized images")
        paired = load_pairs(data, noisy_data, max_megapixels=max_megapixels)
        pairs = paired.by_names(make_split(paired.clean_source()).part(split))
        images = [NamedImage(pair.name, pair.clean) for pair in pairs]
        skipped = [f"{name}: {reason}" for name, reason in paired.skipped]
        noisy_images = [pair.noisy for pair in pairs]
    return evaluation_report(
        methods,
        images,
        noisy_images,
        data=data,
        noisy_data=noisy_data,
        split=split,
        noises=noises,
        seed=seed,
        device=device,
        on_image=on_image,
        grid=grid,
        skipped=skipped,
        started=started,
    )


def evaluation_report(
    methods: list[Method],
    images: list[NamedImage],
    noisy_images: list[np.ndarray] | None,
    *,
    data: str,
    noisy_data: str | None,
    split: str,
    noises: list[NoiseModel],
    seed: int,
    device: str | torch.device,
    on_image: Callable[[str, str], None] | None,
    grid: GridCollector | None,
    skipped: list[str],
    started: float,
) -> dict[str, Any]:
    """The report body of ``evaluate_specs`` on images already decoded: clean ``images`` with seeded noise of
    each of ``noises``, or, with ``noisy_images`` (real pairs, from ``noisy_data``), those as they are."""
    common = {"device": device, "seed": seed, "on_image": on_image}
    if noisy_images is None:
        levels = [
            _level(methods, images, noise=noise, on_output=grid.level(position) if grid is not None else None, **common)
            for position, noise in enumerate(noises)
        ]
    else:
        collect = grid.level(0) if grid is not None else None
        levels = [
            _level(methods, images, noisy_images=noisy_images, noisy_data=noisy_data, on_output=collect, **common)
        ]
    return {
        "scoring": REFERENCE,
        "data": data,
        "noisy_data": noisy_data,
        "split": split,
        "images": [image.name for image in images],
        "methods": {m.label: m.describe(data, images, noisy_data) for m in methods},
        "skipped_files": skipped,
        "levels": levels,
        "environment": environment(device),
        "wall_time_s": time.perf_counter() - started,
    }
