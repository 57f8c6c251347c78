"""Entropy-regularised MLE, the 'ent-reg' baseline of the paper (Appendix A.2, Eq. 18).

    L = E_E[ -log pi(a|s) - lam * H(pi(.|s)) ],      H(pi(.|s)) = -sum_a pi(a|s) log pi(a|s)

The entropy is taken at every state of the expert data (every target token of mu_E), exactly
over the action (vocabulary) axis. lam = 0 is MLE exactly; lam > 0 rewards flatter next-token
distributions, which is the per-step entropy the paper contrasts with IRL's trajectory-level
regularisation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from algorithms.transitions import Transitions, from_sequence, log_prob, masked_mean, soft_value


def entropy(logits: jax.Array) -> jax.Array:
    """H(pi(.|s)) = -sum_a pi(a|s) log pi(a|s), with log pi = q - V; shape logits.shape[:-1]."""
    log_pi = logits - soft_value(logits)[..., None]
    # exp(log_pi) rather than softmax(logits) so that both factors share one normalisation.
    return -jnp.sum(jnp.exp(log_pi) * log_pi, axis=-1)


def loss(expert: Transitions, *, lam: float) -> jax.Array:
    """Eq. 18: E_E[-log pi(a|s) - lam H(pi(.|s))], the mean over unmasked transitions."""
    # One masked mean of the summed integrand, as iqlearn.offline_loss does, so that lam = 0
    # reproduces mle.loss bit for bit (value and gradient).
    return masked_mean(-log_prob(expert.logits, expert.actions) - lam * entropy(expert.logits), expert.mask)


def sequence_loss(logits: jax.Array, targets: jax.Array, mask: jax.Array, *, lam: float) -> jax.Array:
    """Eq. 18 over token sequences: logits [B, T, V] predict targets [B, T]; mask marks target tokens."""
    return loss(from_sequence(logits, targets, mask), lam=lam)
