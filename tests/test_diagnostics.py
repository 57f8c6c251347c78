"""The teacher-forced diagnostics every text cell logs (train/nll, train/entropy, train/v_mean, IQLearn's train/td)."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from algorithms import from_sequence, iqlearn
from bench.objectives import Objective
from bench.textcells import diagnostics, fit


def _batch():
    # one sequence of 2 target tokens (the third position is padding), vocabulary of 3
    logits = jnp.array([[[0.0, 0.0, 0.0], [math.log(2.0), 0.0, 0.0], [5.0, -5.0, 1.0]]])
    return from_sequence(logits, jnp.array([[0, 1, 2]]), jnp.array([[1, 1, 0]]))


def test_diagnostics_on_literal_arrays():
    d = iqlearn.diagnostics(_batch(), gamma=0.5)
    v0, v1 = math.log(3.0), math.log(4.0)  # logsumexp of [0,0,0] and [log 2, 0, 0]
    # position 0: uniform; position 1: probabilities (1/2, 1/4, 1/4)
    h0, h1 = math.log(3.0), -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    nll = (math.log(3.0) + math.log(4.0)) / 2  # -log(1/3), -log(1/4)
    r0, r1 = 0.0 - 0.5 * v1, 0.0 - 0.5 * 0.0  # q(s,a) - gamma V(s'); V after the last target token is 0
    np.testing.assert_allclose(d["nll"], nll, rtol=1e-6)
    np.testing.assert_allclose(d["entropy"], (h0 + h1) / 2, rtol=1e-6)
    np.testing.assert_allclose(d["v_mean"], (v0 + v1) / 2, rtol=1e-6)
    np.testing.assert_allclose(d["td2"], (r0**2 + r1**2) / 2, rtol=1e-6)


@pytest.mark.parametrize("lam", [0.0, 0.3])
def test_offline_iqlearn_is_its_td_term_plus_the_nll(lam):
    batch = _batch()
    d = iqlearn.diagnostics(batch, gamma=0.9)
    np.testing.assert_allclose(iqlearn.offline_loss(batch, lam=lam, gamma=0.9), lam * d["td2"] + d["nll"], rtol=1e-6)


def test_the_td_term_is_logged_for_iqlearn_only():
    batch = _batch()
    mle_terms = diagnostics(Objective(iqlearn.offline_loss, kwargs=()), batch)
    iq_terms = diagnostics(Objective(iqlearn.offline_loss, kwargs=(("gamma", 0.9), ("lam", 0.3))), batch)
    assert set(mle_terms) == {"nll", "entropy", "v_mean"}
    assert set(iq_terms) == {"nll", "entropy", "v_mean", "td"}
    np.testing.assert_allclose(iq_terms["td"], 0.3 * iqlearn.diagnostics(batch, gamma=0.9)["td2"], rtol=1e-6)


def test_an_iqlearn_cell_logs_its_diagnostics_per_window():
    """A real t5-tiny IQLearn cell on arith: 2 MLE updates then 2 IQLearn updates, one window each. In the
    IQLearn window the logged loss is the logged TD term plus the logged NLL (Eq. 14, linear in the means)."""
    import bench  # noqa: F401
    from bench.registry import MODELS, TASKS

    model, task = MODELS.build("t5-tiny"), TASKS.build("arith", steps=1, train_size=32, test_size=4)
    objective = Objective(iqlearn.offline_loss, kwargs=(("gamma", 0.99), ("lam", 0.1)))
    train = {"batch_size": 4, "steps": 2, "mle_warmup_steps": 2, "eval_every": 2, "max_prompt": 32, "max_target": 24,
             "samples_per_prompt": 2}
    reports = list(fit(model, task, objective, seed=0, data={"eval_subset": 2}, train=train))
    mle_window, iq_window = reports[0].metrics, reports[-1].metrics
    assert {"train/nll", "train/entropy", "train/v_mean"} <= set(mle_window) and "train/td" not in mle_window
    assert {"train/nll", "train/entropy", "train/v_mean", "train/td"} <= set(iq_window)
    np.testing.assert_allclose(iq_window["train/loss"], iq_window["train/td"] + iq_window["train/nll"], rtol=1e-5)
    assert iq_window["train/td"] > 0 and iq_window["train/entropy"] > 0
