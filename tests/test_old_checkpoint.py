"""A checkpoint written before the training kinds became objects (``fixtures/checkpoint_before_tasks.pt``: a
``unet-level`` with 4 channels, trained 5 steps on the built-in photos) still loads, evaluates and denoises
as it did: the recorded numbers were read with the code that wrote it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import TEXTURES, save_png, texture

from cae_denoise.api import denoise
from cae_denoise.evaluation.evaluate import evaluate_specs
from cae_denoise.models.checkpoint import load_model

FIXTURE = Path(__file__).parent / "fixtures" / "checkpoint_before_tasks.pt"


def test_old_checkpoint_loads_with_its_settings():
    loaded = load_model(FIXTURE)
    assert loaded.weights_sha256() == "e92c7a02f7326b7c7309043b1d2dabd69e613604ceead8dcde62451075d2dbb6"
    config = loaded.config
    assert (config.arch, config.channels, config.depth, config.data, config.kind) == (
        "unet-level",
        4,
        1,
        "builtin",
        "synthetic",
    )
    assert loaded.payload["training"]["kind"] == "synthetic"


def test_old_checkpoint_denoises_as_before():
    loaded = load_model(FIXTURE)
    image = texture(37, 45, 3)
    output = denoise(image, loaded, device="cpu")
    assert output.shape == image.shape and output.dtype == np.float32
    assert float(np.abs(output.astype(np.float64) - image).mean()) == pytest.approx(0.0689039, abs=1e-6)
    assert not np.array_equal(denoise(image, loaded, device="cpu", strength=2.0), output)


def test_old_checkpoint_evaluates_as_before(tmp_path):
    for seed, (name, height, width) in enumerate(TEXTURES):
        save_png(tmp_path / name, texture(height, width, seed))
    body = evaluate_specs([str(FIXTURE)], data=str(tmp_path), sigmas_255=[25.0], device="cpu")
    assert body["images"] == ["c.png"]
    assert body["levels"][0]["methods"]["unet-level"]["mean"]["psnr"] == pytest.approx(17.939006, abs=1e-5)
    assert body["methods"]["unet-level"]["training_kind"] == "synthetic"
    assert body["methods"]["unet-level"]["test_images_seen_in_training"] == []
