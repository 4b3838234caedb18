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
from rich.markup import escape
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
            console.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
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
        task = progress.add_task(label, total=total or None, info="")
        yield lambda image, method: progress.update(task, advance=1, info=f"{method} on {image}")


def _fmt(metric: str, value: float) -> str:
    return {"ssim": f"{value:.4f}", "mse": f"{value:.6f}", "psnr": f"{value:.2f}"}[metric]


def print_metrics_table(report: dict[str, Any], title: str) -> None:
    """Per noise level: mean SSIM/MSE/PSNR per method, the change from the reference, and verdict lines."""
    from .metrics import METRIC_NAMES
    from .stats import MIN_IMAGES_FOR_CLAIM

    for level in report["levels"]:
        sigma, reference = level["noise"]["sigma_255"], level["reference"]
        table = Table(title=f"{title}, sigma {sigma:g}", title_justify="left")
        table.add_column("method")
        for metric in METRIC_NAMES:
            table.add_column(metric.upper(), justify="right")
        if level["differences"]:
            table.add_column(f"vs {reference}")
        for name, body in level["methods"].items():
            cells = [_fmt(m, body["mean"][m]) for m in METRIC_NAMES]
            if level["differences"]:
                cells.append(_relative_changes(level["differences"].get(name)))
            table.add_row(name, *cells)
        console.print(table)
        for diffs in level["differences"].values():
            for row in diffs.values():
                p_value = "" if row["wilcoxon_p"] is None else f" (Wilcoxon p={row['wilcoxon_p']:.3g})"
                console.print(f"  {row['verdict']}{p_value}", soft_wrap=True, markup=False)
        if level["differences"] and len(level["images"]) < MIN_IMAGES_FOR_CLAIM:
            console.print(
                f"  [dim]note: with {len(level['images'])} images no paired test can reach p < 0.05; "
                "evaluate on more images (--data, --split all) for firmer conclusions[/]"
            )


def _relative_changes(diffs: dict[str, Any] | None) -> str:
    """``SSIM +1.4%  MSE -23.6%  PSNR +1.15 dB`` (PSNR as an absolute difference, the usual unit)."""
    if diffs is None:
        return ""
    parts = []
    for metric, row in diffs.items():
        if metric == "psnr":
            parts.append(f"PSNR {row['difference']:+.2f} dB")
        elif row["relative_percent"] is not None:
            parts.append(f"{metric.upper()} {row['relative_percent']:+.1f}%")
    return "  ".join(parts)


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
        str,
        typer.Option(help="Architecture: baseline (ReLU CAE), leaky (its LeakyReLU twin), unet (residual U-Net)."),
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
    schedule: Annotated[str, typer.Option(help="Learning rate: constant, or cosine decay to 0.")] = _DEFAULTS.schedule,
    grad_clip: Annotated[
        float, typer.Option(help="Clip the gradient norm to this value; 0 = off.")
    ] = _DEFAULTS.grad_clip,
    amp: Annotated[bool, typer.Option(help="Mixed precision (bfloat16 autocast) on GPUs with bf16, or CPU.")] = False,
    compile_model: Annotated[
        bool, typer.Option("--compile", help="torch.compile the model (faster steps after a compile pause).")
    ] = False,
    dead_leaves: Annotated[
        int, typer.Option(help="Add N procedural dead-leaves images (256x256) to the training images.")
    ] = _DEFAULTS.dead_leaves,
    resume: Annotated[
        Path | None, typer.Option(help="Continue the run in this folder from its last.pt, with its saved settings.")
    ] = None,
) -> None:
    from .evaluate import evaluate_specs
    from .reports import write_report
    from .train import Trainer, load_config_from_run

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
            schedule=schedule,
            grad_clip=grad_clip,
            dead_leaves=dead_leaves,
            amp=amp,
            compile=compile_model,
        )
    trainer = Trainer(config, resume=resume is not None)
    if not trainer.context.is_main:  # other torchrun ranks train silently; rank 0 reports and evaluates
        trainer.run()
        return
    skipped = len(trainer.source.skipped) + trainer.samples.skipped_small
    console.print(
        f"training [bold]{config.arch}[/] on {escape(config.data)}: {len(trainer.split.train)} train / "
        f"{len(trainer.split.val)} val / {len(trainer.split.test)} test images"
        + (f", {skipped} files skipped (unreadable, or smaller than --patch; see train_report.json)" if skipped else "")
        + f", sigma {config.sigma}, device {trainer.device}"
        + (f", {trainer.context.world_size} processes (DDP)" if trainer.context.enabled else "")
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
                f"[yellow]interrupted:[/] saved {escape(config.out)}/last.pt; continue with "
                f"[bold]cae-denoise train --resume {escape(config.out)}[/]"
            )
            raise typer.Exit(130) from None
    console.print(
        f"trained in {result.seconds:.0f} s; wrote {result.best}, {result.last}, {result.report}", markup=False
    )
    with _image_progress(len(trainer.split.test) * 2, "test") as on_image:
        report = evaluate_specs(
            [str(result.best)], data=config.data, sigmas=[config.val_sigma], device=trainer.device, on_image=on_image
        )
    path = write_report(result.out / "eval_test.json", "evaluate", report)
    print_metrics_table(report, "best.pt on the test images")
    console.print(f"wrote {path}", markup=False)


# ------------------------------------------------------------------------------------------------ evaluate

_EVALUATE_HELP = """Measure a checkpoint's SSIM / MSE / PSNR on seeded noisy copies of test images.

CKPT is a checkpoint file, or 'default' for the shipped model. The noisy input is scored too, as the
floor. Writes a JSON report (default: next to the checkpoint, STEM_eval.json).

[bold]Examples[/]

  cae-denoise evaluate runs/leaky/best.pt

  cae-denoise evaluate default --sigma 15,25,50

  cae-denoise evaluate runs/leaky/best.pt --data ~/photos --split all
"""

_SIGMA_HELP = "Noise sigma(s) on the 0-255 scale: 25, or a list 15,25,50 (one table per level)."


@app.command(help=_EVALUATE_HELP)
@friendly_errors
def evaluate(
    checkpoint: Annotated[str, typer.Argument(help="A checkpoint from 'cae-denoise train', or 'default'.")],
    data: Annotated[str, typer.Option(help="'builtin', a folder, or a .zip/.tar[.gz] archive.")] = "builtin",
    split: Annotated[str, typer.Option(help="Which images of --data: test, val, train or all.")] = "test",
    sigma: Annotated[str, typer.Option(help=_SIGMA_HELP)] = "25",
    seed: Annotated[int, typer.Option(help="Noise seed: same seed, same noisy pixels for every model.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    report: Annotated[Path | None, typer.Option(help="Where to write the JSON report.")] = None,
) -> None:
    from .noise import parse_sigma_list

    default_report = Path(f"{checkpoint.removesuffix('.pt')}_eval.json")
    _evaluate_and_report(
        [checkpoint], data, split, parse_sigma_list(sigma), seed, device, report or default_report, "evaluate"
    )


def _evaluate_and_report(
    specs: list[str],
    data: str,
    split: str,
    sigmas: list[float],
    seed: int,
    device: str,
    report: Path,
    kind: str,
    grid: Path | None = None,
) -> None:
    from .config import resolve_device
    from .evaluate import evaluate_specs
    from .pictures import GridCollector, save_png
    from .reports import write_report

    if report.suffix.lower() != ".json":
        raise CaeDenoiseError(f"--report {report}: give a .json file name")
    if grid is not None and grid.suffix.lower() != ".png":
        raise CaeDenoiseError(f"--grid {grid}: give a .png file name")
    collector = GridCollector() if grid is not None else None
    with _image_progress(0, kind) as on_image:
        body = evaluate_specs(
            specs,
            data=data,
            split=split,
            sigmas=sigmas,
            seed=seed,
            device=resolve_device(device),
            on_image=on_image,
            grid=collector,
        )
    _warn_leakage(body)
    print_metrics_table(body, f"{data} ({split}, {len(body['images'])} images), seed {seed}")
    console.print(f"wrote {write_report(report, kind, body)}", markup=False)
    if grid is not None and collector is not None:
        picture = collector.picture(body["images"])
        console.print(f"wrote {save_png(picture, grid)} (sigma {sigmas[0]:g}, central crops)", markup=False)


def _warn_leakage(body: dict[str, Any]) -> None:
    for label, info in body["methods"].items():
        seen = info.get("test_images_seen_in_training")
        if seen:
            console.print(
                f"[yellow]warning:[/] {escape(label)} was trained on {len(seen)} of these images; "
                "its scores are optimistic"
            )


# ------------------------------------------------------------------------------------------------- compare

_COMPARE_HELP = """Compare denoisers on the same test images and the same noise (paired statistics).

Each METHOD is a checkpoint, 'default' (the shipped model), or a classical method: nlm, tv, wavelet,
bm3d (if the optional bm3d package is installed) or noisy (the input itself). The first is the
reference; every other one gets its difference from it per metric, with a 95% bootstrap confidence
interval over images, a Wilcoxon signed-rank p-value, win/tie/loss counts and a verdict in words.
Classical methods are given the true sigma. Writes a JSON report (--report).

[bold]Examples[/]

  cae-denoise compare runs/baseline/best.pt runs/leaky/best.pt

  cae-denoise compare nlm default tv wavelet --sigma 15,25,50 --report classical.json
"""


@app.command(help=_COMPARE_HELP)
@friendly_errors
def compare(
    methods: Annotated[
        list[str], typer.Argument(help="Two or more checkpoints or method names; the first is the reference.")
    ],
    data: Annotated[str, typer.Option(help="'builtin', a folder, or a .zip/.tar[.gz] archive.")] = "builtin",
    split: Annotated[str, typer.Option(help="Which images of --data: test, val, train or all.")] = "test",
    sigma: Annotated[str, typer.Option(help=_SIGMA_HELP)] = "25",
    seed: Annotated[int, typer.Option(help="Noise seed shared by all methods.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    report: Annotated[Path, typer.Option(help="Where to write the JSON report.")] = Path("compare_report.json"),
    grid: Annotated[
        Path | None, typer.Option(help="Also write a PNG: noisy | each method | clean on 3 test crops, with zooms.")
    ] = None,
) -> None:
    from .noise import parse_sigma_list

    if len(methods) < 2:
        raise CaeDenoiseError("compare needs at least two checkpoints or methods")
    sigmas = parse_sigma_list(sigma)
    _evaluate_and_report(list(methods), data, split, sigmas, seed, device, report, "compare", grid)


# ---------------------------------------------------------------------------------------------- experiment

_EXPERIMENT_HELP = """Train each architecture with several seeds on the same data and budget, evaluate all.

Prints mean +/- std across seeds for SSIM, MSE and PSNR, each architecture's change from the first
(per-seed paired, with a 95% t-interval over seeds) and whether it holds in every seed. Runs live in
OUT/ARCH_seedK; rerunning skips finished runs and resumes interrupted ones. Writes OUT/experiment.json.

[bold]Examples[/]

  cae-denoise experiment --archs baseline,leaky --seeds 3

  cae-denoise experiment --archs baseline,leaky --seeds 5 --data ~/photos --epochs 4 --out runs/mine
"""


@app.command(help=_EXPERIMENT_HELP)
@friendly_errors
def experiment(
    archs: Annotated[
        str, typer.Option(help="Comma-separated architectures; the first is the reference.")
    ] = "baseline,leaky",
    seeds: Annotated[int, typer.Option(help="Seeds per architecture (0..N-1).")] = 3,
    out: Annotated[Path, typer.Option(help="Folder for all runs and the report.")] = Path("runs/experiment"),
    data: Annotated[str, typer.Option(help="'builtin', a folder, or a .zip/.tar[.gz] archive.")] = _DEFAULTS.data,
    sigma: Annotated[str, typer.Option(help="Training noise sigma (0-255): 25 or a range 5-50.")] = _DEFAULTS.sigma,
    eval_sigma: Annotated[float, typer.Option(help="Test noise sigma (0-255).")] = 25.0,
    patch: Annotated[int, typer.Option(help="Training crop size.")] = _DEFAULTS.patch,
    resize: Annotated[int | None, typer.Option(help="Resize images to RESIZE x RESIZE instead of cropping.")] = None,
    epochs: Annotated[int, typer.Option(help="Epochs per run.")] = _DEFAULTS.epochs,
    steps_per_epoch: Annotated[int, typer.Option(help="Optimiser steps per epoch.")] = _DEFAULTS.steps_per_epoch,
    batch_size: Annotated[int, typer.Option(help="Samples per step.")] = _DEFAULTS.batch_size,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = _DEFAULTS.lr,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = _DEFAULTS.device,
) -> None:
    from .experiment import run_experiment
    from .reports import write_report

    names = [name.strip() for name in archs.split(",") if name.strip()]
    base = TrainConfig(
        data=data,
        sigma=sigma,
        patch=patch,
        resize=resize,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        batch_size=batch_size,
        lr=lr,
        device=device,
    )
    for name in names:
        TrainConfig(**{**base.to_dict(), "arch": name}).validate()
    total = len(names) * seeds * base.epochs * base.steps_per_epoch
    with _progress() as progress:
        task = progress.add_task("experiment", total=total, info="")
        finished = [0]

        def on_step(info: Any) -> None:
            progress.update(task, completed=finished[0] + info.global_step, info=f"loss {info.loss:.5f}")

        def on_run(arch: str, seed: int, skipped: bool) -> None:
            finished[0] += base.epochs * base.steps_per_epoch
            progress.update(task, completed=finished[0], info="")
            progress.console.print(
                f"{arch} seed {seed}: {'already done, skipped' if skipped else 'trained and evaluated'}"
            )

        body = run_experiment(base, names, seeds, out, sigma=eval_sigma, on_run=on_run, on_step=on_step)
    print_experiment_table(body)
    console.print(f"wrote {write_report(out / 'experiment.json', 'experiment', body)}", markup=False)


def print_experiment_table(body: dict[str, Any]) -> None:
    """The seed-style table: mean +/- std per architecture, then the change from the reference over seeds."""
    from .metrics import METRIC_NAMES

    summary = body["summary"]
    table = Table(title=f"{body['seeds']} seeds per architecture, test sigma {body['sigma']:g}", title_justify="left")
    table.add_column("architecture")
    for metric in METRIC_NAMES:
        table.add_column(f"{metric.upper()} (mean +/- std)", justify="right")
    for arch, rows in summary["per_arch"].items():
        table.add_row(arch, *(f"{_fmt(m, rows[m]['mean'])} +/- {_fmt(m, rows[m]['std'])}" for m in METRIC_NAMES))
    console.print(table)
    reference = body["archs"][0]
    for arch, rows in summary["versus_reference"].items():
        for metric, row in rows.items():
            interval = row["relative_percent_ci95_over_seeds"]
            if interval is None:
                spread = "(one seed: no interval, nothing to say about seeds; use --seeds 3 or more)"
            else:
                holds = "holds in every seed" if row["holds_across_seeds"] else "does not hold across seeds"
                spread = (
                    f"[95% CI over seeds {interval[0]:+.1f}%, {interval[1]:+.1f}%], "
                    f"better in {row['better_in_seeds']}/{row['seeds']} seeds: {holds}"
                )
            console.print(
                f"  {arch} vs {reference}: {metric.upper()} {row['relative_percent_mean']:+.1f}% {spread}",
                soft_wrap=True,
                markup=False,
            )


# ------------------------------------------------------------------------------------------------- denoise

_DENOISE_HELP = """Denoise photos as they are (no noise is added) and write NAME_denoised.png files.

Without --model the model shipped with cae-denoise is used (blind: any noise level up to about 55/255).
Inputs may be files, folders or globs. Outputs go next to each input, or under -o DIR; an existing
file is never replaced without --overwrite, and an input is never overwritten. Grayscale stays
grayscale, alpha is kept, 16-bit stays 16-bit (PNG/TIFF). A file that fails is reported and skipped;
the exit code is 1 if any failed.

[bold]Examples[/]

  cae-denoise denoise photo.jpg

  cae-denoise denoise shots/ 'more/*.png' -o clean/ --format tiff --side-by-side

  cae-denoise denoise scan.png --model runs/leaky/best.pt --overwrite
"""


@app.command(help=_DENOISE_HELP)
@friendly_errors
def denoise(
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="Checkpoint to denoise with, or 'default' (the shipped model).")
    ] = "default",
    output_dir: Annotated[Path | None, typer.Option("--output-dir", "-o", help="Folder for the outputs.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Output format: png, jpeg or tiff.")] = "png",
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files (never inputs).")] = False,
    side_by_side: Annotated[
        bool, typer.Option(help="Also write NAME_denoised_side_by_side.png: input | output.")
    ] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    tile: Annotated[
        int | None,
        typer.Option(help="Tile size in pixels for large images (bounds memory); default 256 on CPU, 512 on GPUs."),
    ] = None,
) -> None:
    from .batch import denoise_files, output_path
    from .checkpoint import load_model
    from .config import resolve_device

    output_path(Path("x"), None, fmt)  # validates --format before any work
    if tile is not None and tile < 64:
        raise CaeDenoiseError(f"--tile {tile}: must be at least 64 pixels")
    target = resolve_device(device)
    loaded = load_model(model, target)
    with _progress() as progress:
        files = progress.add_task("files", total=None, info="")
        tiles = progress.add_task("tiles", total=None, info="")

        def on_tiles(done: int, total: int) -> None:
            progress.update(tiles, completed=done, total=total)

        def on_file(result: Any) -> None:
            progress.update(files, advance=1, info=result.source.name)
            if result.error:
                progress.console.print(f"[bold red]error:[/] {escape(result.error)}", soft_wrap=True)
            else:
                progress.console.print(
                    f"wrote {result.output}  (estimated input noise sigma {result.estimated_sigma:.1f}/255, "
                    f"{result.megapixels:.1f} MP in {result.seconds:.1f} s)",
                    soft_wrap=True,
                    markup=False,
                )

        results = denoise_files(
            loaded,
            inputs,
            out_dir=output_dir,
            fmt=fmt,
            overwrite=overwrite,
            device=target,
            tile=tile,
            write_side_by_side=side_by_side,
            on_start=lambda count: progress.update(files, total=count),
            on_file=on_file,
            on_tiles=on_tiles,
        )
    done = [r for r in results if r.error is None]
    megapixels = sum(r.megapixels for r in done)
    seconds = sum(r.seconds for r in done)
    rate = f" ({megapixels / seconds:.2f} MP/s)" if seconds > 0 else ""
    console.print(f"{len(done)}/{len(results)} files denoised, {megapixels:.1f} MP in {seconds:.1f} s{rate}")
    if len(done) < len(results):
        raise typer.Exit(1)


def _show_version(value: bool) -> None:
    if value:
        from .reports import package_version

        typer.echo(f"cae-denoise {package_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Train, evaluate, compare and apply convolutional-autoencoder image denoisers."""


def main() -> None:
    """Console-script entry point."""
    app()
