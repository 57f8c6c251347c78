"""GAIL's three-network update (bench.gail_trainer) on a tiny T5 with random tokens, and its registration."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bench  # noqa: F401  (fills the registries)
from algorithms import from_sequence, mle
from bench import gail_trainer
from bench.cells import Cell
from bench.objectives import Adversarial
from bench.registry import ALGORITHMS, MODELS, BenchError
from bench.runner import InvalidCellError, validate
from bench.suites import SuiteCell
from bench.textcells import adam_warmup

VOCAB, B, P, T = 64, 4, 6, 5
PLAIN = Adversarial(lam=0.0, gamma=0.99, kl=1e-3, kl_anneal_steps=10)  # one compilation shared by most tests


@pytest.fixture(scope="module")
def setup():
    model = MODELS.build("t5-tiny", vocab_size=VOCAB)
    params = model.init(jax.random.PRNGKey(0))
    rng = np.random.default_rng(0)
    prompt = jnp.asarray(rng.integers(2, VOCAB, (B, P)), jnp.int32)
    targets = jnp.asarray(rng.integers(2, VOCAB, (B, T)), jnp.int32)
    target_mask = jnp.asarray([[1] * T, [1] * T, [1] * 3 + [0] * 2, [1] * 4 + [0]], jnp.int32)
    batch = (prompt, jnp.ones_like(prompt), targets, target_mask)
    return model, params, batch


def run(setup, hp, steps=1):
    model, params, batch = setup
    optimiser = adam_warmup(1e-3, 0)
    state = gail_trainer.init(params, optimiser)
    history = []
    for i in range(steps):
        state, terms = gail_trainer.update(state, batch, jax.random.PRNGKey(i), model=model, hp=hp, optimiser=optimiser, max_new=T)
        history.append({k: float(v) for k, v in terms.items()})
    return state, history


def changed(a, b):
    return any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_one_step_moves_policy_value_and_discriminator_but_not_the_reference(setup):
    _, params, _ = setup
    state, (terms,) = run(setup, PLAIN)
    assert int(state.step) == 1
    assert changed(state.policy, params) and changed(state.value, params) and changed(state.disc, params)
    assert not changed(state.ref, params)
    assert all(np.isfinite(v) for v in terms.values()), terms
    assert set(terms) >= {"loss", "disc_loss", "value_loss", "entropy", "kl", "reward", "sample_length", "disc_accuracy"}
    assert terms["kl"] == pytest.approx(0.0, abs=1e-6)  # the first step's policy is the reference
    assert terms["reward"] > 0  # softplus(D) > 0: the paper's positive reward


def test_the_mle_weight_and_the_entropy_cost_enter_the_policy_loss_exactly(setup):
    """loss(lam, mle_weight) - loss(0, 0) = mle_weight * NLL(expert) - lam * H(pi) on the same samples."""
    model, params, batch = setup
    _, (plain,) = run(setup, PLAIN)
    _, (both,) = run(setup, Adversarial(lam=0.5, gamma=0.99, kl=1e-3, kl_anneal_steps=10, mle_weight=2.0))
    prompt, prompt_mask, targets, target_mask = batch
    nll = float(mle.loss(from_sequence(model.forward(params, prompt, prompt_mask, targets, target_mask), targets, target_mask)))
    assert both["entropy"] == pytest.approx(plain["entropy"])  # same policy, same samples
    assert both["loss"] - plain["loss"] == pytest.approx(2.0 * nll - 0.5 * plain["entropy"], rel=1e-4)
    assert both["disc_loss"] == pytest.approx(plain["disc_loss"])  # same samples, same discriminator


def test_the_discriminator_learns_to_tell_expert_from_policy_tokens(setup):
    _, history = run(setup, PLAIN, steps=20)
    assert history[-1]["disc_loss"] < 0.5 * history[0]["disc_loss"]
    assert history[-1]["disc_accuracy"] > history[0]["disc_accuracy"]


def test_gail_hyperparameters_are_checked_when_the_suite_is_built():
    with pytest.raises(BenchError, match="gail_mle mle_weight=-1"):
        ALGORITHMS.build("gail_mle", lam=0.0, gamma=0.99, mle_weight=-1.0)
    with pytest.raises(BenchError, match="gail gamma=0"):
        ALGORITHMS.build("gail", lam=0.0, gamma=0.0)
    hp = ALGORITHMS.build("gail", lam=0.0, gamma=0.99)
    assert (hp.kl, hp.kl_anneal_steps, hp.mle_weight) == (1e-3, 10_000, 0.0)  # the paper's Table 4 defaults


def test_gail_on_the_tabular_toy_model_is_refused_before_training():
    cell = Cell.make(
        "toy_mdp", "gail", model="tabular", seed=0, task_options={"variant": "recovery"}, hparams={"lam": 0.0, "gamma": 0.5},
        train={"steps": 1, "learning_rate": 0.1},
    )
    with pytest.raises(InvalidCellError, match="tabular model trains single-loss objectives"):
        validate([SuiteCell(cell, "fig11")])
