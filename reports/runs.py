"""Reading results back from MLflow: the newest FINISHED run of each cell of an experiment."""

from __future__ import annotations

import os
from dataclasses import dataclass

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from mlflow.tracking import MlflowClient  # noqa: E402


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    cell: str
    figure: str
    params: dict
    tags: dict
    metrics: dict  # latest value of each metric
    start_time: int

    def matches(self, where: dict) -> bool:
        """True when every key of ``where`` equals this run's param (or ``figure``) as text."""
        fields = self.params | {"figure": self.figure}
        return all(str(fields.get(k)) == str(v) for k, v in where.items())


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
