"""The pieces of the paper's GAIL (Appendix A.1.3) as pure JAX functions over per-token arrays.

A trainer composes them; nothing here owns a network or an optimiser. Per-token arrays are
[B, T] with a mask [B, T] (1.0 on generated / target tokens, contiguous from t = 0, as in
``transitions.from_sequence``); ``logits`` arrays are [B, T, V].

One GAIL iteration, as the appendix describes it:

1. Sample continuations from the policy; score expert and policy tokens with the discriminator,
   a separate network giving one logit D(s_t, a_t) per token (sigmoid(D) = P(expert)).
2. Reward every policy token with r_t = log(1 + exp(D(s_t, a_t))) > 0          (``reward``)
3. Monte Carlo reward-to-go R_t, advantage A_t = R_t - V(s_t) from a separate value network,
   rescaled to zero mean and unit variance over the batch       (``returns``, ``advantages``, ``rescale``)
4. Policy: A2C loss with a KL penalty to the initial policy, the weight annealed linearly to
   its final value over 10,000 steps, plus optionally an MLE loss on expert tokens (gail_mle)
                                                   (``policy_objective``, ``kl_weight``)
5. Value: squared error to R_t                                                  (``value_loss``)
6. Discriminator: binary cross-entropy, expert 1 / policy 0, after every policy step
                                                                       (``discriminator_loss``)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from algorithms.transitions import masked_mean


def discriminator_loss(
    expert_logits_d: jax.Array, policy_logits_d: jax.Array, expert_mask: jax.Array, policy_mask: jax.Array
) -> jax.Array:
    """Binary cross-entropy with expert tokens labelled 1 and policy tokens labelled 0.

        L_D = 1/2 E_E[-log sigmoid(D)] + 1/2 E_pi[-log(1 - sigmoid(D))]
            = 1/2 E_E[softplus(-D)]    + 1/2 E_pi[softplus(D)]

    D is the discriminator's logit per state-action (token). Each set is averaged over its own
    unmasked tokens and the two halves weigh equally, so the classifier sees balanced classes
    whatever the lengths of the expert and policy sequences. softplus keeps it finite for any D.
    """
    expert_term = masked_mean(jax.nn.softplus(-expert_logits_d), expert_mask)
    policy_term = masked_mean(jax.nn.softplus(policy_logits_d), policy_mask)
    return 0.5 * (expert_term + policy_term)


def reward(d_logits: jax.Array) -> jax.Array:
    """The paper's positive reward r_t = log(1 + exp(D(s_t, a_t))) = softplus(D).

    It is the same as the -log(1 - D) convention of imitation libraries, with D there the
    probability sigmoid(D) of being expert:  1 - sigmoid(D) = sigmoid(-D) = 1 / (1 + exp(D)),
    so -log(1 - sigmoid(D)) = log(1 + exp(D)). Both rise with the discriminator's belief that
    the token is expert's, and both are > 0, a survival bonus per generated token.
    """
    return jax.nn.softplus(d_logits)


def returns(rewards: jax.Array, mask: jax.Array, gamma: float) -> jax.Array:
    """Discounted reward-to-go within each sequence, [B, T]:

        R_t = m_t (r_t + gamma R_{t+1}),   R_T = 0

    so R_t = sum_{k >= t} gamma^(k - t) r_k over the sequence's tokens, and 0 at masked
    positions (after the sequence has ended nothing more is earned). Sequences end inside the
    window, so there is no bootstrap from V at the cut.
    """
    def step(next_return, r_m):
        r, m = r_m
        ret = m * (r + gamma * next_return)
        return ret, ret

    mask = mask.astype(rewards.dtype)
    # scan runs over the leading axis, so put time first and walk it backwards.
    _, out = jax.lax.scan(step, jnp.zeros_like(rewards[:, 0]), (rewards.T, mask.T), reverse=True)
    return out.T


def advantages(rewards: jax.Array, values: jax.Array, mask: jax.Array, gamma: float) -> jax.Array:
    """A_t = R_t - V(s_t), 0 at masked positions; V is the value network's estimate [B, T]."""
    return (returns(rewards, mask, gamma) - values) * mask


def rescale(adv: jax.Array, mask: jax.Array) -> jax.Array:
    """The appendix's 're-scaled advantage': (A - mean) / (std + 1e-8) over the unmasked tokens.

    mean and (population) std are taken over every unmasked token of the batch; masked
    positions stay 0 so they contribute nothing downstream.
    """
    mask = mask.astype(adv.dtype)
    mean = masked_mean(adv, mask)
    std = jnp.sqrt(masked_mean((adv - mean) ** 2, mask))
    return (adv - mean) / (std + 1e-8) * mask


def policy_loss(log_probs: jax.Array, advantages: jax.Array, mask: jax.Array) -> jax.Array:
    """A2C policy-gradient loss -E[stop_gradient(A_t) log pi(a_t | s_t)] over unmasked tokens.

    The advantage is a fixed weight: no gradient reaches the value network (or the
    discriminator) through the policy loss.
    """
    return -masked_mean(jax.lax.stop_gradient(advantages) * log_probs, mask)


def value_loss(values: jax.Array, returns: jax.Array, mask: jax.Array) -> jax.Array:
    """1/2 E[(V(s_t) - stop_gradient(R_t))^2] over unmasked tokens; R is a fixed regression target."""
    return 0.5 * masked_mean((values - jax.lax.stop_gradient(returns)) ** 2, mask)


def kl_penalty(logits: jax.Array, ref_logits: jax.Array, mask: jax.Array) -> jax.Array:
    """Per-token KL(pi || pi_ref), exact over the vocabulary, averaged over unmasked tokens:

        KL_t = sum_a pi(a|s_t) (log pi(a|s_t) - log pi_ref(a|s_t))

    pi_ref is the initial policy, frozen: its logits get no gradient. KL >= 0, = 0 iff the two
    distributions agree (logits equal up to a per-token constant).
    """
    log_pi = jax.nn.log_softmax(logits, axis=-1)
    log_ref = jax.nn.log_softmax(jax.lax.stop_gradient(ref_logits), axis=-1)
    kl = jnp.sum(jnp.exp(log_pi) * (log_pi - log_ref), axis=-1)
    return masked_mean(kl, mask)


def kl_weight(step, final: float = 1e-3, anneal_steps: int = 10_000) -> jax.Array:
    """The KL cost weight at a policy step: final * min(step / anneal_steps, 1).

    Reading of "annealed over 10,000 steps to a final cost weight": linear from 0 at step 0 to
    ``final`` at ``anneal_steps``, constant afterwards. Annealing *up* from 0 lets the policy
    move away from the initial model first; the penalty then holds it near. ``step`` may be traced.
    """
    if anneal_steps <= 0:
        return final * jnp.ones(())
    return final * jnp.minimum(jnp.asarray(step) / anneal_steps, 1.0)


def policy_objective(
    log_probs: jax.Array,
    logits: jax.Array,
    ref_logits: jax.Array,
    advantages: jax.Array,
    mask: jax.Array,
    *,
    kl_weight,
    mle_weight: float = 0.0,
    expert_log_probs: jax.Array | None = None,
    expert_mask: jax.Array | None = None,
) -> jax.Array:
    """The GAIL policy loss, with the MLE term of gail_mle (Appendix A.1.3, Fig. 12):

        L_pi = -E_pi[sg(A_t) log pi(a_t|s_t)] + kl_weight E_pi[KL(pi || pi_ref)(s_t)]
               + mle_weight E_E[-log pi(a|s)]

    log_probs [B, T] = log pi(a_t|s_t) of the sampled policy tokens, logits [B, T, V] the
    policy's logits at those states, ref_logits the initial policy's; advantages are usually
    ``rescale``d. The MLE term needs expert_log_probs / expert_mask (the policy's log-likelihood
    of expert targets) and is left out when they are not given.
    """
    total = policy_loss(log_probs, advantages, mask) + kl_weight * kl_penalty(logits, ref_logits, mask)
    if expert_log_probs is None:
        # A nonzero Python weight without expert data is a wiring mistake, not a silent no-op.
        if isinstance(mle_weight, (int, float)) and mle_weight != 0:
            raise ValueError("policy_objective: mle_weight > 0 needs expert_log_probs and expert_mask.")
        return total
    if expert_mask is None:
        raise ValueError("policy_objective: expert_log_probs needs expert_mask.")
    return total + mle_weight * -masked_mean(expert_log_probs, expert_mask)
