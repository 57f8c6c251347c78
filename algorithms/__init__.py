"""Imitation objectives as pure JAX functions over soft Q-values (logits).

No file I/O, no MLflow, no CLI: every loss takes arrays and returns a scalar, so it is tested
numerically on tiny literal inputs. ``bench`` composes these with tasks and models.
"""

from algorithms import iqlearn, mle
from algorithms.transitions import Transitions, from_sequence, log_prob, masked_mean, soft_value, td_residual

__all__ = ["Transitions", "from_sequence", "iqlearn", "log_prob", "masked_mean", "mle", "soft_value", "td_residual"]
