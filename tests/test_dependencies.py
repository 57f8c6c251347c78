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
