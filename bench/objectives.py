"""The algorithms of the paper as registered objectives: a loss from ``algorithms`` bound to its
hyperparameters. Each factory takes exactly the hyperparameters a cell must state.

Most algorithms are one loss over expert (and, online, policy) transitions: an :class:`Objective`.
GAIL trains three networks with three losses; its hyperparameters are an :class:`Adversarial`,
which the text trainer runs with ``bench.gail_trainer``."""

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


@dataclass(frozen=True)
class Adversarial:
    """GAIL's hyperparameters (Appendix A.1.3); hashable, so jit reuses one compilation across seeds.

    lam: entropy cost on the policy (the 'regularisation strength' of GAIL in Figures 2, 3);
    gamma: discount of the policy's reward-to-go; kl: final weight of the KL penalty to the
    initial policy, reached linearly after kl_anneal_steps GAIL steps; mle_weight: weight of the
    MLE loss on expert targets added to the policy loss (0 for gail, > 0 for gail_mle).
    """

    lam: float
    gamma: float
    kl: float
    kl_anneal_steps: int
    mle_weight: float = 0.0
    online = True  # it samples from the current policy at every step


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
    "iqlearn_online",
    "online IQLearn, mix-in alpha of policy rollouts; form relaxed (Eqs. 15-17; temperature none|eq17) "
    "or original (IQ-Learn; value_data mixture|policy)",
)
def _iqlearn_online(
    lam: float, gamma: float, alpha: float, form: str, value_data: str = "mixture", temperature: str = "none"
) -> Objective:
    """``value_data`` and ``temperature`` are kept out of the kwargs at their defaults, so the objective
    (and its jit compilation) of a cell that does not name them is the one it always was."""
    _check(f"iqlearn_online lam={lam}", lam >= 0, "the TD regularisation weight must be >= 0.")
    _check(f"iqlearn_online gamma={gamma}", 0 < gamma <= 1, "the discount must lie in (0, 1].")
    _check(f"iqlearn_online alpha={alpha}", 0 <= alpha < 1, "the mix-in ratio must lie in [0, 1).")
    _check(f"iqlearn_online form={form!r}", form in iqlearn.ONLINE_FORMS, f"use one of {', '.join(iqlearn.ONLINE_FORMS)}.")
    _check(
        f"iqlearn_online value_data={value_data!r}", value_data in iqlearn.VALUE_DATA,
        "the initial-state value is telescoped onto 'mixture' (expert + policy samples) or 'policy' (policy samples only).",
    )
    _check(
        f"iqlearn_online temperature={temperature!r}", temperature in iqlearn.TEMPERATURES,
        "use 'none' (soft-RL temperature lam, as Eq. 14) or 'eq17' (Eq. 17's lam / (1 - alpha)).",
    )
    _check(
        f"iqlearn_online value_data={value_data!r}", value_data == "mixture" or form == "original",
        "value_data is a choice of the original reading; set form='original' or drop value_data.",
    )
    _check(
        f"iqlearn_online temperature={temperature!r}", temperature == "none" or form == "relaxed",
        "the Eq. 17 temperature is a choice of the relaxed reading; set form='relaxed' or drop temperature.",
    )
    options = (("temperature", temperature),) if temperature != "none" else ()
    options += (("value_data", value_data),) if value_data != "mixture" else ()
    kwargs = (("alpha", float(alpha)), ("form", form), ("gamma", float(gamma)), ("lam", float(lam))) + options
    return Objective(iqlearn.online_loss, online=True, kwargs=tuple(sorted(kwargs)))


@ALGORITHMS.register("mle_entreg", "entropy-regularised MLE: E[-log pi(a|s) - lam H(pi(.|s))] (Eq. 18, App. A.2)")
def _mle_entreg(lam: float) -> Objective:
    _check(f"mle_entreg lam={lam}", lam >= 0, "the entropy weight must be >= 0.")
    return Objective(mle_entreg.loss, kwargs=(("lam", float(lam)),))


def _adversarial(name: str, lam: float, gamma: float, kl: float, kl_anneal_steps: int, mle_weight: float) -> Adversarial:
    _check(f"{name} lam={lam}", lam >= 0, "the entropy cost must be >= 0.")
    _check(f"{name} gamma={gamma}", 0 < gamma <= 1, "the discount must lie in (0, 1].")
    _check(f"{name} kl={kl}", kl >= 0, "the KL weight must be >= 0.")
    _check(f"{name} kl_anneal_steps={kl_anneal_steps}", kl_anneal_steps >= 0, "the KL annealing length must be >= 0 steps.")
    _check(f"{name} mle_weight={mle_weight}", mle_weight >= 0, "the MLE weight must be >= 0.")
    return Adversarial(float(lam), float(gamma), float(kl), int(kl_anneal_steps), float(mle_weight))


# The KL defaults are the paper's (Table 4: final weight 1e-3, annealed over 10,000 steps).
@ALGORITHMS.register("gail", "GAIL: discriminator reward softplus(D), A2C policy with a KL penalty to the start, value network (App. A.1.3)")
def _gail(lam: float, gamma: float, kl: float = 1e-3, kl_anneal_steps: int = 10_000) -> Adversarial:
    return _adversarial("gail", lam, gamma, kl, kl_anneal_steps, 0.0)


@ALGORITHMS.register("gail_mle", "GAIL with mle_weight * MLE added to the policy loss (App. A.1.3, Fig. 12)")
def _gail_mle(lam: float, gamma: float, mle_weight: float, kl: float = 1e-3, kl_anneal_steps: int = 10_000) -> Adversarial:
    return _adversarial("gail_mle", lam, gamma, kl, kl_anneal_steps, mle_weight)
