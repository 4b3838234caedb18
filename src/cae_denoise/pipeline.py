"""One training run from start to finish: train, evaluate ``best.pt`` on the test split, write the report.

``cae-denoise train`` and every run of ``cae-denoise experiment`` go through ``train_and_evaluate``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import TrainConfig
from .evaluate import evaluate_specs
from .reports import write_report
from .train import EVALUATION, StepInfo, TrainResult, TrainStart, train


@dataclass
class RunOutcome:
    """A finished run: what training wrote, and the test evaluation (``None`` on torchrun ranks other than 0)."""

    training: TrainResult
    evaluation: dict[str, Any] | None
    evaluation_path: Path | None


def train_and_evaluate(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    on_start: Callable[[TrainStart], None] | None = None,
    on_step: Callable[[StepInfo], None] | None = None,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
    on_image: Callable[[str, str], None] | None = None,
) -> RunOutcome:
    """Train (or resume) as ``config`` says, then score ``best.pt`` against the noisy input on the test split
    of the same data at ``config.val_sigma`` (noise seed 0), and write ``OUT/eval_test.json``. ``overwrite``
    lets a new run replace an old one in the same folder (see ``train.claim_run_folder``)."""
    result = train(
        config, resume=resume, overwrite=overwrite, on_start=on_start, on_step=on_step, on_epoch_end=on_epoch_end
    )
    if not result.is_main:
        return RunOutcome(result, None, None)
    body = evaluate_specs(
        [str(result.best)], data=config.data, sigmas_255=[config.val_sigma], device=result.device, on_image=on_image
    )
    path = write_report(result.out / EVALUATION, "evaluate", body, overwrite=True)
    return RunOutcome(result, body, path)
