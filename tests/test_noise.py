"""Gaussian noise: parsing sigma, seeded application for evaluation, batched application for training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cae_denoise.errors import CaeDenoiseError
from cae_denoise.noise.models import GaussianNoise, parse_sigma, parse_sigma_list

CLEAN = np.full((64, 64, 3), 0.5, dtype=np.float32)


@pytest.mark.parametrize(
    ("text", "low", "high", "label"),
    [("25", 25, 25, "25"), (" 15 ", 15, 15, "15"), ("5-50", 5, 50, "5-50"), ("0", 0, 0, "0"), ("2.5", 2.5, 2.5, "2.5")],
)
def test_parse_sigma(text, low, high, label):
    noise = parse_sigma(text)
    assert (noise.sigma_min, noise.sigma_max) == (low, high)
    assert noise.label == label
    assert noise.is_blind == (high > low)
    assert noise.clip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "expected a level"),
        ("-3", "expected a level"),
        ("", "expected a level"),
        ("5-10-20", "expected a level"),
        ("nan", "expected a level"),
        ("inf", "expected a level"),
        ("50-5", "range must be low-high"),
        ("300", "--sigma '300': at most 255"),
        ("10-256", "--sigma '10-256': at most 255"),
    ],
)
def test_parse_sigma_rejects(text, message):
    with pytest.raises(CaeDenoiseError, match=message):
        parse_sigma(text)


def test_parse_sigma_list():
    assert parse_sigma_list("15,25, 50") == [15.0, 25.0, 50.0]
    with pytest.raises(CaeDenoiseError, match="comma list"):
        parse_sigma_list("5-50")
    with pytest.raises(CaeDenoiseError):
        parse_sigma_list(" , ")


def test_noise_to_dict_round_trip():
    noise = GaussianNoise(5.0, 50.0, clip=False)
    assert GaussianNoise(**noise.to_dict()) == noise


def test_add_seeded_is_deterministic_per_seed_and_index():
    noise = GaussianNoise(25, 25)
    first = noise.add_seeded(CLEAN, seed=3, index=0)
    assert first.dtype == np.float32 and first.shape == CLEAN.shape
    np.testing.assert_array_equal(first, noise.add_seeded(CLEAN, seed=3, index=0))
    assert not np.array_equal(first, noise.add_seeded(CLEAN, seed=3, index=1))
    assert not np.array_equal(first, noise.add_seeded(CLEAN, seed=4, index=0))
    # the noise does not depend on the image (a different clean image gets the same noise field)
    other = np.full_like(CLEAN, 0.4)
    free = GaussianNoise(25, 25, clip=False)
    np.testing.assert_allclose(free.add_seeded(other, 3, 0) - other, free.add_seeded(CLEAN, 3, 0) - CLEAN, atol=1e-6)


@pytest.mark.parametrize("sigma", [5.0, 25.0, 50.0])
def test_add_seeded_std_matches_sigma(sigma):
    noisy = GaussianNoise(sigma, sigma, clip=False).add_seeded(CLEAN, seed=0, index=7)
    residual = (noisy - CLEAN).astype(np.float64)
    assert abs(residual.std() / (sigma / 255.0) - 1.0) < 0.03
    assert abs(residual.mean()) < 3 * (sigma / 255.0) / np.sqrt(residual.size)


def test_add_seeded_clip_bounds_values():
    dark = np.zeros((32, 32, 3), np.float32)
    noisy = GaussianNoise(50, 50).add_seeded(dark, seed=1, index=0)
    assert noisy.min() == 0.0 and noisy.max() <= 1.0
    assert (noisy > 0).any()
    unclipped = GaussianNoise(50, 50, clip=False).add_seeded(dark, seed=1, index=0)
    assert unclipped.min() < 0.0
    np.testing.assert_array_equal(noisy, np.clip(unclipped, 0, 1))


def test_add_seeded_zero_sigma_is_identity():
    image = np.random.default_rng(0).random((9, 11, 3)).astype(np.float32)
    np.testing.assert_array_equal(GaussianNoise(0, 0).add_seeded(image, 5, 5), image)


def test_blind_add_seeded_sigma_varies_per_index_within_range():
    noise = GaussianNoise(5, 50, clip=False)
    stds = np.array([float((noise.add_seeded(CLEAN, 0, i) - CLEAN).std()) * 255 for i in range(12)])
    assert stds.min() > 5 * 0.95 and stds.max() < 50 * 1.05
    assert stds.max() - stds.min() > 10


def test_add_to_batch_fixed_sigma():
    clean = torch.full((6, 3, 32, 32), 0.5)
    noisy = GaussianNoise(25, 25, clip=False).add_to_batch(clean, torch.Generator().manual_seed(0))
    assert noisy.shape == clean.shape and noisy.dtype == clean.dtype
    stds = (noisy - clean).double().std(dim=(1, 2, 3))
    assert torch.all((stds / (25 / 255) - 1).abs() < 0.05)


def test_add_to_batch_blind_sigmas_vary_per_sample():
    clean = torch.full((10, 3, 32, 32), 0.5)
    noisy = GaussianNoise(5, 50, clip=False).add_to_batch(clean, torch.Generator().manual_seed(0))
    stds = (noisy - clean).double().std(dim=(1, 2, 3)) * 255
    assert float(stds.min()) > 5 * 0.9 and float(stds.max()) < 50 * 1.1
    assert float(stds.max() - stds.min()) > 10


def test_add_to_batch_is_seeded_and_clipped():
    clean = torch.rand(3, 3, 17, 19, generator=torch.Generator().manual_seed(9))
    noise = GaussianNoise(50, 50)
    first = noise.add_to_batch(clean, torch.Generator().manual_seed(1))
    assert torch.equal(first, noise.add_to_batch(clean, torch.Generator().manual_seed(1)))
    assert not torch.equal(first, noise.add_to_batch(clean, torch.Generator().manual_seed(2)))
    assert float(first.min()) >= 0.0 and float(first.max()) <= 1.0
    assert float(first.min()) == 0.0 and float(first.max()) == 1.0
    # the input is not modified in place
    assert torch.equal(clean, torch.rand(3, 3, 17, 19, generator=torch.Generator().manual_seed(9)))


@settings(max_examples=30, deadline=None)
@given(low=st.integers(0, 25500), high=st.integers(0, 25500))
def test_parse_sigma_range_property(low, high):
    low, high = low / 100, high / 100
    text = f"{low:.2f}-{high:.2f}"
    if low <= high:
        noise = parse_sigma(text)
        assert (noise.sigma_min, noise.sigma_max) == (low, high)
    else:
        with pytest.raises(CaeDenoiseError):
            parse_sigma(text)
