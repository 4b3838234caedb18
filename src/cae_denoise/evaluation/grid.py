"""The compare grid's contents: crops of every method's output collected during evaluation, then drawn."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from ..io.pictures import GridRow, comparison_grid, detail_window
from .metrics import image_metrics

#: The name under which evaluation passes the clean reference to ``on_output`` callbacks (before the methods).
CLEAN = "clean"


class GridCollector:
    """Collects, during evaluation, a crop of every method's output on the first ``count`` images at every noise
    level: the ``tile`` x ``tile`` window of the clean image with the most detail (``detail_window``).

    ``evaluate_specs`` passes ``level(i)`` as ``on_output`` of its i-th noise level; then ``picture(images,
    captions)`` draws the grid, each panel captioned with its PSNR/SSIM on the crop.
    """

    def __init__(self, count: int = 3, tile: int = 192, zoom: int = 3) -> None:
        self.count, self.tile, self.zoom = count, tile, zoom
        self.windows: dict[int, tuple[int, int, int]] = {}  # image index -> (top, left, size)
        self.crops: dict[int, dict[int, dict[str, np.ndarray]]] = {}  # level -> image index -> method -> crop

    def level(self, position: int) -> Callable[[int, str, np.ndarray], None]:
        """The ``on_output(index, method, output)`` callback of noise level ``position``."""

        def collect(index: int, method: str, output: np.ndarray) -> None:
            if index >= self.count:
                return
            if method == CLEAN and index not in self.windows:
                size = min(self.tile, *output.shape[:2])
                self.windows[index] = (*detail_window(output, size), size)
            top, left, size = self.windows[index]
            self.crops.setdefault(position, {}).setdefault(index, {})[method] = output[
                top : top + size, left : left + size
            ]

        return collect

    def picture(self, names: list[str], captions: list[str]) -> Image.Image:
        """The grid: for each noise level (``captions[i]`` says which), the first ``count`` images when there is
        one level, else the first image (one row per level); ``names`` are the evaluated images' names."""

        per_level = self.count if len(self.crops) == 1 else 1
        size = min(self.windows[index][2] for index in self.windows)
        rows = []
        for position, images in sorted(self.crops.items()):
            for index, crops in sorted(images.items())[:per_level]:
                clean = crops[CLEAN][:size, :size]
                side = max(1, size // (2 * self.zoom))
                panels = []
                for method, crop in crops.items():
                    if method == CLEAN:
                        continue
                    scores = image_metrics(clean, crop[:size, :size])
                    panels.append((method, crop[:size, :size], f"{scores['psnr']:.2f} dB  SSIM {scores['ssim']:.3f}"))
                panels.append(("clean", clean, names[index]))
                title = f"{names[index]}, {captions[position]}" if position < len(captions) else names[index]
                rows.append(GridRow(title, panels, detail_window(clean, side), side))
        return comparison_grid(rows, zoom=self.zoom)
