"""Kill and resume: a `bench run` killed with SIGKILL mid-training continues from its last checkpoint on the next
run and ends bit for bit as an uninterrupted run of the same cell."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from mlflow.tracking import MlflowClient

# The smoke suite's offline IQLearn cell on arith: 10 MLE updates, then 20 IQLearn updates (t5-tiny, no data).
CELL = "task=arith,algorithm=iqlearn,model=t5-tiny"


def bench_run(folder: Path, **popen) -> subprocess.Popen:
    folder.mkdir(exist_ok=True)
    env = os.environ | {"MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}", "BENCH_CHECKPOINT_DIR": str(folder / "ckpt")}
    env.pop("BENCH_DATA_DIR", None)
    command = [sys.executable, "-m", "bench.cli", "run", "--suite", "smoke", "--filter", CELL, "--no-report", "--checkpoint-every", "2"]
    return subprocess.Popen(command, cwd=folder, env=env, stderr=subprocess.PIPE, text=True, **popen)


def checkpoint_steps(folder: Path) -> list[int]:
    """Complete checkpoints (orbax renames a step's folder to its number once written)."""
    cells = list((folder / "ckpt").glob("*")) if (folder / "ckpt").exists() else []
    return sorted(int(p.name) for cell in cells for p in cell.iterdir() if p.name.isdigit())


def runs(folder: Path):
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    return client, client.search_runs([client.get_experiment_by_name("smoke").experiment_id])


def test_a_killed_cell_resumes_from_its_checkpoint_and_ends_as_an_uninterrupted_run(tmp_path):
    whole = bench_run(tmp_path / "whole")  # the reference, beside the run that is killed
    killed = bench_run(tmp_path / "killed", start_new_session=True)
    deadline = time.monotonic() + 600
    while not checkpoint_steps(tmp_path / "killed"):
        assert killed.poll() is None, f"the run ended before its first checkpoint: {killed.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "no checkpoint within 10 minutes"
        time.sleep(0.05)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    saved = checkpoint_steps(tmp_path / "killed")[-1]
    assert 2 <= saved < 30, saved  # killed mid-training
    _, (dead,) = runs(tmp_path / "killed")
    assert dead.info.status == "RUNNING"  # SIGKILL left no time to record anything

    again = bench_run(tmp_path / "killed")
    _, log = again.communicate(timeout=600)
    assert again.returncode == 0, log[-3000:]
    assert f"resumed from the checkpoint at step {saved}" in log
    assert whole.wait(timeout=600) == 0, whole.stderr.read()[-3000:]

    client, finished = runs(tmp_path / "whole")
    client_r, resumed = runs(tmp_path / "killed")
    (reference,) = finished
    new = next(r for r in resumed if r.info.status == "FINISHED")
    old = next(r for r in resumed if r.info.run_id == dead.info.run_id)
    assert old.info.status == "KILLED" and old.data.tags["bench.superseded_by"] == new.info.run_id
    assert new.data.tags["bench.resumed_from"] == old.info.run_id and new.data.tags["bench.resumed_at_step"] == str(saved)
    # bit for bit: the parameters, every final metric and every generation
    assert new.data.tags["bench.params_sha256"] == reference.data.tags["bench.params_sha256"]
    np.testing.assert_equal(new.data.metrics, reference.data.metrics)
    generations = [Path(c.download_artifacts(r.info.run_id, "generations.jsonl", str(tmp_path / r.info.run_id))).read_text()
                   for c, r in ((client, reference), (client_r, new))]
    assert generations[0] == generations[1]
