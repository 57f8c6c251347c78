"""Cells that start from another cell (Cell.init_from): identity, refusal and order (bench/dependencies.py)."""

import pytest

import bench  # noqa: F401
from bench import dependencies
from bench.cells import Cell, SuiteCell


def _cell(seed=0, **kw):
    return Cell.make("arith", "mle", model="t5-tiny", seed=seed, task_options={"steps": 1}, **kw)


def test_the_upstream_is_part_of_the_identity_and_absent_upstreams_keep_old_hashes():
    up, other = _cell(0), _cell(1)
    down = Cell.make("arith", "iqlearn", model="t5-tiny", seed=0, hparams={"lam": 0.1, "gamma": 0.99}, init_from=up)
    assert down.init_from == up.hash and down.config()["init_from"] == up.hash and down.flat()["init_from"] == up.hash
    again = Cell.make("arith", "iqlearn", model="t5-tiny", seed=0, hparams={"lam": 0.1, "gamma": 0.99}, init_from=up.hash)
    elsewhere = Cell.make("arith", "iqlearn", model="t5-tiny", seed=0, hparams={"lam": 0.1, "gamma": 0.99}, init_from=other)
    plain = Cell.make("arith", "iqlearn", model="t5-tiny", seed=0, hparams={"lam": 0.1, "gamma": 0.99})
    assert down.hash == again.hash and len({down.hash, elsewhere.hash, plain.hash}) == 3
    assert "init_from" not in plain.config()  # so every cell from before init_from keeps its hash
    assert plain.hash == "f9265ef26f44f4a3"  # pinned: today's suites keep their MLflow identities


def test_a_missing_upstream_is_refused_naming_the_cell():
    up = _cell(0)
    down = SuiteCell(_cell(1, init_from=up), "fig3")
    with pytest.raises(dependencies.DependencyError, match=rf"seed1 of fig3 starts from cell {up.hash} .*not in"):
        dependencies.check([down])
    dependencies.check([SuiteCell(up, "fig3"), down])  # with its upstream it is fine


def test_a_cycle_is_found():
    assert dependencies.find_cycle({"a": "b", "b": "c", "c": "a"}) == ["a", "b", "c", "a"]
    assert dependencies.find_cycle({"a": "b", "b": "c", "d": "b"}) == []
    assert dependencies.find_cycle({"x": "x"}) == ["x", "x"]


def test_upstreams_run_first_and_once_and_are_kept():
    up = SuiteCell(_cell(0), "fig3")
    downs = [SuiteCell(_cell(s, init_from=up.cell, train={"steps": s}), "fig3") for s in (1, 2)]
    plain = SuiteCell(_cell(5), "fig2")
    ordered = dependencies.order([downs[0], plain, downs[1], up])
    assert [e.cell.hash for e in ordered] == [up.cell.hash, downs[0].cell.hash, plain.cell.hash, downs[1].cell.hash]
    assert dependencies.needed(ordered) == {up.cell.hash}


# ------------------------------------------------------------------------------ end to end, real cells
from contextlib import contextmanager  # noqa: E402

from mlflow.tracking import MlflowClient  # noqa: E402

from bench.registry import SUITES  # noqa: E402
from bench.runner import Settings, run_suite  # noqa: E402

TINY = {"batch_size": 4, "max_prompt": 32, "max_target": 24, "samples_per_prompt": 2}


def _arith(algorithm, steps, init_from=None, **hp):
    return Cell.make("arith", algorithm, model="t5-tiny", seed=0, hparams=hp, init_from=init_from,
                     task_options={"steps": 1, "train_size": 32, "test_size": 4}, data={"eval_subset": 2},
                     train=TINY | {"steps": steps})


@contextmanager
def _suite(entries):
    saved = SUITES.clear()
    SUITES.restore(saved)
    SUITES.register("chain", "an upstream MLE cell and cells that start from it")(lambda: list(entries))
    try:
        yield
    finally:
        SUITES.restore(saved)


def _runs(uri):
    client = MlflowClient(uri)
    return {r.data.tags["bench.cell"]: r for r in client.search_runs([client.get_experiment_by_name("chain").experiment_id])}


def test_a_cell_starts_from_its_upstreams_final_parameters_kept_by_run(store_uri, tmp_path):
    """The downstream cell is listed first and trains 0 updates: it runs after its upstream, and its parameters are bit
    for bit the upstream run's (the same bench.params_sha256), found through the upstream's run id."""
    up = _arith("mle", 3)
    copy = _arith("iqlearn", 0, init_from=up, lam=0.1, gamma=0.99)
    fresh = _arith("iqlearn", 0, lam=0.1, gamma=0.99)
    with _suite([SuiteCell(copy, "chain"), SuiteCell(up, "chain"), SuiteCell(fresh, "chain")]):
        summary = run_suite("chain", settings=Settings(checkpoint_dir=str(tmp_path / "ckpt")))
    assert not summary.failed and [e.cell.hash for e, _ in summary.finished][:2] == [up.hash, copy.hash]
    runs = _runs(store_uri)
    upstream, downstream = runs[up.hash], runs[copy.hash]
    assert downstream.data.tags["bench.init_from"] == up.hash
    assert downstream.data.tags["bench.init_from_run"] == upstream.info.run_id
    assert downstream.data.tags["bench.params_sha256"] == upstream.data.tags["bench.params_sha256"]
    assert runs[fresh.hash].data.tags["bench.params_sha256"] != upstream.data.tags["bench.params_sha256"]
    assert upstream.data.tags["bench.final_params"].endswith(f"finished/{upstream.info.run_id}")


def test_a_failed_upstream_is_reported_before_the_downstream_trains(store_uri, tmp_path):
    broken = Cell.make("arith", "mle", model="t5-tiny", seed=0, task_options={"steps": 1, "train_size": 32, "test_size": 4},
                       data={"eval_subset": 2}, train=TINY | {"steps": 2, "max_target": 1})  # no room for text: fails
    down = _arith("iqlearn", 2, init_from=broken, lam=0.1, gamma=0.99)
    with _suite([SuiteCell(broken, "chain"), SuiteCell(down, "chain")]):
        summary = run_suite("chain", settings=Settings(checkpoint_dir=str(tmp_path / "ckpt")))
    failed = {e.cell.hash: error for e, error in summary.failed}
    assert set(failed) == {broken.hash, down.hash}
    assert f"starts from cell {broken.hash} (init_from), which has no FINISHED run" in failed[down.hash]
    assert "train/loss" not in _runs(store_uri)[down.hash].data.metrics  # refused before any update


def test_an_upstream_missing_from_the_suite_is_refused_before_any_run(store_uri):
    down = _arith("iqlearn", 2, init_from=_arith("mle", 5), lam=0.1, gamma=0.99)
    with _suite([SuiteCell(down, "chain")]), pytest.raises(dependencies.DependencyError, match="not in suite chain"):
        run_suite("chain")


def test_an_upstream_whose_finished_runs_disagree_is_refused(store_uri, tmp_path):
    """A second FINISHED run of the upstream cell with other parameters (forged here) makes the start ambiguous."""
    up = _arith("mle", 1)
    down = _arith("iqlearn", 0, init_from=up, lam=0.1, gamma=0.99)
    settings = Settings(checkpoint_dir=str(tmp_path / "ckpt"))
    with _suite([SuiteCell(up, "chain")]):
        run_suite("chain", settings=settings)
    client = MlflowClient(store_uri)
    experiment = client.get_experiment_by_name("chain").experiment_id
    forged = client.create_run(experiment, tags={"bench.cell": up.hash, "bench.params_sha256": "0" * 64}).info.run_id
    client.set_terminated(forged, "FINISHED")
    with _suite([SuiteCell(up, "chain"), SuiteCell(down, "chain")]):
        summary = run_suite("chain", settings=settings)
    (entry, error), = summary.failed
    assert entry.cell.hash == down.hash and "hold different parameters" in error and forged in error
