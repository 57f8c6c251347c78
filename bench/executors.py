"""Where the cells of a grid run: one after another in this process, or as tasks on a Ray cluster.

An executor takes the cells to attempt and yields ``(entry, outcome, seconds)`` as each ends, in the
order they end. Either way every cell goes through ``runner.attempt``, which claims it in MLflow,
so executors may overlap (two `bench run`s, a laptop and a cluster) without running a cell twice.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, replace
from typing import Iterator

from tqdm import tqdm

from bench import checkpointing
from bench.registry import BenchError
from bench.runner import Outcome, Settings, attempt
from bench.suites import SuiteCell
from bench.tracking import Store

# Environment that cells read and that a Ray worker must see as the driver does.
FORWARDED_ENV = ("BENCH_", "MLFLOW_", "JAX_", "XLA_", "HF_")


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

    def __post_init__(self):
        try:
            import ray  # noqa: F401
        except ImportError:
            raise BenchError("--executor ray needs Ray: pip install 'ray==2.60.0' (or the project's 'ray' extra).") from None
        self._started = False

    def _connect(self):
        import ray

        if not ray.is_initialized():
            env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV)}
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
            except (ConnectionError, RuntimeError) as err:
                raise BenchError(f"cannot connect to the Ray cluster at {self.address!r} ({err}); start it with `ray start --head` "
                                 "or drop --address to start a local one.") from None
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
        ray = self._connect()
        # Workers write checkpoints where the driver would: an absolute root, not their own working folder.
        settings = replace(settings, progress=False, checkpoint_dir=checkpointing.root(settings.checkpoint_dir))
        remote = ray.remote(_attempt_remote).options(
            num_cpus=self.cpus_per_cell, num_gpus=self._gpus(ray.cluster_resources()), max_retries=self.max_retries,
        )
        uri = store.client.tracking_uri
        pending = {remote.remote(store.suite, uri, entry, settings): entry for entry in todo}
        try:
            while pending:
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                entry = pending.pop(ref)
                try:
                    outcome, seconds = ray.get(ref)
                except ray.exceptions.RayError as err:  # the worker died or Ray gave up on the task
                    outcome, seconds = Outcome("failed", error=f"{type(err).__name__}: {err}"), 0.0
                yield entry, outcome, seconds
        except KeyboardInterrupt:
            for ref in pending:  # a running task gets KeyboardInterrupt, so its run is marked KILLED
                ray.cancel(ref)
            ray.wait(list(pending), num_returns=len(pending), timeout=30)
            raise
        finally:
            if self._started:
                ray.shutdown()
                self._started = False
