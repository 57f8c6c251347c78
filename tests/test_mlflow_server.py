"""Cells recorded over HTTP in a real `mlflow server`, and the report built from it."""

import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from conftest import free_port, serving
from mlflow.tracking import MlflowClient

from bench.cli import main


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


# ------------------------------------------------------------------ a server reached by a host name (README recipe)

ALIAS = "bench-tracking-alias"
TOY = "task=toy_mdp,seed=0,algorithm=mle"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def host_alias():
    """A host *name* for 127.0.0.1, as a shared server is reached by (MLflow's host check allows loopback and
    private addresses, not names): an /etc/hosts line, added here and removed afterwards where it is missing;
    skipped, saying what to add, where /etc/hosts cannot be written (CI runs as root in its container)."""
    try:
        if socket.gethostbyname(ALIAS) == "127.0.0.1":
            yield ALIAS
            return
    except OSError:
        pass
    line = f"127.0.0.1 {ALIAS}\n"
    try:
        with open("/etc/hosts", "a") as f:
            f.write(line)
    except OSError as err:
        pytest.skip(f"needs a host name for 127.0.0.1: add the line '127.0.0.1 {ALIAS}' to /etc/hosts ({err.strerror})")
    try:
        yield ALIAS
    finally:
        with open("/etc/hosts") as f:
            text = f.read()
        with open("/etc/hosts", "w") as f:
            f.write(text.replace(line, "", 1))


def test_a_server_that_refuses_the_host_name_is_one_sentence_naming_the_setting(mlflow_server, host_alias, tmp_path, monkeypatch, capsys):
    """The session's server keeps MLflow's default allowed hosts, which refuse any host name: /health answers
    all the same (the trap), and bench stops before any work with the setting to change."""
    port = mlflow_server.rsplit(":", 1)[1]
    uri = f"http://{host_alias}:{port}"
    assert requests.get(f"{uri}/health", timeout=10).ok
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    for argv in (["run", "--suite", "smoke", "--filter", TOY, "--no-report"], ["check", "--suite", "smoke"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err == (f"bench: the MLflow server at {uri} refuses requests addressed to {host_alias}:{port} (403 Invalid Host "
                       f"header): start it with --allowed-hosts {host_alias}:{port} (or MLFLOW_SERVER_ALLOWED_HOSTS="
                       f"{host_alias}:{port}), or reach it by an address it allows.\n")
    assert not (tmp_path / "mlflow.db").exists()


def readme_recipe(alias: str, port: int, folder: Path, password: str) -> tuple[str, str]:
    """The README's shared-server blocks (server, client), with this machine's name, port, folder and password
    put where the README has tracking-host, 10.0.0.5, 5000, /srv/mlflow and '<admin password>'."""
    section = (ROOT / "README.md").read_text().split("**A shared tracking server.**", 1)[1]
    server, client = re.findall(r"```bash\n(.*?)```", section, re.S)[:2]
    for block, needles in ((server, ("tracking-host:5000", "--host 10.0.0.5", "--port 5000", "/srv/mlflow")),
                           (client, ("http://tracking-host:5000", "'<admin password>'"))):
        assert all(n in block for n in needles), f"the README's recipe changed; update this test: {block}"

    def here(block: str) -> str:
        block = block.replace("tracking-host", alias).replace("10.0.0.5", "127.0.0.1").replace("/srv/mlflow", str(folder))
        return block.replace(":5000", f":{port}").replace("--port 5000", f"--port {port}").replace("'<admin password>'", shlex.quote(password))

    return here(server), here(client)


@pytest.fixture(scope="module")
def readme_server(host_alias, tmp_path_factory):
    """The README's shared server started as written: host-name check, basic-auth login, one interface.
    Yields (uri, client block, admin password)."""
    pytest.importorskip("flask_wtf", reason="MLflow's basic-auth app needs its auth extra: pip install 'mlflow[auth]==3.17.2'")
    folder = tmp_path_factory.mktemp("readme-server")
    port, password = free_port(), "readme-admin-pw-4711"
    server, client = readme_recipe(host_alias, port, folder, password)
    env = os.environ | {"MLFLOW_AUTH_ADMIN_PASSWORD": password, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    with serving(["bash", "-ec", server], f"http://{host_alias}:{port}", folder, env) as uri:
        yield uri, client, password


def test_the_readme_recipe_trains_cells_and_reports_through_a_host_name_with_a_login(readme_server, tmp_path, monkeypatch):
    uri, client, password = readme_server
    env = os.environ | {"BENCH_CHECKPOINT_DIR": str(tmp_path / "ckpt")}
    env.pop("BENCH_DATA_DIR", None)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        env.pop(name, None)
    run = subprocess.run(  # the README's client block as written, then bench
        ["bash", "-ec", client + '\nexec "$0" -m bench.cli "$@"', sys.executable, "run", "--suite", "smoke", "--filter", TOY, "--out", "out"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert password not in run.stderr and (tmp_path / "out" / "smoke.html").is_file()
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    mlflow_client = MlflowClient(uri)
    runs = mlflow_client.search_runs([mlflow_client.get_experiment_by_name("smoke").experiment_id], "tags.`bench.seed` = '0'")
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}


def test_a_server_asking_for_a_login_is_one_sentence_with_the_password_masked(readme_server, tmp_path, monkeypatch, capsys):
    uri, _, password = readme_server
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert main(["check", "--suite", "smoke"]) == 1
    assert capsys.readouterr().err == (f"bench: the MLflow server at {uri} asks for a login (401): set MLFLOW_TRACKING_USERNAME "
                                       "and MLFLOW_TRACKING_PASSWORD to an account of its basic-auth app.\n")
    wrong = uri.replace("http://", "http://admin:not-the-pw-0815@")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", wrong)
    assert main(["run", "--suite", "smoke", "--filter", TOY, "--no-report"]) == 1
    err = capsys.readouterr().err
    assert "not-the-pw-0815" not in err
    assert err == (f"bench: the MLflow server at {uri.replace('http://', 'http://admin:***@')} rejects the login given (401): "
                   "check MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or the user name and password in the URI).\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri.replace("http://", f"http://admin:{password}@"))  # a login in the URI works
    assert main(["report", "--suite", "smoke", "--out", str(tmp_path / "out")]) == 0
    assert password not in capsys.readouterr().err + (tmp_path / "out" / "smoke.html").read_text()
