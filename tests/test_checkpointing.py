"""Checkpoints: saved every N updates and at the end; a cell continued from one ends bit for bit as an uninterrupted run."""

import jax.numpy as jnp
import numpy as np
import pytest

from bench.checkpointing import CellCheckpoints, digest, params_of, root
from bench.registry import TASKS
from bench.tabular import TabularPolicy
from bench.tracking import Store


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
    generations and parameters, bit for bit. The state saved at the last step holds the parameters the cell reports
    (its GailState's policy), which the runner keeps for cells needed downstream."""
    final = CellCheckpoints(str(tmp_path / "whole"), every=0)
    whole = list(gail_fit(final))
    final.close()
    step, state = final.last
    assert step == whole[-1].total and type(state["train"]).__name__ == "GailState"
    assert digest(params_of(state)) == whole[-1].tags["bench.params_sha256"]
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


def test_params_of_reads_each_trainers_layout():
    from bench.gail_trainer import GailState

    p, o = {"w": jnp.ones(2)}, {"mu": jnp.zeros(2)}
    assert params_of({"train": (p, o), "order": np.arange(3), "key": np.zeros(2)}) is p  # text, MLE/IQLearn
    gail = GailState(p, {"v": 1}, {"d": 2}, {"r": 3}, o, o, o, jnp.zeros((), jnp.int32))
    assert params_of({"train": gail, "order": np.arange(3), "key": np.zeros(2)}) is p  # text, GAIL: the policy
    assert params_of({"q": p["w"], "opt": o}) is p["w"]  # tabular


def test_final_parameters_are_kept_by_their_run_and_checked_when_read(store_uri, tiny_suite, tmp_path):
    """A cell needed downstream keeps its final parameters under finished/<run id>; load_final returns them bit for
    bit and refuses, in one sentence naming the run, the folder and the fix, any that are missing or altered."""
    from bench.checkpointing import load_final
    from bench.registry import BenchError
    from bench.runner import Settings, run_suite

    kept, other = tiny_suite[0].cell, tiny_suite[2].cell
    summary = run_suite("tiny", filter_expr="seed=0", settings=Settings(checkpoint_every=20, keep_final=frozenset({kept.hash})))
    runs = {r: Store.open("tiny").client.get_run(r) for _, r in summary.finished}
    (run,) = [r for r in runs.values() if r.data.tags["bench.cell"] == kept.hash]
    (plain,) = [r for r in runs.values() if r.data.tags["bench.cell"] == other.hash]
    folder = tmp_path / "bench-checkpoints" / "finished" / run.info.run_id
    assert run.data.tags["bench.final_params"] == str(folder) and "bench.final_params" not in plain.data.tags
    assert sorted(p.name for p in (tmp_path / "bench-checkpoints").iterdir()) == ["finished"]  # the cells' own: removed
    sha = run.data.tags["bench.params_sha256"]
    template = jnp.zeros(TASKS.build("toy_mdp", variant="recovery", n=4, horizon=6).transitions().shape[:2])  # q[s, a]
    params = load_final(run.info.run_id, sha, template)
    assert digest(params) == sha and params.shape == template.shape

    with pytest.raises(BenchError, match=f"not run {run.info.run_id}'s bench.params_sha256") as err:
        load_final(run.info.run_id, "0" * 64, template)
    assert str(folder) in str(err.value) and "rerun the cell" in str(err.value) and len(str(err.value).splitlines()) == 1
    with pytest.raises(BenchError, match=f"final parameters of run {plain.info.run_id} are not in .*finished"):
        load_final(plain.info.run_id, plain.data.tags["bench.params_sha256"], template)

    # without checkpoints the final state is held in memory and kept all the same
    summary = run_suite("tiny", filter_expr="seed=0,algorithm=mle", force=True,
                        settings=Settings(checkpoints=False, keep_final=frozenset({kept.hash})))
    again = Store.open("tiny").client.get_run(summary.finished[0][1])
    assert digest(load_final(again.info.run_id, again.data.tags["bench.params_sha256"], template)) == sha
