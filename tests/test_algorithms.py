import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms import Transitions, from_sequence, iqlearn, mle

jax.config.update("jax_enable_x64", False)


def batch(seed=0, n=6, actions=3, terminal_last=True):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    logits = jax.random.normal(k1, (n, actions))
    next_logits = jax.random.normal(k2, (n, actions))
    done = jnp.zeros(n).at[-1].set(1.0 if terminal_last else 0.0)
    return logits, jax.random.randint(k3, (n,), 0, actions), next_logits, done, jnp.ones(n).at[2].set(0.0)


def make(logits, actions, next_logits, done, mask):
    return Transitions(logits, actions, jax.nn.logsumexp(next_logits, -1) * (1 - done), mask)


def test_mle_on_literal_values():
    logits = jnp.array([[0.0, 0.0], [jnp.log(3.0), 0.0]])
    t = Transitions(logits, jnp.array([0, 0]), jnp.zeros(2), jnp.ones(2))
    # -log 0.5 and -log 0.75, averaged
    assert jax.jit(mle.loss)(t) == pytest.approx(-(np.log(0.5) + np.log(0.75)) / 2, rel=1e-6)


def test_iqlearn_offline_on_literal_values():
    logits = jnp.array([[1.0, 0.0]])
    t = Transitions(logits, jnp.array([0]), jnp.array([2.0]), jnp.ones(1))
    v = np.log(np.e + 1)
    log_pi = 1.0 - v
    r = v + log_pi - 0.9 * 2.0  # = q - gamma V' = 1 - 1.8
    assert r == pytest.approx(-0.8)
    expected = 0.5 * r**2 - log_pi
    assert iqlearn.offline_loss(t, lam=0.5, gamma=0.9) == pytest.approx(expected, rel=1e-6)
    assert iqlearn.reward(t, gamma=0.9) == pytest.approx([-0.8], rel=1e-6)


def test_lambda_zero_iqlearn_is_mle_exactly():
    """Same loss value and the same gradient, bit for bit, under jit."""
    logits, actions, next_logits, done, mask = batch()

    def f_iq(lg, nl):
        return iqlearn.offline_loss(make(lg, actions, nl, done, mask), lam=0.0, gamma=0.99)

    def f_mle(lg, nl):
        return mle.loss(make(lg, actions, nl, done, mask))

    v_iq, g_iq = jax.jit(jax.value_and_grad(f_iq, argnums=(0, 1)))(logits, next_logits)
    v_mle, g_mle = jax.jit(jax.value_and_grad(f_mle, argnums=(0, 1)))(logits, next_logits)
    assert v_iq == v_mle
    for a, b in zip(g_iq, g_mle):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("form", iqlearn.ONLINE_FORMS)
def test_online_forms_reduce_to_offline_at_alpha_zero(form):
    logits, actions, next_logits, done, mask = batch(1)
    expert = make(logits, actions, next_logits, done, mask)
    policy = make(*batch(2))
    online = iqlearn.online_loss(expert, policy, lam=0.3, gamma=0.9, alpha=0.0, form=form)
    assert float(online) == pytest.approx(float(iqlearn.offline_loss(expert, lam=0.3, gamma=0.9)), rel=1e-5)


def test_online_forms_differ_by_the_contrastive_value_term():
    expert, policy = make(*batch(3)), make(*batch(4))
    alpha, gamma = 0.2, 0.9
    relaxed = iqlearn.online_loss(expert, policy, lam=0.3, gamma=gamma, alpha=alpha, form="relaxed")
    original = iqlearn.online_loss(expert, policy, lam=0.3, gamma=gamma, alpha=alpha, form="original")

    def value_drop(t):
        d = jax.nn.logsumexp(t.logits, -1) - gamma * t.next_values
        return float(jnp.sum(d * t.mask) / jnp.sum(t.mask))

    assert original - relaxed == pytest.approx(alpha * (value_drop(policy) - value_drop(expert)), rel=1e-4, abs=1e-5)


def test_online_policy_batch_only_enters_the_td_term_in_relaxed_form():
    expert, policy = make(*batch(5)), make(*batch(6))
    loss = lambda p: iqlearn.online_loss(expert, p, lam=0.5, gamma=0.9, alpha=0.2, form="relaxed")  # noqa: E731
    r = policy.logits[jnp.arange(6), policy.actions] - 0.9 * policy.next_values
    # d loss / d policy.next_values = alpha * lam * 2 r * (-gamma) / n_policy per unmasked transition
    g = jax.grad(lambda nv: loss(policy._replace(next_values=nv)))(policy.next_values)
    expected = 0.2 * 0.5 * 2 * r * -0.9 * policy.mask / policy.mask.sum()
    np.testing.assert_allclose(g, expected, rtol=1e-5, atol=1e-7)


def test_unknown_online_form_names_the_valid_ones():
    expert = make(*batch())
    with pytest.raises(ValueError, match="relaxed, original"):
        iqlearn.online_loss(expert, expert, lam=0.1, gamma=0.9, alpha=0.1, form="bogus")


def test_sequence_transitions_bootstrap_from_the_next_target_and_stop_after_the_last():
    logits = jnp.log(jnp.array([[[1.0, 1.0], [1.0, 3.0], [2.0, 2.0]]]))  # V = log 2, log 4, log 4
    targets = jnp.array([[0, 1, 0]])
    mask = jnp.array([[1, 1, 0]])
    t = from_sequence(logits, targets, mask)
    np.testing.assert_allclose(t.next_values, [[np.log(4.0), 0.0, 0.0]], rtol=1e-6)
    # lam = 0 sequence IQLearn is sequence MLE exactly
    assert iqlearn.loss(logits, targets, mask, lam=0.0, gamma=0.9) == mle.sequence_loss(logits, targets, mask)
    expected = -(np.log(0.5) + np.log(0.75)) / 2
    assert float(mle.sequence_loss(logits, targets, mask)) == pytest.approx(expected, rel=1e-6)
