"""Training: the loop that turns a ``TrainConfig`` (see ``config.py``) into checkpoints.

The loop never prints; it reports through ``on_step`` / ``on_epoch_end`` callbacks (the CLI draws a
progress bar from them). ``last.pt`` is written after every epoch and on Ctrl-C, ``best.pt`` whenever
validation PSNR improves over the whole run (resumes included).
"""

from __future__ import annotations

import dataclasses
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import distributed
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig, resolve_device
from .data import NamedImage, SampleSource, load_source, make_split, resize_square
from .errors import CaeDenoiseError
from .inference import denoise_array, preferred_layout
from .metrics import image_metrics, mean_metrics
from .models import count_parameters, create_model
from .noise import GaussianNoise
from .pictures import save_png, training_curves
from .reports import environment, write_report
from .synthetic import dead_leaves_set

LAST, BEST, REPORT = "last.pt", "best.pt", "train_report.json"
#: Rank r of a torchrun job samples with seed + r * RANK_SEED_STRIDE, so ranks draw different patches.
RANK_SEED_STRIDE = 7919
CURVES = "training_curves.png"
DEAD_LEAVES_SIZE = 256


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
    best_val_psnr: float = -math.inf
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class TrainResult:
    """Where the run wrote its files, and its per-epoch history."""

    out: Path
    best: Path
    last: Path
    report: Path
    history: list[dict[str, float]]
    seconds: float


def validation_scores(
    model: nn.Module, images: list[NamedImage], noise: GaussianNoise, seed: int, device: torch.device
) -> dict[str, float]:
    """Mean SSIM/MSE/PSNR of ``model`` on seeded noisy copies of ``images``."""
    model.eval()
    rows = []
    for index, image in enumerate(images):
        noisy = noise.add_seeded(image.pixels, seed, index)
        rows.append(image_metrics(image.pixels, denoise_array(model, noisy, device=device)))
    model.train()
    return mean_metrics(rows)


def _autocast(device: torch.device, enabled: bool) -> torch.autocast:
    """bfloat16 autocast for ``--amp`` (no loss scaling needed); an error where bf16 is unsupported."""
    if enabled and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise CaeDenoiseError("--amp uses bfloat16, which this GPU does not support; train without --amp")
    if enabled and device.type not in ("cuda", "cpu"):
        raise CaeDenoiseError(f"--amp is supported on CUDA and CPU, not {device.type}")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


@contextmanager
def interrupt_between_steps() -> Iterator[Callable[[], bool]]:
    """Defer Ctrl-C (SIGINT) to the next step boundary, so a saved state is never half a step.

    Yields a function telling whether Ctrl-C was pressed; a second Ctrl-C interrupts at once. Outside the
    main thread (where signal handlers cannot be installed) it changes nothing.
    """
    pressed: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return

    def handler(signum: int, frame: object) -> None:
        if pressed:
            raise KeyboardInterrupt
        pressed.append(True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(pressed)
    finally:
        signal.signal(signal.SIGINT, previous)


class Trainer:
    """Holds one run's data, model, optimiser and RNG; ``run()`` trains to the configured length."""

    def __init__(self, config: TrainConfig, resume: bool = False) -> None:
        config.validate()
        self.config = config
        self.out = Path(config.out)
        self.context = distributed.context_from_env()
        self.device = distributed.setup(self.context, resolve_device(config.device))
        self.noise = config.noise()
        self.source = load_source(config.data)
        self.split = make_split(self.source)
        train_images = self.source.by_names(self.split.train)
        if config.dead_leaves:
            train_images += dead_leaves_set(config.dead_leaves, DEAD_LEAVES_SIZE, config.seed)
        self.samples = SampleSource(train_images, patch=None if config.resize else config.patch, resize=config.resize)
        self.val_images = self._prepare(self.source.by_names(self.split.val))
        self.generator = torch.Generator().manual_seed(self._sampler_seed())
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.model = create_model(config.arch, **config.arch_args())
        self.layout = preferred_layout(self.device)
        self.model.to(self.device, memory_format=self.layout)
        self.network = distributed.wrap(self.model, self.context, self.device)
        if config.compile:
            self.network = torch.compile(self.network)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed patch shapes: let cuDNN pick its fastest kernels
        self.autocast = _autocast(self.device, config.amp)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.scheduler = (
            torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=self.total_steps)
            if config.schedule == "cosine"
            else None
        )
        self.state = TrainState()
        if resume:
            self._restore(self.out / LAST)

    def _sampler_seed(self, offset: int = 0) -> int:
        """Seed of this rank's sampling/noise stream (rank 0 of one process: exactly ``config.seed``)."""
        return self.config.seed + RANK_SEED_STRIDE * self.context.rank + offset

    def _prepare(self, images: list[NamedImage]) -> list[NamedImage]:
        if self.config.resize is None:
            return images
        return [NamedImage(image.name, resize_square(image.pixels, self.config.resize)) for image in images]

    def _restore(self, path: Path) -> None:
        payload = load_checkpoint(path)
        saved = TrainConfig.from_dict(payload["config"])
        if saved != self.config:
            changed = [k for k, v in saved.to_dict().items() if self.config.to_dict()[k] != v]
            raise CaeDenoiseError(f"{path}: cannot resume with different settings ({', '.join(changed)})")
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(payload["scheduler"])
        states = payload["rng"]["sampler"]
        if self.context.rank < len(states):
            self.generator.set_state(states[self.context.rank])
        else:  # saved at an interruption, when only rank 0's stream was at hand: a fresh, seeded stream
            self.generator.manual_seed(self._sampler_seed(offset=int(payload["train_state"]["global_step"])))
        state = payload["train_state"]
        self.state = TrainState(**state, history=list(payload["history"]))

    def _payload(self, sampler_states: list[torch.Tensor]) -> dict[str, Any]:
        state = dataclasses.asdict(self.state)
        history = state.pop("history")
        return {
            "arch": self.config.arch,
            "arch_args": self.config.arch_args(),
            "config": self.config.to_dict(),
            "split": self.split.to_dict(),
            "noise": self.noise.to_dict(),
            "history": history,
            "train_state": state,
            "versions": environment(self.device),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "rng": {"sampler": sampler_states},
        }

    @property
    def total_steps(self) -> int:
        return self.config.epochs * self.config.steps_per_epoch

    def run(
        self,
        on_step: Callable[[StepInfo], None] | None = None,
        on_epoch_end: Callable[[dict[str, float]], None] | None = None,
    ) -> TrainResult:
        """Train until ``epochs`` are done; Ctrl-C saves ``last.pt`` (resumable) and re-raises.

        Under torchrun every rank trains; only rank 0 validates, writes files and calls the callbacks.
        """
        main = self.context.is_main
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter() - self.state.seconds
        self.model.train()
        try:
            with interrupt_between_steps() as interrupted:
                self._train_epochs(started, interrupted, on_step, on_epoch_end)
        except KeyboardInterrupt:
            if main:
                self.state.seconds = time.perf_counter() - started
                save_checkpoint(self.out / LAST, self._payload([self.generator.get_state()]))
            raise
        checksums = distributed.gather(distributed.weights_checksum(self.model), self.context)
        report = self.out / REPORT
        if main:
            write_report(report, "train", self._report_body(checksums))
            title = f"{self.config.arch} on {self.config.data}, sigma {self.config.sigma}"
            save_png(training_curves(self.state.history, title), self.out / CURVES)
        distributed.teardown(self.context)
        return TrainResult(self.out, self.out / BEST, self.out / LAST, report, self.state.history, self.state.seconds)

    def _train_epochs(
        self,
        started: float,
        interrupted: Callable[[], bool],
        on_step: Callable[[StepInfo], None] | None,
        on_epoch_end: Callable[[dict[str, float]], None] | None,
    ) -> None:
        """The loop proper: steps, then validation and checkpoints at each epoch end."""
        main = self.context.is_main
        while self.state.epoch < self.config.epochs:
            while self.state.step_in_epoch < self.config.steps_per_epoch:
                if interrupted():
                    raise KeyboardInterrupt
                tick = time.perf_counter()
                loss = self._step()
                if on_step and main:
                    rate = self.config.batch_size * self.context.world_size / max(time.perf_counter() - tick, 1e-9)
                    state = self.state
                    on_step(StepInfo(state.epoch, state.step_in_epoch, state.global_step, self.total_steps, loss, rate))
            sampler_states = distributed.gather(self.generator.get_state(), self.context)
            epoch_loss = self.state.epoch_loss_sum / self.config.steps_per_epoch
            self._next_epoch()
            record = self._end_epoch(started, sampler_states, epoch_loss) if main else None
            distributed.barrier(self.context)
            if record and on_epoch_end:
                on_epoch_end(record)

    def _end_epoch(self, started: float, sampler_states: list[torch.Tensor], epoch_loss: float) -> dict[str, float]:
        """Validate the epoch just finished, record it, write ``last.pt`` (and ``best.pt`` if PSNR improved)."""
        val_noise = GaussianNoise(self.config.val_sigma, self.config.val_sigma)
        scores = validation_scores(self.model, self.val_images, val_noise, self.config.val_seed, self.device)
        self.state.seconds = time.perf_counter() - started
        record = {
            "epoch": self.state.epoch,
            "step": self.state.global_step,
            "train_loss": epoch_loss,
            **{f"val_{name}": value for name, value in scores.items()},
            "seconds": self.state.seconds,
        }
        self.state.history.append(record)
        improved = scores["psnr"] > self.state.best_val_psnr
        if improved:
            self.state.best_val_psnr = scores["psnr"]
        payload = self._payload(sampler_states)
        save_checkpoint(self.out / LAST, payload)
        if improved:
            save_checkpoint(self.out / BEST, payload)
        return record

    def _step(self) -> float:
        clean = self.samples.batch(self.config.batch_size, self.generator)
        noisy = self.noise.add_to_batch(clean, self.generator)
        if self.device.type == "cuda":
            clean, noisy = clean.pin_memory(), noisy.pin_memory()
        clean, noisy = (
            batch.to(self.device, non_blocking=True).contiguous(memory_format=self.layout) for batch in (clean, noisy)
        )
        with self.autocast:
            loss = F.mse_loss(self.network(noisy).float(), clean)
        value = distributed.mean_across_ranks(float(loss.detach()), self.context, self.device)
        if not math.isfinite(value):
            kept = f"{self.out / LAST} holds the last good epoch" if (self.out / LAST).exists() else "no epoch finished"
            raise CaeDenoiseError(
                f"training diverged: loss is {value} at step {self.state.global_step + 1}; {kept}; try a lower --lr"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.state.step_in_epoch += 1
        self.state.global_step += 1
        self.state.epoch_loss_sum += value
        return value

    def _next_epoch(self) -> None:
        """Advance the epoch counters (on every rank, so all agree where a resumed run starts)."""
        self.state.epoch += 1
        self.state.step_in_epoch, self.state.epoch_loss_sum = 0, 0.0

    def _report_body(self, checksums: list[str]) -> dict[str, Any]:
        best_epoch = max(self.state.history, key=lambda row: row["val_psnr"])["epoch"]
        return {
            "config": self.config.to_dict(),
            "arch": self.config.arch,
            "arch_args": self.config.arch_args(),
            "parameters": count_parameters(self.model),
            "split": self.split.to_dict(),
            "skipped_files": [{"name": n, "reason": r} for n, r in self.source.skipped],
            "skipped_too_small": self.samples.skipped_small,
            "noise": self.noise.to_dict(),
            "validation": {
                "sigma": self.config.val_sigma,
                "seed": self.config.val_seed,
                "images": list(self.split.val),
            },
            "history": self.state.history,
            "best_epoch": best_epoch,
            "best_val_psnr": self.state.best_val_psnr,
            "environment": environment(self.device),
            "distributed": {
                "world_size": self.context.world_size,
                "global_batch_size": self.config.batch_size * self.context.world_size,
                "weights_sha256_per_rank": checksums,
                "ranks_identical": len(set(checksums)) == 1,
            },
            "wall_time_s": self.state.seconds,
        }


def load_config_from_run(folder: str | Path) -> TrainConfig:
    """The settings saved in ``folder/last.pt``, to resume that run exactly."""
    return TrainConfig.from_dict(load_checkpoint(Path(folder) / LAST)["config"])


def train(config: TrainConfig, *, resume: bool = False, **callbacks: Any) -> TrainResult:
    """Train a model as ``config`` says (resuming from ``config.out/last.pt`` if asked); see ``Trainer.run``."""
    return Trainer(config, resume=resume).run(**callbacks)
