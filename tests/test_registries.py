"""Every entry of every registry works: each noise form documented in ``choices.NOISE_FORMS``, each metric of
``metrics.METRICS`` and each output format of ``images.OUTPUT_FORMATS`` (tests written once, run per entry)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from cae_denoise.choices import ARCHITECTURES, NOISE_FORMS, architecture_names, noise_forms
from cae_denoise.cli.options import DENOISE_FORMATS
from cae_denoise.cli.tables import _changes, format_metric
from cae_denoise.denoising import FORMATS, output_format, output_path
from cae_denoise.evaluation.metrics import METRICS, image_metrics
from cae_denoise.io.images import OUTPUT_FORMAT_NAMES, OUTPUT_FORMATS, decode_image, encode_image, output_format_named
from cae_denoise.models.architectures import list_models
from cae_denoise.noise.models import JpegNoise, list_noises, noise_record, parse_noise


def _examples(form: str) -> list[str]:
    """Specs a documented form names: ``camera[:low|high][:jpeg=90|none]`` gives camera, camera:low,
    camera:high, camera:jpeg=90 and camera:jpeg=none (``SPEC`` stands for another spec)."""
    base = re.sub(r"\[.*?\]", "", form).replace("SPEC", "gaussian:20")
    examples = [base]
    for option in re.findall(r"\[:(.*?)\]", form):
        key, _, first = option.rpartition("=") if "=" in option.split("|")[0] else ("", "", option)
        prefix = f"{key}=" if key else ""
        examples += [f"{base}:{prefix}{value}" for value in first.split("|")]
    return examples


NOISE_EXAMPLES = [spec for forms in NOISE_FORMS.values() for form in forms.split(", ") for spec in _examples(form)]
CLEAN = np.random.default_rng(0).random((23, 19, 3)).astype(np.float32)
BATCH = torch.from_numpy(np.random.default_rng(1).random((3, 3, 21, 17)).astype(np.float32))


def test_every_declared_name_is_registered():
    assert list_models() == architecture_names() == sorted(ARCHITECTURES)
    assert list_noises() == list(NOISE_FORMS)
    assert all(name in noise_forms() for name in NOISE_FORMS)


def test_the_examples_cover_every_form():
    assert {"gaussian:25", "camera:jpeg=none", "camera:demosaic=mhc", "grey:gaussian:20", "jpeg:70-95"} <= set(
        NOISE_EXAMPLES
    )
    assert {spec.split(":")[0] for spec in NOISE_EXAMPLES} == set(NOISE_FORMS)


@pytest.mark.parametrize("spec", NOISE_EXAMPLES)
def test_every_documented_noise_form_parses_and_round_trips(spec):
    model = parse_noise(spec)
    assert parse_noise(model.spec) == model
    json.dumps(noise_record(model))


@pytest.mark.parametrize("spec", NOISE_EXAMPLES)
def test_every_noise_form_draws_noise_of_the_right_shape_deterministically(spec):
    model = parse_noise(spec)
    noisy = model.add_to_batch(BATCH, torch.Generator().manual_seed(3))
    assert noisy.shape == BATCH.shape and noisy.dtype == BATCH.dtype
    assert float(noisy.min()) >= 0.0 and float(noisy.max()) <= 1.0 and not torch.equal(noisy, BATCH)
    assert torch.equal(noisy, model.add_to_batch(BATCH, torch.Generator().manual_seed(3)))
    seeded = model.add_seeded(CLEAN, 5, 2)
    assert seeded.shape == CLEAN.shape and seeded.dtype == np.float32
    assert np.array_equal(seeded, model.add_seeded(CLEAN, 5, 2))
    if not isinstance(model, JpegNoise) or model.quality_min < model.quality_max:  # a fixed quality draws nothing
        assert not np.array_equal(seeded, model.add_seeded(CLEAN, 6, 2))


def test_help_lists_every_architecture_and_noise_form():
    from typer.testing import CliRunner

    from cae_denoise.cli.app import app

    shown = " ".join(CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "1000"}).output.split())
    assert all(f"{name} ({about})" in shown for name, about in ARCHITECTURES.items())
    assert all(form.replace("][", "] [") in shown for form in NOISE_FORMS.values())


# --- metrics ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(METRICS))
def test_every_metric_scores_formats_and_ranks(name):
    metric = METRICS[name]
    reference = np.random.default_rng(2).random((24, 21, 3))
    slightly, badly = (
        np.clip(reference + s * np.random.default_rng(3).standard_normal(reference.shape), 0, 1) for s in (0.02, 0.2)
    )
    good, bad = (metric.function(reference, test, data_range=1.0) for test in (slightly, badly))
    assert (good > bad) == metric.higher_is_better
    shown = metric.format(good)
    assert float(shown) == pytest.approx(good, abs=10**-metric.decimals) and len(shown.split(".")[1]) == metric.decimals
    assert format_metric(name, good) == shown


def test_tables_show_every_metric_of_the_registry():
    row = {"difference": 1.5, "relative_percent": 2.0}
    changes = _changes({name: row for name in METRICS})
    for name, metric in METRICS.items():
        assert (f"{name.upper()} +1.50 {metric.unit}" if metric.unit else f"{name.upper()} +2.0%") in changes
    assert set(image_metrics(CLEAN, CLEAN[::-1].copy())) == set(METRICS)


# --- output formats -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", OUTPUT_FORMAT_NAMES)
def test_every_output_format_round_trips_with_its_suffix(name, tmp_path):
    key = output_format_named(name.upper())
    source = tmp_path / "photo.bmp"
    written = output_path(source, None, name)
    assert written.suffix == OUTPUT_FORMATS[key].suffix and output_format(source, name) == key
    smooth = np.stack([*np.meshgrid(np.linspace(0, 1, 19), np.linspace(0.2, 0.8, 23)), np.full((23, 19), 0.5)], axis=2)
    written.write_bytes(encode_image(smooth.astype(np.float32), fmt=name))
    decoded = decode_image(written)
    tolerance = 0.05 if key == "jpeg" else 0.51 / 255  # JPEG is lossy; the others keep 8 bits
    assert decoded.rgb.shape == smooth.shape and np.abs(decoded.rgb - smooth).max() <= tolerance
    for suffix in OUTPUT_FORMATS[key].inputs:
        assert output_format(tmp_path / f"x{suffix.upper()}", "auto") == key
    assert DENOISE_FORMATS == FORMATS == ("auto", *OUTPUT_FORMAT_NAMES)
