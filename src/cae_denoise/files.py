"""Denoise image files (``cae-denoise denoise``): expand inputs, name outputs, keep going past a bad file.

An input (nor the model's checkpoint) is never overwritten, nor an existing output unless asked. Outputs are named
after the path the user gave and land next to it (a link ``dir/link.png`` gives ``dir/link_denoised.png``, wherever
the link points).

Each output keeps its input's kind: grayscale stays grayscale, alpha is carried through untouched,
16-bit input is written as 16-bit where the format allows, and the EXIF block (orientation reset, since the
pixels are already upright) and ICC profile are carried over where the format can hold them.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import LoadedModel
from .errors import CaeDenoiseError, UsageError, shorten
from .images import (
    DEFAULT_PNG_LEVEL,
    DecodedImage,
    decode_image,
    encode_image,
    is_image_name,
    png_output_loss,
    tiff_output_loss,
)
from .inference import denoise_array, estimated_level
from .models import takes_noise_level
from .noise import estimate_noise_sigma
from .outputs import NAME_MAX, ReadSet, check_output_option, ensure_folder, protecting, resolved, write_file
from .pictures import side_by_side
from .reads import files_read
from .regular import not_regular
from .reports import write_report

SUFFIX = "_denoised"
#: ``--tile`` bounds: below, the overlap is most of each tile; above, one tile's activations alone need
#: gigabytes (the default model holds about 200 bytes a pixel while it runs).
MIN_TILE, MAX_TILE = 64, 4096
FORMAT_SUFFIXES = {"png": ".png", "jpeg": ".jpg", "jpg": ".jpg", "tiff": ".tif", "tif": ".tif"}


@dataclass
class FileResult:
    """What happened to one input: the output written, or the error that stopped it.

    ``estimated_sigma`` is the input's Gaussian noise level on the 0-255 scale (``estimate_noise_sigma``),
    for information; ``model_level`` is the level a level-conditioned model was told. ``timings`` holds the
    seconds spent decoding (with the noise estimate), in the model, encoding and writing; ``seconds`` is their
    sum (the stages of different files overlap in time).
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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe record of this file, for ``denoise --report``."""
        return {
            "input": str(self.source),
            "output": str(self.output) if self.output else None,
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
class Smoothing:
    """How hard a level-conditioned model smooths: told ``level`` (0-255) if given, else each image's
    estimated level times ``strength`` (above 1 smoother, below 1 more detail and noise kept)."""

    strength: float = 1.0
    level: float | None = None

    def level_for(self, estimated: float) -> float:
        """The level a model is told for an image whose estimated level is ``estimated``."""
        return self.level if self.level is not None else estimated * self.strength

    def check(self, loaded: LoadedModel) -> None:
        """Refuse values out of range, and any setting for a model that is not told a level."""
        if not (math.isfinite(self.strength) and 0 < self.strength <= 10):
            raise UsageError(f"--strength {self.strength:g}: must be above 0 and at most 10 (1 = as estimated)")
        if self.level is not None and not 0 <= self.level <= 255:
            raise UsageError(f"--noise-level {self.level:g}: must be in [0, 255]")
        if (self.strength != 1 or self.level is not None) and not takes_noise_level(loaded.model):
            raise UsageError(
                f"--strength and --noise-level need a model that is told the noise level; "
                f"{loaded.name} ({loaded.payload.get('arch')}) is not"
            )


@dataclass(frozen=True)
class OutputSettings:
    """How outputs are written: ``fmt`` (png, jpeg, tiff), ``overwrite`` existing files, and the PNG zlib
    level (``png_level`` 0-9; PNG is lossless at every level, 1 is several times faster than 9)."""

    fmt: str = "png"
    overwrite: bool = False
    png_level: int = DEFAULT_PNG_LEVEL


def side_by_side_path(output: Path) -> Path:
    """``photo_denoised.png`` -> ``photo_denoised_side_by_side.png``."""
    return output.with_name(f"{output.stem}_side_by_side.png")


def _has_magic(part: str) -> bool:
    return any(char in part for char in "*?[")


def _glob(pattern: str) -> list[Path]:
    """Files matching a glob pattern (``**`` is recursive). pathlib never follows links to folders while
    matching ``**``, so a link loop cannot make this run forever (``glob.glob`` would)."""
    parts = Path(pattern).parts
    first_magic = next(index for index, part in enumerate(parts) if _has_magic(part))
    base = Path(*parts[:first_magic]) if first_magic else Path()
    return sorted(path for path in base.glob(str(Path(*parts[first_magic:]))) if path.is_file())


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


def expand_inputs(items: list[str], on_note: Callable[[str], None] | None = None) -> list[Path]:
    """Files as given, image files inside folders (recursively; a link to a file is taken under its own name,
    links to folders are not followed) and glob matches, without duplicates (the same file under two names is
    taken once, under the first). Paths stay as the user named them (a link is not replaced by its target), so
    outputs are named after them. Folders and globs skip earlier outputs (``*_denoised*``), so running again on a
    folder does not denoise its results; a file named explicitly is always taken. ``on_note`` hears of the links a
    folder scan leaves out."""
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and is_image_name(p.name) and not _is_output(p))
            skipped = _left_out(path)
            if skipped and on_note:
                names = ", ".join(shorten(str(entry.relative_to(path)), 60) for entry in skipped[:3])
                more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
                entries = "1 entry" if len(skipped) == 1 else f"{len(skipped)} entries"
                on_note(
                    f"{item}: {entries} left out (links to folders, which are not followed, broken links, and "
                    f"FIFOs or devices, which are never opened): {names}{more}"
                )
        elif _has_magic(item) and not path.exists():
            found += [match for match in _glob(item) if not _is_output(match)]
        else:
            found.append(path)
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(resolved(path), path)
    if not unique:
        raise CaeDenoiseError(f"no input images found in: {shorten(' '.join(items))}")
    return list(unique.values())


def output_path(source: Path, out_dir: Path | None, fmt: str) -> Path:
    """``photo.jpg`` -> ``photo_denoised.png`` next to it, or under ``out_dir``."""
    suffix = FORMAT_SUFFIXES.get(fmt.lower())
    if suffix is None:
        raise UsageError(f"--format {shorten(repr(fmt))}: choose png, jpeg or tiff")
    return (out_dir or source.parent) / f"{source.stem}{SUFFIX}{suffix}"


def check_denoise_options(fmt: str, tile: int | None, png_level: int) -> None:
    """Refuse bad ``--format``, ``--tile`` and ``--png-level`` values before any work starts."""
    output_path(Path("x"), None, fmt)
    if tile is not None and not MIN_TILE <= tile <= MAX_TILE:
        raise UsageError(f"--tile {tile}: must be between {MIN_TILE} and {MAX_TILE} pixels")
    if not 0 <= png_level <= 9:
        raise UsageError(f"--png-level {png_level}: must be 0 (no compression) to 9")


def report_body(loaded: LoadedModel, results: list[FileResult], device: torch.device | str, seconds: float) -> dict:
    """``denoise --report``: one record per file, the model (with its weights' SHA-256), device and wall time."""
    return {
        "model": {"spec": loaded.name, "arch": loaded.payload.get("arch"), "weights_sha256": loaded.weights_sha256()},
        "device": str(device),
        "files": [result.to_dict() for result in results],
        "denoised": sum(result.error is None for result in results),
        "failed": sum(result.error is not None for result in results),
        "side_by_side_not_written": sum(result.side_by_side_error is not None for result in results),
        "wall_time_s": seconds,
    }


@dataclass
class PlannedFile:
    """One input and the files it will write, or why it will not be processed."""

    source: Path
    output: Path
    side_by_side: Path | None
    refusal: str | None = None


def plan_outputs(
    sources: list[Path],
    out_dir: Path | None,
    fmt: str,
    *,
    overwrite: bool,
    write_side_by_side: bool,
    reads: ReadSet | None = None,
) -> list[PlannedFile]:
    """Name every output of a run before anything is written, and refuse the inputs whose outputs would
    clash: two inputs naming one output (``x.png`` and ``x.jpg``; ``a/x.png`` and ``b/x.png`` with ``-o``),
    an output that is a file the run reads (an input, the model: ``reads``, by default the inputs), a name too
    long for a file, or an existing file without ``overwrite``."""
    if reads is None:
        reads = files_read(inputs=sources)
    plans = []
    for source in sources:
        output = output_path(source, out_dir, fmt)
        plans.append(PlannedFile(source, output, side_by_side_path(output) if write_side_by_side else None))
    where = {path: resolved(path) for plan in plans for path in filter(None, (plan.output, plan.side_by_side))}
    claimed: dict[Path, list[Path]] = {}
    for plan in plans:
        for path in filter(None, (plan.output, plan.side_by_side)):
            claimed.setdefault(where[path], []).append(plan.source)
    for plan in plans:
        for path in filter(None, (plan.output, plan.side_by_side)):
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
            elif (path.exists() or path.is_symlink()) and not overwrite:
                plan.refusal = f"{plan.source}: {path} exists; pass --overwrite to replace it"
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
    suffix = FORMAT_SUFFIXES[fmt.lower()]
    if suffix == ".jpg" and decoded.alpha is not None:
        losses.append("JPEG has no alpha channel: transparency dropped")
    kind = (decoded.grayscale, decoded.alpha is not None, decoded.bit_depth)
    if suffix == ".png":
        losses += filter(None, [png_output_loss(*kind)])
    elif suffix == ".tif":
        losses += filter(None, [tiff_output_loss(*kind, decoded.exif)])
    elif decoded.bit_depth == 16:
        losses.append("written at 8 bits (JPEG holds 8 bits only)")
    return losses


def _read(source: Path) -> tuple[DecodedImage, float, dict[str, float]]:
    """Decode a file and estimate its noise level (in the reader thread); returns the timings too."""
    tick = time.perf_counter()
    decoded = decode_image(source)
    decoded_at = time.perf_counter()
    sigma = estimate_noise_sigma(decoded.rgb)
    return decoded, sigma, {"decode": decoded_at - tick, "noise_estimate": time.perf_counter() - decoded_at}


def _encode_and_write(
    plan: PlannedFile, decoded: DecodedImage, clean: np.ndarray, settings: OutputSettings
) -> tuple[dict[str, float], str | None]:
    """Encode and write the output, then the side-by-side picture (in the writer thread). Returns the timings
    and why the picture could not be written, if it could not: the output is written all the same, and counted."""
    tick = time.perf_counter()
    data = encode_image(
        clean,
        alpha=decoded.alpha,
        grayscale=decoded.grayscale,
        bit_depth=decoded.bit_depth,
        fmt=settings.fmt,
        exif=decoded.exif,
        icc_profile=decoded.icc_profile,
        png_level=settings.png_level,
    )
    encoded = time.perf_counter()
    write_file(plan.output, data, overwrite=settings.overwrite)
    timings = {"encode": encoded - tick, "write": time.perf_counter() - encoded}
    if plan.side_by_side is None:
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
    level = None
    if takes_noise_level(loaded.model):
        level = smoothing.level_for(estimated_level(loaded.model, decoded.rgb, device, donoho=sigma))
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
        notes=format_losses(decoded, settings.fmt),
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
    smoothing: Smoothing = Smoothing(),
    write_side_by_side: bool = False,
    report: str | Path | None = None,
    on_start: Callable[[int], None] | None = None,
    on_file: Callable[[FileResult], None] | None = None,
    on_tiles: Callable[[int, int], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> list[FileResult]:
    """Denoise every input; a file that fails or is refused is recorded with its reason and the rest still run.

    Three stages overlap: a reader thread decodes the next file while the model runs on this one, and writer
    threads (``encoder_threads``) encode and write the previous ones, so at most ``2 + encoder_threads()`` images
    are in memory at once. Results (and ``on_file`` calls) come in input order. ``on_start`` gets the number of
    files found, ``on_tiles`` (done, total) tiles of the file in the model, ``on_note`` what the input scan left
    out. ``smoothing`` sets the level a level-conditioned model is told. ``report``, a ``.json`` path checked
    before any work, receives ``report_body`` at the end. No file the run reads (an input, the model) is replaced.
    """
    started = time.perf_counter()
    sources = expand_inputs(inputs, on_note)
    reads = files_read(inputs=sources, checkpoints=[("--model", loaded.name)])
    with protecting(reads):
        report_path = Path(report) if report is not None else None
        check_output_option(report_path, "--report", ".json", overwrite=settings.overwrite)
        target_dir = Path(out_dir) if out_dir else None
        if target_dir is not None and target_dir.exists() and not target_dir.is_dir():
            raise UsageError(f"-o {target_dir}: exists and is not a folder")
        plans = plan_outputs(
            sources,
            target_dir,
            settings.fmt,
            overwrite=settings.overwrite,
            write_side_by_side=write_side_by_side,
            reads=reads,
        )
        if target_dir is not None and any(not plan.refusal for plan in plans):  # nothing to write: no empty folder
            ensure_folder(target_dir, f"-o {target_dir}")
        if on_start:
            on_start(len(plans))
        results = _run_plans(
            loaded, plans, settings, device=device, tile=tile, smoothing=smoothing, on_file=on_file, on_tiles=on_tiles
        )
        if report_path is not None:
            body = report_body(loaded, results, device, time.perf_counter() - started)
            write_report(report_path, "denoise", body, overwrite=settings.overwrite)
    return results


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
            if index >= len(plans) or plans[index].refusal:
                return None
            return reader.submit(_read, plans[index].source)

        upcoming, pending = read(0), deque()
        for index, plan in enumerate(plans):
            current, upcoming = upcoming, read(index + 1)
            if current is None:
                pending.append((FileResult(plan.source, error=plan.refusal), None))
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
    return results
