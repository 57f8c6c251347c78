"""Transitions read through the soft-Q lens shared by every algorithm (Section 2 of the paper).

The logits q(s, .) of a policy are soft Q-values:

    V(s)          = logsumexp_a q(s, a)
    log pi(a | s) = q(s, a) - V(s)
    r(s, a)       = q(s, a) - gamma V(s') = V(s) + log pi(a | s) - gamma V(s')

with V(s') = 0 after a terminal transition. Arrays may carry any leading shape ([N] for a
table of transitions, [B, T] for token sequences); the last axis of ``logits`` is the action.

Token sequences need only two numbers per position from the [B, T, V] logits: V(s_t) and
q(s_t, a_t). :func:`from_sequence` computes both in ONE pass over the vocabulary
(:func:`soft_q`) and reads log pi(a_t | s_t), V(s_t) and V(s_{t+1}) from them, so MLE and
offline IQLearn touch the logits exactly as often (once forward, once backward) and differ only
in O(B T) arithmetic. It returns :class:`TokenTransitions`, which carries those statistics;
every loss here accepts either type (``values`` / ``taken`` / ``batch_log_prob``).
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


class TokenTransitions(NamedTuple):
    """Transitions of token sequences with V(s) and q(s, a) computed once per position.

    The first four fields mean what they mean in :class:`Transitions` (``logits`` is None on the
    vocabulary-chunked path of ``algorithms.chunked``, which never materialises them);
    ``values`` [B, T] is V(s_t) = logsumexp(logits[b, t]) and ``taken`` [B, T] is
    q(s_t, a_t). Both are functions of ``logits``: replacing ``logits`` with ``_replace`` does not
    update them (build a new batch with :func:`from_sequence` instead).
    """

    logits: jax.Array | None
    actions: jax.Array
    next_values: jax.Array
    mask: jax.Array
    values: jax.Array
    taken: jax.Array


def soft_value(logits: jax.Array) -> jax.Array:
    """V(s) = log sum_a exp q(s, a)."""
    return jax.nn.logsumexp(logits, axis=-1)


def log_prob(logits: jax.Array, actions: jax.Array) -> jax.Array:
    """log pi(a | s) = q(s, a) - V(s)."""
    q_sa = jnp.take_along_axis(logits, actions[..., None], axis=-1)[..., 0]
    return q_sa - soft_value(logits)


@jax.custom_vjp
def soft_q(logits: jax.Array, actions: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(q(s, a), V(s)) from one pass over the action axis, with a fused backward pass.

    The gradient of any f(q(s, a), V(s)) with respect to the logits is
    ``df/dq * onehot(a) + df/dV * softmax(q(s, .))``, computed as one elementwise expression over
    [..., A] (no scatter into a zero tensor, no second softmax), whatever mix of log pi, V(s) and
    V(s') the loss reads.
    """
    return _soft_q(logits, actions)


def _soft_q(logits, actions):
    taken = jnp.take_along_axis(logits, actions[..., None], axis=-1)[..., 0]
    return taken, soft_value(logits)


def _soft_q_fwd(logits, actions):
    taken, values = _soft_q(logits, actions)
    return (taken, values), (logits, actions, values)


def _soft_q_bwd(residuals, cotangents):
    logits, actions, values = residuals
    d_taken, d_values = cotangents
    ids = jax.lax.broadcasted_iota(actions.dtype, logits.shape, logits.ndim - 1)
    probs = jnp.exp(logits - values[..., None])
    grad = probs * d_values[..., None].astype(logits.dtype) + jnp.where(ids == actions[..., None], d_taken[..., None], 0).astype(logits.dtype)
    return grad, None


soft_q.defvjp(_soft_q_fwd, _soft_q_bwd)


def values_of(batch: Transitions | TokenTransitions) -> jax.Array:
    """V(s) of every transition: the batch's own where it carries it, else logsumexp(logits)."""
    return batch.values if isinstance(batch, TokenTransitions) else soft_value(batch.logits)


def taken_of(batch: Transitions | TokenTransitions) -> jax.Array:
    """q(s, a) of every transition: the batch's own where it carries it, else gathered from the logits."""
    if isinstance(batch, TokenTransitions):
        return batch.taken
    return jnp.take_along_axis(batch.logits, batch.actions[..., None], axis=-1)[..., 0]


def batch_log_prob(batch: Transitions | TokenTransitions) -> jax.Array:
    """log pi(a | s) = q(s, a) - V(s) of every transition of ``batch``."""
    if isinstance(batch, TokenTransitions):
        return batch.taken - batch.values
    return log_prob(batch.logits, batch.actions)


def td_residual(batch: Transitions | TokenTransitions, gamma: float) -> jax.Array:
    """The implied reward r = V(s) + log pi(a|s) - gamma V(s') = q(s, a) - gamma V(s')."""
    return taken_of(batch) - gamma * batch.next_values


def masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    """sum(x * mask) / sum(mask), and 0 for an empty mask."""
    return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def sequence_transitions(
    values: jax.Array, taken: jax.Array, targets: jax.Array, mask: jax.Array, logits: jax.Array | None = None
) -> TokenTransitions:
    """Token transitions from per-position V(s_t) and q(s_t, a_t) [B, T]: V(s_{t+1}) = values[:, t + 1]
    where position t + 1 is a target token, and 0 after the last one (the sequence has terminated)."""
    next_mask = jnp.concatenate([mask[:, 1:], jnp.zeros_like(mask[:, :1])], axis=1).astype(values.dtype)
    next_values = jnp.concatenate([values[:, 1:], jnp.zeros_like(values[:, :1])], axis=1) * next_mask
    return TokenTransitions(logits, targets, next_values, mask.astype(values.dtype), values, taken)


def from_sequence(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> TokenTransitions:
    """Token sequences as transitions: s_t = prompt + targets[:t], a_t = targets[t].

    logits [B, T, V] (logits[b, t] predict targets[b, t]), targets [B, T], mask [B, T] (1 on
    target tokens, contiguous from t = 0). V(s_{t+1}) = logsumexp(logits[:, t + 1]) where
    position t + 1 is a target token, and 0 after the last one (the sequence has terminated).
    V(s_t) and q(s_t, a_t) come from one pass over the vocabulary (:func:`soft_q`) and are kept
    in the batch, so no loss computes a second logsumexp.
    """
    taken, values = soft_q(logits, targets)
    return sequence_transitions(values, taken, targets, mask, logits)
