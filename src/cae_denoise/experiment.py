"""Multi-seed experiments: train each architecture with N seeds on the same data and budget, evaluate all.

This is how a claim such as "LeakyReLU beats ReLU" is tested: the spread across seeds shows whether a
difference is larger than the run-to-run noise. Runs live in ``out/ARCH_seedK``; a run whose evaluation
exists is skipped, and an interrupted one resumes from its ``last.pt``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from .config import TrainConfig
from .errors import CaeDenoiseError
from .evaluate import NOISY, evaluate_specs
from .metrics import HIGHER_IS_BETTER, METRIC_NAMES
from .reports import write_report
from .train import LAST, Trainer

EVALUATION = "eval_test.json"


def run_dir(out: Path, arch: str, seed: int) -> Path:
    """Folder of one run."""
    return out / f"{arch}_seed{seed}"


def run_one(config: TrainConfig, sigma: float, **callbacks: Any) -> tuple[dict[str, Any], bool]:
    """Train (or resume) one run and evaluate its best checkpoint; returns (evaluation, was_skipped)."""
    folder = Path(config.out)
    done = folder / EVALUATION
    if done.is_file():
        evaluation = json.loads(done.read_text())
        saved = next(m["train_config"] for m in evaluation["methods"].values() if m.get("kind") == "model")
        changed = sorted(key for key, value in config.to_dict().items() if saved.get(key) != value)
        if changed:
            raise CaeDenoiseError(
                f"{folder} was trained with other settings ({', '.join(changed)}); use another --out for this one"
            )
        return evaluation, True
    trainer = Trainer(config, resume=(folder / LAST).is_file())
    result = trainer.run(**callbacks)
    body = evaluate_specs([str(result.best)], data=config.data, sigmas=[sigma], device=trainer.device)
    write_report(done, "evaluate", body)
    return json.loads(done.read_text()), False


def _t_interval(values: np.ndarray, confidence: float = 0.95) -> list[float] | None:
    """Student-t confidence interval for the mean of ``values``; None for fewer than two (no spread to use)."""
    if values.size < 2:
        return None
    mean = float(values.mean())
    half = scipy_stats.t.ppf(0.5 + confidence / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    return [mean - float(half), mean + float(half)]


def summarise(scores: dict[str, list[dict[str, float]]], reference: str) -> dict[str, Any]:
    """Mean +/- std across seeds per architecture, and each one's per-seed paired change from ``reference``."""
    summary: dict[str, Any] = {"per_arch": {}, "versus_reference": {}}
    for arch, runs in scores.items():
        summary["per_arch"][arch] = {
            metric: {
                "mean": float(np.mean([r[metric] for r in runs])),
                "std": float(np.std([r[metric] for r in runs], ddof=1)) if len(runs) > 1 else 0.0,
                "per_seed": [r[metric] for r in runs],
            }
            for metric in METRIC_NAMES
        }
    for arch, runs in scores.items():
        if arch in (reference, NOISY):
            continue
        rows = {}
        for metric in METRIC_NAMES:
            ref = np.array([r[metric] for r in scores[reference]])
            new = np.array([r[metric] for r in runs])
            count = min(ref.size, new.size)
            delta = new[:count] - ref[:count]
            better = delta if HIGHER_IS_BETTER[metric] else -delta
            relative = 100.0 * delta / np.abs(ref[:count])
            interval = _t_interval(delta)
            rows[metric] = {
                "difference_per_seed": delta.tolist(),
                "difference_mean": float(delta.mean()),
                "difference_ci95_over_seeds": interval,
                "relative_percent_mean": float(relative.mean()),
                "relative_percent_ci95_over_seeds": _t_interval(relative),
                "better_in_seeds": int((better > 0).sum()),
                "seeds": int(count),
                "holds_across_seeds": interval is not None and bool((better > 0).all()) and _excludes_zero(interval),
            }
        summary["versus_reference"][arch] = rows
    return summary


def _excludes_zero(interval: list[float]) -> bool:
    return interval[0] > 0 or interval[1] < 0


def run_experiment(
    base: TrainConfig,
    archs: list[str],
    seeds: int,
    out: str | Path,
    *,
    sigma: float = 25.0,
    on_run: Callable[[str, int, bool], None] | None = None,
    **callbacks: Any,
) -> dict[str, Any]:
    """Train and evaluate ``archs`` x ``seeds`` runs (seeds 0..N-1) under ``base``; returns the report body.

    ``on_run(arch, seed, skipped)`` is called after each run; ``callbacks`` go to each training run.
    """
    if len(archs) < 1 or seeds < 1:
        raise CaeDenoiseError("an experiment needs at least one architecture and one seed")
    out = Path(out)
    scores: dict[str, list[dict[str, float]]] = {arch: [] for arch in archs}
    noisy: list[dict[str, float]] = []
    runs = []
    for arch in archs:
        for seed in range(seeds):
            config = dataclasses.replace(base, arch=arch, seed=seed, out=str(run_dir(out, arch, seed)))
            config.validate()
            evaluation, skipped = run_one(config, sigma, **callbacks)
            level = evaluation["levels"][0]
            model_label = next(label for label in level["methods"] if label != NOISY)
            scores[arch].append(level["methods"][model_label]["mean"])
            noisy.append(level["methods"][NOISY]["mean"])
            runs.append({"arch": arch, "seed": seed, "folder": config.out, "skipped": skipped})
            if on_run:
                on_run(arch, seed, skipped)
    scores_with_floor = {NOISY: noisy[:1], **scores}
    return {
        "archs": archs,
        "seeds": seeds,
        "sigma": sigma,
        "base_config": base.to_dict(),
        "runs": runs,
        "summary": summarise(scores_with_floor, archs[0]),
    }
