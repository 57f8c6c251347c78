import atexit
import os
import shutil
import tempfile
from contextlib import contextmanager

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# One XLA compilation cache for the whole session, this process and every `bench` subprocess it starts: the
# tests compile the same t5-tiny programs dozens of times. Fresh each session, so nothing is read from or left
# in the user's own cache.
os.environ["BENCH_COMPILATION_CACHE"] = tempfile.mkdtemp(prefix="bench-xla-")
atexit.register(shutil.rmtree, os.environ["BENCH_COMPILATION_CACHE"], ignore_errors=True)

import bench  # noqa: E402  (fills the registries)
from bench import compilation  # noqa: E402
from bench.cells import Cell  # noqa: E402
from bench.registry import SUITES  # noqa: E402
from bench.suites import SuiteCell  # noqa: E402

compilation.enable()


@pytest.fixture
def store_uri(tmp_path, monkeypatch):
    """A fresh SQLite MLflow store in a temporary working directory."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def toy_cell(algorithm="mle", seed=0, variant="recovery", steps=40, **hparams):
    return Cell.make(
        "toy_mdp", algorithm, model="tabular", seed=seed,
        task_options={"variant": variant, "n": 4, "horizon": 6},
        hparams=hparams, model_options={"init_scale": 1.0}, data={"demonstrations": 1},
        train={"steps": steps, "learning_rate": 0.05, "policy_batch": 4, "eval_points": 2},
    )


@pytest.fixture
def tiny_suite():
    """Registers suite 'tiny' (4 quick toy cells) and, via the returned list, lets a test add cells."""
    entries = [
        SuiteCell(toy_cell("mle", seed=s), "fig11") for s in (0, 1)
    ] + [
        SuiteCell(toy_cell("iqlearn_online", seed=s, lam=0.05, gamma=0.5, alpha=0.2, form="original"), "fig11") for s in (0, 1)
    ]
    saved = SUITES.clear()
    SUITES.restore(saved)  # keep the built-in suites beside 'tiny'; teardown drops 'tiny' again
    SUITES.register("tiny", "four quick toy cells")(lambda: list(entries))
    yield entries
    SUITES.restore(saved)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` on 127.0.0.1 (SQLite backend, one worker, artifacts proxied); yields its URI."""
    import sys

    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    argv = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts")]
    with serving(argv, f"http://127.0.0.1:{port}", root, os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}) as uri:
        yield uri


@contextmanager
def serving(argv: list[str], uri: str, root, env: dict, wait_s: float = 300):
    """Run ``argv`` (an `mlflow server`, or a shell starting one) in ``root`` until its ``uri`` answers /health
    (about 15 s on an idle machine, minutes on a loaded one), yield ``uri``, then stop it. It runs in its own process
    group and is stopped by group, since the server's workers outlive a killed parent; its output goes to
    ``root/server.log``, whose tail a failure to start shows."""
    import signal
    import subprocess
    import time

    import requests

    with open(root / "server.log", "w") as log:
        proc = subprocess.Popen(argv, cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                if requests.get(f"{uri}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pytest.fail(f"mlflow server did not become healthy: {(root / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        try:
            yield uri
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
