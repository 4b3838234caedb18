"""Neighbor2Neighbor's sub-images (Huang et al., CVPR 2021): from each 2x2 cell of a noisy image, two
different neighbouring pixels, one to each of two half-size images whose noise is independent while their signal
is almost equal. Self-supervised training learns from them (``training/objectives.py``) and the no-reference
checks score with them (``evaluation/noreference.py``). NCHW tensors.
"""

from __future__ import annotations

import torch

#: The 8 ordered pairs of cells of a 2x2 block that share an edge (cells numbered row by row: 0 1 / 2 3).
_NEIGHBOURS = torch.tensor([[0, 1], [0, 2], [1, 0], [1, 3], [2, 0], [2, 3], [3, 1], [3, 2]])


def neighbour_choices(shape: tuple[int, int, int], generator: torch.Generator) -> torch.Tensor:
    """For each 2x2 cell of ``shape`` = (N, H, W) images, which ordered neighbour pair to take: N x 1 x H/2 x W/2."""
    count, height, width = shape
    shape = (count, 1, height // 2, width // 2)
    return torch.randint(0, len(_NEIGHBOURS), shape, generator=generator, device=generator.device)


def subsample(images: torch.Tensor, choices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two half-size sub-images g1, g2 of NCHW ``images`` (H, W even) for ``neighbour_choices``."""
    count, channels, height, width = images.shape
    cells = images.reshape(count, channels, height // 2, 2, width // 2, 2).permute(0, 1, 2, 4, 3, 5)
    cells = cells.reshape(count, channels, height // 2, width // 2, 4)
    pairs = _NEIGHBOURS.to(choices.device)[choices]  # N x 1 x H/2 x W/2 x 2
    first = pairs[..., :1].expand(count, channels, height // 2, width // 2, 1)
    second = pairs[..., 1:].expand(count, channels, height // 2, width // 2, 1)
    return cells.gather(-1, first).squeeze(-1), cells.gather(-1, second).squeeze(-1)
