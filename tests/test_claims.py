import numpy as np
import pytest
from scipy import stats as sps

from reports.claims import Arm, Claim, evaluate
from reports.runs import RunRecord
from reports.stats import difference_ci, mean_ci, stratified_difference_ci


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


def runs_at(param: str, values: dict, **params) -> list[RunRecord]:
    """Runs with ``param`` at each key of ``values``, one per metric value listed under it."""
    return [r for value, xs in values.items() for r in records(xs, **(params | {param: value}))]


def test_stratified_interval_is_welch_with_one_stratum_and_ignores_spread_between_strata():
    a1, b1, a2, b2 = [1.0, 1.2, 1.1], [0.5, 0.6, 0.4], [11.0, 11.3, 11.1], [10.5, 10.4, 10.6]
    assert stratified_difference_ci([(a1, b1)]) == pytest.approx(difference_ci(a1, b1))
    diff, lo, hi, _ = stratified_difference_ci([(a1, b1), (a2, b2)])
    assert diff == pytest.approx(((1.1 - 0.5) + (11.1333 - 10.5)) / 2, abs=1e-3)
    # by hand: the variance of the mean of two independent differences, Welch-Satterthwaite df
    terms = [np.var(x, ddof=1) / 3 for x in (a1, b1, a2, b2)]
    df = sum(terms) ** 2 / sum(t**2 / 2 for t in terms)
    half = sps.t.ppf(0.975, df) * np.sqrt(sum(terms) / 4)
    assert (lo, hi) == pytest.approx((diff - half, diff + half))
    pooled = difference_ci(a1 + a2, b1 + b2)  # pooling lets the 10-point gap between strata swamp the interval
    assert hi - lo < (pooled[2] - pooled[1]) / 10


def test_claims_compare_within_strata_and_only_shared_ones():
    c = Claim("c", "figX", "t", "m", Arm("A", {"arm": "a"}), Arm("B", {"arm": "b"}), "greater", 0.0, 3, strata=("model",))
    runs = (records([1.0, 1.1, 1.2], arm="a", model="small") + records([0.5, 0.6, 0.4], arm="b", model="small")
            + records([11.0, 11.2, 11.1], arm="a", model="big") + records([10.5, 10.4, 10.6], arm="b", model="big"))
    v = evaluate(c, runs)
    assert v.verdict == "pass" and "2 strata" in v.detail
    pooled = Claim("p", "figX", "t", "m", c.a, c.b, "greater", 0.0, 3, strata=())
    assert evaluate(pooled, runs).verdict == "inconclusive"  # pooled over models, the interval is too wide
    only_big_b = [r for r in runs if not (r.params["arm"] == "b" and r.params["model"] == "small")]
    assert len(evaluate(c, only_big_b).values_a) == 3  # A's small-model runs have no partner
    apart = [r for r in runs if (r.params["arm"], r.params["model"]) in (("a", "small"), ("b", "big"))]
    v = evaluate(c, apart)
    assert v.verdict == "not run" and "share no model" in v.detail


def test_pick_selects_extremes_per_arm_and_a_common_value_when_both_pick_alike():
    grows = Claim("g", "figX", "t", "m", Arm("hi", {"arm": "x"}, (("lam", "max"),)), Arm("lo", {"arm": "x"}, (("lam", "min"),)),
                  "greater", 0.0, 3)
    runs = runs_at("lam", {0.0: [0.1, 0.11, 0.12], 0.5: [0.3, 0.31, 0.3], 1.0: [0.6, 0.61, 0.62]}, arm="x")
    v = evaluate(grows, runs)
    assert v.verdict == "pass" and v.values_a == [0.6, 0.61, 0.62] and "hi at lam=1" in v.detail and "lo at lam=0" in v.detail

    smallest = (("subset", "min"),)
    c = Claim("s", "figX", "t", "m", Arm("A", {"arm": "a"}, smallest), Arm("B", {"arm": "b"}, smallest), "greater", 0.0, 3)
    a = runs_at("subset", {10: [9.0, 9.1, 9.2], 100: [1.0, 1.1, 1.2]}, arm="a")
    b = runs_at("subset", {100: [0.5, 0.6, 0.4], 1000: [5.0, 5.1, 5.2]}, arm="b")
    v = evaluate(c, a + b)  # A's smallest (10) is missing in B: both are compared at 100
    assert v.values_a == [1.0, 1.1, 1.2] and v.values_b == [0.5, 0.6, 0.4] and "A at subset=100" in v.detail
    with pytest.raises(ValueError, match="pick"):
        evaluate(Claim("x", "figX", "t", "m", Arm("A", {}, (("lam", "median"),)), Arm("B", {}), "greater"), runs)


def test_a_wildcard_metric_uses_the_lowest_number_both_arms_logged():
    def run(arm, i, values):
        return RunRecord(f"{arm}{i}", f"{arm}{i}", "figX", {"arm": arm}, {}, values, i)

    a = [run("a", i, {"t/0/acc": 5.0 + i / 10, "t/0.5/acc": 1.0, "t/1/acc": 0.0}) for i in range(3)]
    b = [run("b", i, {"t/0.5/acc": 2.0 + i / 10, "t/1/acc": 3.0 + i / 10}) for i in range(3)]
    c = Claim("w", "figX", "t", "t/*/acc", Arm("A", {"arm": "a"}), Arm("B", {"arm": "b"}), "greater", 0.0, 3)
    v = evaluate(c, a + b)  # T=0 is only in A: the comparison is at T=0.5, where A is behind
    assert v.verdict == "fail" and "metric t/0.5/acc" in v.detail
    assert evaluate(c, a).verdict == "not run"


def test_undefined_values_are_left_out_and_said():
    from reports.claims import Arm, Claim, evaluate
    from reports.runs import RunRecord

    def rec(i, algorithm, value):
        return RunRecord(f"r{i}", f"c{i}", "table2", {"algorithm": algorithm}, {}, {"m": value}, i)

    claim = Claim("x", "table2", "a beats b", "m", Arm("a", {"algorithm": "a"}), Arm("b", {"algorithm": "b"}), "greater", min_seeds=3)
    nan = float("nan")
    v = evaluate(claim, [rec(0, "a", nan), rec(1, "a", nan), rec(2, "b", 0.1), rec(3, "b", 0.2)])
    assert v.verdict == "not run" and "2 runs left out: m is undefined (NaN)" in v.detail
    v = evaluate(claim, [rec(i, "a", 0.9 + 0.01 * i) for i in range(3)] + [rec(3, "a", nan)] + [rec(4 + i, "b", 0.1 * i) for i in range(3)])
    assert v.verdict == "pass" and len(v.values_a) == 3 and "1 runs left out" in v.detail


def test_arms_that_all_score_the_same_are_inconclusive_not_a_vacuous_pass():
    from reports.claims import Arm, Claim, evaluate
    from reports.runs import RunRecord

    runs = [RunRecord(f"r{i}", f"c{i}", "fig6", {"algorithm": "ab"[i % 2]}, {}, {"m": 0.0}, i) for i in range(6)]
    claim = Claim("x", "fig6", "a not below b", "m", Arm("a", {"algorithm": "a"}), Arm("b", {"algorithm": "b"}), "greater", -1.0, 3)
    v = evaluate(claim, runs)
    assert v.verdict == "inconclusive" and "scores exactly 0: nothing to compare" in v.detail


def interaction(floor=None, margin=0.0):
    from reports.claims import Interaction

    arm = lambda name: Arm(name, {"arm": name})  # noqa: E731
    return Interaction("i", "figX", "gain larger at a than at c", "m", "a - b", arm("a"), arm("b"), arm("c"), arm("d"),
                       margin=margin, floor=floor)


def arms(**values):
    return [r for name, v in values.items() for r in records(v, arm=name)]


def test_interaction_is_a_welch_difference_in_differences():
    a, b, c, d = [10.0, 11, 12], [5.0, 6, 7], [3.0, 4, 5], [2.0, 3, 4]
    v = evaluate(interaction(), arms(a=a, b=b, c=c, d=d))
    assert v.verdict == "pass" and v.values_a == [5.0] and v.values_b == [1.0] and v.diff == pytest.approx(4.0)
    se = np.sqrt(sum(np.var(x, ddof=1) / 3 for x in (a, b, c, d)))  # four variance terms
    assert (v.ci[1] - v.ci[0]) / 2 == pytest.approx(stats_t(se, [a, b, c, d]))
    assert evaluate(interaction(margin=10.0), arms(a=a, b=b, c=c, d=d)).verdict == "fail"


def stats_t(se, groups):
    """Welch-Satterthwaite half-width of the 95% interval for a sum of independent group means."""
    terms = [np.var(g, ddof=1) / len(g) for g in groups]
    df = sum(terms) ** 2 / sum(t**2 / (len(g) - 1) for t, g in zip(terms, groups))
    return sps.t.ppf(0.975, df) * se


def test_interaction_at_the_floor_is_inconclusive_not_a_pass():
    """A gain of -25 where the baseline learned (c, d) against 0 where nothing was learned (a, b): the difference in
    differences is +25, but it measures that both arms sit at 0, so with a floor the verdict is inconclusive."""
    values = dict(a=[0.0, 1, 0], b=[1.0, 0, 1], c=[2.0, 3, 1], d=[28.0, 31, 15])
    assert evaluate(interaction(), arms(**values)).verdict == "pass"
    v = evaluate(interaction(floor=5.0), arms(**values))
    assert v.verdict == "inconclusive" and "b below 5: the task is not learned there" in v.detail
    assert v.diff == pytest.approx(evaluate(interaction(), arms(**values)).diff)  # still reported
