"""The kinds of training, one object each: what a run learns from, and everything that depends on it.

``task_for(config)`` checks a ``TrainConfig`` once and builds the ``Task`` of its kind (``config.kind``), which
holds the parsed settings (the noise models, the architecture) and owns, for that kind, the data a run decodes
(``build_data``), what a step minimises (``objective``), the validation scores and the one ``best.pt``
maximises, the test evaluation after training, and the words that describe the run:

- ``SyntheticTask``: clean images (plus procedural dead leaves) with seeded synthetic noise, scored against the
  clean images (SSIM, MSE, PSNR);
- ``PairsTask``: real noisy/clean pairs (``data/pairs.py``), no noise added, scored against the clean side;
- ``SelfSupervisedTask``: noisy photos alone (Neighbor2Neighbor), scored by the no-reference checks
  (``evaluation/noreference.py``), best by the self-supervised validation loss.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ..config import LR_RULE, MAX_PARAMETERS, PAIRS, SELF_SUPERVISED, SYNTHETIC, TrainConfig, resolve_device
from ..data.pairs import load_pairs, same_data_message
from ..data.sources import DevicePatchSampler, NamedImage, PatchSampler, Split, load_source, make_split, resize_square
from ..data.synthetic import dead_leaves_set
from ..errors import CaeDenoiseError, UsageError
from ..evaluation.evaluate import NO_REFERENCE, evaluate_methods, evaluation_report
from ..evaluation.methods import model_denoiser, resolve_methods
from ..evaluation.noreference import no_reference_scores
from ..io.pictures import LOSS_PANEL, PSNR_PANEL, ValidationPanel
from ..io.regular import same_file
from ..io.reports import environment
from ..models.architectures import Architecture, architecture
from ..models.checkpoint import load_model
from ..noise.models import GaussianNoise, NoiseModel, noise_record, parse_noise, parse_sigma
from .objectives import Neighbor2Neighbor, Objective, RealPairs, SyntheticNoise

DEAD_LEAVES_SIZE = 256


@dataclass
class TrainingData:
    """A run's images split by name: the training-patch sampler, and the validation and test images.

    ``val_images`` are clean (synthetic noise, pairs) or noisy (self-supervised); for pairs ``val_noisy`` holds
    their noisy counterparts, for synthetic noise their seeded noisy copies (the same at every validation).
    ``test_images`` and ``test_noisy`` are the test split, decoded with the rest, for the evaluation after
    training. ``skipped`` lists the files left out, as (file, reason); ``files`` counts them.
    """

    split: Split
    sampler: PatchSampler
    val_images: list[NamedImage]
    val_noisy: list[np.ndarray] | None
    test_images: list[NamedImage]
    test_noisy: list[np.ndarray] | None
    skipped: list[tuple[str, str]]
    files: dict[str, int]

    @property
    def skipped_files(self) -> int:
        """Files left out: unreadable, unmatched, or smaller than a training patch."""
        return len(self.skipped) + self.sampler.skipped_small


def _sampler(images: list[NamedImage], device: torch.device | None, **sizes: float | None) -> PatchSampler:
    """The patch sampler over ``images``: on a CUDA ``device``, one that keeps them there and cuts batches there."""
    if device is not None and device.type == "cuda":
        return DevicePatchSampler(images, device=device, **sizes)
    return PatchSampler(images, **sizes)


class Task:
    """One kind of training (see the module docstring), built by ``task_for`` from a checked config."""

    kind: ClassVar[str]
    #: How many times the objective halves a patch before the model sees it (Neighbor2Neighbor: once).
    halvings: ClassVar[int] = 0

    def __init__(self, config: TrainConfig, architecture: Architecture, noise: NoiseModel | None) -> None:
        self.config, self.architecture, self.noise = config, architecture, noise

    @functools.cached_property
    def val_noise(self) -> NoiseModel:
        """The noise of validation and of the test evaluation: ``val_noise``, else Gaussian at ``val_sigma``."""
        config = self.config
        if not config.val_noise:
            return GaussianNoise(config.val_sigma, config.val_sigma)
        try:
            return parse_noise(config.val_noise)
        except UsageError as error:
            raise UsageError(str(error).replace("--noise", "--val-noise", 1)) from error

    def check(self) -> None:
        """Refuse settings this kind cannot use (called once, by ``task_for``)."""

    @property
    def learns(self) -> str:
        """What the run learns from, in a sentence, for its report and checkpoint."""
        raise NotImplementedError

    def build_data(self, device: torch.device | None = None) -> TrainingData:
        """Decode the images, split them by name, and make the patch sampler over the training part."""
        raise NotImplementedError

    def objective(self) -> Objective:
        """What one training step minimises."""
        raise NotImplementedError

    def scores(self, denoiser: Any, data: TrainingData) -> dict[str, float]:
        """Scores of a denoiser on the validation images."""
        raise NotImplementedError

    #: What the training curves draw beside the loss: the score ``selection_score`` reads.
    validation_panel: ClassVar[ValidationPanel] = PSNR_PANEL

    def selection_score(self, scores: dict[str, float]) -> float:
        """What ``best.pt`` maximises: validation PSNR."""
        return scores["psnr"]

    def test_evaluation(
        self, checkpoint: Path, data: TrainingData, device: torch.device, on_image: Any = None
    ) -> dict[str, Any]:
        """The report body of ``checkpoint`` scored on the test split of ``data``."""
        raise NotImplementedError

    def describe(self) -> str:
        """The training data in a few words, e.g. ``builtin, sigma 25``."""
        raise NotImplementedError

    def validation_scores(self, model: nn.Module, data: TrainingData, device: torch.device) -> dict[str, float]:
        """``scores`` of ``model`` (put in eval mode for them, then back in training mode)."""
        model.eval()
        scores = self.scores(model_denoiser(model, device), data)
        model.train()
        return scores

    def noise_record(self) -> dict[str, Any] | None:
        """The training noise for the report and checkpoint (None: none is added)."""
        return None

    def description(self, data: TrainingData) -> dict[str, Any]:
        """What a run learned from, for its report and checkpoint: the kind, the sources and the file counts."""
        config = self.config
        return {
            "kind": self.kind,
            "what": self.learns,
            "data": config.data,
            "noisy_data": config.noisy_data,
            **data.files,
            "lr": config.lr,
            "lr_rule": LR_RULE,
        }


class _WithReferences(Task):
    """Scored against clean images: validation by the evaluation code, test by ``evaluate.evaluation_report``."""

    def scores(self, denoiser: Any, data: TrainingData) -> dict[str, float]:
        evaluation = evaluate_methods(
            {"model": denoiser},
            data.val_images,
            noise=self.val_noise,
            seed=self.config.val_seed,
            noisy_images=data.val_noisy,
            include_noisy=False,
        )
        return evaluation.methods["model"].mean

    def test_evaluation(
        self, checkpoint: Path, data: TrainingData, device: torch.device, on_image: Any = None
    ) -> dict[str, Any]:
        """Seeded ``val_noise`` (noise seed 0) on the clean test images, or the real pairs as they are."""
        started = time.perf_counter()
        return evaluation_report(
            resolve_methods([str(checkpoint)], device),
            data.test_images,
            data.test_noisy,
            data=self.config.data,
            noisy_data=self.config.noisy_data,
            split="test",
            noises=[self.val_noise],
            seed=0,
            device=device,
            on_image=on_image,
            grid=None,
            skipped=[f"{name}: {reason}" for name, reason in data.skipped],
            started=started,
        )


class SyntheticTask(_WithReferences):
    """Clean images with synthetic noise drawn per sample."""

    kind = SYNTHETIC

    @property
    def learns(self) -> str:
        return f"clean images of --data with synthetic noise {self.noise.spec}"

    def validation_images(self, images: list[NamedImage]) -> list[NamedImage]:
        """The clean validation images: the split's, resized as training samples are (``resize``)."""
        if self.config.resize is None:
            return images
        return [NamedImage(image.name, resize_square(image.pixels, self.config.resize)) for image in images]

    def build_data(self, device: torch.device | None = None) -> TrainingData:
        """Clean images (plus ``dead_leaves``); validation images get their seeded noise once here (the same at
        every validation; camera noise costs a second a photo)."""
        config = self.config
        source = load_source(config.data, max_megapixels=config.max_megapixels)
        split = make_split(source)
        train_images = source.by_names(split.train)
        if config.dead_leaves:
            train_images += dead_leaves_set(config.dead_leaves, DEAD_LEAVES_SIZE, config.seed)
        patch = None if config.resize else config.patch
        sampler = _sampler(
            train_images, device, patch=patch, resize=config.resize, max_megapixels=config.max_megapixels
        )
        val_images = self.validation_images(source.by_names(split.val))
        noise = self.val_noise
        val_noisy = [noise.add_seeded(image.pixels, config.val_seed, index) for index, image in enumerate(val_images)]
        test_images = self.validation_images(source.by_names(split.test))
        counts = {"images": len(source.images), "skipped": len(source.skipped), "dead_leaves": config.dead_leaves}
        return TrainingData(split, sampler, val_images, val_noisy, test_images, None, source.skipped, counts)

    def objective(self) -> Objective:
        return SyntheticNoise(self.noise)

    def noise_record(self) -> dict[str, Any] | None:
        return noise_record(self.noise)

    def describe(self) -> str:
        config = self.config
        return f"{config.data}, noise {config.noise}" if config.noise else f"{config.data}, sigma {config.sigma}"


class _OnNoisyPhotos(Task):
    """A kind that trains on real noisy photos (``--noisy-data``): no noise is added."""

    def check(self) -> None:
        """Refuse the options of synthetic noise, which a run on real noisy photos would silently ignore, and a
        pair that is one folder twice."""
        config = self.config
        if config.data is not None and same_file(config.data, config.noisy_data):
            raise UsageError(same_data_message(config.data, config.noisy_data))
        defaults = TrainConfig()
        unused = [
            ("--noise", config.noise is not None),
            ("--sigma", config.sigma != defaults.sigma),
            ("--val-noise", config.val_noise is not None),
            ("--val-sigma", config.val_sigma != defaults.val_sigma),
            ("--dead-leaves", bool(config.dead_leaves)),
            ("--resize", config.resize is not None),
        ]
        for option, given in unused:
            if given:
                raise UsageError(
                    f"{option} applies to training on clean images with synthetic noise, not with --noisy-data: "
                    "no noise is added to real noisy photos, and they are scored on their own noise"
                )


class PairsTask(_OnNoisyPhotos, _WithReferences):
    """Real noisy/clean pairs: clean and noisy crops stacked as 6 channels, so one crop and one flip/rotation
    fall on both."""

    kind = PAIRS

    @property
    def learns(self) -> str:
        return "real noisy/clean pairs (--noisy-data matched to --data by file name), no noise added"

    def build_data(self, device: torch.device | None = None) -> TrainingData:
        config = self.config
        paired = load_pairs(config.data, config.noisy_data, max_megapixels=config.max_megapixels)
        split = make_split(paired.clean_source())
        stacked = [NamedImage(p.name, np.concatenate([p.clean, p.noisy], axis=2)) for p in paired.by_names(split.train)]
        sampler = _sampler(stacked, device, patch=config.patch, max_megapixels=config.max_megapixels)
        val, test = paired.by_names(split.val), paired.by_names(split.test)
        counts = {"pairs": len(paired.pairs), "skipped": len(paired.skipped)}
        return TrainingData(
            split,
            sampler,
            [NamedImage(p.name, p.clean) for p in val],
            [p.noisy for p in val],
            [NamedImage(p.name, p.clean) for p in test],
            [p.noisy for p in test],
            paired.skipped,
            counts,
        )

    def objective(self) -> Objective:
        return RealPairs()

    def describe(self) -> str:
        return f"{self.config.data} paired with {self.config.noisy_data}"


class SelfSupervisedTask(_OnNoisyPhotos):
    """Noisy photos alone, Neighbor2Neighbor; scored by the no-reference checks."""

    kind = SELF_SUPERVISED
    halvings = 1  # the model sees half-size sub-images

    @property
    def learns(self) -> str:
        return "noisy photos alone (--noisy-data), Neighbor2Neighbor self-supervision, no clean images"

    def build_data(self, device: torch.device | None = None) -> TrainingData:
        config = self.config
        source = load_source(config.noisy_data, max_megapixels=config.max_megapixels)
        split = make_split(source)
        sampler = _sampler(
            source.by_names(split.train), device, patch=config.patch, max_megapixels=config.max_megapixels
        )
        val, test = source.by_names(split.val), source.by_names(split.test)
        counts = {"images": len(source.images), "skipped": len(source.skipped), "dead_leaves": config.dead_leaves}
        return TrainingData(split, sampler, val, None, test, None, source.skipped, counts)

    def objective(self) -> Objective:
        return Neighbor2Neighbor()

    def scores(self, denoiser: Any, data: TrainingData) -> dict[str, float]:
        return no_reference_scores(denoiser, [image.pixels for image in data.val_images], seed=self.config.val_seed)

    validation_panel = LOSS_PANEL

    def selection_score(self, scores: dict[str, float]) -> float:
        """Minus the self-supervised validation loss."""
        return -scores["loss"]

    def test_evaluation(
        self, checkpoint: Path, data: TrainingData, device: torch.device, on_image: Any = None
    ) -> dict[str, Any]:
        """The no-reference checks of ``checkpoint`` on the test photos, next to the same checks of the noisy
        input itself (whose removed part is nothing)."""
        loaded = load_model(checkpoint, device)
        return {
            "scoring": NO_REFERENCE,
            "data": None,
            "noisy_data": self.config.noisy_data,
            "split": "test",
            "images": [image.name for image in data.test_images],
            "no_reference": no_reference_scores(
                model_denoiser(loaded.model, device), [image.pixels for image in data.test_images]
            ),
            "conventions": {
                "no_reference": "see cae_denoise.evaluation.noreference: loss, input/residual sigma (0-255), structure"
            },
            "environment": environment(device),
        }

    def describe(self) -> str:
        return f"{self.config.noisy_data} (noisy photos alone, self-supervised)"


TASKS: dict[str, type[Task]] = {task.kind: task for task in (SyntheticTask, PairsTask, SelfSupervisedTask)}


@functools.lru_cache(maxsize=64)
def task_for(config: TrainConfig) -> Task:
    """The ``Task`` of ``config``'s kind, every option checked before any work starts (``UsageError`` naming the
    option). Cached: the CLI, ``train_and_evaluate`` and ``train`` asking for the same config check it once."""
    config.check_values()
    try:
        built = architecture(
            config.arch, channels=config.channels, depth=config.depth, negative_slope=config.negative_slope
        )
    except CaeDenoiseError as error:
        raise UsageError(f"--arch: {error}") from error
    noise = (
        (parse_noise(config.noise) if config.noise else parse_sigma(config.sigma)) if config.kind == SYNTHETIC else None
    )
    task = TASKS[config.kind](config, built, noise)
    task.val_noise  # noqa: B018 (parsed now: a bad --val-noise fails before any work)
    task.check()
    if built.weights > MAX_PARAMETERS:
        sizes = {key: value for key, value in built.args.items() if key in ("channels", "depth")}
        given = " ".join(f"--{key} {value}" for key, value in sizes.items())
        raise UsageError(
            f"--arch {config.arch} {given}: the model would have {built.weights:,} weights, over the "
            f"{MAX_PARAMETERS:,} limit; lower --channels or --depth"
        )
    multiple = built.size_multiple * 2**task.halvings
    for option, size in (("--patch", config.patch), ("--resize", config.resize)):
        if size is not None and size % multiple:
            raise UsageError(
                f"{option} {size}: must be a multiple of {multiple} for {config.arch} with these settings "
                f"(it halves the image {multiple.bit_length() - 1} times)"
            )
    resolve_device(config.device)
    return task
