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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO

import numpy as np
import torch
from skimage.transform import resize as skimage_resize

from .errors import CaeDenoiseError, UsageError, one_line
from .images import is_image_name, read_rgb

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


@dataclass
class Source:
    """The decoded images of a source and the files skipped, as (name, reason) pairs."""

    spec: str
    images: list[NamedImage]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def by_names(self, names: tuple[str, ...] | list[str]) -> list[NamedImage]:
        """The images with these names, in this order; a missing name is an error."""
        index = {image.name: image for image in self.images}
        missing = [name for name in names if name not in index]
        if missing:
            raise CaeDenoiseError(f"{self.spec}: images recorded in the split are missing: {', '.join(missing[:5])}")
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


#: Pictures a training run writes into its own folder (``train.CURVES``), and the files that mark a folder as a
#: run's: with ``--out`` inside (or equal to) ``--data``, a rerun must not train or test on the earlier run's chart.
RUN_PICTURES = ("training_curves.png",)
RUN_MARKERS = ("train_report.json", "last.pt")


def _is_run_picture(path: Path) -> bool:
    return path.name in RUN_PICTURES and any((path.parent / marker).is_file() for marker in RUN_MARKERS)


def folder_images(root: Path) -> list[Path]:
    """The files a folder source reads, in name order: image files (recursively, links not followed), without
    the pictures of a training run kept in the folder (``RUN_PICTURES``)."""
    return [
        path
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink() and is_image_name(path.name) and not _is_run_picture(path)
    ]


def _folder_members(root: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    for path in folder_images(root):
        yield path.relative_to(root).as_posix(), path.read_bytes


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


def _zip_members(path: Path, spec: str) -> Iterator[tuple[str, Callable[[], bytes]]]:
    try:
        archive = zipfile.ZipFile(path)
    except (*_ARCHIVE_READ_ERRORS, ValueError, NotImplementedError) as error:  # e.g. "zip file version 25.5"
        raise CaeDenoiseError(f"{path}: not a readable zip archive ({one_line(error)})") from error
    with archive:
        for info in sorted(archive.infolist(), key=lambda item: item.filename):
            if is_image_name(info.filename) and not info.is_dir():  # is_dir fails on an empty name
                yield info.filename, partial(_read_zip_member, archive, info, f"{spec}:{info.filename}")


def _read_tar_member(archive: tarfile.TarFile, member: tarfile.TarInfo, label: str) -> bytes:
    """The bytes of one regular tar member; oversized or unreadable members raise naming ``label``."""
    _check_member_size(member.size, label)
    try:
        handle = archive.extractfile(member)
        if handle is None:  # not a regular file; _tar_members passes none of those
            raise CaeDenoiseError(f"{label}: not a regular file")
        with handle:
            return _read_bounded(handle, label)
    except _ARCHIVE_READ_ERRORS as error:
        raise CaeDenoiseError(f"{label}: unreadable archive member ({one_line(error)})") from error


def _tar_members(path: Path, spec: str) -> Iterator[tuple[str, Callable[[], bytes]]]:
    try:
        archive = tarfile.open(path)  # noqa: SIM115 - closed by the with-block below
    except _ARCHIVE_READ_ERRORS as error:
        raise CaeDenoiseError(f"{path}: not a readable tar archive ({one_line(error)})") from error
    with archive:
        try:
            members = archive.getmembers()  # walks the whole archive: a damaged one fails here
        except _ARCHIVE_READ_ERRORS as error:
            raise CaeDenoiseError(f"{path}: damaged or truncated tar archive ({one_line(error)})") from error
        for member in sorted(members, key=lambda item: item.name):
            if member.isfile() and is_image_name(member.name):  # links and devices are never followed
                yield member.name, partial(_read_tar_member, archive, member, f"{spec}:{member.name}")


def _is_tar_name(path: Path) -> bool:
    return path.name.lower().endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz"))


def load_source(spec: str | Path) -> Source:
    """Decode every image of a source; unreadable files are skipped and listed in ``Source.skipped``."""
    spec = str(spec)
    if spec == BUILTIN:
        return Source(spec, load_builtin())
    path = Path(spec)
    if path.is_dir():
        members = _folder_members(path)
    elif not path.exists():
        raise CaeDenoiseError(f"{spec}: no such folder or archive (use a folder, .zip, .tar[.gz] or 'builtin')")
    elif path.suffix.lower() == ".zip":
        members = _zip_members(path, spec)
    elif _is_tar_name(path):
        members = _tar_members(path, spec)
    else:
        raise CaeDenoiseError(f"{spec}: not a folder, .zip or .tar[.gz] archive")
    images, skipped, seen = [], [], set()
    for name, read in members:
        label = f"{spec}:{name}"
        if name in seen:  # an archive may hold one name twice: which one is meant is a guess
            skipped.append((name, "duplicate member name; only the first is used"))
            continue
        seen.add(name)
        try:
            images.append(NamedImage(name, read_rgb(read(), label=label)))
        except CaeDenoiseError as error:
            skipped.append((name, str(error).removeprefix(f"{label}: ")))
        except OSError as error:  # a file of a folder that vanished or may not be read
            skipped.append((name, f"unreadable file ({one_line(error)})"))
    if not images:
        detail = f" ({len(skipped)} files could not be read)" if skipped else ""
        raise CaeDenoiseError(f"{spec}: contains no readable images{detail}")
    return Source(spec, images, skipped)


# --- splits -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """Image names in each part of a train/val/test split."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def to_dict(self) -> dict[str, list[str]]:
        return {"train": list(self.train), "val": list(self.val), "test": list(self.test)}

    @classmethod
    def from_dict(cls, data: dict[str, list[str]]) -> Split:
        return cls(tuple(data["train"]), tuple(data["val"]), tuple(data["test"]))

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


def resize_square(pixels: np.ndarray, size: int) -> np.ndarray:
    """Resize an HxWx3 image to ``size`` x ``size`` with anti-aliasing (the seed experiment's preprocessing)."""
    resized = skimage_resize(pixels, (size, size), order=3, anti_aliasing=True, preserve_range=True)
    return np.clip(resized, 0.0, 1.0).astype(np.float32)


class PatchSampler:
    """Random training batches (NCHW float32 in [0, 1]) from a list of images.

    With ``patch``: random ``patch`` x ``patch`` crops, images picked in proportion to their area.
    With ``resize``: whole images pre-resized to ``resize`` x ``resize``. Both apply a random flip / 90-degree
    rotation (the 8 symmetries of the square). All randomness comes from the ``generator`` passed in.
    """

    def __init__(self, images: list[NamedImage], *, patch: int | None = None, resize: int | None = None) -> None:
        if (patch is None) == (resize is None):
            raise ValueError("give exactly one of patch and resize")
        if resize is not None:
            arrays = [resize_square(image.pixels, resize) for image in images]
            self.size = resize
        else:
            arrays = [image.pixels for image in images if min(image.pixels.shape[:2]) >= patch]
            self.size = patch
            if not arrays:
                raise CaeDenoiseError(f"no training image is at least {patch}x{patch} pixels; lower --patch")
        self.skipped_small = len(images) - len(arrays)
        self.tensors = [torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))) for a in arrays]
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
        self, images: list[NamedImage], *, device: torch.device, patch: int | None = None, resize: int | None = None
    ) -> None:
        super().__init__(images, patch=patch, resize=resize)
        channels = self.tensors[0].shape[0]
        heights = [tensor.shape[1] for tensor in self.tensors]
        widths = [tensor.shape[2] for tensor in self.tensors]
        stack = torch.zeros(len(self.tensors), channels, max(heights), max(widths))
        for index, tensor in enumerate(self.tensors):
            stack[index, :, : tensor.shape[1], : tensor.shape[2]] = tensor
        self.device = device
        self.stack = stack.to(device)
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
