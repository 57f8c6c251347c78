"""The chain MDP of Appendix A.3.3 / Figure 11: why online IRL helps only where mistakes can be undone.

States (``n`` bottom states, ``n`` top states, one goal)::

    top:     n .. 2n-1        t_i sits above b_i
    bottom:  0 .. n-1         b_0 is the start
    goal:    2n               absorbing, reaching it is success

Actions are the same two everywhere: ``ADVANCE`` (0) and ``UP`` (1).

- In a bottom state b_i, ``ADVANCE`` moves to b_{i+1} (the goal after b_{n-1}) and ``UP``
  moves to the top state t_i: the mistake.
- In a top state t_i with ``recovery=True``, ``ADVANCE`` returns to b_i (the dashed arrows
  of Figure 11) and ``UP`` stays in t_i. With ``recovery=False`` both actions stay in t_i:
  like a wrong token in a concatenated sequence, the exact bottom state is never seen again.
  The paper does not say where ``UP`` leads from a top state; ``top="forward"`` reads the top
  row as a second chain instead: ``UP`` (and, without recovery, ``ADVANCE`` too) moves t_i to
  t_{i+1}, and t_{n-1} keeps the agent. Without recovery it is still a dead end.
- Every chosen action is replaced by the other one with probability ``slip`` (10% in the
  paper), so even a perfect policy makes mistakes.

Expert demonstrations contain no mistakes: each is the path b_0, b_1, ..., b_{n-1}, goal,
taking ``ADVANCE`` at every step. Success is reaching the goal within ``horizon`` steps; it is
computed exactly by propagating the state distribution through the known dynamics.

Defaults (documented in the README): ``n = 10``, ``horizon = 20``, ``slip = 0.1``. With the
best policy, success is 0.9**10 = 0.349 without recovery and about 0.98 with it.
This module is numpy only: the harness (bench) trains policies on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

ADVANCE, UP = 0, 1
NUM_ACTIONS = 2
TOP_DYNAMICS = ("stay", "forward")  # where UP leads from a top state: t_i itself, or t_{i+1}


class Demonstrations(NamedTuple):
    """Expert transitions (s, a, s', done), flattened over demonstrations."""

    states: np.ndarray
    actions: np.ndarray
    next_states: np.ndarray
    done: np.ndarray


@dataclass(frozen=True)
class ChainMDP:
    n: int = 10
    horizon: int = 20
    slip: float = 0.1
    recovery: bool = True
    top: str = "stay"

    def __post_init__(self):
        if self.n < 1:
            raise ValueError(f"ChainMDP n={self.n}: the chain needs at least one bottom state; use n >= 1.")
        if self.horizon < self.n:
            raise ValueError(
                f"ChainMDP horizon={self.horizon} is shorter than the chain (n={self.n}): "
                "the goal is unreachable; use horizon >= n."
            )
        if not 0.0 <= self.slip <= 0.5:
            raise ValueError(f"ChainMDP slip={self.slip}: use a probability in [0, 0.5].")
        if self.top not in TOP_DYNAMICS:
            raise ValueError(f"ChainMDP top={self.top!r}: use one of {', '.join(TOP_DYNAMICS)} (where UP leads from a top state).")

    @property
    def num_states(self) -> int:
        return 2 * self.n + 1

    @property
    def start(self) -> int:
        return 0

    @property
    def goal(self) -> int:
        return 2 * self.n

    def intended_next(self, s: int, a: int) -> int:
        """Where action ``a`` leads from ``s`` when it is executed as chosen."""
        if s == self.goal:
            return s
        if s < self.n:  # bottom
            if a == UP:
                return self.n + s
            return s + 1 if s + 1 < self.n else self.goal
        if self.recovery and a == ADVANCE:  # top, and the mistake can be undone
            return s - self.n
        if self.top == "forward":  # along the top row; its last state keeps the agent
            return min(s + 1, 2 * self.n - 1)
        return s

    def transitions(self) -> np.ndarray:
        """P[s, a, s'] = (1 - slip) [s' = f(s, a)] + slip [s' = f(s, 1 - a)]."""
        p = np.zeros((self.num_states, NUM_ACTIONS, self.num_states))
        for s in range(self.num_states):
            for a in range(NUM_ACTIONS):
                p[s, a, self.intended_next(s, a)] += 1.0 - self.slip
                p[s, a, self.intended_next(s, 1 - a)] += self.slip
        return p

    def terminal(self) -> np.ndarray:
        """Boolean [S]: states after which there is no value to bootstrap (the goal)."""
        t = np.zeros(self.num_states, dtype=bool)
        t[self.goal] = True
        return t

    def demonstrations(self, count: int = 1) -> Demonstrations:
        """``count`` mistake-free expert paths from the start to the goal."""
        states = np.tile(np.arange(self.n), count)
        next_states = np.where(states + 1 < self.n, states + 1, self.goal)
        return Demonstrations(
            states=states,
            actions=np.full_like(states, ADVANCE),
            next_states=next_states,
            done=next_states == self.goal,
        )

    def success_probability(self, policy: np.ndarray) -> float:
        """Exact P(goal reached within the horizon) under ``policy`` [S, A] (rows sum to 1).

        d_0 = onehot(start); d_{t+1}(s') = sum_{s,a} d_t(s) pi(a|s) P(s'|s,a); the goal is
        absorbing, so the answer is d_H(goal).
        """
        policy = np.asarray(policy, dtype=np.float64)
        step = np.einsum("sa,sat->st", policy, self.transitions())
        d = np.zeros(self.num_states)
        d[self.start] = 1.0
        for _ in range(self.horizon):
            d = d @ step
        return float(d[self.goal])

    def expert_policy(self) -> np.ndarray:
        """The mistake-free expert: ADVANCE everywhere (which also recovers where it can)."""
        pi = np.zeros((self.num_states, NUM_ACTIONS))
        pi[:, ADVANCE] = 1.0
        return pi
