import os
import signal
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from bench.cli import main
from bench.runner import run_suite, select
from bench.suites import SuiteCell, smoke
from bench.tracking import Store
from bench.cells import Cell
from conftest import toy_cell


def runs_of(uri, experiment):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=1000) if exp else []


def test_one_run_per_cell_with_tags_params_and_metrics(store_uri, tiny_suite):
    summary = run_suite("tiny")
    assert len(summary.finished) == 4 and not summary.failed
    runs = runs_of(store_uri, "tiny")
    assert len(runs) == 4
    assert {r.data.tags["bench.cell"] for r in runs} == {e.cell.hash for e in tiny_suite}
    for run in runs:
        tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
        assert run.info.status == "FINISHED"
        assert tags["bench.task"] == "toy_mdp" and tags["bench.figure"] == "fig11" and tags["bench.suite"] == "tiny"
        assert tags["bench.algorithm"] in ("mle", "iqlearn_online") and tags["bench.seed"] in ("0", "1")
        assert tags["bench.git_commit"] and "jax" in tags["bench.versions"] and "cpu" in tags["bench.devices"]
        assert params["task.variant"] == "recovery" and params["train.steps"] == "40"
        assert 0.0 <= metrics["eval/success_rate"] <= 1.0
        history = MlflowClient(store_uri).get_metric_history(run.info.run_id, "train/loss")
        assert [m.step for m in history] == [20, 40]
        assert "policy.json" in [a.path for a in MlflowClient(store_uri).list_artifacts(run.info.run_id)]


def test_rerun_skips_finished_cells(store_uri, tiny_suite):
    run_suite("tiny")
    again = run_suite("tiny")
    assert again.skipped == 4 and not again.finished
    assert len(runs_of(store_uri, "tiny")) == 4
    forced = run_suite("tiny", force=True, filter_expr="seed=0")
    assert len(forced.finished) == 2 and len(runs_of(store_uri, "tiny")) == 6


def test_a_failing_cell_is_recorded_and_the_grid_goes_on(store_uri, tiny_suite, capsys):
    no_learning_rate = Cell.make(
        "toy_mdp", "mle", model="tabular", seed=9, task_options={"variant": "recovery", "n": 4, "horizon": 6},
        train={"steps": 10},
    )
    tiny_suite.insert(1, SuiteCell(no_learning_rate, "fig11"))
    assert main(["run", "--suite", "tiny", "--no-report"]) == 1
    runs = runs_of(store_uri, "tiny")
    assert sorted(r.info.status for r in runs) == ["FAILED"] + ["FINISHED"] * 4
    failed = next(r for r in runs if r.info.status == "FAILED")
    assert "KeyError: 'learning_rate'" in failed.data.tags["bench.error"]
    assert "FAILED" in capsys.readouterr().err
    # the failed cell is tried again on the next run; the finished ones are not
    summary = run_suite("tiny")
    assert summary.skipped == 4 and len(summary.failed) == 1


def test_filter_selects_cells_and_rejects_unknown_keys():
    entries = select(smoke(), "figure=fig11")  # the toy cells (text cells join smoke when BENCH_DATA_DIR is set)
    chosen = select(entries, "algorithm=iqlearn_online,hp.form=orig*,task.variant!=recovery,seed=1")
    assert len(chosen) == 1 and chosen[0].cell.options("hparams")["form"] == "original"
    assert len(select(entries, "figure=fig11")) == len(entries)
    with pytest.raises(Exception, match="filter key 'colour' is not a cell field"):
        select(entries, "colour=red")
    with pytest.raises(Exception, match="has no '=' or '!='"):
        select(entries, "seed")


def test_dry_run_touches_no_store(store_uri, capsys):
    assert main(["run", "--suite", "smoke", "--dry-run", "--filter", "figure=fig11,seed=0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("suite smoke: 8 cells") and "\n  fig11                   8 " in out
    assert not os.path.exists(store_uri[len("sqlite:///"):])


def test_unreachable_tracking_uri_fails_before_training(tmp_path, monkeypatch, capsys, tiny_suite):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # discard port: nothing listens
    assert main(["run", "--suite", "tiny"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the MLflow tracking server at http://127.0.0.1:9" in err and "steps" not in err
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/missing/dir/mlflow.db")
    assert main(["run", "--suite", "tiny"]) == 1
    assert "folder" in capsys.readouterr().err


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_keeps_finished_cells_and_the_next_run_continues(tmp_path, stop):
    """A real `bench run` in a subprocess, interrupted mid-grid with SIGINT (Ctrl-C) or SIGTERM (kill, schedulers)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = os.environ | {"MLFLOW_TRACKING_URI": uri}
    # The 8 toy cells of seed 0 (about 1 s each): the interrupt below lands in the fourth.
    cells = 8
    cmd = [sys.executable, "-m", "bench.cli", "run", "--suite", "smoke", "--filter", "figure=fig11,seed=0", "--no-report"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # Off a TTY the runner prints one line per finished cell: interrupt right after the third, however loaded the machine.
    lines, done = [], 0
    while done < 3:
        line = proc.stderr.readline()
        assert line, "bench run ended before three cells finished:\n" + "".join(lines)
        lines.append(line)
        done += " done in " in line
    proc.send_signal(stop)
    _, rest = proc.communicate(timeout=120)
    err = "".join(lines) + rest
    assert proc.returncode == 130, err
    assert "interrupted" in err
    before = {r.data.tags["bench.cell"] for r in runs_of(uri, "smoke") if r.info.status == "FINISHED"}
    assert 3 <= len(before) < cells
    assert not [r for r in runs_of(uri, "smoke") if r.info.status == "RUNNING"]  # the cell it stopped in is KILLED
    rerun = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(before)} already finished, {cells - len(before)} to run" in rerun.stderr
    finished_runs = [r for r in runs_of(uri, "smoke") if r.info.status == "FINISHED"]
    assert len(finished_runs) == cells and len({r.data.tags["bench.cell"] for r in finished_runs}) == cells


def test_store_finished_cells_picks_the_newest_run(store_uri, tiny_suite):
    run_suite("tiny", filter_expr="seed=0,algorithm=mle")
    run_suite("tiny", filter_expr="seed=0,algorithm=mle", force=True)
    store = Store.open("tiny")
    runs = sorted(runs_of(store_uri, "tiny"), key=lambda r: r.info.start_time)
    assert store.finished_cells() == {tiny_suite[0].cell.hash: runs[-1].info.run_id}


@pytest.mark.parametrize(
    "cell, needle",
    [
        (toy_cell("iqlearn", lam=-0.5, gamma=0.9), "lam=-0.5"),
        (toy_cell("iqlearn", lam=0.1, gamma=0.0), "gamma=0.0"),
        (toy_cell("iqlearn_online", lam=0.1, gamma=0.9, alpha=1.0, form="relaxed"), "alpha=1.0"),
        (toy_cell("mle", variant="sideways"), "variant 'sideways' is unknown"),
        (Cell.make("toy_mdp", "mle", model="t5-huge", seed=0, task_options={"variant": "recovery"}), "unknown model preset 't5-huge'"),
    ],
)
def test_a_bad_cell_is_refused_before_any_training(cell, needle, store_uri, tiny_suite, capsys):
    tiny_suite.append(SuiteCell(cell, "fig11"))
    assert main(["run", "--suite", "tiny"]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "cell toy_mdp(" in err and len(err.splitlines()) == 1
    assert runs_of(store_uri, "tiny") == []  # nothing ran, not even the good cells


def test_a_cell_listed_by_two_figures_runs_once(store_uri, tiny_suite):
    tiny_suite.append(SuiteCell(tiny_suite[0].cell, "fig11_sensitivity"))
    summary = run_suite("tiny")
    assert summary.total == 4 and len(summary.finished) == 4
    assert len(runs_of(store_uri, "tiny")) == 4


def test_checkpoints_land_under_the_root_by_cell_hash_and_can_be_turned_off(store_uri, tiny_suite, tmp_path):
    from bench.runner import Settings

    run_suite("tiny", filter_expr="seed=1", settings=Settings(checkpoints=False))
    assert not (tmp_path / "bench-checkpoints").exists()
    run_suite("tiny", filter_expr="seed=0", settings=Settings(checkpoint_every=20))
    # written under the root while training (a killed cell resumes from there: tests/test_stale_checkpoints.py),
    # removed once each run FINISHED, so that no other run can ever continue them
    assert (tmp_path / "bench-checkpoints").is_dir() and not list((tmp_path / "bench-checkpoints").iterdir())


def test_force_starts_afresh_rather_than_from_a_finished_runs_checkpoint(store_uri, tiny_suite, capsys):
    run_suite("tiny", filter_expr="seed=0,algorithm=mle")
    forced = run_suite("tiny", filter_expr="seed=0,algorithm=mle", force=True)
    assert len(forced.finished) == 1 and "resumed" not in capsys.readouterr().err
    first, second = sorted(runs_of(store_uri, "tiny"), key=lambda r: r.info.start_time)
    assert "bench.resumed_from" not in second.data.tags
    assert second.data.tags["bench.params_sha256"] == first.data.tags["bench.params_sha256"]  # trained again, to the same end


@pytest.mark.parametrize(
    "flags, says",
    [(["--address", "auto"], "apply to --executor ray only"), (["--gpus-per-cell", "1"], "apply to --executor ray only"),
     (["--checkpoint-every", "-1"], "--checkpoint-every -1 must be >= 0"), (["--mesh", "data=3"], "'data=3'"),
     (["--executor", "ray", "--cpus-per-cell", "0"], "--cpus-per-cell must be > 0")],
)
def test_bad_scale_flags_are_refused_in_one_sentence(flags, says, store_uri, tiny_suite, capsys):
    assert main(["run", "--suite", "tiny", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1
    assert runs_of(store_uri, "tiny") == []
