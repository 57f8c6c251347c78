"""Drawing: a grid of axes, each a few lines, rendered by matplotlib (Agg) as inline SVG.

This module knows nothing of runs or the paper; reports/figures.py turns runs into
:class:`Axes` and the statistics behind them. Colours follow a line's ``key`` (its series), so
one series has one colour in every panel of a figure.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLES = ("points", "band", "reference", "hline")
_PALETTE = plt.get_cmap("tab10").colors


@dataclass
class Line:
    """One series of one panel.

    style ``points``: markers joined in x order with error bars ``xerr`` / ``yerr`` (either may be
    None); ``band``: a line with a shaded band y +- yerr; ``reference``: the paper's values,
    dashed black with crosses and no error bars; ``hline``: a dotted horizontal line at y[0]
    (e.g. beam search beside a temperature sweep). ``notes`` label the points (e.g. their lambda).
    """

    label: str
    x: list
    y: list
    xerr: list | None = None
    yerr: list | None = None
    style: str = "points"
    notes: list = field(default_factory=list)
    key: str = ""  # the colour follows this key (default: the label)


@dataclass
class Axes:
    title: str
    xlabel: str
    ylabel: str
    lines: list
    xscale: str = "linear"


def to_svg(fig) -> str:
    """The figure as an inline <svg> element (the XML prologue dropped); closes the figure."""
    out = io.StringIO()
    fig.savefig(out, format="svg")
    plt.close(fig)
    svg = out.getvalue()
    return svg[svg.index("<svg") :]


def _plain(text: str) -> str:
    """``text`` drawn as it is: labels come from the runs' params, where a ``$`` would start matplotlib's
    mathtext (and a malformed formula stop the whole report)."""
    return text.replace("$", r"\$")


def _colours(grid: list[list[Axes]]) -> dict[str, tuple]:
    keys = []
    for row in grid:
        for axes in row:
            for line in axes.lines:
                key = line.key or line.label
                if line.style != "reference" and key not in keys:
                    keys.append(key)
    return {k: _PALETTE[i % len(_PALETTE)] for i, k in enumerate(keys)}


def _draw(ax, line: Line, colour) -> None:
    if line.style not in STYLES:
        raise ValueError(f"line {line.label!r}: unknown style {line.style!r}; use one of {STYLES}.")
    label = _plain(line.label)
    if line.style == "points":
        ax.errorbar(line.x, line.y, xerr=line.xerr, yerr=line.yerr, fmt="-o", ms=4, lw=1.2, capsize=2, color=colour, label=label)
        for x, y, note in zip(line.x, line.y, line.notes):
            ax.annotate(_plain(note), (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6, color=colour)
    elif line.style == "band":
        ax.plot(line.x, line.y, lw=1.4, color=colour, label=label)
        if line.yerr is not None:
            lo = [y - e for y, e in zip(line.y, line.yerr)]
            hi = [y + e for y, e in zip(line.y, line.yerr)]
            ax.fill_between(line.x, lo, hi, color=colour, alpha=0.2, lw=0)
    elif line.style == "reference":
        ax.plot(line.x, line.y, ls="--", marker="x", ms=5, lw=1, color="black", label=label)
    else:
        ax.axhline(line.y[0], ls=":", lw=1.4, color=colour, label=label)


def grid_svg(grid: list[list[Axes]], title: str = "") -> str:
    """Rows x columns of panels with one legend for the whole figure, below it."""
    rows, cols = len(grid), max(len(r) for r in grid)
    fig, axs = plt.subplots(rows, cols, figsize=(0.6 + 3.6 * cols, 0.9 + 2.9 * rows), squeeze=False, layout="constrained")
    colours = _colours(grid)
    for i, row in enumerate(grid):
        for j in range(cols):
            ax = axs[i][j]
            if j >= len(row):
                ax.set_visible(False)
                continue
            axes = row[j]
            for line in axes.lines:
                _draw(ax, line, colours.get(line.key or line.label, "black"))
            if not axes.lines:
                ax.text(0.5, 0.5, "no runs", ha="center", va="center", transform=ax.transAxes, color="#888")
            ax.set_xscale(axes.xscale)
            ax.set_title(_plain(axes.title), fontsize=9)
            ax.set_xlabel(_plain(axes.xlabel), fontsize=8)
            ax.set_ylabel(_plain(axes.ylabel), fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
    handles, labels = {}, []
    for ax in axs.flat:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in handles:
                handles[label] = h
                labels.append(label)
    if labels:
        fig.legend([handles[k] for k in labels], labels, loc="outside lower center", ncol=min(4, len(labels)), fontsize=8)
    if title:
        fig.suptitle(_plain(title), fontsize=10)
    return to_svg(fig)
