"""No credential of the tracking store (or any other) reaches stderr, the report, MLflow, or a Ray job's environment."""

import os
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from bench.executors import forwarded_env, task_uri
from bench.registry import BenchError
from reports import html
from reports.runs import RunRecord

PASSWORD = "s3cr3t-pw-4711"


def with_password(uri: str) -> str:
    """``http://host:port`` as ``http://alice:PASSWORD@host:port`` (an mlflow server without auth ignores them)."""
    scheme, rest = uri.split("://", 1)
    return f"{scheme}://alice:{PASSWORD}@{rest}"


def test_report_provenance_masks_the_password_of_the_tracking_uri():
    run = RunRecord("r1", "c1", "fig11", {}, {"bench.git_commit": "abc"}, {}, 0)
    page = html.build("s", [run], [("c1", "fig11")], f"https://alice:{PASSWORD}@mlflow.example:5000/?token=t0k", history=dict)
    assert PASSWORD not in page and "t0k" not in page
    assert "https://alice:***@mlflow.example:5000/?token=***" in page  # still says which store, and whose


def test_bench_run_against_a_server_with_credentials_prints_and_reports_no_password(mlflow_server, tmp_path):
    env = os.environ | {"MLFLOW_TRACKING_URI": with_password(mlflow_server), "BENCH_CHECKPOINT_DIR": str(tmp_path / "ckpt")}
    env.pop("BENCH_DATA_DIR", None)
    run = subprocess.run(
        [sys.executable, "-m", "bench.cli", "run", "--suite", "smoke", "--filter", "task=toy_mdp,seed=3,algorithm=mle,task.variant=recovery",
         "--out", "out"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    masked = mlflow_server.replace("http://", "http://alice:***@")
    assert f"at {masked}" in run.stderr  # the run line names the store, masked
    page = (tmp_path / "out" / "smoke.html").read_text()
    assert masked in page
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("smoke").experiment_id
    (recorded,) = client.search_runs([experiment], "tags.`bench.seed` = '3'")
    stored = " ".join([*recorded.data.tags.values(), *recorded.data.params.values()])
    for where, text in (("stdout", run.stdout), ("stderr", run.stderr), ("report", page), ("MLflow tags and params", stored)):
        assert PASSWORD not in text, where


def test_bench_profile_message_masks_the_password(mlflow_server, monkeypatch):
    import numpy as np

    from bench import grids, profile

    monkeypatch.setenv("MLFLOW_TRACKING_URI", with_password(mlflow_server))
    timed = profile.Profile("t5-tiny", 2, 8, 4, 2, "cpu", [profile.Row("mle", "MLE update", ms=np.array([1.0, 2.0]))])
    cell = grids.timing_cell("t5-tiny", "mle", {}, batch_size=2, prompt_len=8, target_len=4, repeats=2, warmup=0)
    message = profile.log_profile(timed, {"mle": cell}, experiment="profile-secrets")
    assert "logged 1 runs" in message and mlflow_server.replace("http://", "http://alice:***@") in message
    assert PASSWORD not in message


# ------------------------------------------------------------------------------ Ray: the job's environment
DRIVER = {
    "BENCH_DATA_DIR": "/data", "BENCH_CHECKPOINT_DIR": "/ckpt", "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_x=1",
    "MLFLOW_TRACKING_URI": "http://tracking:5000", "MLFLOW_HTTP_REQUEST_TIMEOUT": "60", "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1", "XLA_PYTHON_CLIENT_MEM_FRACTION": ".9",
    # credentials and what the cells do not read
    "HF_TOKEN": "hf_abc", "MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": "pw", "MLFLOW_TRACKING_TOKEN": "t",
    "BENCH_API_KEY": "k", "AWS_SECRET_ACCESS_KEY": "s", "HOME": "/home/alice", "PATH": "/usr/bin", "RAY_AUTH_MODE": "disabled",
    "MLFLOW_S3_ENDPOINT_URL": "https://bob:pw2@minio:9000", "JAX_COORDINATOR_URL": "http://u:pw3@host0:1234",
}


def test_ray_forwards_the_allow_list_and_no_credential():
    assert forwarded_env(DRIVER) == {
        "BENCH_DATA_DIR": "/data", "BENCH_CHECKPOINT_DIR": "/ckpt", "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_x=1",
        "MLFLOW_TRACKING_URI": "http://tracking:5000", "MLFLOW_HTTP_REQUEST_TIMEOUT": "60", "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1", "XLA_PYTHON_CLIENT_MEM_FRACTION": ".9",
    }


def test_ray_forwards_what_the_user_names_credentials_only_by_exact_name():
    driver = DRIVER | {"MY_SETTING": "1", "TEAM_A": "a", "TEAM_B": "b", "TEAM_TOKEN": "t", "NOT_SET_ANYWHERE": ""}
    added = set(forwarded_env(driver, ["MY_SETTING", "TEAM_*", "MLFLOW_*", "NOT_SET"])) - set(forwarded_env(DRIVER))
    assert added == {"MY_SETTING", "TEAM_A", "TEAM_B"}  # a pattern never takes TEAM_TOKEN or MLFLOW_TRACKING_PASSWORD
    named = forwarded_env(driver | {"BENCH_RAY_FORWARD_ENV": "HF_TOKEN, MLFLOW_TRACKING_PASSWORD"}, ["MLFLOW_TRACKING_USERNAME"])
    assert named["HF_TOKEN"] == "hf_abc" and named["MLFLOW_TRACKING_PASSWORD"] == "pw" and named["MLFLOW_TRACKING_USERNAME"] == "alice"


def test_ray_refuses_a_tracking_uri_with_credentials_unless_named():
    uri = f"https://alice:{PASSWORD}@tracking:5000"
    driver = {"MLFLOW_TRACKING_URI": uri}
    assert "MLFLOW_TRACKING_URI" not in forwarded_env(driver)
    with pytest.raises(BenchError) as err:
        task_uri(uri, driver)
    assert PASSWORD not in str(err.value) and "--forward-env MLFLOW_TRACKING_URI" in str(err.value)
    assert task_uri(uri, driver, ["MLFLOW_TRACKING_URI"]) == uri
    assert forwarded_env(driver, ["MLFLOW_TRACKING_URI"]) == driver
    assert task_uri("http://tracking:5000", {}) == "http://tracking:5000"


def test_forward_env_is_refused_without_the_ray_executor(store_uri, capsys):
    from bench.cli import main

    assert main(["run", "--suite", "smoke", "--forward-env", "HF_TOKEN"]) == 2
    assert "--forward-env apply to --executor ray only" in capsys.readouterr().err
