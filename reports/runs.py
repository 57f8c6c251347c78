"""Reading results back from MLflow: the FINISHED run that stands for each cell of an experiment,
and, for the learning-curve figures only, the step-by-step history of some of their metrics.

A cell may have several FINISHED runs (``bench run --force``, a second machine, or a run someone
else logged with the cell's hash). They stand for one result only when they agree on what they
computed: the same trained parameters (tag ``bench.params_sha256``, where the cell logs one; timing
cells do not) and the same code (tag ``bench.code``, else ``bench.git_commit``). Then the newest
is used. Otherwise the cell is a :class:`Conflict`: no figure or claim uses it, and the report
lists it with what differs, so that a person decides which run is right.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from itertools import groupby

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from mlflow.tracking import MlflowClient  # noqa: E402

# Params a run may lack that still have a meaning: an "mle" cell is entropy-regularised MLE (and
# IQLearn) at lam = 0, and offline algorithms mix in no policy samples (alpha = 0). With these
# defaults, {"hp.lam": 0} selects MLE cells beside ent-reg/IQLearn cells logged with lam 0.
DEFAULT_PARAMS = {"hp.lam": "0", "hp.alpha": "0"}
# The tags that say what a run computed: the hash of its trained parameters, and its code (bench.code,
# "<commit>" or "<commit>+dirty.<hash>", where the harness logs it; the plain git commit before that).
PARAMS_TAG = "bench.params_sha256"
CODE_TAGS = ("bench.code", "bench.git_commit")


def number(text) -> float | None:
    """``text`` as a float, None when it is absent, not a number or NaN."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def same_value(a, b) -> bool:
    """Equal as text, or as numbers (params are logged as text: "0.0", "0" and 0 are one value)."""
    if str(a) == str(b):
        return True
    x, y = number(a), number(b)
    return x is not None and y is not None and x == y


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    cell: str
    figure: str
    params: dict
    tags: dict
    metrics: dict  # latest value of each metric
    start_time: int

    def param(self, name: str):
        """The param ``name`` as logged (text), ``figure`` for the figure tag, else its default (or None)."""
        if name == "figure":
            return self.figure
        return self.params.get(name, DEFAULT_PARAMS.get(name))

    def matches(self, where: dict) -> bool:
        """True when every key of ``where`` has this run's value (param, default or ``figure``),
        compared as text or, when both are numbers, as numbers; a tuple, list or set of values
        means any one of them."""
        def ok(have, want) -> bool:
            wants = want if isinstance(want, (tuple, list, set, frozenset)) else (want,)
            return have is not None and any(same_value(have, w) for w in wants)

        return all(ok(self.param(k), v) for k, v in where.items())


def code_identity(run: RunRecord) -> str:
    """The code a run ran: its ``bench.code`` tag, else its ``bench.git_commit``, else "unknown"."""
    return next((run.tags[t] for t in CODE_TAGS if run.tags.get(t)), "unknown")


def params_hash(run: RunRecord) -> str | None:
    """The hash of the run's trained parameters, None for a cell that logs none (timing cells)."""
    return run.tags.get(PARAMS_TAG)


@dataclass(frozen=True)
class Conflict:
    """A cell whose FINISHED runs disagree: ``runs`` newest first, ``differs`` names what differs
    ("trained parameters", "code"). A run without a parameters hash differs from one with it."""

    cell: str
    runs: tuple
    differs: tuple


def disagreement(runs: list[RunRecord]) -> tuple[str, ...]:
    """What the FINISHED runs of one cell disagree on: () when they stand for one result."""
    checks = (("trained parameters", params_hash), ("code", code_identity))
    return tuple(name for name, key in checks if len({key(r) for r in runs}) > 1)


def represent(runs: list[RunRecord]) -> RunRecord | Conflict:
    """The run that stands for a cell given all its FINISHED runs: the newest when they agree, else a Conflict."""
    ordered = tuple(sorted(runs, key=lambda r: r.start_time, reverse=True))
    differs = disagreement(list(ordered))
    return Conflict(ordered[0].cell, ordered, differs) if differs else ordered[0]


class Runs(list):
    """The runs that stand for cells (a list of RunRecord), with ``conflicts``: the cells left out because
    their runs disagree (for the report to list)."""

    def __init__(self, records=(), conflicts=()):
        super().__init__(records)
        self.conflicts = list(conflicts)


def resolve(records: list[RunRecord]) -> Runs:
    """One run per cell hash (:func:`represent`), oldest first; cells whose runs disagree go to ``conflicts``."""
    chosen = [represent(list(group)) for _, group in groupby(sorted(records, key=lambda r: r.cell), key=lambda r: r.cell)]
    return Runs(
        sorted((c for c in chosen if isinstance(c, RunRecord)), key=lambda r: r.start_time),
        [c for c in chosen if isinstance(c, Conflict)],
    )


def load_runs(experiment: str, uri: str | None = None) -> Runs:
    """The FINISHED runs of ``experiment`` that stand for its cells, one per cell hash, and its conflicts
    (:func:`resolve`); empty if the experiment does not exist."""
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return Runs()
    records, token = [], None
    while True:
        page = client.search_runs([found.experiment_id], "attributes.status = 'FINISHED'", max_results=1000, page_token=token)
        records += [
            RunRecord(
                run_id=run.info.run_id, cell=run.data.tags["bench.cell"], figure=run.data.tags.get("bench.figure", ""),
                params=dict(run.data.params), tags=dict(run.data.tags), metrics=dict(run.data.metrics),
                start_time=run.info.start_time,
            )
            for run in page if "bench.cell" in run.data.tags
        ]
        token = page.token
        if not token:
            return resolve(records)


def load_histories(run_ids, metrics, uri: str | None = None) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """run id -> metric -> [(step, value), ...] sorted by step, for every metric the run logged.

    One MLflow call per (run, metric), so only the learning-curve figures ask for it. When a
    step was logged twice, the later value wins (as for the latest value of a metric).
    """
    client = MlflowClient(uri)
    out: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for run_id in run_ids:
        per_metric = {}
        for metric in metrics:
            points = sorted(client.get_metric_history(run_id, metric), key=lambda m: (m.step, m.timestamp))
            if points:
                per_metric[metric] = sorted({m.step: m.value for m in points}.items())
        out[run_id] = per_metric
    return out


def place(runs: list[RunRecord], expected: list[tuple[str, str]]) -> list[RunRecord]:
    """The runs of a suite's cells, one record per figure that lists the cell (``expected``: (cell hash,
    figure) pairs). A cell shared by figures runs once, tagged with one of them, and feeds each; runs
    of cells the suite no longer lists are left out."""
    figures: dict[str, list[str]] = {}
    for cell, figure in expected:
        figures.setdefault(cell, [])
        if figure not in figures[cell]:
            figures[cell].append(figure)
    placed = {(r.run_id, f): replace(r, figure=f) for r in runs for f in figures.get(r.cell, [])}
    return list(placed.values())  # one record per (run, figure), so placing placed runs changes nothing
