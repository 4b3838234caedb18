"""Pictures for people: training curves, comparison grids and side-by-side pictures.

Inputs are plain data (history rows, HxWx3 float32 images in [0, 1]); outputs are RGB Pillow images that
``save_png`` writes through ``outputs.write_file``, so no half-written PNG is ever left behind. Training curves
are drawn with matplotlib when it is installed (``pip install "cae-denoise[plots]"``: labelled log axis, best
epoch marked), else with Pillow alone (a plainer picture of the same two panels).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy.ndimage import uniform_filter

from .outputs import write_file

BACKGROUND, INK, GRID = (255, 255, 255), (20, 20, 20), (225, 225, 225)
COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]
#: Size of the training-curves picture in pixels (width, height).
CURVES_SIZE = (1000, 420)
#: The most pixels a side-by-side picture holds, labels included: a 12 MP photo's pair is downscaled to about
#: 2 MP (a glance at what changed; the denoised file itself is full size).
SIDE_BY_SIDE_PIXELS = 2_000_000


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def save_png(image: Image.Image, path: str | Path, *, overwrite: bool) -> Path:
    """Write ``image`` as PNG (``outputs.write_file``) and return the path."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return write_file(path, buffer.getvalue(), overwrite=overwrite)


# --- training curves ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidationPanel:
    """What the training curves' second panel shows: the history's key, its legend, axis label and scale."""

    key: str
    legend: str
    axis: str
    log_scale: bool


#: Scored against clean images (synthetic noise, real pairs); noisy photos alone have the self-supervised loss.
PSNR_PANEL = ValidationPanel("val_psnr", "validation PSNR", "PSNR (dB)", False)
LOSS_PANEL = ValidationPanel("val_loss", "validation loss (self-supervised)", "N2N loss (log scale)", True)


def training_curves(
    history: list[dict[str, float]], title: str, *, panel: ValidationPanel = PSNR_PANEL, best: int | None = None
) -> Image.Image:
    """Two panels, per epoch: training loss (log scale) and the validation score ``panel`` names, with epoch
    ``best`` (the one ``best.pt`` holds) marked. Drawn with matplotlib if it is installed, else with Pillow."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return _training_curves_pillow(history, title, panel, best)
    return _training_curves_matplotlib(history, title, panel, best)


def _training_curves_matplotlib(
    history: list[dict[str, float]], title: str, panel: ValidationPanel, best: int | None
) -> Image.Image:
    """``training_curves`` with matplotlib's object API (no pyplot: no global state, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    dpi = 100
    figure = Figure(figsize=(CURVES_SIZE[0] / dpi, CURVES_SIZE[1] / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(title, fontsize=12)
    epochs = [row["epoch"] for row in history]
    panels = [
        ("training loss (MSE)", [r["train_loss"] for r in history], "loss (log scale)", True, COLOURS[0]),
        (panel.legend, [r[panel.key] for r in history], panel.axis, panel.log_scale, COLOURS[1]),
    ]
    for axes, (name, ys, y_label, log, colour) in zip(figure.subplots(1, 2), panels, strict=True):
        shown = [(x, y) for x, y in zip(epochs, ys, strict=True) if math.isfinite(y) and (y > 0 or not log)]
        rgb = tuple(channel / 255 for channel in colour)
        if shown:
            axes.plot(*zip(*shown, strict=True), marker="o", color=rgb, label=name)
            if log:
                axes.set_yscale("log")
        if best is not None:
            axes.axvline(best, color="0.45", linestyle="--", linewidth=1, label=f"best.pt (epoch {best})")
        axes.set_title(name, fontsize=11)
        axes.set_xlabel("epoch")
        axes.set_ylabel(y_label)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(True, which="major", color="0.9")
        if axes.get_legend_handles_labels()[0]:
            axes.legend(loc="best", fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


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


def _training_curves_pillow(
    history: list[dict[str, float]], title: str, panel: ValidationPanel, best: int | None
) -> Image.Image:
    """``training_curves`` without matplotlib: the same panels drawn with Pillow (min / max ticks only)."""
    image = Image.new("RGB", CURVES_SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((20, 10), title, fill=INK, font=_font(18))
    epochs = [row["epoch"] for row in history]
    _panel(
        draw,
        (80, 80, 480, 360),
        epochs,
        {"train loss (MSE)": [r["train_loss"] for r in history]},
        "training loss (log scale)",
        log_scale=True,
    )
    values = [r[panel.key] for r in history]
    _panel(draw, (580, 80, 980, 360), epochs, {panel.legend: values}, panel.axis, panel.log_scale)
    if best is not None:
        draw.text((980, 50), f"best.pt: epoch {best}", fill=INK, font=_font(14), anchor="rs")
    return image


# --- side-by-side pictures ------------------------------------------------------------------------------------


def _to_pil(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8), mode="RGB")


def _fitting_font(text: str, width: int, largest: int) -> ImageFont.ImageFont:
    """The default font at the largest size up to ``largest`` (at least 6) in which ``text`` fits ``width``."""
    size = max(6, largest)
    while size > 6 and _font(size).getlength(text) > width:
        size -= 1
    return _font(size)


def side_by_side(
    before: np.ndarray,
    after: np.ndarray,
    *,
    labels: tuple[str, str] = ("noisy", "denoised"),
    max_pixels: int = SIDE_BY_SIDE_PIXELS,
    gap: int = 8,
) -> np.ndarray:
    """Input and output next to each other with a white gap, each under its label, as one HxWx3 float image in
    [0, 1]. Pictures above ``max_pixels`` are downscaled (Lanczos) to fit; smaller ones keep every pixel."""
    height, width = before.shape[:2]
    scale = min(1.0, math.sqrt(max_pixels / (height * (2 * width + gap))))
    while True:  # the label band takes a little of the budget too
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        font_size = min(48, max(12, size[1] // 24))
        band = round(font_size * 1.5)
        if scale < 0.01 or (size[1] + band) * (2 * size[0] + gap) <= max_pixels:
            break
        scale *= 0.98
    halves = [_to_pil(half) for half in (before, after)]
    if size != (width, height):
        halves = [half.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0) for half in halves]
    margin = font_size // 3
    fonts = [_fitting_font(label, size[0] - margin, font_size) for label in labels]
    picture = Image.new("RGB", (2 * size[0] + gap, band + size[1]), BACKGROUND)
    draw = ImageDraw.Draw(picture)
    for index, (half, label, font) in enumerate(zip(halves, labels, fonts, strict=True)):
        left = index * (size[0] + gap)
        picture.paste(half, (left, band))
        draw.text((left + margin, band // 2), label, fill=INK, font=font, anchor="lm")
    return np.asarray(picture, dtype=np.float32) / 255.0


# --- comparison grids -----------------------------------------------------------------------------------------


def detail_window(image: np.ndarray, size: int) -> tuple[int, int]:
    """(top, left) of the ``size`` x ``size`` window of ``image`` (HxWx3) with the most detail: the highest mean
    gradient energy of its luminance, so a zoom lands on texture and edges, never on a flat or black area."""
    gray = image.mean(axis=2, dtype=np.float64)
    energy = np.zeros_like(gray)
    energy[:, 1:] += np.diff(gray, axis=1) ** 2
    energy[1:, :] += np.diff(gray, axis=0) ** 2
    size = min(size, *gray.shape)
    mean = uniform_filter(energy, size=size, mode="constant")
    half = size // 2  # uniform_filter centres its window: keep the centres whose window lies inside the image
    valid = mean[half : gray.shape[0] - size + half + 1, half : gray.shape[1] - size + half + 1]
    top, left = np.unravel_index(int(np.argmax(valid)), valid.shape)
    return int(top), int(left)


@dataclass
class GridRow:
    """One row of a comparison grid: its title and ``panels`` of (label, tile x tile x 3 image, caption); the
    zoomed detail is the ``side`` x ``side`` square at ``detail`` (top, left) of every panel."""

    title: str
    panels: list[tuple[str, np.ndarray, str]]
    detail: tuple[int, int]
    side: int


def comparison_grid(rows: list[GridRow], *, zoom: int = 3) -> Image.Image:
    """One row per (noise, test crop): its title, then noisy | each method | clean, each labelled, with the
    detail enlarged ``zoom`` times (nearest neighbour) below and outlined in the panel above it. Panels are
    square and the same size."""
    tile = rows[0].panels[0][1].shape[0]
    inset = max(row.side for row in rows) * zoom
    columns = max(len(row.panels) for row in rows)
    title_h, label_h, caption_h, gap = 24, 26, 22, 10
    row_h = title_h + label_h + tile + gap + inset + caption_h + gap
    image = Image.new("RGB", (gap + columns * (tile + gap), len(rows) * row_h + gap), BACKGROUND)
    draw = ImageDraw.Draw(image)
    heading, font, small = _font(17), _font(15), _font(13)
    for r, row in enumerate(rows):
        top = gap + r * row_h
        draw.text((gap, top + 2), row.title, fill=INK, font=heading)
        top += title_h
        y, x = row.detail
        for c, (label, pixels, caption) in enumerate(row.panels):
            left = gap + c * (tile + gap)
            draw.text((left, top + 4), label, fill=INK, font=font)
            image.paste(_to_pil(pixels), (left, top + label_h))
            x0, y0 = left + x, top + label_h + y
            draw.rectangle([x0 - 1, y0 - 1, x0 + row.side, y0 + row.side], outline=(255, 200, 0))
            detail = _to_pil(pixels[y : y + row.side, x : x + row.side])
            image.paste(
                detail.resize((row.side * zoom, row.side * zoom), Image.Resampling.NEAREST),
                (left, top + label_h + tile + gap),
            )
            draw.text((left, top + label_h + tile + gap + inset + 4), caption, fill=INK, font=small)
    return image
