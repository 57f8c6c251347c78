"""Claims of the paper as data, and their verdicts over seeds.

A claim compares two arms (sets of runs selected by their params) on one metric:

- ``greater``: mean(a) - mean(b) > margin. pass if the whole 95% Welch interval of the
  difference lies above the margin, fail if it lies wholly below, inconclusive otherwise.
- ``equivalent``: the arms differ by less than a practical margin (an equivalence test, since a
  non-significant difference is not evidence of no difference, and with many seeds a
  negligible one becomes significant). pass if the whole 95% interval of the difference lies
  inside [-margin, +margin], fail if it lies wholly outside, inconclusive otherwise.

Either arm without runs gives "not run"; fewer than ``min_seeds`` runs gives "inconclusive".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reports.runs import RunRecord
from reports.stats import difference_ci, mean_ci

VERDICTS = ("pass", "fail", "inconclusive", "not run")


@dataclass(frozen=True)
class Arm:
    label: str
    where: dict


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

    def measured(self) -> str:
        if self.diff is None:
            return "-"
        (ma, la, ha), (mb, lb, hb) = mean_ci(self.values_a), mean_ci(self.values_b)
        return (
            f"{self.claim.a.label} {ma:.3f} [{la:.3f}, {ha:.3f}] vs {self.claim.b.label} {mb:.3f} [{lb:.3f}, {hb:.3f}]; "
            f"difference {self.diff:+.3f} [{self.ci[0]:+.3f}, {self.ci[1]:+.3f}] (n={len(self.values_a)}/{len(self.values_b)}, "
            f"Welch p={self.p_value:.2g})"
        )


def arm_values(arm: Arm, metric: str, runs: list[RunRecord]) -> list[float]:
    return [r.metrics[metric] for r in runs if r.matches(arm.where) and metric in r.metrics]


def evaluate(claim: Claim, runs: list[RunRecord]) -> Verdict:
    a, b = arm_values(claim.a, claim.metric, runs), arm_values(claim.b, claim.metric, runs)
    if not a or not b:
        missing = " and ".join(arm.label for arm, v in ((claim.a, a), (claim.b, b)) if not v)
        return Verdict(claim, "not run", a, b, detail=f"no finished runs for {missing}")
    if min(len(a), len(b)) < 2:
        return Verdict(claim, "inconclusive", a, b, detail="a confidence interval needs at least 2 seeds per arm")
    diff, lo, hi, p = difference_ci(a, b)
    verdict = Verdict(claim, "inconclusive", a, b, diff, (lo, hi), p)
    if min(len(a), len(b)) < claim.min_seeds:
        verdict.detail = f"only {min(len(a), len(b))} seeds in an arm, the claim needs {claim.min_seeds}"
    elif claim.kind == "greater":
        verdict.verdict = "pass" if lo > claim.margin else "fail" if hi < claim.margin else "inconclusive"
        verdict.detail = f"95% CI of the difference vs the margin {claim.margin:+.3f}"
    elif claim.kind == "equivalent":
        m = claim.margin
        verdict.verdict = "pass" if -m < lo and hi < m else "fail" if lo > m or hi < -m else "inconclusive"
        verdict.detail = f"95% CI of the difference vs the equivalence margin +-{m:.3f}"
    else:
        raise ValueError(f"claim {claim.id}: unknown kind {claim.kind!r}; use 'greater' or 'equivalent'.")
    return verdict
