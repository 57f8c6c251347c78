import numpy as np
import pytest
from scipy import stats as sps

from reports.claims import Arm, Claim, evaluate
from reports.runs import RunRecord
from reports.stats import difference_ci, mean_ci


def records(values, **params):
    return [
        RunRecord(f"r{i}", f"c{params}{i}", "figX", {k: str(v) for k, v in params.items()}, {}, {"m": float(x)}, i)
        for i, x in enumerate(values)
    ]


def claim(kind, margin=0.0, min_seeds=5):
    return Claim("c", "figX", "text", "m", Arm("A", {"arm": "a"}), Arm("B", {"arm": "b"}), kind, margin, min_seeds)


def test_mean_ci_matches_scipy():
    x = [0.1, 0.4, 0.35, 0.8, 0.5]
    mean, lo, hi = mean_ci(x)
    ref = sps.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=sps.sem(x))
    assert (lo, hi) == pytest.approx(ref) and mean == pytest.approx(0.43)


def test_difference_ci_matches_welch():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 1.0, 12), rng.normal(0.2, 2.0, 20)
    diff, lo, hi, p = difference_ci(a, b)
    res = sps.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((ci.low, ci.high)) and p == pytest.approx(res.pvalue)
    assert difference_ci([1, 1, 1], [0.5, 0.5])[:3] == (0.5, 0.5, 0.5)


@pytest.mark.parametrize(
    "a, b, verdict",
    [
        ([0.9, 0.92, 0.91, 0.93, 0.9], [0.5, 0.52, 0.51, 0.5, 0.49], "pass"),  # gap ~0.41, CI well above 0.11
        ([0.6, 0.61, 0.6, 0.62, 0.6], [0.55, 0.56, 0.55, 0.54, 0.55], "fail"),  # gap ~0.05, CI below 0.11
        ([0.9, 0.3, 0.7, 0.5, 0.8], [0.5, 0.6, 0.4, 0.55, 0.5], "inconclusive"),  # wide CI covering 0.11
    ],
)
def test_greater_than_margin(a, b, verdict):
    runs = records(a, arm="a") + records(b, arm="b")
    assert evaluate(claim("greater", margin=0.11), runs).verdict == verdict


def test_equivalent_within_margin():
    same = records([0.30, 0.31, 0.32, 0.31, 0.30], arm="a") + records([0.31, 0.30, 0.31, 0.32, 0.31], arm="b")
    apart = records([0.3, 0.31, 0.3, 0.31, 0.3], arm="a") + records([0.5, 0.51, 0.5, 0.52, 0.5], arm="b")
    # significantly different, but by far less than the margin: still equivalent
    tiny = records([0.3480, 0.3481, 0.3480, 0.3481, 0.3480], arm="a") + records([0.3482] * 5, arm="b")
    noisy = records([0.1, 0.6, 0.3, 0.9, 0.2], arm="a") + records([0.4, 0.5, 0.2, 0.7, 0.3], arm="b")
    assert evaluate(claim("equivalent", margin=0.03), same).verdict == "pass"
    assert evaluate(claim("equivalent", margin=0.03), apart).verdict == "fail"
    assert evaluate(claim("equivalent", margin=0.03), tiny).verdict == "pass"
    assert evaluate(claim("equivalent", margin=0.03), noisy).verdict == "inconclusive"


def test_not_run_and_too_few_seeds():
    only_a = records([0.3, 0.4], arm="a")
    v = evaluate(claim("greater"), only_a)
    assert v.verdict == "not run" and "B" in v.detail and v.measured() == "-"
    few = records([0.9, 0.95], arm="a") + records([0.1, 0.12], arm="b")
    v = evaluate(claim("greater", min_seeds=20), few)
    assert v.verdict == "inconclusive" and "only 2 seeds" in v.detail
