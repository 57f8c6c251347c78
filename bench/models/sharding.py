"""Data parallelism with FSDP-style sharding of parameters and optimiser state, over a ``jax.sharding.Mesh``.

One code path serves 1 device, N local devices and N hosts: every array the trainer holds is a global
``jax.Array`` laid out on a two-axis device mesh, and ``jit`` (GSPMD) inserts the collectives.

Layout. The mesh has axes ``("data", "fsdp")`` of sizes ``D x F = number of devices``.

- The batch axis 0 of every input array is split over *both* axes, so each of the ``D * F`` devices
  holds ``B / (D * F)`` examples (:func:`batch_sharding`). Every device is a data-parallel worker.
- A parameter (or optimiser-state) array is split along the ``fsdp`` axis only, on one of its
  dimensions, and replicated over ``data`` (:func:`state_shardings`): each device stores ``1 / F`` of
  it. Inside the step XLA all-gathers a weight just before it is used and reduce-scatters its gradient
  back to the owning shard, which is ZeRO-3 / FSDP; the Adam update then runs on the shards alone.
  ``data`` replicates the state ``D`` times, trading memory for less all-gather traffic: put ``fsdp``
  within a host (fast links) and ``data`` across hosts.

So ``fsdp=N`` is pure FSDP (the default), ``data=N`` pure data parallelism (replicated state), and any
mix in between. The maths of a step does not change: the loss is a mean over the *global* batch, so the
gradients (summed over devices by the reduce-scatter) are those of one device holding the whole batch,
up to the order of floating-point additions.

Multi-host. Every process runs the same program (SPMD). Host data enters through
:func:`shard_batch` (each process materialises only its own devices' rows) and leaves through
:func:`to_host` (a gather across processes where needed). :func:`initialize_distributed` connects the
processes before the first JAX computation; :func:`is_primary` picks the process that writes results.
"""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from bench.registry import BenchError

DATA, FSDP = "data", "fsdp"
AXES = (DATA, FSDP)
ENV_MESH = "BENCH_MESH"  # the mesh spec of a run, e.g. BENCH_MESH=data=2,fsdp=4
# Arrays with fewer elements stay replicated: their all-gather would cost a collective's latency
# (tens of microseconds) to save at most 16 KiB of float32 per device. Norm scales, biases,
# position-bias tables and Adam's step count fall under it; every weight matrix of a real model is far above.
MIN_SHARDED_SIZE = 4096


# ----------------------------------------------------------------------------------------- mesh


def parse_mesh_spec(spec: str | None, num_devices: int) -> dict[str, int]:
    """Axis sizes ``{"data": D, "fsdp": F}`` with ``D * F == num_devices`` from a spec like "data=2,fsdp=4".

    An axis left out has size 1, except that an empty spec (or None) puts every device on ``fsdp``.
    One axis may be ``-1``: it takes the devices the other leaves (``num_devices / other``)."""
    if not spec or not spec.strip():
        return {DATA: 1, FSDP: num_devices}
    sizes: dict[str, int] = {}
    for term in spec.split(","):
        name, _, value = (part.strip() for part in term.partition("="))
        if name not in AXES or name in sizes:
            raise BenchError(
                f"mesh spec {spec!r} has a bad or repeated axis {name!r}; write each of data and fsdp at most once, "
                "e.g. BENCH_MESH=data=2,fsdp=4."
            )
        try:
            sizes[name] = int(value)
        except ValueError:
            raise BenchError(f"mesh spec {spec!r} gives axis {name} the size {value!r}; sizes are integers >= 1 or -1.") from None
        if sizes[name] == 0 or sizes[name] < -1:
            raise BenchError(f"mesh spec {spec!r} gives axis {name} the size {sizes[name]}; sizes are integers >= 1 or -1.")
    if list(sizes.values()).count(-1) > 1:
        raise BenchError(f"mesh spec {spec!r} has more than one -1 axis; at most one axis can take the remaining devices.")
    sizes = {DATA: sizes.get(DATA, 1), FSDP: sizes.get(FSDP, 1)}
    known = math.prod(s for s in sizes.values() if s != -1)
    for name, size in sizes.items():
        if size == -1 and num_devices % known == 0:
            sizes[name] = num_devices // known
    if math.prod(sizes.values()) != num_devices or -1 in sizes.values():
        raise BenchError(
            f"mesh spec {spec!r} does not cover the {num_devices} devices JAX sees; make the product of the axis "
            f"sizes {num_devices} (e.g. BENCH_MESH=fsdp={num_devices}, or data=-1 for the rest of them)."
        )
    return sizes


def mesh_from_spec(spec: str | None, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """The ``("data", "fsdp")`` mesh of ``devices`` (default ``jax.devices()``: every device of every host).

    Devices fill the mesh in ``jax.devices()`` order, fsdp fastest: ``devices.reshape(D, F)``. That order
    is by process, so with ``data`` = number of hosts each host holds one data row and the fsdp
    all-gathers stay within a host, while only gradients cross hosts."""
    devices = list(jax.devices() if devices is None else devices)
    sizes = parse_mesh_spec(spec, len(devices))
    return Mesh(np.asarray(devices, dtype=object).reshape(sizes[DATA], sizes[FSDP]), AXES)


# ----------------------------------------------------------------------------------------- state


def fsdp_spec(shape: Sequence[int], fsdp_size: int, min_size: int = MIN_SHARDED_SIZE) -> PartitionSpec:
    """The FSDP layout of one array of ``shape``: its largest dimension divisible by ``fsdp_size`` (the
    first of equals) is split over ``fsdp``; everything else is replicated, and so is the whole array
    when it has fewer than ``min_size`` elements, no divisible dimension, or ``fsdp_size`` is 1.

    The largest dimension is the one whose shards are least thin (a [V, D] embedding is split into
    blocks of vocabulary rows, a [D, 4D] feed-forward matrix along its 4D outputs) and the one most
    likely to stay divisible as the device count grows."""
    shape = tuple(int(d) for d in shape)
    divisible = [i for i, d in enumerate(shape) if d % fsdp_size == 0]
    if fsdp_size == 1 or math.prod(shape) < min_size or not divisible:
        return PartitionSpec()
    axis = max(divisible, key=lambda i: shape[i])  # max keeps the first of equal sizes
    # No trailing Nones: that is how jit writes its output layouts, so the placed state and every step's
    # output compare equal and the second step hits the first one's compilation.
    return PartitionSpec(*(None,) * axis, FSDP)


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def state_shardings(tree: Any, mesh: Mesh, min_size: int = MIN_SHARDED_SIZE) -> Any:
    """A pytree of ``NamedSharding`` matching ``tree`` (params, optax state, GailState, ...) by :func:`fsdp_spec`.

    Only shapes are read, so ``tree`` may hold arrays, tracers or ``jax.eval_shape`` outputs. Adam's
    ``mu`` and ``nu`` have the parameters' shapes and so get the parameters' shardings: the update of a
    shard needs only that shard's moments."""
    fsdp_size = mesh.shape[FSDP]
    return jax.tree.map(lambda x: NamedSharding(mesh, fsdp_spec(_shape(x), fsdp_size, min_size)), tree)


def constrain_state(tree: Any, mesh: Mesh | None) -> Any:
    """``tree`` pinned to :func:`state_shardings` inside ``jit`` (a no-op when ``mesh`` is None), so a
    step's output state keeps its input layout and the next step does not recompile or reshard."""
    if mesh is None:
        return tree
    return jax.lax.with_sharding_constraint(tree, state_shardings(tree, mesh))


# ----------------------------------------------------------------------------------------- batches


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Axis 0 (the batch) split over ``("data", "fsdp")``, i.e. over every device; other axes whole."""
    return NamedSharding(mesh, PartitionSpec(AXES))


def replicated(mesh: Mesh) -> NamedSharding:
    """The whole array on every device of ``mesh``."""
    return NamedSharding(mesh, PartitionSpec())


def _global_arrays(arrays: Any, sharding: NamedSharding) -> Any:
    """Global jax.Arrays from host arrays that every process holds in full: ``make_array_from_callback``
    asks for the slice of each *addressable* device only, so no process copies rows it does not own."""

    def put(x):
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    return jax.tree.map(put, arrays)


def batch_devices(mesh: Mesh) -> int:
    """How many devices the batch axis is split over: all of them, ``D * F``."""
    return mesh.shape[DATA] * mesh.shape[FSDP]


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    """Refuse a global batch that does not split evenly over :func:`batch_devices` (one sentence, with the fix)."""
    devices = batch_devices(mesh)
    if batch_size % devices:
        raise BenchError(
            f"train.batch_size={batch_size} does not split over the {devices} devices of the mesh; make "
            f"train.batch_size a multiple of {devices}, or make fewer devices visible to JAX."
        )


def shard_batch(arrays: Any, mesh: Mesh) -> Any:
    """A pytree of host arrays holding the GLOBAL batch (axis 0) -> global jax.Arrays by :func:`batch_sharding`.

    Every process passes the same full batch (text batches are small) and keeps its devices' rows."""
    for x in jax.tree.leaves(arrays):
        check_batch_size(np.shape(x)[0], mesh)
    return _global_arrays(arrays, batch_sharding(mesh))


def replicate(arrays: Any, mesh: Mesh) -> Any:
    """A pytree of host arrays (the same on every process) -> global jax.Arrays whole on every device:
    the evaluation prompts and random keys, which GSPMD then combines with the sharded parameters."""
    return _global_arrays(arrays, replicated(mesh))


# ----------------------------------------------------------------------------------------- host


def to_host(tree: Any) -> Any:
    """A numpy copy of every array of ``tree``, whatever its sharding and however many processes hold it.

    Fully addressable arrays are copied directly; a replicated array spread over processes is read
    from a local copy; any other array is gathered over processes (``process_allgather``, a
    collective: every process must call this at the same point of the program)."""

    def host(x):
        if not isinstance(x, jax.Array) or x.is_fully_addressable:
            return np.array(x)
        if x.sharding.is_fully_replicated:
            return np.array(x.addressable_data(0))
        from jax.experimental import multihost_utils  # imported here: only multi-process runs need it

        return np.array(multihost_utils.process_allgather(x, tiled=True))

    return jax.tree.map(host, tree)


# ----------------------------------------------------------------------------------------- processes


def initialize_distributed() -> bool:
    """Connect this process to the others of a multi-host run; returns whether it runs distributed.

    Only when ``JAX_COORDINATOR_ADDRESS`` is set or ``BENCH_DISTRIBUTED=1`` (a cluster JAX detects by
    itself, e.g. SLURM); ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` give the rest where no cluster
    does. Must run before the first JAX computation; calling it again is harmless."""
    if not (os.environ.get("JAX_COORDINATOR_ADDRESS") or os.environ.get("BENCH_DISTRIBUTED") == "1"):
        return False
    if jax.distributed.is_initialized():
        return True
    number = lambda name: int(os.environ[name]) if os.environ.get(name) else None  # noqa: E731
    jax.distributed.initialize(num_processes=number("JAX_NUM_PROCESSES"), process_id=number("JAX_PROCESS_ID"))
    return True


def is_primary() -> bool:
    """Whether this is process 0, the one that writes results (MLflow) in a multi-host run."""
    return jax.process_index() == 0


def agree(flag: bool) -> bool:
    """Process 0's ``flag`` on every process of a multi-host run (a collective: every process must call it at
    the same point, so it is also a barrier); ``flag`` itself when the run has one process."""
    if jax.process_count() == 1:
        return bool(flag)
    from jax.experimental import multihost_utils

    return bool(multihost_utils.broadcast_one_to_all(np.int32(bool(flag))))


__all__ = [
    "AXES", "DATA", "FSDP", "MIN_SHARDED_SIZE", "agree", "batch_devices", "batch_sharding", "check_batch_size", "constrain_state", "fsdp_spec", "initialize_distributed",
    "is_primary", "mesh_from_spec", "parse_mesh_spec", "replicate", "replicated", "shard_batch", "state_shardings", "to_host",
]
