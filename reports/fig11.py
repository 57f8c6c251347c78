"""Figure 11: success rate of offline and online IQLearn on the toy MDP, with and without recovery."""

from __future__ import annotations

import html
from collections import Counter

from reports.htmlkit import runs_details
from reports.plots import plt, to_svg
from reports.runs import RunRecord, number
from reports.stats import difference_ci, mean_ci

TITLE = "Figure 11: toy MDP, offline vs online IQLearn"
PAPER = (
    "With recovery, online IQLearn beats offline IQLearn by over 11 points of success rate; without recovery "
    "the gap is within confidence bounds."
)
VARIANTS = (("recovery", "with recovery"), ("no_recovery", "without recovery"))
ARMS = (
    ("MLE", {"algorithm": "mle"}),
    ("offline IQLearn", {"algorithm": "iqlearn"}),
    ("online IQLearn (relaxed)", {"algorithm": "iqlearn_online", "hp.form": "relaxed"}),
    ("online IQLearn (original)", {"algorithm": "iqlearn_online", "hp.form": "original"}),
)
METRIC = "eval/success_rate"


def success_rates(runs: list[RunRecord], variant: str, where: dict, figure: str = "fig11") -> list[float]:
    sel = where | {"task.variant": variant, "figure": figure}
    return [r.metrics[METRIC] for r in runs if r.matches(sel) and METRIC in r.metrics]


def plot_svg(runs: list[RunRecord]) -> str:
    """Grouped bars: mean success rate per arm and variant, 95% CI error bars over seeds."""
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    width = 0.8 / len(ARMS)
    for j, (label, where) in enumerate(ARMS):
        xs, means, errs, ns = [], [], [[], []], []
        for i, (variant, _) in enumerate(VARIANTS):
            values = success_rates(runs, variant, where)
            if not values:
                continue
            mean, lo, hi = mean_ci(values)
            xs.append(i + (j - (len(ARMS) - 1) / 2) * width)
            means.append(mean)
            errs[0].append(mean - lo)
            errs[1].append(hi - mean)
            ns.append(len(values))
        if xs:
            ax.bar(xs, means, width, yerr=errs, capsize=3, label=f"{label} (n={min(ns)}-{max(ns)})" if min(ns) != max(ns) else f"{label} (n={ns[0]})")
    ax.set_xticks(range(len(VARIANTS)), [name for _, name in VARIANTS])
    ax.set_ylabel("success rate")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("Success rate, mean and 95% CI over seeds", fontsize=10)
    fig.tight_layout()
    return to_svg(fig)


def table_html(runs: list[RunRecord]) -> str:
    """The numbers behind the plot: mean [95% CI] and seeds per arm and variant."""
    rows = []
    for label, where in ARMS:
        cells = []
        for variant, _ in VARIANTS:
            values = success_rates(runs, variant, where)
            if values:
                mean, lo, hi = mean_ci(values)
                cells.append(f"<td>{mean:.3f} [{lo:.3f}, {hi:.3f}] <small>n={len(values)}</small></td>")
            else:
                cells.append("<td class='notrun'>not run</td>")
        rows.append(f"<tr><th>{html.escape(label)}</th>{''.join(cells)}</tr>")
    head = "".join(f"<th>{name}</th>" for _, name in VARIANTS)
    return f"<table><tr><th>arm</th>{head}</tr>{''.join(rows)}</table>"


def _point(run: RunRecord) -> tuple[float | None, float | None]:
    """A run's (gamma, lam) as numbers; None for a param that is absent or not a number."""
    return number(run.params.get("hp.gamma")), number(run.params.get("hp.lam"))


def sensitivity_html(runs: list[RunRecord]) -> str:
    """Online minus offline success rate (recovery variant) for each (gamma, lam) that has runs."""
    keyed = [r for r in runs if r.figure in ("fig11", "fig11_sensitivity") and r.params.get("task.variant") == "recovery"]
    grid = sorted({p for r in keyed if None not in (p := _point(r))})
    if len(grid) < 2:
        return ""
    rows = []
    for gamma, lam in grid:
        def arm(**where):
            return [r.metrics[METRIC] for r in keyed if r.matches(where) and _point(r) == (gamma, lam) and METRIC in r.metrics]

        offline = arm(algorithm="iqlearn")
        cols = [f"<td>{gamma:g}</td><td>{lam:g}</td><td>{_fmt(offline)}</td>"]
        for form in ("relaxed", "original"):
            cols.append(f"<td>{_fmt(arm(algorithm='iqlearn_online', **{'hp.form': form}))}</td>")
        rows.append(f"<tr>{''.join(cols)}</tr>")
    return (
        "<h3>Sensitivity (with recovery): success rate by discount and TD weight</h3>"
        "<table><tr><th>gamma</th><th>lam</th><th>offline</th><th>online (relaxed)</th><th>online (original)</th></tr>"
        + "".join(rows) + "</table>"
    )


# ------------------------------------------------------------------ one-at-a-time robustness grid
ROBUSTNESS = "fig11_robustness"
# The online variants of the grid: label -> params a run must have; None means "not logged" (the default).
READINGS = (
    ("relaxed", {"hp.form": "relaxed", "hp.temperature": None}),
    ("relaxed, Eq. 17 temperature", {"hp.form": "relaxed", "hp.temperature": "eq17"}),
    ("original, value on expert + policy", {"hp.form": "original", "hp.value_data": None}),
    ("original, value on policy only", {"hp.form": "original", "hp.value_data": "policy"}),
)
# The choices a point of the grid moves away from the centre (run params), with the value a cell that does
# not name one has; online IQLearn alone reads the last three.
KNOBS = {
    "hp.gamma": None, "hp.lam": None, "task.horizon": None, "task.top": "stay", "train.steps": None,
    "model.init_scale": None, "hp.alpha": None, "train.policy_batch": None, "train.policy_replay": "none",
}
ONLINE_KNOBS = ("hp.alpha", "train.policy_batch", "train.policy_replay")
CLEARS = 0.11  # the paper's "over 11% in success rates"


def _reading(run: RunRecord) -> str | None:
    """"offline" for offline IQLearn, the label of its online variant, or None for any other run."""
    if run.params.get("algorithm") == "iqlearn":
        return "offline"
    if run.params.get("algorithm") != "iqlearn_online":
        return None
    return next((label for label, want in READINGS if all(run.params.get(k) == v for k, v in want.items())), None)


def _knob(run: RunRecord, key: str):
    """The run's value of ``key`` as a number where it is one, else as text (the knob's default if not logged)."""
    text = run.params.get(key, KNOBS[key])
    value = number(text)
    return text if value is None else value


def _knobs_of(run: RunRecord) -> tuple[str, ...]:
    return tuple(k for k in KNOBS if run.params.get("algorithm") == "iqlearn_online" or k not in ONLINE_KNOBS)


def _centre(runs: list[RunRecord]) -> dict:
    """Each knob's most common value over the online runs: the centre of a one-at-a-time grid, since every
    point but those of its own axis keeps it."""
    online = [r for r in runs if r.params.get("algorithm") == "iqlearn_online"]
    return {k: Counter(_knob(r, k) for r in online).most_common(1)[0][0] for k in KNOBS} if online else {}


def _place(run: RunRecord, centre: dict) -> tuple | None:
    """The grid point of ``run``: () at the centre, (knob, value) one step away along one axis, None elsewhere."""
    moved = [(k, _knob(run, k)) for k in _knobs_of(run) if _knob(run, k) != centre[k]]
    return tuple(moved[0]) if len(moved) == 1 else () if not moved else None


def _gap(online: list[float], offline: list[float]) -> str:
    """online - offline success rate with Welch's 95% interval; bold where the whole interval clears 11 points."""
    if len(online) < 2 or len(offline) < 2:
        return "not run"
    diff, lo, hi, _ = difference_ci(online, offline)
    text = f"{diff:+.3f} [{lo:+.3f}, {hi:+.3f}]"
    return (f"<b>{text}</b>" if lo > CLEARS else text) + f" <small>n={len(online)}/{len(offline)}</small>"


def robustness_html(runs: list[RunRecord]) -> str:
    """For each MDP variant, a table of the one-at-a-time grid: offline success rate and, per online variant,
    the online - offline gap at every point (the offline arm of an online-only axis is the centre's)."""
    grid = [r for r in runs if r.figure == ROBUSTNESS and _reading(r) is not None and METRIC in r.metrics]
    centre = _centre(grid)
    if not centre:
        return ""
    values: dict[tuple, list[float]] = {}
    for r in grid:
        point = _place(r, centre)
        if point is not None:
            values.setdefault((r.params.get("task.variant"), point, _reading(r)), []).append(r.metrics[METRIC])
    points = [()] + sorted({p for (_, p, _) in values if p}, key=lambda p: (list(KNOBS).index(p[0]), str(p[1])))
    about = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in centre.items())
    out = [
        "<h3>Robustness: online - offline success rate, one choice at a time</h3>",
        f"<p>Centre: {html.escape(about)}. Each row moves one choice; a gap in bold clears {CLEARS * 100:g} points over its "
        "whole 95% interval (Welch, over seeds; n = online/offline seeds).</p>",
    ]
    for variant, name in VARIANTS:
        rows = []
        for point in points:
            offline = values.get((variant, point if not point or point[0] not in ONLINE_KNOBS else (), "offline"), [])
            label = "centre" if not point else f"{point[0]} = {point[1]:g}" if isinstance(point[1], float) else f"{point[0]} = {point[1]}"
            cols = [html.escape(label), _fmt(offline)] + [_gap(values.get((variant, point, reading), []), offline) for reading, _ in READINGS]
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cols) + "</tr>")
        head = "".join(f"<th>{html.escape(h)}</th>" for h in ["point", "offline success"] + [f"gap: {label}" for label, _ in READINGS])
        out.append(f"<h4>{html.escape(name)}</h4><table><tr>{head}</tr>{''.join(rows)}</table>")
    return "".join(out)


def _fmt(values: list[float]) -> str:
    if not values:
        return "not run"
    mean, lo, hi = mean_ci(values)
    return f"{mean:.3f} [{lo:.3f}, {hi:.3f}] <small>n={len(values)}</small>"


def render(runs: list[RunRecord], history=None) -> str:
    """The section: plot, numbers, sensitivity table and the runs behind them (no histories needed)."""
    headers = ["MLflow run", "cell", "variant", "algorithm", "seed", METRIC]

    def cells(r: RunRecord) -> list[str]:
        algorithm = f"{r.params.get('algorithm', '')} {r.params.get('hp.form', '')}"
        return [
            f"<code>{html.escape(r.run_id)}</code>", f"<code>{html.escape(r.cell)}</code>",
            *map(html.escape, (r.params.get("task.variant", ""), algorithm, r.params.get("seed", ""))),
            f"{r.metrics.get(METRIC, float('nan')):.4f}",
        ]

    return plot_svg(runs) + table_html(runs) + sensitivity_html(runs) + robustness_html(runs) + runs_details(runs, headers, cells)
