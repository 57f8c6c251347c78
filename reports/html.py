"""The reproducibility report: one self-contained HTML page built only from MLflow runs."""

from __future__ import annotations

import datetime as dt
import html
import json
from collections import Counter
from functools import partial

from bench import redact
from reports import fig11, sections, tables, text_cells
from reports.htmlkit import table
from reports.claims import Verdict, evaluate
from reports.references import CLAIMS
from reports.runs import Conflict, RunRecord, code_identity, load_histories, params_hash, place
from tasks.text import TEXT_TASKS

# section id -> (what renders it, figure tags whose cells it shows), in the paper's order. A
# section is a module or an object with TITLE, PAPER and render(runs, history); table sections
# also give row_verdicts(runs).
def _spec(section) -> tuple:
    return section.id, (section, section.members)


FIGURES = dict([
    *map(_spec, (sections.FIG2, sections.FIG3, sections.FIG4, sections.FIG5, sections.FIG6, sections.FIG7, sections.FIG8,
                 sections.FIG9, sections.FIG10)),
    ("fig11", (fig11, ("fig11", "fig11_sensitivity", "fig11_robustness"))),
    *map(_spec, (sections.FIG12, tables.TABLE1, tables.TABLE2, tables.TABLE5, sections.ARITH)),
    ("text-smoke", (text_cells, ("text-smoke",))),
])

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#f4f4f4}.pass{background:#d8f5d8}.fail{background:#f8d4d4}.inconclusive{background:#fbf0c8}
.notrun{background:#eee;color:#666}.paper{font-style:italic}svg{max-width:100%;height:auto}code{background:#f4f4f4;padding:0 .2em}small{color:#666}
details{margin:.5em 0}section{border-top:2px solid #ddd;margin-top:1.5em}
"""


def _cls(verdict: str) -> str:
    return verdict.replace(" ", "")


def summarise(verdicts: list[Verdict]) -> str:
    if not verdicts:
        return "no checks"
    counts = Counter(v.verdict for v in verdicts)
    return ", ".join(f"{counts[k]} {k}" for k in ("pass", "fail", "inconclusive", "not run") if counts[k])


def summarise_rows(row_verdicts: list[str]) -> str:
    """A table section's rows against the paper, e.g. "rows: 3 within tolerance, 17 not run"."""
    counts = Counter(row_verdicts)
    return "rows: " + ", ".join(f"{counts[k]} {k}" for k in tables.ROW_VERDICTS if counts[k]) if row_verdicts else ""


def verdicts_for(runs: list[RunRecord], figure: str | None = None) -> list[Verdict]:
    return [evaluate(c, runs) for c in CLAIMS if figure is None or c.figure == figure]


def suite_verdicts(runs: list[RunRecord], tags) -> list[Verdict]:
    """The verdicts of the claims of every section that reads one of the figure ``tags`` (a suite's
    cells): Figure 9's claims are checked when a suite has fig3 cells, Figure 10's with fig4."""
    wanted = {section for section, (_, members) in FIGURES.items() if set(members) & set(tags)}
    return [evaluate(c, runs) for c in CLAIMS if c.figure in wanted]


def _checks_table(verdicts: list[Verdict]) -> str:
    if not verdicts:
        return "<p>No claim of the paper is checked on these cells.</p>"
    return table(["verdict", "claim", "measured", "paper"], [
        (_cls(v.verdict), [
            f"<b>{v.verdict}</b>", f"{html.escape(v.claim.text)}<br><small>{v.claim.id}</small>",
            f"{html.escape(v.measured())}<br><small>{html.escape(v.detail)}</small>", f"<small>{html.escape(v.claim.reference)}</small>",
        ])
        for v in verdicts
    ])


def _data_sources(runs: list[RunRecord]) -> str:
    """Where each task's data came from, with the caveats a reader must know."""
    lines = []
    for name in sorted({r.params.get("task", "") for r in runs}):
        if name == "toy_mdp":
            lines.append("toy_mdp: synthetic, generated from its definition (tasks/toy_mdp.py); no data files.")
        elif name in TEXT_TASKS:
            caveat = TEXT_TASKS[name].caveat or "no caveat recorded"
            lines.append(f"{name}: local JSON Lines under BENCH_DATA_DIR or the Hugging Face hub. {caveat}")
    return "<br>".join(html.escape(line) for line in lines) or "none"


def _versions(text: str) -> str:
    """A run's ``bench.versions`` tag (JSON {package: version}) as "jax 0.10.2, ..."; any other text as it is."""
    try:
        found = json.loads(text)
    except ValueError:
        return text
    return ", ".join(f"{k} {v}" for k, v in found.items()) if isinstance(found, dict) else text


def _provenance(runs: list[RunRecord], uri: str) -> str:
    """Where the numbers come from: the store (credentials masked: the page is meant to be shared), code, packages,
    devices, data."""
    def distinct(values) -> str:
        return ", ".join(sorted(set(values))) or "none"

    version_text = "; ".join(sorted({_versions(r.tags.get("bench.versions", "{}")) for r in runs})) or "none"
    return (
        "<section><h2>Provenance</h2><table>"
        f"<tr><th>tracking store</th><td><code>{html.escape(redact.uri(uri))}</code></td></tr>"
        f"<tr><th>code</th><td>{html.escape(distinct(map(code_identity, runs)))}</td></tr>"
        f"<tr><th>packages</th><td>{html.escape(version_text)}</td></tr>"
        f"<tr><th>devices</th><td>{html.escape(distinct(r.tags.get('bench.devices', 'unknown') for r in runs))}</td></tr>"
        f"<tr><th>data</th><td>{_data_sources(runs)}</td></tr>"
        f"<tr><th>built</th><td>{dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}</td></tr>"
        "</table></section>"
    )


def _started(run: RunRecord) -> str:
    return dt.datetime.fromtimestamp(run.start_time / 1000, dt.timezone.utc).isoformat(timespec="seconds")


def _conflicts(conflicts: list[Conflict], expected: list[tuple[str, str]]) -> str:
    """The suite's cells whose finished runs disagree (reports/runs.py), each with its runs and what differs,
    and how to settle them; a line saying there are none otherwise."""
    figures: dict[str, list[str]] = {}
    for cell, figure in expected:
        figures.setdefault(cell, []).append(figure)
    listed = [c for c in conflicts if c.cell in figures]
    if not listed:
        return ("<p id='conflicts'>Conflicts: none. Every cell is shown with the one finished run it used (the runs "
                "listed in each section); a cell's reruns agree on their trained parameters and code.</p>")
    rows = [("fail", [
        f"<code>{html.escape(c.cell)}</code><br><small>{html.escape(', '.join(dict.fromkeys(figures[c.cell])))}</small>",
        html.escape(" and ".join(c.differs)),
        "<br>".join(
            f"<code>{html.escape(r.run_id)}</code> <small>started {_started(r)}; code {html.escape(code_identity(r))}; "
            f"parameters {html.escape(params_hash(r) or 'no hash')}</small>" for r in c.runs
        ),
    ]) for c in listed]
    return (
        f"<section id='conflicts'><h2>Conflicts: {len(listed)} cell{'s' if len(listed) > 1 else ''} left out</h2>"
        "<p>Each of these cells has several finished runs that disagree on what they computed (their trained "
        "parameters, tag <code>bench.params_sha256</code>, or their code, tag <code>bench.code</code> or "
        "<code>bench.git_commit</code>), so no figure, table or claim uses them. A cell rerun with "
        "<code>--force</code> after a code change lands here too. To settle one, keep the run that is right and "
        "delete the others in MLflow (the UI, or <code>mlflow runs delete --run-id ID</code>), or rerun the suite "
        "into a new tracking store.</p>"
        f"{table(['cell', 'differs in', 'finished runs, newest first'], rows)}</section>"
    )


def _not_run(suite: str, figure: str, members: tuple, total: int) -> str:
    tags = figure if figure in members else members[0]  # Figure 9 is run as fig3, Figure 10 as fig4
    if total:
        return f"<p class='notrun'>not run. Run it with <code>bench run --suite {html.escape(suite)} --filter figure={tags}</code></p>"
    return (
        f"<p class='notrun'>not run: suite <code>{html.escape(suite)}</code> defines no cells for it. A suite that does "
        f"runs it with <code>bench run --suite SUITE --filter figure={tags}</code> (<code>bench list</code> names the suites).</p>"
    )


def build(suite: str, runs: list[RunRecord], expected: list[tuple[str, str]], uri: str, history=None,
          conflicts: list[Conflict] | None = None) -> str:
    """The page for ``suite``: an overview, the cells in conflict, one section per figure and table of the
    paper, provenance.

    ``expected`` lists (cell hash, figure) of every cell the suite defines, so the page can say
    what is done and what is missing; ``runs`` are the FINISHED runs read from MLflow, one per cell
    (reports.runs.load_runs), and ``conflicts`` the cells left out because their runs disagree
    (default: ``runs.conflicts`` where load_runs gave them). Every section is shown, those the suite
    has no cells for as "not run". ``history(run_ids, metrics)`` gives metric histories to the
    learning-curve figures (default: read from ``uri``).
    """
    history = history or partial(load_histories, uri=uri)
    conflicts = getattr(runs, "conflicts", []) if conflicts is None else conflicts
    runs = place(runs, expected)
    done = {r.cell for r in runs}
    overview, sections = [], []
    for figure, (module, members) in FIGURES.items():
        total = sum(1 for _, f in expected if f in members)
        finished = sum(1 for h, f in expected if f in members and h in done)
        fig_runs = [r for r in runs if r.figure in members]
        verdicts = verdicts_for(runs, figure)
        rows = module.row_verdicts(fig_runs) if hasattr(module, "row_verdicts") else []
        checks = "; ".join(t for t in (summarise(verdicts) if verdicts or not rows else "", summarise_rows(rows)) if t)
        overview.append(
            f"<tr><td><a href='#{figure}'>{html.escape(module.TITLE)}</a></td><td>{finished} / {total}</td><td>{checks}</td></tr>"
        )
        body = module.render(fig_runs, history) if fig_runs else _not_run(suite, figure, members, total)
        paper = f"<p class='paper'><b>Paper:</b> {html.escape(module.PAPER)}</p>" if module.PAPER else ""
        sections.append(
            f"<section id='{figure}'><h2>{html.escape(module.TITLE)}</h2>{paper}{body}<h3>Checks</h3>{_checks_table(verdicts)}</section>"
        )
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Reproducibility report: {html.escape(suite)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>Reproducibility report: suite <code>{html.escape(suite)}</code></h1>"
        "<p>Wulfmeier et al., <i>Imitating Language via Scalable Inverse Reinforcement Learning</i> (NeurIPS 2024), "
        "regenerated from the MLflow runs of this suite. Verdicts: pass / fail / inconclusive / not run; "
        "a failed reproduction is shown as such.</p>"
        f"<table><tr><th>figure</th><th>cells done / total</th><th>checks</th></tr>{''.join(overview)}</table>"
        f"{_conflicts(conflicts, expected)}{''.join(sections)}{_provenance(runs, uri)}</body></html>"
    )
