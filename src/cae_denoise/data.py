"""Image sources, train/val/test splits and training samples.

A source is ``"builtin"``, a folder (searched recursively), a ``.zip`` or a ``.tar``/``.tar.gz``/``.tgz``.
Archives are read in memory, never extracted, so hostile member names cannot write anywhere. Files that
cannot be decoded are skipped and reported, not fatal. Splits are by image, never by patch.
"""

from __future__ import annotations

import hashlib
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from skimage.transform import resize as skimage_resize

from .errors import CaeDenoiseError
from .images import is_image_name, read_rgb

BUILTIN = "builtin"


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


def _folder_members(root: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and is_image_name(path.name):
            yield path.relative_to(root).as_posix(), path.read_bytes


def _zip_members(path: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise CaeDenoiseError(f"{path}: not a readable zip archive ({error})") from error
    with archive:
        for info in sorted(archive.infolist(), key=lambda item: item.filename):
            if not info.is_dir() and is_image_name(info.filename):
                yield info.filename, (lambda info=info: archive.read(info))


def _tar_members(path: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    try:
        archive = tarfile.open(path)  # noqa: SIM115 - closed by the with-block below
    except (tarfile.TarError, OSError) as error:
        raise CaeDenoiseError(f"{path}: not a readable tar archive ({error})") from error
    with archive:
        for member in sorted(archive.getmembers(), key=lambda item: item.name):
            if member.isfile() and is_image_name(member.name):  # links and devices are never followed
                yield member.name, (lambda member=member: archive.extractfile(member).read())


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
        members = _zip_members(path)
    elif _is_tar_name(path):
        members = _tar_members(path)
    else:
        raise CaeDenoiseError(f"{spec}: not a folder, .zip or .tar[.gz] archive")
    images, skipped = [], []
    for name, read in members:
        try:
            images.append(NamedImage(name, read_rgb(read(), label=f"{spec}:{name}")))
        except CaeDenoiseError as error:
            skipped.append((name, str(error).split(": ", 1)[-1]))
        except (OSError, KeyError, tarfile.TarError, zipfile.BadZipFile) as error:
            skipped.append((name, f"unreadable archive member ({error})"))
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
            raise CaeDenoiseError(f"unknown split {name!r}; choose train, val, test or all")
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
