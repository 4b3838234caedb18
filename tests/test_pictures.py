"""Pictures: training curves and comparison grids are real images of the promised layout."""

from __future__ import annotations

import numpy as np
from helpers import texture
from PIL import Image

from cae_denoise.evaluate import evaluate_specs
from cae_denoise.pictures import GridCollector, comparison_grid, save_png, training_curves


def _ink(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    """Number of non-white pixels inside ``box``."""
    pixels = np.asarray(image.crop(box).convert("L"))
    return int((pixels < 250).sum())


def test_training_curves(tmp_path):
    history = [{"epoch": e, "train_loss": 0.05 / e, "val_psnr": 20 + e} for e in range(1, 5)]
    image = training_curves(history, "tiny run")
    assert image.mode == "RGB" and image.size == (1000, 420)
    assert _ink(image, (80, 80, 480, 360)) > 200 and _ink(image, (580, 80, 980, 360)) > 200
    path = save_png(image, tmp_path / "curves.png", overwrite=False)
    assert path == tmp_path / "curves.png"
    assert Image.open(path).size == (1000, 420)
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]


def test_training_curves_single_epoch_and_non_finite():
    image = training_curves([{"epoch": 1, "train_loss": float("nan"), "val_psnr": float("inf")}], "odd")
    assert image.size == (1000, 420)


def test_comparison_grid_layout():
    panels = [
        ("noisy", texture(48, 48, 0), "a"),
        ("model", texture(48, 48, 1), "b"),
        ("clean", texture(48, 48, 2), "c"),
    ]
    grid = comparison_grid([("one", panels), ("two", panels)], zoom=3)
    tile, gap, inset = 48, 10, (48 // 6) * 3
    assert grid.size == (gap + 3 * (tile + gap), 2 * (26 + tile + gap + inset + 22 + gap) + gap)
    first = np.asarray(grid)[gap + 26 : gap + 26 + tile, gap : gap + tile]
    expected = np.round(texture(48, 48, 0) * 255).astype(np.uint8)
    outside_outline = np.ones((tile, tile), bool)
    start, side = tile // 2 - (tile // 6) // 2, tile // 6
    outside_outline[start - 1 : start + side + 1, start - 1 : start + side + 1] = False
    np.testing.assert_array_equal(first[outside_outline], expected[outside_outline])


def test_grid_collector_through_an_evaluation(checkpoint, image_folder):
    collector = GridCollector(count=1, tile=24)
    body = evaluate_specs([str(checkpoint)], data=str(image_folder), grid=collector)
    assert list(collector.crops) == [0]
    assert set(collector.crops[0]) == {"clean", "noisy", "leaky"}
    assert all(crop.shape == (24, 24, 3) for crop in collector.crops[0].values())
    picture = collector.picture(body["images"])
    assert picture.size[0] == 10 + 3 * (24 + 10)
