"""Checkpoints of one cell's training, so that a killed cell resumes where it stopped.

A cell's checkpoints live in ``<root>/<cell hash>/<step>/`` (orbax's layout), written every
``every`` updates and once when training ends (before the final evaluation, so a kill during a
long evaluation does not retrain). Each holds two items:

- ``state``: the pytree the trainer needs to continue bit for bit: parameters, optimiser state,
  RNG key and data order (any pytree of arrays; sharded arrays are saved and restored sharded);
- ``meta``: JSON: the step, the trainer's own bookkeeping (logged terms, eval curves, data
  position), the MLflow run that wrote it, the store it was written for (``Store.identity()``), the
  code that wrote it (tag ``bench.code``) and the wall time of the save in ms. The runner continues a
  checkpoint only in a successor of that run, in that store, with that code (bench/runner.py).

orbax writes a step into a temporary folder and renames it when complete, so a process killed
mid-save leaves the previous checkpoint as the latest. Only the newest checkpoint is kept, and
the runner removes a cell's folder once its run is FINISHED.

The root is ``--checkpoint-dir`` / ``$BENCH_CHECKPOINT_DIR``, else ``./bench-checkpoints``. Cells
share it by hash, so it must be storage every worker sees when cells run on several machines
(a shared file system, or a ``gs://`` path, which orbax writes through etils).

Final parameters of a finished run that other cells start from live in ``<root>/finished/<run id>/``
(:func:`save_final`, :func:`load_final`): the parameters only, checked against the run's
``bench.params_sha256`` when read back.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import jax

from bench import redact
from bench.registry import BenchError

ENV_DIR = "BENCH_CHECKPOINT_DIR"
DEFAULT_DIR = "bench-checkpoints"
DEFAULT_EVERY = 1000  # updates between checkpoints; the end of training is always saved


def root(directory: str | None = None) -> str:
    """The checkpoint root: ``directory``, else $BENCH_CHECKPOINT_DIR, else ./bench-checkpoints (absolute)."""
    value = directory or os.environ.get(ENV_DIR) or DEFAULT_DIR
    return value if "://" in value else os.path.abspath(value)


def digest(tree: Any) -> str:
    """sha256 over the bytes of every leaf, in tree order: equal digests mean bit-identical states."""
    import hashlib

    import numpy as np

    from bench.models.sharding import to_host

    h = hashlib.sha256()
    for leaf in jax.tree.leaves(to_host(tree)):
        array = np.asarray(leaf)
        h.update(f"{array.dtype}{array.shape}".encode())
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Saved:
    """Where the newest checkpoint of a cell came from."""

    step: int
    run_id: str | None  # the MLflow run that was training when it was saved
    saved_at_ms: int  # wall time of the save: metrics that run logged up to then belong to this state
    store: str | None = None  # the store and experiment of that run (Store.identity()); None before it was recorded
    code: str | None = None  # the code that wrote it (tag bench.code); None before it was recorded


class UnreadableCheckpoint(BenchError):
    """The newest checkpoint of a folder cannot be read back (corrupt, truncated, or of another state's shape)."""

    def __init__(self, directory: str, step, error: Exception):
        first = redact.text(str(error).split(" [tensorstore_spec", 1)[0].splitlines()[0] if str(error) else "")[:300]
        self.directory, self.reason = directory, f"{type(error).__name__}: {first}"
        super().__init__(f"the checkpoint {directory}/{step} cannot be read ({self.reason}); move or delete the folder "
                         f"{directory} to train afresh.")


class CellCheckpoints:
    """The checkpoints of one cell. ``every`` = 0 saves only at the end of training.

    ``run_id``, ``store`` and ``code`` are recorded in every save (see :class:`Saved`). ``on_restore``, when set, is
    called with the step once :meth:`restore` has read a checkpoint back (the runner then makes its run the
    continuation of the one that wrote it). ``last`` is (step, state) of the newest save or restore."""

    def __init__(self, directory: str, every: int = DEFAULT_EVERY, run_id: str | None = None, *,
                 store: str | None = None, code: str | None = None):
        if every < 0:
            raise ValueError(f"checkpoint interval {every} must be >= 0 (0: only at the end of training)")
        self.directory, self.every, self.run_id, self.store, self.code = directory, int(every), run_id, store, code
        self.on_restore: Callable[[int], None] | None = None
        self.last: tuple[int, Any] | None = None
        self._manager = None

    @property
    def manager(self):
        if self._manager is None:
            import orbax.checkpoint as ocp

            self._manager = ocp.CheckpointManager(self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True))
        return self._manager

    def due(self, step: int, total: int) -> bool:
        """True at every ``every``-th update and at the last one."""
        return step == total or (self.every > 0 and step % self.every == 0)

    def latest(self) -> Saved | None:
        """The newest complete checkpoint, or None; :class:`UnreadableCheckpoint` when its record cannot be read."""
        if not self._exists():
            return None
        step = self.manager.latest_step()
        if step is None:
            return None
        try:
            meta = self._restore(step, meta_only=True)["meta"]
            return Saved(int(step), meta.get("run_id"), int(meta.get("saved_at_ms", 0)), meta.get("store"), meta.get("code"))
        except (ValueError, OSError, KeyError, TypeError) as err:  # what orbax and TensorStore raise for bad files
            raise UnreadableCheckpoint(self.directory, step, err) from None

    def save(self, step: int, state: Any, meta: dict) -> None:
        """Save ``state`` (a pytree of arrays) and the trainer's JSON ``meta`` as step ``step``."""
        import orbax.checkpoint as ocp

        record = {"step": int(step), "run_id": self.run_id, "store": self.store, "code": self.code,
                  "saved_at_ms": int(time.time() * 1000), "trainer": meta}
        self.manager.save(int(step), args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(record)))
        self.last = (int(step), state)

    def restore(self, template: Any) -> tuple[int, Any, dict]:
        """(step, state, trainer meta) of the newest checkpoint; ``template`` is a state of the same structure,
        whose shapes, dtypes and shardings the restored arrays take. :class:`UnreadableCheckpoint` when the files
        are corrupt or hold a state of another structure or shape."""
        self.manager.wait_until_finished()
        step = self.manager.latest_step()
        try:
            restored = self._restore(step, template=template)
            trainer = restored["meta"]["trainer"]
        except (ValueError, OSError, KeyError, TypeError) as err:
            raise UnreadableCheckpoint(self.directory, step, err) from None
        self.last = (int(step), restored["state"])
        if self.on_restore is not None:
            self.on_restore(int(step))
        return int(step), restored["state"], trainer

    def _restore(self, step: int, template: Any = None, meta_only: bool = False) -> dict:
        import orbax.checkpoint as ocp

        if meta_only:
            return self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        return self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))

    def _exists(self) -> bool:
        from etils import epath

        return epath.Path(self.directory).exists()

    def clear(self) -> None:
        """Forget every checkpoint of the cell (a cell run afresh, e.g. with --force)."""
        from etils import epath

        self.close()
        path = epath.Path(self.directory)
        if path.exists():
            path.rmtree()

    def set_aside(self, why: str) -> str:
        """Rename the folder to ``<folder>.<why>-<UTC time>`` (kept for a person to inspect or move back, never
        read again by the runner) and return the new name."""
        from etils import epath

        self.close()
        target = f"{self.directory}.{why}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
        while epath.Path(target).exists():  # twice in one second
            target += "x"
        epath.Path(self.directory).rename(target)
        return target

    def close(self) -> None:
        """Wait for the last save to be complete and release orbax's background threads."""
        if self._manager is not None:
            self._manager.wait_until_finished()
            self._manager.close()
            self._manager = None


class FinalState:
    """Stands in for :class:`CellCheckpoints` where checkpoints are off but a cell's final parameters are wanted:
    it writes nothing, holds the state the trainer "saves" at the end of training in ``last``, and has no
    checkpoint to continue from."""

    every = 0
    on_restore = None

    def __init__(self):
        self.last: tuple[int, Any] | None = None

    def due(self, step: int, total: int) -> bool:
        return step == total

    def latest(self) -> None:
        return None

    def save(self, step: int, state: Any, meta: dict) -> None:
        self.last = (int(step), state)

    def close(self) -> None:
        pass


def params_of(state: Any) -> Any:
    """The parameters inside a trainer's checkpointed state. The text trainer saves ``{"train": s, "order", "key"}``
    with s = (params, optimiser state), or a GailState whose ``.policy`` is the policy's parameters; the tabular
    model saves ``{"q": q, "opt": ...}``, q being its parameters. The caller checks the result against the
    trainer's ``bench.params_sha256`` (:func:`save_final`), so a layout this misreads is refused, never kept."""
    if isinstance(state, dict) and "train" in state:
        state = state["train"]
    if hasattr(state, "policy"):
        return state.policy
    if isinstance(state, dict) and "q" in state:
        return state["q"]
    if isinstance(state, (tuple, list)) and state:
        return state[0]
    raise BenchError(f"cannot find the parameters in a checkpointed state of type {type(state).__name__}; "
                     "teach bench.checkpointing.params_of its layout.")


def final_dir(run_id: str, directory: str | None = None) -> str:
    """Where the final parameters of run ``run_id`` are kept: ``<root>/finished/<run_id>``."""
    return f"{root(directory)}/finished/{run_id}"


def save_final(run_id: str, step: int, params: Any, params_sha256: str, directory: str | None = None) -> str:
    """Keep ``params``, the final parameters of run ``run_id``, in :func:`final_dir` and return that folder; refuses
    (BenchError) parameters whose digest is not ``params_sha256``, the run's ``bench.params_sha256`` tag."""
    if digest(params) != params_sha256:
        raise BenchError(f"the final state of run {run_id} does not hold the parameters it reported (bench.params_sha256 "
                         f"{params_sha256[:12]}...); the trainer's checkpoint layout changed: update bench.checkpointing.params_of.")
    folder = final_dir(run_id, directory)
    kept = CellCheckpoints(folder, every=0, run_id=run_id)
    try:
        kept.save(step, {"params": params}, {"params_sha256": params_sha256})  # a dict: orbax saves no bare array
    finally:
        kept.close()
    return folder


def load_final(run_id: str, params_sha256: str, template: Any, directory: str | None = None) -> Any:
    """The final parameters of run ``run_id`` kept by :func:`save_final`, with the shapes, dtypes and shardings of
    ``template``; BenchError when they are missing, unreadable, or not bit for bit those whose digest the run
    recorded (``params_sha256``, its ``bench.params_sha256`` tag)."""
    folder = final_dir(run_id, directory)
    fix = ("rerun the cell of that run (`bench run --force --filter ...` selecting it) so that they are kept again, or "
           "point --checkpoint-dir / $BENCH_CHECKPOINT_DIR at the root that holds them")
    kept = CellCheckpoints(folder, every=0)
    try:
        if kept.latest() is None:
            raise BenchError(f"the final parameters of run {run_id} are not in {folder}; {fix}.")
        params = kept.restore({"params": template})[1]["params"]
    except UnreadableCheckpoint as err:
        raise BenchError(f"the final parameters of run {run_id} in {folder} cannot be read ({err.reason}); {fix}.") from None
    finally:
        kept.close()
    got = digest(params)
    if got != params_sha256:
        raise BenchError(f"the final parameters in {folder} have digest {got[:12]}..., not run {run_id}'s bench.params_sha256 "
                         f"{params_sha256[:12]}...: they were altered or belong to another run; {fix}.")
    return params
