"""Transitions read through the soft-Q lens shared by every algorithm (Section 2 of the paper).

The logits q(s, .) of a policy are soft Q-values:

    V(s)          = logsumexp_a q(s, a)
    log pi(a | s) = q(s, a) - V(s)
    r(s, a)       = q(s, a) - gamma V(s') = V(s) + log pi(a | s) - gamma V(s')

with V(s') = 0 after a terminal transition. Arrays may carry any leading shape ([N] for a
table of transitions, [B, T] for token sequences); the last axis of ``logits`` is the action.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Transitions(NamedTuple):
    """A batch of (s, a, s') transitions.

    logits:      [..., A]  q(s, .)
    actions:     [...]     a, integer
    next_values: [...]     V(s'), already 0 where s' is terminal; gradients flow through it
    mask:        [...]     1.0 for a real transition, 0.0 for padding
    """

    logits: jax.Array
    actions: jax.Array
    next_values: jax.Array
    mask: jax.Array


def soft_value(logits: jax.Array) -> jax.Array:
    """V(s) = log sum_a exp q(s, a)."""
    return jax.nn.logsumexp(logits, axis=-1)


def log_prob(logits: jax.Array, actions: jax.Array) -> jax.Array:
    """log pi(a | s) = q(s, a) - V(s)."""
    q_sa = jnp.take_along_axis(logits, actions[..., None], axis=-1)[..., 0]
    return q_sa - soft_value(logits)


def td_residual(batch: Transitions, gamma: float) -> jax.Array:
    """The implied reward r = V(s) + log pi(a|s) - gamma V(s') = q(s, a) - gamma V(s')."""
    q_sa = jnp.take_along_axis(batch.logits, batch.actions[..., None], axis=-1)[..., 0]
    return q_sa - gamma * batch.next_values


def masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    """sum(x * mask) / sum(mask), and 0 for an empty mask."""
    return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def from_sequence(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> Transitions:
    """Token sequences as transitions: s_t = prompt + targets[:t], a_t = targets[t].

    logits [B, T, V] (logits[b, t] predict targets[b, t]), targets [B, T], mask [B, T] (1 on
    target tokens, contiguous from t = 0). V(s_{t+1}) = logsumexp(logits[:, t + 1]) where
    position t + 1 is a target token, and 0 after the last one (the sequence has terminated).
    """
    values = soft_value(logits)
    next_mask = jnp.concatenate([mask[:, 1:], jnp.zeros_like(mask[:, :1])], axis=1)
    next_values = jnp.concatenate([values[:, 1:], jnp.zeros_like(values[:, :1])], axis=1) * next_mask
    return Transitions(logits, targets, next_values, mask.astype(logits.dtype))
