"""Entropy-regularised MLE (Eq. 18), its registration, and gradient checks of the soft-Q losses."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from algorithms import Transitions, from_sequence, iqlearn, mle, mle_entreg
from bench.registry import ALGORITHMS, BenchError


def random_batch(seed, n=5, actions=4):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    logits = jax.random.normal(k1, (n, actions))
    next_values = jax.nn.logsumexp(jax.random.normal(k2, (n, actions)), -1).at[-1].set(0.0)  # last terminal
    return Transitions(logits, jax.random.randint(k3, (n,), 0, actions), next_values, jnp.ones(n).at[1].set(0.0))


def test_entropy_on_literal_values():
    logits = jnp.array([[0.0, 0.0], [jnp.log(3.0), 0.0]])
    # uniform over 2: log 2 = 0.6931; (3/4, 1/4): -(3/4 log 3/4 + 1/4 log 1/4) = 0.5623
    h = mle_entreg.entropy(logits)
    np.testing.assert_allclose(h, [np.log(2.0), -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))], rtol=1e-6)
    # nearly deterministic: (1 - e^-30, e^-30) has entropy about 31 e^-30, i.e. 0
    assert float(mle_entreg.entropy(jnp.array([30.0, 0.0]))) == pytest.approx(0.0, abs=1e-10)


def test_mle_entreg_on_literal_values():
    logits = jnp.array([[0.0, 0.0], [jnp.log(3.0), 0.0], [5.0, 1.0]])
    t = Transitions(logits, jnp.array([0, 0, 1]), jnp.zeros(3), jnp.array([1.0, 1.0, 0.0]))
    h1 = np.log(2.0)  # uniform
    h2 = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))  # about 0.5623
    # third row is masked; the mean runs over two transitions:
    # ((-log 0.5 - 0.1 h1) + (-log 0.75 - 0.1 h2)) / 2
    expected = ((-np.log(0.5) - 0.1 * h1) + (-np.log(0.75) - 0.1 * h2)) / 2
    assert float(jax.jit(mle_entreg.loss, static_argnames="lam")(t, lam=0.1)) == pytest.approx(expected, rel=1e-6)


def test_entropy_gradient_flattens_the_policy():
    # d/dq of -lam H at a peaked distribution points towards flattening: the argmax logit's
    # gradient is positive (descent lowers it), the other's negative.
    t = Transitions(jnp.array([[2.0, 0.0]]), jnp.array([0]), jnp.zeros(1), jnp.ones(1))
    g = jax.grad(lambda lg: mle_entreg.loss(t._replace(logits=lg), lam=1.0) - mle.loss(t._replace(logits=lg)))(t.logits)
    assert g[0, 0] > 0 > g[0, 1]


def test_lambda_zero_is_mle_exactly():
    """Same loss value and the same gradient, bit for bit, under jit."""
    t = random_batch(0)
    f_ent = jax.jit(jax.value_and_grad(lambda lg: mle_entreg.loss(t._replace(logits=lg), lam=0.0)))
    f_mle = jax.jit(jax.value_and_grad(lambda lg: mle.loss(t._replace(logits=lg))))
    (v_ent, g_ent), (v_mle, g_mle) = f_ent(t.logits), f_mle(t.logits)
    assert v_ent == v_mle
    np.testing.assert_array_equal(g_ent, g_mle)


def test_sequence_loss_matches_transitions_and_mle_at_zero():
    logits = jnp.log(jnp.array([[[1.0, 1.0], [1.0, 3.0], [2.0, 2.0]]]))
    targets, mask = jnp.array([[0, 1, 0]]), jnp.array([[1, 1, 0]])
    # tokens: pi = (1/2, 1/2) -> a=0, pi = (1/4, 3/4) -> a=1; third token masked
    h = (np.log(2.0) + -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))) / 2
    expected = -(np.log(0.5) + np.log(0.75)) / 2 - 0.2 * h
    assert float(mle_entreg.sequence_loss(logits, targets, mask, lam=0.2)) == pytest.approx(expected, rel=1e-6)
    assert mle_entreg.sequence_loss(logits, targets, mask, lam=0.0) == mle.sequence_loss(logits, targets, mask)
    assert mle_entreg.sequence_loss(logits, targets, mask, lam=0.2) == mle_entreg.loss(
        from_sequence(logits, targets, mask), lam=0.2
    )


def test_registered_objective_and_its_validation():
    objective = ALGORITHMS.build("mle_entreg", lam=0.1)
    assert not objective.online and dict(objective.kwargs) == {"lam": 0.1}
    t = random_batch(1)
    assert objective(t, None) == mle_entreg.loss(t, lam=0.1)
    assert "Eq. 18" in ALGORITHMS.get("mle_entreg").description
    with pytest.raises(BenchError, match="entropy weight must be >= 0"):
        ALGORITHMS.build("mle_entreg", lam=-0.1)


# Gradient checks in float64: finite differences in float32 are too coarse for tight tolerances.


def _x64_batch(seed):
    t = random_batch(seed)
    return Transitions(*(np.asarray(x, np.float64) if x.dtype.kind == "f" else np.asarray(x) for x in t))


def test_mle_entreg_check_grads():
    with jax.enable_x64(True):
        t = _x64_batch(2)
        f = lambda lg: mle_entreg.loss(t._replace(logits=lg), lam=0.3)  # noqa: E731
        check_grads(f, (jnp.asarray(t.logits),), order=1, modes=["rev"], eps=1e-6)


def test_iqlearn_offline_check_grads():
    with jax.enable_x64(True):
        t = _x64_batch(3)
        f = lambda lg, nv: iqlearn.offline_loss(t._replace(logits=lg, next_values=nv), lam=0.5, gamma=0.9)  # noqa: E731
        check_grads(f, (jnp.asarray(t.logits), jnp.asarray(t.next_values)), order=1, modes=["rev"], eps=1e-6)


def test_iqlearn_sequence_loss_check_grads():
    with jax.enable_x64(True):
        logits = jax.random.normal(jax.random.PRNGKey(4), (2, 3, 4), dtype=jnp.float64)
        targets, mask = jnp.array([[0, 3, 1], [2, 2, 0]]), jnp.array([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
        f = lambda lg: iqlearn.loss(lg, targets, mask, lam=0.5, gamma=0.9)  # noqa: E731
        check_grads(f, (logits,), order=1, modes=["rev"], eps=1e-6)


@pytest.mark.parametrize("form", iqlearn.ONLINE_FORMS)
def test_iqlearn_online_check_grads(form):
    with jax.enable_x64(True):
        expert, policy = _x64_batch(5), _x64_batch(6)

        def f(e_lg, e_nv, p_lg, p_nv):
            e = expert._replace(logits=e_lg, next_values=e_nv)
            p = policy._replace(logits=p_lg, next_values=p_nv)
            return iqlearn.online_loss(e, p, lam=0.5, gamma=0.9, alpha=0.3, form=form)

        args = tuple(jnp.asarray(x) for x in (expert.logits, expert.next_values, policy.logits, policy.next_values))
        check_grads(f, args, order=1, modes=["rev"], eps=1e-6)
