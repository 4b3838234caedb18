"""Progress for people: rich progress bars and the callbacks that drive them from the library's events.

The library reports through callbacks (``on_start``, ``on_step``, ``on_epoch_end``, ``on_file``, ...); the
classes here turn those into bars and lines on the CLI's console (stderr). Names are printed literally.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from ..config import SELF_SUPERVISED
from ..errors import shorten
from ..evaluation.metrics import METRICS


def printable(text: str) -> str:
    """``text`` safe for one terminal line: control characters (newlines, escape sequences that could recolour
    or rewrite the terminal) are shown escaped, as Python writes them (``\\n``, ``\\x1b``)."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 image``, ``2 images`` (``plural`` when adding an s will not do: ``1 entry``, ``3 entries``)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def fit_to_output(console: Console) -> None:
    """When ``console`` writes to a file or a pipe rather than a terminal, never wrap a line: a log or a script
    reads whole lines (a terminal keeps its own width)."""
    if not console.is_terminal:
        console.width, console.soft_wrap = NOT_A_TERMINAL_WIDTH, True


#: The width rich lays tables out in when not writing to a terminal: wider than any table, so none is wrapped.
NOT_A_TERMINAL_WIDTH = 10_000


class _LazyProgress(Progress):
    """A ``Progress`` that appears with its first bar, not when its block starts: an error found before any work
    (a bad option, a missing file) is shown alone, with no empty bar before it."""

    def __enter__(self) -> _LazyProgress:
        return self

    def add_task(self, *args: Any, **kwargs: Any) -> Any:
        if not self.live.is_started:
            self.start()
        return super().add_task(*args, **kwargs)


def new_progress(console: Console) -> Progress:
    """A bar with a count, a free-text ``info`` field, elapsed and remaining time, shown from its first task."""
    return _LazyProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}", markup=False),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


@contextmanager
def image_progress(console: Console, label: str) -> Iterator[Callable[[str, str], None]]:
    """A bar over (image, method) evaluations, shown from the first one; yields the ``on_image`` callback that
    advances it."""
    with new_progress(console) as progress:
        tasks: list[Any] = []

        def on_image(image: str, method: str) -> None:
            if not tasks:
                tasks.append(progress.add_task(label, total=None, info=""))
            progress.update(tasks[0], advance=1, info=printable(f"{method} on {image}"))

        yield on_image


class TrainingProgress:
    """One training run: a line describing the data, a bar over steps, a line per epoch."""

    def __init__(self, progress: Progress, description: str, total_steps: int) -> None:
        self.progress, self.description, self.total_steps = progress, shorten(description, 160), total_steps

    def on_start(self, start: Any) -> None:
        """The bar appears once the run has its data and model (an error before shows alone)."""
        data, split, self.kind = start.data, start.data.split, start.kind
        skipped = (
            f", {counted(data.skipped_files, 'file')} skipped (see train_report.json)" if data.skipped_files else ""
        )
        processes = f", {start.world_size} processes (DDP)" if start.world_size > 1 else ""
        self.task = self.progress.add_task("train", total=self.total_steps, completed=start.global_step, info="")
        self.progress.console.print(
            Text(
                printable(
                    f"training {self.description}: images {len(split.train)} train / {len(split.val)} val / "
                    f"{len(split.test)} test{skipped}, device {start.device}{processes}"
                )
            )
        )

    def on_step(self, info: Any) -> None:
        rate = f"{info.samples_per_second:6.0f} samples/s"
        self.progress.update(self.task, completed=info.global_step, info=f"loss {info.loss:.5f}  {rate}")

    def on_epoch_end(self, record: dict[str, float]) -> None:
        if self.kind != SELF_SUPERVISED:
            psnr, ssim = METRICS["psnr"].format(record["val_psnr"]), METRICS["ssim"].format(record["val_ssim"])
            scores = f"val PSNR {psnr} dB  SSIM {ssim}"
        else:  # noisy photos alone: the self-supervised loss and the no-reference checks
            scores = (
                f"val N2N loss {record['val_loss']:.6f}  removed sigma {record['val_residual_sigma']:.1f} "
                f"of {record['val_input_sigma']:.1f}  removed-edge correlation {record['val_residual_structure']:.3f}"
            )
        self.progress.console.print(f"epoch {record['epoch']:>3}  loss {record['train_loss']:.5f}  {scores}")


class ExperimentProgress:
    """All runs of an experiment on one bar, and a line as each run ends."""

    def __init__(self, progress: Progress, runs: int, steps_per_run: int) -> None:
        self.progress, self.steps_per_run, self.finished = progress, steps_per_run, 0
        self.task = progress.add_task("experiment", total=runs * steps_per_run, info="")

    def on_step(self, info: Any) -> None:
        self.progress.update(self.task, completed=self.finished + info.global_step, info=f"loss {info.loss:.5f}")

    def on_run(self, arch: str, seed: int, skipped: bool) -> None:
        self.finished += self.steps_per_run
        self.progress.update(self.task, completed=self.finished, info="")
        self.progress.console.print(
            f"{arch} seed {seed}: {'already done, skipped' if skipped else 'trained and evaluated'}"
        )


class DenoiseProgress:
    """A bar over files and one over the current file's tiles; a line per file written or refused."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def on_start(self, count: int) -> None:
        """The bars appear once the files are found and their outputs planned (an error before shows alone)."""
        self.files = self.progress.add_task("files", total=count, info="")
        self.tiles = self.progress.add_task("tiles", total=None, info="")

    def on_tiles(self, done: int, total: int) -> None:
        self.progress.update(self.tiles, completed=done, total=total)

    def on_file(self, result: Any) -> None:
        self.progress.update(self.files, advance=1, info=printable(result.source.name))
        if result.error:
            self.progress.console.print(Text.assemble(("error: ", "bold red"), printable(result.error)), soft_wrap=True)
            return
        if result.skipped:
            self.progress.console.print(
                Text(printable(f"kept {result.output}  (exists: --skip-existing)")), soft_wrap=True
            )
            return
        told = "" if result.model_level is None else f", model told {result.model_level:.1f}"
        self.progress.console.print(
            Text(
                printable(
                    f"wrote {result.output}  (estimated input noise sigma {result.estimated_sigma:.1f}/255{told}, "
                    f"{result.megapixels:.1f} MP in {result.seconds:.1f} s)"
                )
            ),
            soft_wrap=True,
        )
        for note in result.notes:
            self.progress.console.print(Text.assemble(("note: ", "yellow"), printable(f"{result.source}: {note}")))
        if result.side_by_side_error:
            line = Text.assemble(("error: ", "bold red"), printable(result.side_by_side_error))
            self.progress.console.print(line, soft_wrap=True)
