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
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return diff, diff, diff, float(diff == 0)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + level / 2, df) * math.sqrt(va + vb))
    p = float(2 * stats.t.sf(abs(diff) / math.sqrt(va + vb), df))
    return diff, diff - half, diff + half, p
