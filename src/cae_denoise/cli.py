"""The ``cae-denoise`` command line: parse options, call one library function, render with rich.

Each option is declared once (the ``*Option`` aliases below) and its default comes from ``TrainConfig``.
Errors a user can cause (``CaeDenoiseError``) become one red line and exit code 1; Ctrl-C exits with 130.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from .config import TrainConfig
from .errors import CaeDenoiseError, UsageError

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

Command = TypeVar("Command", bound=Callable[..., Any])


def friendly_errors(command: Command) -> Command:
    """Turn a user error into one red line and exit code 2 (bad usage) or 1 (bad input); Ctrl-C into 130."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CaeDenoiseError as error:
            console.print(Text.assemble(("error: ", "bold red"), " ".join(str(error).split())), soft_wrap=True)
            raise typer.Exit(2 if isinstance(error, UsageError) else 1) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}", markup=False),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


@contextmanager
def _image_progress(label: str) -> Iterator[Callable[[str, str], None]]:
    """A progress bar over (image, method) evaluations; yields the callback that advances it."""
    with _progress() as progress:
        task = progress.add_task(label, total=None, info="")
        yield lambda image, method: progress.update(task, advance=1, info=f"{method} on {image}")


def _say(message: str) -> None:
    """Print a line literally (file names may hold brackets that rich would take as markup)."""
    console.print(Text(message), soft_wrap=True)


def _help(text: str) -> str:
    """Help text with each paragraph's source line breaks joined, so the terminal wraps it, not the source."""
    paragraphs = text.strip().split("\n\n")
    return "\n\n".join(p if p.startswith("  ") else " ".join(p.split("\n")) for p in paragraphs) + "\n"


# --- options, each declared once ---------------------------------------------------------------------------

ArchOption = Annotated[
    str, typer.Option(help="Architecture: baseline (ReLU CAE), leaky (its LeakyReLU twin) or unet (residual U-Net).")
]
DataOption = Annotated[
    str, typer.Option(help="Images: 'builtin', a folder (searched recursively), or a .zip/.tar[.gz].")
]
OutOption = Annotated[Path | None, typer.Option(help="Output folder. Default: runs/ARCH.", show_default=False)]
TrainSigmaOption = Annotated[
    str, typer.Option("--sigma", help="Training noise sigma on the 0-255 scale: 25, or a range 5-50 (blind).")
]
PatchOption = Annotated[int, typer.Option(help="Train on random PATCH x PATCH crops, with flips and rotations.")]
ResizeOption = Annotated[
    int | None,
    typer.Option(
        help="Instead of crops, resize every image to RESIZE x RESIZE (the seed project's way).", show_default=False
    ),
]
BatchOption = Annotated[int, typer.Option(help="Samples per optimiser step (per process under torchrun).")]
LrOption = Annotated[float, typer.Option(help="Adam learning rate.")]
EpochsOption = Annotated[int, typer.Option(help="Epochs; validation and checkpoints after each.")]
StepsOption = Annotated[int, typer.Option(help="Optimiser steps per epoch.")]
SeedOption = Annotated[int, typer.Option(help="Seed for weights, sampling and training noise.")]
DeviceOption = Annotated[str, typer.Option(help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps.")]
ChannelsOption = Annotated[
    int | None,
    typer.Option(
        help="Width of the first level, doubling at each level. Default: per architecture.", show_default=False
    ),
]
DepthOption = Annotated[
    int | None, typer.Option(help="Number of 2x downsampling levels. Default: per architecture.", show_default=False)
]
SlopeOption = Annotated[float, typer.Option(help="LeakyReLU slope, for the architectures that use it.")]
ScheduleOption = Annotated[str, typer.Option(help="Learning rate: constant, or cosine decay to 0.")]
ClipOption = Annotated[float, typer.Option(help="Clip the gradient norm to this value; 0 turns clipping off.")]
DeadLeavesOption = Annotated[
    int, typer.Option(help="Add N procedural dead-leaves images (256x256) to the training images.")
]
AmpOption = Annotated[bool, typer.Option(help="Mixed precision (bfloat16 autocast) on GPUs with bf16, or on CPU.")]
CompileOption = Annotated[
    bool, typer.Option("--compile", help="torch.compile the model: faster steps after a compile pause.")
]
ValSigmaOption = Annotated[
    float, typer.Option(help="Noise sigma (0-255) for validation during training and for the test evaluation.")
]
SplitOption = Annotated[str, typer.Option(help="Which images of --data: test, val, train or all.")]
EvalSigmaOption = Annotated[
    str, typer.Option("--sigma", help="Noise sigma(s) on the 0-255 scale: 25, or a list 15,25,50 (one table each).")
]
NoiseSeedOption = Annotated[
    int, typer.Option("--seed", help="Noise seed: the same seed gives every method the same noisy pixels.")
]
ReportOption = Annotated[Path | None, typer.Option(help="Where to write the JSON report.", show_default=False)]
OverwriteReportOption = Annotated[
    bool, typer.Option("--overwrite", help="Replace an existing report (and --grid picture) instead of refusing.")
]

#: Options of ``train`` that define the run, i.e. the ``TrainConfig`` fields (``compile`` is ``compile_model``).
_TRAINING_OPTIONS = [name for name in _DEFAULTS.to_dict() if name != "compile"] + ["compile_model"]


def _train_config(options: dict[str, Any]) -> TrainConfig:
    """A ``TrainConfig`` from the command's parameters (those named like its fields)."""
    fields = {
        ("compile" if name == "compile_model" else name): options[name] for name in _TRAINING_OPTIONS if name in options
    }
    if fields.get("out") is not None:
        fields["out"] = str(fields["out"])
    else:
        fields.pop("out", None)
    return TrainConfig(**fields)


def _source_name(context: typer.Context, name: str) -> str | None:
    """Where a parameter's value came from (``COMMANDLINE``, ``DEFAULT``, ...), by the name of click's enum."""
    source = context.get_parameter_source(name)
    return source.name if source is not None else None


def _given_on_command_line(context: typer.Context, names: list[str]) -> list[str]:
    """The ``--option`` spellings of those ``names`` the user typed."""
    given = [name for name in names if _source_name(context, name) == "COMMANDLINE"]
    return ["--" + ("compile" if name == "compile_model" else name).replace("_", "-") for name in given]


# --- train -----------------------------------------------------------------------------------------------

_TRAIN_HELP = """Train a denoiser; keep [bold]best.pt[/] (by validation PSNR) and [bold]last.pt[/] in --out.

Writes OUT/best.pt, OUT/last.pt, OUT/train_report.json, OUT/training_curves.png and, after training,
OUT/eval_test.json (best.pt on the held-out test images at --val-sigma).

[bold]Examples[/]

  cae-denoise train --arch leaky

  cae-denoise train --arch baseline --data ~/photos --out runs/mine --sigma 5-50

  cae-denoise train --resume runs/leaky
"""


@app.command(help=_help(_TRAIN_HELP), no_args_is_help=False)
@friendly_errors
def train(
    context: typer.Context,
    arch: ArchOption = _DEFAULTS.arch,
    data: DataOption = _DEFAULTS.data,
    out: OutOption = None,
    sigma: TrainSigmaOption = _DEFAULTS.sigma,
    patch: PatchOption = _DEFAULTS.patch,
    resize: ResizeOption = _DEFAULTS.resize,
    batch_size: BatchOption = _DEFAULTS.batch_size,
    lr: LrOption = _DEFAULTS.lr,
    epochs: EpochsOption = _DEFAULTS.epochs,
    steps_per_epoch: StepsOption = _DEFAULTS.steps_per_epoch,
    seed: SeedOption = _DEFAULTS.seed,
    device: DeviceOption = _DEFAULTS.device,
    channels: ChannelsOption = _DEFAULTS.channels,
    depth: DepthOption = _DEFAULTS.depth,
    negative_slope: SlopeOption = _DEFAULTS.negative_slope,
    schedule: ScheduleOption = _DEFAULTS.schedule,
    grad_clip: ClipOption = _DEFAULTS.grad_clip,
    dead_leaves: DeadLeavesOption = _DEFAULTS.dead_leaves,
    amp: AmpOption = _DEFAULTS.amp,
    compile_model: CompileOption = _DEFAULTS.compile,
    val_sigma: ValSigmaOption = _DEFAULTS.val_sigma,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Continue the run in this folder from its last.pt, with its saved settings.", show_default=False
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Start a new run in an --out folder that holds one (its files are removed)."),
    ] = False,
) -> None:
    from .config import resume_config
    from .pipeline import train_and_evaluate
    from .tables import print_evaluation

    if resume is not None:
        config = resume_config(resume, _given_on_command_line(context, [*_TRAINING_OPTIONS, "overwrite"]))
    else:
        config = _train_config(locals())
    with _progress() as progress:
        task = progress.add_task("train", total=config.total_steps, info="")

        def on_start(start: Any) -> None:
            data = start.data
            skipped = f", {data.skipped_files} files skipped (see train_report.json)" if data.skipped_files else ""
            processes = f", {start.world_size} processes (DDP)" if start.world_size > 1 else ""
            split = data.split
            progress.update(task, completed=start.global_step)
            progress.console.print(
                Text(
                    f"training {config.arch} on {config.data}: {len(split.train)} train / {len(split.val)} val / "
                    f"{len(split.test)} test images{skipped}, sigma {config.sigma}, device {start.device}{processes}"
                )
            )

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
            outcome = train_and_evaluate(
                config,
                resume=resume is not None,
                overwrite=overwrite,
                on_start=on_start,
                on_step=on_step,
                on_epoch_end=on_epoch_end,
            )
        except KeyboardInterrupt:
            progress.stop()
            _say(f"interrupted: saved {config.out}/last.pt; continue with: cae-denoise train --resume {config.out}")
            raise typer.Exit(130) from None
    if outcome.evaluation is None:  # a torchrun rank other than 0: rank 0 reports
        return
    result = outcome.training
    _say(f"trained in {result.seconds:.0f} s; wrote {result.best}, {result.last}, {result.report}")
    print_evaluation(console, outcome.evaluation, "best.pt on the test images")
    _say(f"wrote {outcome.evaluation_path}")


# --- evaluate and compare -------------------------------------------------------------------------------------

_EVALUATE_HELP = """Measure a checkpoint's SSIM / MSE / PSNR on seeded noisy copies of test images.

CKPT is a checkpoint file, or 'default' for the shipped model. The noisy input is scored too, as the floor. Writes a
JSON report (default: STEM_eval.json next to the checkpoint).

[bold]Examples[/]

  cae-denoise evaluate runs/leaky/best.pt

  cae-denoise evaluate default --sigma 15,25,50

  cae-denoise evaluate runs/leaky/best.pt --data ~/photos --split all
"""


@app.command(help=_help(_EVALUATE_HELP))
@friendly_errors
def evaluate(
    checkpoint: Annotated[str, typer.Argument(help="A checkpoint from 'cae-denoise train', or 'default'.")],
    data: DataOption = "builtin",
    split: SplitOption = "test",
    sigma: EvalSigmaOption = "25",
    seed: NoiseSeedOption = 0,
    device: DeviceOption = "auto",
    report: ReportOption = None,
    overwrite: OverwriteReportOption = False,
) -> None:
    default_report = Path(f"{checkpoint.removesuffix('.pt')}_eval.json")
    _evaluate_and_report(
        [checkpoint], data, split, sigma, seed, device, report or default_report, "evaluate", overwrite=overwrite
    )


_COMPARE_HELP = """Compare denoisers on the same test images and the same noise (paired statistics).

Each METHOD is a checkpoint, 'default' (the shipped model), or a classical method: nlm, tv, wavelet, bm3d (if the
optional bm3d package is installed) or noisy (the input itself). Classical methods are given the true sigma. The
first method is the reference: every other one gets, per metric, its mean difference from it and the wins / ties /
losses over images. From 6 test images on, a Wilcoxon signed-rank test and a BCa bootstrap 95% interval back a
verdict ("better" only when p < 0.05 and the interval excludes 0); with fewer images no test can reach p < 0.05, and
the numbers are description only. Writes a JSON report (--report).

[bold]Examples[/]

  cae-denoise compare runs/baseline/best.pt runs/leaky/best.pt

  cae-denoise compare nlm default tv wavelet --sigma 15,25,50 --report classical.json
"""


@app.command(help=_help(_COMPARE_HELP))
@friendly_errors
def compare(
    methods: Annotated[
        list[str], typer.Argument(help="Two or more checkpoints or method names; the first is the reference.")
    ],
    data: DataOption = "builtin",
    split: SplitOption = "test",
    sigma: EvalSigmaOption = "25",
    seed: NoiseSeedOption = 0,
    device: DeviceOption = "auto",
    report: ReportOption = Path("compare_report.json"),
    grid: Annotated[
        Path | None,
        typer.Option(
            help="Also write a PNG: noisy | each method | clean on 3 test crops, with zooms.", show_default=False
        ),
    ] = None,
    overwrite: OverwriteReportOption = False,
) -> None:
    if len(methods) < 2:
        raise UsageError("compare needs at least two checkpoints or methods")
    _evaluate_and_report(list(methods), data, split, sigma, seed, device, report, "compare", grid, overwrite=overwrite)


def _evaluate_and_report(
    specs: list[str],
    data: str,
    split: str,
    sigma: str,
    seed: int,
    device: str,
    report: Path,
    kind: str,
    grid: Path | None = None,
    *,
    overwrite: bool,
) -> None:
    from .config import resolve_device
    from .evaluate import evaluate_specs
    from .noise import parse_sigma_list
    from .pictures import GridCollector, save_png
    from .reports import write_report
    from .tables import print_evaluation, print_leakage_warnings

    if report.suffix.lower() != ".json":
        raise UsageError(f"--report {report}: give a .json file name")
    if grid is not None and grid.suffix.lower() != ".png":
        raise UsageError(f"--grid {grid}: give a .png file name")
    sigmas = parse_sigma_list(sigma)
    for path in filter(None, (report, grid)):
        if (path.exists() or path.is_symlink()) and not overwrite:
            raise UsageError(f"{path} exists; pass --overwrite to replace it")
    collector = GridCollector() if grid is not None else None
    with _image_progress(kind) as on_image:
        body = evaluate_specs(
            specs,
            data=data,
            split=split,
            sigmas_255=sigmas,
            seed=seed,
            device=resolve_device(device),
            on_image=on_image,
            grid=collector,
        )
    print_leakage_warnings(console, body)
    print_evaluation(console, body, f"{data} ({split}, {len(body['images'])} images), seed {seed}")
    _say(f"wrote {write_report(report, kind, body, overwrite=overwrite)}")
    if grid is not None and collector is not None:
        picture = save_png(collector.picture(body["images"]), grid, overwrite=overwrite)
        _say(f"wrote {picture} (sigma {sigmas[0]:g}, central crops)")


# --- experiment --------------------------------------------------------------------------------------------

_EXPERIMENT_HELP = """Train each architecture with several seeds on the same data and budget, evaluate all.

Prints mean +/- std over seeds for SSIM, MSE and PSNR, and each architecture's change from the first, paired by
seed, with the same statistics as compare: a verdict needs 6 or more seeds (use --seeds 6 or more to test a claim;
fewer give a description only). Runs live in OUT/ARCH_seedK; rerunning skips finished runs and resumes interrupted
ones. Writes OUT/experiment.json.

[bold]Examples[/]

  cae-denoise experiment --archs baseline,leaky --seeds 6

  cae-denoise experiment --archs baseline,leaky --seeds 8 --data ~/photos --epochs 4 --out runs/mine
"""


@app.command(help=_help(_EXPERIMENT_HELP))
@friendly_errors
def experiment(
    archs: Annotated[
        str, typer.Option(help="Comma-separated architectures; the first is the reference.")
    ] = "baseline,leaky",
    seeds: Annotated[int, typer.Option(help="Seeds per architecture (0..N-1).")] = 6,
    out: Annotated[Path, typer.Option(help="Folder for all runs and the report.")] = Path("runs/experiment"),
    data: DataOption = _DEFAULTS.data,
    sigma: TrainSigmaOption = _DEFAULTS.sigma,
    val_sigma: ValSigmaOption = _DEFAULTS.val_sigma,
    patch: PatchOption = _DEFAULTS.patch,
    resize: ResizeOption = _DEFAULTS.resize,
    epochs: EpochsOption = _DEFAULTS.epochs,
    steps_per_epoch: StepsOption = _DEFAULTS.steps_per_epoch,
    batch_size: BatchOption = _DEFAULTS.batch_size,
    lr: LrOption = _DEFAULTS.lr,
    device: DeviceOption = _DEFAULTS.device,
    amp: AmpOption = _DEFAULTS.amp,
) -> None:
    from .experiment import run_experiment
    from .reports import write_report
    from .tables import print_experiment

    names = [name.strip() for name in archs.split(",") if name.strip()]
    base = _train_config({key: value for key, value in locals().items() if key not in ("out", "archs", "seeds")})
    per_run = base.total_steps
    with _progress() as progress:
        task = progress.add_task("experiment", total=len(names) * seeds * per_run, info="")
        finished = [0]

        def on_step(info: Any) -> None:
            progress.update(task, completed=finished[0] + info.global_step, info=f"loss {info.loss:.5f}")

        def on_run(arch: str, seed: int, skipped: bool) -> None:
            finished[0] += per_run
            progress.update(task, completed=finished[0], info="")
            progress.console.print(
                f"{arch} seed {seed}: {'already done, skipped' if skipped else 'trained and evaluated'}"
            )

        body = run_experiment(base, names, seeds, out, on_run=on_run, on_step=on_step)
    print_experiment(console, body)
    _say(f"wrote {write_report(out / 'experiment.json', 'experiment', body, overwrite=True)}")


# --- denoise ---------------------------------------------------------------------------------------------

_DENOISE_HELP = """Denoise photos as they are (no noise is added) and write NAME_denoised.png files.

Without --model the model shipped with cae-denoise is used (blind: any noise level up to about 55/255). Inputs may
be files, folders or globs. Outputs go next to each input, or under -o DIR; an existing file is never replaced
without --overwrite, and an input is never overwritten. Grayscale stays grayscale, alpha is kept, 16-bit stays
16-bit (PNG/TIFF). A file that fails is reported and skipped; the exit code is 1 if any failed.

[bold]Examples[/]

  cae-denoise denoise photo.jpg

  cae-denoise denoise shots/ 'more/*.png' -o clean/ --format tiff --side-by-side

  cae-denoise denoise scan.png --model runs/leaky/best.pt --overwrite
"""


@app.command(help=_help(_DENOISE_HELP))
@friendly_errors
def denoise(
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="Checkpoint to denoise with, or 'default' (the shipped model).")
    ] = "default",
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir", "-o", help="Folder for the outputs. Default: next to each input.", show_default=False
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="Output format: png, jpeg or tiff.")] = "png",
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files (never inputs).")] = False,
    side_by_side: Annotated[
        bool, typer.Option(help="Also write NAME_denoised_side_by_side.png: input | output.")
    ] = False,
    device: DeviceOption = "auto",
    tile: Annotated[
        int | None,
        typer.Option(
            help="Tile size in pixels for large images (bounds memory). Default: 256 on CPU, 512 on GPUs.",
            show_default=False,
        ),
    ] = None,
) -> None:
    from .checkpoint import load_model
    from .config import resolve_device
    from .files import denoise_files, output_path

    output_path(Path("x"), None, fmt)  # validates --format before any work
    if tile is not None and tile < 64:
        raise UsageError(f"--tile {tile}: must be at least 64 pixels")
    target = resolve_device(device)
    loaded = load_model(model, target)
    with _progress() as progress:
        files = progress.add_task("files", total=None, info="")
        tiles = progress.add_task("tiles", total=None, info="")

        def on_file(result: Any) -> None:
            progress.update(files, advance=1, info=result.source.name)
            if result.error:
                progress.console.print(Text.assemble(("error: ", "bold red"), result.error), soft_wrap=True)
            else:
                progress.console.print(
                    Text(
                        f"wrote {result.output}  (estimated input noise sigma {result.estimated_sigma:.1f}/255, "
                        f"{result.megapixels:.1f} MP in {result.seconds:.1f} s)"
                    ),
                    soft_wrap=True,
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
            on_tiles=lambda done, total: progress.update(tiles, completed=done, total=total),
        )
    done = [r for r in results if r.error is None]
    megapixels, seconds = sum(r.megapixels for r in done), sum(r.seconds for r in done)
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
