"""The paper and mini suites (bench/grids.py), their cost estimates (bench/estimate.py) and `bench run --dry-run`."""

from collections import Counter

import pytest

import bench  # noqa: F401  (fills the registries)
from bench import estimate, grids
from bench.cells import Cell, SuiteCell
from bench.cli import main
from bench.registry import SUITES
from bench.runner import validate

TEXT_FIGURES = {"fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8", "fig12", "table2", "table5"}


@pytest.fixture(scope="module")
def paper():
    return SUITES.build("paper")


@pytest.fixture(scope="module")
def mini():
    return SUITES.build("mini")


def text_cells(entries):
    return [e for e in entries if e.figure in TEXT_FIGURES]


def seeds_per_arm(entries):
    return Counter((e.figure, e.cell.task, e.cell.algorithm, e.cell.model, str(e.cell.options("hparams")), str(e.cell.options("data")))
                   for e in text_cells(entries))


def test_both_suites_cover_every_figure_and_are_valid(paper, mini):
    for entries in (paper, mini):
        assert TEXT_FIGURES | {"fig11"} <= {e.figure for e in entries}
        validate(entries, check_data=False)  # every hyperparameter in its domain, every preset known
        assert set(seeds_per_arm(entries).values()) == {3}  # the paper's 3 seeds per arm
        assert max(Counter((e.cell.hash, e.figure) for e in entries).values()) == 1  # shared across figures only


def test_paper_uses_the_papers_models_and_optimiser_settings(paper):
    cells = text_cells(paper)
    assert {e.cell.model for e in cells if e.figure in ("fig2", "fig3")} == {"t5-base", "t5-large", "t5-xl"}
    assert {e.cell.model for e in cells if e.figure == "fig12"} == {"t5-large"}
    for e in cells:
        train = e.cell.options("train")
        assert (train["learning_rate"], train["warmup_steps"]) == (1e-4, 2000)
        assert train["batch_size"] == (16 if e.cell.model in ("t5-xl", "smollm2-1.7b") else 32)
    assert {(e.cell.options("hparams")["lam"], e.cell.options("hparams").get("alpha", 0.0))
            for e in cells if e.figure == "table5"} == set(grids.TABLE5_ROWS)
    gail = [e for e in cells if e.cell.algorithm.startswith("gail")]
    assert gail and all(e.cell.options("hparams")["kl_anneal_steps"] == 10_000 for e in gail)


def test_mini_is_laptop_sized(mini):
    models = {e.cell.model for e in text_cells(mini)}
    assert models == {"t5-tiny", "smollm2-135m"}
    assert {e.cell.model for e in mini if e.figure == "fig4"} == {"smollm2-135m"}  # the real pretrained decoder


def test_mle_phases_leave_steps_for_the_algorithm_and_keep_the_total():
    scale = grids.MINI
    for algorithm in ("mle", "iqlearn", "gail"):
        train = grids._arm_train(scale, algorithm, "t5-tiny")
        assert train["steps"] + train["mle_warmup_steps"] == scale.steps and train["steps"] > 0
    short = grids._arm_train(scale, "iqlearn", "smollm2-135m", steps=10)
    assert (short["mle_warmup_steps"], short["steps"]) == (5, 5)


def test_cell_costs_follow_table_1_and_its_proxies():
    def entry(algorithm, model, steps, warm=0, **hp):
        train = {"steps": steps, "mle_warmup_steps": warm}
        return SuiteCell(Cell.make("gsm8k", algorithm, model=model, seed=0, hparams=hp, train=train), "fig2")

    assert estimate.cell_seconds(entry("mle", "t5-base", 1000)) == (pytest.approx(189.0), "accelerator")
    assert estimate.cell_seconds(entry("iqlearn", "t5-large", 1000, lam=0.1, gamma=0.99))[0] == pytest.approx(606.0)
    online = entry("iqlearn_online", "t5-xl", 100, warm=100, lam=0.1, gamma=0.99, alpha=0.1, form="relaxed")
    # an online IQLearn update is an IQLearn update plus sampling a batch (Table 1: 1355 + 1823 ms on T5-XL)
    assert estimate.cell_seconds(online)[0] == pytest.approx(0.1 * 1031 + 0.1 * (1355 + 1823))
    assert estimate.cell_seconds(entry("gail", "smollm2-1.7b", 1000, lam=0.0, gamma=0.99))[0] == pytest.approx(1410.0)
    assert estimate.cell_seconds(entry("mle", "t5-tiny", 0))[1] == "cpu"


def test_dry_run_prints_cells_and_hours_per_figure(capsys):
    assert main(["run", "--suite", "paper", "--dry-run"]) == 0
    out = capsys.readouterr().out
    entries = SUITES.build("paper")
    unique = len({e.cell.hash for e in entries})
    assert out.startswith(f"suite paper: {unique} cells ({len(entries) - unique} of them feed two figures)")
    for figure in TEXT_FIGURES:
        assert f"\n  {figure} " in out
    total = next(line for line in out.splitlines() if line.strip().startswith("total"))
    assert float(total.split()[-1]) > 100  # the paper's grid is hundreds of accelerator-hours
    assert out.count(" t5-xl ") >= 2 * 3 * 7  # every cell is listed, with its model


def test_mini_fits_the_local_data_and_the_paper_needs_the_full_data_sets(monkeypatch, mini, paper):
    """With the repository's data excerpts (BENCH_DATA_DIR), mini's subsets fit every split; the paper's
    evaluation subsets (1000 examples) do not fit the 102 TLDR posts held out here, and are refused up front."""
    import os

    from bench.runner import InvalidCellError, data_problems

    if not os.environ.get("BENCH_DATA_DIR"):
        pytest.skip("needs BENCH_DATA_DIR")
    validate(mini)
    assert not data_problems(mini)
    with pytest.raises(InvalidCellError, match="data.eval_subset=1000 is more than the 102 examples of tldr"):
        validate(paper)


def test_mini_headline_cells_fine_tune_the_pretrained_start_on_the_papers_axes(mini):
    """Figure 2, Figure 4's GSM8k panel and the arith ablation start from SmolLM2-135M, over a lambda grid with small
    values, scored greedily, at T=0.5 and T=1; IQLearn's MLE phase ends after the learning-rate warm-up."""
    p = grids.MINI.pretrained
    fig2 = [e.cell for e in mini if e.figure == "fig2"]
    assert {c.model for c in fig2} == {p.model} == {"smollm2-135m"}
    for algorithm in ("mle_entreg", "iqlearn"):
        lams = {c.options("hparams")["lam"] for c in fig2 if c.algorithm == algorithm}
        assert len(lams) >= 3 and min(lams) <= 0.01
    for c in fig2:
        train = c.options("train")
        assert {0.0, 0.5, 1.0} <= {float(t) for t in train["eval_temperatures"].split(",")}
        assert train["learning_rate"] == 1e-4 and train["steps"] + train["mle_warmup_steps"] == p.updates
        if c.algorithm == "iqlearn":
            assert train["warmup_steps"] < train["mle_warmup_steps"] < p.updates / 2
    # Figure 4's GSM8k panel and the ablation's centre are Figure 2's cells, run once
    fig2_hashes = {c.hash for c in fig2}
    fig4_arith = {e.cell.hash for e in mini if e.figure == "fig4" and e.cell.task == "arith"}
    assert len(fig4_arith) == 2 * 3 and fig4_arith <= fig2_hashes
    ablation = [e.cell for e in mini if e.figure == "arith"]
    assert {c.options("task_options")["steps"] for c in ablation} == set(p.ablation_steps)
    assert {c.options("data")["train_subset"] for c in ablation} == set(p.ablation_sizes)
    assert len({c.hash for c in ablation} & fig2_hashes) == 2 * 3  # the centre point


def test_the_arith_claims_read_the_points_the_mini_ablation_runs():
    from reports import references

    p = grids.MINI.pretrained
    assert (references.ARITH_SHORT, references.ARITH_LONG) == (min(p.ablation_steps), max(p.ablation_steps))
    assert (references.ARITH_SMALL, references.ARITH_LARGE) == (min(p.ablation_sizes), max(p.ablation_sizes))
    assert (references.ARITH_MIDDLE, references.ARITH_LARGE) == p.centre
