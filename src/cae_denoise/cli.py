"""The ``cae-denoise`` command line: parse options, call the library, draw progress and tables with rich.

No logic of its own lives here; every command is a few lines over a library function.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .config import TrainConfig
from .errors import CaeDenoiseError

_DEFAULTS = TrainConfig()

console = Console(stderr=True, highlight=False)
app = typer.Typer(
    name="cae-denoise",
    help="Train, evaluate, compare and apply convolutional-autoencoder image denoisers.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(command: F) -> F:
    """Turn a ``CaeDenoiseError`` into one red line and exit code 1; Ctrl-C into exit code 130."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CaeDenoiseError as error:
            console.print(f"[bold red]error:[/] {error}", soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


@contextmanager
def _image_progress(total: int, label: str) -> Iterator[Callable[[str, str], None]]:
    """A progress bar over (image, method) evaluations; yields the callback to advance it."""
    with _progress() as progress:
        task = progress.add_task(label, total=total, info="")
        yield lambda image, method: progress.update(task, advance=1, info=f"{method} on {image}")


def _fmt(metric: str, value: float) -> str:
    return {"ssim": f"{value:.4f}", "mse": f"{value:.6f}", "psnr": f"{value:.2f}"}[metric]


def print_metrics_table(report: dict[str, Any], title: str) -> None:
    """Mean SSIM/MSE/PSNR per method, then paired differences against the reference if any."""
    from .metrics import METRIC_NAMES

    methods = report["methods"]
    table = Table(title=title, title_justify="left")
    table.add_column("method")
    for metric in METRIC_NAMES:
        table.add_column(metric.upper(), justify="right")
    for name, body in methods.items():
        table.add_row(name, *(_fmt(m, body["mean"][m]) for m in METRIC_NAMES))
    console.print(table)
    for label, diffs in report.get("differences", {}).items():
        diff_table = Table(title=f"{label} vs {report['reference']} (paired, same noise)", title_justify="left")
        for column in ("metric", report["reference"], label, "difference", "relative", "better on"):
            diff_table.add_column(column, justify="right")
        for metric, row in diffs.items():
            relative = "n/a" if row["relative_percent"] is None else f"{row['relative_percent']:+.1f}%"
            count = row["wins"] + row["ties"] + row["losses"]
            diff_table.add_row(
                metric.upper(),
                _fmt(metric, row["reference_mean"]),
                _fmt(metric, row["mean"]),
                f"{row['difference']:+.4g}",
                relative,
                f"{row['wins']}/{count} images",
            )
        console.print(diff_table)


# --------------------------------------------------------------------------------------------------- train

_TRAIN_HELP = """Train a denoiser and keep [bold]best.pt[/] (by validation PSNR) and [bold]last.pt[/] in --out.

Writes OUT/best.pt, OUT/last.pt, OUT/train_report.json and, after training, OUT/eval_test.json
(best.pt on the held-out test images).

[bold]Examples[/]

  cae-denoise train --arch leaky

  cae-denoise train --arch baseline --data ~/photos --out runs/mine --sigma 5-50

  cae-denoise train --resume runs/leaky
"""


@app.command(help=_TRAIN_HELP, no_args_is_help=False)
@friendly_errors
def train(
    arch: Annotated[
        str, typer.Option(help="Architecture name: baseline (ReLU CAE), leaky (LeakyReLU CAE).")
    ] = _DEFAULTS.arch,
    data: Annotated[
        str, typer.Option(help="'builtin', a folder of images, or a .zip/.tar[.gz] archive.")
    ] = _DEFAULTS.data,
    out: Annotated[Path | None, typer.Option(help="Output folder [default: runs/ARCH].")] = None,
    sigma: Annotated[
        str, typer.Option(help="Noise sigma on the 0-255 scale: 25, or a range 5-50 (blind).")
    ] = _DEFAULTS.sigma,
    patch: Annotated[
        int, typer.Option(help="Train on random PATCH x PATCH crops (with flips/rotations).")
    ] = _DEFAULTS.patch,
    resize: Annotated[
        int | None, typer.Option(help="Instead of crops, resize every image to RESIZE x RESIZE (the seed's way).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Samples per optimiser step.")] = _DEFAULTS.batch_size,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = _DEFAULTS.lr,
    epochs: Annotated[int, typer.Option(help="Epochs; validation and checkpoints after each.")] = _DEFAULTS.epochs,
    steps_per_epoch: Annotated[int, typer.Option(help="Optimiser steps per epoch.")] = _DEFAULTS.steps_per_epoch,
    seed: Annotated[int, typer.Option(help="Seed for weights, sampling and training noise.")] = _DEFAULTS.seed,
    device: Annotated[
        str, typer.Option(help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps.")
    ] = _DEFAULTS.device,
    channels: Annotated[
        int | None, typer.Option(help="Width of the first level, doubling at each level [default: per arch].")
    ] = None,
    depth: Annotated[int | None, typer.Option(help="Number of 2x downsampling levels [default: per arch].")] = None,
    negative_slope: Annotated[
        float, typer.Option(help="LeakyReLU slope (architectures that use it).")
    ] = _DEFAULTS.negative_slope,
    resume: Annotated[
        Path | None, typer.Option(help="Continue the run in this folder from its last.pt, with its saved settings.")
    ] = None,
) -> None:
    from .evaluate import evaluate_checkpoints
    from .reports import write_report
    from .train import TrainConfig, Trainer, load_config_from_run

    if resume is not None:
        config = load_config_from_run(resume)
    else:
        config = TrainConfig(
            arch=arch,
            data=data,
            out=str(out or Path("runs") / arch),
            sigma=sigma,
            patch=patch,
            resize=resize,
            batch_size=batch_size,
            lr=lr,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            seed=seed,
            device=device,
            channels=channels,
            depth=depth,
            negative_slope=negative_slope,
        )
    trainer = Trainer(config, resume=resume is not None)
    skipped = len(trainer.source.skipped)
    console.print(
        f"training [bold]{config.arch}[/] on {config.data}: {len(trainer.split.train)} train / "
        f"{len(trainer.split.val)} val / {len(trainer.split.test)} test images"
        + (f", {skipped} unreadable files skipped" if skipped else "")
        + f", sigma {config.sigma}, device {trainer.device}"
    )
    with _progress() as progress:
        task = progress.add_task("train", total=trainer.total_steps, completed=trainer.state.global_step, info="")

        def on_step(info: Any) -> None:
            progress.update(
                task, completed=info.global_step, info=f"loss {info.loss:.5f}  {info.samples_per_second:6.0f} samples/s"
            )

        def on_epoch_end(record: dict[str, float]) -> None:
            progress.console.print(
                f"epoch {record['epoch']:>3}  loss {record['train_loss']:.5f}  "
                f"val PSNR {record['val_psnr']:.2f} dB  SSIM {record['val_ssim']:.4f}"
            )

        try:
            result = trainer.run(on_step=on_step, on_epoch_end=on_epoch_end)
        except KeyboardInterrupt:
            progress.stop()
            console.print(
                f"[yellow]interrupted:[/] saved {config.out}/last.pt; continue with "
                f"[bold]cae-denoise train --resume {config.out}[/]"
            )
            raise typer.Exit(130) from None
    console.print(f"trained in {result.seconds:.0f} s; wrote {result.best}, {result.last}, {result.report}")
    with _image_progress(len(trainer.split.test) * 2, "test") as on_image:
        report = evaluate_checkpoints(
            [result.best], data=config.data, sigma=config.val_sigma, device=trainer.device, on_image=on_image
        )
    path = write_report(result.out / "eval_test.json", "evaluate", report)
    print_metrics_table(report, f"best.pt on the test images, sigma {config.val_sigma:g}")
    console.print(f"wrote {path}")


# ------------------------------------------------------------------------------------------------ evaluate

_EVALUATE_HELP = """Measure a checkpoint's SSIM / MSE / PSNR on seeded noisy copies of test images.

Writes a JSON report (default: next to the checkpoint, CKPT_eval_sigmaN.json).

[bold]Examples[/]

  cae-denoise evaluate runs/leaky/best.pt

  cae-denoise evaluate runs/leaky/best.pt --data ~/photos --split all --sigma 50
"""


@app.command(help=_EVALUATE_HELP)
@friendly_errors
def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="A .pt checkpoint written by 'cae-denoise train'.")],
    data: Annotated[str, typer.Option(help="'builtin', a folder, or a .zip/.tar[.gz] archive.")] = "builtin",
    split: Annotated[str, typer.Option(help="Which images of --data: test, val, train or all.")] = "test",
    sigma: Annotated[float, typer.Option(help="Noise sigma on the 0-255 scale.")] = 25.0,
    seed: Annotated[int, typer.Option(help="Noise seed: same seed, same noisy pixels for every model.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    report: Annotated[Path | None, typer.Option(help="Where to write the JSON report.")] = None,
) -> None:
    from .evaluate import evaluate_checkpoints
    from .reports import write_report
    from .train import resolve_device

    with _image_progress(0, "evaluate") as on_image:
        body = evaluate_checkpoints(
            [checkpoint],
            data=data,
            split=split,
            sigma=sigma,
            seed=seed,
            device=resolve_device(device),
            on_image=on_image,
        )
    _warn_leakage(body)
    print_metrics_table(body, f"{checkpoint} on {data} ({split}), sigma {sigma:g}, seed {seed}")
    path = write_report(report or checkpoint.with_name(f"{checkpoint.stem}_eval_sigma{sigma:g}.json"), "evaluate", body)
    console.print(f"wrote {path}")


def _warn_leakage(body: dict[str, Any]) -> None:
    for label, info in body["checkpoints"].items():
        if info["test_images_seen_in_training"]:
            console.print(
                f"[yellow]warning:[/] {label} was trained on {len(info['test_images_seen_in_training'])} "
                "of these images; its scores are optimistic"
            )


# ------------------------------------------------------------------------------------------------- compare

_COMPARE_HELP = """Compare checkpoints on the same test images and the same noise (paired).

The first checkpoint is the reference; every other one is reported as a difference from it
(absolute, relative, and on how many images it is better). Writes a JSON report (--report).

[bold]Examples[/]

  cae-denoise compare runs/baseline/best.pt runs/leaky/best.pt

  cae-denoise compare a.pt b.pt --sigma 50 --report compare50.json
"""


@app.command(help=_COMPARE_HELP)
@friendly_errors
def compare(
    checkpoints: Annotated[list[Path], typer.Argument(help="Two or more checkpoints; the first is the reference.")],
    data: Annotated[str, typer.Option(help="'builtin', a folder, or a .zip/.tar[.gz] archive.")] = "builtin",
    split: Annotated[str, typer.Option(help="Which images of --data: test, val, train or all.")] = "test",
    sigma: Annotated[float, typer.Option(help="Noise sigma on the 0-255 scale.")] = 25.0,
    seed: Annotated[int, typer.Option(help="Noise seed shared by all models.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    report: Annotated[Path, typer.Option(help="Where to write the JSON report.")] = Path("compare_report.json"),
) -> None:
    from .evaluate import evaluate_checkpoints
    from .reports import write_report
    from .train import resolve_device

    if len(checkpoints) < 2:
        raise CaeDenoiseError("compare needs at least two checkpoints")
    with _image_progress(0, "compare") as on_image:
        body = evaluate_checkpoints(
            list(checkpoints),
            data=data,
            split=split,
            sigma=sigma,
            seed=seed,
            device=resolve_device(device),
            on_image=on_image,
        )
    _warn_leakage(body)
    print_metrics_table(body, f"{data} ({split}), sigma {sigma:g}, seed {seed}")
    console.print(f"wrote {write_report(report, 'compare', body)}")


# ------------------------------------------------------------------------------------------------- denoise

_DENOISE_HELP = """Denoise photos as they are (no noise is added) and write NAME_denoised.png files.

Inputs may be files, folders or globs. Outputs go next to each input, or under -o DIR; an existing
file is never replaced without --overwrite, and an input is never overwritten. A file that fails is
reported and skipped; the exit code is 1 if any failed.

[bold]Examples[/]

  cae-denoise denoise photo.jpg --model runs/leaky/best.pt

  cae-denoise denoise shots/ 'more/*.png' --model best.pt -o clean/ --format tiff
"""


@app.command(help=_DENOISE_HELP)
@friendly_errors
def denoise(
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.")],
    model: Annotated[Path, typer.Option("--model", "-m", help="Checkpoint to denoise with.")],
    output_dir: Annotated[Path | None, typer.Option("--output-dir", "-o", help="Folder for the outputs.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Output format: png, jpeg or tiff.")] = "png",
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    tile: Annotated[int, typer.Option(help="Tile size in pixels for large images (bounds memory).")] = 512,
) -> None:
    from .batch import denoise_files, output_path
    from .checkpoint import load_model
    from .train import resolve_device

    output_path(Path("x"), None, fmt)  # validates --format before any work
    if tile < 64:
        raise CaeDenoiseError(f"--tile {tile}: must be at least 64 pixels")
    target = resolve_device(device)
    loaded = load_model(model, target)
    with _progress() as progress:
        task = progress.add_task("denoise", total=None, info="")

        def on_file(result: Any) -> None:
            progress.update(task, advance=1, info=str(result.source.name))
            if result.error:
                progress.console.print(f"[bold red]error:[/] {result.error}", soft_wrap=True)

        results = denoise_files(
            loaded,
            inputs,
            out_dir=output_dir,
            fmt=fmt,
            overwrite=overwrite,
            device=target,
            tile=tile,
            on_file=on_file,
        )
    done = [r for r in results if r.error is None]
    megapixels = sum(r.megapixels for r in done)
    seconds = sum(r.seconds for r in done)
    for result in done:
        console.print(f"wrote {result.output}")
    console.print(
        f"{len(done)}/{len(results)} files, {megapixels:.1f} MP in {seconds:.1f} s"
        + (f" ({megapixels / seconds:.2f} MP/s)" if seconds > 0 else "")
    )
    if len(done) < len(results):
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point."""
    app()
