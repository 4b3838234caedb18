"""Paired statistics: what the tests can reach, BCa intervals, outcomes that never overclaim, sentences."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from cae_denoise.evaluation.stats import (
    MIN_UNITS_FOR_TEST,
    bca_interval,
    describe,
    paired_difference,
    paired_tests,
    smallest_p_value,
)


@pytest.mark.parametrize("count", [1, 3, 5, 6, 8, 12])
def test_smallest_p_value_is_what_an_exact_test_gives_when_every_difference_agrees(count):
    agreeing = np.arange(1.0, count + 1.0)  # distinct, all positive: the most extreme data possible
    assert smallest_p_value(count) == pytest.approx(scipy_stats.wilcoxon(agreeing).pvalue)
    assert smallest_p_value(count) == pytest.approx(scipy_stats.binomtest(count, count, 0.5).pvalue)


def test_six_is_the_fewest_units_that_can_reach_five_percent():
    assert MIN_UNITS_FOR_TEST == 6
    assert smallest_p_value(5) > 0.05 > smallest_p_value(6)


def test_bca_interval_is_seeded_and_close_to_the_t_interval_for_normal_data():
    values = np.random.default_rng(0).normal(0.3, 1.0, 40)
    low, high = bca_interval(values, seed=1)
    assert (low, high) == bca_interval(values, seed=1)
    assert (low, high) != bca_interval(values, seed=2)
    assert low < values.mean() < high
    half_width = scipy_stats.t.ppf(0.975, 39) * values.std(ddof=1) / np.sqrt(40)
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.2)


def test_bca_interval_leans_towards_the_long_tail_of_skewed_data():
    values = np.random.default_rng(3).exponential(1.0, 60)  # right-skewed
    low, high = bca_interval(values, seed=0)
    assert high - values.mean() > values.mean() - low


def test_bca_interval_of_constant_and_too_few():
    assert bca_interval(np.full(7, 0.25)) == (0.25, 0.25)
    with pytest.raises(ValueError, match="at least two"):
        bca_interval(np.array([1.0]))


def test_paired_tests_count_only_nonzero_differences():
    values = np.array([0.5, -0.2, 1.1, 0.0, 0.7, 0.9, -0.1, 1.4, 0.3])
    result = paired_tests(values)
    assert result["sign_test_p"] == pytest.approx(scipy_stats.binomtest(6, 8, 0.5).pvalue)  # 6 of 8 positive
    assert result["wilcoxon_p"] == pytest.approx(scipy_stats.wilcoxon(values[values != 0]).pvalue)
    assert paired_tests(np.zeros(4)) == {"wilcoxon_p": None, "sign_test_p": None}


def test_three_units_give_a_description_and_no_verdict_however_large_the_gap():
    row = paired_difference([20.0, 21.0, 22.0], [30.0, 31.5, 32.0], higher_is_better=True)
    assert row["outcome"] == "too few units to test"
    assert row["ci95"] is None and row["ci_method"] is None and not row["testable"]
    assert row["smallest_possible_p"] == pytest.approx(0.25)
    assert (row["wins"], row["ties"], row["losses"]) == (3, 0, 0)
    assert row["difference"] == pytest.approx(np.mean([10.0, 10.5, 10.0]))
    sentence = describe(row, label="b", reference="a", metric="psnr", unit_name="images")
    assert "description only, no verdict" in sentence and "better in 3/3 images" in sentence
    assert "+10.17 dB" in sentence and "0.25" in sentence and "CI" not in sentence


def test_eight_agreeing_units_give_a_verdict_in_the_right_direction():
    reference = np.linspace(20.0, 24.0, 8)
    better = reference + np.linspace(0.1, 0.8, 8)
    row = paired_difference(reference, better, higher_is_better=True)
    assert row["outcome"] == "better" and row["testable"]
    assert row["wilcoxon_p"] == pytest.approx(2 / 2**8)
    low, high = row["ci95"]
    assert 0.1 <= low < row["difference"] < high <= 0.8
    assert paired_difference(better, reference, higher_is_better=True)["outcome"] == "worse"
    # for MSE lower is better: a lower "other" is better
    assert (
        paired_difference(reference, reference - 0.5 * (better - reference), higher_is_better=False)["outcome"]
        == "better"
    )
    sentence = describe(row, label="leaky", reference="baseline", metric="psnr", unit_name="seeds")
    assert sentence.startswith("PSNR: leaky better, leaky - baseline = +0.45 dB [95% CI +")
    assert "better in 8/8 seeds" in sentence and "Wilcoxon p=0.00781" in sentence


def test_differences_of_both_signs_are_no_significant_difference():
    reference = np.full(10, 0.8)
    other = reference + np.array([0.02, -0.03, 0.01, -0.01, 0.04, -0.02, 0.03, -0.04, 0.005, -0.006])
    row = paired_difference(reference, other, higher_is_better=True)
    assert row["outcome"] == "no significant difference"
    assert row["wilcoxon_p"] > 0.5 and row["ci95"][0] < 0 < row["ci95"][1]
    sentence = describe(row, label="b", reference="a", metric="ssim", unit_name="images")
    assert sentence.startswith("SSIM: no significant difference, b - a = ")
    assert "better in 5/10 images" in sentence


def test_ties_do_not_count_towards_the_test():
    reference = np.zeros(8)
    other = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 0.0, 0.0, 0.0])  # only 5 non-zero: cannot reach 0.05
    row = paired_difference(reference, other, higher_is_better=True)
    assert (row["wins"], row["ties"], row["losses"]) == (5, 3, 0)
    assert row["outcome"] == "too few units to test" and row["nonzero"] == 5
    sentence = describe(row, label="b", reference="a", metric="ssim", unit_name="images")
    assert "with 5 of 8 images differing no two-sided test can reach p < 0.05" in sentence


def test_paired_values_must_match():
    with pytest.raises(ValueError, match="equal, non-empty"):
        paired_difference([1.0, 2.0], [1.0], higher_is_better=True)
    with pytest.raises(ValueError, match="equal, non-empty"):
        paired_difference([], [], higher_is_better=True)
