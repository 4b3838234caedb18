"""Reading and writing image files: modes, bit depth, EXIF orientation, alpha, metadata, errors, atomic writes."""

from __future__ import annotations

import io
import os
import re
import struct
import zlib

import numpy as np
import pytest
import tifffile
from helpers import PNG_WRITERS, forbid_opening, image_bytes, png16, png_header, png_writer, read_png_raw
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageCms, ImageOps

from cae_denoise.errors import CaeDenoiseError
from cae_denoise.io.images import (
    decode_image,
    encode_image,
    image_size,
    is_image_name,
    png_output_loss,
    read_rgb,
    tiff_output_loss,
)

RNG = np.random.default_rng(1234)
RGB8 = RNG.integers(0, 256, (31, 37, 3), dtype=np.uint8)
GRAY8 = RNG.integers(0, 256, (31, 37), dtype=np.uint8)
ALPHA8 = RNG.integers(0, 256, (31, 37), dtype=np.uint8)
GRAY16 = RNG.integers(0, 65536, (31, 37), dtype=np.uint16)


def _rgb_of(image: Image.Image) -> np.ndarray:
    """Pillow's own RGB rendering of an image, as float32 in [0, 1]: the reference for 8-bit modes."""
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


# --- decoding ---------------------------------------------------------------------------------------------


def test_decode_rgb_png_is_exact():
    decoded = decode_image(image_bytes(Image.fromarray(RGB8, mode="RGB")))
    assert decoded.rgb.dtype == np.float32
    assert decoded.rgb.shape == (31, 37, 3)
    np.testing.assert_array_equal(decoded.rgb, RGB8.astype(np.float32) / 255.0)
    assert decoded.alpha is None
    assert not decoded.grayscale
    assert decoded.bit_depth == 8
    assert decoded.exif is None and decoded.icc_profile is None


def test_decode_gray_png_replicates_channels():
    decoded = decode_image(image_bytes(Image.fromarray(GRAY8, mode="L")))
    assert decoded.grayscale
    assert decoded.alpha is None
    assert decoded.rgb.shape == (31, 37, 3)
    for channel in range(3):
        np.testing.assert_array_equal(decoded.rgb[..., channel], GRAY8.astype(np.float32) / 255.0)


def test_decode_gray_alpha_png():
    image = Image.merge("LA", [Image.fromarray(GRAY8, mode="L"), Image.fromarray(ALPHA8, mode="L")])
    decoded = decode_image(image_bytes(image))
    assert decoded.grayscale
    np.testing.assert_array_equal(decoded.alpha, ALPHA8.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(decoded.rgb[..., 1], GRAY8.astype(np.float32) / 255.0)


def test_decode_rgba_png():
    image = Image.fromarray(np.dstack([RGB8, ALPHA8]), mode="RGBA")
    decoded = decode_image(image_bytes(image))
    assert not decoded.grayscale
    assert decoded.rgb.shape == (31, 37, 3)
    np.testing.assert_array_equal(decoded.rgb, RGB8.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(decoded.alpha, ALPHA8.astype(np.float32) / 255.0)


def test_decode_palette_png():
    palette_image = Image.fromarray(RGB8, mode="RGB").quantize(colors=16)
    assert palette_image.mode == "P"
    decoded = decode_image(image_bytes(palette_image))
    np.testing.assert_array_equal(decoded.rgb, _rgb_of(palette_image))
    assert not decoded.grayscale
    assert decoded.alpha is None


def test_decode_palette_png_with_transparency_and_gray_palette():
    palette_image = Image.fromarray(GRAY8 // 64 * 64, mode="L").convert("P")
    data = image_bytes(palette_image, transparency=0)
    decoded = decode_image(data)
    assert decoded.grayscale, "a palette of grays is a grayscale image"
    assert decoded.alpha is not None
    expected_alpha = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA").getchannel("A")) / 255.0
    np.testing.assert_array_equal(decoded.alpha, expected_alpha.astype(np.float32))
    assert 0.0 in decoded.alpha and 1.0 in decoded.alpha


def test_decode_16_bit_gray_png_keeps_precision():
    image = Image.fromarray(GRAY16)
    assert image.mode == "I;16"
    data = image_bytes(image)
    assert png_header(data)[2] == 16
    decoded = decode_image(data)
    assert decoded.bit_depth == 16
    assert decoded.grayscale
    expected = GRAY16.astype(np.float64) / 65535.0
    np.testing.assert_allclose(decoded.rgb[..., 0], expected, atol=1e-7)
    np.testing.assert_allclose(decoded.rgb[..., 2], expected, atol=1e-7)


def test_decode_jpeg_matches_pillow():
    data = image_bytes(Image.fromarray(RGB8, mode="RGB"), "JPEG", quality=90)
    decoded = decode_image(data)
    np.testing.assert_array_equal(decoded.rgb, _rgb_of(Image.open(io.BytesIO(data))))
    assert decoded.bit_depth == 8
    assert not decoded.grayscale


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_exif_orientation_is_applied(fmt):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    data = image_bytes(Image.fromarray(RGB8, mode="RGB"), fmt, exif=exif.tobytes())
    assert Image.open(io.BytesIO(data)).size == (37, 31), "the stored pixels are not rotated"
    decoded = decode_image(data)
    assert decoded.rgb.shape == (37, 31, 3)
    if fmt == "PNG":  # lossless: the pixels are the clockwise rotation of the original
        np.testing.assert_array_equal(decoded.rgb, np.rot90(RGB8, k=-1).astype(np.float32) / 255.0)


def test_read_rgb_from_path(tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(image_bytes(Image.fromarray(np.dstack([RGB8, ALPHA8]), mode="RGBA")))
    rgb = read_rgb(path)
    assert rgb.shape == (31, 37, 3)
    np.testing.assert_array_equal(rgb, RGB8.astype(np.float32) / 255.0)


@pytest.mark.parametrize("channels", [3, 4])
def test_decode_16_bit_colour_png_keeps_precision(channels):
    pytest.importorskip("cv2")
    values = RNG.integers(0, 65536, (9, 11, channels), dtype=np.uint16) / 65535.0
    alpha = values[..., 3] if channels == 4 else None
    decoded = decode_image(encode_image(values[..., :3], alpha=alpha, bit_depth=16))
    assert decoded.bit_depth == 16 and decoded.notes == ()
    np.testing.assert_allclose(decoded.rgb, values[..., :3], atol=1e-6)
    if alpha is not None:
        np.testing.assert_allclose(decoded.alpha, alpha, atol=1e-6)
    again = decode_image(encode_image(decoded.rgb, alpha=decoded.alpha, bit_depth=16))
    np.testing.assert_array_equal(again.rgb, decoded.rgb)  # a 16-bit round trip is exact


def test_decode_16_bit_gray_alpha_png_keeps_precision():
    pytest.importorskip("cv2")
    pixels = RNG.integers(0, 65536, (6, 7, 2), dtype=np.uint16)
    decoded = decode_image(png16(pixels))
    assert decoded.grayscale and decoded.bit_depth == 16
    np.testing.assert_allclose(decoded.rgb[..., 0], pixels[..., 0] / 65535.0, atol=1e-6)
    np.testing.assert_allclose(decoded.alpha, pixels[..., 1] / 65535.0, atol=1e-6)


def test_16_bit_colour_png_without_opencv_is_read_at_8_bits_and_says_so(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cv2", None)
    pixels = RNG.integers(0, 65536, (5, 6, 3), dtype=np.uint16)
    decoded = decode_image(png16(pixels))
    assert decoded.bit_depth == 16
    np.testing.assert_allclose(decoded.rgb, pixels / 65535.0, atol=1 / 255)
    assert decoded.notes and "pip install 'cae-denoise[png16]'" in decoded.notes[0]


@pytest.mark.parametrize("orientation", range(2, 9))
def test_16_bit_colour_png_turned_by_exif_keeps_precision(orientation):
    pytest.importorskip("cv2")
    pixels = RNG.integers(0, 65536, (5, 8, 3), dtype=np.uint16)
    decoded = decode_image(png16(pixels, exif=_camera_exif(orientation)))
    # Pillow turns its 8-bit reading upright; the 16-bit samples must be turned the same way
    eight_bit = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(png16(pixels, _camera_exif(orientation))))))
    assert decoded.notes == () and decoded.rgb.shape == eight_bit.shape
    np.testing.assert_allclose(decoded.rgb, eight_bit / 255.0, atol=1 / 255 + 1e-6)
    assert np.abs(decoded.rgb * 65535 - np.round(decoded.rgb * 65535)).max() < 1e-2  # 16-bit samples, not 8


@pytest.mark.parametrize("channels", [3, 4])
def test_16_bit_colour_tiff_keeps_precision(channels):
    pixels = RNG.integers(0, 65536, (6, 9, channels), dtype=np.uint16)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels, photometric="rgb", extrasamples=["unassalpha"] if channels == 4 else None)
    decoded = decode_image(buffer.getvalue())
    assert decoded.bit_depth == 16 and decoded.notes == ()
    np.testing.assert_allclose(decoded.rgb, pixels[..., :3] / 65535.0, atol=1e-6)
    if channels == 4:
        np.testing.assert_allclose(decoded.alpha, pixels[..., 3] / 65535.0, atol=1e-6)


def _ppm(pixels: np.ndarray, max_value: int) -> bytes:
    height, width = pixels.shape[:2]
    return f"P6\n{width} {height}\n{max_value}\n".encode() + pixels.astype(">u2").tobytes()


def test_16_bit_colour_ppm_keeps_precision():
    pytest.importorskip("cv2")
    pixels = RNG.integers(0, 65536, (4, 7, 3), dtype=np.uint16)
    decoded = decode_image(_ppm(pixels, 65535))
    assert decoded.bit_depth == 16 and decoded.notes == ()
    np.testing.assert_allclose(decoded.rgb, pixels / 65535.0, atol=1e-6)


def test_ppm_with_other_wide_samples_is_read_at_8_bits_and_says_so(monkeypatch):
    import sys

    twelve_bit = RNG.integers(0, 4096, (4, 7, 3), dtype=np.uint16)
    decoded = decode_image(_ppm(twelve_bit, 4095))
    assert decoded.notes == ("read at 8-bit precision: no 16-bit reader for PPM with samples up to 4095",)
    np.testing.assert_allclose(decoded.rgb, twelve_bit / 4095.0, atol=1 / 255)
    monkeypatch.setitem(sys.modules, "cv2", None)
    assert "pip install 'cae-denoise[png16]'" in decode_image(_ppm(twelve_bit * 16, 65535)).notes[0]


# --- metadata: EXIF and ICC profile -----------------------------------------------------------------------

ORIENTATION, MAKE, IMAGE_WIDTH = ExifTags.Base.Orientation, ExifTags.Base.Make, ExifTags.Base.ImageWidth
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
GRAY_ICC = SRGB[:16] + b"GRAY" + SRGB[20:]  # only the colour-space field matters to the writer


def _camera_exif(orientation: int = 6, **tags: object) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = "TestCam"
    for tag, value in tags.items():
        exif[getattr(ExifTags.Base, tag)] = value
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2024:05:06 07:08:09"
    return exif.tobytes()


def _exif_of(data: bytes) -> Image.Exif:
    return Image.open(io.BytesIO(data)).getexif()


def test_decode_keeps_exif_upright_and_icc_profile():
    data = image_bytes(Image.fromarray(RGB8, mode="RGB"), "JPEG", exif=_camera_exif(), icc_profile=SRGB)
    decoded = decode_image(data)
    assert decoded.rgb.shape == (37, 31, 3), "orientation 6 applied"
    assert decoded.icc_profile == SRGB
    exif = Image.Exif()
    exif.load(decoded.exif)
    assert decoded.exif.startswith(b"Exif\0\0")
    assert exif[ORIENTATION] == 1, "the pixels are upright, so the tag must not rotate them again"
    assert exif[MAKE] == "TestCam"
    assert exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] == "2024:05:06 07:08:09"


@pytest.mark.parametrize(("fmt", "bit_depth"), [("png", 8), ("png", 16), ("jpeg", 8)])
def test_exif_and_icc_profile_survive_re_encoding(fmt, bit_depth, writer):
    source = image_bytes(Image.fromarray(RGB8, mode="RGB"), "JPEG", exif=_camera_exif(), icc_profile=SRGB)
    decoded = decode_image(source)
    data = encode_image(decoded.rgb, bit_depth=bit_depth, fmt=fmt, exif=decoded.exif, icc_profile=decoded.icc_profile)
    written = Image.open(io.BytesIO(data))
    assert written.info.get("icc_profile") == SRGB
    exif = written.getexif()
    assert exif[ORIENTATION] == 1
    assert exif[MAKE] == "TestCam"
    assert exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] == "2024:05:06 07:08:09"
    again = decode_image(data)
    assert again.rgb.shape == (37, 31, 3), "an upright file stays upright: no second rotation"
    assert again.icc_profile == SRGB


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """A PNG's chunks (type, body) in file order, each CRC checked."""
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        assert struct.unpack(">I", data[position + 8 + length : position + 12 + length])[0] == zlib.crc32(kind + body)
        chunks.append((kind, body))
        position += 12 + length
    return chunks


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_png_metadata_chunks_come_before_the_pixels(bit_depth, writer):
    data = encode_image(RNG.random((5, 7, 3)), bit_depth=bit_depth, exif=_camera_exif(1), icc_profile=SRGB)
    chunks = dict(_png_chunks(data))
    kinds = [kind for kind, _ in _png_chunks(data)]
    assert kinds.index(b"iCCP") < kinds.index(b"IDAT") and kinds.index(b"eXIf") < kinds.index(b"IDAT")
    name, _, compressed = chunks[b"iCCP"].partition(b"\0")
    assert name and compressed[0] == 0 and zlib.decompress(compressed[1:]) == SRGB
    assert chunks[b"eXIf"] == _camera_exif(1).removeprefix(b"Exif\0\0")  # eXIf holds the TIFF header onwards
    assert png_header(data)[2] == (16 if bit_depth == 16 and writer == "opencv" else 8)


@pytest.mark.parametrize("channels", [3, 4])
def test_16_bit_colour_tiff_is_written_through_tifffile_with_profile_and_top_level_exif(channels):
    values = RNG.integers(0, 65536, (7, 5, channels), dtype=np.uint16) / 65535.0
    alpha = values[..., 3] if channels == 4 else None
    exif = _camera_exif(1)
    data = encode_image(values[..., :3], alpha=alpha, bit_depth=16, fmt="tiff", exif=exif, icc_profile=SRGB)
    assert tifffile.imread(io.BytesIO(data)).dtype == np.uint16
    with tifffile.TiffFile(io.BytesIO(data)) as tiff:  # compressed: zlib with horizontal differencing
        assert (tiff.pages[0].compression, tiff.pages[0].predictor) == (8, 2)
    decoded = decode_image(data)
    assert decoded.bit_depth == 16 and decoded.icc_profile == SRGB
    np.testing.assert_allclose(decoded.rgb, values[..., :3], atol=0.5 / 65535 + 1e-7)
    if alpha is not None:
        np.testing.assert_allclose(decoded.alpha, alpha, atol=0.5 / 65535 + 1e-7)
    written = Image.open(io.BytesIO(data)).getexif()
    assert written[MAKE] == "TestCam" and written[ORIENTATION] == 1
    assert ExifTags.IFD.Exif not in written  # tifffile cannot write the camera-settings directory, and says so:
    assert "camera settings and GPS dropped" in tiff_output_loss(False, alpha is not None, 16, exif)
    assert tiff_output_loss(False, False, 16, _exif_without_directories()) is None


@pytest.mark.parametrize(("grayscale", "bit_depth"), [(False, 8), (True, 8), (True, 16)])
def test_tiff_is_compressed_losslessly_with_profile_and_top_level_exif(grayscale, bit_depth):
    values = RNG.integers(0, 256, (9, 11, 3), dtype=np.uint8) / 255.0
    if grayscale:
        values = np.repeat(values[..., :1], 3, axis=2)
    exif = _camera_exif(1)
    icc = GRAY_ICC if grayscale else SRGB
    data = encode_image(values, grayscale=grayscale, bit_depth=bit_depth, fmt="tiff", exif=exif, icc_profile=icc)
    written = Image.open(io.BytesIO(data))
    assert written.info["compression"] == "tiff_lzw" and written.tag_v2[317] == 2  # LZW, horizontal differencing
    assert written.info.get("icc_profile") == icc
    tags = written.getexif()
    assert tags[MAKE] == "TestCam" and tags[ORIENTATION] == 1 and ExifTags.IFD.Exif not in tags
    decoded = decode_image(data)
    assert decoded.bit_depth == bit_depth and decoded.grayscale == grayscale
    np.testing.assert_allclose(decoded.rgb, values, atol=0.5 / 255 + 1e-7)
    assert "camera settings and GPS dropped" in tiff_output_loss(grayscale, False, bit_depth, exif)
    assert tiff_output_loss(grayscale, False, bit_depth, _exif_without_directories()) is None


def _exif_without_directories() -> bytes:
    exif = Image.Exif()
    exif[MAKE] = "TestCam"
    return exif.tobytes()


def test_16_bit_gray_alpha_tiff_is_written_at_8_bits_and_says_so():
    rgb, alpha = RNG.random((4, 6, 3)), RNG.random((4, 6))
    data = encode_image(rgb, alpha=alpha, grayscale=True, bit_depth=16, fmt="tiff")
    assert Image.open(io.BytesIO(data)).mode == "LA"
    assert "written at 8 bits" in tiff_output_loss(True, True, 16, None)
    assert tiff_output_loss(True, False, 16, None) is None  # 16-bit gray is kept


def test_profile_must_fit_the_output_channels(writer):
    rgb = RNG.random((5, 7, 3))
    assert "icc_profile" not in Image.open(io.BytesIO(encode_image(rgb, grayscale=True, icc_profile=SRGB))).info
    assert "icc_profile" not in Image.open(io.BytesIO(encode_image(rgb, icc_profile=GRAY_ICC))).info
    gray = Image.open(io.BytesIO(encode_image(rgb, grayscale=True, bit_depth=16, icc_profile=GRAY_ICC)))
    assert gray.info["icc_profile"] == GRAY_ICC


def test_tiff_output_takes_only_descriptive_exif_tags():
    exif = _camera_exif(1, ImageWidth=999, Compression=7)  # stale or hostile layout tags from a JPEG
    data = encode_image(RNG.random((5, 7, 3)), fmt="tiff", exif=exif)
    written = Image.open(io.BytesIO(data))
    assert written.size == (7, 5)
    assert written.getexif()[IMAGE_WIDTH] == 7
    assert written.getexif()[MAKE] == "TestCam"
    assert decode_image(data).rgb.shape == (5, 7, 3)


def test_tiff_input_gives_its_descriptive_tags_as_exif():
    data = image_bytes(Image.fromarray(RGB8, mode="RGB"), "TIFF", exif=_camera_exif(8))
    decoded = decode_image(data)
    assert decoded.rgb.shape == (37, 31, 3)
    exif = Image.Exif()
    exif.load(decoded.exif)
    assert set(exif) == {ORIENTATION, MAKE, ExifTags.IFD.Exif}, "no TIFF layout tags (width, strips...)"
    assert exif[ORIENTATION] == 1 and exif[MAKE] == "TestCam"
    assert exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] == "2024:05:06 07:08:09"


def test_jpeg_drops_exif_too_long_for_its_marker_but_png_keeps_it(writer):
    exif = _camera_exif(1, ImageDescription="x" * 70_000)
    rgb = RNG.random((5, 7, 3))
    assert "exif" not in Image.open(io.BytesIO(encode_image(rgb, fmt="jpeg", exif=exif))).info
    assert _exif_of(encode_image(rgb, fmt="png", exif=exif))[ExifTags.Base.ImageDescription] == "x" * 70_000


# --- encoding ---------------------------------------------------------------------------------------------


def test_encode_grayscale_keeps_one_channel(writer):
    rgb = RNG.random((17, 23, 3)).astype(np.float32)
    data = encode_image(rgb, grayscale=True)
    assert Image.open(io.BytesIO(data)).mode == "L"
    decoded = decode_image(data)
    assert decoded.grayscale
    np.testing.assert_allclose(decoded.rgb[..., 0], rgb.astype(np.float64).mean(axis=2), atol=0.5 / 255 + 1e-6)


def test_encode_alpha_is_carried(writer):
    rgb = RNG.random((17, 23, 3)).astype(np.float32)
    alpha = RNG.random((17, 23)).astype(np.float32)
    data = encode_image(rgb, alpha=alpha)
    assert Image.open(io.BytesIO(data)).mode == "RGBA"
    decoded = decode_image(data)
    np.testing.assert_allclose(decoded.alpha, alpha, atol=0.5 / 255 + 1e-6)
    np.testing.assert_allclose(decoded.rgb, rgb, atol=0.5 / 255 + 1e-6)


def test_encode_gray_alpha(writer):
    rgb = RNG.random((17, 23, 3)).astype(np.float32)
    alpha = RNG.random((17, 23)).astype(np.float32)
    data = encode_image(rgb, alpha=alpha, grayscale=True)
    assert Image.open(io.BytesIO(data)).mode == "LA"
    decoded = decode_image(data)
    assert decoded.grayscale
    np.testing.assert_allclose(decoded.alpha, alpha, atol=0.5 / 255 + 1e-6)


@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_encode_16_bit_gray_round_trip(fmt):
    rgb = RNG.random((17, 23, 3))
    data = encode_image(rgb, grayscale=True, bit_depth=16, fmt=fmt)
    decoded = decode_image(data)
    assert decoded.bit_depth == 16
    assert decoded.grayscale
    np.testing.assert_allclose(decoded.rgb[..., 0], rgb.mean(axis=2), atol=0.5 / 65535 + 1e-7)


def test_encode_16_bit_rgb_png_has_16_bit_samples():
    rgb = RNG.random((13, 19, 3))
    with png_writer("opencv"):
        data = encode_image(rgb, bit_depth=16)
    width, height, depth, colour = png_header(data)
    assert (width, height, depth, colour) == (19, 13, 16, 2)
    samples = read_png_raw(data)
    assert samples.shape == (13, 19, 3)
    np.testing.assert_allclose(samples / 65535.0, rgb, atol=0.5 / 65535 + 1e-9)
    # Pillow still opens the file (as 8-bit), so it is a valid PNG.
    np.testing.assert_allclose(_rgb_of(Image.open(io.BytesIO(data))), rgb, atol=1 / 255 + 1e-6)


def test_16_bit_colour_png_without_opencv_is_written_at_8_bits_and_says_so():
    rgb = RNG.random((13, 19, 3))
    with png_writer("pillow"):
        data = encode_image(rgb, bit_depth=16)
        assert "pip install 'cae-denoise[png16]'" in png_output_loss(grayscale=False, has_alpha=False, bit_depth=16)
        assert png_output_loss(grayscale=True, has_alpha=False, bit_depth=16) is None
    assert png_header(data) == (19, 13, 8, 2)
    np.testing.assert_allclose(decode_image(data).rgb, rgb, atol=0.5 / 255 + 1e-6)


def test_encode_jpeg_drops_alpha_and_is_close():
    rgb = np.clip(np.linspace(0, 1, 33)[None, :, None] * np.ones((29, 33, 3)), 0, 1)
    data = encode_image(rgb, alpha=np.ones((29, 33)), fmt="jpeg", bit_depth=16)
    assert data[:2] == b"\xff\xd8"
    decoded = decode_image(data)
    assert decoded.alpha is None
    assert decoded.bit_depth == 8
    assert np.abs(decoded.rgb - rgb).mean() < 0.02


def test_encode_clips_out_of_range_values(writer):
    rgb = np.full((5, 6, 3), 0.5)
    rgb[0, 0] = -3.0
    rgb[1, 1] = 7.0
    decoded = decode_image(encode_image(rgb))
    assert decoded.rgb[0, 0].tolist() == [0.0, 0.0, 0.0]
    assert decoded.rgb[1, 1].tolist() == [1.0, 1.0, 1.0]


def test_encode_unsupported_format():
    with pytest.raises(CaeDenoiseError, match="unsupported output format 'bmp'"):
        encode_image(np.zeros((4, 4, 3)), fmt="bmp")


@settings(max_examples=25, deadline=None)
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    grayscale=st.booleans(),
    with_alpha=st.booleans(),
    bit_depth=st.sampled_from([8, 16]),
    seed=st.integers(0, 2**16),
)
@pytest.mark.parametrize("writer_name", PNG_WRITERS)
def test_png_round_trip_property(writer_name, height, width, grayscale, with_alpha, bit_depth, seed):
    rng = np.random.default_rng(seed)
    rgb = rng.random((height, width, 3))
    if grayscale:
        rgb = np.repeat(rgb[..., :1], 3, axis=2)
    alpha = rng.random((height, width)) if with_alpha else None
    with png_writer(writer_name):
        data = encode_image(rgb, alpha=alpha, grayscale=grayscale, bit_depth=bit_depth)
    decoded = decode_image(data)
    assert decoded.rgb.shape == (height, width, 3)
    assert decoded.grayscale == grayscale
    assert (decoded.alpha is None) == (alpha is None)
    # 16 bits are kept in gray, and in colour by OpenCV; gray + alpha is written at 8 bits by both writers
    kept_16_bits = bit_depth == 16 and (not with_alpha if grayscale else writer_name == "opencv")
    atol = 0.5 / 65535 if kept_16_bits else 0.5 / 255
    assert decoded.bit_depth == (16 if kept_16_bits else 8)
    np.testing.assert_allclose(decoded.rgb, rgb, atol=atol + 1e-6)
    if alpha is not None:
        np.testing.assert_allclose(decoded.alpha, alpha, atol=atol + 1e-6)


# --- errors -----------------------------------------------------------------------------------------------


def _assert_error_names(path, pattern: str):
    with pytest.raises(CaeDenoiseError, match=re.escape(str(path)) + ".*" + pattern):
        decode_image(path)


def test_truncated_png_names_the_file(tmp_path):
    data = image_bytes(Image.fromarray(RGB8, mode="RGB"))
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    _assert_error_names(path, "corrupt or truncated")


def test_truncated_jpeg_names_the_file(tmp_path):
    data = image_bytes(Image.fromarray(RGB8, mode="RGB"), "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    _assert_error_names(path, "corrupt or truncated")


def test_zero_byte_file_names_the_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    _assert_error_names(path, "not an image")


def test_text_file_names_the_file(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n")
    _assert_error_names(path, "not an image")


def test_missing_file_and_folder(tmp_path):
    _assert_error_names(tmp_path / "missing.png", "not found")
    folder = tmp_path / "folder.png"
    folder.mkdir()
    _assert_error_names(folder, "folder")


def test_bytes_error_uses_label():
    with pytest.raises(CaeDenoiseError, match=r"^archive\.zip:member\.png: "):
        decode_image(b"garbage", label="archive.zip:member.png")


def test_decompression_bombs_are_refused(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 30 * 30)
    for size in ((37, 31), (80, 80)):  # above the limit (a warning in Pillow) and above twice it (an error)
        data = image_bytes(Image.fromarray(np.zeros(size, np.uint8), mode="L"))
        with pytest.raises(CaeDenoiseError, match=r"^big\.png: refused"):
            decode_image(data, label="big.png")
    small = image_bytes(Image.fromarray(RGB8[:20, :20], mode="RGB"))
    assert decode_image(small).rgb.shape == (20, 20, 3)


# --- hostile and unusual files ----------------------------------------------------------------------------


def _tiff_float(values: np.ndarray) -> bytes:
    return image_bytes(Image.fromarray(values.astype(np.float32), mode="F"), "TIFF")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_float_image_with_nan_or_inf_is_refused(bad):
    values = RNG.random((9, 11))
    values[4, 5] = bad
    with pytest.raises(CaeDenoiseError, match=r"^depth\.tif: contains NaN or infinite pixel values$"):
        decode_image(_tiff_float(values), label="depth.tif")


def test_finite_float_image_reads_as_gray():
    values = RNG.random((9, 11))
    decoded = decode_image(_tiff_float(values))
    assert decoded.grayscale and decoded.bit_depth == 16
    np.testing.assert_allclose(decoded.rgb[..., 1], values, atol=1e-6)


def _frames(count: int) -> list[Image.Image]:
    return [Image.fromarray(np.roll(RGB8, 3 * k, axis=0), mode="RGB") for k in range(count)]


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP", "TIFF"])
def test_animated_and_multi_page_files_are_refused(fmt):
    first, *rest = _frames(3)
    data = image_bytes(first, fmt, save_all=True, append_images=rest)
    message = r"^anim: has 3 frames \(animated or multi-page\); cae-denoise reads single images only$"
    with pytest.raises(CaeDenoiseError, match=message):
        decode_image(data, label="anim")


def test_mpo_camera_jpeg_reads_its_first_picture():
    first, second = _frames(2)
    data = image_bytes(first, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(data)).n_frames == 2
    np.testing.assert_array_equal(decode_image(data).rgb, decode_image(image_bytes(first, "JPEG")).rgb)


def test_unparseable_exif_is_a_one_line_error():
    data = image_bytes(Image.fromarray(RGB8, mode="RGB"), "JPEG", exif=b"Exif\0\0ZZ\0*junkjunk")
    with pytest.raises(CaeDenoiseError, match=r"^odd\.jpg: unreadable EXIF metadata \(not a TIFF file"):
        decode_image(data, label="odd.jpg")


@pytest.mark.parametrize(
    "error",
    [ValueError("bad tile"), TypeError("bad type"), struct.error("unpack"), EOFError(), zlib.error("bad stream")],
    ids=["ValueError", "TypeError", "struct.error", "EOFError", "zlib.error"],
)
def test_decoder_exceptions_become_one_line_errors(monkeypatch, error):
    data = image_bytes(Image.fromarray(RGB8, mode="RGB"))

    def fail(self: Image.Image) -> None:
        raise error

    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", fail)  # where Pillow decodes a malformed file's pixels
    with pytest.raises(CaeDenoiseError, match=r"^x\.png: corrupt or truncated image \(.+\)$") as caught:
        decode_image(data, label="x.png")
    assert "\n" not in str(caught.value)


def test_out_of_memory_while_decoding_is_a_clear_error(monkeypatch):
    data = image_bytes(Image.fromarray(RGB8, mode="RGB"))

    def fail(self: Image.Image) -> None:
        raise MemoryError

    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", fail)
    with pytest.raises(CaeDenoiseError, match=r"^huge\.png: too large to decode in the memory available$"):
        decode_image(data, label="huge.png")


def test_corrupt_pixel_data_names_the_file():
    data = bytearray(image_bytes(Image.fromarray(RGB8, mode="RGB"), compress_level=1))
    start = data.index(b"IDAT") + 4
    data[start + 2 : start + 40] = bytes(38)  # wreck the zlib stream, then fix the chunk's CRC
    length = struct.unpack(">I", data[start - 8 : start - 4])[0]
    data[start + length : start + length + 4] = struct.pack(">I", zlib.crc32(data[start - 4 : start + length]))
    with pytest.raises(CaeDenoiseError, match=r"^bad\.png: corrupt or truncated image \(.+\)$"):
        decode_image(bytes(data), label="bad.png")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.png", True), ("B.JPG", True), ("c.Jpeg", True), ("d.tif", True), ("e.txt", False), ("png", False)],
)
def test_is_image_name(name, expected):
    assert is_image_name(name) is expected


# --- writing ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG"), (".jpg", b"\xff\xd8"), (".tif", b"II*\x00")])
def test_encode_image_writes_the_format_asked_for(suffix, magic):
    data = encode_image(RNG.random((11, 13, 3)), fmt=suffix.lstrip("."))
    assert data[:4].startswith(magic)
    assert read_rgb(data).shape == (11, 13, 3)


def test_16_bit_rgba_png_round_trip_is_exact():
    pixels = (RNG.random((9, 7, 4)) * 65535).astype(np.uint16)
    with png_writer("opencv"):
        decoded = decode_image(png16(pixels))
        assert decoded.bit_depth == 16 and not decoded.grayscale and decoded.alpha is not None
        data = encode_image(decoded.rgb, alpha=decoded.alpha, bit_depth=16)
    assert png_header(data) == (7, 9, 16, 6)
    np.testing.assert_array_equal(read_png_raw(data), pixels)


def test_16_bit_gray_alpha_png_keeps_its_kind_at_8_bits_and_says_so(writer):
    pixels = (RNG.random((9, 7, 2)) * 65535).astype(np.uint16)
    decoded = decode_image(png16(pixels))
    data = encode_image(decoded.rgb, alpha=decoded.alpha, grayscale=True, bit_depth=16)
    assert png_header(data) == (7, 9, 8, 4)  # gray + alpha, as the input
    assert "written at 8 bits" in png_output_loss(grayscale=True, has_alpha=True, bit_depth=16)
    # within 1/255: without OpenCV, Pillow already read the input at 8 bits
    np.testing.assert_allclose(read_png_raw(data) / 255.0, pixels / 65535.0, atol=1 / 255 + 1e-6)


def test_corrupt_exif_warnings_do_not_reach_the_user(tmp_path):
    import warnings

    path = tmp_path / "odd_exif.png"
    Image.fromarray(np.zeros((8, 9, 3), np.uint8)).save(path, exif=b"II*\x00" + b"\xff" * 200)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decoded = decode_image(path)
    assert [str(w.message) for w in caught] == []
    assert decoded.rgb.shape == (8, 9, 3)


# --- TIFF variants Pillow does not read as stored (through tifffile) ------------------------------------------


def _tiff(pixels: np.ndarray, **options: object) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels, **options)
    return buffer.getvalue()


def test_16_bit_rgb_tiff_stored_plane_by_plane_keeps_its_samples():
    planes = RNG.integers(0, 65536, (3, 7, 9), dtype=np.uint16)  # one plane per channel (planar configuration 2)
    decoded = decode_image(_tiff(planes, photometric="rgb", planarconfig="separate"))
    assert decoded.bit_depth == 16 and not decoded.grayscale and decoded.notes == ()
    np.testing.assert_allclose(decoded.rgb, planes.transpose(1, 2, 0).astype(np.float64) / 65535, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [1, 3])
def test_float_tiffs_in_the_unit_range_are_read_as_they_are(dtype, channels):
    values = RNG.random((7, 9, channels)).astype(dtype)
    values[0, 0], values[-1, -1] = 0.0, 1.0  # both ends of the range are allowed
    decoded = decode_image(_tiff(values, photometric="rgb" if channels == 3 else "minisblack"))
    assert decoded.bit_depth == 16 and decoded.grayscale == (channels == 1) and decoded.rgb.dtype == np.float32
    expected = np.repeat(values, 3 // channels, axis=2).astype(np.float64)
    np.testing.assert_allclose(decoded.rgb, expected, atol=1e-7)


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [(1.5, r"float samples range from 0\.\d+ to 1\.5, outside \[0, 1\]"), (-0.25, "from -0.25 to"), (np.nan, "NaN")],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_tiffs_outside_the_unit_range_are_refused_not_guessed(bad, fragment, dtype):
    values = RNG.random((7, 9, 3)).astype(dtype) * 0.5 + 0.25
    values[3, 4, 1] = bad
    with pytest.raises(CaeDenoiseError, match=rf"^depth\.tif: .*{fragment}"):
        decode_image(_tiff(values, photometric="rgb"), label="depth.tif")


@pytest.mark.parametrize(
    ("dtype", "fragment"),
    [
        (np.int16, "signed 16-bit integer samples have no standard mapping to [0, 1]"),
        (np.int32, "signed 32-bit integer samples"),
        (np.uint32, "32-bit integer samples are not read"),
    ],
)
@pytest.mark.parametrize("photometric", ["minisblack", "rgb"])
def test_signed_and_32_bit_integer_tiffs_are_refused_never_clipped_or_wrapped(dtype, fragment, photometric):
    shape = (7, 9, 3) if photometric == "rgb" else (7, 9)
    values = RNG.integers(0, 40000, shape).astype(dtype)
    with pytest.raises(CaeDenoiseError) as caught:
        decode_image(_tiff(values, photometric=photometric), label="counts.tif")
    assert str(caught.value).startswith("counts.tif: ") and fragment in str(caught.value)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_16_bit_tiff_turned_by_its_orientation_tag_keeps_16_bits(orientation):
    pixels = RNG.integers(0, 65536, (5, 8, 3), dtype=np.uint16)
    data = _tiff(pixels, photometric="rgb", extratags=[(ExifTags.Base.Orientation, "H", 1, orientation, True)])
    decoded = decode_image(data)
    turned = {3: np.rot90(pixels, 2), 6: np.rot90(pixels, -1), 8: np.rot90(pixels, 1)}[orientation]
    assert decoded.bit_depth == 16 and decoded.notes == ()
    np.testing.assert_allclose(decoded.rgb, turned.astype(np.float64) / 65535, atol=1e-7)
    # the same turn as Pillow gives its own 8-bit reading of the file
    assert decoded.rgb.shape == np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data)))).shape
    written = Image.Exif()
    written.load(decoded.exif)
    assert written[ORIENTATION] == 1, "the pixels are upright"


def test_16_bit_gray_alpha_and_miniswhite_tiffs():
    pixels = RNG.integers(0, 65536, (6, 7, 2), dtype=np.uint16)
    decoded = decode_image(_tiff(pixels, photometric="minisblack", extrasamples=["unassalpha"]))
    assert decoded.grayscale and decoded.bit_depth == 16
    np.testing.assert_allclose(decoded.rgb[..., 2], pixels[..., 0] / 65535, atol=1e-7)
    np.testing.assert_allclose(decoded.alpha, pixels[..., 1] / 65535, atol=1e-7)
    white_is_zero = decode_image(_tiff(pixels[..., 0], photometric="miniswhite"))
    np.testing.assert_allclose(white_is_zero.rgb[..., 0], 1 - pixels[..., 0] / 65535, atol=1e-7)


def test_a_float_tiff_keeps_its_descriptive_tags_and_profile():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    values = RNG.random((6, 5, 3)).astype(np.float32)
    data = _tiff(values, photometric="rgb", iccprofile=profile, extratags=[(ExifTags.Base.Make, "s", 0, "Cam", True)])
    decoded = decode_image(data)
    assert decoded.icc_profile == profile
    tags = Image.Exif()
    tags.load(decoded.exif)
    assert tags[MAKE] == "Cam" and ExifTags.Base.ImageWidth not in tags


def test_a_multi_page_float_tiff_is_refused():
    with pytest.raises(CaeDenoiseError, match=r"^pages\.tif: has 2 frames"):
        decode_image(_tiff(RNG.random((2, 6, 5, 3)).astype(np.float32), photometric="rgb"), label="pages.tif")


def test_a_huge_float_tiff_is_refused_from_its_header(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40)
    with pytest.raises(CaeDenoiseError, match="possible decompression bomb"):
        decode_image(_tiff(RNG.random((7, 9, 3)).astype(np.float32), photometric="rgb"))


@pytest.mark.parametrize(
    "data",
    [
        _tiff(RNG.random((7, 9, 3)).astype(np.float32), photometric="rgb"),
        _tiff(RNG.integers(0, 65536, (3, 7, 9), dtype=np.uint16), photometric="rgb", planarconfig="separate"),
        image_bytes(Image.fromarray(RGB8[:7, :9], mode="RGB")),
        image_bytes(Image.fromarray(RGB8[:7, :9], mode="RGB"), "JPEG"),
    ],
    ids=["float-tiff", "planar-tiff", "png", "jpeg"],
)
def test_image_size_reads_the_header_only(data, monkeypatch):
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", lambda self: pytest.fail("decoded pixels"))
    monkeypatch.setattr("tifffile.TiffPage.asarray", lambda self, *a, **k: pytest.fail("decoded pixels"))
    assert image_size(data) == (9, 7)


def test_image_size_refuses_a_bomb_and_garbage(monkeypatch):
    with pytest.raises(CaeDenoiseError, match=r"^x\.png: not an image Pillow can read"):
        image_size(b"garbage", label="x.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40)
    with pytest.raises(CaeDenoiseError, match="possible decompression bomb"):
        image_size(image_bytes(Image.fromarray(RGB8[:7, :9], mode="RGB")))


@pytest.mark.parametrize(
    "error",
    [
        MemoryError(),
        np._core._exceptions._ArrayMemoryError((10**12,), np.dtype("f4")),  # what NumPy raises
        RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to"),
    ],
    ids=["MemoryError", "numpy", "torch"],
)
def test_out_of_memory_from_any_library_while_decoding_is_the_too_large_line(monkeypatch, error):
    def fail(self: Image.Image) -> None:
        raise error

    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", fail)
    with pytest.raises(CaeDenoiseError, match=r"^huge\.png: too large to decode in the memory available$"):
        decode_image(image_bytes(Image.fromarray(RGB8, mode="RGB")), label="huge.png")


def test_opencv_out_of_memory_while_reading_16_bit_samples_is_the_too_large_line(monkeypatch):
    cv2 = pytest.importorskip("cv2")

    def fail(*args: object) -> None:
        raise cv2.error("OpenCV(4.13.0) alloc.cpp:73: error: (-4:Insufficient memory) Failed to allocate 9 bytes")

    monkeypatch.setattr(cv2, "imdecode", fail)
    with pytest.raises(CaeDenoiseError, match=r"^big\.png: too large to decode in the memory available$"):
        decode_image(png16(RNG.integers(0, 65536, (4, 5, 3), dtype=np.uint16)), label="big.png")


def test_other_runtime_errors_are_not_called_out_of_memory(monkeypatch):
    def fail(self: Image.Image) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", fail)
    with pytest.raises(RuntimeError, match="a bug"):
        decode_image(image_bytes(Image.fromarray(RGB8, mode="RGB")), label="x.png")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_being_opened(tmp_path, monkeypatch):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    forbid_opening(monkeypatch, fifo)  # opening it would wait for a writer: the suite would hang, not fail
    for read in (decode_image, image_size):
        with pytest.raises(CaeDenoiseError, match=r"pipe\.png: is a FIFO \(named pipe\), not an image file"):
            read(fifo)


def test_a_fifo_swapped_in_after_the_check_cannot_block(tmp_path, monkeypatch):
    from cae_denoise.io import regular

    fifo = tmp_path / "late.png"
    os.mkfifo(fifo)
    monkeypatch.setattr(regular, "check_regular", lambda *args: None)  # as if it was a regular file at the check
    with pytest.raises(CaeDenoiseError, match=r"late\.png: is a FIFO \(named pipe\), not an image file"):
        decode_image(fifo)  # opened without blocking (O_NONBLOCK), then refused from the open descriptor


def test_memory_running_out_while_encoding_is_the_too_large_line(monkeypatch):
    from cae_denoise.io import images

    def fail(*args: object) -> None:
        raise np._core._exceptions._ArrayMemoryError((4000, 5000, 3), np.dtype("u1"))

    monkeypatch.setattr(images, "_quantise", fail)
    with pytest.raises(CaeDenoiseError, match=r"^a 7x5 PNG output: too large to encode in the memory available$"):
        encode_image(RNG.random((5, 7, 3)))


def test_opencv_running_out_of_memory_while_encoding_is_the_too_large_line(monkeypatch):
    from cae_denoise.io import images

    cv2 = images.opencv_png_writer()
    if cv2 is None:
        pytest.skip("needs opencv-python-headless>=4.13 (the png16 extra)")

    def fail(*args: object) -> None:
        raise cv2.error("OpenCV(4.13.0) alloc.cpp:73: error: (-4:Insufficient memory) Failed to allocate")

    monkeypatch.setattr(cv2, "imencodeWithMetadata", fail)
    with pytest.raises(CaeDenoiseError, match=r"^a 7x5 PNG output: too large to encode"):
        encode_image(RNG.random((5, 7, 3)))
