"""JPEG compression artefacts: the real codec for evaluation, the same arithmetic in torch for training.

``round_trip`` saves HxWx3 images through Pillow (libjpeg) and decodes them again: evaluation noise is what a
real file holds. ``simulate`` runs a batch through baseline JPEG's lossy steps in torch, on the batch's device,
each sample at its own quality, so training on a GPU never waits for the host: the JFIF colour transform,
4:2:0 chroma subsampling (2x2 averages, Pillow's default), 8x8 DCT, quantisation by the standard tables
(ITU T.81 Annex K) scaled by quality as libjpeg does, and the decoder's inverse with its triangular ("fancy")
chroma upsampling. It leaves out what is lossless (entropy coding) and libjpeg's fixed-point rounding, so it
is close to the codec but not bit-exact (``tests/test_jpeg.py`` measures how close).
"""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

#: Annex K's luminance and chrominance quantisation tables (quality 50), row by row.
_LUMINANCE_TABLE = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)
_CHROMINANCE_TABLE = (
    (17, 18, 24, 47, 99, 99, 99, 99),
    (18, 21, 26, 66, 99, 99, 99, 99),
    (24, 26, 56, 99, 99, 99, 99, 99),
    (47, 66, 99, 99, 99, 99, 99, 99),
    *((99,) * 8,) * 4,
)
#: JFIF's RGB -> YCbCr matrix (full range, offsets 0 / 128 / 128 on the 0-255 scale).
_TO_YCBCR = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=torch.float32
)
_CHROMA_OFFSET = torch.tensor([0.0, 128.0, 128.0], dtype=torch.float32)
_BLOCK, _MACROBLOCK = 8, 16


def round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """The HxWx3 float32 image after saving as JPEG at ``quality`` (Pillow, 4:2:0 chroma) and decoding again."""
    pixels = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.float32) / 255.0


def round_trip_batch(batch: torch.Tensor, qualities: torch.Tensor) -> torch.Tensor:
    """``round_trip`` of each sample of an NCHW batch at its own quality (through the host)."""
    images = batch.detach().float().permute(0, 2, 3, 1).cpu().numpy()
    saved = [round_trip(image, int(quality)) for image, quality in zip(images, qualities.tolist(), strict=True)]
    return torch.from_numpy(np.stack(saved)).permute(0, 3, 1, 2).to(batch.device, batch.dtype)


def quantisation_tables(qualities: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """N x 8 x 8 luminance and chrominance tables for each quality (1-100), scaled as libjpeg's
    ``jpeg_set_quality`` with baseline limits: 5000 / q below 50, 200 - 2q from 50, entries in [1, 255]."""
    quality = qualities.to(torch.float32).clamp(1, 100)[:, None, None]
    scale = torch.where(quality < 50, torch.floor(5000 / quality), 200 - 2 * quality)
    tables = []
    for base in (_LUMINANCE_TABLE, _CHROMINANCE_TABLE):
        table = torch.tensor(base, dtype=torch.float32, device=qualities.device)[None]
        tables.append(torch.floor((table * scale + 50) / 100).clamp(1, 255))
    return tables[0], tables[1]


def _dct_matrix(device: torch.device) -> torch.Tensor:
    """The orthonormal 8-point DCT-II matrix (rows: frequencies)."""
    k = torch.arange(_BLOCK, dtype=torch.float32, device=device)[:, None]
    n = torch.arange(_BLOCK, dtype=torch.float32, device=device)[None, :]
    matrix = torch.cos(torch.pi * (2 * n + 1) * k / (2 * _BLOCK)) * (2 / _BLOCK) ** 0.5
    matrix[0] /= 2**0.5
    return matrix


def _block_transform(blocks: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """``matrix @ block @ matrix.T`` for every 8 x 8 block of ``blocks`` (... x 8 x 8), as two large products."""
    shape = blocks.shape
    rows = (blocks.reshape(-1, _BLOCK) @ matrix.T).reshape(shape).transpose(-1, -2)  # rows done; columns next
    return (rows.reshape(-1, _BLOCK) @ matrix.T).reshape(shape).transpose(-1, -2)


def _quantise_blocks(plane: torch.Tensor, table: torch.Tensor, dct: torch.Tensor) -> torch.Tensor:
    """An N x H x W plane (0-255 levels, H and W multiples of 8) through DCT, quantisation by ``table``
    (N x 8 x 8), dequantisation and inverse DCT: what a decoder reads back."""
    count, height, width = plane.shape
    blocks = plane.reshape(count, height // _BLOCK, _BLOCK, width // _BLOCK, _BLOCK).transpose(2, 3) - 128.0
    table = table[:, None, None]
    coefficients = torch.round(_block_transform(blocks, dct) / table) * table
    restored = _block_transform(coefficients, dct.T) + 128.0
    return restored.transpose(2, 3).reshape(count, height, width)


def simulate(batch: torch.Tensor, qualities: torch.Tensor) -> torch.Tensor:
    """An NCHW batch in [0, 1] after JPEG at each sample's quality (N integers 1-100), on its device."""
    height, width = batch.shape[-2:]
    device = batch.device
    pad_bottom, pad_right = -height % _MACROBLOCK, -width % _MACROBLOCK
    pixels = torch.round(batch.to(torch.float32).clamp(0, 1) * 255.0)
    pixels = F.pad(pixels, (0, pad_right, 0, pad_bottom), mode="replicate")  # as libjpeg fills partial blocks
    to_ycbcr = _TO_YCBCR.to(device)
    offset = _CHROMA_OFFSET.to(device)[None, :, None, None]
    ycbcr = torch.einsum("ij,njhw->nihw", to_ycbcr, pixels) + offset
    luminance_table, chrominance_table = quantisation_tables(qualities.to(device))
    dct = _dct_matrix(device)
    luminance = _quantise_blocks(ycbcr[:, 0], luminance_table, dct)
    chroma = F.avg_pool2d(ycbcr[:, 1:], 2)
    chroma = torch.stack([_quantise_blocks(chroma[:, c], chrominance_table, dct) for c in range(2)], dim=1)
    chroma = F.interpolate(chroma.clamp(0, 255), scale_factor=2, mode="bilinear", align_corners=False)
    decoded = (
        torch.cat([luminance.clamp(0, 255)[:, None], chroma], dim=1) - _CHROMA_OFFSET.to(device)[None, :, None, None]
    )
    rgb = torch.einsum("ij,njhw->nihw", torch.linalg.inv(to_ycbcr), decoded)
    rgb = torch.round(rgb.clamp(0, 255))[:, :, :height, :width] / 255.0
    return rgb.to(batch.dtype)
