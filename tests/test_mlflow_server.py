"""Cells recorded over HTTP in a real `mlflow server`, and the report built from it."""

import os
import subprocess
import sys

from mlflow.tracking import MlflowClient


def test_cells_run_against_a_tracking_server_and_the_report_reads_it(mlflow_server, tmp_path):
    env = os.environ | {"MLFLOW_TRACKING_URI": mlflow_server, "BENCH_CHECKPOINT_DIR": str(tmp_path / "ckpt")}
    env.pop("BENCH_DATA_DIR", None)
    run = subprocess.run(
        [sys.executable, "-m", "bench.cli", "run", "--suite", "smoke", "--filter", "task=toy_mdp,seed=0"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"at {mlflow_server}" in run.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()  # nothing went to a local store

    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("smoke").experiment_id
    runs = client.search_runs([experiment], "tags.`bench.seed` = '0'", max_results=100)
    assert len(runs) == 8 and {r.info.status for r in runs} == {"FINISHED"}
    for r in runs:  # metrics with their steps, and the artifact through the server's proxy
        assert [m.step for m in client.get_metric_history(r.info.run_id, "train/success_rate")][-1] == 1000
        assert "policy.json" in [a.path for a in client.list_artifacts(r.info.run_id)]

    report = subprocess.run(
        [sys.executable, "-m", "bench.cli", "report", "--suite", "smoke", "--out", "out"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    page = (tmp_path / "out" / "smoke.html").read_text()
    assert mlflow_server in page and all(r.info.run_id in page for r in runs)
