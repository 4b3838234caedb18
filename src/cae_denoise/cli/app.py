"""The ``cae-denoise`` command line: parse options, call one library function, render with rich.

Options, arguments and help texts are declared once in ``cli/options.py``; defaults come from ``TrainConfig``.
Errors a user can cause become one red line and exit code 2 (bad usage) or 1 (bad input, or a missing optional
package); Ctrl-C exits with 130, and SIGTERM, handled the same way (``interrupts.terminate_as_interrupt``), with 143.

Results (tables, verdicts, summaries, the files written) go to stdout; progress, notes, warnings and errors to
stderr, so ``cae-denoise evaluate ... > scores.txt`` keeps the table. ``--json`` prints the report itself on stdout
instead, and nothing else there. Neither stream wraps lines when it is not a terminal.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from ..errors import CaeDenoiseError, UsageError, shorten
from ..interrupts import as_interrupted, terminate_as_interrupt
from ..io.images import DEFAULT_JPEG_QUALITY, DEFAULT_PNG_LEVEL
from . import options as opt
from .progress import (
    DenoiseProgress,
    ExperimentProgress,
    TrainingProgress,
    counted,
    fit_to_output,
    image_progress,
    new_progress,
    printable,
)

if TYPE_CHECKING:
    from ..noise.models import NoiseModel

#: Progress, notes, warnings and errors.
console = Console(stderr=True, highlight=False)
#: Results: what a command found or made.
results = Console(highlight=False)


def _readable(params: list[Any]) -> list[Any]:
    """The help as a person reads it: a flag takes no value, so none is shown (typer writes ``<bool>``), and an
    argument's metavar says what it is, so its Python type (``<list[str]>``) is not shown beside it."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
        elif param.param_type_name == "argument" and param.metavar is not None:
            param.display_type_rich = lambda ctx: None
    return params


class _Command(typer.core.TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _readable(super().get_params(ctx))


class _Group(typer.core.TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _readable(super().get_params(ctx))


app = typer.Typer(
    name="cae-denoise",
    help="Train, evaluate, compare and apply convolutional-autoencoder image denoisers.",
    cls=_Group,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

Command = TypeVar("Command", bound=Callable[..., Any])


def friendly_errors(command: Command) -> Command:
    """Turn a user error into one red line and exit code 2 (bad usage) or 1 (bad input); Ctrl-C into 130, and
    SIGTERM, which raises the same exception in the command (so its files are cleaned up alike), into 143."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fit_to_output(console)
        fit_to_output(results)
        try:
            with terminate_as_interrupt():
                return command(*args, **kwargs)
        except CaeDenoiseError as error:
            console.print(Text.assemble(("error: ", "bold red"), printable(str(error))), soft_wrap=True)
            raise typer.Exit(2 if isinstance(error, UsageError) else 1) from None
        except KeyboardInterrupt as error:
            stop = as_interrupted(error)
            console.print(f"[yellow]{stop.word}[/]")
            raise typer.Exit(stop.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _say(message: str) -> None:
    """Print a line of progress on stderr, literally (file names may hold brackets that rich would take as markup)."""
    console.print(Text(printable(message)), soft_wrap=True)


def _result(message: str, *, as_json: bool = False) -> None:
    """Print a result line on stdout, literally; with ``--json`` (stdout holds the JSON alone), on stderr."""
    (console if as_json else results).print(Text(printable(message)), soft_wrap=True)


def _print_json(kind: str, body: dict[str, Any]) -> None:
    """The report's content (as its JSON file holds it) on stdout, for ``--json``."""
    from ..io.reports import report_text

    sys.stdout.write(report_text(kind, body))
    sys.stdout.flush()


def _note(message: str) -> None:
    """A yellow ``note:`` line, printed literally."""
    console.print(Text.assemble(("note: ", "yellow"), printable(message)), soft_wrap=True)


# --- train -----------------------------------------------------------------------------------------------


@app.command(cls=_Command, help=opt.help_text(opt.TRAIN_HELP), no_args_is_help=False)
@friendly_errors
def train(
    context: typer.Context,
    data: opt.DataOption = opt.DEFAULTS.data,
    sigma: opt.TrainSigmaOption = opt.DEFAULTS.sigma,
    noise: opt.TrainNoiseOption = None,
    arch: opt.ArchOption = opt.DEFAULTS.arch,
    patch: opt.PatchOption = opt.DEFAULTS.patch,
    resize: opt.ResizeOption = opt.DEFAULTS.resize,
    batch_size: opt.BatchOption = opt.DEFAULTS.batch_size,
    lr: opt.LrOption = None,
    epochs: opt.EpochsOption = opt.DEFAULTS.epochs,
    steps_per_epoch: opt.StepsOption = opt.DEFAULTS.steps_per_epoch,
    seed: opt.SeedOption = opt.DEFAULTS.seed,
    device: opt.DeviceOption = opt.DEFAULTS.device,
    channels: opt.ChannelsOption = opt.DEFAULTS.channels,
    depth: opt.DepthOption = opt.DEFAULTS.depth,
    negative_slope: opt.SlopeOption = opt.DEFAULTS.negative_slope,
    schedule: opt.ScheduleOption = opt.DEFAULTS.schedule,
    grad_clip: opt.ClipOption = opt.DEFAULTS.grad_clip,
    dead_leaves: opt.DeadLeavesOption = opt.DEFAULTS.dead_leaves,
    amp: opt.AmpOption = opt.DEFAULTS.amp,
    compile: opt.CompileOption = opt.DEFAULTS.compile,
    val_sigma: opt.ValSigmaOption = opt.DEFAULTS.val_sigma,
    val_noise: opt.ValNoiseOption = None,
    noisy_data: opt.NoisyDataOption = None,
    init: opt.InitOption = None,
    max_megapixels: opt.MaxMegapixelsOption = opt.DEFAULTS.max_megapixels,
    out: opt.OutOption = None,
    resume: opt.ResumeOption = None,
    overwrite: opt.OverwriteRunOption = False,
    as_json: opt.JsonOption = False,
) -> None:
    from ..models.checkpoint import resume_config
    from ..training.pipeline import train_and_evaluate
    from ..training.tasks import task_for
    from .tables import print_evaluation

    if resume is not None:
        others = [name for name in [*opt.TRAINING_OPTIONS, "overwrite"] if name != "epochs"]
        extend = epochs if opt.given_on_command_line(context, ["epochs"]) else None
        config = resume_config(resume, opt.given_on_command_line(context, others), extend)
    else:
        opt.refuse_sigma_with_noise(context, noise)
        options = dict(context.params)
        if noisy_data is not None and not opt.given_on_command_line(context, ["data"]):
            options["data"] = None  # noisy photos alone: no clean side
        config = opt.train_config_from(options)
        opt.refuse_options_that_do_not_apply(context, [config.arch])
    task = task_for(config)  # every option checked before the progress bar starts
    opt.check_sources_exist([("--data", config.data), ("--noisy-data", config.noisy_data)])
    opt.check_checkpoint_exists("--init", config.init)
    with new_progress(console) as progress:
        shown = TrainingProgress(progress, f"{config.arch} on {task.describe()}", config.total_steps)
        try:
            outcome = train_and_evaluate(
                config,
                resume=resume is not None,
                overwrite=overwrite,
                on_start=shown.on_start,
                on_step=shown.on_step,
                on_epoch_end=shown.on_epoch_end,
                on_note=_note,
            )
        except KeyboardInterrupt as error:
            progress.stop()
            stop = as_interrupted(error)
            again = f"continue with: cae-denoise train --resume {config.out}"
            if stop.saved is not None:
                _say(f"{stop.word}: saved {stop.saved}; {again}")
            elif resume is not None:
                _say(f"{stop.word} before a step was taken: {Path(config.out) / 'last.pt'} is as it was; {again}")
            else:
                _say(f"{stop.word} before the first training step: nothing was saved")
            raise typer.Exit(stop.exit_code) from None
    if outcome.evaluation is None:  # a torchrun rank other than 0: rank 0 reports
        return
    result = outcome.training
    if as_json:
        training = json.loads(Path(result.report).read_text())
        _print_json("train", {"train_report": training, "evaluation": outcome.evaluation})
    else:
        print_evaluation(results, outcome.evaluation, "best.pt on the test images")
    files = f"{result.best}, {result.last}, {result.report}, {outcome.evaluation_path}"
    _result(f"trained in {result.seconds:.0f} s; wrote {files}", as_json=as_json)


# --- evaluate and compare -------------------------------------------------------------------------------------


@app.command(cls=_Command, help=opt.help_text(opt.EVALUATE_HELP))
@friendly_errors
def evaluate(
    context: typer.Context,
    checkpoint: opt.EvaluatedArgument,
    data: opt.DataOption = "builtin",
    noisy_data: opt.ScoredNoisyDataOption = None,
    split: opt.SplitOption = "test",
    sigma: opt.EvalSigmaOption = None,
    noise: opt.EvalNoiseOption = None,
    seed: opt.NoiseSeedOption = 0,
    device: opt.DeviceOption = "auto",
    report: opt.ReportOption = None,
    overwrite: opt.OverwriteEvaluationOption = False,
    max_megapixels: opt.MaxMegapixelsOption = opt.DEFAULTS.max_megapixels,
    as_json: opt.JsonOption = False,
) -> None:
    from ..noise.models import evaluation_noises

    opt.refuse_noise_with_pairs(context, noisy_data)
    default_report = Path(f"{checkpoint.removesuffix('.pt').replace(':oracle', '_oracle')}_eval.json")
    _evaluate_and_report(
        [checkpoint],
        data,
        split,
        evaluation_noises(sigma, noise),
        seed,
        device,
        report or default_report,
        "evaluate",
        noisy_data=noisy_data,
        overwrite=overwrite,
        max_megapixels=max_megapixels,
        as_json=as_json,
    )


@app.command(cls=_Command, help=opt.help_text(opt.COMPARE_HELP))
@friendly_errors
def compare(
    context: typer.Context,
    methods: opt.MethodsArgument,
    data: opt.DataOption = "builtin",
    noisy_data: opt.ScoredNoisyDataOption = None,
    split: opt.SplitOption = "test",
    sigma: opt.EvalSigmaOption = None,
    noise: opt.EvalNoiseOption = None,
    seed: opt.NoiseSeedOption = 0,
    device: opt.DeviceOption = "auto",
    report: opt.ReportOption = Path("compare_report.json"),
    grid: opt.GridOption = None,
    overwrite: opt.OverwriteReportOption = False,
    max_megapixels: opt.MaxMegapixelsOption = opt.DEFAULTS.max_megapixels,
    as_json: opt.JsonOption = False,
) -> None:
    from ..noise.models import evaluation_noises

    if len(methods) < 2:
        raise UsageError("compare needs at least two checkpoints or methods")
    opt.refuse_noise_with_pairs(context, noisy_data)
    _evaluate_and_report(
        list(methods),
        data,
        split,
        evaluation_noises(sigma, noise),
        seed,
        device,
        report,
        "compare",
        grid,
        noisy_data=noisy_data,
        overwrite=overwrite,
        max_megapixels=max_megapixels,
        as_json=as_json,
    )


def _evaluate_and_report(
    specs: list[str],
    data: str,
    split: str,
    noises: list[NoiseModel],
    seed: int,
    device: str,
    report: Path,
    kind: str,
    grid: Path | None = None,
    *,
    noisy_data: str | None,
    overwrite: bool,
    max_megapixels: int,
    as_json: bool,
) -> None:
    from ..config import resolve_device
    from ..data.reads import files_read
    from ..evaluation.evaluate import evaluate_specs
    from ..evaluation.grid import GridCollector
    from ..io.outputs import check_output_option, protecting
    from ..io.pictures import save_png
    from ..io.reports import write_report
    from .tables import noise_label, print_evaluation, print_leakage_warnings, print_skipped_files

    if noisy_data is not None and data == "builtin":
        raise UsageError("--noisy-data needs --data: the clean photos of the same scenes (the built-in ones have none)")
    opt.check_sources_exist([("--data", data), ("--noisy-data", noisy_data)])
    checkpoints = [(None, spec) for spec in specs]
    reads = files_read(checkpoints=checkpoints, data=[("--data", data), ("--noisy-data", noisy_data)])
    with protecting(reads):
        check_output_option(report, "--report", ".json", overwrite=overwrite)
        check_output_option(grid, "--grid", ".png", overwrite=overwrite)
        collector = GridCollector() if grid is not None else None
        with image_progress(console, kind) as on_image:
            body = evaluate_specs(
                specs,
                data=data,
                noisy_data=noisy_data,
                split=split,
                noises=noises,
                seed=seed,
                device=resolve_device(device),
                on_image=on_image,
                grid=collector,
                max_megapixels=max_megapixels,
            )
        print_skipped_files(console, body)
        print_leakage_warnings(console, body)
        if as_json:
            _print_json(kind, body)
        else:
            title = f"{shorten(data)} ({split}, {counted(len(body['images']), 'image')}), seed {seed}"
            print_evaluation(results, body, title)
        _result(f"wrote {write_report(report, kind, body, overwrite=overwrite)}", as_json=as_json)
        if grid is not None and collector is not None:
            captions = [noise_label(level["noise"]) for level in body["levels"]]
            picture = save_png(collector.picture(body["images"], captions), grid, overwrite=overwrite)
            _result(
                f"wrote {picture} ({', '.join(captions)}; crops where each image has the most detail)", as_json=as_json
            )


# --- experiment --------------------------------------------------------------------------------------------


@app.command(cls=_Command, help=opt.help_text(opt.EXPERIMENT_HELP))
@friendly_errors
def experiment(
    context: typer.Context,
    archs: opt.ArchsOption = "baseline,leaky",
    seeds: opt.SeedsOption = 6,
    out: opt.ExperimentOutOption = Path("runs/experiment"),
    data: opt.DataOption = opt.DEFAULTS.data,
    sigma: opt.TrainSigmaOption = opt.DEFAULTS.sigma,
    noise: opt.TrainNoiseOption = None,
    val_sigma: opt.ValSigmaOption = opt.DEFAULTS.val_sigma,
    val_noise: opt.ValNoiseOption = None,
    patch: opt.PatchOption = opt.DEFAULTS.patch,
    resize: opt.ResizeOption = opt.DEFAULTS.resize,
    epochs: opt.EpochsOption = opt.DEFAULTS.epochs,
    steps_per_epoch: opt.StepsOption = opt.DEFAULTS.steps_per_epoch,
    batch_size: opt.BatchOption = opt.DEFAULTS.batch_size,
    lr: opt.LrOption = None,
    device: opt.DeviceOption = opt.DEFAULTS.device,
    amp: opt.AmpOption = opt.DEFAULTS.amp,
    max_megapixels: opt.MaxMegapixelsOption = opt.DEFAULTS.max_megapixels,
    overwrite: opt.OverwriteExperimentOption = False,
) -> None:
    from ..training.experiment import REPORT, run_experiment
    from ..training.tasks import task_for
    from .tables import print_experiment

    opt.refuse_sigma_with_noise(context, noise)
    names = opt.architectures("--archs", archs)
    base = opt.train_config_from(
        {key: value for key, value in context.params.items() if key != "out"}  # each run has its own folder
    )
    opt.refuse_options_that_do_not_apply(context, names)
    task_for(base)
    opt.check_sources_exist([("--data", base.data)])
    with new_progress(console) as progress:
        shown = ExperimentProgress(progress, len(names) * seeds, base.total_steps)
        try:
            body = run_experiment(
                base, names, seeds, out, overwrite=overwrite, on_run=shown.on_run, on_step=shown.on_step, on_note=_note
            )
        except KeyboardInterrupt as error:
            progress.stop()
            stop = as_interrupted(error)
            _say(f"{stop.word}: finished runs are kept, the one in progress resumes: run the same command to go on")
            raise typer.Exit(stop.exit_code) from None
    print_experiment(results, body)
    _result(f"wrote {out / REPORT}")


# --- denoise ---------------------------------------------------------------------------------------------


@app.command(cls=_Command, help=opt.help_text(opt.DENOISE_HELP))
@friendly_errors
def denoise(
    context: typer.Context,
    inputs: opt.InputsArgument,
    model: opt.ModelOption = "default",
    output_dir: opt.OutputDirOption = None,
    fmt: opt.FormatOption = "auto",
    quality: opt.QualityOption = DEFAULT_JPEG_QUALITY,
    overwrite: opt.OverwriteOutputsOption = False,
    skip_existing: opt.SkipExistingOption = False,
    side_by_side: opt.SideBySideOption = False,
    device: opt.DeviceOption = "auto",
    tile: opt.TileOption = None,
    png_level: opt.PngLevelOption = DEFAULT_PNG_LEVEL,
    strength: opt.StrengthOption = 1.0,
    noise_level: opt.NoiseLevelOption = None,
    max_megapixels: opt.PhotoMegapixelsOption = None,
    report: opt.DenoiseReportOption = None,
    as_json: opt.JsonOption = False,
) -> None:
    from ..config import resolve_device
    from ..denoising import OutputSettings, Smoothing, check_denoise_options, denoise_files
    from ..io.outputs import check_output_option
    from ..models.checkpoint import load_model

    opt.refuse_denoise_options_that_do_not_apply(context, fmt, noise_level, side_by_side)
    check_denoise_options(fmt, tile, png_level, quality, max_megapixels)
    if overwrite and skip_existing:
        raise UsageError("give --overwrite or --skip-existing, not both: one replaces existing outputs, one keeps")
    check_output_option(report, "--report", ".json", overwrite=overwrite)  # again, with the inputs, before any work
    target = resolve_device(device)
    loaded = load_model(model, target)
    smoothing = Smoothing(strength, noise_level)
    smoothing.check(loaded)
    started = time.perf_counter()
    with new_progress(console) as progress:
        shown = DenoiseProgress(progress)
        run = denoise_files(
            loaded,
            inputs,
            out_dir=output_dir,
            settings=OutputSettings(fmt, overwrite, png_level, quality, skip_existing),
            device=target,
            tile=tile,
            smoothing=smoothing,
            write_side_by_side=side_by_side,
            report=report,
            on_start=shown.on_start,
            on_file=shown.on_file,
            on_tiles=shown.on_tiles,
            on_note=_note,
            max_megapixels=max_megapixels,
        )
    seconds = time.perf_counter() - started
    if as_json:
        _print_json("denoise", run.report)
    _result(_denoise_summary(run, seconds), as_json=as_json)
    if report is not None:
        _result(f"wrote {report}", as_json=as_json)
    if run.report["failed"] or run.report["side_by_side_not_written"]:
        raise typer.Exit(1)


def _denoise_summary(run: Any, seconds: float) -> str:
    """``3 of 4 files done: 2 denoised, 1 kept (exist: --skip-existing), 1 failed; 2.0 MP in 1.5 s (1.33 MP/s);
    2 files not images this tool reads, left out: a.heic, b.cr2 (...)``."""
    body, files = run.report, run.files
    done = body["denoised"] + body["skipped_existing"]
    parts = [f"{body['denoised']} denoised"]
    if body["skipped_existing"]:
        parts.append(f"{body['skipped_existing']} kept (exist: --skip-existing)")
    if body["failed"]:
        parts.append(f"{body['failed']} failed")
    if body["side_by_side_not_written"]:
        parts.append(f"{counted(body['side_by_side_not_written'], 'side-by-side picture')} not written")
    megapixels = sum(result.megapixels for result in files if result.error is None)
    rate = f" ({megapixels / seconds:.2f} MP/s)" if seconds > 0 and megapixels else ""
    line = f"{done} of {counted(len(files), 'file')} done: {', '.join(parts)}; {megapixels:.1f} MP in {seconds:.1f} s"
    line += rate
    if run.not_images:
        names = ", ".join(shorten(path.name, 60) for path in run.not_images[:5])
        more = f" and {len(run.not_images) - 5} more" if len(run.not_images) > 5 else ""
        line += (
            f"; {counted(len(run.not_images), 'file')} not images this tool reads, left out: {names}{more} "
            "(HEIC, AVIF and camera raw files: convert them to JPEG, PNG or TIFF first)"
        )
    return line


@app.command(cls=_Command, help=opt.help_text(opt.EXPORT_HELP))
@friendly_errors
def export(
    checkpoint: opt.CheckpointArgument,
    target: opt.ExportTargetArgument,
    fmt: opt.ExportFormatOption = None,
    overwrite: opt.OverwriteFileOption = False,
) -> None:
    from ..models.export import FORMAT_NAMES, export_format, export_model

    chosen = export_format(target, fmt)
    how = f"{FORMAT_NAMES[chosen]}, as its name says" if fmt is None else FORMAT_NAMES[chosen]
    _result(f"wrote {export_model(checkpoint, target, fmt=chosen, overwrite=overwrite)} ({how})")


def _show_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"cae-denoise {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Train, evaluate, compare and apply convolutional-autoencoder image denoisers."""


def main() -> None:
    """Console-script entry point. The option parser's errors become one ``error:`` line too (exit 2), like every
    other error, instead of a boxed usage message; Ctrl-C before a command starts exits with 130."""
    try:
        code = app(standalone_mode=False, prog_name="cae-denoise")
    except Exception as error:
        if type(error).__name__ == "Abort":  # the parser's Ctrl-C
            console.print("[yellow]interrupted[/]")
            sys.exit(130)
        if not (hasattr(error, "format_message") and hasattr(error, "exit_code")):  # not a parser error: a bug
            raise
        message = shorten(error.format_message(), 300)  # a 100 kB value typed stays a short line
        if message:  # empty when the help was shown instead (no arguments at all)
            command = getattr(getattr(error, "ctx", None), "command_path", None) or "cae-denoise"
            line = Text.assemble(("error: ", "bold red"), printable(f"{message} (see {command} --help)"))
            console.print(line, soft_wrap=True)
        sys.exit(error.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
