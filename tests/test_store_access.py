"""Read-only SQLite stores: `bench run` refuses them up front in one sentence, `bench report` and `bench check` read them.

Permissions only bind a process that may not override them, so the `bench` commands run in a subprocess: as a user
other than root, as they are; as root (this machine, many containers), with the capabilities that let root write and
read anything (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) dropped by util-linux's `setpriv`.
"""

import hashlib
import os
import shutil
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from bench.runner import run_suite

TOY = "task=toy_mdp,seed=0,algorithm=mle"


def bound_by_permissions(argv: list[str]) -> list[str]:
    """``argv`` run so that file permissions bind it."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without util-linux's setpriv: file permissions cannot be made to bind")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}", *argv]


def bench(tmp_path, uri, *args):
    env = os.environ | {"MLFLOW_TRACKING_URI": uri}
    env.pop("BENCH_DATA_DIR", None)  # the toy cells of smoke only
    return subprocess.run(bound_by_permissions([sys.executable, "-m", "bench.cli", *args]), cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


def snapshot(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_run_refuses_a_read_only_store_file_in_a_writable_folder_in_one_sentence(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    uri = f"sqlite:///{store / 'mlflow.db'}"
    MlflowClient(uri).create_experiment("smoke")  # so that nothing fails before the first run is created
    os.chmod(store / "mlflow.db", 0o444)
    try:
        run = bench(tmp_path, uri, "run", "--suite", "smoke", "--filter", TOY, "--no-report")
    finally:
        os.chmod(store / "mlflow.db", 0o644)
    assert run.returncode == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr and "MlflowException" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last == (f"bench: cannot write the MLflow SQLite store {uri}: the file {store / 'mlflow.db'} is read-only; make it "
                    f"writable (chmod u+w {store / 'mlflow.db'}), or start the server or point MLFLOW_TRACKING_URI at a reachable "
                    "store (unset it to use ./mlflow.db) (bench report and bench check can read a read-only store).")


def test_report_and_check_read_a_read_only_store_and_write_nothing_to_it(tmp_path, monkeypatch):
    store = tmp_path / "store"
    store.mkdir()
    uri = f"sqlite:///{store / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    summary = run_suite("smoke", filter_expr=TOY)
    run_ids = [run_id for _, run_id in summary.finished]
    assert len(run_ids) == 2
    before = snapshot(store)
    os.chmod(store / "mlflow.db", 0o444)
    os.chmod(store, 0o555)
    try:
        report = bench(tmp_path, uri, "report", "--suite", "smoke", "--out", str(tmp_path / "out"))
        check = bench(tmp_path, uri, "check", "--suite", "smoke")
    finally:
        os.chmod(store, 0o755)
        os.chmod(store / "mlflow.db", 0o644)
    assert report.returncode == 0, report.stderr[-2000:]
    page = (tmp_path / "out" / "smoke.html").read_text()
    assert all(run_id in page for run_id in run_ids)
    assert check.returncode == 0 and "checks:" in check.stdout, check.stderr[-2000:]
    assert snapshot(store) == before  # no lock file, no journal, not a byte of the database changed
