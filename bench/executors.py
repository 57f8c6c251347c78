"""Where the cells of a grid run: one after another in this process, or as tasks on a Ray cluster.

An executor takes the cells to attempt and yields ``(entry, outcome, seconds)`` as each ends, in the
order they end. Either way every cell goes through ``runner.attempt``, which claims it in MLflow,
so executors may overlap (two `bench run`s, a laptop and a cluster) without running a cell twice.

Environment on a Ray cluster: the job's runtime environment is readable by everyone who can use the
cluster (dashboard, ``ray job`` / state API), so the Ray executor forwards an allow-list, not the
driver's whole environment (:func:`forwarded_env`):

- by default the variables cells read: ``BENCH_*`` (data, checkpoints, mesh, caches, lease),
  ``JAX_*`` and ``XLA_*`` (``XLA_FLAGS``, GPU memory), ``MLFLOW_TRACKING_URI``, ``MLFLOW_DISABLE_TELEMETRY``,
  ``MLFLOW_HTTP_REQUEST_*`` (timeouts, retries), ``MLFLOW_TRACKING_INSECURE_TLS``,
  ``MLFLOW_TRACKING_SERVER_CERT_PATH``, and ``HF_HUB_OFFLINE``, ``HF_DATASETS_OFFLINE``,
  ``HF_HOME``, ``HF_HUB_CACHE``, ``HF_DATASETS_CACHE``, ``HF_ENDPOINT``;
- plus what the user names: ``--forward-env NAME`` (repeatable) or ``BENCH_RAY_FORWARD_ENV=NAME,...``;
  a name may end in ``*`` to take every variable it starts;
- never a credential unless it is named exactly: a variable whose name contains TOKEN, PASSWORD,
  PASSWD, SECRET, KEY, CREDENTIAL, AUTH or USERNAME (``HF_TOKEN``, ``MLFLOW_TRACKING_PASSWORD``, ...)
  or whose value holds a URI with a password or a secret query parameter (bench/redact.py), e.g. a
  ``MLFLOW_TRACKING_URI`` of ``https://user:pw@host``. A pattern (``MLFLOW_*``) never names one.

The tasks receive the tracking URI as an argument too, so a URI with credentials is refused unless
``MLFLOW_TRACKING_URI`` is named: put the credentials on the nodes instead (``MLFLOW_TRACKING_USERNAME``
and ``MLFLOW_TRACKING_PASSWORD`` in the environment ``ray start`` runs in) and drop them from the URI.
A local cluster (no ``--address``) runs its workers in this machine's environment whatever is forwarded.
"""

from __future__ import annotations

import fnmatch
import os
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator, Mapping

from tqdm import tqdm

from bench import checkpointing, redact
from bench.registry import BenchError
from bench.runner import Outcome, Settings, attempt
from bench.suites import SuiteCell
from bench.tracking import Store

# Environment that cells read and that a Ray worker must see as the driver does (patterns; module docstring).
FORWARDED_ENV = (
    "BENCH_*", "JAX_*", "XLA_*",
    "MLFLOW_TRACKING_URI", "MLFLOW_DISABLE_TELEMETRY", "MLFLOW_HTTP_REQUEST_*", "MLFLOW_TRACKING_INSECURE_TLS",
    "MLFLOW_TRACKING_SERVER_CERT_PATH",
    "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HOME", "HF_HUB_CACHE", "HF_DATASETS_CACHE", "HF_ENDPOINT",
)
ENV_FORWARD = "BENCH_RAY_FORWARD_ENV"  # more names (or NAME* patterns) to forward, comma-separated
# A variable whose name holds one of these is a credential: forwarded only when named exactly.
SECRET_WORDS = ("TOKEN", "PASSWORD", "PASSWD", "SECRET", "KEY", "CREDENTIAL", "AUTH", "USERNAME")


def is_secret(name: str, value: str) -> bool:
    """True for a credential: a secret-looking name, or a value holding a URI with credentials."""
    return any(word in name.upper() for word in SECRET_WORDS) or redact.text(value) != value


def forward_names(environ: Mapping[str, str], extra: Iterable[str] = ()) -> list[str]:
    """The user's additions to the allow-list: ``extra`` (``--forward-env``) and ``$BENCH_RAY_FORWARD_ENV``."""
    listed = [*extra, *environ.get(ENV_FORWARD, "").split(",")]
    return [name.strip() for name in listed if name.strip()]


def forwarded_env(environ: Mapping[str, str], extra: Iterable[str] = ()) -> dict[str, str]:
    """The variables of ``environ`` a Ray job carries to its workers.

    forwarded(v) = named(v) or (matches(v, FORWARDED_ENV + patterns) and not is_secret(v)), where named(v)
    means the user listed v's exact name (``extra`` or ``$BENCH_RAY_FORWARD_ENV``) and patterns are the
    user's entries ending in ``*``."""
    user = forward_names(environ, extra)
    named = {n for n in user if not n.endswith("*")}
    patterns = (*FORWARDED_ENV, *(n for n in user if n.endswith("*")))
    return {
        k: v for k, v in environ.items()
        if k in named or (any(fnmatch.fnmatchcase(k, p) for p in patterns) and not is_secret(k, v))
    }


def task_uri(uri: str, environ: Mapping[str, str], extra: Iterable[str] = ()) -> str:
    """The tracking URI every Ray task receives: ``uri``, refused when it carries credentials the user did not
    name (``MLFLOW_TRACKING_URI``), since each task's arguments travel to the cluster's nodes."""
    if redact.uri(uri) != uri and "MLFLOW_TRACKING_URI" not in forward_names(environ, extra):
        raise BenchError(
            f"the tracking URI {redact.uri(uri)} carries credentials that every Ray task would receive; set "
            "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD where `ray start` runs on each node and drop them from "
            "the URI, or pass --forward-env MLFLOW_TRACKING_URI to send them anyway."
        )
    return uri


class LocalExecutor:
    """Cells one after another in this process, on every device JAX sees here."""

    def describe(self) -> str:
        return "this process"

    def run(self, store: Store, todo: list[SuiteCell], settings: Settings) -> Iterator[tuple[SuiteCell, Outcome, float]]:
        for entry in tqdm(todo, desc=f"{store.suite} cells", unit="cell", file=sys.stderr, disable=not sys.stderr.isatty()):
            start = time.perf_counter()
            yield entry, attempt(store, entry, settings), time.perf_counter() - start


def _attempt_remote(suite: str, uri: str, entry: SuiteCell, settings: Settings) -> tuple[Outcome, float]:
    """A Ray task: one cell, recorded in the driver's MLflow store."""
    import bench  # noqa: F401  (fills the registries in a fresh worker)
    from bench import compilation

    compilation.enable()

    start = time.perf_counter()
    outcome = attempt(Store.open(suite, uri), entry, settings)
    return outcome, time.perf_counter() - start


@dataclass
class RayExecutor:
    """Each cell a Ray task requesting ``cpus_per_cell`` CPUs and ``gpus_per_cell`` GPUs (None: one GPU if the
    cluster has any, else none), so Ray packs cells onto the machines that have room; JAX in a task sees
    the GPUs Ray gave it. ``address``: an existing cluster ("auto", "ray://head:10001", ...); None starts
    a local one on this machine's cores.

    Every node needs the project installed (the Docker image) and must reach the tracking store (an
    ``mlflow server`` URI for several machines; a SQLite file works only on one) and the checkpoint root
    (shared storage). A task whose worker dies is retried by Ray, and the retry resumes the cell from its
    newest checkpoint."""

    address: str | None = None
    cpus_per_cell: float = 1.0
    gpus_per_cell: float | None = None
    max_retries: int = 2
    forward_env: tuple = field(default_factory=tuple)  # more variables to forward (module docstring)

    def __post_init__(self):
        try:
            import ray  # noqa: F401
        except ImportError:
            raise BenchError("--executor ray needs Ray: pip install 'ray==2.60.0' (or the project's 'ray' extra).") from None
        self._started = False

    def _connect(self):
        import ray

        if not ray.is_initialized():
            env = forwarded_env(os.environ, self.forward_env)
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
            except (ConnectionError, RuntimeError) as err:
                raise BenchError(f"cannot connect to the Ray cluster at {redact.uri(self.address or 'a new local one')} "
                                 f"({redact.text(str(err))}); start it with `ray start --head` or drop --address to start a "
                                 "local one.") from None
            self._started = True
        return ray

    def describe(self) -> str:
        ray = self._connect()
        resources = ray.cluster_resources()
        return (f"Ray ({int(resources.get('CPU', 0))} CPUs, {int(resources.get('GPU', 0))} GPUs; "
                f"{self.cpus_per_cell:g} CPU and {self._gpus(resources):g} GPU per cell)")

    def _gpus(self, resources: dict) -> float:
        if self.gpus_per_cell is not None:
            return self.gpus_per_cell
        return 1.0 if resources.get("GPU", 0) > 0 else 0.0

    def run(self, store: Store, todo: list[SuiteCell], settings: Settings) -> Iterator[tuple[SuiteCell, Outcome, float]]:
        try:
            uri = task_uri(store.client.tracking_uri, os.environ, self.forward_env)  # before any task is submitted
            ray = self._connect()
            # Workers write checkpoints where the driver would: an absolute root, not their own working folder.
            settings = replace(settings, progress=False, checkpoint_dir=checkpointing.root(settings.checkpoint_dir))
            remote = ray.remote(_attempt_remote).options(
                num_cpus=self.cpus_per_cell, num_gpus=self._gpus(ray.cluster_resources()), max_retries=self.max_retries,
            )
            pending = {remote.remote(store.suite, uri, entry, settings): entry for entry in todo}
            yield from _collect(ray, pending)
        finally:  # also when refused above after describe() started a cluster
            if self._started:
                import ray

                ray.shutdown()
                self._started = False


def _collect(ray, pending: dict) -> Iterator[tuple[SuiteCell, Outcome, float]]:
    """Each task's outcome as it ends; on Ctrl-C the running tasks are cancelled (their runs marked KILLED)."""
    try:
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            entry = pending.pop(ref)
            try:
                outcome, seconds = ray.get(ref)
            except ray.exceptions.RayError as err:  # the worker died or Ray gave up on the task
                outcome, seconds = Outcome("failed", error=redact.text(f"{type(err).__name__}: {err}")), 0.0
            yield entry, outcome, seconds
    except KeyboardInterrupt:
        for ref in pending:  # a running task gets KeyboardInterrupt, so its run is marked KILLED
            ray.cancel(ref)
        ray.wait(list(pending), num_returns=len(pending), timeout=30)
        raise
