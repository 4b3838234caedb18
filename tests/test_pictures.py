"""Pictures: training curves and comparison grids are real images of the promised layout."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from helpers import texture
from PIL import Image

from cae_denoise.evaluation.evaluate import evaluate_specs
from cae_denoise.evaluation.grid import GridCollector
from cae_denoise.io.pictures import (
    CURVES_SIZE,
    LOSS_PANEL,
    GridRow,
    comparison_grid,
    detail_window,
    save_png,
    side_by_side,
    training_curves,
)
from cae_denoise.training.loop import best_epoch


def _ink(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    """Number of non-white pixels inside ``box``."""
    pixels = np.asarray(image.crop(box).convert("L"))
    return int((pixels < 250).sum())


HISTORY = [{"epoch": e, "train_loss": 0.05 / e, "val_psnr": 20 + e - (e == 4) * 3} for e in range(1, 5)]


@pytest.fixture(params=["matplotlib", "pillow"])
def plotter(request, monkeypatch):
    """Training curves drawn with matplotlib (skipped where it is not installed) or with Pillow alone."""
    if request.param == "matplotlib":
        pytest.importorskip("matplotlib")
    else:
        monkeypatch.setitem(sys.modules, "matplotlib", None)  # 'import matplotlib' now raises ImportError
    return request.param


def test_best_epoch_is_the_one_best_pt_holds():
    def psnr(scores):
        return scores["psnr"]

    def minus_loss(scores):
        return -scores["loss"]

    assert best_epoch(HISTORY, psnr) == 3  # PSNR 23 at epoch 3, 21 at epoch 4
    assert best_epoch([{"epoch": 1, "val_psnr": 20.0}, {"epoch": 2, "val_psnr": 20.0}], psnr) == 1  # first of ties
    assert best_epoch([{"epoch": e, "val_loss": loss} for e, loss in ((1, 0.3), (2, 0.1), (3, 0.2))], minus_loss) == 2
    assert best_epoch([{"epoch": 1, "val_psnr": float("nan")}], psnr) is None


def test_training_curves(tmp_path, plotter):
    image = training_curves(HISTORY, "tiny run")
    assert image.mode == "RGB" and image.size == CURVES_SIZE
    assert _ink(image, (80, 80, 480, 360)) > 200 and _ink(image, (580, 80, 980, 360)) > 200
    path = save_png(image, tmp_path / "curves.png", overwrite=False)
    assert path == tmp_path / "curves.png"
    assert Image.open(path).size == CURVES_SIZE
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]


def test_matplotlib_curves_mark_the_best_epoch_and_label_the_log_axis(monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    drawn = []
    original = Figure.savefig

    def keep(self, *args, **kwargs):
        drawn.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    training_curves(HISTORY, "tiny run", best=3)
    loss, psnr = drawn[0].axes
    assert loss.get_yscale() == "log" and "log scale" in loss.get_ylabel() and psnr.get_ylabel() == "PSNR (dB)"
    for axes in (loss, psnr):
        marks = [line for line in axes.get_lines() if line.get_label() == "best.pt (epoch 3)"]
        assert len(marks) == 1 and list(marks[0].get_xdata()) == [3, 3]


def test_training_curves_single_epoch_and_non_finite(plotter):
    image = training_curves([{"epoch": 1, "train_loss": float("nan"), "val_psnr": float("inf")}], "odd")
    assert image.size == CURVES_SIZE
    row = {"epoch": 1, "train_loss": 0.1, "val_loss": 0.2, "val_residual_sigma": 3}
    image = training_curves([row], "n2n", panel=LOSS_PANEL, best=1)
    assert image.size == CURVES_SIZE


def _row(title: str, detail: tuple[int, int], side: int) -> GridRow:
    panels = [
        ("noisy", texture(48, 48, 0), "a"),
        ("model", texture(48, 48, 1), "b"),
        ("clean", texture(48, 48, 2), "c"),
    ]
    return GridRow(title, panels, detail, side)


def test_comparison_grid_layout():
    grid = comparison_grid([_row("one, sigma 15", (5, 30), 8), _row("two, sigma 50", (0, 0), 8)], zoom=3)
    tile, gap, inset, title_h, label_h = 48, 10, 8 * 3, 24, 26
    assert grid.size == (gap + 3 * (tile + gap), 2 * (title_h + label_h + tile + gap + inset + 22 + gap) + gap)
    top = gap + title_h + label_h
    first = np.asarray(grid)[top : top + tile, gap : gap + tile]
    expected = np.round(texture(48, 48, 0) * 255).astype(np.uint8)
    outside_outline = np.ones((tile, tile), bool)
    outside_outline[5 - 1 : 5 + 8 + 1, 30 - 1 : 30 + 8 + 1] = False
    np.testing.assert_array_equal(first[outside_outline], expected[outside_outline])
    zoomed = np.asarray(grid)[top + tile + gap : top + tile + gap + inset, gap : gap + inset]
    np.testing.assert_array_equal(zoomed[::3, ::3], expected[5:13, 30:38])  # the detail, enlarged 3 times
    assert _ink(grid, (gap, gap, gap + 150, gap + title_h)) > 50  # the row's title


def test_detail_window_finds_the_textured_part_not_the_centre():
    image = np.zeros((60, 90, 3), np.float32)  # black, except a textured patch in a corner
    image[40:56, 2:18] = texture(16, 16, 3)
    top, left = detail_window(image, 16)
    assert abs(top - 40) <= 2 and abs(left - 2) <= 2
    assert detail_window(image, 200) == (0, 0)  # a window as large as the image


def test_grid_collector_through_an_evaluation(checkpoint, image_folder):
    collector = GridCollector(count=2, tile=24)
    body = evaluate_specs([str(checkpoint)], data=str(image_folder), sigmas_255=[15, 50], grid=collector)
    assert sorted(collector.crops) == [0, 1]  # every noise level
    assert set(collector.crops[1][0]) == {"clean", "noisy", "leaky"}
    assert all(crop.shape == (24, 24, 3) for crop in collector.crops[1][0].values())
    np.testing.assert_array_equal(collector.crops[0][0]["clean"], collector.crops[1][0]["clean"])
    assert not np.array_equal(collector.crops[0][0]["noisy"], collector.crops[1][0]["noisy"])
    picture = collector.picture(body["images"], ["sigma 15", "sigma 50"])
    row_h = 24 + 26 + 24 + 10 + (24 // 6) * 3 + 22 + 10  # title, label, tile, gap, zoom, caption, gap
    assert picture.size == (10 + 3 * (24 + 10), 2 * row_h + 10)  # one row per level, for the first image
    one_level = GridCollector(count=2, tile=24)
    evaluate_specs([str(checkpoint)], data=str(image_folder), grid=one_level)
    rows = min(2, len(body["images"]))  # one level: a row for each of the first `count` images
    assert one_level.picture(body["images"], ["sigma 25"]).size[1] == rows * row_h + 10


def test_side_by_side_keeps_small_pictures_whole_and_labels_them():
    before, after = texture(26, 31, 0), texture(26, 31, 1)
    pair = side_by_side(before, after)
    band = pair.shape[0] - 26
    assert band > 0 and pair.shape[1] == 31 + 8 + 31
    np.testing.assert_array_equal(np.round(pair[band:, :31] * 255), np.round(before * 255))
    np.testing.assert_array_equal(np.round(pair[band:, -31:] * 255), np.round(after * 255))
    assert (pair[:band] < 0.5).any()  # the labels' ink


def test_side_by_side_of_a_large_photo_is_downscaled_to_the_limit():
    before = np.random.default_rng(0).random((600, 800, 3), dtype=np.float32)
    pair = side_by_side(before, before, max_pixels=200_000)
    assert pair.shape[0] * pair.shape[1] <= 200_000
    assert pair.shape[1] > 2 * 800 * 0.3  # still most of what the limit allows
