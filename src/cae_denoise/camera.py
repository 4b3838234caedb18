"""The steps of a camera's image pipeline that shape its noise, run forwards and backwards (numpy, float).

Brooks et al. 2019 ("Unprocessing Images for Learned Raw Denoising") turn an sRGB photo back into the raw
sensor signal a camera could have recorded, add noise there, and process it again. The steps here, in the
order ``noise.CameraNoise`` uses them:

- ``srgb_to_linear`` / ``linear_to_srgb``: the sRGB transfer curve (IEC 61966-2-1), exactly inverse;
- ``colour_correction``: the matrix from the sensor's colours to sRGB's, which mixes the channels (and so
  their noise); its inverse "unprocesses";
- ``white_balance_gains``: per-channel gains a camera applies (drawn as in Brooks et al.); dividing by them
  "unprocesses", multiplying re-applies them;
- ``mosaic`` / ``demosaic``: keep one colour per pixel on a Bayer grid, and fill the two missing ones back
  by bilinear interpolation (the simplest demosaicker; it spreads noise to neighbours and across colours;
  ``noise.CameraNoise`` passes only the noise through it);
- ``shot_and_read_levels``: the noise levels of one photo, shot noise log-uniform and read noise log-linear
  in it (Brooks et al., fitted to real sensors); variance = shot * signal + read, in linear raw units;
- ``quantise_8bit`` and ``jpeg_round_trip``: what saving the photo does.

Brooks et al. also invert a tone curve, left out here; their colour matrices are measured ones of four
cameras, where ``colour_correction`` draws generic ones of the same form. The clean target stays the input
photo itself: every step but the noise is undone exactly.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy import ndimage

#: Shot-noise range of Brooks et al. (variance per unit of linear signal), as the bounds of a log-uniform draw.
SHOT_NOISE_RANGE = (1e-4, 1.2e-2)
#: log(read variance) = slope * log(shot) + intercept + N(0, spread), fitted by Brooks et al. to real sensors.
READ_NOISE_SLOPE, READ_NOISE_INTERCEPT, READ_NOISE_SPREAD = 2.18, 1.20, 0.26

_SRGB_KNEE_LINEAR, _SRGB_KNEE_ENCODED = 0.0031308, 0.04045
#: Bilinear demosaicking: green is known on a checkerboard, red and blue on every other row and column.
_GREEN_KERNEL = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], dtype=np.float32) / 4
_RED_BLUE_KERNEL = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float32) / 4


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """Linear light from sRGB-encoded values in [0, 1]."""
    srgb = np.clip(srgb, 0.0, 1.0)
    return np.where(srgb <= _SRGB_KNEE_ENCODED, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """sRGB-encoded values from linear light in [0, 1] (clipped first)."""
    linear = np.clip(linear, 0.0, 1.0)
    encoded = np.where(linear <= _SRGB_KNEE_LINEAR, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    return encoded.astype(np.float32)


def colour_correction(rng: np.random.Generator) -> np.ndarray:
    """A 3x3 camera-to-sRGB matrix: rows sum to 1 (grey stays grey), diagonal ``1 + s`` with ``s`` U(0.3, 0.8)
    taken from the other two channels in random proportions, like the measured matrices of real sensors."""
    strength = rng.uniform(0.3, 0.8, size=3)
    matrix = np.diag(1.0 + strength)
    for row in range(3):
        others = [column for column in range(3) if column != row]
        share = rng.uniform(0.2, 0.8)
        matrix[row, others] = -strength[row] * np.array([share, 1.0 - share])
    return matrix.astype(np.float32)


def white_balance_gains(rng: np.random.Generator) -> np.ndarray:
    """Gains (red, green, blue) of one photo: overall 1/N(0.8, 0.1), red U(1.9, 2.4), blue U(1.5, 1.9)."""
    overall = 1.0 / max(rng.normal(0.8, 0.1), 0.5)
    red, blue = rng.uniform(1.9, 2.4), rng.uniform(1.5, 1.9)
    return np.array([red, 1.0, blue], dtype=np.float32) * np.float32(overall)


def bayer_masks(height: int, width: int, phase: tuple[int, int] = (0, 0)) -> np.ndarray:
    """HxWx3 booleans: which colour each pixel of an RGGB grid records; ``phase`` shifts the grid (rows, cols)."""
    rows = (np.arange(height)[:, None] + phase[0]) % 2
    cols = (np.arange(width)[None, :] + phase[1]) % 2
    red = (rows == 0) & (cols == 0)
    blue = (rows == 1) & (cols == 1)
    return np.stack([red, ~(red | blue), blue], axis=-1)


def mosaic(rgb: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The HxW raw signal of an HxWx3 image: one colour per pixel, as ``masks`` says."""
    return (rgb * masks).sum(axis=-1, dtype=np.float32)


def demosaic(raw: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """HxWx3 bilinear interpolation of an HxW raw signal recorded through ``masks`` (mirrored at the borders)."""
    kernels = (_RED_BLUE_KERNEL, _GREEN_KERNEL, _RED_BLUE_KERNEL)
    channels = [
        ndimage.convolve(raw * masks[..., channel], kernel, mode="mirror") for channel, kernel in enumerate(kernels)
    ]
    return np.stack(channels, axis=-1).astype(np.float32)


def shot_and_read_levels(rng: np.random.Generator, shot_range: tuple[float, float]) -> tuple[float, float]:
    """(shot, read) noise variances of one photo: shot log-uniform in ``shot_range``, read from the fit."""
    log_shot = rng.uniform(np.log(shot_range[0]), np.log(shot_range[1]))
    log_read = READ_NOISE_SLOPE * log_shot + READ_NOISE_INTERCEPT + rng.normal(0.0, READ_NOISE_SPREAD)
    return float(np.exp(log_shot)), float(np.exp(log_read))


def quantise_8bit(image: np.ndarray) -> np.ndarray:
    """Values rounded to the 256 levels of an 8-bit file (float32, in [0, 1])."""
    return (np.round(np.clip(image, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """The image after saving as JPEG at ``quality`` (Pillow, 4:2:0 chroma) and decoding again."""
    pixels = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.float32) / 255.0
