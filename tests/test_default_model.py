"""The model shipped inside the package: loads offline by name and really denoises a held-out photo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import cae_denoise
from cae_denoise.data.sources import BUILTIN_TEST, BUILTIN_VAL, load_builtin
from cae_denoise.evaluation.metrics import psnr
from cae_denoise.models.architectures import takes_noise_level
from cae_denoise.models.checkpoint import load_model
from cae_denoise.models.inference import denoise_array
from cae_denoise.noise.models import GaussianNoise, parse_noise
from cae_denoise.shipped import resolve_model_path

ASSETS = Path(cae_denoise.__file__).parent / "assets"
#: The least gain over camera-noisy input a working default model gives on a held-out crop.
CAMERA_GAIN_DB = 3.0


def test_default_model_is_shipped_small_and_documented() -> None:
    path = resolve_model_path("default")
    assert path.parent == ASSETS
    assert path.stat().st_size < 5_000_000, "the shipped checkpoint should stay a few MB"
    report = json.loads((ASSETS / "default_model_report.json").read_text())
    assert report["schema_version"] == 1 and report["kind"] == "train"
    trained_on = {Path(name).stem for name in report["split"]["train"]}  # "builtin/brick.png" or "brick"
    assert trained_on, "the report names what the model trained on"
    held_out = set(BUILTIN_TEST + BUILTIN_VAL)
    assert not held_out & trained_on, "the default model must never train on the test or validation photos"


def test_default_model_improves_a_noisy_held_out_crop_at_several_noise_levels() -> None:
    loaded = load_model("default")
    assert "optimizer" not in loaded.payload, "the shipped file carries no training-only state"
    clean = load_builtin(["chelsea"])[0].pixels[100:196, 150:246]
    for index, sigma in enumerate((15.0, 25.0, 50.0)):
        noisy = GaussianNoise(sigma, sigma).add_seeded(clean, seed=0, index=index)
        denoised = denoise_array(loaded.model, noisy)
        assert denoised.shape == clean.shape and denoised.dtype == np.float32
        gain = psnr(clean, denoised, data_range=1.0) - psnr(clean, noisy, data_range=1.0)
        assert gain > 4.0, f"sigma {sigma}: only {gain:.2f} dB better than the noisy input"


def test_default_model_removes_camera_noise_and_strength_sets_the_smoothing() -> None:
    loaded = load_model("default")
    assert takes_noise_level(loaded.model)
    clean = load_builtin(["chelsea"])[0].pixels[100:228, 150:278]
    noisy = parse_noise("camera:high").add_seeded(clean, seed=0, index=0)
    denoised = denoise_array(loaded.model, noisy)
    gain = psnr(clean, denoised, data_range=1.0) - psnr(clean, noisy, data_range=1.0)
    assert gain > CAMERA_GAIN_DB, f"camera noise: only {gain:.2f} dB better than the noisy input"
    variation = [total_variation(denoise_array(loaded.model, noisy, strength=strength)) for strength in (0.5, 1.0, 2.0)]
    assert variation[0] > variation[1] > variation[2], "a higher --strength must give a smoother image"


def total_variation(image: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels: lower is smoother."""
    return float(np.abs(np.diff(image, axis=0)).mean() + np.abs(np.diff(image, axis=1)).mean())
