"""A checkpoint is continued only by a successor of the run that wrote it, in the store it was written for, with
the code that wrote it: stale, foreign, finished and corrupt checkpoints are never read and the cell trains afresh."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from bench import checkpointing, runner
from bench.checkpointing import Saved
from bench.cli import main
from bench.registry import ALGORITHMS, MODELS, TASKS
from bench.runner import Settings, load_suite, run_suite, select
from bench.tracking import Store, provenance

MLE0 = "seed=0,algorithm=mle"  # one toy cell of the tiny suite (tests/conftest.py): 40 steps, reports at 20 and 40
SMOKE = "task=toy_mdp,seed=0,algorithm=mle,task.variant=recovery"  # one toy cell of the smoke suite: 1000 steps, 10 reports


def fit(entry, checkpoints=None):
    cell = entry.cell
    task = TASKS.build(cell.task, **cell.options("task_options"))
    model = MODELS.build(cell.model, **cell.options("model_options"))
    objective = ALGORITHMS.build(cell.algorithm, **cell.options("hparams"))
    return model.fit(task, objective, seed=cell.seed, data=cell.options("data"), train=cell.options("train"), checkpoints=checkpoints)


def reference_sha(entry) -> str:
    """The parameters' digest of an uninterrupted training of the cell, without any checkpoint."""
    return list(fit(entry))[-1].tags["bench.params_sha256"]


def interrupted(store: Store, entry, *, code: str | None = None, finish: bool = False, every: int = 20) -> tuple[str, str]:
    """A run of ``store`` that saved its checkpoint of step ``every`` as the runner does and then stopped (KILLED, or
    FINISHED with ``finish``); returns (its run id, the cell's checkpoint folder). ``code`` overrides the recorded code."""
    run_id = store.start(entry.cell, entry.figure)
    ckpt = runner._cell_checkpoints(entry.cell, Settings(checkpoint_every=every), store, run_id)
    if code is not None:
        ckpt.code = code
    reports = fit(entry, ckpt)
    for report in reports:
        if report.step == 2 * every:  # the checkpoint of step `every` is written, the next one not yet
            break
        store.log_metrics(run_id, report.metrics, report.step)  # as the runner does, before the next save
    reports.close()
    ckpt.close()
    assert ckpt.latest().step == every
    (store.finish if finish else store.kill)(run_id)
    return run_id, ckpt.directory


def finished_run(uri: str, suite: str = "tiny"):
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(suite).experiment_id], "attributes.status = 'FINISHED'")
    newest = max(runs, key=lambda r: r.info.start_time)
    return newest, [m.step for m in client.get_metric_history(newest.info.run_id, "train/loss")]


def aside(folder: str, kind: str) -> list[Path]:
    return sorted(Path(folder).parent.glob(f"{Path(folder).name}.{kind}-*"))


def bench_run(folder: Path) -> str:
    """`bench run` of the SMOKE cell in ``folder`` (its store ./mlflow.db, its checkpoints ./bench-checkpoints); stderr."""
    env = {k: v for k, v in os.environ.items() if k not in ("BENCH_DATA_DIR", "BENCH_CHECKPOINT_DIR")}
    command = [sys.executable, "-m", "bench.cli", "run", "--suite", "smoke", "--filter", SMOKE, "--no-report"]
    done = subprocess.run(command, cwd=folder, env=env | {"MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"},
                          stderr=subprocess.PIPE, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def delete_store(folder: Path) -> None:
    os.remove(folder / "mlflow.db")
    shutil.rmtree(folder / "mlruns", ignore_errors=True)


def snapshot(folder: Path) -> str:
    """The URI of a fresh copy of ``folder``'s store: MLflow keeps one engine per URI in this process, which would
    go on reading a deleted mlflow.db."""
    copy = folder / f"snapshot-{len(list(folder.glob('snapshot-*')))}.db"
    shutil.copy(folder / "mlflow.db", copy)
    return f"sqlite:///{copy}"


def test_a_finished_cell_whose_store_was_deleted_trains_again_in_full(store_uri, tmp_path):
    run_suite("smoke", filter_expr=SMOKE)  # uninterrupted, in a fresh folder
    first, _ = finished_run(snapshot(tmp_path), "smoke")
    delete_store(tmp_path)
    log = bench_run(tmp_path)  # a new process: the store is new, the checkpoint root the same
    again, steps = finished_run(snapshot(tmp_path), "smoke")
    assert again.info.run_id != first.info.run_id and "resumed" not in log and "bench.resumed_from" not in again.data.tags
    assert steps == list(range(100, 1001, 100))  # every train/loss point: it trained, from the first step
    assert again.data.tags["bench.params_sha256"] == first.data.tags["bench.params_sha256"]


def test_a_checkpoint_whose_run_the_store_does_not_know_is_set_aside(store_uri, tmp_path):
    (entry,) = select(load_suite("smoke"), SMOKE)
    dead, folder = interrupted(Store.open("smoke"), entry, every=100)
    delete_store(tmp_path)  # the store is gone (or MLFLOW_TRACKING_URI now names another)
    log = bench_run(tmp_path)
    (kept,) = aside(folder, "stale")
    line = next(x for x in log.splitlines() if folder in x)
    assert f"its run {dead} is unknown to sqlite:///{tmp_path / 'mlflow.db'} experiment" in line
    assert f"set it aside as {kept}, training afresh." in line
    assert checkpointing.CellCheckpoints(str(kept)).latest().step == 100  # kept whole for a person to inspect
    run, steps = finished_run(snapshot(tmp_path), "smoke")
    assert steps == list(range(100, 1001, 100)) and "bench.resumed_from" not in run.data.tags
    assert run.data.tags["bench.params_sha256"] == reference_sha(entry)


def test_the_checkpoint_of_a_finished_run_is_never_continued(store_uri, tiny_suite, capsys):
    entry = tiny_suite[0]
    done, folder = interrupted(Store.open("tiny"), entry, finish=True)  # e.g. killed between finishing and removing
    summary = run_suite("tiny", filter_expr=MLE0, force=True)
    assert len(summary.finished) == 1
    err = capsys.readouterr().err
    assert f"the checkpoint in {folder} is not continued: its run {done} FINISHED; removed it, training afresh." in err
    run, steps = finished_run(store_uri)
    assert run.info.run_id != done and steps == [20, 40] and "bench.resumed_from" not in run.data.tags
    assert not Path(folder).exists() and not aside(folder, "stale")


def test_a_checkpoint_of_other_code_is_set_aside_unless_asked_for(store_uri, tiny_suite, capsys):
    store = Store.open("tiny")
    refused, folder = interrupted(store, tiny_suite[0], code="0" * 40)
    assert main(["run", "--suite", "tiny", "--filter", MLE0, "--no-report"]) == 0
    err = capsys.readouterr().err
    (kept,) = aside(folder, "other-code")
    line = next(x for x in err.splitlines() if folder in x)
    assert f"written by other code ({'0' * 40}; this is {provenance()['bench.code']})" in line and str(kept) in line
    assert "--resume-other-code" in line
    run, steps = finished_run(store.client.tracking_uri)
    assert steps == [20, 40] and "bench.resumed_from" not in run.data.tags

    entry = tiny_suite[1]  # the other seed: continued from the foreign checkpoint when asked to
    source, folder = interrupted(store, entry, code="0" * 40)
    assert main(["run", "--suite", "tiny", "--filter", "seed=1,algorithm=mle", "--no-report", "--resume-other-code"]) == 0
    err = capsys.readouterr().err
    assert "written by other code" in err and "resumed from the checkpoint at step 20" in err
    run, steps = finished_run(store.client.tracking_uri)
    assert run.data.tags["bench.resumed_from"] == source and run.data.tags["bench.resumed_code"] == "0" * 40
    assert steps == [20, 40]  # the point at 20 copied from the run that wrote the checkpoint
    assert run.data.tags["bench.params_sha256"] == reference_sha(entry)


@pytest.mark.parametrize("part", ["state", "meta"])
def test_a_corrupt_checkpoint_is_set_aside_and_the_cell_trains_afresh(part, store_uri, tiny_suite, capsys):
    entry = tiny_suite[0]
    _, folder = interrupted(Store.open("tiny"), entry)
    damaged = [p for p in (Path(folder) / "20" / part).rglob("*") if p.is_file() and ("/d/" in str(p) or p.name == "metadata")]
    assert damaged
    for path in damaged:
        path.write_bytes(b"\0garbage")
    summary = run_suite("tiny", filter_expr=MLE0)
    assert len(summary.finished) == 1 and not summary.failed
    err = capsys.readouterr().err
    (kept,) = aside(folder, "corrupt")
    line = next(x for x in err.splitlines() if "cannot be read" in x)
    assert folder in line and f"set it aside as {kept}, training afresh." in line
    run, steps = finished_run(store_uri)
    assert steps == [20, 40] and "bench.resumed_from" not in run.data.tags  # nothing adopted from the dead run
    assert run.data.tags["bench.params_sha256"] == reference_sha(entry)
    assert run_suite("tiny", filter_expr=MLE0).skipped == 1  # done: no rerun fails on it again


def test_which_checkpoints_a_new_run_may_continue(store_uri, tiny_suite):
    """The rule itself, on real runs of a real store: only an unfinished run of this cell, experiment and store,
    with this code unless other code is allowed."""
    store, cell, code = Store.open("tiny"), tiny_suite[0].cell, provenance()["bench.code"]
    other = Store.open("elsewhere")

    def verdict(run_id, status="KILLED", saved_store=store.identity(), saved_code=code, other_code=False):
        if run_id and status:
            store.client.set_terminated(run_id, status)
        saved = Saved(20, run_id, 0, saved_store, saved_code)
        source = store.run(run_id) if run_id else None
        return runner._not_continued(saved, source, cell.hash, store, code, other_code)

    mine = lambda: store.start(cell, "fig11")  # noqa: E731
    assert verdict(mine()) is None and verdict(mine(), "FAILED") is None
    assert verdict(mine(), "FINISHED")[0] == "remove"
    assert verdict(None)[0] == "stale"
    assert verdict("0" * 32, status=None)[0] == "stale"  # unknown to this store
    assert verdict(other.start(cell, "fig11"))[0] == "stale"  # a run of another experiment (of the same database)
    assert verdict(store.start(tiny_suite[1].cell, "fig11"))[0] == "stale"  # a run of another cell
    assert "another store" in verdict(mine(), saved_store="sqlite:///x experiment 1")[1]
    assert verdict(mine(), saved_code="abc")[0] == "other-code" and verdict(mine(), saved_code=None)[0] == "other-code"
    assert verdict(mine(), saved_code="abc", other_code=True) is None
    deleted = mine()
    store.client.delete_run(deleted)
    assert verdict(deleted, status=None)[0] == "stale"
