"""Imitation objectives as pure JAX functions over soft Q-values (logits).

No file I/O, no MLflow, no CLI: every loss takes arrays and returns a scalar, so it is tested
numerically on tiny literal inputs. ``bench`` composes these with tasks and models.
"""

from algorithms import gail, iqlearn, mle, mle_entreg
from algorithms.transitions import Transitions, from_sequence, log_prob, masked_mean, soft_value, td_residual

__all__ = [
    "Transitions", "from_sequence", "gail", "iqlearn", "log_prob", "masked_mean", "mle", "mle_entreg", "soft_value",
    "td_residual",
]
