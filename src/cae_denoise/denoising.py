"""Denoise image files (``cae-denoise denoise``): expand inputs, name outputs, keep going past a bad file.

An input (nor the model's checkpoint) is never overwritten, nor an existing output unless asked (or, with
``skip_existing``, kept and counted as done). Outputs are named after the path the user gave and land next to it
(a link ``dir/link.png`` gives ``dir/link_denoised.png``, wherever the link points), or under an output folder
that mirrors the tree of each input folder (``DCIM/100APPLE/x.jpg`` -> ``OUT/100APPLE/x_denoised.jpg``).

Each output keeps its input's kind: grayscale stays grayscale, alpha is carried through untouched,
16-bit input is written as 16-bit where the format allows, and the EXIF block (orientation reset, since the
pixels are already upright) and ICC profile are carried over where the format can hold them.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .data.reads import files_read
from .errors import CaeDenoiseError, UsageError, shorten
from .io.images import (
    DEFAULT_JPEG_QUALITY,
    DEFAULT_PNG_LEVEL,
    OUTPUT_FORMAT_NAMES,
    OUTPUT_FORMATS,
    DecodedImage,
    decode_image,
    encode_image,
    is_image_name,
    output_format_named,
    png_output_loss,
    tiff_output_loss,
)
from .io.outputs import NAME_MAX, ReadSet, check_output_option, ensure_folder, protecting, resolved, write_file
from .io.pictures import side_by_side
from .io.regular import not_regular
from .io.reports import write_report
from .models.checkpoint import LoadedModel
from .models.inference import Smoothing, denoise_array
from .noise.estimate import estimate_noise_sigma

SUFFIX = "_denoised"
#: ``--tile`` bounds: below, the overlap is most of each tile; above, one tile's activations alone need
#: gigabytes (the default model holds about 200 bytes a pixel while it runs).
MIN_TILE, MAX_TILE = 64, 4096
#: ``--format``: ``auto`` (the default) writes JPEG for JPEG inputs, TIFF for TIFF inputs and PNG for the rest
#: (PNG, BMP, WebP, PPM: lossless), by the input's suffix (``images.OUTPUT_FORMATS``); the others name one format
#: for every output.
AUTO = "auto"
FORMATS = (AUTO, *OUTPUT_FORMAT_NAMES)
#: The most ``max_megapixels`` may raise Pillow's decompression-bomb limit to (``Image.MAX_IMAGE_PIXELS``, about
#: 89.5 MP by default): a 1,000 MP photo takes about 12 GB decoded as float32 RGB, and as much again denoised.
MAX_MEGAPIXELS = 1000.0


@dataclass
class FileResult:
    """What happened to one input: the output written, or the error that stopped it.

    ``estimated_sigma`` is the input's Gaussian noise level on the 0-255 scale (``estimate_noise_sigma``),
    for information; ``model_level`` is the level a level-conditioned model was told. ``timings`` holds the
    seconds spent decoding (with the noise estimate), in the model, encoding and writing; ``seconds`` is their
    sum (the stages of different files overlap in time). ``skipped``: every file it would write existed and
    ``--skip-existing`` kept them (done, not an error).
    """

    source: Path
    output: Path | None = None
    error: str | None = None
    megapixels: float = 0.0
    seconds: float = 0.0
    estimated_sigma: float | None = None
    model_level: float | None = None
    side_by_side: Path | None = None
    side_by_side_error: str | None = None
    bit_depth: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe record of this file, for ``denoise --report``."""
        return {
            "input": str(self.source),
            "output": str(self.output) if self.output else None,
            "skipped_existing": self.skipped,
            "side_by_side": str(self.side_by_side) if self.side_by_side else None,
            "side_by_side_error": self.side_by_side_error,
            "error": self.error,
            "megapixels": self.megapixels,
            "bit_depth": self.bit_depth,
            "estimated_sigma_255": self.estimated_sigma,
            "model_noise_level_255": self.model_level,
            "notes": self.notes,
            "seconds": {**self.timings, "total": self.seconds},
        }


@dataclass(frozen=True)
class OutputSettings:
    """How outputs are written: ``fmt`` (``auto``: as the input, see ``FORMATS``; png, jpeg, tiff),
    ``overwrite`` existing files, or ``skip_existing`` ones (kept, counted as done), the PNG zlib level
    (``png_level`` 0-9; PNG is lossless at every level, 1 is several times faster than 9) and the JPEG
    ``quality`` (1-100)."""

    fmt: str = AUTO
    overwrite: bool = False
    png_level: int = DEFAULT_PNG_LEVEL
    quality: int = DEFAULT_JPEG_QUALITY
    skip_existing: bool = False


def side_by_side_path(output: Path) -> Path:
    """``photo_denoised.png`` -> ``photo_denoised_side_by_side.png``."""
    return output.with_name(f"{output.stem}_side_by_side.png")


def _has_magic(part: str) -> bool:
    return any(char in part for char in "*?[")


def _glob(pattern: str) -> tuple[Path, list[Path]]:
    """The fixed part of a glob pattern (the folder before its first wildcard) and the files matching it (``**``
    is recursive). pathlib never follows links to folders while matching ``**``, so a link loop cannot make this
    run forever (``glob.glob`` would)."""
    parts = Path(pattern).parts
    first_magic = next(index for index, part in enumerate(parts) if _has_magic(part))
    base = Path(*parts[:first_magic]) if first_magic else Path()
    return base, sorted(path for path in base.glob(str(Path(*parts[first_magic:]))) if path.is_file())


def _is_output(path: Path) -> bool:
    """Whether a file is named like an earlier run's output (``x_denoised.png``, ``x_denoised_side_by_side.png``)."""
    return path.stem.endswith((SUFFIX, f"{SUFFIX}_side_by_side"))


def _left_out(folder: Path) -> list[Path]:
    """Entries inside ``folder`` that its scan does not take although they look like inputs: links to folders
    (never descended), broken or looping links named like images, and image-named FIFOs, devices and sockets
    (never opened: they could block)."""
    left_out = []
    for path in folder.rglob("*"):
        if path.is_symlink():
            if not path.is_file() and (path.is_dir() or is_image_name(path.name)):
                left_out.append(path)
        elif is_image_name(path.name) and not_regular(path.lstat().st_mode) is not None:
            left_out.append(path)
    return sorted(left_out)


@dataclass(frozen=True)
class InputFile:
    """A file to denoise as the user named it (``path``), and its ``place`` under an output folder: its path
    inside the folder it was found in, or below the fixed part of the glob that matched it, else its name."""

    path: Path
    place: Path


@dataclass
class InputScan:
    """What ``scan_inputs`` found: the files to denoise, and the files inside the input folders that are not
    images this tool reads (HEIC, camera raw, videos, ...; hidden files aside)."""

    files: list[InputFile]
    not_images: list[Path]


def _is_hidden(relative: Path) -> bool:
    """Hidden files and folders (``.DS_Store``, macOS's ``._IMG_0001.JPG``, ``.thumbnails/``) are never scanned."""
    return any(part.startswith(".") for part in relative.parts)


def _scan_folder(folder: Path, scan: InputScan, item: str, on_note: Callable[[str], None] | None) -> None:
    """Add the images inside ``folder`` (recursively, hidden entries and earlier outputs aside) to ``scan``, and
    its other files to ``scan.not_images``; ``on_note`` hears of the links and special files left out."""
    for entry in sorted(folder.rglob("*")):
        relative = entry.relative_to(folder)
        if _is_hidden(relative) or not entry.is_file() or _is_output(entry):
            continue
        if is_image_name(entry.name):
            scan.files.append(InputFile(entry, relative))
        else:
            scan.not_images.append(entry)
    skipped = _left_out(folder)
    if skipped and on_note:
        names = ", ".join(shorten(str(entry.relative_to(folder)), 60) for entry in skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        entries = "1 entry" if len(skipped) == 1 else f"{len(skipped)} entries"
        on_note(
            f"{item}: {entries} left out (links to folders, which are not followed, broken links, and "
            f"FIFOs or devices, which are never opened): {names}{more}"
        )


def scan_inputs(items: list[str], on_note: Callable[[str], None] | None = None) -> InputScan:
    """Files as given, image files inside folders (recursively; a link to a file is taken under its own name,
    links to folders are not followed, hidden entries are left out) and glob matches, without duplicates (the
    same file under two names is taken once, under the first). Paths stay as the user named them (a link is not
    replaced by its target), so outputs are named after them. Folders and globs skip earlier outputs
    (``*_denoised*``), so running again on a folder does not denoise its results; a file named explicitly is
    always taken. ``on_note`` hears of the links a folder scan leaves out."""
    scan = InputScan([], [])
    for item in items:
        path = Path(item)
        if path.is_dir():
            _scan_folder(path, scan, item, on_note)
        elif _has_magic(item) and not path.exists():
            base, matches = _glob(item)
            scan.files += [InputFile(match, match.relative_to(base)) for match in matches if not _is_output(match)]
        else:
            scan.files.append(InputFile(path, Path(path.name)))
    unique: dict[Path, InputFile] = {}
    for found in scan.files:
        unique.setdefault(resolved(found.path), found)
    if not unique:
        raise CaeDenoiseError(f"no input images found in: {shorten(' '.join(items))}")
    scan.files = list(unique.values())
    return scan


def output_format(source: Path, fmt: str) -> str:
    """The format an input's output is written in: ``png``, ``jpeg`` or ``tiff`` (``fmt`` ``auto``: by the
    input's suffix, see ``FORMATS``; ``jpg`` and ``tif`` are the same as ``jpeg`` and ``tiff``)."""
    if fmt.lower() == AUTO:
        suffix = source.suffix.lower()
        return next(
            (key for key, found in OUTPUT_FORMATS.items() if suffix in found.inputs), next(iter(OUTPUT_FORMATS))
        )
    key = output_format_named(fmt)
    if key is None:
        raise UsageError(f"--format {shorten(repr(fmt))}: choose {', '.join(FORMATS)}")
    return key


def output_path(source: Path, out_dir: Path | None, fmt: str, place: Path | None = None) -> Path:
    """``photo.jpg`` -> ``photo_denoised.jpg`` (``fmt`` ``auto``) next to it, or under ``out_dir`` at the input's
    ``place`` (``InputFile``; by default its name): ``DCIM/100APPLE/x.jpg`` found in ``DCIM`` goes to
    ``OUT/100APPLE/x_denoised.jpg``."""
    suffix = OUTPUT_FORMATS[output_format(source, fmt)].suffix
    folder = source.parent if out_dir is None else out_dir / (place or Path(source.name)).parent
    return folder / f"{source.stem}{SUFFIX}{suffix}"


def check_denoise_options(
    fmt: str, tile: int | None, png_level: int, quality: int = DEFAULT_JPEG_QUALITY, max_megapixels: float | None = None
) -> None:
    """Refuse bad ``--format``, ``--tile``, ``--png-level``, ``--quality`` and ``--max-megapixels`` values before
    any work starts."""
    output_format(Path("x"), fmt)
    if tile is not None and not MIN_TILE <= tile <= MAX_TILE:
        raise UsageError(f"--tile {tile}: must be between {MIN_TILE} and {MAX_TILE} pixels")
    if not 0 <= png_level <= 9:
        raise UsageError(f"--png-level {png_level}: must be 0 (no compression) to 9")
    if not 1 <= quality <= 100:
        raise UsageError(f"--quality {quality}: must be 1 to 100 (JPEG quality; 95 by default)")
    if max_megapixels is not None and not (math.isfinite(max_megapixels) and 0 < max_megapixels <= MAX_MEGAPIXELS):
        raise UsageError(f"--max-megapixels {max_megapixels:g}: must be above 0 and at most {MAX_MEGAPIXELS:g}")


@contextlib.contextmanager
def pixel_limit(megapixels: float | None) -> Iterator[None]:
    """Pillow's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``, checked from each file's header before a
    pixel is decoded) set to ``megapixels`` for the block; None keeps it."""
    if megapixels is None:
        yield
        return
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = int(megapixels * 1e6)
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def report_body(
    loaded: LoadedModel,
    results: list[FileResult],
    device: torch.device | str,
    seconds: float,
    not_images: list[Path] | tuple[Path, ...] = (),
) -> dict:
    """``denoise --report``: one record per file, the files of the input folders that are not images it reads,
    the model (with its weights' SHA-256), device and wall time."""
    return {
        "model": {"spec": loaded.name, "arch": loaded.payload.get("arch"), "weights_sha256": loaded.weights_sha256()},
        "device": str(device),
        "files": [result.to_dict() for result in results],
        "denoised": sum(result.error is None and not result.skipped for result in results),
        "skipped_existing": sum(result.skipped for result in results),
        "failed": sum(result.error is not None for result in results),
        "side_by_side_not_written": sum(result.side_by_side_error is not None for result in results),
        "not_images": [str(path) for path in not_images],
        "wall_time_s": seconds,
    }


@dataclass
class DenoiseRun:
    """What ``denoise_files`` did: a ``FileResult`` per input file (in input order), the files of the input
    folders that are not images it reads, and the report's body (``report_body``)."""

    files: list[FileResult]
    not_images: list[Path]
    report: dict[str, Any]


@dataclass
class PlannedFile:
    """One input, the format and files it will write, and why it will not be processed, if it will not;
    ``kept``: those of its files that exist and ``skip_existing`` keeps."""

    source: Path
    output: Path
    side_by_side: Path | None
    fmt: str = "png"
    refusal: str | None = None
    kept: tuple[Path, ...] = ()

    def outputs(self) -> list[Path]:
        """The files this input writes."""
        return [path for path in (self.output, self.side_by_side) if path is not None]

    @property
    def done(self) -> bool:
        """Every file it would write exists and is kept: nothing to do."""
        return bool(self.kept) and set(self.kept) == set(self.outputs())


def plan_outputs(
    sources: list[InputFile],
    out_dir: Path | None,
    fmt: str,
    *,
    overwrite: bool,
    write_side_by_side: bool,
    reads: ReadSet | None = None,
    skip_existing: bool = False,
) -> list[PlannedFile]:
    """Name every output of a run before anything is written, and refuse the inputs whose outputs would
    clash: two inputs naming one output (``x.png`` and ``x.jpg`` with ``--format png``; ``a/x.png`` and ``b/x.png``
    given as two folders, with ``-o``), an output that is a file the run reads (an input, the model: ``reads``, by
    default the inputs), a name too long for a file, or an existing file without ``overwrite`` (with
    ``skip_existing``, an existing file is kept instead: ``PlannedFile.kept``)."""
    if reads is None:
        reads = files_read(inputs=[source.path for source in sources])
    plans = []
    for source in sources:
        output = output_path(source.path, out_dir, fmt, source.place)
        picture = side_by_side_path(output) if write_side_by_side else None
        plans.append(PlannedFile(source.path, output, picture, output_format(source.path, fmt)))
    where = {path: resolved(path) for plan in plans for path in plan.outputs()}
    claimed: dict[Path, list[Path]] = {}
    for plan in plans:
        for path in plan.outputs():
            claimed.setdefault(where[path], []).append(plan.source)
    for plan in plans:
        for path in plan.outputs():
            others = [other for other in claimed[where[path]] if other != plan.source]
            role = reads.role_of(path)
            if others:
                plan.refusal = f"{plan.source}: {others[0]} would write the same output {path}; rename one of them"
            elif role is not None:
                plan.refusal = f"{plan.source}: output {path} would overwrite {role}; use -o DIR"
            elif len(os.fsencode(path.name)) > NAME_MAX:
                plan.refusal = (
                    f"{plan.source}: its output's name would be {len(os.fsencode(path.name))} bytes, over the "
                    f"{NAME_MAX} a file name may have; rename the input"
                )
            elif skip_existing and path.is_file():
                plan.kept += (path,)
            elif (path.exists() or path.is_symlink()) and not overwrite:
                plan.refusal = f"{plan.source}: {path} exists; pass --overwrite to replace it (or --skip-existing)"
            if plan.refusal:
                break
    return plans


def encoder_threads() -> int:
    """Writer threads: one per four CPU cores, 1 to 4 (zlib and Pillow's encoders release the GIL, so on a
    16-core GPU machine several PNGs encode at once, the slowest stage there; a 2-core laptop keeps one)."""
    return max(1, min(4, (os.cpu_count() or 1) // 4))


def format_losses(decoded: DecodedImage, fmt: str) -> list[str]:
    """What the output format cannot keep of this input, and what could not be read of it (said to the user
    rather than dropped silently)."""
    losses = list(decoded.notes)
    written = output_format(Path("x"), fmt)
    if written == "jpeg" and decoded.alpha is not None:
        losses.append("JPEG has no alpha channel: transparency dropped")
    kind = (decoded.grayscale, decoded.alpha is not None, decoded.bit_depth)
    if written == "png":
        losses += filter(None, [png_output_loss(*kind)])
    elif written == "tiff":
        losses += filter(None, [tiff_output_loss(*kind, decoded.exif)])
    elif written == "jpeg" and decoded.bit_depth == 16:
        losses.append("written at 8 bits (JPEG holds 8 bits only)")
    return losses


def _read(source: Path) -> tuple[DecodedImage, float, dict[str, float]]:
    """Decode a file and estimate its noise level (in the reader thread); returns the timings too."""
    tick = time.perf_counter()
    try:
        decoded = decode_image(source)
    except CaeDenoiseError as error:
        if not str(error).endswith("(possible decompression bomb)"):
            raise
        raise CaeDenoiseError(f"{error}; if you trust the file, raise the limit with --max-megapixels") from error
    decoded_at = time.perf_counter()
    sigma = estimate_noise_sigma(decoded.rgb)
    return decoded, sigma, {"decode": decoded_at - tick, "noise_estimate": time.perf_counter() - decoded_at}


def _encode_and_write(
    plan: PlannedFile, decoded: DecodedImage, clean: np.ndarray, settings: OutputSettings
) -> tuple[dict[str, float], str | None]:
    """Encode and write the output, then the side-by-side picture (in the writer thread), each unless it is
    kept (``PlannedFile.kept``). Returns the timings and why the picture could not be written, if it could not:
    the output is written all the same, and counted."""
    timings = {"encode": 0.0, "write": 0.0}
    if plan.output not in plan.kept:
        tick = time.perf_counter()
        data = encode_image(
            clean,
            alpha=decoded.alpha,
            grayscale=decoded.grayscale,
            bit_depth=decoded.bit_depth,
            fmt=plan.fmt,
            exif=decoded.exif,
            icc_profile=decoded.icc_profile,
            png_level=settings.png_level,
            jpeg_quality=settings.quality,
        )
        encoded = time.perf_counter()
        write_file(plan.output, data, overwrite=settings.overwrite)
        timings = {"encode": encoded - tick, "write": time.perf_counter() - encoded}
    if plan.side_by_side is None or plan.side_by_side in plan.kept:
        return timings, None
    tick = time.perf_counter()
    try:
        picture = encode_image(
            side_by_side(decoded.rgb, clean), grayscale=decoded.grayscale, png_level=settings.png_level
        )
        encoded = time.perf_counter()
        write_file(plan.side_by_side, picture, overwrite=settings.overwrite)
    except CaeDenoiseError as error:
        return timings, f"side-by-side picture not written: {error}"
    timings["encode"] += encoded - tick
    timings["write"] += time.perf_counter() - encoded
    return timings, None


def _denoise_one(
    loaded: LoadedModel,
    plan: PlannedFile,
    read: Future,
    writer: ThreadPoolExecutor,
    settings: OutputSettings,
    *,
    device: torch.device | str,
    tile: int | None,
    smoothing: Smoothing,
    on_tiles: Callable[[int, int], None] | None,
) -> tuple[FileResult, Future | None]:
    """Run the model on one decoded file (in this thread) and hand its output to the writer."""
    try:
        decoded, sigma, timings = read.result()
    except CaeDenoiseError as error:
        return FileResult(plan.source, error=str(error)), None
    tick = time.perf_counter()
    level = smoothing.told_level(loaded.model, decoded.rgb, device, donoho=sigma)
    try:
        clean = denoise_array(loaded.model, decoded.rgb, device=device, tile=tile, noise_level=level, on_tiles=on_tiles)
    except CaeDenoiseError as error:
        return FileResult(plan.source, error=f"{plan.source}: {error}"), None
    timings["model"] = time.perf_counter() - tick
    height, width = clean.shape[:2]
    result = FileResult(
        plan.source,
        plan.output,
        megapixels=height * width / 1e6,
        estimated_sigma=sigma,
        model_level=level,
        side_by_side=plan.side_by_side,
        bit_depth=decoded.bit_depth,
        timings=timings,
        notes=format_losses(decoded, plan.fmt) if plan.output not in plan.kept else list(decoded.notes),
    )
    return result, writer.submit(_encode_and_write, plan, decoded, clean, settings)


def denoise_files(
    loaded: LoadedModel,
    inputs: list[str],
    *,
    out_dir: str | Path | None = None,
    settings: OutputSettings = OutputSettings(),
    device: torch.device | str = "cpu",
    tile: int | None = None,
    smoothing: Smoothing | None = None,
    write_side_by_side: bool = False,
    report: str | Path | None = None,
    on_start: Callable[[int], None] | None = None,
    on_file: Callable[[FileResult], None] | None = None,
    on_tiles: Callable[[int, int], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    max_megapixels: float | None = None,
) -> DenoiseRun:
    """Denoise every input; a file that fails or is refused is recorded with its reason and the rest still run.

    Three stages overlap: a reader thread decodes the next file while the model runs on this one, and writer
    threads (``encoder_threads``) encode and write the previous ones, so at most ``2 + encoder_threads()`` images
    are in memory at once. Results (and ``on_file`` calls) come in input order. ``on_start`` gets the number of
    files found, ``on_tiles`` (done, total) tiles of the file in the model, ``on_note`` what the input scan left
    out. ``smoothing`` sets the level a level-conditioned model is told (default: as estimated). ``report``, a
    ``.json`` path checked before any work, receives ``report_body`` at the end. ``max_megapixels`` replaces
    Pillow's decompression-bomb limit for the run (``pixel_limit``). Under ``out_dir`` the tree of each input
    folder is mirrored (``output_path``). No file the run reads (an input, the model) is replaced.
    """
    started, smoothing = time.perf_counter(), smoothing or Smoothing()
    scan = scan_inputs(inputs, on_note)
    reads = files_read(inputs=[found.path for found in scan.files], checkpoints=[("--model", loaded.name)])
    with protecting(reads), pixel_limit(max_megapixels):
        report_path = Path(report) if report is not None else None
        check_output_option(report_path, "--report", ".json", overwrite=settings.overwrite)
        target_dir = Path(out_dir) if out_dir else None
        if target_dir is not None and target_dir.exists() and not target_dir.is_dir():
            raise UsageError(f"-o {target_dir}: exists and is not a folder")
        if settings.overwrite and settings.skip_existing:
            raise UsageError("give --overwrite or --skip-existing, not both: one replaces existing outputs, one keeps")
        plans = plan_outputs(
            scan.files,
            target_dir,
            settings.fmt,
            overwrite=settings.overwrite,
            write_side_by_side=write_side_by_side,
            reads=reads,
            skip_existing=settings.skip_existing,
        )
        if target_dir is not None and any(not plan.refusal and not plan.done for plan in plans):  # nothing to write
            ensure_folder(target_dir, f"-o {target_dir}")
        if on_start:
            on_start(len(plans))
        results = _run_plans(
            loaded, plans, settings, device=device, tile=tile, smoothing=smoothing, on_file=on_file, on_tiles=on_tiles
        )
        body = report_body(loaded, results, device, time.perf_counter() - started, scan.not_images)
        if report_path is not None:
            write_report(report_path, "denoise", body, overwrite=settings.overwrite)
    return DenoiseRun(results, scan.not_images, body)


def _run_plans(
    loaded: LoadedModel,
    plans: list[PlannedFile],
    settings: OutputSettings,
    *,
    device: torch.device | str,
    tile: int | None,
    smoothing: Smoothing,
    on_file: Callable[[FileResult], None] | None,
    on_tiles: Callable[[int, int], None] | None,
) -> list[FileResult]:
    """The three overlapping stages of ``denoise_files`` over the planned files; results in input order."""
    results: list[FileResult] = []

    def finish(result: FileResult, write: Future | None) -> None:
        if write is not None:
            try:
                timings, picture_error = write.result()
            except CaeDenoiseError as error:
                message = str(error)
                named = message if str(result.source) in message else f"{result.source}: {message}"
                result = FileResult(result.source, error=named)
            else:
                result.timings.update(timings)
                result.seconds = sum(result.timings.values())
                if picture_error is not None:
                    result.side_by_side, result.side_by_side_error = None, f"{result.source}: {picture_error}"
        results.append(result)
        if on_file:
            on_file(result)

    writers = encoder_threads()
    with (
        ThreadPoolExecutor(1, thread_name_prefix="read") as reader,
        ThreadPoolExecutor(writers, thread_name_prefix="write") as writer,
    ):

        def read(index: int) -> Future | None:
            if index >= len(plans) or plans[index].refusal or plans[index].done:
                return None
            return reader.submit(_read, plans[index].source)

        try:
            upcoming, pending = read(0), deque()
            for index, plan in enumerate(plans):
                current, upcoming = upcoming, read(index + 1)
                if current is None and plan.refusal:
                    pending.append((FileResult(plan.source, error=plan.refusal), None))
                elif current is None:  # every file it writes exists, kept (--skip-existing)
                    kept = FileResult(plan.source, plan.output, side_by_side=plan.side_by_side, skipped=True)
                    pending.append((kept, None))
                else:
                    pending.append(
                        _denoise_one(
                            loaded,
                            plan,
                            current,
                            writer,
                            settings,
                            device=device,
                            tile=tile,
                            smoothing=smoothing,
                            on_tiles=on_tiles,
                        )
                    )
                while len(pending) > writers:  # bounded: never more than `writers` outputs waiting to be written
                    finish(*pending.popleft())
            while pending:
                finish(*pending.popleft())
        except BaseException:  # Ctrl-C or SIGTERM: the writes in flight finish, no queued one starts after
            reader.shutdown(cancel_futures=True)
            writer.shutdown(cancel_futures=True)
            raise
    return results
