"""The steps of a camera's image pipeline that shape its noise, run forwards and backwards (torch, batched).

Brooks et al. 2019 ("Unprocessing Images for Learned Raw Denoising") turn an sRGB photo back into the raw
sensor signal a camera could have recorded, add noise there, and process it again. The steps here work on
NCHW float tensors in [0, 1] on any device (a training batch stays on the GPU), each sample with its own
random settings drawn from a ``torch.Generator``. In the order ``noise.CameraNoise`` uses them:

- ``srgb_to_linear`` / ``linear_to_srgb``: the sRGB transfer curve (IEC 61966-2-1), exactly inverse;
- ``colour_corrections``: the matrix from the sensor's colours to sRGB's, which mixes the channels (and so
  their noise); its inverse "unprocesses". Some cameras' JPEGs (and other noise generators) use none: the
  identity matrix is one of the choices;
- ``white_balance_gains``: per-channel gains a camera applies (drawn as in Brooks et al.); dividing by them
  "unprocesses", multiplying re-applies them;
- ``bayer_masks`` / ``mosaic`` / ``demosaic``: keep one colour per pixel on a Bayer grid, and fill the two
  missing ones back, by bilinear interpolation (the simplest demosaicker) or Malvar-He-Cutler's
  gradient-corrected interpolation (what many raw converters use); both spread noise to neighbours and
  across colours. ``noise.CameraNoise`` passes only the noise through them;
- ``shot_and_read_levels``: the noise levels of each photo, shot noise log-uniform and read noise
  log-linear in it (Brooks et al., fitted to real sensors); variance = shot * signal + read, in linear units;
- ``quantise_8bit``: what saving 8 bits does (JPEG lives in ``noise/jpeg.py``).

Brooks et al. also invert a tone curve, left out here; their colour matrices are measured ones of four
cameras, where ``colour_corrections`` draws generic ones of the same form. The clean target stays the input
photo itself: every step but the noise is undone exactly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: Shot-noise range of Brooks et al. (variance per unit of linear signal), as the bounds of a log-uniform draw.
SHOT_NOISE_RANGE = (1e-4, 1.2e-2)
#: log(read variance) = slope * log(shot) + intercept + N(0, spread), fitted by Brooks et al. to real sensors.
READ_NOISE_SLOPE, READ_NOISE_INTERCEPT, READ_NOISE_SPREAD = 2.18, 1.20, 0.26
#: Demosaickers ``demosaic`` knows; ``any`` in a spec draws one per photo.
DEMOSAICKERS = ("bilinear", "mhc")
#: Colour matrices ``colour_corrections`` draws: a random sensor's, or none (the identity).
COLOUR_MATRICES = ("random", "none")

_SRGB_KNEE_LINEAR, _SRGB_KNEE_ENCODED = 0.0031308, 0.04045


def _kernel(rows: list[list[float]], scale: float) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32) / scale


#: Bilinear demosaicking: green is known on a checkerboard, red and blue on every other row and column.
_BILINEAR_GREEN = _kernel([[0, 1, 0], [1, 4, 1], [0, 1, 0]], 4)
_BILINEAR_RED_BLUE = _kernel([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 4)
#: Malvar, He and Cutler 2004, "High-quality linear interpolation for demosaicing of Bayer-patterned color
#: images": 5x5 filters, each the bilinear estimate corrected by the Laplacian of the recorded colour.
_MHC_GREEN_AT_RED_OR_BLUE = _kernel(
    [[0, 0, -1, 0, 0], [0, 0, 2, 0, 0], [-1, 2, 4, 2, -1], [0, 0, 2, 0, 0], [0, 0, -1, 0, 0]], 8
)
#: The colour of the row's other sites at a green site (red at green in a red row, blue in a blue row).
_MHC_ALONG_ROW = _kernel(
    [[0, 0, 0.5, 0, 0], [0, -1, 0, -1, 0], [-1, 4, 5, 4, -1], [0, -1, 0, -1, 0], [0, 0, 0.5, 0, 0]], 8
)
_MHC_ALONG_COLUMN = _MHC_ALONG_ROW.T.contiguous()
#: Red at a blue site, and blue at a red one.
_MHC_DIAGONAL = _kernel(
    [[0, 0, -1.5, 0, 0], [0, 2, 0, 2, 0], [-1.5, 0, 6, 0, -1.5], [0, 2, 0, 2, 0], [0, 0, -1.5, 0, 0]], 8
)


def uniform(count: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    """``count`` float32 draws from U(low, high) on the generator's device."""
    return low + (high - low) * torch.rand(count, generator=generator, device=generator.device)


def log_uniform(count: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    """``count`` draws whose logarithm is uniform between log(low) and log(high)."""
    return torch.exp(uniform(count, math.log(low), math.log(high), generator))


def srgb_to_linear(srgb: torch.Tensor) -> torch.Tensor:
    """Linear light from sRGB-encoded values in [0, 1]."""
    srgb = srgb.clamp(0.0, 1.0)
    return torch.where(srgb <= _SRGB_KNEE_ENCODED, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    """sRGB-encoded values from linear light in [0, 1] (clipped first)."""
    linear = linear.clamp(0.0, 1.0)
    return torch.where(linear <= _SRGB_KNEE_LINEAR, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)


def colour_corrections(count: int, generator: torch.Generator, *, identity: torch.Tensor | None = None) -> torch.Tensor:
    """``count`` x 3 x 3 camera-to-sRGB matrices: rows sum to 1 (grey stays grey), diagonal ``1 + s`` with ``s``
    U(0.3, 0.8) taken from the other two channels in random proportions, like the measured matrices of real
    sensors. Where ``identity`` (``count`` booleans) is true, the matrix is the identity: no colour correction."""
    device = generator.device
    strength = uniform(count * 3, 0.3, 0.8, generator).reshape(count, 3)
    share = uniform(count * 3, 0.2, 0.8, generator).reshape(count, 3)
    matrix = torch.diag_embed(1.0 + strength)
    for row in range(3):
        first, second = (column for column in range(3) if column != row)
        matrix[:, row, first] = -strength[:, row] * share[:, row]
        matrix[:, row, second] = -strength[:, row] * (1.0 - share[:, row])
    if identity is not None:
        matrix = torch.where(identity[:, None, None].to(device), torch.eye(3, device=device), matrix)
    return matrix


def white_balance_gains(count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` x 3 gains (red, green, blue): overall 1/N(0.8, 0.1) (at least 1/0.5 = 2 never exceeded),
    red U(1.9, 2.4), blue U(1.5, 1.9)."""
    overall_normal = 0.8 + 0.1 * torch.randn(count, generator=generator, device=generator.device)
    overall = 1.0 / overall_normal.clamp(min=0.5)
    red, blue = uniform(count, 1.9, 2.4, generator), uniform(count, 1.5, 1.9, generator)
    return torch.stack([red, torch.ones_like(red), blue], dim=1) * overall[:, None]


def bayer_masks(height: int, width: int, phases: torch.Tensor) -> torch.Tensor:
    """N x 4 x H x W booleans: which site of an RGGB grid each pixel is (red, green in a red row, green in a blue
    row, blue); ``phases`` (N x 2 integers 0/1) shift each sample's grid by rows and columns."""
    device = phases.device
    rows = (torch.arange(height, device=device)[None, :, None] + phases[:, :1, None]) % 2 == 0  # N x H x 1
    columns = (torch.arange(width, device=device)[None, None, :] + phases[:, 1:, None]) % 2 == 0  # N x 1 x W
    return torch.stack([rows & columns, rows & ~columns, ~rows & columns, ~rows & ~columns], dim=1)


def colour_masks(sites: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W booleans from ``bayer_masks``: which colour (R, G, B) each pixel records."""
    return torch.stack([sites[:, 0], sites[:, 1] | sites[:, 2], sites[:, 3]], dim=1)


def mosaic(rgb: torch.Tensor, sites: torch.Tensor) -> torch.Tensor:
    """The N x 1 x H x W raw signal of an NCHW image: one colour per pixel, as ``bayer_masks`` says."""
    return (rgb * colour_masks(sites)).sum(dim=1, keepdim=True)


def _filter(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """``image`` (N x C x H x W) filtered by a square ``kernel``, mirrored at the borders (the edge not repeated).

    A sum of shifted copies, one per non-zero tap: these kernels have 5-13 taps on one or three channels, where
    a convolution library's depthwise path was much slower on the CPU.
    """
    margin = kernel.shape[-1] // 2
    height, width = image.shape[-2:]
    padded = F.pad(image, (margin, margin, margin, margin), mode="reflect")
    result = torch.zeros_like(image)
    for row, column in kernel.nonzero().tolist():
        result += float(kernel[row, column]) * padded[..., row : row + height, column : column + width]
    return result


def demosaic(raw: torch.Tensor, sites: torch.Tensor, method: str = "bilinear") -> torch.Tensor:
    """N x 3 x H x W colour image interpolated from an N x 1 x H x W raw signal recorded through ``sites``
    (``bayer_masks``), by ``method``: ``bilinear`` or ``mhc`` (Malvar-He-Cutler). Recorded samples are kept."""
    if method == "bilinear":
        recorded = raw * colour_masks(sites)
        kernels = (_BILINEAR_RED_BLUE, _BILINEAR_GREEN, _BILINEAR_RED_BLUE)
        return torch.cat([_filter(recorded[:, [c]], kernel) for c, kernel in enumerate(kernels)], dim=1)
    if method != "mhc":
        raise ValueError(f"unknown demosaicker {method!r}; choose one of {', '.join(DEMOSAICKERS)}")
    red, green_red_row, green_blue_row, blue = sites.unbind(dim=1)
    raw_value = raw[:, 0]
    green_estimate, along_row, along_column, diagonal = (
        _filter(raw, kernel)[:, 0]
        for kernel in (_MHC_GREEN_AT_RED_OR_BLUE, _MHC_ALONG_ROW, _MHC_ALONG_COLUMN, _MHC_DIAGONAL)
    )
    red_channel = torch.where(
        red, raw_value, torch.where(green_red_row, along_row, torch.where(green_blue_row, along_column, diagonal))
    )
    green_channel = torch.where(red | blue, green_estimate, raw_value)
    blue_channel = torch.where(
        blue, raw_value, torch.where(green_blue_row, along_row, torch.where(green_red_row, along_column, diagonal))
    )
    return torch.stack([red_channel, green_channel, blue_channel], dim=1)


def shot_and_read_levels(
    count: int, shot_range: tuple[float, float], generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(shot, read) noise variances of ``count`` photos: shot log-uniform in ``shot_range``, read from the fit."""
    log_shot = log_uniform(count, *shot_range, generator).log()
    spread = READ_NOISE_SPREAD * torch.randn(count, generator=generator, device=generator.device)
    log_read = READ_NOISE_SLOPE * log_shot + READ_NOISE_INTERCEPT + spread
    return log_shot.exp(), log_read.exp()


def quantise_8bit(image: torch.Tensor) -> torch.Tensor:
    """Values rounded to the 256 levels of an 8-bit file (in [0, 1])."""
    return torch.round(image.clamp(0.0, 1.0) * 255.0) / 255.0
