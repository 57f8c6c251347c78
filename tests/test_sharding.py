"""bench.models.sharding: the FSDP layout rules, mesh specs, batches, and the trainer on 8 simulated devices.

Layout rules are tested in this process on shapes (an ``AbstractMesh`` needs no devices). Every check on
several devices runs tests/sharding_child.py in a subprocess whose environment sets
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` before JAX is imported there: this process's JAX
has already started with one CPU device.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import AbstractMesh, NamedSharding, PartitionSpec as P

from bench.models import sharding
from bench.registry import BenchError
from conftest import free_port

CHILD = Path(__file__).with_name("sharding_child.py")
# Max abs difference from the 1-device run, whose float32 sums run in another order; how it applies to
# losses, gradients and parameters: assert_matches_one_device.
TOLERANCE = 1e-5


def abstract_mesh(data: int, fsdp: int) -> AbstractMesh:
    return AbstractMesh((data, fsdp), sharding.AXES)


# ----------------------------------------------------------------------------------------- layout rules


@pytest.mark.parametrize(
    "shape, spec",
    [
        ((512, 64), P("fsdp")),  # embedding [V, D]: the vocabulary is the largest divisible dimension
        ((64, 128), P(None, "fsdp")),  # feed-forward in [D, F]
        ((64, 64), P("fsdp")),  # equal sizes: the first
        ((100, 64), P(None, "fsdp")),  # 100 % 8 != 0: the largest *divisible* dimension
        ((2, 1000, 24), P(None, "fsdp")),  # 1000 and 24 both divisible: the larger
    ],
)
def test_the_largest_divisible_dimension_gets_fsdp(shape, spec):
    assert sharding.fsdp_spec(shape, 8) == spec


@pytest.mark.parametrize(
    "shape, why",
    [((), "a scalar (Adam's step count)"), ((64,), "a norm scale below the threshold"), ((32, 4), "a position-bias table"),
     ((3, 5, 7, 99), "no dimension divisible by 8")],
)
def test_small_scalar_and_indivisible_arrays_are_replicated(shape, why):
    assert sharding.fsdp_spec(shape, 8) == P(), why


def test_the_threshold_and_a_single_fsdp_device():
    big = (sharding.MIN_SHARDED_SIZE // 8, 8)
    assert sharding.fsdp_spec(big, 8) == P("fsdp")
    assert sharding.fsdp_spec((big[0] - 1, 8), 8) == P()  # one row fewer: below the threshold
    assert sharding.fsdp_spec((512, 64), 1) == P()  # fsdp=1 (pure data parallelism): every array replicated
    assert sharding.fsdp_spec((16, 16), 8, min_size=0) == P("fsdp")


def test_adam_moments_get_the_params_shardings_from_shapes_alone():
    params = {"embed": jax.ShapeDtypeStruct((512, 64), jnp.float32), "scale": jax.ShapeDtypeStruct((64,), jnp.float32)}
    opt_state = jax.eval_shape(optax.adam(1e-3).init, params)  # shapes only: nothing is allocated
    mesh = abstract_mesh(2, 4)
    p_shard, (adam, _) = sharding.state_shardings(params, mesh), sharding.state_shardings(opt_state, mesh)
    assert p_shard["embed"] == NamedSharding(mesh, P("fsdp")) and p_shard["scale"] == NamedSharding(mesh, P())
    assert adam.mu == p_shard and adam.nu == p_shard
    assert adam.count == NamedSharding(mesh, P())


# ----------------------------------------------------------------------------------------- mesh specs


@pytest.mark.parametrize(
    "spec, sizes",
    [(None, (1, 8)), ("", (1, 8)), ("fsdp=8", (1, 8)), ("data=8", (8, 1)), ("data=2,fsdp=4", (2, 4)),
     (" fsdp = 4 , data = 2 ", (2, 4)), ("data=-1,fsdp=2", (4, 2)), ("fsdp=-1", (1, 8))],
)
def test_mesh_specs(spec, sizes):
    assert sharding.parse_mesh_spec(spec, 8) == {"data": sizes[0], "fsdp": sizes[1]}


@pytest.mark.parametrize(
    "spec, says",
    [("data=3,fsdp=2", "the 8 devices"), ("data=-1,fsdp=3", "the 8 devices"), ("model=8", "bad or repeated axis"),
     ("data=2,data=4", "bad or repeated axis"), ("data=-1,fsdp=-1", "more than one -1"), ("data=two", "integers"),
     ("fsdp=0", "integers")],
)
def test_bad_mesh_specs_name_the_spec_and_the_fix(spec, says):
    with pytest.raises(BenchError, match=says) as err:
        sharding.parse_mesh_spec(spec, 8)
    assert repr(spec) in str(err.value)


def test_the_default_mesh_is_every_device_on_fsdp():
    mesh = sharding.mesh_from_spec(None)
    assert mesh.axis_names == ("data", "fsdp") and mesh.shape == {"data": 1, "fsdp": jax.device_count()}
    with pytest.raises(BenchError, match=f"does not cover the {jax.device_count()} devices JAX sees; .*BENCH_MESH"):
        sharding.mesh_from_spec(f"fsdp={2 * jax.device_count()}")


# ----------------------------------------------------------------------------------------- batches and host


def test_a_batch_must_split_over_every_device():
    sharding.check_batch_size(16, abstract_mesh(2, 4))
    with pytest.raises(BenchError, match=r"train.batch_size=12 does not split over the 8 devices .* multiple of 8"):
        sharding.check_batch_size(12, abstract_mesh(2, 4))
    with pytest.raises(BenchError, match="train.batch_size=3"):
        sharding.check_batch_size(3, abstract_mesh(1, 2))


def test_shard_batch_and_to_host_round_trip_on_one_device():
    mesh = sharding.mesh_from_spec(None)
    batch = (np.arange(12, dtype=np.int32).reshape(4, 3), np.ones((4, 5), np.float32))
    placed = sharding.shard_batch(batch, mesh)
    assert all(x.sharding == sharding.batch_sharding(mesh) for x in placed)
    back = sharding.to_host(placed)
    assert all(isinstance(b, np.ndarray) and np.array_equal(a, b) for a, b in zip(batch, back))


def test_distributed_start_only_when_asked(monkeypatch):
    monkeypatch.delenv("JAX_COORDINATOR_ADDRESS", raising=False)
    monkeypatch.delenv("BENCH_DISTRIBUTED", raising=False)
    assert sharding.initialize_distributed() is False
    assert sharding.is_primary()


# ----------------------------------------------------------------------------------------- on 8 devices


class Child:
    """tests/sharding_child.py running with ``devices`` simulated CPU devices; ``result()`` waits for its RESULT json."""

    def __init__(self, *args: str, devices: int = 8, env: dict | None = None):
        flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
        child_env = {k: v for k, v in os.environ.items() if k not in ("BENCH_MESH", "JAX_COORDINATOR_ADDRESS", "BENCH_DISTRIBUTED")}
        child_env |= {"XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"} | (env or {})
        self.args = args
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), *args], env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._result = None

    def result(self, timeout: float = 600) -> dict:
        if self._result is None:
            try:
                stdout, stderr = self.process.communicate(timeout=timeout)
            finally:
                self.process.kill()
            lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
            assert lines, f"child {self.args} gave no result:\n{stderr[-3000:]}"
            self._result = json.loads(lines[-1][len("RESULT "):])
        return self._result


class StepsRun:
    """A ``steps`` child: its RESULT json, and its losses, gradients [steps, n] and final parameters [n] once done."""

    def __init__(self, objective: str, spec: str, out: Path, devices: int = 8, env: dict | None = None):
        self.out = out
        self.child = Child("steps", objective, spec, str(out), devices=devices, env=env)

    def result(self) -> dict:
        result = self.child.result()
        with np.load(self.out) as arrays:
            return result | {name: arrays[name] for name in arrays.files}


@pytest.fixture(scope="module")
def one_device(tmp_path_factory):
    """The 1-device reference run of each objective, started on first request and shared by the tests."""
    started: dict[str, StepsRun] = {}
    folder = tmp_path_factory.mktemp("one_device")

    def start(objective: str) -> StepsRun:
        if objective not in started:
            started[objective] = StepsRun(objective, "one", folder / f"{objective}.npz", devices=1)
        return started[objective]

    yield start
    for run in started.values():
        run.child.process.kill()


def assert_matches_one_device(run: dict, reference: dict) -> None:
    """``run`` (some mesh) against ``reference`` (1 device) after the same steps.

    - the state is really sharded (else the comparison is trivial) and kept its layout every step;
    - losses, and the first step's gradients (same parameters in both runs), to TOLERANCE relative to
      max(1, their size): the float32 sums run in another order. The gradients matter on their own:
      Adam is blind to a gradient's scale, so they are what catches a wrong mean over the split batch;
    - parameters to TOLERANCE absolute wherever Adam can resolve them. Adam moves an element by
      lr * m_hat / (sqrt(v_hat) + eps), a ratio of the element's own gradients: where the two runs'
      gradients agree to a relative r at every step, k steps agree to about k * lr * r, so the elements
      with r <= TOLERANCE / (k * lr) are held to TOLERANCE. An element whose gradient is float32 noise
      (terms of ~0.1 cancelling to ~1e-8) has r ~ 1 and may move by up to ~lr differently; such elements
      are counted and must stay a handful (1e-4 of all)."""
    assert run["spans"] > 1, "no parameter is sharded: the comparison would be trivial"
    assert run["kept_layout"], "the state left the FSDP layout during training"
    loss_diff = np.max(np.abs(run["losses"] - reference["losses"]))
    assert loss_diff <= TOLERANCE * max(1.0, np.max(np.abs(reference["losses"]))), (run["losses"], reference["losses"])
    first = reference["grads"][0]
    grad_diff = np.max(np.abs(run["grads"][0] - first))
    assert grad_diff <= TOLERANCE * max(1.0, np.max(np.abs(first))), (grad_diff, np.max(np.abs(first)))
    resolution = TOLERANCE / (len(reference["losses"]) * reference["learning_rate"])
    resolved = np.all(np.abs(run["grads"] - reference["grads"]) <= resolution * np.abs(reference["grads"]), axis=0)
    param_diff = np.abs(run["params"] - reference["params"])
    assert param_diff[resolved].max() <= TOLERANCE, param_diff[resolved].max()
    beyond = int(np.sum(param_diff[~resolved] > TOLERANCE))
    assert beyond <= 1e-4 * param_diff.size, (beyond, param_diff.max())


@pytest.mark.parametrize(
    "objective, spec",
    # IQLearn on data=2,fsdp=4 is the two-process test's layout, below
    [("mle", "data=2,fsdp=4"), ("iqlearn", "fsdp=8"), ("gail_mle", "fsdp=8")],
)
def test_train_steps_on_8_devices_match_one_device(objective, spec, one_device, tmp_path):
    """3 real steps of t5-tiny (train_step with MLE or offline IQLearn; GAIL+MLE's three-network update)
    on 8 devices: the same losses, gradients and parameters as on one device, to float32 rounding."""
    reference = one_device(objective)  # started first: it runs beside the 8-device child
    run = StepsRun(objective, spec, tmp_path / "run.npz").result()
    assert run["devices"] == 8 and run["spans"] == int(spec.rsplit("=", 1)[1])  # each shard on one fsdp device
    assert_matches_one_device(run, reference.result())


def test_two_processes_of_4_devices_match_one_device(one_device, tmp_path):
    """Multi-host for real: 2 processes of 4 CPU devices each (gloo collectives), joined by jax.distributed
    through the environment variables sharding.initialize_distributed reads, train on the global
    8-device mesh data=2,fsdp=4 and match the 1-device run; both processes read the same global values."""
    reference = one_device("iqlearn")
    address = f"127.0.0.1:{free_port()}"
    env = lambda i: {"JAX_COORDINATOR_ADDRESS": address, "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": str(i)}  # noqa: E731
    processes = [StepsRun("iqlearn", "data=2,fsdp=4", tmp_path / f"process{i}.npz", devices=4, env=env(i)) for i in range(2)]
    try:
        first, second = [p.result() for p in processes]
    finally:
        for p in processes:
            p.child.process.kill()
    assert [(r["process"], r["processes"], r["devices"]) for r in (first, second)] == [(0, 2, 8), (1, 2, 8)]
    assert_matches_one_device(first, reference.result())
    for name in ("losses", "grads", "params"):
        assert np.array_equal(first[name], second[name]), name
