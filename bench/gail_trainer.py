"""GAIL's update for the text trainer (Appendix A.1.3): three networks, one jitted step.

The policy, the value network and the discriminator are separate copies of the starting LM (the
policy after the trainer's MLE warm-up phase: GAIL starts from an MLE-trained checkpoint), each
with its own Adam. The LM's logits give every network what it needs without a new head:

- policy:        pi(a | s_t)   = softmax(q_pi(s_t))[a], the LM itself;
- discriminator: D(s_t, a_t)   = q_D(s_t)[a_t], the logit of the token taken (sigmoid(D) = P(expert));
- value:         V(s_t)        = logsumexp_a q_V(s_t)[a], the soft value of its logits.

One step (``update``), on a batch of prompts with their expert targets:

1. sample one continuation per prompt from the current policy (temperature 1, KV cache);
2. discriminator logits on expert and policy tokens; reward r_t = softplus(D(s_t, a_t)) on policy
   tokens, from the discriminator *before* its update;
3. value: regress V(s_t) on the discounted reward-to-go R_t; advantage A_t = R_t - V(s_t),
   rescaled over the batch;
4. policy: A2C loss + kl_weight(step) * KL(pi || pi_start) - lam * H(pi) (+ mle_weight * MLE on
   expert targets for gail_mle), over policy tokens;
5. discriminator: cross-entropy expert 1 / policy 0, on the same samples, so it is updated after
   every policy step, as the appendix says.

The three gradients are taken from the same pre-update parameters and applied together, which is
the sequential order above: no step reads a network another step has already changed.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from algorithms import gail
from algorithms.mle_entreg import entropy
from algorithms.transitions import log_prob, masked_mean, soft_value
from bench.models import decoding, sharding
from bench.objectives import Adversarial


class GailState(NamedTuple):
    policy: Any
    value: Any
    disc: Any
    ref: Any  # the starting policy, frozen: the KL penalty's reference
    policy_opt: Any
    value_opt: Any
    disc_opt: Any
    step: jax.Array  # GAIL steps taken, for the KL schedule


def init(params, optimiser: optax.GradientTransformation) -> GailState:
    """All three networks start as ``params`` (JAX arrays are immutable, so sharing them is copying them)."""
    opt = optimiser.init(params)
    return GailState(params, params, params, params, opt, opt, opt, jnp.zeros((), jnp.int32))


def token_logits(model, params, batch_part) -> jax.Array:
    """q(s_t)[a_t]: the logit of each token taken [B, T]."""
    prompt, prompt_mask, tokens, mask = batch_part
    logits = model.forward(params, prompt, prompt_mask, tokens, mask)
    return jnp.take_along_axis(logits, tokens[..., None], axis=-1)[..., 0]


def state_values(model, params, batch_part) -> jax.Array:
    """V(s_t) = logsumexp of the value network's logits at every state [B, T]."""
    prompt, prompt_mask, tokens, mask = batch_part
    return soft_value(model.forward(params, prompt, prompt_mask, tokens, mask))


def _apply(optimiser, grads, opt_state, params):
    updates, opt_state = optimiser.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


@partial(jax.jit, static_argnames=("model", "hp", "optimiser", "max_new", "mesh"))
def update(state: GailState, batch, key, *, model, hp: Adversarial, optimiser, max_new: int, mesh=None):
    """One GAIL step (module docstring); returns (state, terms), terms a dict of scalars, 'loss' the policy's.
    With a ``mesh`` the new state keeps the FSDP layout of ``bench.models.sharding.state_shardings``."""
    prompt, prompt_mask, targets, target_mask = batch
    sample = decoding.generate(model, state.policy, prompt, prompt_mask, max_new=max_new, rng=key, temperature=1.0)
    tokens = sample.tokens
    mask = (sample.mask * (1 - sample.forced.astype(sample.mask.dtype))).astype(jnp.float32)
    target_mask = target_mask.astype(jnp.float32)
    policy_part, expert_part = (prompt, prompt_mask, tokens, mask), (prompt, prompt_mask, targets, target_mask)

    def disc_loss(params):
        d_expert, d_policy = token_logits(model, params, expert_part), token_logits(model, params, policy_part)
        return gail.discriminator_loss(d_expert, d_policy, target_mask, mask), (d_expert, d_policy)

    (d_loss, (d_expert, d_policy)), d_grads = jax.value_and_grad(disc_loss, has_aux=True)(state.disc)
    rewards = gail.reward(jax.lax.stop_gradient(d_policy))
    ret = gail.returns(rewards, mask, hp.gamma)

    def value_loss(params):
        values = state_values(model, params, policy_part)
        return gail.value_loss(values, ret, mask), values

    (v_loss, values), v_grads = jax.value_and_grad(value_loss, has_aux=True)(state.value)
    adv = gail.rescale(gail.advantages(rewards, jax.lax.stop_gradient(values), mask, hp.gamma), mask)
    kl_weight = gail.kl_weight(state.step, hp.kl, hp.kl_anneal_steps)
    ref_logits = jax.lax.stop_gradient(model.forward(state.ref, *policy_part))

    def policy_loss(params):
        logits = model.forward(params, *policy_part)
        expert_log_probs = None
        if hp.mle_weight:  # a static hyperparameter: plain GAIL skips the expert forward pass
            expert_log_probs = log_prob(model.forward(params, *expert_part), targets)
        objective = gail.policy_objective(
            log_prob(logits, tokens), logits, ref_logits, adv, mask, kl_weight=kl_weight, mle_weight=hp.mle_weight,
            expert_log_probs=expert_log_probs, expert_mask=target_mask if hp.mle_weight else None,
        )
        ent = masked_mean(entropy(logits), mask)
        return objective - hp.lam * ent, (ent, gail.kl_penalty(logits, ref_logits, mask))

    (p_loss, (ent, kl)), p_grads = jax.value_and_grad(policy_loss, has_aux=True)(state.policy)
    policy, policy_opt = _apply(optimiser, p_grads, state.policy_opt, state.policy)
    value, value_opt = _apply(optimiser, v_grads, state.value_opt, state.value)
    disc, disc_opt = _apply(optimiser, d_grads, state.disc_opt, state.disc)
    terms = {
        "loss": p_loss, "disc_loss": d_loss, "value_loss": v_loss, "entropy": ent, "kl": kl,
        "reward": masked_mean(rewards, mask), "sample_length": jnp.mean(jnp.sum(mask, axis=1)),
        # Share of tokens the discriminator classifies right (expert D > 0, policy D < 0), classes weighed equally.
        "disc_accuracy": 0.5 * (masked_mean(d_expert > 0, target_mask) + masked_mean(d_policy < 0, mask)),
    }
    new = GailState(policy, value, disc, state.ref, policy_opt, value_opt, disc_opt, state.step + 1)
    return sharding.constrain_state(new, mesh), terms
