import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench.registry import ALGORITHMS, MODELS, TASKS, BenchError
from bench.tabular import _rollouts


def fit(algorithm, variant="recovery", seed=0, steps=300, **hparams):
    task = TASKS.build("toy_mdp", variant=variant, n=5, horizon=8)
    objective = ALGORITHMS.build(algorithm, **hparams)
    reports = list(MODELS.build("tabular", init_scale=1.0).fit(
        task, objective, seed=seed, data={"demonstrations": 1},
        train={"steps": steps, "learning_rate": 0.05, "policy_batch": 8, "eval_points": 3},
    ))
    return task, reports


def advance_rollouts(variant, n, horizon, count, seed):
    """Rollouts of a policy that always chooses ADVANCE (only slips make it go up)."""
    task = TASKS.build("toy_mdp", variant=variant, n=n, horizon=horizon)
    always_advance = jnp.array([[20.0, -20.0]] * task.num_states)
    log_p = jnp.log(jnp.asarray(task.transitions(), jnp.float32))
    terminal = jnp.asarray(task.terminal(), jnp.float32)
    return task, _rollouts(jax.random.PRNGKey(seed), always_advance, log_p, task.start, terminal, horizon, count)


def test_rollout_sampler_slips_ten_percent_of_the_time():
    task, (s, a, s_next, mask) = advance_rollouts("no_recovery", n=3, horizon=3, count=20000, seed=0)
    s_next, a = s_next[:20000], a[:20000]  # the first step of every rollout
    slipped = float(jnp.mean(s_next == task.n))  # from b_0 a slip lands in t_0
    assert (a == 0).all() and abs(slipped - 0.1) < 4 * np.sqrt(0.09 / 20000)


def test_rollout_mask_stops_after_the_goal():
    task, (s, a, s_next, mask) = advance_rollouts("recovery", n=2, horizon=6, count=500, seed=1)
    steps = np.asarray(mask).reshape(6, 500)
    reached = np.asarray(s_next).reshape(6, 500) == task.goal
    first_goal = np.argmax(reached, axis=0)
    ok = reached.any(axis=0)
    # a step is live up to and including the one that reaches the goal, and dead after it
    for j in np.flatnonzero(ok)[:50]:
        assert steps[: first_goal[j] + 1, j].all() and not steps[first_goal[j] + 1 :, j].any()


def test_mle_learns_the_expert_chain():
    task, reports = fit("mle")
    assert [r.step for r in reports] == [100, 200, 300, 300] and reports[-1].final
    assert reports[-1].metrics["eval/success_rate"] > 0.9 * task.success_probability(task.expert_policy())
    assert reports[0].metrics["train/loss"] > reports[2].metrics["train/loss"]


def test_lambda_zero_iqlearn_trains_exactly_like_mle():
    _, mle = fit("mle", steps=60)
    _, iq = fit("iqlearn", steps=60, lam=0.0, gamma=0.9)
    assert mle[-1].artifacts["policy.json"] == iq[-1].artifacts["policy.json"]


def test_online_training_is_deterministic_given_the_seed():
    hp = {"lam": 0.05, "gamma": 0.5, "alpha": 0.2, "form": "original"}
    _, a = fit("iqlearn_online", seed=3, steps=50, **hp)
    _, b = fit("iqlearn_online", seed=3, steps=50, **hp)
    _, c = fit("iqlearn_online", seed=4, steps=50, **hp)
    assert a[-1].artifacts == b[-1].artifacts != c[-1].artifacts


def test_tabular_model_refuses_a_non_tabular_task():
    objective = ALGORITHMS.build("mle")
    with pytest.raises(BenchError, match="trains only tabular MDP tasks"):
        list(MODELS.build("tabular").fit(object(), objective, seed=0, data={}, train={"steps": 1, "learning_rate": 0.1}))


@pytest.mark.parametrize(
    "name, options, needle",
    [
        ("iqlearn_online", {"lam": 0.1, "gamma": 0.9, "alpha": 1.0, "form": "relaxed"}, "alpha=1.0"),
        ("iqlearn_online", {"lam": 0.1, "gamma": 0.9, "alpha": 0.1, "form": "other"}, "relaxed, original"),
        ("iqlearn", {"lam": -1, "gamma": 0.9}, "lam=-1"),
    ],
)
def test_bad_hyperparameters_are_named(name, options, needle):
    with pytest.raises(BenchError, match=needle):
        ALGORITHMS.build(name, **options)


def test_unknown_toy_variant_is_named():
    with pytest.raises(BenchError, match="variant 'sideways' is unknown; use one of recovery, no_recovery"):
        TASKS.build("toy_mdp", variant="sideways")
