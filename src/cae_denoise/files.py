"""Denoise image files (``cae-denoise denoise``): expand inputs, name outputs, keep going past a bad file.

An input is never overwritten, nor an existing output unless asked.

Each output keeps its input's kind: grayscale stays grayscale, alpha is carried through untouched,
16-bit input is written as 16-bit where the format allows, and the EXIF block (orientation reset, since the
pixels are already upright) and ICC profile are carried over where the format can hold them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint import LoadedModel
from .errors import CaeDenoiseError, UsageError
from .images import decode_image, encode_image, is_image_name
from .inference import denoise_array
from .noise import estimate_noise_sigma
from .outputs import ensure_folder, write_file
from .pictures import side_by_side

SUFFIX = "_denoised"
FORMAT_SUFFIXES = {"png": ".png", "jpeg": ".jpg", "jpg": ".jpg", "tiff": ".tif", "tif": ".tif"}


@dataclass
class FileResult:
    """What happened to one input: the output written, or the error that stopped it.

    ``estimated_sigma`` is the input's Gaussian noise level on the 0-255 scale (``estimate_noise_sigma``),
    for information.
    """

    source: Path
    output: Path | None = None
    error: str | None = None
    megapixels: float = 0.0
    seconds: float = 0.0
    estimated_sigma: float | None = None
    side_by_side: Path | None = None


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


def expand_inputs(items: list[str]) -> list[Path]:
    """Files as given, image files inside folders (recursively, links to folders not followed) and glob
    matches, without duplicates."""
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and is_image_name(p.name))
        elif _has_magic(item) and not path.exists():
            found += _glob(item)
        else:
            found.append(path)
    unique = list(dict.fromkeys(path.resolve() for path in found))
    if not unique:
        raise CaeDenoiseError(f"no input images found in: {' '.join(items)}")
    return unique


def output_path(source: Path, out_dir: Path | None, fmt: str) -> Path:
    """``photo.jpg`` -> ``photo_denoised.png`` next to it, or under ``out_dir``."""
    suffix = FORMAT_SUFFIXES.get(fmt.lower())
    if suffix is None:
        raise UsageError(f"--format {fmt!r}: choose png, jpeg or tiff")
    return (out_dir or source.parent) / f"{source.stem}{SUFFIX}{suffix}"


@dataclass
class PlannedFile:
    """One input and the files it will write, or why it will not be processed."""

    source: Path
    output: Path
    side_by_side: Path | None
    refusal: str | None = None


def plan_outputs(
    sources: list[Path], out_dir: Path | None, fmt: str, *, overwrite: bool, write_side_by_side: bool
) -> list[PlannedFile]:
    """Name every output of a run before anything is written, and refuse the inputs whose outputs would
    clash: two inputs naming one output (``x.png`` and ``x.jpg``; ``a/x.png`` and ``b/x.png`` with ``-o``),
    an output that is an input, or an existing file without ``overwrite``."""
    plans = []
    for source in sources:
        output = output_path(source, out_dir, fmt)
        plans.append(PlannedFile(source, output, side_by_side_path(output) if write_side_by_side else None))
    claimed: dict[Path, list[Path]] = {}
    for plan in plans:
        for path in filter(None, (plan.output, plan.side_by_side)):
            claimed.setdefault(path.resolve(), []).append(plan.source)
    inputs = set(sources)
    for plan in plans:
        for path in filter(None, (plan.output, plan.side_by_side)):
            others = [other for other in claimed[path.resolve()] if other != plan.source]
            if others:
                plan.refusal = f"{plan.source}: {others[0]} would write the same output {path}; rename one of them"
            elif path.resolve() in inputs:
                plan.refusal = f"{plan.source}: output {path} would overwrite an input; use -o DIR"
            elif (path.exists() or path.is_symlink()) and not overwrite:
                plan.refusal = f"{plan.source}: {path} exists; pass --overwrite to replace it"
            if plan.refusal:
                break
    return plans


def denoise_file(
    loaded: LoadedModel,
    plan: PlannedFile,
    *,
    fmt: str,
    overwrite: bool,
    device: torch.device | str,
    tile: int | None,
    on_tiles: Callable[[int, int], None] | None = None,
) -> FileResult:
    """Denoise one planned file (written atomically); raises ``CaeDenoiseError`` for a bad input, or for an
    output that appeared meanwhile (unless ``overwrite``)."""
    tick = time.perf_counter()
    decoded = decode_image(plan.source)
    sigma = estimate_noise_sigma(decoded.rgb)
    clean = denoise_array(loaded.model, decoded.rgb, device=device, tile=tile, on_tiles=on_tiles)
    data = encode_image(
        clean,
        alpha=decoded.alpha,
        grayscale=decoded.grayscale,
        bit_depth=decoded.bit_depth,
        fmt=fmt,
        exif=decoded.exif,
        icc_profile=decoded.icc_profile,
    )
    write_file(plan.output, data, overwrite=overwrite)
    if plan.side_by_side is not None:
        picture = encode_image(side_by_side(decoded.rgb, clean), grayscale=decoded.grayscale)
        write_file(plan.side_by_side, picture, overwrite=overwrite)
    height, width = clean.shape[:2]
    seconds = time.perf_counter() - tick
    return FileResult(plan.source, plan.output, None, height * width / 1e6, seconds, sigma, plan.side_by_side)


def denoise_files(
    loaded: LoadedModel,
    inputs: list[str],
    *,
    out_dir: str | Path | None = None,
    fmt: str = "png",
    overwrite: bool = False,
    device: torch.device | str = "cpu",
    tile: int | None = None,
    write_side_by_side: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_file: Callable[[FileResult], None] | None = None,
    on_tiles: Callable[[int, int], None] | None = None,
) -> list[FileResult]:
    """Denoise every input; a file that fails or is refused is recorded with its reason and the rest still run.

    ``on_start`` gets the number of files found, ``on_file`` each result, ``on_tiles`` (done, total) tiles.
    """
    sources = expand_inputs(inputs)
    target_dir = ensure_folder(out_dir, f"-o {out_dir}") if out_dir else None
    plans = plan_outputs(sources, target_dir, fmt, overwrite=overwrite, write_side_by_side=write_side_by_side)
    if on_start:
        on_start(len(plans))
    results = []
    for plan in plans:
        if plan.refusal:
            result = FileResult(plan.source, error=plan.refusal)
        else:
            try:
                result = denoise_file(
                    loaded, plan, fmt=fmt, overwrite=overwrite, device=device, tile=tile, on_tiles=on_tiles
                )
            except CaeDenoiseError as error:
                result = FileResult(plan.source, error=str(error))
        results.append(result)
        if on_file:
            on_file(result)
    return results
