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
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from bench import redact  # noqa: E402
from bench.cells import Cell  # noqa: E402
from bench.registry import BenchError  # noqa: E402

PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy", "scipy", "mlflow")
_BATCH = 900  # MLflow accepts at most 1000 entries per log_batch call
# A RUNNING run is live while its process beats: the runner sets the tag bench.heartbeat every HEARTBEAT_S
# seconds; a run whose last beat is older than the lease ($BENCH_LEASE_S) is taken for dead, and so is one
# owned by a process of this host that no longer exists (no need to wait for the lease after a crash here).
HEARTBEAT_S = 60.0
LEASE_S = 600.0
# A tracking server is probed on this REST endpoint, which its host check and login guard (/health is exempt).
SERVER_PROBE = "/api/2.0/mlflow/experiments/search"
_FIX = "start the server or point MLFLOW_TRACKING_URI at a reachable store (unset it to use ./mlflow.db)"


def tracking_uri() -> str:
    return mlflow.get_tracking_uri()


def check_reachable(uri: str, *, write: bool = True) -> None:
    """Fail before any work when the store cannot be used: one sentence naming the URI (credentials masked) and
    the fix. ``write=True`` (``bench run``): the store must take writes, and a new SQLite store gets its tables
    here. ``write=False`` (``bench report``, ``bench check``): the store must exist and be readable, and nothing
    is created or written, so a read-only store works."""
    shown = redact.uri(uri)
    if uri.startswith(("http://", "https://")):
        _check_server(uri)
        return
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///") :])
        problem = _sqlite_problem(path) if write else _sqlite_read_problem(path)
        if problem:
            raise BenchError(f"cannot {'write' if write else 'read'} the MLflow SQLite store {shown}: {problem}.")
    try:  # reading a store whose tables exist writes nothing (an out-of-date schema is refused here)
        with _setup_lock(uri) if write else nullcontext():  # the first use creates the tables
            MlflowClient(uri).search_experiments(max_results=1)
    except Exception as err:  # any backend error means the store is unusable
        raise BenchError(f"cannot use the MLflow tracking store {shown} ({_first_line(err)}); {_FIX}.") from None


def _first_line(err: BaseException) -> str:
    """``Type: first line of the message`` (at most 300 characters), credentials masked: MLflow's errors run to
    several lines of SQL or HTML."""
    lines = str(err).strip().splitlines()
    return redact.text(f"{type(err).__name__}: {lines[0] if lines else ''}"[:300])


def _sqlite_problem(path: Path) -> str | None:
    """Why a SQLite store at ``path`` cannot take writes, None when it can: SQLite writes its journal next to
    the file, so the folder must be writable as well as the file (when it exists already)."""
    folder = path.parent
    if not folder.is_dir():
        return f"folder {folder} does not exist; create it, or {_FIX}"
    if not os.access(folder, os.W_OK):
        return f"folder {folder} is read-only (SQLite writes its journal beside the file); {_FIX}"
    if path.is_dir():
        return f"{path} is a folder, not a database file; {_FIX}"
    if path.exists() and not os.access(path, os.W_OK):
        return (f"the file {path} is read-only; make it writable (chmod u+w {path}), or {_FIX} "
                "(bench report and bench check can read a read-only store)")
    return None


def _sqlite_read_problem(path: Path) -> str | None:
    """Why a SQLite store at ``path`` cannot be read as an MLflow store, None when it can. Looks through a
    read-only connection (SQLite's ``mode=ro``), so it writes nothing, even where it could; MLflow itself
    would create a missing file, its folders and its tables."""
    import sqlite3

    if not path.is_file():
        return f"there is no file {path}; run `bench run` first, or point MLFLOW_TRACKING_URI at the store that holds the results"
    try:
        with closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as err:
        return f"{path} cannot be read as a SQLite database ({err}); point MLFLOW_TRACKING_URI at an MLflow store"
    if not {"experiments", "runs"} <= tables:
        return f"{path} holds no MLflow tables; point MLFLOW_TRACKING_URI at the store `bench run` wrote"
    return None


def _check_server(uri: str) -> None:
    """Ask the tracking server for one experiment, as every later call would be asked: its REST API is behind
    the server's host check and its login, while ``/health`` is exempt from both (a health probe passes where
    every API call then fails)."""
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    creds = get_default_host_creds(uri.rstrip("/"))
    try:
        response = http_request(creds, SERVER_PROBE, "GET", max_retries=0, timeout=10, raise_on_status=False, params={"max_results": 1})
    except Exception as err:  # MLflow wraps the connection error; its cause names it
        cause = err.__cause__ or err.__context__ or err
        raise BenchError(f"cannot reach the MLflow tracking server at {redact.uri(uri)} ({type(cause).__name__}); {_FIX}.") from None
    login = bool(creds.username and creds.password) or bool(creds.token) or "@" in urlsplit(uri).netloc
    refusal = server_refusal(uri, response.status_code, response.text, login)
    if refusal:
        raise BenchError(refusal)


def server_refusal(uri: str, status: int, body: str, login: bool) -> str | None:
    """One sentence for a tracking server's answer ``status``/``body`` to the experiments search, None for 200.

    ``login``: whether the request carried credentials. The sentence names the server setting or the client
    variable to change: MLflow's host check answers 403 "Invalid Host header" to a Host header outside
    ``--allowed-hosts`` (default: localhost and private IP addresses, so any host *name* is refused), and its
    basic-auth app answers 401 without a valid login."""
    if status == 200:
        return None
    shown, host = redact.uri(uri), urlsplit(uri).netloc.rpartition("@")[2]
    if status == 403 and "Invalid Host header" in body:
        return (f"the MLflow server at {shown} refuses requests addressed to {host} (403 Invalid Host header): start it "
                f"with --allowed-hosts {host} (or MLFLOW_SERVER_ALLOWED_HOSTS={host}), or reach it by an address it allows.")
    if status == 401 and login:
        return (f"the MLflow server at {shown} rejects the login given (401): check MLFLOW_TRACKING_USERNAME and "
                "MLFLOW_TRACKING_PASSWORD (or the user name and password in the URI).")
    if status == 401:
        return (f"the MLflow server at {shown} asks for a login (401): set MLFLOW_TRACKING_USERNAME and "
                "MLFLOW_TRACKING_PASSWORD to an account of its basic-auth app.")
    if status == 403:
        return (f"the MLflow server at {shown} denies this account access (403): ask its admin for READ and EDIT "
                "permission on the suite's experiment, or use another account.")
    detail = " ".join(body.split())[:200]
    return (f"the MLflow server at {shown} answered HTTP {status} to an experiments search ({redact.text(detail)}); "
            f"check that it is an MLflow tracking server and read its log.")


def _create_experiment(client: MlflowClient, name: str):
    try:
        client.create_experiment(name)
    except Exception as err:  # another process created it meanwhile (a server store), else a real error
        if client.get_experiment_by_name(name) is None:
            raise BenchError(f"cannot create the MLflow experiment {name!r} at {redact.uri(client.tracking_uri)}: {_first_line(err)}") from None
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
    """Git commit and code identity of the harness, package versions and the devices JAX sees.

    ``bench.code`` names the code exactly: ``"<commit>"`` for a clean tree, else
    ``"<commit>+dirty.<h>"`` with h = sha256(``git diff HEAD`` | every untracked file's name and content)[:12]
    (:func:`_dirt`), so two runs with equal ``bench.code`` ran the same files. ``"unknown"`` outside a git
    checkout. ``bench.git_commit`` keeps the older, coarser form (``"<commit>+dirty"``)."""
    import jax

    root = Path(__file__).resolve().parent.parent
    commit, dirt = _git(root, "rev-parse", "HEAD").decode().strip(), _dirt(root)
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return {
        "bench.git_commit": (commit or "unknown") + ("+dirty" if dirt else ""),
        "bench.code": (commit or "unknown") + (f"+dirty.{dirt}" if dirt and commit else ""),
        "bench.versions": json.dumps(versions, sort_keys=True),
        "bench.devices": ", ".join(sorted({f"{d.platform}:{d.device_kind}" for d in jax.devices()})) + f" x{jax.device_count()}",
    }


def _git(root: Path, *args: str) -> bytes:
    """The stdout of ``git <args>`` in ``root``; empty when git or the checkout is missing."""
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return b""


UNTRACKED_HASHED_BYTES = 1 << 20  # an untracked file larger than this counts by its name and size only


def _dirt(root: Path) -> str:
    """sha256[:12] of the tree's changes against HEAD, "" for a clean tree: ``git diff HEAD`` (binary, so every
    tracked change counts) then, for each untracked file git does not ignore, its name and content (a file over
    1 MiB by its size; an untracked folder, as git lists it with --directory, by its name)."""
    import hashlib

    diff = _git(root, "diff", "HEAD", "--binary", "--no-color", "--no-ext-diff")
    untracked = [n for n in _git(root, "ls-files", "--others", "--exclude-standard", "--directory", "-z").split(b"\0") if n]
    if not diff and not untracked:
        return ""
    h = hashlib.sha256(diff)
    for name in sorted(untracked):
        h.update(b"\0" + name + b"\0")
        path = root / os.fsdecode(name)
        if path.is_file():
            size = path.stat().st_size
            h.update(path.read_bytes() if size <= UNTRACKED_HASHED_BYTES else f"size={size}".encode())
    return h.hexdigest()[:12]


@dataclass
class Store:
    """The runs of one suite: an MLflow experiment named after the suite."""

    client: MlflowClient
    experiment_id: str
    suite: str

    @classmethod
    def open(cls, suite: str, uri: str | None = None) -> "Store":
        """The suite's experiment in the store at ``uri`` (default: :func:`tracking_uri`) for writing: checked by
        :func:`check_reachable` first, the experiment created if missing. Reports read without a Store."""
        uri = uri or tracking_uri()
        check_reachable(uri)
        client = MlflowClient(uri)
        with _setup_lock(uri):
            experiment = client.get_experiment_by_name(suite) or _create_experiment(client, suite)
        if experiment.lifecycle_stage != "active":
            raise BenchError(f"the MLflow experiment {suite!r} at {redact.uri(uri)} is deleted; restore it or use another store.")
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

    def identity(self) -> str:
        """This store and experiment as checkpoints record them: the tracking URI, credentials masked, and the
        experiment id (a checkpoint continues only in the store it was written for)."""
        return f"{redact.uri(self.client.tracking_uri)} experiment {self.experiment_id}"

    def run(self, run_id: str):
        """The run, None when the store has no such run or it is deleted."""
        try:
            run = self.client.get_run(run_id)
        except Exception:  # MLflow raises its own error for an unknown id, and backend errors alike
            return None
        return run if run.info.lifecycle_stage == "active" else None

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
        """Record a failed cell: FAILED status, the error as a tag and the traceback as an artifact, both with every
        URI's credentials masked (an MLflow error quotes the tracking URI it failed on)."""
        from bench import redact

        message = redact.text(f"{type(error).__name__}: {error}")
        self.client.log_batch(run_id, tags=[RunTag("bench.error", message[:4000])])
        self.client.log_text(run_id, redact.text("".join(traceback.format_exception(error))), "error.txt")
        self.client.set_terminated(run_id, "FAILED")

    def kill(self, run_id: str) -> None:
        self.client.set_terminated(run_id, "KILLED")


def owner(pid: int | None = None) -> str:
    """This process (or process ``pid`` of this machine) as a run's owner:
    ``host[boot=B,pidns=N,start=T,machine=M]:pid``.

    B: this boot of the kernel (/proc/sys/kernel/random/boot_id), N: the PID namespace (a container has its own),
    T: the process start time (field 22 of /proc/<pid>/stat, clock ticks since boot), M: /etc/machine-id. A
    field this system lacks (not Linux) is left out. With them a reused pid, a restarted machine or another
    machine of the same name is told apart from the owner (:func:`is_live`); the tag still ends in ``:pid``."""
    pid = os.getpid() if pid is None else pid
    fields = {"boot": _boot_id(), "pidns": _pid_namespace(), "start": _start_time(pid), "machine": _machine_id()}
    extra = ",".join(f"{k}={v}" for k, v in fields.items() if v)
    return f"{socket.gethostname()}" + (f"[{extra}]" if extra else "") + f":{pid}"


@dataclass(frozen=True)
class Owner:
    """A parsed ``bench.owner`` tag; the fields of :func:`owner` that the tag lacks are ""."""

    host: str
    pid: int | None
    boot: str = ""
    pidns: str = ""
    start: str = ""
    machine: str = ""

    @classmethod
    def parse(cls, tag: str) -> "Owner":
        """``host[k=v,...]:pid`` or the older ``host:pid``."""
        head, _, pid = tag.rpartition(":")
        host, bracket, extra = head.partition("[")
        fields = dict(kv.split("=", 1) for kv in extra.rstrip("]").split(",") if "=" in kv) if bracket else {}
        known = {k: v for k, v in fields.items() if k in ("boot", "pidns", "start", "machine")}
        return cls(host, int(pid) if pid.isdigit() else None, **known)


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _boot_id() -> str:
    return _read("/proc/sys/kernel/random/boot_id").replace("-", "")[:16]


def _machine_id() -> str:
    return (_read("/etc/machine-id") or _read("/var/lib/dbus/machine-id"))[:16]


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        return ""


def _stat(pid: int) -> list[str]:
    """Fields 3.. of /proc/<pid>/stat (after the command name, which may hold spaces), [] when unreadable."""
    text = _read(f"/proc/{pid}/stat")
    return text.rsplit(")", 1)[1].split() if ")" in text else []


def _start_time(pid: int) -> str:
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else ""  # field 22 of the file


def lease_s() -> float:
    return float(os.environ.get("BENCH_LEASE_S", LEASE_S))


def is_live(tags: dict, now: float) -> bool:
    """Whether a RUNNING run's owner (tag bench.owner, :func:`owner`) may still be at work.

    Dead when its last heartbeat is older than the lease, or when the owner is provably gone: it names this
    host and (where both sides record them) the same machine, and either a boot id other than this boot's
    (the machine restarted) or, in this PID namespace, no process with its pid and start time (it exited, or
    its pid now belongs to another process). An owner on another host, another machine of the same name, or
    in another PID namespace of this kernel (a container) cannot be checked: its heartbeat alone decides.
    Runs without an owner or heartbeat (from before claims) count as dead."""
    try:
        fresh = now - float(tags["bench.heartbeat"]) < lease_s()
    except (KeyError, ValueError):
        return False
    them, me = Owner.parse(tags.get("bench.owner", "")), Owner.parse(owner())
    differ = lambda field: getattr(them, field) and getattr(me, field) and getattr(them, field) != getattr(me, field)  # noqa: E731
    if not fresh or them.host != me.host or them.pid is None or differ("machine"):
        return fresh
    if differ("boot"):
        return False
    if differ("pidns"):
        return True
    return _process_exists(them.pid, them.start or None)


def _process_exists(pid: int, start: str | None = None) -> bool:
    """A process with this pid exists, is not a zombie (a killed child its parent has not reaped yet) and, when
    ``start`` is given, started at that time (so it is not another process that reuses the pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    fields = _stat(pid)
    if not fields:  # no /proc (not Linux): existence is all that can be known
        return True
    return fields[0] != "Z" and (start is None or (len(fields) > 19 and fields[19] == start))
