"""Denoise image files (``cae-denoise denoise``): expand inputs, name outputs, keep going past a bad file.

An input is never overwritten, nor an existing output unless asked.

Each output keeps its input's kind: grayscale stays grayscale, alpha is carried through untouched,
16-bit input is written as 16-bit where the format allows.
"""

from __future__ import annotations

import glob
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint import LoadedModel
from .errors import CaeDenoiseError
from .images import decode_image, encode_image, is_image_name, write_atomic
from .inference import denoise_array
from .noise import estimate_noise_sigma
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


def expand_inputs(items: list[str]) -> list[Path]:
    """Files as given, image files inside folders (recursively) and glob matches, without duplicates."""
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and is_image_name(p.name))
        elif any(char in item for char in "*?[") and not path.exists():
            found += sorted(Path(match) for match in glob.glob(item, recursive=True) if Path(match).is_file())
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
        raise CaeDenoiseError(f"--format {fmt!r}: choose png, jpeg or tiff")
    return (out_dir or source.parent) / f"{source.stem}{SUFFIX}{suffix}"


def denoise_file(
    loaded: LoadedModel,
    source: Path,
    output: Path,
    *,
    fmt: str,
    device: torch.device | str,
    tile: int | None,
    write_side_by_side: bool = False,
    on_tiles: Callable[[int, int], None] | None = None,
) -> FileResult:
    """Denoise one file into ``output`` (written atomically); raises ``CaeDenoiseError`` for a bad input."""
    tick = time.perf_counter()
    decoded = decode_image(source)
    sigma = estimate_noise_sigma(decoded.rgb)
    clean = denoise_array(loaded.model, decoded.rgb, device=device, tile=tile, on_tiles=on_tiles)
    data = encode_image(clean, alpha=decoded.alpha, grayscale=decoded.grayscale, bit_depth=decoded.bit_depth, fmt=fmt)
    write_atomic(output, data)
    extra = None
    if write_side_by_side:
        extra = side_by_side_path(output)
        write_atomic(extra, encode_image(side_by_side(decoded.rgb, clean), grayscale=decoded.grayscale))
    height, width = clean.shape[:2]
    seconds = time.perf_counter() - tick
    return FileResult(source, output, None, height * width / 1e6, seconds, sigma, extra)


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
    """Denoise every input; a file that fails is recorded with its error and the rest still run.

    ``on_start`` gets the number of files found, ``on_file`` each result, ``on_tiles`` (done, total) tiles.
    """
    sources = expand_inputs(inputs)
    target_dir = Path(out_dir) if out_dir else None
    if target_dir:
        if target_dir.exists() and not target_dir.is_dir():
            raise CaeDenoiseError(f"-o {target_dir}: exists and is not a folder")
        target_dir.mkdir(parents=True, exist_ok=True)
    if on_start:
        on_start(len(sources))
    input_set = set(sources)
    results = []
    for source in sources:
        output = output_path(source, target_dir, fmt)
        if output.resolve() in input_set:
            result = FileResult(source, error=f"{source}: output {output} would overwrite an input; use -o DIR")
        elif output.exists() and not overwrite:
            result = FileResult(source, error=f"{source}: {output} exists; pass --overwrite to replace it")
        else:
            try:
                result = denoise_file(
                    loaded,
                    source,
                    output,
                    fmt=fmt,
                    device=device,
                    tile=tile,
                    write_side_by_side=write_side_by_side,
                    on_tiles=on_tiles,
                )
            except CaeDenoiseError as error:
                result = FileResult(source, error=str(error))
            except OSError as error:
                result = FileResult(source, error=f"{source}: cannot write {output} ({error.strerror or error})")
        results.append(result)
        if on_file:
            on_file(result)
    return results
