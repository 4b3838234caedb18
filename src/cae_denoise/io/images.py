"""Read and write image files.

On the image side every array is HWC float32 in [0, 1]. Reading applies the EXIF orientation and
keeps what a writer needs to give the user back a file like the one they gave us (grayscale or
colour, alpha channel, bit depth, EXIF and ICC profile). Anything a malformed or hostile file can make
Pillow raise becomes a one-line ``CaeDenoiseError`` naming the file.
"""

from __future__ import annotations

import dataclasses
import io
import re
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import BinaryIO

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from ..errors import CaeDenoiseError, one_line, out_of_memory, too_large, too_large_if_out_of_memory
from .regular import open_regular

#: File suffixes treated as images when scanning folders and archives.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".ppm", ".pgm"})


@dataclass(frozen=True)
class OutputFormat:
    """A format outputs are written in: Pillow's name for it, the suffix its files get, the other names
    ``--format`` takes for it, and the input suffixes ``--format auto`` writes it for."""

    pillow: str
    suffix: str
    aliases: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()


#: The formats ``encode_image`` writes, by name; ``--format auto`` writes the first (PNG) for inputs that no
#: format lists (PNG, BMP, WebP, PPM: lossless).
OUTPUT_FORMATS = {
    "png": OutputFormat("PNG", ".png"),
    "jpeg": OutputFormat("JPEG", ".jpg", aliases=("jpg",), inputs=(".jpg", ".jpeg")),
    "tiff": OutputFormat("TIFF", ".tif", aliases=("tif",), inputs=(".tif", ".tiff")),
}
#: Every name of an output format, aliases included (what ``--format`` takes besides ``auto``).
OUTPUT_FORMAT_NAMES = tuple(alias for name, fmt in OUTPUT_FORMATS.items() for alias in (name, *fmt.aliases))


def output_format_named(name: str) -> str | None:
    """The ``OUTPUT_FORMATS`` key that ``name`` (any case, or an alias) stands for, or None."""
    name = name.lower()
    return next((key for key, fmt in OUTPUT_FORMATS.items() if name == key or name in fmt.aliases), None)


#: PNG compression level. PNG is lossless at every level; level 1 is zlib's run-length strategy here, which on
#: denoised photos gave files as small as level 9's, several times faster (see benchmarks/README.md).
DEFAULT_PNG_LEVEL = 1
#: JPEG quality of outputs (``denoise --quality``), with Pillow's 4:2:0 chroma subsampling as cameras save.
DEFAULT_JPEG_QUALITY = 95
#: TIFF outputs are compressed losslessly: LZW with horizontal differencing through Pillow (8-bit, 16-bit gray),
#: zlib level 1 with the same predictor through tifffile (16-bit colour; tifffile decodes it without
#: imagecodecs). On a denoised 12 MP photo: see README "denoise".
_TIFF_PREDICTOR = 317

#: Pillow modes holding one channel of 16-bit, 32-bit integer or float samples.
_WIDE_GRAY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")

#: What Pillow, zlib and numpy raise on malformed files. Listed, not ``Exception``, so bugs still raise.
_MALFORMED_FILE_ERRORS = (
    OSError,
    ValueError,
    TypeError,
    SyntaxError,
    EOFError,
    IndexError,
    KeyError,
    OverflowError,
    ZeroDivisionError,
    struct.error,
    zlib.error,
)

#: EXIF tags that describe a photo rather than a TIFF file's layout. A TIFF keeps its EXIF tags in its own
#: directory, beside ImageWidth, StripOffsets and the like, so only these are read from TIFF input and
#: written into TIFF output (a stray ImageWidth from a JPEG's EXIF would corrupt a TIFF).
_DESCRIPTIVE_EXIF_TAGS = frozenset(
    {
        ExifTags.Base.ImageDescription,
        ExifTags.Base.Make,
        ExifTags.Base.Model,
        ExifTags.Base.Orientation,
        ExifTags.Base.Software,
        ExifTags.Base.DateTime,
        ExifTags.Base.Artist,
        ExifTags.Base.Copyright,
        ExifTags.IFD.Exif,
        ExifTags.IFD.GPSInfo,
    }
)
_EXIF_SUBDIRECTORIES = (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo)

#: The largest EXIF block a JPEG can hold (one APP1 marker segment, "Exif\0\0" included); Pillow refuses more.
_JPEG_MAX_EXIF_BYTES = 65533

#: EXIF orientations (2-8) as numpy operations on an HxWxC array, each what Pillow's ``exif_transpose`` does.
_ORIENTATIONS = {
    2: lambda pixels: pixels[:, ::-1],
    3: lambda pixels: pixels[::-1, ::-1],
    4: lambda pixels: pixels[::-1],
    5: lambda pixels: pixels.transpose(1, 0, 2),
    6: lambda pixels: np.rot90(pixels, -1),
    7: lambda pixels: np.rot90(pixels, 2).transpose(1, 0, 2),
    8: lambda pixels: np.rot90(pixels, 1),
}


@dataclass
class DecodedImage:
    """A decoded image and what is needed to write a result in the same shape.

    Attributes
    ----------
    rgb : HxWx3 float32 in [0, 1]; grayscale inputs are replicated to three channels.
    alpha : HxW float32 in [0, 1], or None when the file has no alpha channel.
    grayscale : the file had a single (luminance) channel.
    bit_depth : 8 or 16, the precision of the file's samples.
    exif : the file's EXIF block ("Exif\\0\\0" + TIFF header) with Orientation reset to 1, since ``rgb`` is
        already upright (from a TIFF, only its descriptive tags); None when the file has none.
    icc_profile : the file's embedded ICC colour profile, or None.
    notes : what could not be read as stored (e.g. a 16-bit colour PNG read at 8 bits without OpenCV).
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    grayscale: bool
    bit_depth: int
    exif: bytes | None = None
    icc_profile: bytes | None = None
    notes: tuple[str, ...] = ()


def is_image_name(name: str) -> bool:
    """Whether a file name has one of the image suffixes we read."""
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


@contextmanager
def _reading(label: str, problem: str) -> Iterator[None]:
    """Turn what reading a file can raise into a one-line ``CaeDenoiseError`` naming ``label``.

    ``problem`` words the catch-all case (malformed data). Images above Pillow's ``Image.MAX_IMAGE_PIXELS``
    (about 89 megapixels) are refused from their header, before any pixel is decoded, so a "decompression
    bomb" cannot exhaust memory.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # e.g. Pillow's "Corrupt EXIF data": not the user's concern
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except FileNotFoundError as error:
        raise CaeDenoiseError(f"{label}: file not found") from error
    except IsADirectoryError as error:
        raise CaeDenoiseError(f"{label}: is a folder, not an image file") from error
    except PermissionError as error:
        raise CaeDenoiseError(f"{label}: permission denied") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise _bomb(label) from error
    except UnidentifiedImageError as error:
        raise CaeDenoiseError(f"{label}: not an image Pillow can read (unknown or corrupt format)") from error
    except _MALFORMED_FILE_ERRORS as error:
        raise CaeDenoiseError(f"{label}: {problem} ({one_line(error)})") from error
    except Exception as error:  # NumPy's MemoryError, OpenCV's "Insufficient memory": see errors.out_of_memory
        if not out_of_memory(error):
            raise
        raise too_large(label, "decode") from error


def _bomb(label: str) -> CaeDenoiseError:
    limit = Image.MAX_IMAGE_PIXELS
    return CaeDenoiseError(f"{label}: refused, more than {limit:,} pixels (possible decompression bomb)")


def _check_pixel_count(width: int, height: int, label: str) -> None:
    """Refuse an image above Pillow's ``Image.MAX_IMAGE_PIXELS``, as Pillow does (for files it does not read)."""
    if width * height > Image.MAX_IMAGE_PIXELS:
        raise _bomb(label)


def _frames_error(label: str, frames: int) -> CaeDenoiseError:
    kind = "animated or multi-page"
    return CaeDenoiseError(f"{label}: has {frames} frames ({kind}); cae-denoise reads single images only")


@contextmanager
def _stream(source: str | Path | bytes, label: str) -> Iterator[BinaryIO]:
    """The file's bytes as a seekable stream: ``source`` itself, or the file opened if it is a regular one
    (``regular.open_regular``: a FIFO or device is refused, never waited on)."""
    if isinstance(source, bytes):
        yield io.BytesIO(source)
    else:
        with open_regular(source, label, "an image file") as handle:
            yield handle


def _check_single_frame(image: Image.Image, label: str) -> None:
    """Refuse animations and multi-page files: which frame to denoise would be a guess.

    An MPO (a camera JPEG with extra pictures: previews, depth maps) is read as its first frame, the photo.
    """
    frames = getattr(image, "n_frames", 1)
    if frames > 1 and image.format != "MPO":
        raise _frames_error(label, frames)


def _exif_tags(exif: bytes) -> Image.Exif:
    """The tags of an EXIF block."""
    tags = Image.Exif()
    tags.load(exif)
    return tags


def _descriptive_exif(tags: Image.Exif) -> Image.Exif:
    """A new ``Exif`` with only the tags of ``tags`` in ``_DESCRIPTIVE_EXIF_TAGS`` (subdirectories in full)."""
    kept = Image.Exif()
    for tag in _DESCRIPTIVE_EXIF_TAGS & set(tags):
        kept[tag] = tags.get_ifd(tag) if tag in _EXIF_SUBDIRECTORIES else tags[tag]
    return kept


def _upright_exif(image: Image.Image) -> bytes | None:
    """The file's EXIF block ("Exif\\0\\0" + TIFF header) with Orientation 1, as the pixels are turned upright.

    JPEG, PNG and WebP hold EXIF as a block of its own; from a TIFF only the descriptive tags are taken.
    None when the file has no EXIF.
    """
    if image.info.get("exif"):
        exif = Image.Exif()
        exif.load(image.info["exif"])
    elif image.format == "TIFF":
        exif = _descriptive_exif(image.getexif())
        if not exif:
            return None
    else:
        return None
    exif[ExifTags.Base.Orientation] = 1
    return exif.tobytes()


def _ppm_max_value(image: Image.Image) -> int:
    """The largest sample value a PPM / PGM file declares (Pillow reads colour above 255 at 8 bits), else 0."""
    declared = [tile.args[1] for tile in image.tile if tile.codec_name == "ppm" and len(tile.args) > 1]
    return declared[0] if declared and isinstance(declared[0], int) else 0


def _open(stream: BinaryIO, label: str) -> Image.Image:
    """Open, fully decode and turn upright (EXIF orientation) a single-frame image; errors name ``label``.

    The result's ``info`` holds ``cae_denoise_16bit`` (the file's samples are 16-bit), ``exif`` (see
    ``_upright_exif``; absent when the file has none) and Pillow's ``icc_profile`` when the file has one.
    """
    with _reading(label, "corrupt or truncated image"), Image.open(stream) as image:
        _check_single_frame(image, label)
        raw_modes = [str(tile.args) for tile in image.tile]
        ppm_max_value = _ppm_max_value(image)  # read before load(), which empties image.tile
        sixteen_bit = any(";16" in mode for mode in raw_modes) or ppm_max_value > 255
        gray_with_alpha = any(mode.startswith("LA") for mode in raw_modes)  # Pillow decodes 16-bit LA as RGBA
        image.load()
        with _reading(label, "unreadable EXIF metadata"):
            orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
            turned = orientation in _ORIENTATIONS
            upright = ImageOps.exif_transpose(image) if turned else image  # it copies even when not turning
            exif = _upright_exif(image)
    upright.info.pop("exif", None)
    if exif is not None:
        upright.info["exif"] = exif
    upright.info["cae_denoise_16bit"] = sixteen_bit
    upright.info["cae_denoise_gray_alpha"] = gray_with_alpha
    upright.info["cae_denoise_orientation"] = orientation if turned else 1
    upright.info["cae_denoise_format"] = image.format
    upright.info["cae_denoise_ppm_max_value"] = ppm_max_value
    return upright


def _check_float_range(values: np.ndarray, label: str) -> None:
    """Float samples must be finite and in [0, 1]: another scale would be a guess, so it is refused."""
    if not np.isfinite(values).all():
        raise CaeDenoiseError(f"{label}: contains NaN or infinite pixel values")
    low, high = float(values.min(initial=np.inf)), float(values.max(initial=-np.inf))
    if low < 0.0 or high > 1.0:
        raise CaeDenoiseError(
            f"{label}: float samples range from {low:g} to {high:g}, outside [0, 1]; cae-denoise reads float images "
            "as [0, 1] and does not guess another scale (rescale the file to [0, 1], or save it as 16-bit)"
        )


def _to_float(image: Image.Image, label: str) -> tuple[np.ndarray, int]:
    """Convert a Pillow image in mode L, I;16*, I, F, RGB or RGBA to float32 in [0, 1] and its bit depth.

    Float images (mode F) must hold values in [0, 1] (``_check_float_range``).
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        values = np.asarray(image, dtype=np.float64)
        return np.clip(values / 65535.0, 0.0, 1.0).astype(np.float32), 16
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float32)
        _check_float_range(values, label)
        return values, 16
    return np.divide(np.asarray(image), np.float32(255.0), dtype=np.float32), 8  # one full-size allocation


def decode_image(source: str | Path | bytes, label: str | None = None) -> DecodedImage:
    """Decode an image file (path or bytes) keeping its gray/colour kind, alpha, bit depth, EXIF and ICC profile.

    Raises ``CaeDenoiseError`` naming ``label`` (default: the path) for anything unreadable, a file that is not a
    regular one (a FIFO, a device), animated or multi-page files, float images holding NaN, infinite or
    out-of-range values, and TIFF samples with no standard mapping to [0, 1] (signed or 32-bit integers).
    """
    label = label or str(source if not isinstance(source, bytes) else "<bytes>")
    with _reading(label, "corrupt or truncated image"), _stream(source, label) as stream:
        if _is_tiff(stream):
            decoded = _decode_tiff(stream, label)
            if decoded is not None:
                return decoded
        return _decode_with_pillow(stream, label)


def image_size(source: str | Path | bytes, label: str | None = None) -> tuple[int, int]:
    """(width, height) of an image file from its header alone, without decoding a pixel (turned by EXIF or
    not: the pixel count is the same). Raises as ``decode_image`` does for a header that cannot be read, a file
    that is not a regular one, and images above ``Image.MAX_IMAGE_PIXELS``."""
    label = label or str(source if not isinstance(source, bytes) else "<bytes>")
    with _reading(label, "corrupt or truncated image"), _stream(source, label) as stream:
        if _is_tiff(stream):
            import tifffile

            with tifffile.TiffFile(stream) as tiff:
                size = int(tiff.pages[0].imagewidth), int(tiff.pages[0].imagelength)
        else:
            with Image.open(stream) as image:
                size = image.size
    _check_pixel_count(*size, label)
    return size


def _decode_with_pillow(stream: BinaryIO, label: str) -> DecodedImage:
    """``decode_image`` through Pillow (16-bit colour samples, which Pillow reads at 8 bits, re-read through
    ``_SIXTEEN_BIT_READERS``)."""
    image = _open(stream, label)
    with _reading(label, "unsupported image mode or content"):  # e.g. LAB/HSV, which Pillow cannot convert to RGB
        decoded = _decode(image, label)
    if decoded.bit_depth == 16 and image.mode not in _WIDE_GRAY_MODES:
        with _reading(label, "corrupt 16-bit samples"):
            stream.seek(0)
            data = stream.read()
            file_format = image.info["cae_denoise_format"]
            if file_format == "PPM" and image.info["cae_denoise_ppm_max_value"] != 65535:
                file_format = f"PPM with samples up to {image.info['cae_denoise_ppm_max_value']}"
            return _with_16_bit_samples(decoded, data, file_format, image.info["cae_denoise_orientation"])
    return decoded


# --- TIFFs that Pillow does not read as stored: through tifffile -------------------------------------------

#: TIFF photometric interpretations read through tifffile: gray (0 is white, 1 is black) and RGB.
_TIFF_MINISWHITE, _TIFF_MINISBLACK, _TIFF_RGB = 0, 1, 2
#: TIFF extra-sample kinds that are an alpha channel (associated and unassociated).
_TIFF_ALPHA_KINDS = (1, 2)
_TIFF_ORIENTATION, _TIFF_ICC_PROFILE = 274, 34675


def _is_tiff(stream: BinaryIO) -> bool:
    """Whether the stream starts with a TIFF or BigTIFF header (the stream is left at its start)."""
    head = stream.read(4)
    stream.seek(0)
    return head in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")


def _pillow_reads(page: object) -> bool:
    """Whether Pillow reads this TIFF page's samples as stored: 1- and 8-bit images, 16-bit gray in one channel,
    and colour models other than gray and RGB (palette, YCbCr, CMYK, CIELab), which tifffile does not convert.
    Pillow reads 16-bit colour at 8 bits (a plane-by-plane one scrambled), float colour and 16-bit gray + alpha
    not at all, and 32-bit or signed integers as 32-bit integers that it would clip."""
    dtype = getattr(page, "dtype", None)
    if getattr(page, "photometric", None) not in (_TIFF_MINISWHITE, _TIFF_MINISBLACK, _TIFF_RGB) or dtype is None:
        return True
    if dtype.itemsize == 1 and dtype.kind in "bu":
        return True
    return dtype == np.uint16 and page.samplesperpixel == 1 and page.photometric == _TIFF_MINISBLACK


def _check_tiff_samples(dtype: np.dtype, label: str) -> None:
    """Refuse TIFF samples that have no standard mapping to [0, 1]: signed integers, 32- and 64-bit integers."""
    if dtype.kind == "f" or dtype == np.uint16:
        return
    bits = dtype.itemsize * 8
    if dtype.kind == "i":
        raise CaeDenoiseError(
            f"{label}: signed {bits}-bit integer samples have no standard mapping to [0, 1]; cae-denoise does not "
            "guess one (convert the file to unsigned 8 or 16 bits, or to float in [0, 1])"
        )
    raise CaeDenoiseError(
        f"{label}: {bits}-bit integer samples are not read: cae-denoise reads 8- and 16-bit integer and [0, 1] float "
        "TIFFs, and would have to guess which values are black and white (convert the file to 16 bits)"
    )


def _tiff_metadata(stream: BinaryIO) -> tuple[int, bytes | None, bytes | None]:
    """A TIFF's orientation, descriptive tags (``_DESCRIPTIVE_EXIF_TAGS``, as an EXIF block with Orientation 1,
    or None) and ICC profile (or None), read from its first directory with Pillow, without reading pixels."""
    from PIL import TiffImagePlugin

    stream.seek(0)
    head = stream.read(16)
    head = head if b"+" in head[2:4] else head[:8]  # BigTIFF ("II+\0", "MM\0+") has a 16-byte header

    def directory(offset: int) -> TiffImagePlugin.ImageFileDirectory_v2:
        loaded = TiffImagePlugin.ImageFileDirectory_v2(head)
        stream.seek(offset)
        loaded.load(stream)
        return loaded

    first = directory(TiffImagePlugin.ImageFileDirectory_v2(head).next)
    kept = Image.Exif()
    for tag in _DESCRIPTIVE_EXIF_TAGS & set(first):
        kept[tag] = dict(directory(first[tag])) if tag in _EXIF_SUBDIRECTORIES else first[tag]
    orientation = first.get(_TIFF_ORIENTATION, 1)
    exif = None
    if kept:
        kept[ExifTags.Base.Orientation] = 1
        exif = kept.tobytes()
    icc_profile = first.get(_TIFF_ICC_PROFILE)
    return orientation, exif, icc_profile if isinstance(icc_profile, bytes) and icc_profile else None


def _tiff_channels(samples: np.ndarray, axes: str, label: str) -> np.ndarray:
    """A page's samples as HxWxC, whether stored pixel by pixel (``YXS``, ``YX``) or plane by plane (``SYX``)."""
    if axes == "SYX":
        return np.moveaxis(samples, 0, -1)
    if axes == "YX":
        return samples[..., None]
    if axes != "YXS":
        raise CaeDenoiseError(f"{label}: TIFF layout {axes} is not a single 2-D image")
    return samples


def _decode_tiff(stream: BinaryIO, label: str) -> DecodedImage | None:
    """A gray or RGB TIFF of 16-bit or float samples, stored pixel by pixel or plane by plane, read through
    tifffile and turned upright; None when Pillow reads the file as stored (``_pillow_reads``), or when tifffile
    cannot decode a file Pillow reads at 8 bits (16-bit samples stored pixel by pixel): Pillow then does, and
    says so. The output keeps 16 bits for 16-bit and float samples."""
    import tifffile

    with tifffile.TiffFile(stream) as tiff:
        page = tiff.pages[0]
        if _pillow_reads(page):
            return None
        if len(tiff.pages) > 1:
            raise _frames_error(label, len(tiff.pages))
        _check_pixel_count(page.imagewidth, page.imagelength, label)
        _check_tiff_samples(page.dtype, label)
        photometric, extras, axes = page.photometric, tuple(page.extrasamples), page.axes
        try:
            samples = page.asarray()
        except ValueError as error:  # e.g. LZW or JPEG compression, which need the imagecodecs package
            if page.planarconfig == 1 and page.dtype == np.uint16:
                stream.seek(0)
                return None
            raise CaeDenoiseError(f"{label}: tifffile cannot decode this TIFF ({one_line(error)})") from error
    with _reading(label, "unreadable TIFF metadata"):
        orientation, exif, icc_profile = _tiff_metadata(stream)
    samples = _tiff_channels(samples, axes, label)
    colours = 3 if photometric == _TIFF_RGB else 1
    if samples.shape[2] < colours:
        raise CaeDenoiseError(f"{label}: an RGB TIFF with {samples.shape[2]} sample(s) per pixel")
    if orientation in _ORIENTATIONS:
        samples = _ORIENTATIONS[orientation](samples)
    if samples.dtype.kind == "f":
        _check_float_range(samples, label)
        values = samples.astype(np.float32)
    else:
        values = np.divide(samples, np.float32(65535.0), dtype=np.float32)
    colour = values[..., :colours]
    if photometric == _TIFF_MINISWHITE:
        colour = 1.0 - colour
    has_alpha = bool(extras) and extras[0] in _TIFF_ALPHA_KINDS and samples.shape[2] > colours
    alpha = np.ascontiguousarray(values[..., colours]) if has_alpha else None
    unread = samples.shape[2] - colours - has_alpha
    notes = (f"{unread} extra channel(s) of the TIFF not read",) if unread else ()
    rgb = np.repeat(colour, 3, axis=2) if colours == 1 else np.ascontiguousarray(colour)
    return DecodedImage(rgb, alpha, colours == 1, 16, exif, icc_profile, notes)


def _opencv_16_bit_pixels(data: bytes) -> np.ndarray | None:
    """A PNG's or PPM's samples as HxWxC (RGB or RGBA order) through OpenCV, or None without OpenCV or when it
    fails."""
    try:
        import cv2
    except ImportError:
        return None
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.ndim != 3:
        return None
    return pixels[..., [2, 1, 0, *range(3, pixels.shape[2])]]  # OpenCV's channel order is BGR(A)


def _tifffile_16_bit_pixels(data: bytes) -> np.ndarray | None:
    """A TIFF's first image as stored, through tifffile, or None when tifffile cannot read it."""
    import tifffile

    try:
        return tifffile.imread(io.BytesIO(data), key=0)
    except _MALFORMED_FILE_ERRORS:
        return None


#: Who reads 16-bit colour files at full precision (Pillow reads them at 8 bits), and what to install if missing.
_SIXTEEN_BIT_READERS = {
    "PNG": (_opencv_16_bit_pixels, "16-bit colour PNGs need OpenCV (pip install 'cae-denoise[png16]')"),
    "TIFF": (_tifffile_16_bit_pixels, "tifffile could not read this 16-bit TIFF"),
    "PPM": (_opencv_16_bit_pixels, "16-bit colour PPMs need OpenCV (pip install 'cae-denoise[png16]')"),
}


def _with_16_bit_samples(decoded: DecodedImage, data: bytes, file_format: str | None, orientation: int) -> DecodedImage:
    """A 16-bit colour or gray + alpha PNG, TIFF or PPM at full precision, turned upright as ``decoded`` is: PNG
    and PPM through OpenCV, TIFF through tifffile. When that reader is missing or gives other pixels than expected,
    the 8-bit samples stay and ``notes`` says so."""
    reader, missing = _SIXTEEN_BIT_READERS.get(file_format or "", (None, f"no 16-bit reader for {file_format}"))
    pixels = reader(data) if reader is not None else None
    if pixels is None:
        return dataclasses.replace(decoded, notes=(*decoded.notes, f"read at 8-bit precision: {missing}"))
    if orientation in _ORIENTATIONS:
        pixels = _ORIENTATIONS[orientation](pixels)
    expected = (*decoded.rgb.shape[:2], 3 if decoded.alpha is None else 4)
    if pixels.dtype != np.uint16 or pixels.shape != expected:
        note = f"read at 8-bit precision: its {pixels.dtype} samples of shape {pixels.shape} are not 16-bit colour"
        return dataclasses.replace(decoded, notes=(*decoded.notes, note))
    values = pixels.astype(np.float32) / 65535.0
    alpha = np.ascontiguousarray(values[..., 3]) if decoded.alpha is not None else None
    return dataclasses.replace(decoded, rgb=np.ascontiguousarray(values[..., :3]), alpha=alpha)


def _decode(image: Image.Image, label: str) -> DecodedImage:
    """The ``DecodedImage`` of an image from ``_open``; errors name ``label``."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    alpha = None
    if has_alpha:
        alpha = np.asarray(image.convert("RGBA").getchannel("A"), dtype=np.float32) / 255.0
    metadata = {"exif": image.info.get("exif"), "icc_profile": image.info.get("icc_profile") or None}
    if image.mode in _WIDE_GRAY_MODES:
        gray, depth = _to_float(image, label)
        return DecodedImage(np.repeat(gray[..., None], 3, axis=2), alpha, True, depth, **metadata)
    grayscale = image.mode in ("1", "L", "LA") or image.info.get("cae_denoise_gray_alpha", False)
    grayscale = grayscale or (image.mode == "P" and _palette_is_gray(image))
    rgb, depth = _to_float(image if image.mode == "RGB" else image.convert("RGB"), label)
    # Pillow reads 16-bit colour and gray+alpha PNGs at 8-bit precision; still write 16-bit so the output
    # keeps the input's depth and the denoiser's finer precision.
    depth = 16 if image.info.get("cae_denoise_16bit") else depth
    return DecodedImage(np.ascontiguousarray(rgb), alpha, grayscale, depth, **metadata)


def _palette_is_gray(image: Image.Image) -> bool:
    """Whether every colour of a palette image is a shade of gray."""
    colours = np.asarray(image.convert("RGB"))
    return bool(np.array_equal(colours[..., 0], colours[..., 1]) and np.array_equal(colours[..., 1], colours[..., 2]))


def read_rgb(source: str | Path | bytes, label: str | None = None) -> np.ndarray:
    """Read an image file as HxWx3 float32 RGB in [0, 1] (alpha dropped, gray replicated)."""
    return decode_image(source, label).rgb


#: Elements per strip when converting whole images: temporaries stay in cache and a 12 MP photo does not
#: allocate several full-size float arrays (fresh memory costs page faults: 0.3 s per 12 MP encode here).
_STRIP_ELEMENTS = 1 << 20


def _quantise(values: np.ndarray, bit_depth: int) -> np.ndarray:
    """Round [0, 1] floats (clipped) to unsigned integers of the given depth, a strip of rows at a time."""
    top = 65535 if bit_depth == 16 else 255
    quantised = np.empty(values.shape, np.uint16 if bit_depth == 16 else np.uint8)
    rows = max(1, _STRIP_ELEMENTS // max(1, values[0].size)) if values.ndim > 1 else len(values)
    for start in range(0, len(values), rows):
        strip = np.clip(values[start : start + rows], 0.0, 1.0)
        strip *= top
        quantised[start : start + rows] = np.rint(strip, out=strip)
    return quantised


def _matching_icc(icc_profile: bytes | None, grayscale: bool) -> bytes | None:
    """The profile if its colour space (header bytes 16-19) fits the output's channels, else None.

    A gray image may only carry a GRAY profile and a colour one an RGB profile (PNG and JPEG readers
    reject or ignore anything else).
    """
    wanted = b"GRAY" if grayscale else b"RGB "
    return icc_profile if icc_profile and icc_profile[16:20] == wanted else None


def _metadata_options(fmt_name: str, exif: bytes | None, icc_profile: bytes | None) -> dict[str, object]:
    """Pillow ``save`` options carrying the EXIF block and ICC profile the format can hold."""
    options: dict[str, object] = {"icc_profile": icc_profile} if icc_profile else {}
    if not exif or (fmt_name == "JPEG" and len(exif) > _JPEG_MAX_EXIF_BYTES):
        return options
    if fmt_name == "TIFF":  # see _DESCRIPTIVE_EXIF_TAGS
        exif = _descriptive_exif(_exif_tags(exif)).tobytes()
    return {**options, "exif": exif}


def _to_pillow(rgb: np.ndarray, alpha: np.ndarray | None, grayscale: bool, bit_depth: int) -> Image.Image:
    """An HxWx3 float image in [0, 1] as a Pillow image: L, LA or I;16 when gray, else RGB or RGBA (8-bit)."""
    if grayscale:
        gray = rgb.mean(axis=2)
        if bit_depth == 16 and alpha is None:
            return Image.fromarray(_quantise(gray, 16))  # mode I;16
        image = Image.fromarray(_quantise(gray, 8), mode="L")
    else:
        image = Image.fromarray(_quantise(rgb, 8), mode="RGB")
    if alpha is not None:
        image.putalpha(Image.fromarray(_quantise(alpha, 8), mode="L"))
    return image


def opencv_png_writer() -> ModuleType | None:
    """OpenCV's ``cv2`` when it can write PNGs with EXIF and ICC profiles (4.13 or newer), else None.

    Installed with ``pip install 'cae-denoise[png16]'``: it writes 16-bit colour PNGs, which Pillow cannot,
    and encoded a denoised photo 1.7 times as fast as Pillow at the same size (benchmarks/README.md).
    """
    try:
        import cv2
    except ImportError:
        return None
    version = tuple(int(part) for part in re.findall(r"\d+", getattr(cv2, "__version__", ""))[:2])
    return cv2 if version >= (4, 13) and hasattr(cv2, "imencodeWithMetadata") else None


def png_output_loss(grayscale: bool, has_alpha: bool, bit_depth: int) -> str | None:
    """What a PNG written here cannot keep of an image of this kind (a note for the user), or None.

    Pillow writes 16-bit PNGs in grayscale only, OpenCV in colour too (if installed) but not gray + alpha.
    """
    if bit_depth != 16 or (grayscale and not has_alpha):
        return None
    if grayscale:
        return "written at 8 bits: neither Pillow nor OpenCV writes 16-bit gray + alpha PNGs"
    if opencv_png_writer() is None:
        return "written at 8 bits: 16-bit colour PNGs need OpenCV (pip install 'cae-denoise[png16]')"
    return None


def tiff_output_loss(grayscale: bool, has_alpha: bool, bit_depth: int, exif: bytes | None) -> str | None:
    """What a TIFF written here cannot keep of an image of this kind (a note for the user), or None.

    TIFFs are written compressed (Pillow through libtiff, 16-bit colour through tifffile), and neither writes
    EXIF's camera-settings and GPS directories: the top-level descriptive tags are kept. 16-bit gray + alpha,
    which Pillow cannot read back, is written at 8 bits.
    """
    if bit_depth == 16 and grayscale and has_alpha:
        return "written at 8 bits: 16-bit gray + alpha TIFFs are not written here"
    if exif and any(directory in _exif_tags(exif) for directory in _EXIF_SUBDIRECTORIES):
        return "EXIF camera settings and GPS dropped: compressed TIFFs keep only the top-level tags"
    return None


def _tiff16_with_tifffile(pixels: np.ndarray, *, exif: bytes | None, icc_profile: bytes | None) -> bytes:
    """Encode HxWxC uint16 pixels (C = 3 RGB, 4 RGBA) as a TIFF through tifffile (Pillow writes these at 8
    bits), with the ICC profile and the EXIF block's top-level descriptive tags (Orientation set to 1)."""
    import tifffile

    tags = _descriptive_exif(_exif_tags(exif)) if exif else Image.Exif()
    text_tags = [(tag, "s", 0, value, True) for tag, value in sorted(tags.items()) if isinstance(value, str)]
    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer,
        pixels,
        photometric="rgb",
        extrasamples=["unassalpha"] if pixels.shape[2] == 4 else None,
        iccprofile=icc_profile,
        compression="zlib",
        compressionargs={"level": 1},
        predictor=True,
        software=False,
        metadata=None,
        extratags=[*text_tags, (ExifTags.Base.Orientation, "H", 1, 1, True)] if exif else [],
    )
    return buffer.getvalue()


def _png_with_opencv(
    cv2: ModuleType,
    pixels: np.ndarray,
    *,
    exif: bytes | None,
    icc_profile: bytes | None,
    level: int,
) -> bytes:
    """Encode HxWxC unsigned pixels (C = 1 gray, 3 RGB, 4 RGBA) as a PNG through OpenCV, EXIF and ICC kept.

    Level 1 uses run-length compression of Paeth-filtered rows: on a denoised photo its file was as small as
    level 9's and it encoded eight times faster (benchmarks/README.md). Levels 2-9 are zlib's, with the best
    filter chosen for each row, as Pillow writes them.
    """
    if pixels.shape[2] >= 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR if pixels.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    params = [cv2.IMWRITE_PNG_COMPRESSION, level]
    if level == 1:
        params += [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
        params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_PAETH]
    elif level > 1:  # as Pillow does: the best filter for each row, zlib's strategy for filtered data
        params += [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_FILTERED]
        params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_ALL_FILTERS]
    kinds, blocks = [], []
    if exif:
        kinds.append(cv2.IMAGE_METADATA_EXIF)  # an eXIf chunk holds the TIFF header onwards
        blocks.append(np.frombuffer(exif.removeprefix(b"Exif\0\0"), np.uint8))
    if icc_profile:
        kinds.append(cv2.IMAGE_METADATA_ICCP)
        blocks.append(np.frombuffer(icc_profile, np.uint8))
    ok, data = cv2.imencodeWithMetadata(".png", pixels, kinds, blocks, params)
    if not ok:
        raise CaeDenoiseError(f"OpenCV could not encode a {pixels.shape} {pixels.dtype} PNG")
    return data.tobytes()


def encode_image(
    rgb: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    grayscale: bool = False,
    bit_depth: int = 8,
    fmt: str = "png",
    exif: bytes | None = None,
    icc_profile: bytes | None = None,
    png_level: int = DEFAULT_PNG_LEVEL,
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
) -> bytes:
    """Encode an HxWx3 float image in [0, 1] as PNG, JPEG (at ``jpeg_quality``, 1-100) or TIFF (compressed
    losslessly) bytes.

    Grayscale output keeps one channel (the mean of RGB). 16-bit is kept for PNG gray and, with OpenCV, PNG
    colour (``png_output_loss`` says when it is not), and for TIFF gray; JPEG is always 8-bit and drops alpha.
    PNGs go through OpenCV when it is installed (faster), gray + alpha PNGs and the other formats through
    Pillow. ``exif`` (an EXIF block, as ``DecodedImage.exif``) and ``icc_profile`` are written into every
    format. Dropped: a profile whose colour space does not fit the output (GRAY for gray, RGB for colour),
    EXIF above 64 KiB in JPEG (one marker segment), and in TIFF the EXIF tags outside
    ``_DESCRIPTIVE_EXIF_TAGS``. Memory running out (NumPy, OpenCV) is the one "too large" error.
    """
    with too_large_if_out_of_memory(f"a {rgb.shape[1]}x{rgb.shape[0]} {fmt.upper()} output", "encode"):
        return _encode(rgb, alpha, grayscale, bit_depth, fmt, exif, icc_profile, png_level, jpeg_quality)


def _encode(
    rgb: np.ndarray,
    alpha: np.ndarray | None,
    grayscale: bool,
    bit_depth: int,
    fmt: str,
    exif: bytes | None,
    icc_profile: bytes | None,
    png_level: int,
    jpeg_quality: int,
) -> bytes:
    """``encode_image`` itself."""
    key = output_format_named(fmt)
    if key is None:
        raise CaeDenoiseError(f"unsupported output format {fmt!r}; choose one of {', '.join(OUTPUT_FORMATS)}")
    fmt_name = OUTPUT_FORMATS[key].pillow
    if fmt_name == "JPEG":
        bit_depth, alpha = 8, None
    cv2 = opencv_png_writer() if fmt_name == "PNG" else None
    if fmt_name == "PNG" and png_output_loss(grayscale, alpha is not None, bit_depth):
        bit_depth = 8
    icc_profile = _matching_icc(icc_profile, grayscale)
    if fmt_name == "TIFF" and bit_depth == 16 and not grayscale:
        channels = [rgb] if alpha is None else [rgb, alpha[..., None]]
        pixels = np.concatenate([_quantise(channel, 16) for channel in channels], axis=2)
        return _tiff16_with_tifffile(pixels, exif=exif, icc_profile=icc_profile)
    if cv2 is not None and not (grayscale and alpha is not None):  # OpenCV writes no gray + alpha PNG
        channels = [rgb.mean(axis=2, keepdims=True) if grayscale else rgb]
        if alpha is not None:
            channels.append(alpha[..., None])
        pixels = np.concatenate([_quantise(channel, bit_depth) for channel in channels], axis=2)
        return _png_with_opencv(cv2, pixels, exif=exif, icc_profile=icc_profile, level=png_level)
    save_args: dict[str, object] = {}
    if fmt_name == "JPEG":
        save_args = {"quality": jpeg_quality}
    elif fmt_name == "PNG":  # level 1: run-length compression, as small as level 9 on photos and faster
        save_args = {"compress_level": png_level, **({"compress_type": zlib.Z_RLE} if png_level == 1 else {})}
    metadata = _metadata_options(fmt_name, exif, icc_profile)
    if fmt_name == "TIFF":  # Pillow takes the EXIF tags and the predictor in one directory, ``tiffinfo``
        tags = _exif_tags(metadata.pop("exif")) if "exif" in metadata else Image.Exif()
        for directory in _EXIF_SUBDIRECTORIES:  # libtiff writes no EXIF directories (tiff_output_loss says so)
            tags.pop(directory, None)
        tags[_TIFF_PREDICTOR] = 2  # horizontal differencing
        save_args = {"compression": "tiff_lzw", "tiffinfo": tags}
    buffer = io.BytesIO()
    image = _to_pillow(rgb, alpha, grayscale, bit_depth)
    image.save(buffer, format=fmt_name, **save_args, **metadata)
    return buffer.getvalue()
