"""Maximum likelihood estimation, i.e. behaviour cloning (Eq. 2 of the paper)."""

from __future__ import annotations

import jax

from algorithms.transitions import Transitions, TokenTransitions, batch_log_prob, from_sequence, masked_mean


def loss(expert: Transitions | TokenTransitions) -> jax.Array:
    """L = E_expert[-log pi(a | s)], the mean over unmasked transitions."""
    return -masked_mean(batch_log_prob(expert), expert.mask)


def sequence_loss(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> jax.Array:
    """MLE over token sequences: logits [B, T, V] predict targets [B, T]; mask marks target tokens."""
    return loss(from_sequence(logits, targets, mask))
