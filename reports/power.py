"""How many seeds would decide an inconclusive claim: a two-sample power estimate.

A claim is decided when the 95% Welch interval of its difference ``d`` lies wholly on one side of a
boundary ``b`` (the margin of ``greater``; either edge of an ``equivalent`` band). The distance to
the nearer boundary that the observed difference points at is delta = |d - b|. Assume the observed
difference and the observed spread per seed stay as they are, with ``n`` seeds in every arm: the
standard error is se(n) = sqrt(S / n), S = sum over the arms' variance terms of s_i^2 (times 1/K^2
when the difference is a mean over K strata). The claim is decided with power 1 - beta at

    n = min { n >= 2 : (t_{1 - alpha/2, df(n)} + t_{1 - beta, df(n)}) * sqrt(S / n) <= delta },

df(n) by Welch-Satterthwaite with every arm at n seeds: (sum_i v_i)^2 / sum_i (v_i^2 / (n - 1)),
v_i = s_i^2 / n. This is the usual normal-approximation sample size (z_{0.975} + z_{0.8})^2 S / delta^2
with Student quantiles in place of normal ones, so small n is not flattered; alpha = 0.05, power 0.8.
It answers "buy seeds, or read it as no effect at this size": an n in the hundreds means the observed
difference is too close to the boundary to matter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

ALPHA, POWER = 0.05, 0.8
MAX_SEEDS = 10_000  # beyond this the estimate says "more than"
METHOD = "seeds per arm for 80% power at the observed difference and spread (two-sided 95% Welch t, Student quantiles)"


@dataclass(frozen=True)
class Power:
    ci_width: float  # the width of today's 95% interval
    seeds: int | None  # seeds per arm that would decide it (None: the observed difference sits on the boundary)
    boundary: float  # the boundary the observed difference points at

    def describe(self) -> str:
        if self.seeds is None:
            need = "no number of seeds decides it: the observed difference sits on the boundary"
        elif self.seeds >= MAX_SEEDS:
            need = f"more than {MAX_SEEDS} seeds per arm would be needed (read: no effect at this size)"
        else:
            need = f"about {self.seeds} seeds per arm would decide it"
        return f"CI width {self.ci_width:.3g}; {need} ({METHOD}, boundary {self.boundary:+.3g})"


def seeds_needed(delta: float, variances: list[float], alpha: float = ALPHA, power: float = POWER, scale: float = 1.0) -> int | None:
    """The least n >= 2 seeds per arm with (t_{1-alpha/2} + t_{power}) * se(n) <= delta (module docstring).

    ``variances``: the per-seed variance s_i^2 of every arm entering the difference; ``scale`` multiplies their
    sum (1/K^2 for a mean over K strata, with the arms of all strata listed). None when delta is 0."""
    delta = abs(delta)
    if delta == 0:
        return None
    total = scale * sum(variances)
    if total == 0:
        return 2
    for n in range(2, MAX_SEEDS):
        v = [scale * s / n for s in variances if s > 0]
        df = sum(v) ** 2 / sum(x**2 / (n - 1) for x in v)
        if (stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * math.sqrt(total / n) <= delta:
            return n
    return MAX_SEEDS


def boundary_for(kind: str, diff: float, margin: float) -> float:
    """The decision boundary the observed difference points at: the margin of ``greater``; for ``equivalent``,
    the band's edge on the difference's side (whether it lies inside, to pass, or outside, to fail)."""
    if kind == "equivalent":
        return math.copysign(abs(margin), diff) if diff != 0 else abs(margin)
    return margin


def estimate(diff: float, ci: tuple[float, float], variances: list[float], boundary: float, scale: float = 1.0) -> Power:
    return Power(ci[1] - ci[0], seeds_needed(diff - boundary, variances, scale=scale), boundary)
