"""The power estimate of inconclusive claims (reports/power.py), on hand-computed cases."""

import math

import pytest
from scipy import stats

from reports import power
from reports.claims import Arm, Claim, evaluate
from reports.runs import RunRecord


def _decides(n, variances, delta):
    """The defining inequality, written out independently: Welch df with n seeds per arm, Student quantiles."""
    v = [s / n for s in variances]
    df = sum(v) ** 2 / sum(x**2 / (n - 1) for x in v)
    return (stats.t.ppf(0.975, df) + stats.t.ppf(0.8, df)) * math.sqrt(sum(v)) <= delta


@pytest.mark.parametrize("variances, delta", [([50.0, 50.0], 2.0), ([4.0, 9.0], 3.0), ([1.0, 1.0, 2.0, 2.0], 1.5)])
def test_seeds_needed_is_the_least_n_that_decides(variances, delta):
    n = power.seeds_needed(delta, variances)
    assert _decides(n, variances, delta) and (n == 2 or not _decides(n - 1, variances, delta))


def test_large_samples_approach_the_normal_formula():
    # (z_0.975 + z_0.8)^2 * S / delta^2 = 7.849 * 100 / 4 = 196.2; Student quantiles at df ~ 390 ask slightly more
    n = power.seeds_needed(2.0, [50.0, 50.0])
    assert 197 <= n <= 199


def test_edge_cases():
    assert power.seeds_needed(0.0, [1.0, 1.0]) is None  # on the boundary: no n decides it
    assert power.seeds_needed(5.0, [0.0, 0.0]) == 2  # no spread: any two seeds decide it
    assert power.seeds_needed(1e-6, [1.0, 1.0]) == power.MAX_SEEDS
    assert power.boundary_for("greater", 0.3, -1.0) == -1.0
    assert power.boundary_for("equivalent", -0.4, 2.0) == -2.0 and power.boundary_for("equivalent", 0.4, 2.0) == 2.0


def _runs(values, algorithm):
    params = {"algorithm": algorithm, "task": "t", "model": "m"}
    return [RunRecord(f"{algorithm}{i}", f"{algorithm}{i}", "f", params | {"seed": str(i)}, {}, {"eval/x": v}, i)
            for i, v in enumerate(values)]


def test_an_inconclusive_claim_states_its_power_and_a_decided_one_does_not():
    claim = Claim("c", "f", "a beats b", "eval/x", Arm("a", {"algorithm": "a"}), Arm("b", {"algorithm": "b"}), "greater", 0.0, 3)
    a, b = [10.0, 14.0, 12.0], [9.0, 13.0, 8.0]  # difference +2, variances 4 and 7
    verdict = evaluate(claim, _runs(a, "a") + _runs(b, "b"))
    assert verdict.verdict == "inconclusive"
    assert verdict.power.seeds == power.seeds_needed(2.0, [4.0, 7.0]) and verdict.power.seeds > 3
    assert f"about {verdict.power.seeds} seeds per arm" in verdict.detail
    assert verdict.power.ci_width == pytest.approx(verdict.ci[1] - verdict.ci[0])
    decided = evaluate(claim, _runs([20.0, 21.0, 22.0], "a") + _runs(b, "b"))
    assert decided.verdict == "pass" and decided.power is None and "seeds per arm" not in decided.detail
