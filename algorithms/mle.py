"""Maximum likelihood estimation, i.e. behaviour cloning (Eq. 2 of the paper)."""

from __future__ import annotations

import jax

from algorithms.transitions import Transitions, log_prob, masked_mean


def loss(expert: Transitions) -> jax.Array:
    """L = E_expert[-log pi(a | s)], the mean over unmasked transitions."""
    return -masked_mean(log_prob(expert.logits, expert.actions), expert.mask)
