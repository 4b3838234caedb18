"""Paired statistics: bootstrap interval, Wilcoxon and sign tests, verdict sentences."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from cae_denoise.stats import bootstrap_ci, paired_tests, verdict


def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    values = np.random.default_rng(0).normal(0.3, 1.0, 40)
    low, high = bootstrap_ci(values, seed=1)
    assert (low, high) == bootstrap_ci(values, seed=1)
    assert (low, high) != bootstrap_ci(values, seed=2)
    assert low < values.mean() < high
    # the percentile interval is close to the normal-theory one for 40 roughly normal values
    half_width = 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.2)


def test_bootstrap_ci_of_constant_and_empty():
    assert bootstrap_ci(np.full(5, 0.25)) == pytest.approx((0.25, 0.25))
    with pytest.raises(ValueError, match="no differences"):
        bootstrap_ci(np.array([]))


def test_paired_tests_match_scipy():
    values = np.array([0.5, -0.2, 1.1, 0.0, 0.7, 0.9, -0.1, 1.4, 0.3])
    result = paired_tests(values)
    nonzero = values[values != 0]
    assert result["wilcoxon_p"] == pytest.approx(scipy_stats.wilcoxon(nonzero).pvalue)
    assert result["sign_test_p"] == pytest.approx(scipy_stats.binomtest(6, 8, 0.5).pvalue)
    assert paired_tests(np.zeros(4)) == {"wilcoxon_p": None, "sign_test_p": None}


def _summary(difference: float, ci: tuple[float, float], higher_is_better: bool = True) -> dict:
    return {
        "difference": difference,
        "ci95": ci,
        "wins": 7,
        "ties": 1,
        "losses": 2,
        "better_is_positive": higher_is_better,
    }


def test_verdicts():
    assert verdict("b", "a", "psnr", _summary(0.5, (0.2, 0.8))).startswith("b better on PSNR in 7/10 images")
    assert verdict("b", "a", "psnr", _summary(-0.5, (-0.8, -0.2))).startswith("a better on PSNR in 2/10 images")
    assert verdict("b", "a", "mse", _summary(-0.01, (-0.02, -0.005), False)).startswith("b better on MSE in 7/10")
    assert verdict("b", "a", "mse", _summary(0.01, (0.005, 0.02), False)).startswith("a better on MSE in 2/10")
    assert verdict("b", "a", "ssim", _summary(0.01, (-0.01, 0.03))).startswith("no evidence of a difference on SSIM")
