"""Claims: a cell runs in one process at a time, and runs left RUNNING by dead processes are taken over."""

import os
import re
import socket
import subprocess
import sys
import time

from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from bench.tracking import Store, is_live
from conftest import toy_cell


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_live_claim_wins_and_later_contenders_lose(store_uri):
    store, cell = Store.open("claims"), toy_cell()
    first = store.claim(cell, "fig11")
    assert first is not None
    assert store.claim(cell, "fig11") is None  # the first is RUNNING, owned by this live process
    store.finish(first)
    assert store.claim(cell, "fig11") is None  # finished: nothing to do
    again = store.claim(cell, "fig11", since_ms=int(time.time() * 1000) + 1)  # --force: older finished runs do not count
    assert again is not None and again != first
    active = MlflowClient(store_uri).search_runs([store.experiment_id])
    assert sorted(r.info.status for r in active) == ["FINISHED", "RUNNING"]  # losers deleted their runs
    deleted = MlflowClient(store_uri).search_runs([store.experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert len(deleted) == 2


def test_runs_of_dead_or_silent_owners_are_taken_over(store_uri):
    store, cell = Store.open("claims"), toy_cell()
    stale = store.start(cell, "fig11")
    store.client.set_tag(stale, "bench.owner", f"{socket.gethostname()}:{dead_pid()}")  # crashed on this host
    winner = store.claim(cell, "fig11")
    assert winner is not None
    run = store.client.get_run(stale)
    assert run.info.status == "KILLED" and run.data.tags["bench.superseded_by"] == winner


def test_liveness_rules(monkeypatch):
    now = 1_000_000.0
    me = f"{socket.gethostname()}:{os.getpid()}"
    monkeypatch.setenv("BENCH_LEASE_S", "60")
    assert is_live({"bench.owner": me, "bench.heartbeat": str(now - 10)}, now)
    assert not is_live({"bench.owner": me, "bench.heartbeat": str(now - 61)}, now)  # hung past its lease
    assert not is_live({"bench.owner": f"{socket.gethostname()}:{dead_pid()}", "bench.heartbeat": str(now)}, now)
    assert is_live({"bench.owner": "elsewhere:1", "bench.heartbeat": str(now - 59)}, now)  # another host: the lease decides
    assert not is_live({"bench.owner": "elsewhere:1", "bench.heartbeat": str(now - 61)}, now)
    assert not is_live({}, now)  # a run from before claims


def test_the_heartbeat_refreshes_the_claim(store_uri):
    store = Store.open("claims")
    run_id = store.claim(toy_cell(), "fig11")
    before = float(store.client.get_run(run_id).data.tags["bench.heartbeat"])
    with store.heartbeat(run_id, every=0.05):
        time.sleep(0.5)
    assert float(store.client.get_run(run_id).data.tags["bench.heartbeat"]) > before


def test_two_bench_runs_on_one_store_share_the_cells(tmp_path):
    """Two `bench run` processes on the same SQLite store and suite: every cell runs exactly once, both work."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = os.environ | {"MLFLOW_TRACKING_URI": uri, "BENCH_CHECKPOINT_DIR": str(tmp_path / "ckpt")}
    env.pop("BENCH_DATA_DIR", None)
    command = [sys.executable, "-m", "bench.cli", "run", "--suite", "smoke", "--filter", "task=toy_mdp,seed=[0-7]", "--no-report"]
    procs = [subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    finished_now = [int(re.search(r"(\d+) cells finished now", out).group(1)) for out in outputs]

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("smoke").experiment_id
    active = client.search_runs([experiment], max_results=1000)
    cells = [r.data.tags["bench.cell"] for r in active]
    assert len(cells) == len(set(cells)) == 64 and {r.info.status for r in active} == {"FINISHED"}
    assert sum(finished_now) == 64 and min(finished_now) > 0, outputs  # both processes trained cells
    # a lost claim is deleted before any training: no deleted run holds a metric
    deleted = client.search_runs([experiment], run_view_type=ViewType.DELETED_ONLY, max_results=1000)
    assert all(not r.data.metrics for r in deleted)
