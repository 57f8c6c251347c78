"""The text trainer (bench.textcells) through the runner: tiny t5-tiny cells into a temporary MLflow store."""

import json
import math
import os

import jax.numpy as jnp
import pytest
from mlflow.tracking import MlflowClient

from algorithms import mle
from bench.cells import Cell
from bench.objectives import Objective
from bench.registry import ALGORITHMS, SUITES, BenchError
from bench.runner import run_suite
from bench.suites import SuiteCell, smoke
from bench.textcells import fit

needs_data = pytest.mark.skipif(not os.environ.get("BENCH_DATA_DIR"), reason="text cells need BENCH_DATA_DIR")

TINY_TRAIN = {
    "batch_size": 4, "steps": 4, "eval_every": 2, "learning_rate": 1e-3, "warmup_steps": 2,
    "max_prompt": 24, "max_target": 12, "samples_per_prompt": 2,
}
TINY_DATA = {"train_subset": 16, "eval_subset": 4}


def text_cell(algorithm, task="wmt22", train=None, **hparams):
    return Cell.make(task, algorithm, model="t5-tiny", seed=0, hparams=hparams, data=TINY_DATA, train=TINY_TRAIN | (train or {}))


@pytest.fixture
def text_suite():
    """Registers suite 'text' (an offline and an online cell) and a NaN-producing algorithm for one test."""
    entries = [
        SuiteCell(text_cell("iqlearn", lam=0.1, gamma=0.99), "text-test"),
        SuiteCell(  # with 2 pure-MLE steps first: 6 steps in all
            text_cell("iqlearn_online", train={"mle_warmup_steps": 2}, lam=0.1, gamma=0.99, alpha=0.2, form="relaxed"), "text-test"
        ),
        SuiteCell(  # GAIL's three networks start from the policy after 2 MLE steps
            text_cell("gail_mle", train={"mle_warmup_steps": 2}, lam=0.0, gamma=0.99, mle_weight=1.0, kl_anneal_steps=4), "text-test"
        ),
    ]
    saved_suites, saved_algorithms = SUITES.clear(), ALGORITHMS.clear()
    SUITES.restore(saved_suites)
    ALGORITHMS.restore(saved_algorithms)
    SUITES.register("text", "tiny text cells")(lambda: list(entries))
    ALGORITHMS.register("nan_test", "MLE times nan: a loss that is never finite")(
        lambda: Objective(lambda expert: jnp.nan * mle.loss(expert))
    )
    yield entries
    SUITES.restore(saved_suites)
    ALGORITHMS.restore(saved_algorithms)


def runs_of(uri, experiment):
    client = MlflowClient(uri)
    return client.search_runs([client.get_experiment_by_name(experiment).experiment_id], max_results=100)


@needs_data
def test_offline_online_and_adversarial_cells_log_metrics_curves_and_generations(store_uri, text_suite):
    summary = run_suite("text")
    assert len(summary.finished) == 3 and not summary.failed, summary.failed
    client = MlflowClient(store_uri)
    for run in runs_of(store_uri, "text"):
        assert run.info.status == "FINISHED"
        metrics = run.data.metrics
        for name in ("eval/bleu", "eval/chrf", "eval/self_bleu", "eval/per_token_entropy", "eval/mean_length", "train/loss"):
            assert math.isfinite(metrics[name]), name
        assert 0 < metrics["eval/mean_length"] <= TINY_TRAIN["max_target"]
        assert "eval/reward_corr/chrf" in metrics  # the implied reward of every cell's logits
        algorithm = run.data.tags["bench.algorithm"]
        steps = [2, 4] if algorithm == "iqlearn" else [2, 4, 6]
        for curve in ("eval_curve/chrf", "eval_curve/mean_length", "train/loss"):
            assert [m.step for m in client.get_metric_history(run.info.run_id, curve)] == steps, curve
        if algorithm == "gail_mle":
            for name in ("train/disc_loss", "train/value_loss", "train/kl", "train/reward", "train/disc_accuracy"):
                assert math.isfinite(metrics[name]), name
            assert [m.step for m in client.get_metric_history(run.info.run_id, "train/nll")] == [2]  # the MLE phase only
        path = client.download_artifacts(run.info.run_id, "generations.jsonl")
        with open(path) as f:
            lines = [json.loads(line) for line in f]
        assert len(lines) == TINY_DATA["eval_subset"] * TINY_TRAIN["samples_per_prompt"]
        assert {(r["prompt_index"], r["sample_index"]) for r in lines} == {(p, s) for p in range(4) for s in range(2)}
        assert all(r["metric"] == "chrf" and isinstance(r["text"], str) and math.isfinite(r["reward"]) for r in lines)


@needs_data
def test_a_non_finite_loss_fails_the_cell_naming_the_step(store_uri, text_suite):
    text_suite[:] = [SuiteCell(text_cell("nan_test"), "text-test")]
    summary = run_suite("text")
    assert not summary.finished and len(summary.failed) == 1
    (run,) = runs_of(store_uri, "text")
    assert run.info.status == "FAILED"
    error = run.data.tags["bench.error"]
    assert "training loss is nan at step 1" in error and "nll=" in error  # the step and every logged term


def test_without_a_data_dir_text_cells_say_how_to_get_data(monkeypatch):
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    import bench  # noqa: F401
    from bench.registry import MODELS, TASKS

    model, task = MODELS.build("t5-tiny"), TASKS.build("wmt22")
    with pytest.raises(BenchError, match="set BENCH_DATA_DIR"):
        next(fit(model, task, Objective(mle.loss), seed=0, data=TINY_DATA, train=TINY_TRAIN))
    # newcomers without data still get the toy cells and every algorithm on the generated arith task
    assert {(e.figure, e.cell.task) for e in smoke()} == {("fig11", "toy_mdp"), ("text-smoke", "arith")}


def test_smoke_has_the_text_cells_when_data_is_there(monkeypatch):
    monkeypatch.setenv("BENCH_DATA_DIR", "/anywhere")
    text = [e for e in smoke() if e.figure == "text-smoke"]
    assert {e.cell.task for e in text} == {"arith", "gsm8k", "xsum", "tldr", "wmt22"}
    assert {e.cell.model for e in text} == {"t5-tiny", "dec-tiny"}
    assert {e.cell.algorithm for e in text} == {"mle", "mle_entreg", "iqlearn", "iqlearn_online", "gail", "gail_mle"}


def test_generated_task_evaluates_with_temperatures_beam_and_calculator(store_uri):
    """arith needs no data: the evaluation options of Figures 4, 7, 10 and Table 5 on a real trained cell."""
    import bench  # noqa: F401
    from bench.registry import MODELS, TASKS

    model, task = MODELS.build("t5-tiny"), TASKS.build("arith", steps=1, train_size=64, test_size=8)
    train = TINY_TRAIN | {"max_prompt": 32, "max_target": 24, "eval_temperatures": "0,1", "eval_beam_size": 2}
    reports = list(fit(model, task, Objective(mle.loss), seed=0, data={"eval_subset": 4}, train=train))
    assert [r.step for r in reports] == [2, 4] and reports[-1].final
    metrics = reports[-1].metrics
    for name in ("accuracy", "accuracy_calculator"):
        for key in (f"eval/{name}", f"eval_temperature/0/{name}", f"eval_temperature/1/{name}", f"eval_beam/{name}"):
            assert 0 <= metrics[key] <= 100, key
        assert metrics[f"eval/curve_drop/{name}"] >= 0
    assert set(reports[0].metrics) >= {"eval_curve/accuracy", "eval_curve/accuracy_calculator", "eval_curve/mean_length", "train/nll"}


@pytest.mark.parametrize("text", ["0,-1", "hot"])
def test_bad_eval_temperatures_name_the_option(text):
    from bench.textcells import temperatures

    with pytest.raises(BenchError, match="train.eval_temperatures"):
        temperatures(text)


def test_curve_drop_is_the_fall_from_the_best_point():
    from bench.textcells import curve_drop

    assert curve_drop([10.0, 30.0, 20.0], 15.0) == 15.0
    assert curve_drop([10.0, 12.0], 20.0) == 0.0
    assert curve_drop([], 5.0) == 0.0
