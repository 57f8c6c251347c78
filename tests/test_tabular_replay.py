"""The tabular trainer's replay of policy rollouts (train option policy_replay) and the toy MDP's top-state option."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms import Transitions
from bench.checkpointing import CellCheckpoints
from bench.registry import ALGORITHMS, MODELS, TASKS, BenchError
from bench.tabular import _all_transitions, _count, _problem, _train_chunk, initial_state, train_table

ONLINE = {"lam": 0.1, "gamma": 0.8, "alpha": 0.1, "form": "original"}


def small_problem(variant="recovery", n=3, horizon=5):
    task = TASKS.build("toy_mdp", variant=variant, n=n, horizon=horizon)
    return task, _problem(task, 1)


def test_all_transitions_enumerate_the_count_table_in_row_major_order():
    s, a, s_next = _all_transitions(2, 2)
    assert s.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert a.tolist() == [0, 0, 1, 1, 0, 0, 1, 1]
    assert s_next.tolist() == [0, 1, 0, 1, 0, 1, 0, 1]


def test_count_adds_the_live_transitions_only():
    counts = _count(jnp.zeros((2, 2, 2)), jnp.array([0, 0, 1]), jnp.array([1, 1, 0]), jnp.array([1, 1, 0]), jnp.array([1.0, 1.0, 0.0]))
    expected = np.zeros((2, 2, 2))
    expected[0, 1, 1] = 2.0  # the masked (1, 0, 0) step is not counted
    np.testing.assert_array_equal(counts, expected)


def test_the_first_replayed_update_learns_from_the_count_weighted_table():
    """After one update the table holds exactly that update's rollouts, and its loss is the objective over all
    S x A x S transitions weighted by those counts (what a uniform draw from the buffer estimates)."""
    task, problem = small_problem()
    objective = ALGORITHMS.build("iqlearn_online", **ONLINE)
    state = initial_state(problem, seed=0, learning_rate=0.05, init_scale=1.0, policy_replay="all")
    log_p = jnp.log(jnp.asarray(problem.transitions, jnp.float32))
    terminal = jnp.asarray(problem.terminal, jnp.float32)
    expert = tuple(jnp.asarray(x) for x in (problem.expert_states, problem.expert_actions, problem.expert_next_states))
    _, _, replay, losses = _train_chunk(
        state["q"], state["opt"], state["replay"], jax.random.PRNGKey(1), log_p, terminal, problem.start, expert,
        objective=objective, horizon=problem.horizon, num_rollouts=4, learning_rate=0.05, size=1,
    )
    q = state["q"]
    assert task.n * 4 <= float(replay.sum()) <= problem.horizon * 4  # each rollout lives n to horizon steps

    def batch(s, a, s_next, mask):
        next_values = jax.nn.logsumexp(q[s_next], -1) * (1.0 - terminal[s_next])
        return Transitions(q[s], a, next_values, mask)

    s, a, s_next = _all_transitions(*replay.shape[:2])
    by_hand = objective(batch(*expert, jnp.ones(expert[0].shape)), batch(s, a, s_next, replay.reshape(-1)))
    assert float(losses[0]) == pytest.approx(float(by_hand), rel=1e-5)


def test_replay_accumulates_every_rollout_on_possible_transitions_only():
    task, problem = small_problem()
    objective = ALGORITHMS.build("iqlearn_online", **ONLINE)
    sums = []
    for _, _, state in train_table(problem, objective, seed=0, steps=20, learning_rate=0.05, init_scale=1.0,
                                   num_rollouts=4, chunks=2, policy_replay="all"):
        sums.append(float(state["replay"].sum()))
        assert float(state["replay"][problem.transitions == 0].sum()) == 0.0
    # 10 updates per chunk, 4 rollouts each, every rollout alive n to horizon steps
    assert 10 * 4 * task.n <= sums[0] <= 10 * 4 * problem.horizon
    assert 20 * 4 * task.n <= sums[1] <= 20 * 4 * problem.horizon


def test_without_replay_the_state_has_no_table():
    _, problem = small_problem()
    objective = ALGORITHMS.build("iqlearn_online", **ONLINE)
    *_, (_, _, state) = train_table(problem, objective, seed=0, steps=4, learning_rate=0.05, init_scale=1.0, num_rollouts=2, chunks=1)
    assert set(state) == {"q", "opt"}


def replay_fit(ckpt=None, replay="all"):
    task = TASKS.build("toy_mdp", variant="recovery", n=4, horizon=6)
    objective = ALGORITHMS.build("iqlearn_online", **ONLINE)
    train = {"steps": 60, "learning_rate": 0.05, "policy_batch": 4, "eval_points": 6, "policy_replay": replay}
    return MODELS.build("tabular").fit(task, objective, seed=3, data={"demonstrations": 1}, train=train, checkpoints=ckpt)


def test_replay_changes_training_and_resumes_bit_for_bit(tmp_path):
    whole = list(replay_fit())
    assert whole[-1].tags != list(replay_fit(replay="none"))[-1].tags  # the option reaches the trainer
    ckpt = CellCheckpoints(str(tmp_path / "cell"), every=20)
    first = replay_fit(ckpt)
    for report in first:
        if report.step == 30:  # "crash" after the step-20 checkpoint, which holds the replay table
            break
    first.close()
    ckpt.close()
    again = CellCheckpoints(str(tmp_path / "cell"), every=20)
    resumed = list(replay_fit(again))
    again.close()
    assert [r.step for r in resumed] == [30, 40, 50, 60, 60]
    assert resumed[-1].tags == whole[-1].tags and resumed[-1].metrics == whole[-1].metrics


@pytest.mark.parametrize(
    "algorithm, hparams, replay, needle",
    [
        ("iqlearn_online", ONLINE, "sometimes", "policy_replay='sometimes' is unknown; use 'none'"),
        ("iqlearn", {"lam": 0.1, "gamma": 0.8}, "all", "policy_replay='all' needs an online objective"),
    ],
)
def test_a_bad_replay_option_is_named(algorithm, hparams, replay, needle):
    task = TASKS.build("toy_mdp", variant="recovery", n=3, horizon=5)
    train = {"steps": 2, "learning_rate": 0.05, "policy_replay": replay}
    with pytest.raises(BenchError, match=needle):
        list(MODELS.build("tabular").fit(task, ALGORITHMS.build(algorithm, **hparams), seed=0, data={}, train=train))


def test_the_toy_task_takes_the_top_state_dynamics():
    assert TASKS.build("toy_mdp", variant="recovery", top="forward").top == "forward"
    assert TASKS.build("toy_mdp", variant="recovery").top == "stay"
    with pytest.raises(BenchError, match="top='sideways': use one of stay, forward"):
        TASKS.build("toy_mdp", variant="recovery", top="sideways")
