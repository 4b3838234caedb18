"""Multi-seed experiments: train each architecture with N seeds on the same data and budget, evaluate all.

This is how a claim such as "LeakyReLU beats ReLU" is tested: the unit of comparison is the seed (each
seed's mean over the test images), paired across architectures by seed, with the same statistics as
``compare`` (``stats.paired_difference``). Runs live in ``out/ARCH_seedK``; a run whose evaluation exists is
skipped, and an interrupted one resumes from its ``last.pt``. The report is ``out/experiment.json``; the
experiment holds ``out``'s lock while it runs (``locks.run_lock``), and each run its own folder's.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..config import EVALUATION, LAST, TrainConfig
from ..data.reads import files_read
from ..errors import CaeDenoiseError, UsageError
from ..evaluation.evaluate import NOISY
from ..evaluation.metrics import HIGHER_IS_BETTER, METRIC_NAMES
from ..evaluation.stats import describe, paired_difference
from ..io.locks import run_lock
from ..io.outputs import check_output_option, protecting
from ..io.reports import write_report
from .pipeline import train_and_evaluate
from .tasks import task_for

REPORT = "experiment.json"


def run_dir(out: Path, arch: str, seed: int) -> Path:
    """Folder of one run."""
    return out / f"{arch}_seed{seed}"


def _run_scores(evaluation: Any) -> tuple[dict[str, Any], dict[str, float], dict[str, float]]:
    """A run's evaluation: the model's training settings, its mean scores and the noisy input's; KeyError,
    TypeError, ... (caught by the caller) when the file lacks them."""
    saved = next(m["train_config"] for m in evaluation["methods"].values() if m.get("kind") == "model")
    level = evaluation["levels"][0]
    model_label = next(label for label in level["methods"] if label != NOISY)
    means = level["methods"][model_label]["mean"], level["methods"][NOISY]["mean"]
    if not isinstance(saved, dict) or not all(
        isinstance(mean, dict) and all(isinstance(mean[metric], int | float) for metric in METRIC_NAMES)
        for mean in means
    ):
        raise TypeError("scores are not numbers")
    return saved, *means


def _finished_evaluation(config: TrainConfig) -> dict[str, Any] | None:
    """The saved evaluation of a finished run with exactly these settings; None if the run is not finished."""
    path = Path(config.out) / EVALUATION
    if not path.is_file():
        return None
    try:
        evaluation = json.loads(path.read_text(encoding="utf-8"))
        saved = TrainConfig.from_dict(_run_scores(evaluation)[0])
    except (
        OSError,
        UnicodeDecodeError,
        ValueError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
        StopIteration,
        CaeDenoiseError,
    ):
        raise CaeDenoiseError(
            f"{path}: not a readable evaluation of that run (truncated or edited?); remove it to evaluate the run again"
        ) from None
    changed = config.changed_from(saved)
    if changed:
        raise CaeDenoiseError(
            f"{config.out} was trained with other settings ({', '.join(changed)}); use another --out for this one"
        )
    return evaluation


def summarise(scores: dict[str, list[dict[str, float]]], reference: str) -> dict[str, Any]:
    """Mean +/- std across seeds per architecture, and each one's paired change from ``reference`` by seed."""
    summary: dict[str, Any] = {"per_arch": {}, "versus_reference": {}}
    for arch, runs in scores.items():
        summary["per_arch"][arch] = {
            metric: {
                "mean": float(np.mean([r[metric] for r in runs])),
                "std": float(np.std([r[metric] for r in runs], ddof=1)) if len(runs) > 1 else None,
                "per_seed": [r[metric] for r in runs],
            }
            for metric in METRIC_NAMES
        }
    for arch, runs in scores.items():
        if arch in (reference, NOISY):
            continue
        rows = {}
        for metric in METRIC_NAMES:
            row = paired_difference(
                [r[metric] for r in scores[reference]],
                [r[metric] for r in runs],
                higher_is_better=HIGHER_IS_BETTER[metric],
            )
            row["verdict"] = describe(row, label=arch, reference=reference, metric=metric, unit_name="seeds")
            rows[metric] = row
        summary["versus_reference"][arch] = rows
    return summary


def run_experiment(
    base: TrainConfig,
    archs: list[str],
    seeds: int,
    out: str | Path,
    *,
    overwrite: bool = False,
    on_run: Callable[[str, int, bool], None] | None = None,
    **callbacks: Any,
) -> dict[str, Any]:
    """Train and evaluate ``archs`` x ``seeds`` runs (seeds 0..N-1) under ``base``, write ``out/experiment.json``
    (an existing one only with ``overwrite``, refused before any run starts) and return its body.

    Each run is evaluated with the validation noise (Gaussian at ``val_sigma`` by default) on the test
    split. ``on_run(arch, seed, skipped)`` is called after each run; ``callbacks`` (``on_step``, ``on_note``, ...)
    go to ``train_and_evaluate``.
    """
    if len(archs) < 1 or seeds < 1:
        raise UsageError("an experiment needs at least one architecture and one seed")
    out = Path(out)
    configs = {
        (arch, seed): dataclasses.replace(base, arch=arch, seed=seed, out=str(run_dir(out, arch, seed)))
        for arch in archs
        for seed in range(seeds)
    }
    for config in configs.values():
        task_for(config)
    reads = files_read(
        checkpoints=[("--init", base.init)], data=[("--data", base.data), ("--noisy-data", base.noisy_data)]
    )
    with run_lock(out, on_note=callbacks.get("on_note")), protecting(reads):
        check_output_option(out / REPORT, "--out", ".json", overwrite=overwrite)
        body = _run_all(base, archs, seeds, configs, on_run, callbacks)
        write_report(out / REPORT, "experiment", body, overwrite=overwrite)
    return body


def _run_all(
    base: TrainConfig,
    archs: list[str],
    seeds: int,
    configs: dict[tuple[str, int], TrainConfig],
    on_run: Callable[[str, int, bool], None] | None,
    callbacks: dict[str, Any],
) -> dict[str, Any]:
    """Every run (trained, or skipped when finished) and the report body summarising them."""
    scores: dict[str, list[dict[str, float]]] = {arch: [] for arch in archs}
    noisy: list[dict[str, float]] = []
    runs = []
    for (arch, seed), config in configs.items():
        evaluation = _finished_evaluation(config)
        skipped = evaluation is not None
        if evaluation is None:
            outcome = train_and_evaluate(config, resume=(Path(config.out) / LAST).is_file(), **callbacks)
            evaluation = outcome.evaluation
        _, model_scores, noisy_scores = _run_scores(evaluation)
        scores[arch].append(model_scores)
        noisy.append(noisy_scores)
        runs.append({"arch": arch, "seed": seed, "folder": config.out, "skipped": skipped})
        if on_run:
            on_run(arch, seed, skipped)
    return {
        "archs": archs,
        "seeds": seeds,
        "sigma_255": base.val_sigma,
        "test_noise": task_for(base).val_noise.spec,
        "base_config": base.to_dict(),
        "runs": runs,
        "summary": summarise({NOISY: noisy[:1], **scores}, archs[0]),
    }
