"""MLflow as the results store: one run per cell, found again by the cell's hash.

Tracking URI: MLFLOW_TRACKING_URI if set, else MLflow's own default (a SQLite store
``mlflow.db`` in the working directory, artifacts under ``./mlruns``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import traceback
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from bench.cells import Cell  # noqa: E402
from bench.registry import BenchError  # noqa: E402

PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy", "scipy", "mlflow")
_BATCH = 900  # MLflow accepts at most 1000 entries per log_batch call


def tracking_uri() -> str:
    return mlflow.get_tracking_uri()


def check_reachable(uri: str) -> None:
    """Fail before any training when the store cannot be used, naming the URI and the fix."""
    fix = "start the server or point MLFLOW_TRACKING_URI at a reachable store (unset it to use ./mlflow.db)"
    if uri.startswith(("http://", "https://")):
        import requests

        try:
            requests.get(uri.rstrip("/") + "/health", timeout=5).raise_for_status()
        except requests.RequestException as err:
            raise BenchError(f"cannot reach the MLflow tracking server at {uri} ({type(err).__name__}); {fix}.") from None
        return
    if uri.startswith("sqlite:///"):
        folder = Path(uri[len("sqlite:///") :]).parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise BenchError(f"cannot write the MLflow SQLite store {uri}: folder {folder} is missing or read-only; {fix}.")
    try:
        MlflowClient(uri).search_experiments(max_results=1)
    except Exception as err:  # any backend error means the store is unusable
        raise BenchError(f"cannot use the MLflow tracking store {uri} ({type(err).__name__}: {err}); {fix}.") from None


@lru_cache(maxsize=1)
def provenance() -> dict[str, str]:
    """Git commit of the harness, package versions and the devices JAX sees."""
    import jax

    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return {
        "bench.git_commit": (commit or "unknown") + ("+dirty" if dirty else ""),
        "bench.versions": json.dumps(versions, sort_keys=True),
        "bench.devices": ", ".join(sorted({f"{d.platform}:{d.device_kind}" for d in jax.devices()})) + f" x{jax.device_count()}",
    }


@dataclass
class Store:
    """The runs of one suite: an MLflow experiment named after the suite."""

    client: MlflowClient
    experiment_id: str
    suite: str

    @classmethod
    def open(cls, suite: str, uri: str | None = None) -> "Store":
        uri = uri or tracking_uri()
        check_reachable(uri)
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name(suite)
        if experiment is None:
            experiment_id = client.create_experiment(suite)
        elif experiment.lifecycle_stage != "active":
            raise BenchError(f"the MLflow experiment {suite!r} at {uri} is deleted; restore it or use another store.")
        else:
            experiment_id = experiment.experiment_id
        return cls(client, experiment_id, suite)

    def finished_cells(self) -> dict[str, str]:
        """cell hash -> run id of its newest FINISHED run."""
        out: dict[str, tuple[int, str]] = {}
        for run in self.runs("attributes.status = 'FINISHED'"):
            cell = run.data.tags.get("bench.cell")
            if cell and (cell not in out or run.info.start_time > out[cell][0]):
                out[cell] = (run.info.start_time, run.info.run_id)
        return {cell: run_id for cell, (_, run_id) in out.items()}

    def runs(self, filter_string: str = "") -> list:
        runs, token = [], None
        while True:
            page = self.client.search_runs([self.experiment_id], filter_string, max_results=1000, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def start(self, cell: Cell, figure: str) -> str:
        tags = {
            "bench.cell": cell.hash, "bench.task": cell.task, "bench.algorithm": cell.algorithm,
            "bench.model": cell.model, "bench.seed": str(cell.seed), "bench.figure": figure,
            "bench.suite": self.suite, "bench.config": json.dumps(cell.config(), sort_keys=True),
        } | provenance()
        run = self.client.create_run(self.experiment_id, tags=tags, run_name=cell.label()[:250])
        try:
            self.client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in cell.flat().items()])
        except BaseException:  # an interrupt (or a store error) right after creation: never leave it RUNNING
            self.kill(run.info.run_id)
            raise
        return run.info.run_id

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        for i in range(0, len(batch), _BATCH):
            self.client.log_batch(run_id, metrics=batch[i : i + _BATCH])

    def log_artifacts(self, run_id: str, artifacts: dict[str, Any]) -> None:
        for name, content in artifacts.items():
            if name.endswith(".json"):
                self.client.log_dict(run_id, content, name)
            else:
                self.client.log_text(run_id, str(content), name)

    def finish(self, run_id: str) -> None:
        self.client.set_terminated(run_id, "FINISHED")

    def fail(self, run_id: str, error: BaseException) -> None:
        """Record a failed cell: FAILED status, the error as a tag and the traceback as an artifact."""
        message = f"{type(error).__name__}: {error}"
        self.client.log_batch(run_id, tags=[RunTag("bench.error", message[:4000])])
        self.client.log_text(run_id, "".join(traceback.format_exception(error)), "error.txt")
        self.client.set_terminated(run_id, "FAILED")

    def kill(self, run_id: str) -> None:
        self.client.set_terminated(run_id, "KILLED")
