"""Confidence intervals over seeds (Student t for one arm, Welch for a difference of two)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def mean_ci(x, level: float = 0.95) -> tuple[float, float, float]:
    """mean +- t_{(1+level)/2, n-1} * s / sqrt(n); the interval collapses to the mean for n < 2."""
    x = np.asarray(x, dtype=float)
    mean = float(x.mean())
    if len(x) < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return mean, mean - half, mean + half


def difference_ci(a, b, level: float = 0.95) -> tuple[float, float, float, float]:
    """Welch's interval for mean(a) - mean(b) and the two-sided p-value of Welch's t-test.

    se = sqrt(s_a^2/n_a + s_b^2/n_b), df by Welch-Satterthwaite. When both arms have zero
    spread the difference is exact: the interval is the point and p is 0 (or 1 if equal).
    """
    return stratified_difference_ci([(a, b)], level)


def stratified_difference_ci(strata, level: float = 0.95) -> tuple[float, float, float, float]:
    """Welch's interval for the mean over strata of mean(a_k) - mean(b_k), and its p-value.

    ``strata`` is [(a_k, b_k), ...] (e.g. one pair per model size), each arm with at least 2
    values. The strata are independent, so with K of them the variance of the averaged
    difference is sum_k (s_ak^2/n_ak + s_bk^2/n_bk) / K^2 and the degrees of freedom follow
    Welch-Satterthwaite over all 2K variance terms. With one stratum this is Welch's interval;
    comparing within strata keeps a between-stratum spread (large vs small models) out of it.
    """
    diffs, terms = [], []
    for a, b in strata:
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        diffs.append(a.mean() - b.mean())
        terms += [(a.var(ddof=1) / len(a), len(a) - 1), (b.var(ddof=1) / len(b), len(b) - 1)]
    k = len(diffs)
    diff = float(np.mean(diffs))
    var = sum(v for v, _ in terms) / k**2
    if var == 0:
        return diff, diff, diff, float(diff == 0)
    df = sum(v for v, _ in terms) ** 2 / sum(v**2 / dof for v, dof in terms)
    half = float(stats.t.ppf(0.5 + level / 2, df) * math.sqrt(var))
    p = float(2 * stats.t.sf(abs(diff) / math.sqrt(var), df))
    return diff, diff - half, diff + half, p
