"""SSIM / MSE / PSNR against scikit-image and independent float64 numpy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from cae_denoise.errors import CaeDenoiseError
from cae_denoise.evaluation.metrics import METRIC_NAMES, image_metrics, mean_metrics, mse, psnr, ssim
from cae_denoise.noise.models import GaussianNoise

RNG = np.random.default_rng(42)
# a structured image (random walks along rows), not white noise
CLEAN = np.clip(np.cumsum(RNG.normal(0, 0.05, (37, 31, 3)), axis=1) * 0.3 + 0.5, 0, 1).astype(np.float32)


def _noisy(sigma: float, seed: int = 0) -> np.ndarray:
    return GaussianNoise(sigma, sigma).add_seeded(CLEAN, seed, 0)


def _ssim_reference(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    """Wang et al. (2004) in float64 numpy: 11x11 Gaussian window (sigma 1.5), population statistics.

    Only windows that lie fully inside the image are used, which is what scikit-image's border crop keeps.
    """
    taps = np.exp(-0.5 * (np.arange(-5, 6) / 1.5) ** 2)
    window = np.outer(taps, taps)
    window /= window.sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    scores = []
    for channel in range(x.shape[2]):
        a = sliding_window_view(x[..., channel].astype(np.float64), (11, 11))
        b = sliding_window_view(y[..., channel].astype(np.float64), (11, 11))

        def mean(v: np.ndarray) -> np.ndarray:
            return np.einsum("ijkl,kl->ij", v, window)

        mu_a, mu_b = mean(a), mean(b)
        var_a = mean(a * a) - mu_a**2
        var_b = mean(b * b) - mu_b**2
        cov = mean(a * b) - mu_a * mu_b
        s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
        scores.append(s.mean())
    return float(np.mean(scores))


@pytest.mark.parametrize("sigma", [5, 25, 50])
def test_ssim_matches_references(sigma):
    noisy = _noisy(sigma)
    value = ssim(CLEAN, noisy, data_range=1.0)
    assert value == pytest.approx(_ssim_reference(CLEAN, noisy, 1.0), abs=1e-5)


def test_mse_and_psnr_match_float64_numpy():
    noisy = _noisy(25)
    reference_mse = float(np.mean((CLEAN.astype(np.float64) - noisy.astype(np.float64)) ** 2))
    assert mse(CLEAN, noisy, data_range=1.0) == pytest.approx(reference_mse, rel=1e-6)
    assert psnr(CLEAN, noisy, data_range=1.0) == pytest.approx(10 * math.log10(1 / reference_mse), abs=1e-4)


def test_data_range_scaling():
    noisy = _noisy(25)
    scaled_clean, scaled_noisy = CLEAN.astype(np.float64) * 255, noisy.astype(np.float64) * 255
    assert mse(scaled_clean, scaled_noisy, data_range=255.0) == pytest.approx(mse(CLEAN, noisy, data_range=1.0))
    assert psnr(scaled_clean, scaled_noisy, data_range=255.0) == pytest.approx(
        psnr(CLEAN, noisy, data_range=1.0), abs=1e-4
    )
    assert ssim(scaled_clean, scaled_noisy, data_range=255.0) == pytest.approx(
        ssim(CLEAN, noisy, data_range=1.0), abs=1e-5
    )


def test_identity_invariants():
    assert ssim(CLEAN, CLEAN, data_range=1.0) == pytest.approx(1.0, abs=1e-12)
    assert mse(CLEAN, CLEAN, data_range=1.0) == 0.0
    assert psnr(CLEAN, CLEAN, data_range=1.0) == math.inf
    assert image_metrics(CLEAN, CLEAN.copy()) == {"ssim": pytest.approx(1.0), "mse": 0.0, "psnr": math.inf}


def test_quality_falls_as_sigma_rises():
    rows = [image_metrics(CLEAN, _noisy(sigma)) for sigma in (2, 5, 10, 25, 50, 100)]
    psnrs = [row["psnr"] for row in rows]
    ssims = [row["ssim"] for row in rows]
    mses = [row["mse"] for row in rows]
    assert psnrs == sorted(psnrs, reverse=True) and len(set(psnrs)) == len(psnrs)
    assert ssims == sorted(ssims, reverse=True)
    assert mses == sorted(mses)


def test_ssim_needs_11_pixels():
    small = CLEAN[:10, :20]
    with pytest.raises(CaeDenoiseError, match="at least 11x11"):
        ssim(small, small, data_range=1.0)
    assert ssim(CLEAN[:11, :11], CLEAN[:11, :11], data_range=1.0) == pytest.approx(1.0)


def test_image_metrics_shape_mismatch():
    with pytest.raises(ValueError, match="shape mismatch"):
        image_metrics(CLEAN, CLEAN[:-1])


def test_mean_metrics():
    rows = [image_metrics(CLEAN, _noisy(s, seed)) for seed, s in enumerate((10, 20, 40))]
    means = mean_metrics(rows)
    assert set(means) == set(METRIC_NAMES)
    for name in METRIC_NAMES:
        assert means[name] == pytest.approx(sum(row[name] for row in rows) / 3)
    with pytest.raises(ValueError, match="no images"):
        mean_metrics([])


@settings(max_examples=20, deadline=None)
@given(
    height=st.integers(11, 40),
    width=st.integers(11, 40),
    sigma=st.floats(1, 100),
    seed=st.integers(0, 1000),
)
def test_metrics_property(height, width, sigma, seed):
    rng = np.random.default_rng(seed)
    clean = rng.random((height, width, 3)).astype(np.float32)
    noisy = GaussianNoise(sigma, sigma).add_seeded(clean, seed, 1)
    values = image_metrics(clean, noisy)
    expected_mse = float(np.mean((clean.astype(np.float64) - noisy) ** 2))
    assert values["mse"] == pytest.approx(expected_mse, rel=1e-6)
    assert values["psnr"] == pytest.approx(10 * math.log10(1 / expected_mse), abs=1e-4)
    assert values["ssim"] == pytest.approx(_ssim_reference(clean, noisy, 1.0), abs=1e-5)
    assert -1.0 <= values["ssim"] < 1.0
