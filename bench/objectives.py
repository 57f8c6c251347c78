"""The algorithms of the paper as registered objectives: a loss from ``algorithms`` bound to its
hyperparameters. Each factory takes exactly the hyperparameters a cell must state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax

from algorithms import Transitions, iqlearn, mle, mle_entreg
from bench.registry import ALGORITHMS, BenchError


@dataclass(frozen=True)
class Objective:
    """A loss bound to its hyperparameters; hashable, so jit reuses one compilation across seeds.

    ``loss(expert, **kwargs)`` for offline objectives, ``loss(expert, policy, **kwargs)`` for
    online ones, which also need transitions sampled from the current policy.
    """

    loss: Callable
    online: bool = False
    kwargs: tuple = ()

    def __call__(self, expert: Transitions, policy: Transitions | None) -> jax.Array:
        if self.online:
            return self.loss(expert, policy, **dict(self.kwargs))
        return self.loss(expert, **dict(self.kwargs))


def _check(name: str, ok: bool, fix: str) -> None:
    if not ok:
        raise BenchError(f"{name}: {fix}")


@ALGORITHMS.register("mle", "MLE / behaviour cloning: E[-log pi(a|s)] (Eq. 2)")
def _mle() -> Objective:
    return Objective(mle.loss)


@ALGORITHMS.register("iqlearn", "offline IQLearn as TD-regularised MLE: E[lam r^2 - log pi(a|s)] (Eq. 14)")
def _iqlearn(lam: float, gamma: float) -> Objective:
    _check(f"iqlearn lam={lam}", lam >= 0, "the TD regularisation weight must be >= 0.")
    _check(f"iqlearn gamma={gamma}", 0 < gamma <= 1, "the discount must lie in (0, 1].")
    return Objective(iqlearn.offline_loss, kwargs=(("gamma", float(gamma)), ("lam", float(lam))))


@ALGORITHMS.register(
    "iqlearn_online", "online IQLearn, mix-in alpha of policy rollouts; form relaxed (Eqs. 15-17) or original (IQ-Learn)"
)
def _iqlearn_online(lam: float, gamma: float, alpha: float, form: str) -> Objective:
    _check(f"iqlearn_online lam={lam}", lam >= 0, "the TD regularisation weight must be >= 0.")
    _check(f"iqlearn_online gamma={gamma}", 0 < gamma <= 1, "the discount must lie in (0, 1].")
    _check(f"iqlearn_online alpha={alpha}", 0 <= alpha < 1, "the mix-in ratio must lie in [0, 1).")
    _check(f"iqlearn_online form={form!r}", form in iqlearn.ONLINE_FORMS, f"use one of {', '.join(iqlearn.ONLINE_FORMS)}.")
    kwargs = (("alpha", float(alpha)), ("form", form), ("gamma", float(gamma)), ("lam", float(lam)))
    return Objective(iqlearn.online_loss, online=True, kwargs=kwargs)


@ALGORITHMS.register("mle_entreg", "entropy-regularised MLE: E[-log pi(a|s) - lam H(pi(.|s))] (Eq. 18, App. A.2)")
def _mle_entreg(lam: float) -> Objective:
    _check(f"mle_entreg lam={lam}", lam >= 0, "the entropy weight must be >= 0.")
    return Objective(mle_entreg.loss, kwargs=(("lam", float(lam)),))
