"""Figure 11: success rate of offline and online IQLearn on the toy MDP, with and without recovery."""

from __future__ import annotations

import html

from reports.htmlkit import runs_details
from reports.plots import plt, to_svg
from reports.runs import RunRecord, number
from reports.stats import mean_ci

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

    return plot_svg(runs) + table_html(runs) + sensitivity_html(runs) + runs_details(runs, headers, cells)
