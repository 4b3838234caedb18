"""Read and write image files.

On the image side every array is HWC float32 in [0, 1]. Reading applies the EXIF orientation and
keeps what a writer needs to give the user back a file like the one they gave us (grayscale or
colour, alpha channel, bit depth).
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import CaeDenoiseError

#: File suffixes treated as images when scanning folders and archives.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".ppm", ".pgm"})

_OUTPUT_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "tiff": "TIFF", "tif": "TIFF"}


@dataclass
class DecodedImage:
    """A decoded image and what is needed to write a result in the same shape.

    Attributes
    ----------
    rgb : HxWx3 float32 in [0, 1]; grayscale inputs are replicated to three channels.
    alpha : HxW float32 in [0, 1], or None when the file has no alpha channel.
    grayscale : the file had a single (luminance) channel.
    bit_depth : 8 or 16, the precision of the file's samples.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    grayscale: bool
    bit_depth: int


def is_image_name(name: str) -> bool:
    """Whether a file name has one of the image suffixes we read."""
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


def _open(source: str | Path | bytes, label: str) -> Image.Image:
    """Open and fully decode an image with Pillow; errors name ``label``.

    Images above Pillow's ``Image.MAX_IMAGE_PIXELS`` (about 89 megapixels) are refused from their header,
    before any pixel is decoded, so a "decompression bomb" cannot exhaust memory.
    """
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(stream)
            sixteen_bit = any(";16" in str(tile.args) for tile in image.tile)
            image.load()
    except FileNotFoundError as error:
        raise CaeDenoiseError(f"{label}: file not found") from error
    except IsADirectoryError as error:
        raise CaeDenoiseError(f"{label}: is a folder, not an image file") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise CaeDenoiseError(
            f"{label}: refused, more than {Image.MAX_IMAGE_PIXELS:,} pixels (possible decompression bomb)"
        ) from error
    except UnidentifiedImageError as error:
        raise CaeDenoiseError(f"{label}: not an image Pillow can read (unknown or corrupt format)") from error
    except (OSError, ValueError, SyntaxError) as error:
        raise CaeDenoiseError(f"{label}: corrupt or truncated image ({error})") from error
    image = ImageOps.exif_transpose(image)
    image.info["cae_denoise_16bit"] = sixteen_bit
    return image


def _to_float(image: Image.Image) -> tuple[np.ndarray, int]:
    """Convert a Pillow image in mode L, I;16*, I, F, RGB or RGBA to float32 in [0, 1] and its bit depth."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        values = np.asarray(image, dtype=np.float64)
        return np.clip(values / 65535.0, 0.0, 1.0).astype(np.float32), 16
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float32)
        scale = 1.0 if float(values.max(initial=0.0)) <= 1.0 else 255.0
        return np.clip(values / scale, 0.0, 1.0).astype(np.float32), 16
    return np.asarray(image, dtype=np.float32) / 255.0, 8


def decode_image(source: str | Path | bytes, label: str | None = None) -> DecodedImage:
    """Decode an image file (path or bytes) keeping its gray/colour kind, alpha and bit depth.

    Raises ``CaeDenoiseError`` naming ``label`` (default: the path) for anything unreadable.
    """
    label = label or str(source if not isinstance(source, bytes) else "<bytes>")
    try:
        return _decode(_open(source, label))
    except (ValueError, OSError) as error:  # e.g. LAB/HSV, which Pillow cannot convert to RGB
        raise CaeDenoiseError(f"{label}: unsupported image mode or content ({error})") from error


def _decode(image: Image.Image) -> DecodedImage:
    """The ``DecodedImage`` of an opened, loaded Pillow image."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    alpha = None
    if has_alpha:
        alpha = np.asarray(image.convert("RGBA").getchannel("A"), dtype=np.float32) / 255.0
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        gray, depth = _to_float(image)
        return DecodedImage(np.repeat(gray[..., None], 3, axis=2), alpha, True, depth)
    grayscale = image.mode in ("1", "L", "LA") or (image.mode == "P" and _palette_is_gray(image))
    rgb, depth = _to_float(image.convert("RGB"))
    # Pillow reads 16-bit colour PNGs at 8-bit precision; still write 16-bit so the output keeps the
    # input's depth and the denoiser's finer precision.
    depth = 16 if image.info.get("cae_denoise_16bit") else depth
    return DecodedImage(np.ascontiguousarray(rgb), alpha, grayscale, depth)


def _palette_is_gray(image: Image.Image) -> bool:
    """Whether every colour of a palette image is a shade of gray."""
    colours = np.asarray(image.convert("RGB"))
    return bool(np.array_equal(colours[..., 0], colours[..., 1]) and np.array_equal(colours[..., 1], colours[..., 2]))


def read_rgb(source: str | Path | bytes, label: str | None = None) -> np.ndarray:
    """Read an image file as HxWx3 float32 RGB in [0, 1] (alpha dropped, gray replicated)."""
    return decode_image(source, label).rgb


def _quantise(values: np.ndarray, bit_depth: int) -> np.ndarray:
    """Round [0, 1] floats to unsigned integers of the given depth."""
    top = 65535 if bit_depth == 16 else 255
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    return np.round(np.clip(values, 0.0, 1.0) * top).astype(dtype)


def encode_image(
    rgb: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    grayscale: bool = False,
    bit_depth: int = 8,
    fmt: str = "png",
) -> bytes:
    """Encode an HxWx3 float image in [0, 1] as PNG, JPEG or TIFF bytes.

    Grayscale output keeps one channel (the mean of RGB); 16-bit is kept for PNG/TIFF grayscale and
    PNG RGB (written through a 16-bit-capable path); JPEG is always 8-bit and drops alpha.
    """
    fmt_name = _OUTPUT_FORMATS.get(fmt.lower())
    if fmt_name is None:
        raise CaeDenoiseError(f"unsupported output format {fmt!r}; choose one of png, jpeg, tiff")
    if fmt_name == "JPEG":
        bit_depth, alpha = 8, None
    if grayscale:
        gray = rgb.mean(axis=2)
        if bit_depth == 16 and alpha is None:
            image = Image.fromarray(_quantise(gray, 16))  # mode I;16
        else:
            image = Image.fromarray(_quantise(gray, 8), mode="L")
            if alpha is not None:
                image.putalpha(Image.fromarray(_quantise(alpha, 8), mode="L"))
    elif bit_depth == 16 and fmt_name == "PNG" and alpha is None:
        return _encode_png16_rgb(_quantise(rgb, 16))
    else:
        image = Image.fromarray(_quantise(rgb, 8), mode="RGB")
        if alpha is not None:
            image.putalpha(Image.fromarray(_quantise(alpha, 8), mode="L"))
    buffer = io.BytesIO()
    save_args = {"quality": 95} if fmt_name == "JPEG" else {}
    image.save(buffer, format=fmt_name, **save_args)
    return buffer.getvalue()


def _encode_png16_rgb(pixels: np.ndarray) -> bytes:
    """Encode HxWx3 uint16 as a 16-bit RGB PNG (Pillow cannot write that mode itself)."""
    import struct
    import zlib

    height, width, _ = pixels.shape
    rows = pixels.astype(">u2").reshape(height, width * 6 // 2).view(np.uint8).reshape(height, width * 6)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write bytes to ``path`` through a temporary file and a rename, so no partial file is ever seen."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def save_image(path: str | Path, rgb: np.ndarray, **encode_options: object) -> None:
    """Encode (see ``encode_image``) and write atomically; the format follows the suffix unless given."""
    encode_options.setdefault("fmt", Path(path).suffix.lstrip(".") or "png")
    write_atomic(path, encode_image(rgb, **encode_options))  # type: ignore[arg-type]
