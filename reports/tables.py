"""Tables 1, 2 and 5: the paper's numbers beside the measured ones, with a verdict per row.

Runs at laptop scale (tiny models, small subsets, other hardware) are not expected to match the
paper's absolute values, so each table compares the quantity that transfers, with a tolerance
from reports/references.py:

- Table 1: each update's time as a ratio to the MLE update of the same model (within 25%);
- Table 2: Spearman correlations, which are scale-free, as they are (within 0.15);
- Table 5: each row's BLEU minus the lambda = 0 row of the same mix-in (within 1.0 BLEU).

Row verdicts: "within tolerance", "outside tolerance", "not run", plus "baseline" (the row the
others are compared with) and "no reference" (measured, but the paper has no such row).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Callable

from reports import references as ref
from reports.claims import arm_values
from reports.figures import Stat, runs_table, stat
from reports.htmlkit import table
from reports.plots import Axes, Line, grid_svg
from reports.runs import RunRecord

WITHIN, OUTSIDE, NOT_RUN, BASELINE, NO_REFERENCE = "within tolerance", "outside tolerance", "not run", "baseline", "no reference"
ROW_VERDICTS = (WITHIN, OUTSIDE, NOT_RUN)  # those that count as checks in the overview
_CSS = {WITHIN: "pass", OUTSIDE: "fail", NOT_RUN: "notrun"}


@dataclass
class Row:
    cells: list  # html, already escaped
    verdict: str


@dataclass(frozen=True)
class TableSection:
    """A section that compares measured numbers with a table of the paper."""

    id: str
    title: str
    paper: str
    members: tuple
    compared: str  # what is compared, and the tolerance
    headers: tuple
    rows: Callable  # runs -> list[Row]
    plot: Callable | None = None  # runs -> svg ("" for none)
    metrics: tuple = ()  # the final metrics listed beside each run

    @property
    def TITLE(self) -> str:  # noqa: N802
        return self.title

    @property
    def PAPER(self) -> str:  # noqa: N802
        return self.paper

    def row_verdicts(self, runs: list[RunRecord]) -> list[str]:
        return [r.verdict for r in self.rows(runs) if r.verdict in ROW_VERDICTS]

    def render(self, runs: list[RunRecord], history=None) -> str:
        rows = self.rows(runs)
        body = table([*self.headers, "verdict"], [(_CSS.get(r.verdict, ""), [*r.cells, f"<b>{r.verdict}</b>"]) for r in rows])
        svg = self.plot(runs) if self.plot else ""
        return f"<p>{html.escape(self.compared)}</p>{svg}{body}{runs_table(runs, list(self.metrics))}"


def _stat_text(s: Stat | None) -> str:
    return s.text() if s else "<span class='notrun'>not run</span>"


def row_verdict(baseline: bool, measured, reference, value, judge) -> str:
    """A table row's verdict: the row others are compared with is the baseline; a row the paper has no
    number for has no reference; a row without the value to compare is not run; else judge(value, reference)."""
    if baseline:
        return BASELINE if measured else NOT_RUN
    if reference is None:
        return NO_REFERENCE if measured else NOT_RUN
    return NOT_RUN if value is None else judge(value, reference)


def within(measured: float, paper: float, tolerance: float) -> str:
    return WITHIN if abs(measured - paper) <= tolerance else OUTSIDE


# ------------------------------------------------------------------------------------- Table 1
# The Table 1 row a timing run measures: its ``profile.target`` param where it has one, else its algorithm's
# (bench/grids.py table1 cells). The online IQLearn cell's update includes sampling a batch; it also times sampling
# alone (profile/sampling_ms), which is the paper's "+ sampling" row. GAIL's update samples too; the paper's GAIL
# row excludes sampling, so GAIL cells report profile/update_excl_sampling_ms beside their full step.
TABLE1_TARGET_OF = {"mle": "mle_update", "iqlearn": "iqlearn_update", "gail": "gail_update", "iqlearn_online": "sampling"}
# target -> (metric read first, its quartiles' prefix or None), falling back to profile/median_ms and its quartiles
TABLE1_METRIC = {"gail_update": ("profile/update_excl_sampling_ms", None), "sampling": ("profile/sampling_ms", "sampling_")}
# rows without a reference in the paper, shown beside the others: (algorithm, chunked, label)
TABLE1_EXTRA = (
    ("iqlearn_online", False, "online IQLearn update (incl. sampling)"),
    ("mle", True, "MLE update, vocabulary-chunked loss"),
    ("iqlearn", True, "IQLearn update, vocabulary-chunked loss"),
)


def _target(run: RunRecord) -> str | None:
    return run.param("profile.target") or TABLE1_TARGET_OF.get(run.param("algorithm"))


def _chunked(run: RunRecord) -> bool:
    return str(run.param("train.chunked") or "0") not in ("0", "False", "false")


def _profile(runs: list[RunRecord], model: str, target: str, metric: str = "profile/median_ms") -> Stat | None:
    values = [r.metrics[metric] for r in runs
              if r.param("model") == model and _target(r) == target and not _chunked(r) and metric in r.metrics]
    return stat(values) if values else None


def _target_stats(runs: list[RunRecord], model: str, target: str) -> tuple[Stat | None, list]:
    """The measured ms of a target (its preferred metric where logged) and its [p25, p75] (empty when derived)."""
    metric, prefix = TABLE1_METRIC.get(target, ("profile/median_ms", ""))
    measured = _profile(runs, model, target, metric)
    if measured is not None:
        return measured, [] if prefix is None else [_profile(runs, model, target, f"profile/{prefix}{q}_ms") for q in ("p25", "p75")]
    measured = _profile(runs, model, target)
    return measured, [_profile(runs, model, target, f"profile/{q}_ms") for q in ("p25", "p75")]


def _ms_cell(measured: Stat | None, quartiles: list) -> str:
    if not measured:
        return "<span class='notrun'>not run</span>"
    spread = f" <small>[{quartiles[0].mean:.1f}, {quartiles[1].mean:.1f}]</small>" if quartiles and all(quartiles) else ""
    return f"{measured.mean:.1f}{spread} <small>n={measured.n}</small>"


def _peak(runs: list[RunRecord], model: str, algorithm: str, chunked: bool) -> float | None:
    values = [r.metrics["profile/peak_bytes"] for r in runs if r.param("model") == model and r.param("algorithm") == algorithm
              and _chunked(r) == chunked and "profile/peak_bytes" in r.metrics and not r.param("profile.target")]
    return sum(values) / len(values) if values else None


def _peak_cell(peak: float | None, plain: float | None = None) -> str:
    if peak is None:
        return "-"
    return f"{peak / 2**20:.0f}" + (f" <small>({peak / plain:.2f}× plain)</small>" if plain else "")


def table1_rows(runs: list[RunRecord]) -> list[Row]:
    """Per model and target: measured median ms [p25, p75], its ratio to the MLE update of the
    same model, the paper's ms and ratio, whether the ratios agree within 25%, and the step's peak
    memory; then rows the paper lacks (the online update including sampling, the chunked loss)."""
    runs = [r for r in runs if r.figure == "table1"]
    present = sorted({r.param("model") for r in runs} - set(ref.TABLE1_MODELS))
    rows = []
    for model in (*ref.TABLE1_MODELS, *present):
        mle = _profile(runs, model, "mle_update")
        for target, label in ref.TABLE1_TARGETS:
            measured, quartiles = _target_stats(runs, model, target)
            ratio = measured.mean / mle.mean if measured and mle else None
            paper = ref.TABLE1_MS.get((target, model))
            paper_ratio = paper[0] / ref.TABLE1_MS[("mle_update", model)][0] if paper else None
            verdict = row_verdict(
                target == "mle_update", measured, paper_ratio, ratio,
                lambda v, r: WITHIN if abs(v / r - 1) <= ref.TABLE1_RATIO_TOLERANCE else OUTSIDE,
            )
            algorithm = {v: k for k, v in TABLE1_TARGET_OF.items()}.get(target)
            ms_cell = _ms_cell(measured, quartiles)
            if measured and target == "gail_update" and _profile(runs, model, target, TABLE1_METRIC[target][0]):
                ms_cell += " <small>(step − sampling)</small>"
            rows.append(Row([
                html.escape(model), html.escape(label), ms_cell,
                f"{ratio:.2f}" if ratio is not None else "-",
                f"{paper[0]} ± {paper[1]}" if paper else "-", f"{paper_ratio:.2f}" if paper_ratio is not None else "-",
                _peak_cell(_peak(runs, model, algorithm, False)) if algorithm and target != "sampling" else "-",
            ], verdict))
        for algorithm, chunked, label in TABLE1_EXTRA:
            values = [r for r in runs if r.param("model") == model and r.param("algorithm") == algorithm and _chunked(r) == chunked
                      and not r.param("profile.target")]
            ms = [r.metrics["profile/median_ms"] for r in values if "profile/median_ms" in r.metrics]
            if not ms:
                continue
            measured = stat(ms)
            quartiles = [[r.metrics[f"profile/{q}_ms"] for r in values if f"profile/{q}_ms" in r.metrics] for q in ("p25", "p75")]
            quartiles = [stat(q) if q else None for q in quartiles]
            plain = _peak(runs, model, algorithm, False) if chunked else None
            rows.append(Row([
                html.escape(model), html.escape(label), _ms_cell(measured, quartiles),
                f"{measured.mean / mle.mean:.2f}" if mle else "-", "-", "-",
                _peak_cell(_peak(runs, model, algorithm, chunked), plain),
            ], NO_REFERENCE))
    return rows


# ------------------------------------------------------------------------------------- Table 2
def table2_rows(runs: list[RunRecord]) -> list[Row]:
    """Per task and metric: the measured mean correlation of online IQLearn and of MLE beside the
    paper's; within tolerance when both measured ones lie within 0.15 of the paper's."""
    rows = []
    for row in ref.TABLE2:
        metric = f"eval/reward_corr/{row.metric}"
        measured = []
        for arm, paper in ((ref.table2_arm(row), row.iqlearn), (ref.table2_mle_arm(row), row.mle)):
            values = arm_values(arm, metric, runs)
            measured.append((stat(values) if values else None, paper))
        judged = [within(s.mean, paper, ref.TABLE2_TOLERANCE) for s, paper in measured if s]
        verdict = OUTSIDE if OUTSIDE in judged else WITHIN if len(judged) == 2 else NOT_RUN
        (iq, iq_paper), (mle, mle_paper) = measured
        rows.append(Row([
            html.escape(row.task), html.escape(row.label), f"{row.lam:g}",
            _stat_text(iq), f"{iq_paper:+.2f}", _stat_text(mle), f"{mle_paper:+.2f}",
        ], verdict))
    return rows


# ------------------------------------------------------------------------------------- Table 5
def _bleu(runs: list[RunRecord], lam: float, alpha: float) -> Stat | None:
    values = [r.metrics["eval_beam/bleu"] for r in runs if r.matches({"hp.lam": lam, "hp.alpha": alpha}) and "eval_beam/bleu" in r.metrics]
    return stat(values) if values else None


def _table5_grid(runs: list[RunRecord]) -> list[tuple[float, float, float | None, float | None]]:
    """(lambda, alpha, paper dev, paper test) for every row of the paper and every measured one."""
    paper = {(lam, alpha): (dev, test) for lam, alpha, dev, test in ref.TABLE5}
    measured = set()
    for r in runs:
        try:
            measured.add((float(r.param("hp.lam")), float(r.param("hp.alpha"))))
        except (TypeError, ValueError):
            continue
    keys = sorted(set(paper) | measured, key=lambda k: (k[1], k[0]))
    return [(lam, alpha, *paper.get((lam, alpha), (None, None))) for lam, alpha in keys]


def table5_rows(runs: list[RunRecord]) -> list[Row]:
    """Per (lambda, mix-in): measured beam BLEU and its difference to the lambda = 0 row of the
    same mix-in, beside the paper's dev/test BLEU and test difference; within tolerance when
    the differences agree within 1.0 BLEU."""
    runs = [r for r in runs if r.figure == "table5"]
    paper_test0 = {alpha: test for lam, alpha, _, test in ref.TABLE5 if lam == 0}
    rows = []
    for lam, alpha, dev, test in _table5_grid(runs):
        measured, base = _bleu(runs, lam, alpha), _bleu(runs, 0.0, alpha)
        diff = measured.mean - base.mean if measured and base else None
        paper_diff = test - paper_test0[alpha] if test is not None and alpha in paper_test0 else None
        verdict = row_verdict(lam == 0, measured, paper_diff, diff, lambda v, r: within(v, r, ref.TABLE5_TOLERANCE))
        rows.append(Row([
            f"{lam:g}", f"{alpha:g}", _stat_text(measured), f"{diff:+.2f}" if diff is not None else "-",
            f"{dev:.2f}" if dev is not None else "-", f"{test:.2f}" if test is not None else "-",
            f"{paper_diff:+.2f}" if paper_diff is not None else "-",
        ], verdict))
    return rows


def table5_plot(runs: list[RunRecord]) -> str:
    """One panel per mix-in: measured BLEU minus the lambda = 0 row against lambda (error bars:
    the row's s.e.m. over seeds), the paper's test-set differences dashed."""
    runs = [r for r in runs if r.figure == "table5"]
    panels = []
    for alpha in sorted({a for _, a, _, _ in _table5_grid(runs)}):
        base = _bleu(runs, 0.0, alpha)
        points = [(lam, s) for lam, a, _, _ in _table5_grid(runs) if a == alpha and (s := _bleu(runs, lam, alpha))]
        lines = []
        if base and points:
            lines.append(Line("measured", [lam for lam, _ in points], [s.mean - base.mean for _, s in points],
                              yerr=[s.err for _, s in points]))
        paper = [(lam, test) for lam, a, _, test in ref.TABLE5 if a == alpha]
        test0 = dict(paper)[0.0]
        lines.append(Line("paper (test BLEU)", [lam for lam, _ in paper], [t - test0 for _, t in paper], style="reference"))
        panels.append(Axes(f"mix-in α={alpha:g}", "λ", "BLEU − BLEU(λ=0)", lines))
    return grid_svg([panels]) if panels else ""


# ---------------------------------------------------------------------------------- sections
TABLE1 = TableSection(
    "table1", "Table 1: update and sampling time per algorithm and model size",
    "MLE updates are the cheapest; GAIL and IQLearn updates cost more, and sampling a batch (online IRL) "
    "often costs as much as an update or more (T5 on TPU v3).",
    ("table1",),
    "Times depend on hardware and implementation, so the check is each update's time as a ratio to the MLE "
    "update of the same model: within tolerance when |measured ratio / paper ratio − 1| ≤ "
    f"{ref.TABLE1_RATIO_TOLERANCE:.0%}. Measured (bench/profile.py, random initialisation at the real shapes): "
    "median ms over the profiled steps [25th, 75th percentile]. As in the paper, updates exclude sampling: GAIL's "
    "row is its step minus sampling a batch alone, and '+ sampling' is sampling a batch alone (timed in the online "
    "IQLearn cell, whose full update is listed below it). Peak MiB: XLA's memory footprint of the compiled step; "
    "the chunked rows never hold the float32 [batch, length, vocabulary] logits.",
    ("model", "update", "measured ms", "ratio to MLE", "paper ms", "paper ratio", "peak MiB"),
    table1_rows,
    metrics=("profile/median_ms", "profile/p25_ms", "profile/p75_ms", "profile/sampling_ms", "profile/peak_bytes"),
)

TABLE2 = TableSection(
    "table2", "Table 2: Spearman correlation of the IQLearn reward with the task metrics",
    "The summed online IQLearn reward (α = 0.1) correlates with the task metrics (0.17 to 0.65), the MLE "
    "reward does not (about 0).",
    ("table2",),
    "Spearman correlations are scale-free, so they are compared as they are: within tolerance when both "
    f"measured correlations lie within {ref.TABLE2_TOLERANCE} of the paper's. A small model may correlate less; "
    "the directional claims below (IQLearn above MLE) are the part expected to transfer.",
    ("task", "metric", "IQLearn λ", "IQLearn measured", "IQLearn paper", "MLE measured", "MLE paper"),
    table2_rows,
    metrics=tuple(f"eval/reward_corr/{m}" for m in sorted({r.metric for r in ref.TABLE2})),
)

TABLE5 = TableSection(
    "table5", "Table 5: WMT22 BLEU (beam 4) over λ and mix-in",
    "Offline IQLearn gains up to +2.16 BLEU over BC (λ = 0) for every λ up to 1, at each mix-in (PaLM2 Gecko).",
    ("table5",),
    "Absolute BLEU depends on the model and data, so the check is each row's BLEU minus the λ = 0 row of the "
    f"same mix-in, against the paper's test-set difference (this harness evaluates WMT22 on its test split): "
    f"within tolerance when they differ by at most {ref.TABLE5_TOLERANCE} BLEU.",
    ("λ", "mix-in α", "measured BLEU", "measured − λ=0", "paper dev", "paper test", "paper test − λ=0"),
    table5_rows,
    plot=table5_plot,
    metrics=("eval_beam/bleu",),
)
