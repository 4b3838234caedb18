"""Apply a model to whole images of any size: padding, overlapping tiles, blending, batching.

Image side: HxWx3 float32 in [0, 1]. Model side: NCHW tensors (channels_last on CPU). Memory for the
network is bounded by the tile size and batch, not by the photo: tiles overlap by ``overlap`` pixels
and are blended with linear ramps, so no seams show.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CaeDenoiseError, UsageError, too_large_if_out_of_memory
from ..noise.estimate import estimate_noise_sigma
from .architectures import ESTIMATE_CROP, central_crop, learns_level, takes_noise_level

if TYPE_CHECKING:
    from .checkpoint import LoadedModel

DEFAULT_OVERLAP = 32
#: Mirrored pixels the model sees around every image. Without them the pixels at an edge met the model's zero
#: padding in some tilings and replicated rows in others: 256-pixel tiles changed a 613 x 816 photo's bottom
#: rows by up to 22/255 against the untiled result. With a margin of 8, 16 or 32 the largest change was
#: 2.6-3.2/255, at seams inside the photo, and PSNR on the test photos moved by +0.01 to +0.04 dB; 16 keeps
#: the extra work on small images low.
BORDER_MARGIN = 16


def preferred_layout(device: torch.device) -> torch.memory_format:
    """The memory format convolutions run fastest in on ``device``.

    On CPU, oneDNN's convolutions are about twice as fast on channels_last (NHWC) tensors: the default
    model's forward on a 512 x 512 tile took 0.24 s instead of 0.40 s (2-core Xeon, torch 2.13). Other
    devices keep PyTorch's default layout, which is what we could measure there.
    """
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


def run_model(
    model: nn.Module, batch: torch.Tensor, level: float | None = None, *, mirrored_margin: bool = False
) -> torch.Tensor:
    """Model output for an NCHW batch of any H, W, cropped back to H x W. The model sees the batch padded to its
    size multiple by repeating the last rows and columns, or, with ``mirrored_margin``, inside the mirrored
    margin ``denoise_array`` gives every image (``margin_indices``).

    ``level`` (0-255) is the noise level a level-conditioned model is told for every image of the batch;
    None lets it estimate each one's itself.
    """
    multiple = getattr(model, "size_multiple", 1)
    height, width = batch.shape[-2:]
    told_level = takes_noise_level(model)
    if told_level:  # estimated before padding, which would repeat edge pixels
        levels = model.estimate_level(batch) if level is None else torch.full((len(batch),), float(level))
    top = BORDER_MARGIN if mirrored_margin else 0
    if mirrored_margin:
        rows, columns = (margin_indices(length, multiple).to(batch.device) for length in (height, width))
        batch = batch.index_select(2, rows).index_select(3, columns)
    elif -height % multiple or -width % multiple:
        batch = F.pad(batch, (0, -width % multiple, 0, -height % multiple), mode="replicate")
    batch = batch.contiguous(memory_format=preferred_layout(batch.device))
    output = model(batch, levels.to(batch.device)) if told_level else model(batch)
    return output[..., top : top + height, top : top + width]


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile offsets covering ``length`` with tiles of ``tile`` overlapping by at least ``overlap``."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    return [*starts, length - tile]


def _ramp(length: int, overlap: int) -> torch.Tensor:
    """1-D blending weights: rising over ``overlap`` pixels at both ends, 1 in the middle, never 0."""
    position = torch.arange(length, dtype=torch.float32)
    distance = torch.minimum(position + 1, length - position)
    return torch.clamp(distance / (overlap + 1), max=1.0)


def default_tiling(device: torch.device) -> tuple[int, int]:
    """(tile size, tiles per batch) for ``device`` when the caller gives none.

    On CPU small tiles one at a time are fastest (they stay in cache): a 12 MP photo took 11.2 s with
    256-pixel tiles one by one, 15.0 s with 512 one by one and 19.1 s with 512 four at a time (2-core
    Xeon, ``benchmarks/bench_denoise.py``). GPUs want big batches of work: 512-pixel tiles, 4 at a time.
    """
    return (256, 1) if device.type == "cpu" else (512, 4)


def margin_indices(length: int, multiple: int, margin: int = BORDER_MARGIN) -> torch.Tensor:
    """Where each position of an axis of ``length`` seen inside a mirrored margin reads from: ``margin``
    positions mirrored before it (numpy's ``reflect``: the edge is not repeated), the axis, then mirrored ones
    up to at least ``margin`` after it, the total a whole ``multiple``. Any length works, 1 included;
    TorchScript compiles it, and ``torch.export`` and the ONNX exporter take it for lengths of 2 or more."""
    padded = (length + 2 * margin + multiple - 1) // multiple * multiple
    positions = torch.arange(padded) - margin
    period = max(2 * length - 2, 1)  # length 1: every position reads 0
    folded = torch.remainder(positions, torch.full_like(positions, period))  # a tensor: the ONNX exporter needs it
    return torch.where(folded < length, folded, period - folded)


@torch.inference_mode()
def estimated_level(
    model: nn.Module, image: np.ndarray, device: torch.device | str = "cpu", *, donoho: float | None = None
) -> float:
    """The noise level (0-255) a level-conditioned model is told for a whole HxWx3 image by default: its
    learned estimator's (``models.LevelEstimator``), else Donoho's (``noise.estimate_noise_sigma``, or
    ``donoho`` when the caller has it already); both read the central ``models.ESTIMATE_CROP`` square."""
    if not learns_level(model):
        return estimate_noise_sigma(image) if donoho is None else donoho
    batch = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    batch = central_crop(batch, ESTIMATE_CROP).to(device)
    return float(model.estimate_level(batch.contiguous(memory_format=preferred_layout(batch.device)))[0])


@dataclass(frozen=True)
class Smoothing:
    """How hard a level-conditioned model smooths: told ``level`` (0-255) if given, else each image's
    estimated level times ``strength`` (above 1 smoother, below 1 more detail and noise kept)."""

    strength: float = 1.0
    level: float | None = None

    def level_for(self, estimated: float | None) -> float:
        """The level a model is told for an image whose estimated level is ``estimated`` (unused, and may be
        None, when ``level`` is given)."""
        return self.level if self.level is not None else estimated * self.strength

    def told_level(
        self, model: nn.Module, image: np.ndarray, device: torch.device | str = "cpu", *, donoho: float | None = None
    ) -> float | None:
        """The level (0-255) ``model`` is told for a whole HxWx3 ``image``: ``level_for`` its estimated level
        (``estimated_level``; ``donoho``, when the caller has Donoho's estimate already), or None for a model
        that is told no level."""
        if not takes_noise_level(model):
            return None
        estimated = None if self.level is not None else estimated_level(model, image, device, donoho=donoho)
        return self.level_for(estimated)

    def check(self, loaded: LoadedModel) -> None:
        """Refuse values out of range, and any setting for a model that is not told a level."""
        if not (math.isfinite(self.strength) and 0 < self.strength <= 10):
            raise UsageError(f"--strength {self.strength:g}: must be above 0 and at most 10 (1 = as estimated)")
        if self.level is not None and not 0 <= self.level <= 255:
            raise UsageError(f"--noise-level {self.level:g}: must be in [0, 255]")
        if (self.strength != 1 or self.level is not None) and not takes_noise_level(loaded.model):
            raise UsageError(
                f"--strength and --noise-level need a model that is told the noise level; "
                f"{loaded.name} ({loaded.payload.get('arch')}) is not"
            )


@torch.inference_mode()
def denoise_array(
    model: nn.Module,
    noisy: np.ndarray,
    *,
    device: torch.device | str = "cpu",
    tile: int | None = None,
    overlap: int = DEFAULT_OVERLAP,
    batch_size: int | None = None,
    strength: float = 1.0,
    noise_level: float | None = None,
    on_tiles: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Denoise an HxWx3 float32 image in [0, 1]; result clipped to [0, 1].

    The model sees the image inside a ``BORDER_MARGIN`` of mirrored pixels (rounded up to its size multiple),
    so pixels at the image's edges get context like any other, and the result does not depend on how the
    image is cut into tiles. Images larger than ``tile`` are processed in ``batch_size`` tiles at a time (both
    default to ``default_tiling(device)``); ``on_tiles(done, total)`` is called after each batch. A model
    that takes a noise level is told ``noise_level`` (0-255) if given, else the whole image's estimated level
    times ``strength`` (above 1: smoother, below 1: more detail kept), the same for every tile; other models
    ignore both. Besides the input and the output, memory holds the blending sums of one strip of tile rows
    (``_Strips``) and the tiles in flight. Memory running out (NumPy, PyTorch) is the one "too large" error.
    """
    device = torch.device(device)
    default_tile, default_batch = default_tiling(device)
    multiple = getattr(model, "size_multiple", 1)
    tile = max((tile or default_tile) // multiple * multiple, multiple)  # whole multiples: run_model pads nothing
    batch_size = batch_size or default_batch
    if overlap >= tile:
        raise ValueError("overlap must be smaller than tile")
    height, width = noisy.shape[:2]
    with too_large_if_out_of_memory(f"{width}x{height} pixels", "denoise"):
        return _denoise_tiles(model, noisy, device, tile, overlap, batch_size, strength, noise_level, on_tiles)


def _denoise_tiles(
    model: nn.Module,
    noisy: np.ndarray,
    device: torch.device,
    tile: int,
    overlap: int,
    batch_size: int,
    strength: float,
    noise_level: float | None,
    on_tiles: Callable[[int, int], None] | None,
) -> np.ndarray:
    """``denoise_array``'s work once its arguments are checked."""
    multiple = getattr(model, "size_multiple", 1)
    array = np.ascontiguousarray(noisy, dtype=np.float32)
    level = Smoothing(strength, noise_level).told_level(model, array, device)
    image = torch.from_numpy(array if array.flags.writeable else array.copy())  # HWC; shares memory if it can
    height, width = image.shape[:2]
    rows, columns = margin_indices(height, multiple), margin_indices(width, multiple)
    padded_h, padded_w = len(rows), len(columns)
    tile_h, tile_w = min(tile, padded_h), min(tile, padded_w)
    tops, lefts = _starts(padded_h, tile, overlap), _starts(padded_w, tile, overlap)
    positions = [(top, left) for top in tops for left in lefts]
    weight = (_ramp(tile_h, overlap)[:, None, None] * _ramp(tile_w, overlap)[None, :, None]).to(device)
    strips = _Strips(np.empty((height, width, 3), np.float32), device)
    for first in range(0, len(positions), batch_size):
        chunk = positions[first : first + batch_size]
        tiles = torch.stack(  # gathered: margin pixels are mirrored image pixels
            [image[rows[top : top + tile_h, None], columns[None, left : left + tile_w]] for top, left in chunk]
        ).to(device)
        output = run_model(model, tiles.permute(0, 3, 1, 2), level).float().permute(0, 2, 3, 1)  # NHWC views
        for (top, left), result in zip(chunk, output, strict=True):
            strips.add(result * weight, weight, top - BORDER_MARGIN, left - BORDER_MARGIN)
            if left == lefts[-1]:  # a tile row is complete: the rows no later tile reaches are final
                later = tops.index(top) + 1
                strips.finish(tops[later] - BORDER_MARGIN if later < len(tops) else height)
        if on_tiles:
            on_tiles(first + len(chunk), len(positions))
    return strips.output


class _Strips:
    """The blending sums of the image rows that tiles still reach, finished strip by strip into ``output``.

    Tiles come row by row, and each tile row reaches only rows below the start of the one before, so the sums
    need to cover at most one tile's height of rows: rows above the next tile row's top are final as soon as
    a tile row is done (sum divided by weight, clipped, written into ``output``, then dropped). The additions
    are the same, in the same order, as into full-size sums, so the result is identical.
    """

    def __init__(self, output: np.ndarray, device: torch.device) -> None:
        self.output, self.device = output, device
        self.start = 0  # the first row not yet final: the sums' row 0
        self.total = torch.zeros((0, output.shape[1], 3), device=device)
        self.weights = torch.zeros((0, output.shape[1], 1), device=device)

    def add(self, weighted: torch.Tensor, weight: torch.Tensor, top: int, left: int) -> None:
        """Add a weighted tile placed at (``top``, ``left``) of the image (negative: in the margin)."""
        bottom = min(top + weighted.shape[0], len(self.output))
        missing = bottom - self.start - len(self.total)
        if missing > 0:
            width = self.output.shape[1]
            self.total = torch.cat([self.total, torch.zeros((missing, width, 3), device=self.device)])
            self.weights = torch.cat([self.weights, torch.zeros((missing, width, 1), device=self.device)])
        _add_inside(self.total, self.weights, weighted, weight, top - self.start, left)  # final rows: never reached

    def finish(self, end: int) -> None:
        """Rows from ``start`` up to ``end`` are final: write them into ``output`` and drop their sums."""
        count = end - self.start
        if count <= 0:
            return
        strip = self.total[:count] / self.weights[:count]
        if not bool(torch.isfinite(strip).all()):  # e.g. finite but huge weights that overflow
            raise CaeDenoiseError("the model's output holds NaN or infinite values; its weights are broken")
        self.output[self.start : end] = strip.clamp_(0.0, 1.0).cpu().numpy()
        self.total, self.weights = self.total[count:], self.weights[count:]
        self.start = end


def _add_inside(
    total: torch.Tensor, weights: torch.Tensor, weighted: torch.Tensor, weight: torch.Tensor, top: int, left: int
) -> None:
    """Add a weighted tile placed at (``top``, ``left``) of the sums (negative: in the mirrored margin) into
    them, leaving out the part of it that lies outside them."""
    height, width = total.shape[:2]
    inside_top, inside_left = max(top, 0), max(left, 0)
    bottom, right = min(top + weighted.shape[0], height), min(left + weighted.shape[1], width)
    if bottom <= inside_top or right <= inside_left:
        return
    crop = (slice(inside_top - top, bottom - top), slice(inside_left - left, right - left))
    total[inside_top:bottom, inside_left:right] += weighted[crop]
    weights[inside_top:bottom, inside_left:right] += weight[crop]
