"""Figures as specs: a section is data (which runs, which plots of which metrics), this module
turns it into plots, a numbers table and the list of runs behind them.

Three kinds of plot, each a grid of panels: one column per :class:`Panel` (a metric, optionally
restricted to some runs) and one row per value of ``split`` present in the runs (e.g. per task
and model), so a suite that runs other models or a stand-in task still gets a plot.

- :class:`Tradeoff` (Figures 2, 3, 9): x = the panel's task metric, y = a diversity metric, one
  series per method and one point per value of ``point`` (lambda). As in the paper, a point is
  the mean over seeds with error bars of one standard error of the mean (s.e.m. = sample
  standard deviation / sqrt(n)) in both x and y.
- :class:`Sweep` (Figures 4, 5, 6, 8, 10): y = the panel's metric against a numeric param, or
  against the number in the metric's name (``*``, e.g. the temperature of
  ``eval_temperature/*/accuracy``); one series per ``series`` value; mean +- s.e.m. over seeds.
- :class:`Curve` (Figures 7, 12): a metric's logged history against the training step, mean over
  seeds at each step with a band of +- one s.e.m. (over the seeds that logged that step).

Series and split are named by fields: a param (``hp.lam``, ``model``, ...), ``algorithm``, or
``method``, which puts an ``mle`` cell into the "MLE / ent-reg" series (it is that series'
lambda = 0 point; a run without ``hp.lam`` reads as lambda 0, see reports/runs.py).
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from reports.htmlkit import runs_details, table
from reports.plots import Axes, Line, grid_svg
from reports.runs import RunRecord

ALGORITHMS = {
    "mle": "MLE", "mle_entreg": "MLE ent-reg", "iqlearn": "IQLearn", "iqlearn_online": "IQLearn online",
    "gail": "GAIL", "gail_mle": "GAIL + MLE",
}
# "method": the paper's series, MLE being the lambda = 0 end of the entropy-regularised MLE series
METHODS = ALGORITHMS | {"mle": "MLE / ent-reg", "mle_entreg": "MLE / ent-reg"}
FIELD_NAMES = {"hp.lam": "λ", "hp.alpha": "α", "hp.gamma": "γ", "hp.mle_weight": "MLE weight", "data.train_subset": "train subset"}
METRIC_NAMES = {
    "eval/self_bleu": "Self-BLEU", "eval/per_token_entropy": "per-token entropy (nats)", "eval/mean_length": "mean length (tokens)",
}


# ---------------------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class Panel:
    """One column of a plot: ``metric`` for the runs matching ``where`` (a value may be a tuple:
    any of them). ``hline`` (sweeps only) draws a second metric as a dotted line per series."""

    metric: str
    title: str = ""
    where: dict = field(default_factory=dict)
    hline: str = ""


@dataclass(frozen=True)
class Tradeoff:
    panels: tuple
    diversity: str = "eval/self_bleu"
    series: tuple = ("method",)
    point: str = "hp.lam"
    split: tuple = ("task", "model")


@dataclass(frozen=True)
class Sweep:
    """y against x per series. With ``baseline`` (a ``where`` selecting a reference arm, e.g. MLE) each
    series is drawn as its gain over that arm at the same x: mean(series) - mean(baseline), with
    the error bar sqrt(sem_series^2 + sem_baseline^2); the baseline itself is not drawn."""

    panels: tuple
    x: str  # a numeric param, or "*": the number in the panel metric's name
    xlabel: str
    series: tuple = ("method",)
    split: tuple = ("task", "model")
    xscale: str = "linear"
    baseline: dict | None = None


@dataclass(frozen=True)
class Curve:
    panels: tuple  # metric = a metric whose history is plotted (e.g. eval_curve/rouge1)
    series: tuple = ("algorithm", "hp.lam")
    split: tuple = ("task", "model")


@dataclass(frozen=True)
class FigureSection:
    """A report section made of plots: ``members`` are the figure tags whose runs it reads."""

    id: str
    title: str
    paper: str  # one line: what the paper shows
    members: tuple
    plots: tuple

    @property
    def TITLE(self) -> str:  # noqa: N802  (the attribute every section has, as a module constant)
        return self.title

    @property
    def PAPER(self) -> str:  # noqa: N802
        return self.paper

    def render(self, runs: list[RunRecord], history=None) -> str:
        """Each plot with its numbers table, then the runs behind the section."""
        parts = [render_plot(plot, runs, history) for plot in self.plots]
        metrics = sorted({m for plot in self.plots for m in plot_metrics(plot)})
        return "".join(parts) + runs_table(runs, metrics)


# ----------------------------------------------------------------------------- fields and stats
def field_value(run: RunRecord, name: str):
    """A run's value of a field: a number when it reads as one, else text ("" when absent)."""
    if name == "method":
        return METHODS.get(run.param("algorithm"), run.param("algorithm") or "")
    if name == "algorithm":
        return ALGORITHMS.get(run.param("algorithm"), run.param("algorithm") or "")
    value = run.param(name)
    try:
        return float(value)
    except (TypeError, ValueError):
        return value or ""


def fmt_value(value) -> str:
    """A field's value as text: whole numbers without a decimal point (subset 100000, not 1e+05)."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:g}"
    return str(value)


def describe(names: tuple, values: tuple, sep: str = " ") -> str:
    """A label for a group, e.g. "IQLearn λ=0.1" (a series) or "gsm8k · t5-base" (a split)."""
    parts = [f"{FIELD_NAMES[n]}={fmt_value(v)}" if n in FIELD_NAMES else fmt_value(v) for n, v in zip(names, values)]
    return sep.join(p for p in parts if p)


def _order(value) -> tuple:
    return (0, value, "") if isinstance(value, float) else (1, 0.0, str(value))


def group_key(run: RunRecord, names: tuple) -> tuple:
    return tuple(field_value(run, n) for n in names)


def sort_keys(keys) -> list:
    return sorted(keys, key=lambda k: tuple(_order(v) for v in k))


@dataclass(frozen=True)
class Stat:
    """Mean and standard error of the mean over seeds; sem is nan for a single seed."""

    mean: float
    sem: float
    n: int

    def text(self) -> str:
        """"mean ± sem n=..", the sem to as many decimals as the mean."""
        digits = 2 if abs(self.mean) >= 1 else 3
        err = "-" if math.isnan(self.sem) else f"{self.sem:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {err} <small>n={self.n}</small>"

    @property
    def err(self) -> float:
        """The error bar: one s.e.m. (none for one seed)."""
        return 0.0 if math.isnan(self.sem) else self.sem


def stat(values) -> Stat:
    x = np.asarray(list(values), dtype=float)
    sem = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.nan
    return Stat(float(x.mean()), sem, len(x))


def _num(x: float) -> str:
    return f"{x:.2f}" if abs(x) >= 1 else f"{x:.3f}"


def selected(runs: list[RunRecord], where: dict) -> list[RunRecord]:
    return [r for r in runs if r.matches(where)]


def metric_label(metric: str) -> str:
    return METRIC_NAMES.get(metric, metric.split("/")[-1])


def plot_metrics(plot) -> list[str]:
    """The final metrics a plot reads (for the runs table); curves' histories are not among them."""
    if isinstance(plot, Tradeoff):
        return [p.metric for p in plot.panels] + [plot.diversity]
    if isinstance(plot, Sweep):
        return [m for p in plot.panels for m in (p.metric, p.hline) if m and "*" not in m]
    return []


# ---------------------------------------------------------------------------------------- rows
def tradeoff_rows(plot: Tradeoff, panel: Panel, runs: list[RunRecord]) -> dict:
    """(series, point) -> (x Stat, y Stat) over the seeds that logged both metrics."""
    groups = defaultdict(list)
    for r in selected(runs, panel.where):
        if panel.metric in r.metrics and plot.diversity in r.metrics:
            groups[(group_key(r, plot.series), field_value(r, plot.point))].append(r)
    return {
        k: (stat(r.metrics[panel.metric] for r in rs), stat(r.metrics[plot.diversity] for r in rs))
        for k, rs in groups.items()
    }


def _wildcard_points(metric: str, run: RunRecord) -> list[tuple[float, float]]:
    head, tail = metric.split("*", 1)
    points = []
    for key, value in run.metrics.items():
        if key.startswith(head) and key.endswith(tail) and len(key) > len(head) + len(tail):
            middle = key[len(head) : len(key) - len(tail)]
            try:
                points.append((float(middle), value))
            except ValueError:
                continue
    return points


def sweep_points(plot: Sweep, panel: Panel, run: RunRecord) -> list[tuple[float, float]]:
    """(x, y) of one run: one point per number in the metric's name, or one at its param."""
    if plot.x == "*":
        return _wildcard_points(panel.metric, run)
    x = field_value(run, plot.x)
    if panel.metric not in run.metrics or not isinstance(x, float):
        return []
    return [(x, run.metrics[panel.metric])]


def sweep_rows(plot: Sweep, panel: Panel, runs: list[RunRecord]) -> dict:
    """(series, x) -> y Stat over seeds; with a baseline, the gain over it (Sweep's docstring)."""
    groups, reference = defaultdict(list), defaultdict(list)
    for r in selected(runs, panel.where):
        is_baseline = plot.baseline is not None and r.matches(plot.baseline)
        for x, y in sweep_points(plot, panel, r):
            if is_baseline:
                reference[x].append(y)
            else:
                groups[(group_key(r, plot.series), x)].append(y)
    if plot.baseline is None:
        return {k: stat(v) for k, v in groups.items()}
    return {(series, x): gain(stat(v), stat(reference[x])) for (series, x), v in groups.items() if reference.get(x)}


def gain(a: Stat, b: Stat) -> Stat:
    """a - b with the standard error of a difference of independent means, sqrt(sem_a^2 + sem_b^2)."""
    return Stat(a.mean - b.mean, math.sqrt(a.sem**2 + b.sem**2), min(a.n, b.n))


def hline_rows(plot: Sweep, panel: Panel, runs: list[RunRecord]) -> dict:
    """series -> Stat of the panel's ``hline`` metric."""
    groups = defaultdict(list)
    for r in selected(runs, panel.where):
        if panel.hline and panel.hline in r.metrics:
            groups[group_key(r, plot.series)].append(r.metrics[panel.hline])
    return {k: stat(v) for k, v in groups.items()}


def mean_curve(histories: list[list[tuple[int, float]]]) -> list[tuple[int, Stat]]:
    """Per step, the Stat over the seeds that logged that step."""
    by_step = defaultdict(list)
    for points in histories:
        for step, value in points:
            by_step[step].append(value)
    return [(step, stat(by_step[step])) for step in sorted(by_step)]


def curve_groups(plot: Curve, panel: Panel, runs: list[RunRecord], history: dict) -> dict:
    """series -> the histories of ``panel.metric`` of its seeds."""
    groups = defaultdict(list)
    for r in selected(runs, panel.where):
        points = history.get(r.run_id, {}).get(panel.metric)
        if points:
            groups[group_key(r, plot.series)].append(points)
    return groups


# ------------------------------------------------------------------------------------- drawing
def render_plot(plot, runs: list[RunRecord], history=None) -> str:
    """The plot's SVG and its numbers table. ``history(run_ids, metrics)`` serves curves."""
    if isinstance(plot, Tradeoff):
        draw = _tradeoff
    elif isinstance(plot, Sweep):
        draw = _sweep
    elif isinstance(plot, Curve):
        metrics = sorted({p.metric for p in plot.panels})
        found = history([r.run_id for r in runs], metrics) if history else {}
        draw = partial(_curve, history=found)
    else:
        raise TypeError(f"unknown plot spec {plot!r}")
    splits = sort_keys({group_key(r, plot.split) for r in runs}) or [()]
    cells, rows, headers = {}, [], []
    for split in splits:
        for i, panel in enumerate(plot.panels):
            lines, panel_rows, headers = draw(plot, panel, [r for r in runs if group_key(r, plot.split) == split])
            cells[(split, i)] = lines
            names = (describe(plot.split, split, " · "), panel.title or metric_label(panel.metric))
            rows += [[*map(html.escape, names), *row] for row in panel_rows]
    svg = grid_svg(_layout(plot, splits, cells))
    if not rows:
        return svg + "<p class='notrun'>No run logged the metrics of this plot.</p>"
    numbers = table(["runs", "panel", *headers], [("", r) for r in rows])
    return f"{svg}<details open><summary>numbers behind the plot: {_NUMBERS[type(plot)]}</summary>{numbers}</details>"


_NUMBERS = {
    Tradeoff: "each point's mean ± s.e.m. over seeds in x and y, n seeds",
    Sweep: "mean ± s.e.m. over seeds, n seeds",
    Curve: "per series, over seeds (n seeds)",
}


def _layout(plot, splits: list[tuple], cells: dict) -> list[list[Axes]]:
    """One row per split and one column per panel; a single-panel plot puts its splits side by
    side instead (three to a row), so that a figure per subset is not one tall column."""
    def axes(split, i):
        panel = plot.panels[i]
        title = " · ".join(t for t in (describe(plot.split, split, " · "), panel.title) if t)
        if isinstance(plot, Tradeoff):
            return Axes(title, metric_label(panel.metric), metric_label(plot.diversity), cells[(split, i)])
        xlabel = plot.xlabel if isinstance(plot, Sweep) else "training step"
        return Axes(title, xlabel, metric_label(panel.metric), cells[(split, i)], getattr(plot, "xscale", "linear"))

    if len(plot.panels) == 1:
        flat = [axes(split, 0) for split in splits]
        return [flat[i : i + 3] for i in range(0, len(flat), 3)]
    return [[axes(split, i) for i in range(len(plot.panels))] for split in splits]


def _series_order(keys) -> list:
    return sort_keys(set(keys))


def _tradeoff(plot: Tradeoff, panel: Panel, runs: list[RunRecord]):
    """One line per series through its points in lambda order, s.e.m. error bars in x and y."""
    found = tradeoff_rows(plot, panel, runs)
    lines, rows = [], []
    for series in _series_order(s for s, _ in found):
        pts = sorted((pt, xy) for (s, pt), xy in found.items() if s == series)
        label = describe(plot.series, series)
        notes = [describe((plot.point,), (pt,)) for pt, _ in pts]
        lines.append(Line(
            label, [x.mean for _, (x, _) in pts], [y.mean for _, (_, y) in pts],
            xerr=[x.err for _, (x, _) in pts], yerr=[y.err for _, (_, y) in pts], notes=notes,
        ))
        rows += [[html.escape(label), html.escape(note), x.text(), y.text()] for note, (_, (x, y)) in zip(notes, pts)]
    return lines, rows, ["series", "point", "x: metric", f"y: {metric_label(plot.diversity)}"]


def _sweep(plot: Sweep, panel: Panel, runs: list[RunRecord]):
    """One line per series in x order with s.e.m. error bars; ``hline`` metrics as dotted lines."""
    found, flat = sweep_rows(plot, panel, runs), hline_rows(plot, panel, runs)
    lines, rows = [], []
    for series in _series_order(s for s, _ in found):
        pts = sorted((x, st) for (s, x), st in found.items() if s == series)
        label = describe(plot.series, series)
        lines.append(Line(label, [x for x, _ in pts], [st.mean for _, st in pts], yerr=[st.err for _, st in pts]))
        rows += [[html.escape(label), fmt_value(x), st.text()] for x, st in pts]
    for series in _series_order(flat):
        st, label = flat[series], describe(plot.series, series)
        lines.append(Line(f"{label}: {panel.hline}", [0], [st.mean], style="hline", key=label))
        rows.append([html.escape(label), html.escape(panel.hline), st.text()])
    return lines, rows, ["series", plot.xlabel, "mean ± s.e.m."]


def _curve(plot: Curve, panel: Panel, runs: list[RunRecord], history: dict):
    """One line per series: the per-step mean over seeds, with a ± one s.e.m. band."""
    groups = curve_groups(plot, panel, runs, history)
    lines, rows = [], []
    for key in _series_order(groups):
        curves, label = groups[key], describe(plot.series, key)
        mean = mean_curve(curves)
        lines.append(Line(label, [s for s, _ in mean], [st.mean for _, st in mean], yerr=[st.err for _, st in mean], style="band"))
        # how much each seed lost late in training: its best value minus its final one
        drop = stat(max(v for _, v in c) - c[-1][1] for c in curves)
        final = stat(c[-1][1] for c in curves)
        rows.append([html.escape(label), f"{mean[0][0]}–{mean[-1][0]}", final.text(), _num(max(st.mean for _, st in mean)), drop.text()])
    return lines, rows, ["series", "steps", "final (mean ± s.e.m.)", "best of the mean curve", "drop: best − final per seed"]


# ------------------------------------------------------------------------------------ the runs
_SHOWN = ("task", "algorithm", "model", "seed")


def runs_table(runs: list[RunRecord], metrics: list[str]) -> str:
    """Every run behind a section: its id, the params that identify it (those that differ between
    the section's runs) and the final value of each metric the section plots."""
    varying = sorted({k for r in runs for k in r.params if k not in _SHOWN and len({x.params.get(k) for x in runs}) > 1})
    headers = ["MLflow run", "cell", "figure", *map(html.escape, (*_SHOWN, *varying, *metrics))]

    def cells(r: RunRecord) -> list[str]:
        return [
            f"<code>{html.escape(r.run_id)}</code>", f"<code>{html.escape(r.cell)}</code>", html.escape(r.figure),
            *(html.escape(r.params.get(k, "")) for k in (*_SHOWN, *varying)),
            *(_num(r.metrics[m]) if m in r.metrics else "-" for m in metrics),
        ]

    ordered = sorted(runs, key=lambda r: tuple(_order(field_value(r, k)) for k in (*_SHOWN, *varying)))
    return runs_details(ordered, headers, cells)
