"""Checkpoints of one cell's training, so that a killed cell resumes where it stopped.

A cell's checkpoints live in ``<root>/<cell hash>/<step>/`` (orbax's layout), written every
``every`` updates and once when training ends (before the final evaluation, so a kill during a
long evaluation does not retrain). Each holds two items:

- ``state``: the pytree the trainer needs to continue bit for bit: parameters, optimiser state,
  RNG key and data order (any pytree of arrays; sharded arrays are saved and restored sharded);
- ``meta``: JSON: the step, the trainer's own bookkeeping (logged terms, eval curves, data
  position), the MLflow run that wrote it and the wall time of the save in ms.

orbax writes a step into a temporary folder and renames it when complete, so a process killed
mid-save leaves the previous checkpoint as the latest. Only the newest checkpoint is kept.

The root is ``--checkpoint-dir`` / ``$BENCH_CHECKPOINT_DIR``, else ``./bench-checkpoints``. Cells
share it by hash, so it must be storage every worker sees when cells run on several machines
(a shared file system, or a ``gs://`` path, which orbax writes through etils).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import jax

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


class CellCheckpoints:
    """The checkpoints of one cell. ``every`` = 0 saves only at the end of training."""

    def __init__(self, directory: str, every: int = DEFAULT_EVERY, run_id: str | None = None):
        if every < 0:
            raise ValueError(f"checkpoint interval {every} must be >= 0 (0: only at the end of training)")
        self.directory, self.every, self.run_id = directory, int(every), run_id
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
        """The newest complete checkpoint, or None."""
        if not self._exists():
            return None
        step = self.manager.latest_step()
        if step is None:
            return None
        meta = self._restore(step, meta_only=True)["meta"]
        return Saved(int(step), meta.get("run_id"), int(meta.get("saved_at_ms", 0)))

    def save(self, step: int, state: Any, meta: dict) -> None:
        """Save ``state`` (a pytree of arrays) and the trainer's JSON ``meta`` as step ``step``."""
        import orbax.checkpoint as ocp

        record = {"step": int(step), "run_id": self.run_id, "saved_at_ms": int(time.time() * 1000), "trainer": meta}
        self.manager.save(int(step), args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(record)))

    def restore(self, template: Any) -> tuple[int, Any, dict]:
        """(step, state, trainer meta) of the newest checkpoint; ``template`` is a state of the same structure,
        whose shapes, dtypes and shardings the restored arrays take."""
        self.manager.wait_until_finished()
        step = self.manager.latest_step()
        restored = self._restore(step, template=template)
        return int(step), restored["state"], restored["meta"]["trainer"]

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

    def close(self) -> None:
        """Wait for the last save to be complete and release orbax's background threads."""
        if self._manager is not None:
            self._manager.wait_until_finished()
            self._manager.close()
            self._manager = None
