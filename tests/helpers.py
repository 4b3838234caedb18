"""Small helpers shared by the tests: generated images, PNG bytes, a raw PNG reader, a tiny training config."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from PIL import Image
from skimage.filters import gaussian

from cae_denoise.io import images

#: (relative name, height, width): odd sizes on purpose, two in a subfolder to exercise recursion.
TEXTURES = (
    ("a.png", 40, 48),
    ("b.png", 37, 45),
    ("c.png", 48, 40),
    ("d.png", 33, 51),
    ("sub/e.png", 40, 40),
    ("sub/f.png", 45, 37),
)
#: Files that are not images and must be ignored by every source.
NON_IMAGES = {"notes.txt": b"not an image\n", "sub/README.md": b"# readme\n"}


def texture(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth random RGB texture, HxWx3 float32 in [0.05, 0.95] (learnable to denoise)."""
    rng = np.random.default_rng(seed)
    smooth = gaussian(rng.random((height, width, 3)), sigma=2.0, channel_axis=-1)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return (0.05 + 0.9 * smooth).astype(np.float32)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    return np.round(np.clip(pixels, 0.0, 1.0) * 255).astype(np.uint8)


def save_png(path: Path, pixels: np.ndarray) -> Path:
    """Save HxWx3 float [0, 1] as an 8-bit RGB PNG (parent folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_uint8(pixels), mode="RGB").save(path)
    return path


def image_bytes(image: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_header(data: bytes) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    assert data[12:16] == b"IHDR"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, depth, colour


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png_raw(data: bytes) -> np.ndarray:
    """Decode a non-interlaced 8/16-bit gray or RGB(A) PNG without Pillow: HxWxC unsigned integers.

    An independent reference for the 16-bit RGB files Pillow can only read as 8-bit.
    """
    width, height, depth, colour = png_header(data)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    assert depth in (8, 16)
    position, idat = 8, b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        if kind == b"IDAT":
            idat += data[position + 8 : position + 8 + length]
        position += 12 + length
    raw = zlib.decompress(idat)
    pixel_bytes = channels * depth // 8
    stride = width * pixel_bytes
    rows, previous = [], bytearray(stride)
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - pixel_bytes] if i >= pixel_bytes else 0
            up = previous[i]
            corner = previous[i - pixel_bytes] if i >= pixel_bytes else 0
            predictor = [0, left, up, (left + up) // 2, _paeth(left, up, corner)][kind]
            line[i] = (line[i] + predictor) & 0xFF
        rows.append(bytes(line))
        previous = line
    dtype = ">u2" if depth == 16 else np.uint8
    return np.frombuffer(b"".join(rows), dtype=dtype).reshape(height, width, channels).astype(np.int64)


def tiny_config(data: Path | str | None, out: Path | str, **changes: Any):
    """A training configuration small enough to run in well under a second on a CPU."""
    from cae_denoise.config import TrainConfig

    settings: dict[str, Any] = {
        "arch": "leaky",
        "data": None if data is None else str(data),
        "out": str(out),
        "patch": 16,
        "batch_size": 4,
        "epochs": 2,
        "steps_per_epoch": 3,
        "channels": 4,
        "depth": 1,
        "device": "cpu",
    }
    settings.update(changes)
    return TrainConfig(**settings)


#: A zip's two headers per member, local and central-directory: (signature, offset of the name's length,
#: offset of the name, {field: (offset, struct format)}) for the fields a hostile archive may set.
_ZIP_HEADERS = (
    (b"PK\x03\x04", 26, 30, {"flags": (6, "<H"), "method": (8, "<H"), "size": (22, "<I")}),
    (b"PK\x01\x02", 28, 46, {"flags": (8, "<H"), "method": (10, "<H"), "size": (24, "<I")}),
)


def _header_name(content: bytearray, start: int, name_length_at: int, name_at: int) -> bytes:
    (length,) = struct.unpack_from("<H", content, start + name_length_at)
    return bytes(content[start + name_at : start + name_at + length])


def patch_zip_member(path: Path, name: str, **fields: int) -> None:
    """Overwrite header fields of one member in both its headers, as a hostile tool could: ``flags``,
    ``method`` (compression) or ``size`` (the declared uncompressed size)."""
    content = bytearray(path.read_bytes())
    for signature, name_length_at, name_at, offsets in _ZIP_HEADERS:
        start = content.index(signature)
        while _header_name(content, start, name_length_at, name_at) != name.encode():
            start = content.index(signature, start + 1)
        for field_name, value in fields.items():
            offset, layout = offsets[field_name]
            struct.pack_into(layout, content, start + offset, value)
    path.write_bytes(bytes(content))


def png16(pixels: np.ndarray, exif: bytes | None = None) -> bytes:
    """A 16-bit PNG of HxWxC uint16 pixels (C = 2 gray + alpha, 3 RGB, 4 RGBA), written by hand as a fixture,
    with an eXIf chunk when ``exif`` (an EXIF block, "Exif\\0\\0" + TIFF header) is given."""
    height, width, count = pixels.shape
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, {2: 4, 3: 2, 4: 6}[count], 0, 0, 0)
    metadata = chunk(b"eXIf", exif.removeprefix(b"Exif\0\0")) if exif else b""
    body = chunk(b"IHDR", header) + metadata + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


PNG_WRITERS = ["opencv", "pillow"]


@contextmanager
def png_writer(name: str) -> Iterator[None]:
    """PNGs written through OpenCV (skipped where a recent enough one is not installed) or Pillow alone."""
    if name == "opencv" and images.opencv_png_writer() is None:
        pytest.skip("needs opencv-python-headless>=4.13 (the png16 extra)")
    with mock.patch.object(images, "opencv_png_writer", images.opencv_png_writer if name == "opencv" else lambda: None):
        yield


def forbid_opening(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Make opening ``path`` (a FIFO or device) fail the test instead of blocking it: ``open`` and ``os.open``
    raise for that path, and work as usual for every other one."""
    import builtins
    import os

    forbidden = os.path.abspath(path)
    real_open, real_os_open = builtins.open, os.open

    def check(name: object) -> None:
        if isinstance(name, str | Path) and os.path.abspath(name) == forbidden:
            raise AssertionError(f"{path} was opened")

    def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        check(file)
        return real_open(file, *args, **kwargs)

    def guarded_os_open(file: Any, *args: Any, **kwargs: Any) -> int:
        check(file)
        return real_os_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
