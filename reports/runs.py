"""Reading results back from MLflow: the newest FINISHED run of each cell of an experiment,
and, for the learning-curve figures only, the step-by-step history of some of their metrics."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from mlflow.tracking import MlflowClient  # noqa: E402

# Params a run may lack that still have a meaning: an "mle" cell is entropy-regularised MLE (and
# IQLearn) at lam = 0, and offline algorithms mix in no policy samples (alpha = 0). With these
# defaults, {"hp.lam": 0} selects MLE cells beside ent-reg/IQLearn cells logged with lam 0.
DEFAULT_PARAMS = {"hp.lam": "0", "hp.alpha": "0"}


def _number(text) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def same_value(a, b) -> bool:
    """Equal as text, or as numbers (params are logged as text: "0.0", "0" and 0 are one value)."""
    if str(a) == str(b):
        return True
    x, y = _number(a), _number(b)
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


def load_runs(experiment: str, uri: str | None = None) -> list[RunRecord]:
    """FINISHED runs of ``experiment``, one per cell hash (the newest); [] if it does not exist."""
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    newest: dict[str, RunRecord] = {}
    token = None
    while True:
        page = client.search_runs([found.experiment_id], "attributes.status = 'FINISHED'", max_results=1000, page_token=token)
        for run in page:
            tags = run.data.tags
            if "bench.cell" not in tags:
                continue
            record = RunRecord(
                run_id=run.info.run_id, cell=tags["bench.cell"], figure=tags.get("bench.figure", ""),
                params=dict(run.data.params), tags=dict(tags), metrics=dict(run.data.metrics), start_time=run.info.start_time,
            )
            if record.cell not in newest or record.start_time > newest[record.cell].start_time:
                newest[record.cell] = record
        token = page.token
        if not token:
            return sorted(newest.values(), key=lambda r: r.start_time)


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
