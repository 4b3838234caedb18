"""Pictures for people: training curves and comparison grids, drawn with Pillow alone.

Inputs are plain data (history rows, HxWx3 float32 images in [0, 1]); outputs are RGB Pillow images
that ``save_png`` writes through ``outputs.write_file``, so no half-written PNG is ever left behind.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .outputs import write_file

BACKGROUND, INK, GRID = (255, 255, 255), (20, 20, 20), (225, 225, 225)
COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def save_png(image: Image.Image, path: str | Path, *, overwrite: bool) -> Path:
    """Write ``image`` as PNG (``outputs.write_file``) and return the path."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return write_file(path, buffer.getvalue(), overwrite=overwrite)


def _panel(
    draw: ImageDraw.ImageDraw,
    box: tuple[int, int, int, int],
    xs: list[float],
    series: dict[str, list[float]],
    title: str,
    log_scale: bool = False,
) -> None:
    """One line chart inside ``box`` (left, top, right, bottom) with axis labels and a legend."""
    left, top, right, bottom = box
    font = _font(14)
    draw.text((left, top - 22), title, fill=INK, font=_font(16))
    values = [v for ys in series.values() for v in ys if math.isfinite(v) and (v > 0 or not log_scale)]
    if not values or not xs:
        return
    transform = (lambda v: math.log10(v)) if log_scale else (lambda v: v)
    low, high = transform(min(values)), transform(max(values))
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    x_low, x_high = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1

    def point(x: float, y: float) -> tuple[float, float]:
        px = left + (x - x_low) / (x_high - x_low) * (right - left)
        py = bottom - (transform(y) - low) / (high - low) * (bottom - top)
        return px, py

    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = bottom - fraction * (bottom - top)
        draw.line([(left, y), (right, y)], fill=GRID)
        value = low + fraction * (high - low)
        label = f"{10**value:.2g}" if log_scale else f"{value:.4g}"
        draw.text((left - 6, y), label, fill=INK, font=font, anchor="rm")
    draw.rectangle(box, outline=INK)
    for index, (name, ys) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        points = [point(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(y) and (y > 0 or not log_scale)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for px, py in points:
            draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)
        draw.text((left + 8, top + 6 + 18 * index), name, fill=colour, font=font)
    draw.text(((left + right) / 2, bottom + 8), "epoch", fill=INK, font=font, anchor="mt")
    draw.text((left, bottom + 8), f"{x_low:g}", fill=INK, font=font, anchor="lt")
    draw.text((right, bottom + 8), f"{x_high:g}", fill=INK, font=font, anchor="rt")


def training_curves(history: list[dict[str, float]], title: str) -> Image.Image:
    """Two panels: training loss (log scale) and validation PSNR (or, self-supervised, loss), per epoch."""
    image = Image.new("RGB", (1000, 420), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((20, 10), title, fill=INK, font=_font(18))
    epochs = [row["epoch"] for row in history]
    _panel(
        draw,
        (80, 80, 480, 360),
        epochs,
        {"train loss (MSE)": [r["train_loss"] for r in history]},
        "training loss",
        log_scale=True,
    )
    if history and "val_psnr" not in history[0]:  # noisy photos alone: no PSNR, the self-supervised loss
        series, label = {"val N2N loss": [r["val_loss"] for r in history]}, "validation loss (self-supervised)"
    else:
        series, label = {"val PSNR (dB)": [r["val_psnr"] for r in history]}, "validation PSNR (dB)"
    _panel(draw, (580, 80, 980, 360), epochs, series, label)
    return image


def side_by_side(before: np.ndarray, after: np.ndarray, gap: int = 8) -> np.ndarray:
    """Input and output next to each other with a white gap, as one HxWx3 float image."""
    spacer = np.ones((before.shape[0], gap, 3), np.float32)
    return np.concatenate([before, spacer, after], axis=1)


def _to_pil(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8), mode="RGB")


def comparison_grid(rows: list[tuple[str, list[tuple[str, np.ndarray, str]]]], *, zoom: int = 3) -> Image.Image:
    """One row per test crop: noisy | each method | clean, each labelled, with a zoomed detail below.

    ``rows`` holds ``(crop name, [(label, tile x tile x 3 image, caption), ...])``; all panels are square and
    the same size. The detail is the central ``tile // (2 * zoom)`` pixels enlarged ``zoom`` times (nearest
    neighbour), outlined in the panel above it.
    """
    tile = rows[0][1][0][1].shape[0]
    side = tile // (2 * zoom)
    inset = side * zoom
    start = tile // 2 - side // 2
    columns = max(len(panels) for _, panels in rows)
    label_h, caption_h, gap = 26, 22, 10
    row_h = label_h + tile + gap + inset + caption_h + gap
    image = Image.new("RGB", (gap + columns * (tile + gap), len(rows) * row_h + gap), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font, small = _font(15), _font(13)
    for r, (_, panels) in enumerate(rows):
        top = gap + r * row_h
        for c, (label, pixels, caption) in enumerate(panels):
            left = gap + c * (tile + gap)
            draw.text((left, top + 4), label, fill=INK, font=font)
            image.paste(_to_pil(pixels), (left, top + label_h))
            x0, y0 = left + start, top + label_h + start
            draw.rectangle([x0 - 1, y0 - 1, x0 + side, y0 + side], outline=(255, 200, 0))
            detail = pixels[start : start + side, start : start + side]
            image.paste(
                _to_pil(detail).resize((inset, inset), Image.Resampling.NEAREST), (left, top + label_h + tile + gap)
            )
            draw.text((left, top + label_h + tile + gap + inset + 4), caption, fill=INK, font=small)
    return image


class GridCollector:
    """Collects a central crop of every method's output on the first ``count`` images, during evaluation.

    Pass it as ``on_output`` to ``evaluate_methods``; then ``picture(images)`` draws the grid, each panel
    captioned with its PSNR/SSIM on the crop.
    """

    def __init__(self, count: int = 3, tile: int = 192) -> None:
        self.count, self.tile = count, tile
        self.crops: dict[int, dict[str, np.ndarray]] = {}

    def _crop(self, pixels: np.ndarray) -> np.ndarray:
        size = min(self.tile, *pixels.shape[:2])
        top, left = (pixels.shape[0] - size) // 2, (pixels.shape[1] - size) // 2
        return pixels[top : top + size, left : left + size]

    def __call__(self, index: int, method: str, output: np.ndarray) -> None:
        if index < self.count:
            self.crops.setdefault(index, {})[method] = self._crop(output)

    def picture(self, names: list[str]) -> Image.Image:
        """The grid, rows in evaluation order; ``names`` are the evaluated images' names."""
        from .metrics import image_metrics

        size = min(min(crops["clean"].shape[:2]) for crops in self.crops.values())
        rows = []
        for index, crops in sorted(self.crops.items()):
            clean = crops["clean"][:size, :size]
            panels = []
            for method, crop in crops.items():
                if method == "clean":
                    continue
                scores = image_metrics(clean, crop[:size, :size])
                panels.append((method, crop[:size, :size], f"{scores['psnr']:.2f} dB  SSIM {scores['ssim']:.3f}"))
            panels.append(("clean", clean, names[index]))
            rows.append((names[index], panels))
        return comparison_grid(rows)
