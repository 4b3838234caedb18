"""Paired statistics: is one denoiser really better than another on the same units?

A unit is whatever was paired: a test image (``compare``, same image and same noise for both methods) or a
training seed (``experiment``, same data and budget). ``paired_difference`` is the one routine both use.

What it claims, and on what assumptions:

- The **test** is scipy's Wilcoxon signed-rank test (two-sided; exact for small samples), which assumes only
  that the paired differences are independent across units and symmetric around their median. An exact sign
  test (binomial) is reported beside it, assuming only independence.
- The **interval** is a BCa bootstrap 95% interval for the mean difference (``scipy.stats.bootstrap``,
  resampling units with a seeded generator). It is given only where a test can reach significance at all.
- A **verdict** ("A better on PSNR") is given only when the test rejects at ``ALPHA`` *and* the interval
  excludes 0. With fewer than ``MIN_UNITS_FOR_TEST`` non-zero differences no two-sided test can reach
  p < 0.05 (all differences of one sign give p = 2 / 2**n), so the result is description only: the mean
  difference and the win/tie/loss counts, no interval and no verdict.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from .metrics import METRICS

ALPHA = 0.05
CONFIDENCE = 1.0 - ALPHA
BOOTSTRAP_RESAMPLES = 9_999


def smallest_p_value(count: int) -> float:
    """The smallest two-sided p-value a sign or signed-rank test can give with ``count`` non-zero differences."""
    return min(1.0, 2.0 / 2.0**count)


def _min_units_for_test(alpha: float) -> int:
    count = 1
    while smallest_p_value(count) >= alpha:
        count += 1
    return count


#: Fewest non-zero paired differences with which a two-sided test can reach p < ``ALPHA`` (6: p = 0.031).
MIN_UNITS_FOR_TEST = _min_units_for_test(ALPHA)


def bca_interval(
    differences: np.ndarray, *, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES
) -> tuple[float, float]:
    """BCa bootstrap ``CONFIDENCE`` interval for the mean of ``differences`` (resampling units, seeded)."""
    values = np.asarray(differences, dtype=np.float64)
    if values.size < 2:
        raise ValueError("a bootstrap interval needs at least two differences")
    if np.all(values == values[0]):  # no spread: every resample has the same mean (BCa is undefined here)
        return float(values[0]), float(values[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy_stats.DegenerateDataWarning)
        result = scipy_stats.bootstrap(
            (values,),
            np.mean,
            confidence_level=CONFIDENCE,
            n_resamples=resamples,
            method="BCa",
            rng=np.random.default_rng(seed),
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def paired_tests(differences: np.ndarray) -> dict[str, float | None]:
    """Two-sided p-values of the Wilcoxon signed-rank and sign tests (``None`` when every difference is 0)."""
    values = np.asarray(differences, dtype=np.float64)
    nonzero = values[values != 0]
    if nonzero.size == 0:
        return {"wilcoxon_p": None, "sign_test_p": None}
    positives = int((nonzero > 0).sum())
    return {
        "wilcoxon_p": float(scipy_stats.wilcoxon(nonzero).pvalue),
        "sign_test_p": float(scipy_stats.binomtest(positives, nonzero.size, 0.5).pvalue),
    }


def paired_difference(
    reference: np.ndarray | list[float],
    other: np.ndarray | list[float],
    *,
    higher_is_better: bool,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare ``other`` with ``reference`` unit by unit (same units, same order).

    Returns the means, ``difference`` (mean of ``other - reference``), per-unit differences, wins / ties /
    losses (a win is ``other`` better), ``wilcoxon_p`` and ``sign_test_p``, ``ci95`` (BCa; ``None`` where
    no test can reach significance), ``testable`` and ``outcome``: ``"better"`` / ``"worse"`` (``other``
    against ``reference``), ``"no significant difference"`` or ``"too few units to test"``.
    """
    ref = np.asarray(reference, dtype=np.float64)
    new = np.asarray(other, dtype=np.float64)
    if ref.shape != new.shape or ref.ndim != 1 or ref.size == 0:
        raise ValueError(f"paired values must be two equal, non-empty lists, got {ref.shape} and {new.shape}")
    delta = new - ref
    signed = delta if higher_is_better else -delta
    nonzero = int((delta != 0).sum())
    testable = nonzero >= MIN_UNITS_FOR_TEST
    tests = paired_tests(delta)
    interval = bca_interval(delta, seed=seed) if testable else None
    if not testable:
        outcome = "too few units to test"
    elif tests["wilcoxon_p"] < ALPHA and not (interval[0] <= 0.0 <= interval[1]):
        outcome = "better" if (float(delta.mean()) > 0) == higher_is_better else "worse"
    else:
        outcome = "no significant difference"
    ref_mean, new_mean = float(ref.mean()), float(new.mean())
    return {
        "reference_mean": ref_mean,
        "mean": new_mean,
        "difference": new_mean - ref_mean,
        "relative_percent": 100.0 * (new_mean - ref_mean) / abs(ref_mean) if ref_mean else None,
        "per_unit": delta.tolist(),
        "units": int(delta.size),
        "wins": int((signed > 0).sum()),
        "ties": int((signed == 0).sum()),
        "losses": int((signed < 0).sum()),
        "higher_is_better": higher_is_better,
        **tests,
        "ci95": list(interval) if interval is not None else None,
        "ci_method": f"BCa bootstrap, {BOOTSTRAP_RESAMPLES} resamples, seed {seed}" if testable else None,
        "testable": testable,
        "nonzero": nonzero,
        "smallest_possible_p": smallest_p_value(nonzero) if nonzero else None,
        "outcome": outcome,
    }


def _number(value: float, unit: str) -> str:
    return f"{value:+.2f} {unit}" if unit else f"{value:+.4g}"


def describe(row: dict[str, Any], *, label: str, reference: str, metric: str, unit_name: str) -> str:
    """One sentence for a ``paired_difference`` row, claiming no more than its ``outcome`` supports.

    ``unit_name`` is the plural of what was paired (``"images"``, ``"seeds"``); PSNR differences are in dB.
    """
    unit = METRICS[metric].unit if metric in METRICS else ""
    name = metric.upper()
    count = row["units"]
    change = f"{label} - {reference} = {_number(row['difference'], unit)}"
    wins = f"{label} better in {row['wins']}/{count} {unit_name}"
    if row["outcome"] == "too few units to test":
        nonzero, smallest = row["nonzero"], row["smallest_possible_p"]
        if smallest is None:
            return f"{name}: {change}, {wins}: every difference is 0, nothing to test"
        differing = f"{count} {unit_name}" if nonzero == count else f"{nonzero} of {count} {unit_name} differing"
        return (
            f"{name}: {change}, {wins}: description only, no verdict (with {differing} no two-sided "
            f"test can reach p < {ALPHA:g}; the smallest possible p is {smallest:.3g})"
        )
    low, high = row["ci95"]
    evidence = f"[95% CI {_number(low, unit)}, {_number(high, unit)}], {wins}, Wilcoxon p={row['wilcoxon_p']:.3g}"
    if row["outcome"] == "no significant difference":
        return f"{name}: no significant difference, {change} {evidence}"
    winner = label if row["outcome"] == "better" else reference
    return f"{name}: {winner} better, {change} {evidence}"
