"""Image sources, train/val/test splits and training samples.

A source is ``"builtin"``, a folder (searched recursively), a ``.zip`` or a ``.tar``/``.tar.gz``/``.tgz``.
Archives are read in memory, never extracted, so hostile member names cannot write anywhere, and no member
is read past ``MAX_MEMBER_BYTES``. Files that cannot be decoded (and oversized, encrypted or unreadable
members) are skipped and reported, not fatal. Splits are by image, never by patch.
"""

from __future__ import annotations

import hashlib
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Protocol, TypeVar

import numpy as np
import torch
from skimage.transform import resize as skimage_resize

from ..config import BYTES_PER_PIXEL, DEFAULT_MAX_MEGAPIXELS, MIN_SCORED_SIDE, RUN_FILES
from ..errors import CaeDenoiseError, UsageError, one_line, too_large_if_out_of_memory
from ..io.images import image_size, is_image_name, read_rgb
from ..io.regular import not_regular, open_regular

BUILTIN = "builtin"

#: The most bytes one archive member may decompress to. An uncompressed 8-bit RGB image at Pillow's pixel
#: limit (``Image.MAX_IMAGE_PIXELS``, about 89 megapixels) is just under 256 MiB, so no 8-bit photo needs
#: more, while a zip bomb (a few hundred KB claiming gigabytes) would make us allocate all it claims.
MAX_MEMBER_BYTES = 256 * 2**20

#: What reading a damaged archive member can raise (bad CRC, broken deflate/gzip/bzip2/xz streams, short data).
_ARCHIVE_READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, tarfile.TarError, zipfile.BadZipFile)

#: Names of zip compression methods other tools write that ``zipfile`` cannot read (Zstandard: before Python 3.14).
_ZIP_METHOD_NAMES = {9: "Deflate64", 10: "PKWARE DCL Implode", 93: "Zstandard", 95: "xz", 97: "WavPack", 98: "PPMd"}


@dataclass(frozen=True)
class NamedImage:
    """One image of a source: ``pixels`` is HxWx3 float32 in [0, 1]."""

    name: str
    pixels: np.ndarray


class _HasName(Protocol):
    @property
    def name(self) -> str: ...


Named = TypeVar("Named", bound=_HasName)


@dataclass
class Source:
    """The decoded images of a source and the files skipped, as (name, reason) pairs."""

    spec: str
    images: list[NamedImage]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def by_names(self, names: tuple[str, ...] | list[str]) -> list[NamedImage]:
        """The images with these names, in this order; a missing name is an error."""
        return by_names(self.images, names, f"{self.spec}: images")


def by_names(items: list[Named], names: tuple[str, ...] | list[str], what: str) -> list[Named]:
    """The ``items`` (images or pairs) with these ``names``, in this order; a missing name is an error that
    starts with ``what`` (the source and what it holds)."""
    index = {item.name: item for item in items}
    missing = [name for name in names if name not in index]
    if missing:
        raise CaeDenoiseError(f"{what} recorded in the split are missing: {', '.join(missing[:5])}")
    return [index[name] for name in names]


# --- the built-in set -------------------------------------------------------------------------------------


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        return getattr(skimage.data, name)()

    return load


def _motorcycle_left() -> np.ndarray:
    import skimage.data

    return skimage.data.stereo_motorcycle()[0]


#: Built-in images: photos and textures scikit-image ships in its wheel (nothing is downloaded).
#: Left out on purpose: ``cat`` (the same photo as ``chelsea``), the right stereo_motorcycle view
#: (the same scene as a test image), and ``page``/``text``/``logo``/``horse`` (documents and graphics).
BUILTIN_LOADERS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage("astronaut"),
    "camera": _skimage("camera"),
    "chelsea": _skimage("chelsea"),
    "clock": _skimage("clock"),
    "coffee": _skimage("coffee"),
    "coins": _skimage("coins"),
    "gravel": _skimage("gravel"),
    "motorcycle_left": _motorcycle_left,
    "rocket": _skimage("rocket"),
    "brick": _skimage("brick"),
    "cell": _skimage("cell"),
    "colorwheel": _skimage("colorwheel"),
    "grass": _skimage("grass"),
    "hubble_deep_field": _skimage("hubble_deep_field"),
    "immunohistochemistry": _skimage("immunohistochemistry"),
    "moon": _skimage("moon"),
    "retina": _skimage("retina"),
}
#: Eight held-out photos, enough for a paired test over images to reach p < 0.05 (six is the minimum; see
#: ``stats.MIN_UNITS_FOR_TEST``). Natural photos, colour and gray, and one texture.
BUILTIN_TEST = ("astronaut", "camera", "chelsea", "clock", "coffee", "coins", "gravel", "motorcycle_left")
BUILTIN_VAL = ("rocket",)


def _as_rgb_float(array: np.ndarray) -> np.ndarray:
    values = array.astype(np.float32) / 255.0 if array.dtype == np.uint8 else array.astype(np.float32)
    if values.ndim == 2:
        values = np.repeat(values[..., None], 3, axis=2)
    return np.ascontiguousarray(values[..., :3])


def load_builtin(names: list[str] | tuple[str, ...] | None = None) -> list[NamedImage]:
    """The built-in images (all, or just ``names``) as RGB float32."""
    names = list(BUILTIN_LOADERS) if names is None else list(names)
    return [NamedImage(name, _as_rgb_float(BUILTIN_LOADERS[name]())) for name in names]


# --- folders and archives ---------------------------------------------------------------------------------

#: The smallest side an image of a data set may have: SSIM (``metrics.ssim``) scores images of 11 x 11 or more.
MIN_IMAGE_SIDE = MIN_SCORED_SIDE


@dataclass(frozen=True)
class _Member:
    """One file of a source: its name, what to read it from (a regular file's path, or an archive member's
    bytes, fetched when asked), and its position in the source, which orders skipped files."""

    name: str
    fetch: Callable[[], Path | bytes]
    position: int


@dataclass
class _Listing:
    """What a source holds: its members (in the order to read them: stored order for archives), the files
    skipped from the listing alone, and whether its images are sorted by name once decoded."""

    members: list[_Member]
    skipped: list[tuple[int, str, str]] = field(default_factory=list)
    sort_by_name: bool = False


def _is_run_output(path: Path) -> bool:
    """Whether a file is one a training run wrote (``config.RUN_FILES``), beside the run's other files."""
    others = [name for name in RUN_FILES if name != path.name]
    return path.name in RUN_FILES and any((path.parent / name).is_file() for name in others)


def _folder_listing(root: Path) -> _Listing:
    """Image files under ``root`` in sorted order. Links are not followed, and other kinds of file (FIFOs,
    devices: they could block or never end) are not opened: both are skipped with a note. So is a run's
    curves picture beside its checkpoints (``config.RUN_FILES``): a run folder given as its own ``--data``
    does not train on its previous run's pictures."""
    listing = _Listing([])
    for position, path in enumerate(sorted(root.rglob("*"))):
        name = path.relative_to(root).as_posix()
        try:
            if path.is_symlink():
                if is_image_name(path.name) or path.is_dir():
                    kind = "a folder" if path.is_dir() else "a file"
                    listing.skipped.append(
                        (position, name, f"a link to {kind}: links in a data folder are not followed")
                    )
                continue
            if not is_image_name(path.name):
                continue
            kind = not_regular(path.lstat().st_mode)
        except OSError as error:
            listing.skipped.append((position, name, f"unreadable file ({one_line(error)})"))
            continue
        if kind is not None:
            listing.skipped.append((position, name, f"is {kind}, not a regular file: not opened"))
        elif _is_run_output(path):
            listing.skipped.append((position, name, "a training run's own picture (beside its checkpoints), not data"))
        elif not path.is_dir():
            listing.members.append(_Member(name, partial(Path, path), position))
    return listing


def folder_images(root: Path) -> list[Path]:
    """The files a folder source reads (``_folder_listing``'s members), in name order: what a run over the
    folder reads, and so may never replace."""
    return [root / member.name for member in _folder_listing(root).members]


def _mib(size: int) -> str:
    """A byte count in MiB, rounded up to a tenth so a size just over a limit never reads as the limit."""
    whole, tenth = divmod(-(-size * 10 // 2**20), 10)
    return f"{whole:,}.{tenth} MiB" if tenth else f"{whole:,} MiB"


def _check_member_size(size: int, label: str) -> None:
    """Refuse a member whose header declares more than ``MAX_MEMBER_BYTES`` (or a negative size)."""
    if size < 0:
        raise CaeDenoiseError(f"{label}: member declares an invalid size ({size})")
    if size > MAX_MEMBER_BYTES:
        raise CaeDenoiseError(f"{label}: member of {_mib(size)} exceeds the {_mib(MAX_MEMBER_BYTES)} limit")


def _read_bounded(handle: IO[bytes], label: str) -> bytes:
    """Read a member, never more than ``MAX_MEMBER_BYTES``: a header that understated the size is refused too."""
    data = handle.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise CaeDenoiseError(f"{label}: member decompresses to more than the {_mib(MAX_MEMBER_BYTES)} limit")
    return data


def _read_zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> bytes:
    """The bytes of one zip member; encrypted, oversized or unreadable members raise naming ``label``."""
    if info.flag_bits & 0x1:
        raise CaeDenoiseError(f"{label}: encrypted member (password required)")
    _check_member_size(info.file_size, label)
    try:
        with archive.open(info) as handle:
            return _read_bounded(handle, label)
    except (NotImplementedError, RuntimeError) as error:  # a compression method zipfile cannot decode
        method = _ZIP_METHOD_NAMES.get(info.compress_type, f"number {info.compress_type}")
        raise CaeDenoiseError(
            f"{label}: compression method {method} is not supported; re-zip it with deflate"
        ) from error
    except _ARCHIVE_READ_ERRORS as error:
        raise CaeDenoiseError(f"{label}: unreadable archive member ({one_line(error)})") from error


def _zip_listing(handle: IO[bytes], path: Path, spec: str, stack: ExitStack) -> _Listing:
    """A zip's image members by name (zip members are cheap to reach in any order)."""
    try:
        archive = stack.enter_context(zipfile.ZipFile(handle))
    except (*_ARCHIVE_READ_ERRORS, ValueError, NotImplementedError) as error:  # e.g. "zip file version 25.5"
        raise CaeDenoiseError(f"{path}: not a readable zip archive ({one_line(error)})") from error
    infos = sorted(archive.infolist(), key=lambda item: item.filename)
    chosen = [info for info in infos if is_image_name(info.filename) and not info.is_dir()]  # is_dir fails on ""
    return _Listing(
        [
            _Member(info.filename, partial(_read_zip_member, archive, info, f"{spec}:{info.filename}"), position)
            for position, info in enumerate(chosen)
        ]
    )


def _read_tar_member(archive: tarfile.TarFile, member: tarfile.TarInfo, label: str) -> bytes:
    """The bytes of one regular tar member; oversized or unreadable members raise naming ``label``."""
    _check_member_size(member.size, label)
    try:
        handle = archive.extractfile(member)
        if handle is None:  # not a regular file; _tar_listing passes none of those
            raise CaeDenoiseError(f"{label}: not a regular file")
        with handle:
            return _read_bounded(handle, label)
    except _ARCHIVE_READ_ERRORS as error:
        raise CaeDenoiseError(f"{label}: unreadable archive member ({one_line(error)})") from error


def _tar_listing(handle: IO[bytes], path: Path, spec: str, stack: ExitStack) -> _Listing:
    """A tar's regular image members in the order they are stored, so that reading them all is one pass
    through a compressed archive (reading them by name seeks backwards, which restarts gzip from the start:
    quadratic). The decoded images are then sorted by name. Links and devices are never followed."""
    try:
        archive = stack.enter_context(tarfile.open(fileobj=handle))  # noqa: SIM115 - closed by the stack
    except _ARCHIVE_READ_ERRORS as error:
        raise CaeDenoiseError(f"{path}: not a readable tar archive ({one_line(error)})") from error
    try:
        members = archive.getmembers()  # walks the whole archive: a damaged one fails here
    except _ARCHIVE_READ_ERRORS as error:
        raise CaeDenoiseError(f"{path}: damaged or truncated tar archive ({one_line(error)})") from error
    listing = _Listing([], sort_by_name=True)
    for position, member in enumerate(member for member in members if is_image_name(member.name)):
        if member.isfile():
            read = partial(_read_tar_member, archive, member, f"{spec}:{member.name}")
            listing.members.append(_Member(member.name, read, position))
        elif not member.isdir():
            link = member.issym() or member.islnk()
            reason = "a link in the archive: not followed" if link else "not a regular file in the archive: not read"
            listing.skipped.append((position, member.name, reason))
    return listing


def _is_tar_name(path: Path) -> bool:
    return path.name.lower().endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz"))


def _listing(spec: str, stack: ExitStack) -> _Listing:
    """The members of a folder or archive; the archive stays open until ``stack`` closes."""
    path = Path(spec)
    if path.is_dir():
        return _folder_listing(path)
    if not path.exists():
        raise CaeDenoiseError(f"{spec}: no such folder or archive (use a folder, .zip, .tar[.gz] or 'builtin')")
    is_zip = path.suffix.lower() == ".zip"
    if not is_zip and not _is_tar_name(path):
        raise CaeDenoiseError(f"{spec}: not a folder, .zip or .tar[.gz] archive")
    try:
        handle = stack.enter_context(open_regular(path, spec, "an archive file"))
    except OSError as error:
        raise CaeDenoiseError(f"{spec}: cannot open the archive ({one_line(error)})") from error
    return (_zip_listing if is_zip else _tar_listing)(handle, path, spec, stack)


@dataclass
class _Scan:
    """A source's members whose headers were read: each with its pixel count, in reading order."""

    spec: str
    listing: _Listing
    sizes: dict[int, tuple[int, int]] = field(default_factory=dict)  # by position

    def skip(self, member: _Member, reason: str) -> None:
        self.listing.skipped.append((member.position, member.name, reason))


def _reason(error: CaeDenoiseError | OSError, label: str) -> str:
    if isinstance(error, OSError):  # a file of a folder that vanished or may not be read
        return f"unreadable file ({one_line(error)})"
    return str(error).removeprefix(f"{label}: ")


def _read_headers(scan: _Scan) -> None:
    """Each member's size from its header alone (``images.image_size``); duplicates, unreadable headers and
    images too small to score are skipped here, before anything is decoded."""
    seen = set()
    for member in scan.listing.members:
        label = f"{scan.spec}:{member.name}"
        if member.name in seen:  # an archive may hold one name twice: which one is meant is a guess
            scan.skip(member, "duplicate member name; only the first is used")
            continue
        seen.add(member.name)
        try:
            width, height = image_size(member.fetch(), label=label)
        except (CaeDenoiseError, OSError) as error:
            scan.skip(member, _reason(error, label))
            continue
        if min(width, height) < MIN_IMAGE_SIDE:
            scan.skip(
                member, f"{width}x{height} pixels: smaller than the {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} that SSIM needs"
            )
            continue
        scan.sizes[member.position] = (width, height)


def _check_budget(scans: list[_Scan], max_pixels: int) -> None:
    """Refuse sources whose images together hold more than ``max_pixels``, before any is decoded."""
    total = sum(width * height for scan in scans for width, height in scan.sizes.values())
    if total <= max_pixels:
        return
    count = sum(len(scan.sizes) for scan in scans)
    where = " and ".join(scan.spec for scan in scans)
    raise CaeDenoiseError(
        f"{where}: {count} images of {total / 1e6:,.1f} megapixels in all, over the {max_pixels / 1e6:,g}-megapixel "
        f"budget for a data set (decoded they take {total * BYTES_PER_PIXEL / 2**30:,.1f} GiB); raise it with "
        "--max-megapixels, or use fewer or smaller images"
    )


def _decode_scan(scan: _Scan) -> Source:
    """Decode the members whose headers were read; one that fails is skipped with its reason."""
    images = []
    for member in scan.listing.members:
        expected = scan.sizes.get(member.position)
        if expected is None:
            continue
        label = f"{scan.spec}:{member.name}"
        try:
            pixels = read_rgb(member.fetch(), label=label)
        except (CaeDenoiseError, OSError) as error:
            scan.skip(member, _reason(error, label))
            continue
        if pixels.shape[1::-1] != expected and pixels.shape[:2] != expected:  # turned by EXIF: sides swap
            scan.skip(member, "changed while being read")
            continue
        images.append(NamedImage(member.name, pixels))
    listing = scan.listing
    if listing.sort_by_name:
        images.sort(key=lambda image: image.name)
    order = (lambda item: (item[1], item[0])) if listing.sort_by_name else (lambda item: item[0])
    skipped = [(name, reason) for _, name, reason in sorted(listing.skipped, key=order)]
    if not images:
        detail = f" ({len(skipped)} files could not be read)" if skipped else ""
        raise CaeDenoiseError(f"{scan.spec}: contains no readable images{detail}")
    return Source(scan.spec, images, skipped)


def load_sources(specs: list[str], *, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> list[Source]:
    """Decode every image of these sources (see ``load_source``), their images together within one budget of
    ``max_megapixels``, checked from the headers before anything is decoded."""
    with ExitStack() as stack:
        scans = [_Scan(spec, _listing(spec, stack)) for spec in specs if spec != BUILTIN]
        for scan in scans:
            _read_headers(scan)
        _check_budget(scans, int(max_megapixels * 1e6))
        decoded = iter([_decode_scan(scan) for scan in scans])
    return [Source(spec, load_builtin()) if spec == BUILTIN else next(decoded) for spec in specs]


def load_source(spec: str | Path, *, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> Source:
    """Decode every image of a source; unreadable files are skipped and listed in ``Source.skipped``, as are
    links, FIFOs and devices in a folder and images smaller than ``MIN_IMAGE_SIDE``. Sources that would hold
    more than ``max_megapixels`` decoded are refused from the files' headers, before anything is decoded."""
    return load_sources([str(spec)], max_megapixels=max_megapixels)[0]


# --- splits -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """Image names in each part of a train/val/test split."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def to_dict(self) -> dict[str, list[str]]:
        return {"train": list(self.train), "val": list(self.val), "test": list(self.test)}

    def part(self, name: str) -> tuple[str, ...]:
        """One part by name: ``train``, ``val``, ``test``, or ``all`` (every name)."""
        if name == "all":
            return self.train + self.val + self.test
        if name not in ("train", "val", "test"):
            raise UsageError(f"--split {name!r}: choose train, val, test or all")
        return getattr(self, name)


def _stable_key(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def make_split(source: Source, fraction: float = 0.1) -> Split:
    """The fixed built-in split, or for other sources a deterministic split by a hash of each name.

    Each name's hash, read as a number in [0, 1), puts it in test below ``fraction``, in validation below
    ``2 * fraction``, else in train: an image stays in its part when other images are added. A part left
    empty (few images) takes the train image with the lowest hash, so a source needs three or more images.
    """
    names = [image.name for image in source.images]
    if source.spec == BUILTIN:
        train = tuple(n for n in names if n not in BUILTIN_TEST + BUILTIN_VAL)
        return Split(train, BUILTIN_VAL, BUILTIN_TEST)
    if len(names) < 3:
        raise CaeDenoiseError(f"{source.spec}: {len(names)} readable image(s); a train/val/test split needs at least 3")
    parts: dict[str, list[str]] = {"test": [], "val": [], "train": []}
    for name in sorted(names, key=_stable_key):
        position = int(_stable_key(name)[:12], 16) / 16**12
        parts["test" if position < fraction else "val" if position < 2 * fraction else "train"].append(name)
    for part in ("test", "val"):
        if not parts[part]:
            parts[part].append(parts["train"].pop(0))
    return Split(tuple(sorted(parts["train"])), tuple(sorted(parts["val"])), tuple(sorted(parts["test"])))


# --- training samples -------------------------------------------------------------------------------------


def _check_resized_budget(count: int, size: int, max_megapixels: float) -> None:
    """Refuse ``--resize`` copies of ``count`` images that would hold more than ``max_megapixels`` together."""
    total = count * size * size
    if total > max_megapixels * 1e6:
        raise CaeDenoiseError(
            f"--resize {size}: {count} images of {size}x{size} hold {total / 1e6:,.1f} megapixels, over the "
            f"{max_megapixels:,g}-megapixel budget for a data set; lower --resize, or raise --max-megapixels"
        )


def resize_square(pixels: np.ndarray, size: int) -> np.ndarray:
    """Resize an HxWx3 image to ``size`` x ``size`` with anti-aliasing (the seed experiment's preprocessing)."""
    resized = skimage_resize(pixels, (size, size), order=3, anti_aliasing=True, preserve_range=True)
    return np.clip(resized, 0.0, 1.0).astype(np.float32)


class PatchSampler:
    """Random training batches (NCHW float32 in [0, 1]) from a list of images.

    With ``patch``: random ``patch`` x ``patch`` crops, images picked in proportion to their area.
    With ``resize``: whole images pre-resized to ``resize`` x ``resize``, refused when all of them together would
    hold more than ``max_megapixels``. Both apply a random flip / 90-degree rotation (the 8 symmetries of the
    square). All randomness comes from the ``generator`` passed in. The images are not copied: ``tensors`` are
    CHW views of their HWC arrays. Memory running out while preparing them is the one "too large" error.
    """

    def __init__(
        self,
        images: list[NamedImage],
        *,
        patch: int | None = None,
        resize: int | None = None,
        max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
    ) -> None:
        if (patch is None) == (resize is None):
            raise ValueError("give exactly one of patch and resize")
        pixels = sum(image.pixels.shape[0] * image.pixels.shape[1] for image in images)
        with too_large_if_out_of_memory(f"{len(images)} training images ({pixels / 1e6:,.1f} megapixels)", "hold"):
            if resize is not None:
                _check_resized_budget(len(images), resize, max_megapixels)
                arrays = [resize_square(image.pixels, resize) for image in images]
                self.size = resize
            else:
                arrays = [image.pixels for image in images if min(image.pixels.shape[:2]) >= patch]
                self.size = patch
                if not arrays:
                    raise CaeDenoiseError(f"no training image is at least {patch}x{patch} pixels; lower --patch")
            self.skipped_small = len(images) - len(arrays)
            self.tensors = [torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1) for a in arrays]
        areas = torch.tensor([t.shape[1] * t.shape[2] for t in self.tensors], dtype=torch.float64)
        self.weights = areas / areas.sum()

    def batch(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """``count`` random samples as a ``count`` x 3 x size x size tensor."""
        picks = torch.multinomial(self.weights, count, replacement=True, generator=generator).tolist()
        symmetries = torch.randint(0, 8, (count,), generator=generator).tolist()
        samples = []
        for pick, symmetry in zip(picks, symmetries, strict=True):
            image = self.tensors[pick]
            top = int(torch.randint(0, image.shape[1] - self.size + 1, (1,), generator=generator))
            left = int(torch.randint(0, image.shape[2] - self.size + 1, (1,), generator=generator))
            crop = image[:, top : top + self.size, left : left + self.size]
            if symmetry & 4:
                crop = crop.flip(2)
            samples.append(torch.rot90(crop, symmetry & 3, dims=(1, 2)))
        return torch.stack(samples)


class DevicePatchSampler(PatchSampler):
    """``PatchSampler``'s batches drawn and cut on ``device`` (a GPU): no host work, no synchronisation.

    The images live on the device in one zero-padded stack (memory: images x largest height x largest width x
    channels). A batch is a few kernels: picks (in proportion to area), symmetries and crop corners come from a
    generator on the device, and one gather cuts every crop already flipped and rotated. It draws the same
    distribution as ``PatchSampler`` but a different stream, so a run on a GPU is seeded and resumable, yet not
    the same run as on the CPU.
    """

    def __init__(
        self,
        images: list[NamedImage],
        *,
        device: torch.device,
        patch: int | None = None,
        resize: int | None = None,
        max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
    ) -> None:
        super().__init__(images, patch=patch, resize=resize, max_megapixels=max_megapixels)
        channels = self.tensors[0].shape[0]
        heights = [tensor.shape[1] for tensor in self.tensors]
        widths = [tensor.shape[2] for tensor in self.tensors]
        padded = len(self.tensors) * max(heights) * max(widths)
        if padded > max_megapixels * 1e6:  # one large image among many small ones
            raise CaeDenoiseError(
                f"the {len(self.tensors)} training images padded to the largest ({max(widths)}x{max(heights)}) "
                f"would hold {padded / 1e6:,.1f} megapixels on {device}, over the {max_megapixels:,g}-megapixel "
                "budget; crop the largest images, or raise --max-megapixels"
            )
        with too_large_if_out_of_memory(f"{len(self.tensors)} training images", f"hold on {device}"):
            stack = torch.zeros(len(self.tensors), channels, max(heights), max(widths), device=device)
            for index, tensor in enumerate(self.tensors):
                stack[index, :, : tensor.shape[1], : tensor.shape[2]] = tensor
        self.device = device
        self.stack = stack
        self.heights = torch.tensor(heights, device=device)
        self.widths = torch.tensor(widths, device=device)
        self.weights = self.weights.to(device)
        self.tensors = []  # the host copies are not needed any more

    def batch(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """``count`` random samples as a ``count`` x C x size x size tensor on the device."""
        size, device = self.size, self.device
        picks = torch.multinomial(self.weights, count, replacement=True, generator=generator)
        symmetries = torch.randint(0, 8, (count, 1, 1), generator=generator, device=device)
        corners = torch.rand(2, count, generator=generator, device=device, dtype=torch.float64)
        top = (corners[0] * (self.heights[picks] - size + 1)).long()[:, None, None]
        left = (corners[1] * (self.widths[picks] - size + 1)).long()[:, None, None]
        rows, cols = symmetry_indices(size, symmetries)
        crops = self.stack[picks[:, None, None], :, top + rows, left + cols]  # count x size x size x C
        return crops.permute(0, 3, 1, 2).contiguous()


def symmetry_indices(size: int, symmetries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each pixel of a ``size`` x ``size`` output comes from in its crop, for each symmetry (0-7, as
    ``PatchSampler``: bit 2 flips the width, bits 0-1 count ``torch.rot90`` turns); count x size x size each."""
    device = symmetries.device
    i = torch.arange(size, device=device)[:, None].expand(size, size)
    j = torch.arange(size, device=device)[None, :].expand(size, size)
    last = size - 1
    turns, flipped = symmetries & 3, (symmetries & 4).bool()
    rows = torch.where(turns == 0, i, torch.where(turns == 1, j, torch.where(turns == 2, last - i, last - j)))
    cols = torch.where(turns == 0, j, torch.where(turns == 1, last - i, torch.where(turns == 2, last - j, i)))
    return rows, torch.where(flipped, last - cols, cols)
