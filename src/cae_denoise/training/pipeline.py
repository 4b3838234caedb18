"""One training run from start to finish: train, evaluate ``best.pt`` on the test split, write the report.

``cae-denoise train`` and every run of ``cae-denoise experiment`` go through ``train_and_evaluate``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import EVALUATION, TrainConfig
from ..interrupts import as_interrupted
from ..io.reports import write_report
from .distributed import context_from_env
from .loop import StepInfo, TrainResult, TrainStart, run_folder, train
from .tasks import task_for


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
    on_note: Callable[[str], None] | None = None,
) -> RunOutcome:
    """Train (or resume) as ``config`` says, then score ``best.pt`` on the test split of the same data and write
    ``OUT/eval_test.json`` (``Task.test_evaluation``, on the test images training decoded): against seeded
    validation noise (noise seed 0), on the real pairs, or, with noisy photos alone, by the no-reference checks.
    ``overwrite``
    lets a new run replace an old one in the same folder (see ``train.existing_run_files``). The folder's lock is
    held, and the files the run reads are protected, until the evaluation is written (``train.run_folder``)."""
    task_for(config)  # every option checked before the folder is locked
    with run_folder(config, resume=resume, lock=context_from_env().is_main, on_note=on_note):
        return _train_and_evaluate(config, resume, overwrite, on_start, on_step, on_epoch_end, on_image, on_note)


def _train_and_evaluate(
    config: TrainConfig,
    resume: bool,
    overwrite: bool,
    on_start: Callable[[TrainStart], None] | None,
    on_step: Callable[[StepInfo], None] | None,
    on_epoch_end: Callable[[dict[str, float]], None] | None,
    on_image: Callable[[str, str], None] | None,
    on_note: Callable[[str], None] | None,
) -> RunOutcome:
    result = train(
        config,
        resume=resume,
        overwrite=overwrite,
        on_start=on_start,
        on_step=on_step,
        on_epoch_end=on_epoch_end,
        on_note=on_note,
    )
    if not result.is_main:
        return RunOutcome(result, None, None)
    try:
        body = task_for(config).test_evaluation(result.best, result.data, result.device, on_image)
        path = write_report(result.out / EVALUATION, "evaluate", body, overwrite=True)
    except KeyboardInterrupt as error:  # training is over: last.pt holds it if this call trained
        raise as_interrupted(error, result.last if result.steps_taken else None) from None
    return RunOutcome(result, body, path)
