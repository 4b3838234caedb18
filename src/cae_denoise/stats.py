"""Paired statistics for comparing two denoisers on the same images and the same noise.

Inputs are per-image differences (method minus reference). The bootstrap resamples images with a seeded
generator; the tests are scipy's Wilcoxon signed-rank and an exact sign (binomial) test, both two-sided.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats as scipy_stats

BOOTSTRAP_RESAMPLES = 10_000
CONFIDENCE = 0.95
#: Below this many images a two-sided Wilcoxon test cannot reach p < 0.05 whatever the data (n=6: p=0.031).
MIN_IMAGES_FOR_CLAIM = 6


def bootstrap_ci(
    differences: np.ndarray, *, resamples: int = BOOTSTRAP_RESAMPLES, confidence: float = CONFIDENCE, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean of paired ``differences`` (resampling images)."""
    values = np.asarray(differences, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no differences to resample")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def paired_tests(differences: np.ndarray) -> dict[str, float | None]:
    """Two-sided p-values: Wilcoxon signed-rank and sign test (``None`` when every difference is 0)."""
    values = np.asarray(differences, dtype=np.float64)
    nonzero = values[values != 0]
    if nonzero.size == 0:
        return {"wilcoxon_p": None, "sign_test_p": None}
    positives = int((nonzero > 0).sum())
    sign_p = scipy_stats.binomtest(positives, nonzero.size, 0.5).pvalue
    wilcoxon_p = scipy_stats.wilcoxon(nonzero).pvalue
    return {"wilcoxon_p": float(wilcoxon_p), "sign_test_p": float(sign_p)}


def verdict(label: str, reference: str, metric: str, summary: dict[str, Any]) -> str:
    """One sentence: who is better on ``metric``, on how many images, the mean difference and its 95% CI."""
    low, high = summary["ci95"]
    count = summary["wins"] + summary["ties"] + summary["losses"]
    interval = f"{summary['difference']:+.4g} [95% CI {low:+.4g}, {high:+.4g}]"
    if low <= 0.0 <= high:
        return (
            f"no evidence of a difference on {metric.upper()} between {label} and {reference}: {interval}, "
            f"{label} better in {summary['wins']}/{count} images"
        )
    better, wins = (
        (label, summary["wins"]) if summary["better_is_positive"] == (low > 0) else (reference, summary["losses"])
    )
    return f"{better} better on {metric.upper()} in {wins}/{count} images, {label} - {reference} = {interval}"
