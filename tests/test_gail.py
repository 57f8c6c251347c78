"""GAIL pieces (Appendix A.1.3) on tiny literal arrays, with the expected values derived by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from algorithms import gail

LOG2 = np.log(2.0)


def test_discriminator_loss_on_literal_values():
    expert_d, expert_mask = jnp.array([[0.0, 2.0]]), jnp.array([[1.0, 0.0]])
    policy_d, policy_mask = jnp.array([[0.0, jnp.log(3.0)]]), jnp.ones((1, 2))
    # expert: -log sigmoid(0) = log 2 (the D = 2 token is masked)
    # policy: -log(1 - sigmoid(0)) = log 2, -log(1 - 3/4) = log 4; mean 1.5 log 2
    # balanced: 0.5 (log 2 + 1.5 log 2) = 1.25 log 2
    loss = jax.jit(gail.discriminator_loss)(expert_d, policy_d, expert_mask, policy_mask)
    assert float(loss) == pytest.approx(1.25 * LOG2, rel=1e-6)


def test_discriminator_classes_are_balanced_whatever_their_token_counts():
    expert_d, policy_d = jnp.array([[1.0, -0.5]]), jnp.array([[0.3, 2.0]])
    ones = jnp.ones((1, 2))
    base = gail.discriminator_loss(expert_d, policy_d, ones, ones)
    # four copies of the policy batch leave each class's mean, hence the loss, unchanged
    many = gail.discriminator_loss(expert_d, jnp.tile(policy_d, (4, 1)), ones, jnp.ones((4, 2)))
    assert float(many) == pytest.approx(float(base), rel=1e-6)


def test_discriminator_gradient_raises_expert_and_lowers_policy_logits():
    g_e, g_p = jax.grad(gail.discriminator_loss, argnums=(0, 1))(
        jnp.zeros((1, 2)), jnp.zeros((1, 2)), jnp.array([[1.0, 0.0]]), jnp.ones((1, 2))
    )
    # d/dD 0.5 softplus(-D) at 0 = -0.5 sigmoid(0) = -0.25 on the single expert token; masked: 0
    # d/dD 0.5 softplus(D) / 2 at 0 = 0.125 on each of the two policy tokens
    np.testing.assert_allclose(g_e, [[-0.25, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(g_p, [[0.125, 0.125]], rtol=1e-6)


def test_reward_on_literal_values():
    d = jnp.array([0.0, np.log(3.0), -np.log(3.0)])
    # log(1 + 1) = log 2, log(1 + 3) = log 4, log(1 + 1/3) = log(4/3)
    np.testing.assert_allclose(gail.reward(d), [LOG2, np.log(4.0), np.log(4.0 / 3.0)], rtol=1e-6)


def test_reward_is_the_minus_log_one_minus_sigmoid_convention():
    """NOTES.md: imitation libraries use -log(1 - D), D = sigmoid(logit); it equals softplus(logit)."""
    d = jnp.linspace(-6.0, 6.0, 25)
    np.testing.assert_allclose(gail.reward(d), -jnp.log(1.0 - jax.nn.sigmoid(d)), rtol=1e-5)
    # positive everywhere, and finite far beyond where 1 - sigmoid underflows in float32
    assert bool(jnp.all(gail.reward(d) > 0))
    assert float(gail.reward(jnp.array(100.0))) == pytest.approx(100.0)


def test_returns_on_literal_values():
    rewards = jnp.array([[1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0]])
    mask = jnp.array([[1, 1, 1, 0], [1, 0, 0, 0]])
    # gamma = 0.5, row 0: R2 = 3, R1 = 2 + 0.5 * 3 = 3.5, R0 = 1 + 0.5 * 3.5 = 2.75; R3 masked = 0
    # row 1 ends after one token: R0 = 5, the rest 0
    out = jax.jit(gail.returns, static_argnums=2)(rewards, mask, 0.5)
    np.testing.assert_allclose(out, [[2.75, 3.5, 3.0, 0.0], [5.0, 0.0, 0.0, 0.0]], rtol=1e-6)
    # gamma = 1: plain reward-to-go, 6 5 3 0
    np.testing.assert_allclose(gail.returns(rewards, mask, 1.0)[0], [6.0, 5.0, 3.0, 0.0], rtol=1e-6)


def test_advantages_on_literal_values():
    rewards = jnp.array([[1.0, 2.0, 3.0, 4.0]])
    mask = jnp.array([[1.0, 1.0, 1.0, 0.0]])
    values = jnp.array([[1.0, 1.0, 1.0, 7.0]])
    # returns (gamma 0.5) 2.75 3.5 3 0, minus V = 1; the masked position stays 0, not -7
    np.testing.assert_allclose(gail.advantages(rewards, values, mask, 0.5), [[1.75, 2.5, 2.0, 0.0]], rtol=1e-6)


def test_rescale_on_literal_values():
    adv = jnp.array([[1.0, 2.0, 3.0, 100.0]])
    mask = jnp.array([[1.0, 1.0, 1.0, 0.0]])
    # over the unmasked 1 2 3: mean 2, population std sqrt(2/3) = 0.8165 -> -1.2247 0 1.2247; 100 ignored
    s = np.sqrt(2.0 / 3.0) + 1e-8
    out = gail.rescale(adv, mask)
    np.testing.assert_allclose(out, [[-1 / s, 0.0, 1 / s, 0.0]], rtol=1e-6)
    assert float(jnp.sum(out * mask) / 3) == pytest.approx(0.0, abs=1e-6)
    assert float(jnp.sqrt(jnp.sum(out**2 * mask) / 3)) == pytest.approx(1.0, rel=1e-6)
    # constant advantages: std 0 -> all zeros, not nan
    np.testing.assert_array_equal(gail.rescale(jnp.full((1, 3), 4.0), jnp.ones((1, 3))), jnp.zeros((1, 3)))


def test_policy_loss_on_literal_values_and_stopped_advantage():
    log_probs, adv = jnp.array([[-1.0, -2.0, -5.0]]), jnp.array([[2.0, 3.0, 9.0]])
    mask = jnp.array([[1.0, 1.0, 0.0]])
    # -(2 * -1 + 3 * -2) / 2 = 4; the third token is masked
    assert float(gail.policy_loss(log_probs, adv, mask)) == pytest.approx(4.0)
    g_lp, g_adv = jax.grad(gail.policy_loss, argnums=(0, 1))(log_probs, adv, mask)
    np.testing.assert_allclose(g_lp, [[-1.0, -1.5, 0.0]], rtol=1e-6)  # -A / n
    np.testing.assert_array_equal(g_adv, jnp.zeros_like(adv))


def test_value_loss_on_literal_values_and_stopped_return():
    values, rets = jnp.array([[1.0, 2.0, 9.0]]), jnp.array([[0.0, 4.0, 0.0]])
    mask = jnp.array([[1.0, 1.0, 0.0]])
    # 0.5 * ((1 - 0)^2 + (2 - 4)^2) / 2 = 1.25
    assert float(gail.value_loss(values, rets, mask)) == pytest.approx(1.25)
    g_v, g_r = jax.grad(gail.value_loss, argnums=(0, 1))(values, rets, mask)
    np.testing.assert_allclose(g_v, [[0.5, -1.0, 0.0]], rtol=1e-6)  # (V - R) / n
    np.testing.assert_array_equal(g_r, jnp.zeros_like(rets))


def test_kl_penalty_on_literal_values():
    logits = jnp.array([[[0.0, 0.0], [4.0, -4.0]]])  # uniform; second token masked
    ref = jnp.array([[[np.log(3.0), 0.0], [0.0, 0.0]]])  # (3/4, 1/4)
    mask = jnp.array([[1.0, 0.0]])
    # 0.5 log(0.5 / 0.75) + 0.5 log(0.5 / 0.25) = 0.5 log(4/3) = 0.1438
    assert float(gail.kl_penalty(logits, ref, mask)) == pytest.approx(0.5 * np.log(4.0 / 3.0), rel=1e-6)
    g_ref = jax.grad(gail.kl_penalty, argnums=1)(logits, ref, mask)
    np.testing.assert_array_equal(g_ref, jnp.zeros_like(ref))  # the reference policy is frozen


def test_kl_penalty_is_zero_for_identical_and_nonnegative_for_random_logits():
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    logits = 3.0 * jax.random.normal(k1, (4, 5, 7))
    mask = jnp.ones((4, 5)).at[2, 3:].set(0.0)
    assert float(gail.kl_penalty(logits, logits, mask)) == 0.0
    # a per-token shift of the logits is the same distribution
    assert float(gail.kl_penalty(logits, logits + 2.5, mask)) == pytest.approx(0.0, abs=1e-6)
    for seed in range(5):
        ref = 3.0 * jax.random.normal(jax.random.fold_in(k2, seed), logits.shape)
        assert float(gail.kl_penalty(logits, ref, mask)) > 0.0


def test_kl_weight_schedule():
    # linear 0 -> 1e-3 over 10,000 steps, constant after
    for step, expected in ((0, 0.0), (5000, 5e-4), (10_000, 1e-3), (20_000, 1e-3)):
        assert float(gail.kl_weight(step)) == pytest.approx(expected, rel=1e-6, abs=1e-12)
        assert float(jax.jit(gail.kl_weight)(jnp.asarray(step))) == pytest.approx(expected, rel=1e-6, abs=1e-12)
    assert float(gail.kl_weight(50, final=0.1, anneal_steps=100)) == pytest.approx(0.05)
    assert float(gail.kl_weight(0, final=0.1, anneal_steps=0)) == pytest.approx(0.1)


def _policy_inputs():
    log_probs, adv = jnp.array([[-1.0, -2.0, -5.0]]), jnp.array([[2.0, 3.0, 9.0]])
    mask = jnp.array([[1.0, 1.0, 0.0]])
    logits = jnp.zeros((1, 3, 2))
    ref = jnp.array([[[np.log(3.0), 0.0]] * 3])
    return log_probs, logits, ref, adv, mask


def test_policy_objective_on_literal_values():
    log_probs, logits, ref, adv, mask = _policy_inputs()
    kl = 0.5 * np.log(4.0 / 3.0)  # every token as in test_kl_penalty_on_literal_values
    # policy loss 4 (as in test_policy_loss...) + 0.1 KL
    out = gail.policy_objective(log_probs, logits, ref, adv, mask, kl_weight=0.1)
    assert float(out) == pytest.approx(4.0 + 0.1 * kl, rel=1e-6)
    # gail_mle: + 2 * E_E[-log pi] = 2 * (0.5 + 1.5) / 2 on the two unmasked expert tokens
    e_lp, e_mask = jnp.array([[-0.5, -1.5, -9.0]]), jnp.array([[1.0, 1.0, 0.0]])
    out = gail.policy_objective(
        log_probs, logits, ref, adv, mask, kl_weight=0.1, mle_weight=2.0, expert_log_probs=e_lp, expert_mask=e_mask
    )
    assert float(out) == pytest.approx(4.0 + 0.1 * kl + 2.0, rel=1e-6)
    # mle_weight 0 with expert data is plain GAIL
    out0 = gail.policy_objective(
        log_probs, logits, ref, adv, mask, kl_weight=0.1, mle_weight=0.0, expert_log_probs=e_lp, expert_mask=e_mask
    )
    assert float(out0) == pytest.approx(4.0 + 0.1 * kl, rel=1e-6)


def test_policy_objective_refuses_an_mle_weight_without_expert_data():
    with pytest.raises(ValueError, match="expert_log_probs"):
        gail.policy_objective(*_policy_inputs(), kl_weight=0.1, mle_weight=1.0)
    log_probs, logits, ref, adv, mask = _policy_inputs()
    with pytest.raises(ValueError, match="expert_mask"):
        gail.policy_objective(
            log_probs, logits, ref, adv, mask, kl_weight=0.1, mle_weight=1.0, expert_log_probs=log_probs
        )


def test_policy_objective_jits_with_a_traced_kl_weight():
    log_probs, logits, ref, adv, mask = _policy_inputs()
    f = jax.jit(lambda step: gail.policy_objective(log_probs, logits, ref, adv, mask, kl_weight=gail.kl_weight(step)))
    assert float(f(jnp.asarray(0))) == pytest.approx(4.0, rel=1e-6)


# Gradient checks against finite differences, in float64 for tight tolerances.


def _rand(key, shape):
    return jax.random.normal(jax.random.PRNGKey(key), shape, dtype=jnp.float64)


def test_discriminator_loss_check_grads():
    with jax.enable_x64(True):
        em, pm = jnp.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]), jnp.array([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
        f = lambda e, p: gail.discriminator_loss(e, p, em, pm)  # noqa: E731
        check_grads(f, (_rand(0, (2, 3)), _rand(1, (2, 3))), order=1, modes=["rev"], eps=1e-6)


def test_policy_objective_check_grads():
    with jax.enable_x64(True):
        mask = jnp.array([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
        ref, adv = _rand(2, (2, 3, 5)), gail.rescale(_rand(3, (2, 3)), mask)
        e_mask = jnp.array([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])

        def f(log_probs, logits, e_lp):
            return gail.policy_objective(
                log_probs, logits, ref, adv, mask,
                kl_weight=0.3, mle_weight=0.7, expert_log_probs=e_lp, expert_mask=e_mask,
            )

        args = (-jnp.abs(_rand(4, (2, 3))), _rand(5, (2, 3, 5)), -jnp.abs(_rand(6, (2, 3))))
        check_grads(f, args, order=1, modes=["rev"], eps=1e-6)


def test_value_loss_check_grads():
    with jax.enable_x64(True):
        rets, mask = _rand(7, (2, 3)), jnp.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
        check_grads(lambda v: gail.value_loss(v, rets, mask), (_rand(8, (2, 3)),), order=1, modes=["rev"], eps=1e-6)


def test_kl_penalty_check_grads():
    with jax.enable_x64(True):
        ref, mask = _rand(9, (2, 3, 5)), jnp.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
        f = lambda lg: gail.kl_penalty(lg, ref, mask)  # noqa: E731
        check_grads(f, (_rand(10, (2, 3, 5)),), order=1, modes=["rev"], eps=1e-6)


def test_returns_agree_with_an_explicit_double_sum():
    rewards, gamma = np.random.default_rng(11).normal(size=(3, 6)).astype(np.float32), 0.9
    mask = np.array([[1] * 6, [1] * 4 + [0] * 2, [1] + [0] * 5], np.float32)
    expected = np.zeros_like(rewards)
    for b in range(3):
        n = int(mask[b].sum())
        for t in range(n):
            expected[b, t] = sum(gamma ** (k - t) * rewards[b, k] for k in range(t, n))
    out = gail.returns(jnp.asarray(rewards), jnp.asarray(mask), gamma)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
