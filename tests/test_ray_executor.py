"""`--executor ray`: each cell a task on a local Ray cluster, recorded in the same MLflow server."""

import os

import pytest
from mlflow.tracking import MlflowClient

pytest.importorskip("ray")

from bench.executors import RayExecutor  # noqa: E402
from bench.runner import Settings, load_suite, run_suite, select  # noqa: E402
from bench.tracking import Store  # noqa: E402


def test_the_ray_job_carries_the_allow_list_and_only_named_credentials(monkeypatch):
    """What every user of the cluster can read: the job's runtime environment (bench/executors.py)."""
    import ray

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("BENCH_FORWARD_CHECK", "1")
    monkeypatch.setenv("HF_TOKEN", "hf_not_forwarded")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "named-so-forwarded")
    monkeypatch.setenv("UNLISTED_SETTING", "x")
    executor = RayExecutor(cpus_per_cell=1, forward_env=("MLFLOW_TRACKING_PASSWORD",))
    executor._connect()
    try:
        env = ray.get_runtime_context().runtime_env["env_vars"]
    finally:
        ray.shutdown()
    assert env["BENCH_FORWARD_CHECK"] == "1" and env["MLFLOW_TRACKING_PASSWORD"] == "named-so-forwarded"
    assert "HF_TOKEN" not in env and "UNLISTED_SETTING" not in env and "PATH" not in env


def test_ray_runs_the_toy_cells_of_the_smoke_suite_into_the_tracking_server(mlflow_server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("BENCH_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a throwaway local cluster; no token in ~/.ray
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    executor = RayExecutor(cpus_per_cell=1)
    cells = frozenset(e.cell.hash for e in select(load_suite("smoke"), "task=toy_mdp,seed=1"))
    summary = run_suite("smoke", filter_expr="task=toy_mdp,seed=1", store=Store.open("smoke"), executor=executor,
                        settings=Settings(keep_final=cells))
    assert len(summary.finished) == 8 and not summary.failed and not summary.taken

    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("smoke").experiment_id
    runs = [r for r in client.search_runs([experiment], max_results=1000) if r.data.tags["bench.seed"] == "1"]
    assert len(runs) == 8 and {r.info.status for r in runs} == {"FINISHED"}
    assert {r.info.run_id for r in runs} == {run_id for _, run_id in summary.finished}
    owners = {r.data.tags["bench.owner"].rsplit(":", 1)[1] for r in runs}
    assert str(os.getpid()) not in owners and len(owners) >= 2  # trained in Ray's worker processes, two at a time
    assert all("eval/success_rate" in r.data.metrics for r in runs)
    # workers wrote to the driver's checkpoint root: the final parameters of each run, its checkpoints removed
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["finished"]
    assert sorted(os.listdir(tmp_path / "ckpt" / "finished")) == sorted(r.info.run_id for r in runs)
    assert all(r.data.tags["bench.final_params"] == str(tmp_path / "ckpt" / "finished" / r.info.run_id) for r in runs)
