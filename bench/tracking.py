"""MLflow as the results store: one run per cell, found again by the cell's hash.

Tracking URI: MLFLOW_TRACKING_URI if set, else MLflow's own default (a SQLite store
``mlflow.db`` in the working directory, artifacts under ``./mlruns``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import traceback
from contextlib import contextmanager
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
# A RUNNING run is live while its process beats: the runner sets the tag bench.heartbeat every HEARTBEAT_S
# seconds; a run whose last beat is older than the lease ($BENCH_LEASE_S) is taken for dead, and so is one
# owned by a process of this host that no longer exists (no need to wait for the lease after a crash here).
HEARTBEAT_S = 60.0
LEASE_S = 600.0


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
        with _setup_lock(uri):  # the first use creates the tables
            MlflowClient(uri).search_experiments(max_results=1)
    except Exception as err:  # any backend error means the store is unusable
        raise BenchError(f"cannot use the MLflow tracking store {uri} ({type(err).__name__}: {err}); {fix}.") from None


def _create_experiment(client: MlflowClient, name: str):
    try:
        client.create_experiment(name)
    except Exception as err:  # another process created it meanwhile (a server store), else a real error
        if client.get_experiment_by_name(name) is None:
            raise BenchError(f"cannot create the MLflow experiment {name!r} at {client.tracking_uri}: {err}") from None
    return client.get_experiment_by_name(name)


@contextmanager
def _setup_lock(uri: str):
    """Serialise creating a SQLite store's tables and experiments between processes on this machine: two
    `bench run`s starting at once on a new mlflow.db would otherwise both run MLflow's schema migration,
    and one fails. A server store (http) serialises that itself."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    import filelock

    with filelock.FileLock(uri[len("sqlite:///") :] + ".lock", timeout=300):
        yield


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
        with _setup_lock(uri):
            experiment = client.get_experiment_by_name(suite) or _create_experiment(client, suite)
        if experiment.lifecycle_stage != "active":
            raise BenchError(f"the MLflow experiment {suite!r} at {uri} is deleted; restore it or use another store.")
        return cls(client, experiment.experiment_id, suite)

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
            "bench.owner": owner(), "bench.heartbeat": f"{time.time():.3f}",
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

    def status(self, run_id: str) -> str | None:
        """The run's status (FINISHED, RUNNING, ...), None when the store has no such run."""
        try:
            return self.client.get_run(run_id).info.status
        except Exception:
            return None

    def cell_runs(self, cell_hash: str) -> list:
        return self.runs(f"tags.`bench.cell` = '{cell_hash}'")

    def claim(self, cell: Cell, figure: str, *, since_ms: int | None = None) -> str | None:
        """Start a run for ``cell`` unless another process has it; returns the run id, or None when it lost.

        MLflow has no compare-and-set, so the claim is create-then-look: every contender first creates
        its RUNNING run, then reads all runs of the cell. It loses (and deletes its run) if the cell has a
        FINISHED run (with ``since_ms``: one started at or after then, as ``--force`` reruns older ones),
        or a live RUNNING run that started before its own (ties by run id). Each contender sees the others
        that created their runs before it looked, so exactly one of any set of concurrent contenders wins.
        The winner marks runs left RUNNING by dead processes KILLED."""
        run_id = self.start(cell, figure)
        try:
            now = time.time()
            runs = self.cell_runs(cell.hash)
            done = [r for r in runs if r.info.status == "FINISHED" and (since_ms is None or r.info.start_time >= since_ms)]
            running = [r for r in runs if r.info.status == "RUNNING"]
            live = [r for r in running if r.info.run_id == run_id or is_live(r.data.tags, now)]
            winner = min(live, key=lambda r: (r.info.start_time, r.info.run_id), default=None)
            if done or winner is None or winner.info.run_id != run_id:
                self.client.delete_run(run_id)
                return None
            for dead in {r.info.run_id for r in running} - {r.info.run_id for r in live}:
                self.client.set_tag(dead, "bench.superseded_by", run_id)
                self.kill(dead)
        except BaseException:  # never leave a claim RUNNING behind an interrupt or a store error
            self.kill(run_id)
            raise
        return run_id

    @contextmanager
    def heartbeat(self, run_id: str, every: float = HEARTBEAT_S):
        """Beat for ``run_id`` from a background thread while the block runs (compilation and long
        evaluations hold the main thread for minutes; JAX releases the GIL meanwhile)."""
        stop = threading.Event()

        def beat():
            while not stop.wait(every):
                try:
                    self.client.set_tag(run_id, "bench.heartbeat", f"{time.time():.3f}")
                except Exception:  # a missed beat only brings the end of the lease closer
                    pass

        thread = threading.Thread(target=beat, name=f"heartbeat-{run_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def adopt(self, run_id: str, source_run_id: str | None, until_ms: int, step: int) -> int:
        """Make ``run_id`` the continuation of ``source_run_id`` from a checkpoint at ``step`` saved at ``until_ms``:
        copy the metric points the source logged up to the save (the resumed trainer logs the rest again) and
        tag both runs. Returns the number of points copied."""
        self.client.log_batch(run_id, tags=[RunTag("bench.resumed_from", source_run_id or "unknown"), RunTag("bench.resumed_at_step", str(step))])
        if not source_run_id:
            return 0
        try:
            source = self.client.get_run(source_run_id)
        except Exception:  # the run was deleted: the checkpoint alone carries the state
            return 0
        points = [
            m for key in source.data.metrics
            for m in self.client.get_metric_history(source_run_id, key) if m.timestamp <= until_ms
        ]
        for i in range(0, len(points), _BATCH):
            self.client.log_batch(run_id, metrics=points[i : i + _BATCH])
        if source.info.status != "FINISHED":
            self.client.set_tag(source_run_id, "bench.superseded_by", run_id)
        return len(points)

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

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

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


def owner() -> str:
    """This process as a run's owner: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_s() -> float:
    return float(os.environ.get("BENCH_LEASE_S", LEASE_S))


def is_live(tags: dict, now: float) -> bool:
    """Whether a RUNNING run's owner is still at work: its last heartbeat is within the lease and, when the owner
    is a process of this host, that process exists. Runs without an owner (from before claims) count as dead."""
    host, _, pid = tags.get("bench.owner", "").rpartition(":")
    try:
        fresh = now - float(tags["bench.heartbeat"]) < lease_s()
    except (KeyError, ValueError):
        return False
    if host != socket.gethostname() or not pid.isdigit():
        return fresh
    return fresh and _process_exists(int(pid))


def _process_exists(pid: int) -> bool:
    """A process with this pid exists and is not a zombie (a killed child its parent has not reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
