"""Training: ``train(config)`` turns a ``TrainConfig`` (see ``config.py``) into checkpoints.

``build_run`` builds the parts (the task's data, model, optimiser: ``Run``); ``train`` then runs one loop, top
to bottom: ``next_batch``, ``train_step``, and at each epoch's end ``end_epoch`` (validate and save), then
``finish`` (report and curves). What depends on the kind of training lives in the run's task (``training/tasks.py``).
The loop never prints; it reports through ``on_start`` / ``on_step`` / ``on_epoch_end`` callbacks (the CLI
draws a progress bar from them). ``last.pt`` is written after every epoch and on Ctrl-C or SIGTERM,
``best.pt`` whenever the validation score (``Task.selection_score``) improves over the whole run (resumes
included). A run holds its folder's lock (``locks.run_lock``) and never replaces a file it reads
(``files_read``).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import BEST, CURVES, LAST, LR_RULE, REPORT, RUN_FILES, TrainConfig, resolve_device
from ..data.reads import files_read
from ..data.sources import Split
from ..errors import CaeDenoiseError, UsageError, one_line, shorten
from ..interrupts import Interrupted, as_interrupted, deferred_interrupts
from ..io.locks import run_lock
from ..io.outputs import ReadSet, ensure_folder, protecting, refuse_if_read, remove_file
from ..io.pictures import save_png, training_curves
from ..io.reports import environment, write_report
from ..models.architectures import count_parameters, weights_sha256
from ..models.checkpoint import load_model, read_resume_point, save_checkpoint, training_payload
from ..models.inference import preferred_layout
from ..noise.models import noise_record
from . import distributed
from .objectives import Objective
from .tasks import Task, TrainingData, task_for

#: Rank r of a torchrun job samples with seed + r * RANK_SEED_STRIDE, so ranks draw different patches.
RANK_SEED_STRIDE = 7919
#: On devices other than the CPU, the loss is read back (a synchronisation) every this many steps.
LOSS_READ_INTERVAL = 20


@dataclass
class StepInfo:
    """Passed to ``on_step`` after every optimiser step."""

    epoch: int
    step: int
    global_step: int
    total_steps: int
    loss: float
    samples_per_second: float


@dataclass
class TrainState:
    """What a resumable run carries from one epoch (or interruption) to the next."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    epoch_loss_sum: float = 0.0
    best_score: float = -math.inf
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class TrainStart:
    """Passed to ``on_start`` once the parts are built, before the first step."""

    data: TrainingData
    device: torch.device
    world_size: int
    total_steps: int
    global_step: int
    kind: str


@dataclass
class TrainResult:
    """Where the run wrote its files, its data (split, test images), its per-epoch history, and how many steps
    this call took."""

    out: Path
    best: Path
    last: Path
    report: Path
    history: list[dict[str, float]]
    seconds: float
    data: TrainingData
    device: torch.device
    is_main: bool = True
    steps_taken: int = 0

    @property
    def split(self) -> Split:
        return self.data.split


# --- building the parts -----------------------------------------------------------------------------------


def new_generator(device: torch.device, seed: int) -> torch.Generator:
    """The run's sampling and noise generator: on a CUDA device (where ``DevicePatchSampler`` draws), else CPU."""
    return torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(seed)


def build_model(task: Task, device: torch.device, *, resume: bool = False) -> nn.Module:
    """The architecture, initialised from ``config.seed`` alone (global RNG state untouched), or from
    ``config.init``'s weights unless the run resumes (its own checkpoint then holds them, and the ``--init``
    file may be gone)."""
    config = task.config
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = task.architecture.build()
    if config.init and not resume:
        start_from(model, config.init)
    return model.to(device, memory_format=preferred_layout(device))


def start_from(model: nn.Module, checkpoint: str) -> None:
    """Copy a checkpoint's weights into ``model`` (fine-tuning); ``model`` may have more parameters, not fewer."""
    weights = load_model(checkpoint, "cpu").model.state_dict()
    try:
        _, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as error:  # a shape differs
        detail = one_line(error)
        raise UsageError(f"--init {checkpoint}: its weights do not fit this architecture ({detail})") from error
    if unexpected:
        raise UsageError(f"--init {checkpoint}: it has weights this architecture lacks ({', '.join(unexpected[:3])})")


def build_network(model: nn.Module, config: TrainConfig, context: distributed.Context, device: torch.device):
    """What the loop calls forward on: the model, in DDP when distributed, compiled if asked."""
    network = distributed.wrap(model, context, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed patch shapes: let cuDNN pick its fastest kernels
    return torch.compile(network) if config.compile else network


def build_optimizer(
    config: TrainConfig, model: nn.Module
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
    """Adam at ``config.lr``, and the cosine schedule over the whole run if asked."""
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    if config.schedule != "cosine":
        return optimizer, None
    return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.total_steps)


def sampler_seed(config: TrainConfig, rank: int, offset: int = 0) -> int:
    """Seed of one rank's sampling/noise stream (rank 0 of one process: exactly ``config.seed``)."""
    return config.seed + RANK_SEED_STRIDE * rank + offset


def autocast_for(device: torch.device, enabled: bool) -> torch.autocast:
    """bfloat16 autocast for ``--amp`` (no loss scaling needed); an error where bf16 is unsupported."""
    if enabled and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise CaeDenoiseError("--amp uses bfloat16, which this GPU does not support; train without --amp")
    if enabled and device.type not in ("cuda", "cpu"):
        raise CaeDenoiseError(f"--amp is supported on CUDA and CPU, not {device.type}")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def restore(path: Path, run: Run) -> TrainState:
    """Load ``path`` (a ``last.pt``) into the parts of ``run``; returns the run's counters and history."""
    config, model, optimizer, scheduler, generator = run.config, run.model, run.optimizer, run.scheduler, run.generator
    rank = run.context.rank
    point = read_resume_point(path)
    changed = config.changed_from(point.config, allowed=("out", "epochs"))
    if changed:
        raise CaeDenoiseError(f"{path}: cannot resume with different settings ({', '.join(changed)})")
    try:
        model.load_state_dict(point.model)
        optimizer.load_state_dict(point.optimizer)
        if scheduler is not None:
            scheduler.load_state_dict(point.scheduler)
            retarget_cosine(scheduler, config.total_steps, int(point.train_state["global_step"]))
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as error:
        detail = (str(error).splitlines() or [type(error).__name__])[0][:120]
        raise CaeDenoiseError(f"{path}: its saved state does not fit this run ({detail})") from error
    if rank < len(point.sampler_states):
        try:
            generator.set_state(point.sampler_states[rank])
        except (RuntimeError, TypeError) as error:
            raise CaeDenoiseError(
                f"{path}: its sampling state does not fit a generator on {generator.device} (trained on another kind "
                "of device?); resume it on the device it was trained on"
            ) from error
    else:  # saved at an interruption, when only rank 0's stream was at hand: a fresh, seeded stream
        generator.manual_seed(sampler_seed(config, rank, offset=int(point.train_state["global_step"])))
    state = TrainState(**point.train_state, history=point.history)
    consistent = (
        0 <= state.epoch <= config.epochs
        and 0 <= state.step_in_epoch <= config.steps_per_epoch  # = at a Ctrl-C just before the epoch end
        and state.global_step == state.epoch * config.steps_per_epoch + state.step_in_epoch
        and len(state.history) == state.epoch
    )
    if not consistent:
        raise CaeDenoiseError(
            f"{path}: its counters do not describe a point of this run (epoch {state.epoch}, step {state.global_step})"
        )
    return state


def retarget_cosine(scheduler: torch.optim.lr_scheduler.LRScheduler, total_steps: int, step: int) -> None:
    """Make a resumed cosine schedule one over ``total_steps`` (a run extended with ``--resume --epochs``) from
    ``step`` on: the learning rate becomes the one a run planned that long would have at ``step``, and decays
    to 0 at the new end. (The torch scheduler steps recursively from the current rate, so setting the rate and
    ``T_max`` is enough.) A schedule over the same total is left as it is, bit for bit."""
    if not isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR) or scheduler.T_max == total_steps:
        return
    scheduler.T_max = total_steps
    for group, base in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, strict=True):
        group["lr"] = scheduler.eta_min + (base - scheduler.eta_min) * (1 + math.cos(math.pi * step / total_steps)) / 2
    scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]


def schedule_record(config: TrainConfig, history: list[dict[str, float]]) -> dict[str, Any]:
    """The learning-rate schedule of a run, for its report: the rule that chose the rate, and every extension by
    ``--resume --epochs`` (read from the history's ``total_steps``: where it changed, from what to what)."""
    changes = []
    for before, after in itertools.pairwise(history):
        if "total_steps" in before and "total_steps" in after and before["total_steps"] != after["total_steps"]:
            changes.append(
                {
                    "at_step": before["step"],
                    "total_steps_before": before["total_steps"],
                    "total_steps": after["total_steps"],
                }
            )
    return {
        "optimizer": "adam",
        "lr": config.lr,
        "lr_rule": LR_RULE,
        "schedule": config.schedule,
        "total_steps": config.total_steps,
        "extended": changes,
    }


def existing_run_files(out: Path, *, resume: bool, overwrite: bool) -> list[str]:
    """The files of an earlier run in ``out`` that a new run will remove (``overwrite``); a folder holding a
    run is refused unless ``resume`` (continue it in place) or ``overwrite``, and so is a run file the run reads
    (e.g. ``--init OUT/best.pt`` with ``--overwrite``: refused now, not after an epoch)."""
    existing = [name for name in RUN_FILES if (out / name).exists()]
    if existing and not (resume or overwrite):
        raise UsageError(
            f"--out {out} already holds a run ({', '.join(existing)}); continue it with --resume {out}, "
            "or pass --overwrite to start a new run there"
        )
    for name in RUN_FILES:
        refuse_if_read(out / name, error=UsageError)
    return [] if resume else existing


def _read_loss_now(device: torch.device, state: TrainState, config: TrainConfig) -> bool:
    """Whether to read this step's loss back to the host (a synchronisation): every step on the CPU, where it
    costs nothing; on other devices every ``LOSS_READ_INTERVAL`` steps and at each epoch's last step, so the
    device never waits for the host in between. A diverged loss is caught at the next read."""
    return (
        device.type == "cpu"
        or (state.global_step + 1) % LOSS_READ_INTERVAL == 0
        or state.step_in_epoch + 1 == config.steps_per_epoch
    )


def _to_device(tensor: torch.Tensor, device: torch.device, layout: torch.memory_format) -> torch.Tensor:
    """A batch tensor on the training device; images (4-D) in the layout convolutions run fastest in there."""
    if device.type == "cuda" and tensor.device.type == "cpu":
        tensor = tensor.pin_memory()  # a pinned host tensor copies without blocking
    tensor = tensor.to(device, non_blocking=True)
    return tensor.contiguous(memory_format=layout) if tensor.dim() == 4 and tensor.is_floating_point() else tensor


def run_files_read(config: TrainConfig, *, resume: bool) -> ReadSet:
    """The files a run reads, which it must never replace: its data and, unless it resumes, its ``--init``
    checkpoint. Its own ``last.pt``, which a resumed run reads and then carries on, is not one of them."""
    return files_read(
        checkpoints=[] if resume else [("--init", config.init)],
        data=[("--data", config.data), ("--noisy-data", config.noisy_data)],
    )


@contextmanager
def run_folder(
    config: TrainConfig, *, resume: bool, lock: bool = True, on_note: Callable[[str], None] | None = None
) -> Iterator[None]:
    """For the block: hold ``config.out``'s lock (if ``lock``: rank 0 of a torchrun job) and protect every file the
    run reads from its writes (``run_files_read``)."""
    with ExitStack() as stack:
        if lock:
            stack.enter_context(run_lock(config.out, on_note=on_note))
        stack.enter_context(protecting(run_files_read(config, resume=resume)))
        yield


# --- one step, one epoch end ------------------------------------------------------------------------------


@dataclass
class Run:
    """The parts of a run, built once: its task, where it runs, its data, the model (and ``network``, what
    forward is called on: DDP, compiled), the optimiser, schedule, objective and the sampling generator."""

    task: Task
    context: distributed.Context
    device: torch.device
    data: TrainingData
    model: nn.Module
    network: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    objective: Objective
    autocast: torch.autocast
    generator: torch.Generator

    @property
    def config(self) -> TrainConfig:
        return self.task.config

    @property
    def out(self) -> Path:
        return Path(self.task.config.out)


def build_run(task: Task, context: distributed.Context, device: torch.device, *, resume: bool = False) -> Run:
    """Every part of a run, in the order that makes a seeded run reproducible (data, then model, then the rest)."""
    config = task.config
    data = task.build_data(device)
    model = build_model(task, device, resume=resume)
    network = build_network(model, config, context, device)
    optimizer, scheduler = build_optimizer(config, model)
    generator = new_generator(device, sampler_seed(config, context.rank))
    autocast = autocast_for(device, config.amp)
    return Run(task, context, device, data, model, network, optimizer, scheduler, task.objective(), autocast, generator)


def next_batch(run: Run) -> tuple[torch.Tensor, ...]:
    """The objective's tensors for the next step (crops, flips, noise from the run's generator), on the device."""
    batch = run.data.sampler.batch(run.config.batch_size, run.generator)
    layout = preferred_layout(run.device)
    return tuple(_to_device(tensor, run.device, layout) for tensor in run.objective.prepare(batch, run.generator))


def train_step(run: Run, tensors: tuple[torch.Tensor, ...], progress: float) -> torch.Tensor:
    """One optimiser step on a batch (``next_batch``) at ``progress`` (0-1) through the run: forward and loss in
    autocast, backward, gradient clipping (``grad_clip`` > 0), Adam, the schedule. Returns the loss, detached
    and still on the device (reading it is a synchronisation)."""
    with run.autocast:
        loss = run.objective.loss(run.network, *tensors, progress=progress)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if run.config.grad_clip > 0:
        nn.utils.clip_grad_norm_(run.model.parameters(), run.config.grad_clip)
    run.optimizer.step()
    if run.scheduler is not None:
        run.scheduler.step()
    return loss.detach()


def read_loss(run: Run, loss: torch.Tensor, step: int) -> float:
    """The loss of step ``step`` (1-based) averaged over ranks; a non-finite one stops the run."""
    value = distributed.mean_across_ranks(float(loss), run.context, run.device)
    if not math.isfinite(value):
        kept = f"{run.out / LAST} holds the last good epoch" if (run.out / LAST).exists() else "no epoch ended"
        raise CaeDenoiseError(f"training diverged: loss is {value} at step {step}; {kept}; try a lower --lr")
    return value


def end_epoch(run: Run, state: TrainState, loss_sum: torch.Tensor, started: float) -> dict[str, float] | None:
    """Close the epoch that ``state`` has just stepped through: on every rank (so all agree where a resumed run
    starts) average its loss and advance the counters; on rank 0 validate, append the history row, and save
    ``last.pt`` (and ``best.pt`` if validation improved). Returns the row on rank 0, else None."""
    config, main = run.config, run.context.is_main
    sampler_states = distributed.gather(run.generator.get_state(), run.context)
    epoch_loss = distributed.mean_across_ranks(float(loss_sum), run.context, run.device) / config.steps_per_epoch
    loss_sum.zero_()
    state.epoch, state.step_in_epoch, state.epoch_loss_sum = state.epoch + 1, 0, 0.0
    record = None
    if main:
        scores = run.task.validation_scores(run.model, run.data, run.device)
        state.seconds = time.perf_counter() - started
        record = {
            "epoch": state.epoch,
            "step": state.global_step,
            "total_steps": config.total_steps,  # changes where --resume --epochs extended the run
            "lr": run.optimizer.param_groups[0]["lr"],  # the rate the next step would take
            "train_loss": epoch_loss,
            **{f"val_{name}": value for name, value in scores.items()},
            "seconds": state.seconds,
        }
        state.history.append(record)
        improved = run.task.selection_score(scores) > state.best_score
        state.best_score = max(state.best_score, run.task.selection_score(scores))
        payload = checkpoint_payload(run, state, sampler_states)
        save_checkpoint(run.out / LAST, payload, overwrite=True)
        if improved:
            save_checkpoint(run.out / BEST, payload, overwrite=True)
    distributed.barrier(run.context)
    return record


def checkpoint_payload(run: Run, state: TrainState, sampler_states: list[torch.Tensor]) -> dict[str, Any]:
    """``last.pt`` / ``best.pt`` at ``state`` (``checkpoint.training_payload``)."""
    train_state = dataclasses.asdict(state)
    return training_payload(
        config=run.config.to_dict(),
        arch_args=run.task.architecture.args,
        split=run.data.split.to_dict(),
        noise=run.task.noise_record(),
        training=run.task.description(run.data),
        train_state={k: v for k, v in train_state.items() if k != "history"},
        history=train_state["history"],
        versions=environment(run.device),
        model=run.model,
        optimizer=run.optimizer,
        scheduler=run.scheduler,
        sampler_states=sampler_states,
    )


def save_interrupted(run: Run, state: TrainState, loss_sum: torch.Tensor, started: float) -> Path:
    """``last.pt`` mid-epoch, at a Ctrl-C or SIGTERM (rank 0 alone: only its sampling stream is at hand)."""
    state.seconds = time.perf_counter() - started
    state.epoch_loss_sum = float(loss_sum)
    return save_checkpoint(run.out / LAST, checkpoint_payload(run, state, [run.generator.get_state()]), overwrite=True)


def finish(run: Run, state: TrainState) -> None:
    """After the last epoch: ``train_report.json`` and ``training_curves.png`` (rank 0), every rank's weights
    checksum in the report."""
    checksums = distributed.gather(weights_sha256(run.model), run.context)
    if run.context.is_main:
        write_report(run.out / REPORT, "train", _report_body(run, state, checksums), overwrite=True)
        title = shorten(f"{run.config.arch} on {run.task.describe()}", 100)  # about what fits the picture
        best = best_epoch(state.history, run.task.selection_score)
        curves = training_curves(state.history, title, panel=run.task.validation_panel, best=best)
        save_png(curves, run.out / CURVES, overwrite=True)


# --- the loop ---------------------------------------------------------------------------------------------


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    on_start: Callable[[TrainStart], None] | None = None,
    on_step: Callable[[StepInfo], None] | None = None,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train as ``config`` says, resuming from ``config.out/last.pt`` if ``resume``. A folder that already
    holds a run is refused unless ``resume`` or ``overwrite`` (see ``existing_run_files``), and so is a folder
    another run is using (``run_folder``); ``on_note`` hears of a stale lock replaced.

    Ctrl-C (and SIGTERM) let the step in flight finish, save ``last.pt`` (resumable) if this call took a step,
    and raise ``interrupts.Interrupted`` (a ``KeyboardInterrupt``) whose ``saved`` names it (None when nothing was
    saved). Under torchrun every rank trains; only rank 0 validates, writes files and calls the callbacks.
    """
    task, context, out = task_for(config), distributed.context_from_env(), Path(config.out)
    main = context.is_main
    with run_folder(config, resume=resume, lock=main, on_note=on_note):
        replaced = existing_run_files(out, resume=resume, overwrite=overwrite)
        run = build_run(task, context, distributed.setup(context, resolve_device(config.device)), resume=resume)
        state = restore(out / LAST, run) if resume else TrainState()
        if main and on_start:
            steps = (config.total_steps, state.global_step)
            on_start(TrainStart(run.data, run.device, context.world_size, *steps, task.kind))
        if main:  # everything is built: only now may an old run's files go (so none outlives the new run)
            ensure_folder(out, f"--out {out}")
            for name in replaced:
                remove_file(out / name)
        started, steps_at_start = time.perf_counter() - state.seconds, state.global_step
        saved, steps_saved = None, state.global_step  # last.pt as this call last wrote it, and at which step
        loss_sum = torch.tensor(state.epoch_loss_sum, dtype=torch.float64, device=run.device)  # read once an epoch
        value = math.nan  # the loss last read back from the device
        run.model.train()
        try:
            with deferred_interrupts() as interrupted:
                while state.epoch < config.epochs:
                    while state.step_in_epoch < config.steps_per_epoch:
                        if (received := interrupted()) is not None:
                            raise Interrupted(received)
                        tick = time.perf_counter()
                        loss = train_step(run, next_batch(run), progress=state.global_step / config.total_steps)
                        if _read_loss_now(run.device, state, config):
                            value = read_loss(run, loss, state.global_step + 1)
                        state.step_in_epoch += 1
                        state.global_step += 1
                        loss_sum += loss.double()
                        if main and on_step:
                            rate = config.batch_size * context.world_size / max(time.perf_counter() - tick, 1e-9)
                            epoch, step = state.epoch, state.step_in_epoch
                            on_step(StepInfo(epoch, step, state.global_step, config.total_steps, value, rate))
                    record = end_epoch(run, state, loss_sum, started)
                    if main:
                        saved, steps_saved = out / LAST, state.global_step
                        if on_epoch_end:
                            on_epoch_end(record)
            finish(run, state)
        except KeyboardInterrupt as error:
            if main and state.global_step > steps_saved:  # steps taken since last.pt was last written: keep them
                saved = save_interrupted(run, state, loss_sum, started)
            raise as_interrupted(error, saved) from None
    distributed.teardown(context)
    files = (out, out / BEST, out / LAST, out / REPORT)
    return TrainResult(
        *files, state.history, state.seconds, run.data, run.device, main, state.global_step - steps_at_start
    )


def _report_body(run: Run, state: TrainState, checksums: list[str]) -> dict[str, Any]:
    """``train_report.json``: config, data, history and the environment of a finished run."""
    config, task, data, context = run.config, run.task, run.data, run.context
    return {
        "config": config.to_dict(),
        "arch": config.arch,
        "arch_args": task.architecture.args,
        "parameters": count_parameters(run.model),
        "split": data.split.to_dict(),
        "training": task.description(data),
        "skipped_files": [{"name": n, "reason": r} for n, r in data.skipped],
        "skipped_too_small": data.sampler.skipped_small,
        "noise": task.noise_record(),
        "validation": {
            "noise": noise_record(task.val_noise),
            "seed": config.val_seed,
            "images": list(data.split.val),
        },
        "learning_rate": schedule_record(config, state.history),
        "history": state.history,
        "best_epoch": best_epoch(state.history, task.selection_score),
        "best_score": state.best_score,
        "environment": environment(run.device),
        "distributed": {
            "world_size": context.world_size,
            "global_batch_size": config.batch_size * context.world_size,
            "weights_sha256_per_rank": checksums,
            "ranks_identical": len(set(checksums)) == 1,
        },
        "wall_time_s": state.seconds,
    }


def best_epoch(history: list[dict[str, float]], selection_score: Callable[[dict[str, float]], float]) -> int | None:
    """The epoch ``best.pt`` holds: the first with the highest finite ``selection_score`` of its validation
    scores (``Task.selection_score``); None when no epoch has one."""
    scored = [(selection_score(_scores_of(row)), -index) for index, row in enumerate(history)]
    finite = [pair for pair in scored if math.isfinite(pair[0])]
    return int(history[-max(finite)[1]]["epoch"]) if finite else None


def _scores_of(record: dict[str, float]) -> dict[str, float]:
    """The validation scores of a history row, without their ``val_`` prefix."""
    return {key.removeprefix("val_"): value for key, value in record.items() if key.startswith("val_")}
