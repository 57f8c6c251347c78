"""Checkpoints: saved every N updates and at the end; a cell continued from one ends bit for bit as an uninterrupted run."""

import jax.numpy as jnp
import numpy as np
import pytest

from bench.checkpointing import CellCheckpoints, digest, root
from bench.registry import TASKS
from bench.tabular import TabularPolicy


def test_due_at_every_interval_and_at_the_end():
    ckpt = CellCheckpoints("/unused", every=4)
    assert [s for s in range(1, 11) if ckpt.due(s, 10)] == [4, 8, 10]
    assert [s for s in range(1, 11) if CellCheckpoints("/unused", every=0).due(s, 10)] == [10]
    with pytest.raises(ValueError, match="must be >= 0"):
        CellCheckpoints("/unused", every=-1)


def test_save_and_restore_round_trip_with_provenance(tmp_path):
    ckpt = CellCheckpoints(str(tmp_path / "cell"), every=1, run_id="run-a")
    assert ckpt.latest() is None
    state = {"params": jnp.arange(6.0).reshape(2, 3), "order": np.array([2, 0, 1]), "key": jnp.array([0, 7], jnp.uint32)}
    ckpt.save(3, state, {"position": 2, "history": [{"loss": 0.5}]})
    ckpt.save(6, {**state, "params": state["params"] + 1}, {"position": 4, "history": []})
    ckpt.close()
    again = CellCheckpoints(str(tmp_path / "cell"), every=1, run_id="run-b")
    saved = again.latest()
    assert saved.step == 6 and saved.run_id == "run-a" and saved.saved_at_ms > 0
    step, restored, meta = again.restore(state)
    assert step == 6 and meta == {"position": 4, "history": []}
    np.testing.assert_array_equal(restored["params"], np.arange(6.0).reshape(2, 3) + 1)
    np.testing.assert_array_equal(restored["order"], [2, 0, 1])
    assert sorted(p.name for p in (tmp_path / "cell").iterdir() if p.name.isdigit()) == ["6"]  # only the newest is kept
    again.clear()
    assert not (tmp_path / "cell").exists() and CellCheckpoints(str(tmp_path / "cell")).latest() is None


def test_digest_tells_bitwise_equal_states_apart():
    a = {"w": jnp.ones((2, 2)), "b": jnp.zeros(3)}
    assert digest(a) == digest({"w": jnp.ones((2, 2)), "b": jnp.zeros(3)})
    assert digest(a) != digest({"w": jnp.ones((2, 2)).at[0, 0].set(1 + 1e-7), "b": jnp.zeros(3)})
    assert digest(a) != digest({"w": jnp.ones((2, 2), jnp.bfloat16), "b": jnp.zeros(3)})


def test_root_prefers_the_argument_then_the_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BENCH_CHECKPOINT_DIR", raising=False)
    assert root() == str(tmp_path / "bench-checkpoints")
    monkeypatch.setenv("BENCH_CHECKPOINT_DIR", "ck")
    assert root() == str(tmp_path / "ck") and root("other") == str(tmp_path / "other") and root("gs://b/c") == "gs://b/c"


def toy_fit(ckpt=None):
    task = TASKS.build("toy_mdp", variant="recovery", n=4, horizon=6)
    from bench.registry import ALGORITHMS

    objective = ALGORITHMS.build("iqlearn_online", lam=0.05, gamma=0.5, alpha=0.2, form="original")
    train = {"steps": 60, "learning_rate": 0.05, "policy_batch": 4, "eval_points": 6}
    return TabularPolicy().fit(task, objective, seed=3, data={"demonstrations": 1}, train=train, checkpoints=ckpt)


def test_a_toy_cell_continued_from_a_checkpoint_ends_as_an_uninterrupted_one(tmp_path):
    whole = list(toy_fit())
    ckpt = CellCheckpoints(str(tmp_path / "cell"), every=20)
    first = toy_fit(ckpt)
    for report in first:  # "crash" after the step-20 checkpoint: the generator is dropped mid-training
        if report.step == 30:
            break
    first.close()
    ckpt.close()
    again = CellCheckpoints(str(tmp_path / "cell"), every=20)
    resumed = list(toy_fit(again))
    again.close()
    assert [r.step for r in resumed] == [30, 40, 50, 60, 60]  # steps 30.. again, from the checkpoint at 20
    assert resumed[-1].tags["bench.params_sha256"] == whole[-1].tags["bench.params_sha256"]
    assert resumed[-1].metrics == whole[-1].metrics
    assert [r.metrics for r in resumed[:-1]] == [r.metrics for r in whole[2:-1]]


def gail_fit(ckpt=None):
    from bench import textcells
    from bench.registry import ALGORITHMS, MODELS

    task = TASKS.build("arith", steps=1, train_size=64, test_size=8)
    objective = ALGORITHMS.build("gail_mle", lam=0.0, gamma=0.99, mle_weight=1.0, kl_anneal_steps=2)
    train = {"steps": 4, "mle_warmup_steps": 2, "batch_size": 4, "max_prompt": 32, "max_target": 12, "eval_every": 1,
             "samples_per_prompt": 2}
    return textcells.fit(MODELS.build("t5-tiny"), task, objective, seed=5, data={}, train=train, checkpoints=ckpt)


def test_a_text_cell_continued_inside_gail_ends_as_an_uninterrupted_one(tmp_path):
    """GAIL+MLE after 2 MLE updates: the checkpoint at step 4 holds GAIL's three networks, their optimisers, the
    data order and position and the logged terms; continuing from it gives the same curve points, final metrics,
    generations and parameters, bit for bit."""
    whole = list(gail_fit())
    ckpt = CellCheckpoints(str(tmp_path / "cell"), every=2)
    first = gail_fit(ckpt)
    for report in first:
        if report.step == 5:  # the checkpoint of step 4 is written once its report was taken
            break
    first.close()
    ckpt.close()
    assert CellCheckpoints(str(tmp_path / "cell")).latest().step == 4
    again = CellCheckpoints(str(tmp_path / "cell"), every=2)
    resumed = list(gail_fit(again))
    again.close()
    assert [r.step for r in resumed] == [5, 6]
    np.testing.assert_equal(resumed[0].metrics, whole[4].metrics)  # NaN (an undefined correlation) equals NaN here
    np.testing.assert_equal(resumed[-1].metrics, whole[-1].metrics)
    assert resumed[-1].artifacts == whole[-1].artifacts and resumed[-1].tags == whole[-1].tags
