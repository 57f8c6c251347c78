"""Cells: one frozen configuration of the grid, identified by a content hash.

A cell names a task, an algorithm with all its hyperparameters, a model preset, data and
training options and a seed. Its hash is sha256 over canonical JSON (sorted keys, no
whitespace, Python's shortest float repr), so it is the same in every process and on every
machine; it is the identity of the cell's MLflow run. ``SCHEMA`` is part of the hash: bump it
when the meaning of a field changes, so old results are not mistaken for new ones.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

SCHEMA = 1
_SCALARS = (str, int, float, bool)
# Groups of options, each flattened as "<group>.<key>" in MLflow params and filters.
GROUPS = ("task_options", "hparams", "model_options", "data", "train")
_PREFIX = {"task_options": "task", "hparams": "hp", "model_options": "model", "data": "data", "train": "train"}


def _freeze(group: str, options: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    options = dict(options or {})
    for key, value in options.items():
        if not isinstance(value, _SCALARS):
            raise TypeError(f"cell option {group}.{key}={value!r} is not a str, int, float or bool; cells hold only scalars.")
    return tuple(sorted(options.items()))


@dataclass(frozen=True)
class Cell:
    task: str
    algorithm: str
    model: str
    seed: int
    task_options: tuple = field(default=())
    hparams: tuple = field(default=())
    model_options: tuple = field(default=())
    data: tuple = field(default=())
    train: tuple = field(default=())
    # The hash of the cell whose final parameters this one starts from ("": the model preset's own start). Part of
    # the identity: the same cell fine-tuned from another upstream is another cell. Hashes cannot form a cycle.
    init_from: str = ""

    @classmethod
    def make(cls, task: str, algorithm: str, *, model: str, seed: int, init_from: "Cell | str | None" = None,
             **groups: Mapping[str, Any] | None) -> "Cell":
        unknown = set(groups) - set(GROUPS)
        if unknown:
            raise TypeError(f"unknown cell option groups {sorted(unknown)}; use {', '.join(GROUPS)}.")
        upstream = init_from.hash if isinstance(init_from, Cell) else (init_from or "")
        return cls(task, algorithm, model, int(seed), **{g: _freeze(g, groups.get(g)) for g in GROUPS}, init_from=upstream)

    def options(self, group: str) -> dict[str, Any]:
        return dict(getattr(self, group))

    def config(self) -> dict[str, Any]:
        """The nested, JSON-ready configuration that the hash is computed over."""
        head = {"schema": SCHEMA, "task": self.task, "algorithm": self.algorithm, "model": self.model, "seed": self.seed}
        # only when set, so that every cell without an upstream keeps the hash it had before init_from existed
        return head | ({"init_from": self.init_from} if self.init_from else {}) | {g: self.options(g) for g in GROUPS}

    @property
    def hash(self) -> str:
        canonical = json.dumps(self.config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def flat(self) -> dict[str, Any]:
        """Flattened config: task, algorithm, model, seed and "<group>.<key>" (e.g. hp.lam)."""
        out: dict[str, Any] = {"task": self.task, "algorithm": self.algorithm, "model": self.model, "seed": self.seed}
        if self.init_from:
            out["init_from"] = self.init_from
        for group in GROUPS:
            out.update({f"{_PREFIX[group]}.{k}": v for k, v in getattr(self, group)})
        return out

    def label(self) -> str:
        """A readable name for logs and MLflow run names, e.g. ``arith(steps=1)/mle()/t5-tiny/seed0``: task and
        algorithm with their options, model preset, seed. Not part of the hash, and not unique (data and train
        options are left out): the hash is the identity."""
        extras = ",".join(f"{k}={v}" for k, v in self.hparams)
        task = ",".join(f"{k}={v}" for k, v in self.task_options)
        return f"{self.task}({task})/{self.algorithm}({extras})/{self.model}/seed{self.seed}"


@dataclass(frozen=True)
class SuiteCell:
    """A cell in a suite, tagged with the paper figure or table it feeds."""

    cell: Cell
    figure: str
