"""`bench run` on two hosts: two processes of 4 simulated CPU devices each, joined by jax.distributed, train one
cell on the global 8-device mesh; process 0 alone records it, and it scores as the same cell on one device."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import free_port

CHILD = Path(__file__).with_name("multihost_child.py")  # `bench` plus a suite of one small arith MLE cell
FROM_FLOATS = ("train/", "eval/per_token_entropy", "eval/reward")


def bench_run(folder, devices: int, **env) -> subprocess.Popen:
    folder.mkdir(exist_ok=True)
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
    environ = {k: v for k, v in os.environ.items() if k not in ("BENCH_DATA_DIR", "BENCH_MESH")}
    environ |= {"XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu", "MLFLOW_TRACKING_URI": f"sqlite:///{folder.parent / folder.name}.db",
                "BENCH_CHECKPOINT_DIR": str(folder.parent / "ckpt" / folder.name)} | env
    command = [sys.executable, str(CHILD), "run", "--suite", "multihost", "--no-report"]
    return subprocess.Popen(command, cwd=folder, env=environ, stderr=subprocess.PIPE, text=True)


def test_two_processes_train_one_cell_on_8_devices_and_process_0_records_it(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    hosts = [bench_run(tmp_path / "hosts", 4, JAX_COORDINATOR_ADDRESS=address, JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(i))
             for i in range(2)]
    single = bench_run(tmp_path / "single", 1)
    try:
        logs = [p.communicate(timeout=900)[1] for p in (*hosts, single)]
    finally:
        for p in (*hosts, single):
            p.kill()
    assert [p.returncode for p in (*hosts, single)] == [0, 0, 0], [log[-2000:] for log in logs]
    assert "process 1 of 2; process 0 records the results" in logs[1]

    def only_run(name):
        client = MlflowClient(f"sqlite:///{tmp_path / name}.db")
        (run,) = client.search_runs([client.get_experiment_by_name("multihost").experiment_id])
        return run

    sharded, reference = only_run("hosts"), only_run("single")
    assert sharded.info.status == "FINISHED" and sharded.data.tags["bench.devices"].endswith("x8")
    assert sharded.data.tags["bench.owner"].endswith(f":{hosts[0].pid}")  # process 0's run
    assert reference.data.tags["bench.devices"].endswith("x1")
    # The same samples, so every metric scored from their text is equal. Metrics computed from floats are not
    # bitwise: the sharded logits differ from the 1-device ones by float32 rounding (~2e-5 at |logit| ~40), so
    # the losses, the entropy and the implied rewards (sums of terms q - gamma V that cancel) agree to ~1e-5.
    assert set(sharded.data.metrics) == set(reference.data.metrics)
    for name, value in reference.data.metrics.items():
        if name.startswith(FROM_FLOATS):
            assert sharded.data.metrics[name] == pytest.approx(value, rel=1e-4, nan_ok=True), name
        else:
            assert sharded.data.metrics[name] == pytest.approx(value, rel=0, abs=0, nan_ok=True), name
