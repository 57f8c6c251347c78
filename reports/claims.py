"""Claims of the paper as data, and their verdicts over seeds.

A claim compares two arms (sets of runs selected by their params) on one metric:

- ``greater``: mean(a) - mean(b) > margin. pass if the whole 95% Welch interval of the
  difference lies above the margin, fail if it lies wholly below, inconclusive otherwise. A
  negative margin makes it a non-inferiority test ("a is not worse than b by more than |margin|").
- ``equivalent``: the arms differ by less than a practical margin (an equivalence test, since a
  non-significant difference is not evidence of no difference, and with many seeds a
  negligible one becomes significant). pass if the whole 95% interval of the difference lies
  inside [-margin, +margin], fail if it lies wholly outside, inconclusive otherwise.

Either arm without runs gives "not run"; fewer than ``min_seeds`` runs gives "inconclusive".

Arms are compared within strata (``Claim.strata``, by default task and model): the difference
is the mean over the strata both arms have of the per-stratum difference, with a Welch interval
over all of them (reports/stats.py). A suite that runs three model sizes thus compares each size
with itself, and the spread between sizes does not swamp the interval; with one stratum this is
the plain Welch comparison. A claim about sizes sets ``strata=("task",)``.

Two selections that a plain ``where`` cannot say:

- ``Arm.pick``: ((param, "min" | "max"), ...) keeps only the arm's runs at the smallest / largest
  numeric value of ``param`` among them (e.g. the largest entropy cost present). When both arms
  pick the same param the same way, the value is chosen among those present in *both* arms, so
  that, e.g., "at the smallest train_subset" compares the two arms at one subset.
- a ``*`` in ``Claim.metric`` stands for a number in the metric's name (e.g.
  ``eval_temperature/*/accuracy``); the claim uses the lowest number present in both arms.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field

from reports import power as power_estimate
from reports.runs import RunRecord
from reports.stats import mean_ci, stratified_difference_ci

VERDICTS = ("pass", "fail", "inconclusive", "not run")
PICKS = ("min", "max")


@dataclass(frozen=True)
class Arm:
    label: str
    where: dict
    pick: tuple = ()  # ((param, "min" | "max"), ...): see the module docstring


@dataclass(frozen=True)
class Claim:
    id: str
    figure: str
    text: str
    metric: str
    a: Arm
    b: Arm
    kind: str  # "greater" or "equivalent"
    margin: float = 0.0
    min_seeds: int = 20
    reference: str = ""
    strata: tuple = ("task", "model")  # params both arms are compared within


@dataclass
class Verdict:
    claim: Claim
    verdict: str
    values_a: list = field(default_factory=list)
    values_b: list = field(default_factory=list)
    diff: float | None = None
    ci: tuple | None = None
    p_value: float | None = None
    detail: str = ""
    power: power_estimate.Power | None = None  # for an inconclusive claim: the seeds that would decide it

    def explain_power(self, variances: list[float], boundary: float, scale: float = 1.0) -> None:
        """Attach the power estimate (reports/power.py) of an inconclusive verdict and state it in the detail."""
        if self.verdict != "inconclusive" or self.diff is None or self.ci is None:
            return
        self.power = power_estimate.estimate(self.diff, self.ci, variances, boundary, scale)
        self.detail += f"; {self.power.describe()}"

    def measured(self) -> str:
        if isinstance(self.claim, Frontier) and self.values_a:
            return (f"mean {self.claim.x} per point: {self.claim.a.label} {self.values_a}; "
                    f"{self.claim.b.label} {self.values_b}")
        if self.diff is None:
            return "-"
        if isinstance(self.claim, Interaction):
            return (
                f"{self.claim.effect_label}: {self.values_a[0]:+.3f} ({self.claim.a.label}) vs {self.values_b[0]:+.3f} "
                f"({self.claim.c.label}); difference {self.diff:+.3f} [{self.ci[0]:+.3f}, {self.ci[1]:+.3f}] (Welch p={self.p_value:.2g})"
            )
        (ma, la, ha), (mb, lb, hb) = mean_ci(self.values_a), mean_ci(self.values_b)
        return (
            f"{self.claim.a.label} {ma:.3f} [{la:.3f}, {ha:.3f}] vs {self.claim.b.label} {mb:.3f} [{lb:.3f}, {hb:.3f}]; "
            f"difference {self.diff:+.3f} [{self.ci[0]:+.3f}, {self.ci[1]:+.3f}] (n={len(self.values_a)}/{len(self.values_b)}, "
            f"Welch p={self.p_value:.2g})"
        )


def arm_values(arm: Arm, metric: str, runs: list[RunRecord]) -> list[float]:
    return [r.metrics[metric] for r in runs if r.matches(arm.where) and metric in r.metrics]


# ------------------------------------------------------------------------------------ selection
def _numeric(run: RunRecord, param: str) -> float | None:
    try:
        return float(run.param(param))
    except (TypeError, ValueError):
        return None


def _values(runs: list[RunRecord], param: str) -> set[float]:
    return {v for r in runs if (v := _numeric(r, param)) is not None}


def _picked(arm: Arm, other: Arm, mine: list[RunRecord], theirs: list[RunRecord]) -> tuple[list[RunRecord], list[str]]:
    """``mine`` restricted by ``arm.pick``, and a note per pick of the value chosen."""
    notes = []
    for param, how in arm.pick:
        if how not in PICKS:
            raise ValueError(f"arm {arm.label!r}: pick {param!r} by {how!r}; use one of {PICKS}.")
        values = _values(mine, param)
        if (param, how) in other.pick:  # the same selection on both sides: one value both arms have
            values &= _values(theirs, param)
        if not values:
            return [], notes
        value = min(values) if how == "min" else max(values)
        mine = [r for r in mine if _numeric(r, param) == value]
        notes.append(f"{arm.label} at {param}={value:g}")
    return mine, notes


def _lowest_wildcard(metric: str, a: list[RunRecord], b: list[RunRecord]) -> str:
    """``metric`` with its ``*`` replaced by the lowest number for which both arms logged it
    (left as it is when there is none, so that the claim reads "not run")."""
    head, tail = metric.split("*", 1)
    pattern = re.compile(re.escape(head) + r"([^/]+)" + re.escape(tail) + "$")

    def found(runs):
        return {m.group(1) for r in runs for k in r.metrics if (m := pattern.match(k))}

    common = []
    for text in found(a) & found(b):
        try:
            common.append((float(text), text))
        except ValueError:
            continue
    return head + min(common)[1] + tail if common else metric


def select(claim: Claim, runs: list[RunRecord]) -> tuple[list[RunRecord], list[RunRecord], str, list[str]]:
    """Each arm's runs that hold the metric after its picks, the metric with its ``*`` resolved,
    and notes of what was chosen."""
    a = [r for r in runs if r.matches(claim.a.where)]
    b = [r for r in runs if r.matches(claim.b.where)]
    metric, notes = claim.metric, []
    if "*" in metric:
        metric = _lowest_wildcard(metric, a, b)
        notes.append(f"metric {metric}")
    # NaN (e.g. a rank correlation with a metric that is the same for every sample) is no measurement
    undefined = sum(1 for r in a + b if metric in r.metrics and math.isnan(r.metrics[metric]))
    if undefined:
        notes.append(f"{undefined} runs left out: {metric} is undefined (NaN) there")
    a = [r for r in a if metric in r.metrics and not math.isnan(r.metrics[metric])]
    b = [r for r in b if metric in r.metrics and not math.isnan(r.metrics[metric])]
    # both picks see the other arm before either is applied, so a common value is common to both
    (a, notes_a), (b, notes_b) = _picked(claim.a, claim.b, a, b), _picked(claim.b, claim.a, b, a)
    return a, b, metric, notes + notes_a + notes_b


def strata(claim: Claim, a: list[RunRecord], b: list[RunRecord], metric: str) -> dict[tuple, tuple[list, list]]:
    """stratum -> (values of a, values of b), for the strata both arms have."""
    groups: dict[tuple, tuple[list, list]] = defaultdict(lambda: ([], []))
    for side, runs in enumerate((a, b)):
        for r in runs:
            groups[tuple(r.param(s) for s in claim.strata)][side].append(r.metrics[metric])
    return {k: v for k, v in sorted(groups.items(), key=lambda kv: str(kv[0])) if v[0] and v[1]}


@dataclass(frozen=True)
class Interaction:
    """An effect that is larger in one condition than in another (a difference in differences):

        (mean(a) - mean(b)) - (mean(c) - mean(d)) > margin

    e.g. IQLearn's gain over MLE (a over b) on long targets against the same gain (c over d) on
    short ones. The four arms are independent sets of seeds, so the interval is Welch's over four
    variance terms: se^2 = s_a^2/n_a + s_b^2/n_b + s_c^2/n_c + s_d^2/n_d. pass / fail /
    inconclusive against the margin as for ``greater``.
    """

    id: str
    figure: str
    text: str
    metric: str
    effect_label: str  # what a - b measures, e.g. "IQLearn - MLE"
    a: Arm
    b: Arm
    c: Arm
    d: Arm
    margin: float = 0.0
    min_seeds: int = 3
    reference: str = ""
    # The least mean the baselines b and d must reach: below it the task was not learned there, and a
    # difference in gains would measure the floor (both arms near 0), not the method.
    floor: float | None = None


def evaluate_interaction(claim: Interaction, runs: list[RunRecord]) -> Verdict:
    values = [arm_values(arm, claim.metric, runs) for arm in (claim.a, claim.b, claim.c, claim.d)]
    if not all(values):
        missing = " and ".join(arm.label for arm, v in zip((claim.a, claim.b, claim.c, claim.d), values) if not v)
        return Verdict(claim, "not run", detail=f"no finished runs for {missing}")
    seeds = min(map(len, values))
    if seeds < 2:
        return Verdict(claim, "inconclusive", detail="a confidence interval needs at least 2 seeds per arm")
    a, b, c, d = values
    # (a - b) - (c - d) is twice the mean over the two "strata" (a, b) and (d, c): the stratified Welch
    # interval of that mean, doubled, is the interval of the interaction (same variance terms and df).
    half_diff, lo, hi, p = stratified_difference_ci([(a, b), (d, c)])
    effects = [sum(a) / len(a) - sum(b) / len(b)], [sum(c) / len(c) - sum(d) / len(d)]
    verdict = Verdict(claim, "inconclusive", *effects, 2 * half_diff, (2 * lo, 2 * hi), p)
    at_floor = [arm.label for arm, v in ((claim.b, b), (claim.d, d)) if claim.floor is not None and sum(v) / len(v) < claim.floor]
    if seeds < claim.min_seeds:
        verdict.detail = f"only {seeds} seeds in an arm, the claim needs {claim.min_seeds}"
    elif at_floor:
        verdict.detail = (f"{' and '.join(at_floor)} below {claim.floor:g}: the task is not learned there, so the gains "
                          "cannot be compared")
    else:
        verdict.verdict = "pass" if 2 * lo > claim.margin else "fail" if 2 * hi < claim.margin else "inconclusive"
        verdict.detail = f"95% CI of the difference in differences vs the margin {claim.margin:+.3f}"
    if not at_floor:  # below the floor more seeds do not help: the task is not learned there
        verdict.explain_power([_var(v) for v in values], claim.margin)
    return verdict


def _var(values) -> float:
    """The sample variance (ddof 1) of one arm's values."""
    mean = sum(values) / len(values)
    return sum((x - mean) ** 2 for x in values) / (len(values) - 1)


@dataclass(frozen=True)
class Frontier:
    """A method is not dominated by a baseline family on a quality-diversity plane (Figures 2, 3: task metric
    against Self-BLEU, one point per lambda).

    Points: the runs of ``a`` grouped by ``by`` (e.g. IQLearn at each lambda), and of ``b`` grouped by
    ``b_by`` (e.g. MLE and MLE ent-reg at each lambda). ``x`` is better higher, ``y`` better lower. For a
    point i of ``a`` and j of ``b``, with 95% Welch intervals of the differences:

    - i beats j on an axis when x_i - x_j > 0 (or y_j - y_i > 0) over its whole interval;
    - j dominates i when it beats i on both axes.

    pass: some point of ``a`` beats every point of ``b`` on at least one axis (it is provably on or beyond
    the baseline's frontier); fail: every point of ``a`` is dominated by some point of ``b``;
    inconclusive otherwise, or with fewer than ``min_seeds`` runs at a point. One task and model (stratum)
    at a time; with several, pass and fail need every stratum to agree."""

    id: str
    figure: str
    text: str
    x: str  # better higher, e.g. eval/accuracy
    y: str  # better lower, e.g. eval/self_bleu
    a: Arm
    b: Arm
    by: tuple = ("hp.lam",)
    b_by: tuple = ("algorithm", "hp.lam")
    min_seeds: int = 3
    reference: str = ""
    strata: tuple = ("task", "model")
    metric: str = ""  # unused: a frontier reads x and y

    def __post_init__(self):
        object.__setattr__(self, "metric", f"{self.x} vs {self.y}")


def _points(arm: Arm, by: tuple, runs: list[RunRecord], metrics: tuple[str, str]) -> dict[tuple, list[RunRecord]]:
    groups: dict[tuple, list[RunRecord]] = defaultdict(list)
    for r in runs:
        if r.matches(arm.where) and all(m in r.metrics and not math.isnan(r.metrics[m]) for m in metrics):
            groups[tuple(r.param(k) for k in by)].append(r)
    return dict(groups)


def _beats(mine: list[RunRecord], theirs: list[RunRecord], metric: str, sign: float) -> bool:
    """mine is better than theirs on ``metric`` over the whole 95% interval (sign +1: higher is better)."""
    _, lo, hi, _ = stratified_difference_ci([([sign * r.metrics[metric] for r in mine], [sign * r.metrics[metric] for r in theirs])])
    return lo > 0


def evaluate_frontier(claim: Frontier, runs: list[RunRecord]) -> Verdict:
    metrics, power = (claim.x, claim.y), None
    strata = sorted({tuple(r.param(k) for k in claim.strata) for r in runs if r.matches(claim.a.where)}, key=str)
    outcomes, lines = [], []
    for stratum in strata:
        inside = [r for r in runs if tuple(r.param(k) for k in claim.strata) == stratum]
        a, b = _points(claim.a, claim.by, inside, metrics), _points(claim.b, claim.b_by, inside, metrics)
        if not a or not b:
            continue
        if min(map(len, [*a.values(), *b.values()])) < claim.min_seeds:
            outcomes.append("inconclusive")
            lines.append(f"{'/'.join(map(str, stratum))}: a point has fewer than {claim.min_seeds} seeds")
            continue
        undominated = [i for i, ri in a.items()
                       if all(_beats(ri, rj, claim.x, 1) or _beats(ri, rj, claim.y, -1) for rj in b.values())]
        dominated = [i for i, ri in a.items()
                     if any(_beats(rj, ri, claim.x, 1) and _beats(rj, ri, claim.y, -1) for rj in b.values())]
        outcomes.append("pass" if undominated else "fail" if len(dominated) == len(a) else "inconclusive")
        if outcomes[-1] == "inconclusive" and len(strata) == 1:
            power = _frontier_power(claim, a, b)
        name = lambda key: ",".join(map(str, key))  # noqa: E731
        lines.append(f"{'/'.join(map(str, stratum))}: provably not dominated {[name(i) for i in undominated] or 'none'}, "
                     f"provably dominated {[name(i) for i in dominated] or 'none'} of {len(a)} points vs {len(b)} baseline points")
    if not outcomes:
        return Verdict(claim, "not run", detail=f"no finished runs with {claim.x} and {claim.y} for both {claim.a.label} and {claim.b.label}")
    verdict = outcomes[0] if len(set(outcomes)) == 1 else "inconclusive"
    values = lambda arm, by, m: [round(sum(r.metrics[m] for r in rs) / len(rs), 2)  # noqa: E731
                                 for rs in _points(arm, by, runs, metrics).values()]
    out = Verdict(claim, verdict, values(claim.a, claim.by, claim.x), values(claim.b, claim.b_by, claim.x),
                  detail="; ".join(lines) + " (95% Welch intervals per axis and pair of points)")
    if verdict == "inconclusive" and power is not None:
        out.power = power
        out.detail += f"; to show the most promising point undominated: {power.describe()}"
    return out


def _frontier_power(claim: Frontier, a: dict, b: dict) -> power_estimate.Power | None:
    """Seeds per point that would show some point of ``a`` undominated: for each point i, every baseline point j
    must be beaten on one axis; each pair needs the fewer seeds of the axes whose observed difference favours i
    (reports/power.py), the point needs the most any pair needs, and the claim the least over its points."""
    best = None
    for ri in a.values():
        worst = None
        for rj in b.values():
            options = []
            for metric, sign in ((claim.x, 1), (claim.y, -1)):
                xi, xj = [sign * r.metrics[metric] for r in ri], [sign * r.metrics[metric] for r in rj]
                diff, lo, hi, _ = stratified_difference_ci([(xi, xj)])
                if diff > 0:
                    n = 0 if lo > 0 else power_estimate.seeds_needed(diff, [_var(xi), _var(xj)])
                    options.append((n if n is not None else power_estimate.MAX_SEEDS, hi - lo))
            pair = min(options, default=(power_estimate.MAX_SEEDS, math.nan))
            worst = pair if worst is None or pair[0] > worst[0] else worst
        best = worst if best is None or worst[0] < best[0] else best
    if best is None:
        return None
    return power_estimate.Power(best[1], max(best[0], 2), 0.0)


# ------------------------------------------------------------------------------------- verdicts
def evaluate(claim: Claim | Interaction | Frontier, runs: list[RunRecord]) -> Verdict:
    if isinstance(claim, Interaction):
        return evaluate_interaction(claim, runs)
    if isinstance(claim, Frontier):
        return evaluate_frontier(claim, runs)
    runs_a, runs_b, metric, notes = select(claim, runs)
    verdict = _judge(claim, runs_a, runs_b, metric)
    if notes:
        verdict.detail = f"{verdict.detail} ({'; '.join(notes)})"
    return verdict


def _judge(claim: Claim, runs_a: list[RunRecord], runs_b: list[RunRecord], metric: str) -> Verdict:
    if not runs_a or not runs_b:
        missing = " and ".join(arm.label for arm, v in ((claim.a, runs_a), (claim.b, runs_b)) if not v)
        values = [r.metrics[metric] for r in runs_a], [r.metrics[metric] for r in runs_b]
        return Verdict(claim, "not run", *values, detail=f"no finished runs for {missing}")
    groups = strata(claim, runs_a, runs_b, metric)
    if not groups:
        return Verdict(claim, "not run", detail=f"the arms share no {' / '.join(claim.strata)} to compare within")
    a = [x for va, _ in groups.values() for x in va]
    b = [x for _, vb in groups.values() for x in vb]
    seeds = min(min(len(va), len(vb)) for va, vb in groups.values())
    if seeds < 2:
        return Verdict(claim, "inconclusive", a, b, detail="a confidence interval needs at least 2 seeds per arm")
    diff, lo, hi, p = stratified_difference_ci(list(groups.values()))
    verdict = Verdict(claim, "inconclusive", a, b, diff, (lo, hi), p)
    if len(set(a) | set(b)) == 1:
        # e.g. every seed of both arms at 0% accuracy: the comparison holds or fails only vacuously
        verdict.detail = f"every seed of both arms scores exactly {a[0]:g}: nothing to compare"
    elif seeds < claim.min_seeds:
        verdict.detail = f"only {seeds} seeds in an arm, the claim needs {claim.min_seeds}"
    elif claim.kind == "greater":
        verdict.verdict = "pass" if lo > claim.margin else "fail" if hi < claim.margin else "inconclusive"
        verdict.detail = f"95% CI of the difference vs the margin {claim.margin:+.3f}"
    elif claim.kind == "equivalent":
        m = claim.margin
        verdict.verdict = "pass" if -m < lo and hi < m else "fail" if lo > m or hi < -m else "inconclusive"
        verdict.detail = f"95% CI of the difference vs the equivalence margin +-{m:.3f}"
    else:
        raise ValueError(f"claim {claim.id}: unknown kind {claim.kind!r}; use 'greater' or 'equivalent'.")
    if len(set(a) | set(b)) > 1:
        variances = [_var(v) for va, vb in groups.values() for v in (va, vb)]
        verdict.explain_power(variances, power_estimate.boundary_for(claim.kind, diff, claim.margin), 1 / len(groups) ** 2)
    if len(groups) > 1:
        names = ", ".join(" / ".join(str(x) for x in k) for k in groups)
        verdict.detail += f"; the difference is the mean over {len(groups)} strata ({names})"
    return verdict
