"""Owners that are provably gone (a reused pid, a restarted machine) are taken over at once, and `bench run` never
exits 0 while a cell it was asked to run stays undone because the process holding it died."""

import os
import socket
import subprocess
import sys

import pytest

from bench.cli import main
from bench.tracking import Owner, Store, is_live, owner
from conftest import toy_cell

NOW = 1_000_000.0


def tag(host=None, pid=None, **fields) -> str:
    """A bench.owner tag: this process's, with some fields replaced."""
    mine = Owner.parse(owner())
    values = {k: fields.get(k, getattr(mine, k)) for k in ("boot", "pidns", "start", "machine")}
    extra = ",".join(f"{k}={v}" for k, v in values.items() if v)
    return f"{host or mine.host}[{extra}]:{pid or mine.pid}"


def live(owner_tag, age=1.0) -> bool:
    return is_live({"bench.owner": owner_tag, "bench.heartbeat": str(NOW - age)}, NOW)


def test_the_owner_tag_names_the_boot_the_pid_namespace_and_the_process_start():
    mine = Owner.parse(owner())
    assert mine.host == socket.gethostname() and mine.pid == os.getpid() and owner().endswith(f":{os.getpid()}")
    if not os.path.exists("/proc/self/stat"):
        pytest.skip("no /proc: only host and pid are known")
    assert mine.boot and mine.pidns and mine.start.isdigit()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        theirs = Owner.parse(owner(child.pid))
        assert theirs.pid == child.pid and int(theirs.start) >= int(mine.start)  # started after this process
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
def test_a_reused_pid_or_a_restarted_machine_is_not_the_owner(monkeypatch):
    monkeypatch.setenv("BENCH_LEASE_S", "60")
    mine = Owner.parse(owner())
    assert live(owner())  # this very process, beating
    assert not live(tag(start=str(int(mine.start) + 1)))  # the pid exists, but belongs to a process started later
    assert not live(tag(boot="0" * 16))  # this host, another boot: the machine restarted since
    if mine.machine:  # another machine with the same name: its lease decides
        assert live(tag(machine="0" * 16, pid=1, start="1")) and not live(tag(machine="0" * 16, pid=1, start="1"), age=61)
    assert live(tag(pidns="1", pid=1, start="1"))  # another container on this kernel: its processes are not visible
    assert live(tag(host="elsewhere", boot="0" * 16))  # another host: the lease decides
    assert not live(f"{mine.host}:{os.getpid()}", age=61)
    assert live(f"{mine.host}:{os.getpid()}")  # the older host:pid form still works


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
@pytest.mark.parametrize("field", ["start", "boot"])
def test_a_run_whose_owner_is_provably_gone_is_taken_over_at_once(field, store_uri):
    store, cell = Store.open("claims"), toy_cell()
    stale = store.start(cell, "fig11")  # heartbeat: now, well within the lease
    gone = {"start": str(int(Owner.parse(owner()).start) + 1), "boot": "0" * 16}[field]
    store.client.set_tag(stale, "bench.owner", tag(**{field: gone}))  # this pid, reused / a previous boot
    winner = store.claim(cell, "fig11")
    assert winner is not None
    run = store.client.get_run(stale)
    assert run.info.status == "KILLED" and run.data.tags["bench.superseded_by"] == winner


# Exits once a run of cell `hash` exists in the SQLite store `db`: a holder of another cell that dies mid-grid.
HOLDER = """
import sqlite3, sys, time
db, cell = sys.argv[1], sys.argv[2]
while True:
    try:
        with sqlite3.connect(db, timeout=5) as c:
            if c.execute("select 1 from tags where key = 'bench.cell' and value = ?", (cell,)).fetchone():
                break
    except sqlite3.Error:
        pass
    time.sleep(0.01)
"""


def test_bench_run_exits_non_zero_naming_a_cell_whose_holder_died(store_uri, tiny_suite, tmp_path, capsys):
    """The first cell is held by a live process, so `bench run` skips it; that process dies while the grid goes
    on (when the second cell's run appears), leaving the first cell RUNNING and undone."""
    store = Store.open("tiny")
    held, trigger = tiny_suite[0].cell, tiny_suite[1].cell
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "mlflow.db"), trigger.hash])
    try:
        run = store.start(held, "fig11")
        store.client.set_tag(run, "bench.owner", owner(holder.pid))
        assert main(["run", "--suite", "tiny", "--no-report"]) == 1
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert f"{held.label()}: another process has run or is running it (process {holder.pid} on {socket.gethostname()}, run {run}, beat" in err
    line = next(x for x in err.splitlines() if "NOT DONE" in x)
    assert held.label() in line and f"process {holder.pid} on {socket.gethostname()}" in line and run in line
    assert "rerun this command" in line
    assert "3 cells finished now" in err


def test_a_cell_left_to_a_live_process_is_not_reported_undone(store_uri, tiny_suite, capsys):
    store = Store.open("tiny")
    held = tiny_suite[0].cell
    store.start(held, "fig11")  # owned by this live test process, beating
    assert main(["run", "--suite", "tiny", "--no-report"]) == 0
    assert "NOT DONE" not in capsys.readouterr().err
