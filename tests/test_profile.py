"""Table 1 timing: the timing task and its cells (bench/grids.py), cells through the runner into MLflow
(bench/profile.py fit), `bench profile`, and the report's Table 1 from those runs. Ratios are computed within
one run; no test asserts an absolute time."""

import re

import pytest

import bench  # noqa: F401  (fills the registries)
from bench import estimate, grids, profile
from bench.cells import Cell
from bench.cli import main
from bench.registry import TASKS, BenchError, SUITES
from bench.runner import attempt, validate
from bench.suites import SuiteCell
from bench.tracking import Store
from reports import tables
from reports.runs import load_runs

SMALL = {"prompt_len": 8, "target_len": 4}


def small_cell(algorithm, hparams, **train):
    return Cell.make(
        "timing", algorithm, model="t5-tiny", seed=0, task_options=SMALL, hparams=hparams,
        model_options={"vocab_size": 128}, train={"batch_size": 2, "repeats": 3, "warmup_repeats": 1} | train,
    )


def test_timing_task_is_registered_and_checks_its_options():
    task = TASKS.build("timing", prompt_len=16, target_len=8)
    assert (task.prompt_len, task.target_len) == (16, 8)
    with pytest.raises(BenchError, match="must both be >= 1"):
        TASKS.build("timing", prompt_len=0, target_len=8)


def test_table1_cells_at_both_scales():
    paper, mini = grids.table1(grids.PAPER), grids.table1(grids.MINI)
    assert {e.cell.model for e in paper} == {"t5-base", "t5-large", "t5-xl"}
    assert {e.cell.model for e in mini} == {"t5-tiny", "t5-small"}
    for entries in (paper, mini):
        validate(entries)
        assert {e.figure for e in entries} == {"table1"} and {e.cell.seed for e in entries} == {0}
        assert {e.cell.algorithm for e in entries} == {"mle", "iqlearn", "gail", "iqlearn_online"}
        assert all(e.cell.options("train")["repeats"] >= 20 for e in entries)
        chunked = {e.cell.algorithm for e in entries if e.cell.options("train")["chunked"]}
        assert chunked == {"mle", "iqlearn"}
    batch = {e.cell.model: e.cell.options("train")["batch_size"] for e in paper}
    assert batch == {"t5-base": 32, "t5-large": 32, "t5-xl": 16}  # the paper's (Table 3)
    online = next(e.cell for e in paper if e.cell.algorithm == "iqlearn_online")
    assert online.options("hparams") == {"lam": 0.1, "gamma": 0.99, "alpha": 0.1, "form": "relaxed"}
    assert any(e.figure == "table1" for e in SUITES.build("mini")) and any(e.figure == "table1" for e in SUITES.build("paper"))


def test_timing_cells_cost_their_repeats():
    cell = grids.timing_cell("t5-base", "mle", {}, batch_size=32, prompt_len=512, target_len=128)
    seconds, device = estimate.cell_seconds(SuiteCell(cell, "table1"))
    assert device == "accelerator" and seconds == pytest.approx(22 * 0.189 + estimate.TIMING_COMPILE_S["accelerator"])
    online = grids.timing_cell("t5-tiny", "iqlearn_online", dict(grids.TABLE1_ARMS)["iqlearn_online"], batch_size=8,
                               prompt_len=64, target_len=32)
    assert estimate.cell_seconds(SuiteCell(online, "table1"))[1] == "cpu"


def test_timing_cells_run_through_the_runner_and_the_report_reads_their_ratios(store_uri):
    store = Store.open("t1")
    gail = dict(grids.TABLE1_ARMS)["gail"]
    entries = [SuiteCell(small_cell("mle", {}), "table1"), SuiteCell(small_cell("gail", gail), "table1")]
    for entry in entries:
        assert attempt(store, entry).status == "finished"
    runs = {r.param("algorithm"): r for r in load_runs("t1", store_uri)}
    assert set(runs) == {"mle", "gail"}
    for run in runs.values():
        m = run.metrics
        assert m["profile/p25_ms"] <= m["profile/median_ms"] <= m["profile/p75_ms"]
        assert m["profile/repeats"] == 3 and m["profile/compile_s"] > 0 and m["profile/peak_bytes"] > 0
    gail_metrics = runs["gail"].metrics
    assert "profile/sampling_ms" in gail_metrics  # online: sampling timed alone, in turns with the update
    assert gail_metrics["profile/update_excl_sampling_ms"] == pytest.approx(
        gail_metrics["profile/median_ms"] - gail_metrics["profile/sampling_ms"])
    rows = {r.cells[1]: r for r in tables.table1_rows(load_runs("t1", store_uri)) if r.cells[0] == "t5-tiny"}
    assert rows["MLE update"].verdict == tables.BASELINE and rows["MLE update"].cells[3] == "1.00"
    ratio = gail_metrics["profile/update_excl_sampling_ms"] / runs["mle"].metrics["profile/median_ms"]
    assert rows["GAIL update"].cells[3] == f"{ratio:.2f}"  # the ratio of one run's medians, whatever the machine's speed
    assert rows["+ sampling (online IRL)"].verdict == tables.NOT_RUN  # timed in the iqlearn_online cell, not run here


def test_chunked_gail_cell_fails_with_a_reason(store_uri):
    store = Store.open("t1")
    outcome = attempt(store, SuiteCell(small_cell("gail", dict(grids.TABLE1_ARMS)["gail"], chunked=1), "table1"))
    assert outcome.status == "failed" and outcome.error.startswith("BenchError") and "read every logit" in outcome.error


def test_bench_profile_prints_ratios_and_logs_table1_runs(store_uri, tmp_path, capsys):
    out = tmp_path / "table1.md"
    args = ["profile", "--preset", "t5-tiny", "--repeats", "3", "--algorithms", "mle,iqlearn,iqlearn_online",
            "--batch-size", "2", "--prompt-len", "8", "--target-len", "4", "--chunked", "--chunk-size", "200", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert out.read_text().strip() == text.strip()
    row = lambda label: next(line for line in text.splitlines() if line.startswith(f"| {label} |"))  # noqa: E731
    assert row("MLE update").split("|")[3].strip() == "1.000"
    for label in ("IQLearn update", "sampling a batch (KV cache)", "online IQLearn update (incl. sampling)", "MLE update (chunked loss)"):
        assert re.fullmatch(r"\d+\.\d{3}", row(label).split("|")[3].strip()), row(label)
    assert re.search(r"IQLearn / MLE update: \d+\.\d{3}", text) and re.search(r"sampling / MLE update: \d+\.\d{2}", text)
    assert "chunked / plain peak memory" in text
    runs = load_runs("profile", store_uri)
    assert {(r.param("algorithm"), r.param("train.chunked")) for r in runs} == {
        ("mle", "0"), ("mle", "1"), ("iqlearn", "0"), ("iqlearn", "1"), ("iqlearn_online", "0")}
    assert all(r.figure == "table1" for r in runs)
    online = next(r for r in runs if r.param("algorithm") == "iqlearn_online")
    assert "profile/sampling_ms" in online.metrics


def test_bench_profile_names_the_valid_algorithms(capsys):
    assert main(["profile", "--algorithms", "mle,bogus", "--no-mlflow"]) == 2
    assert "mle, iqlearn, gail, iqlearn_online" in capsys.readouterr().err


def test_render_compares_with_the_papers_ratios():
    import numpy as np

    rows = [profile.Row("mle", "MLE update", np.array([100.0, 110.0, 90.0])),
            profile.Row("iqlearn", "IQLearn update", np.array([102.0, 101.0, 103.0])),
            profile.Row("sampling", "sampling a batch (KV cache)", np.array([230.0, 240.0, 250.0]))]
    text = profile.render(profile.Profile("t5-base", 32, 512, 128, 3, "test", rows))
    assert "| IQLearn update | 102.0 [101.5, 102.5] | 1.020 | 1.04 |" in text
    assert "| sampling a batch (KV cache) | 240.0 [235.0, 245.0] | 2.400 | 2.34 |" in text
