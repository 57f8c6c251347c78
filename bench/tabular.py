"""Training a tabular softmax policy (logits read as soft Q-values) on a known finite MDP.

This is the model behind the toy-MDP cells: the whole parameter vector is a table q[s, a].
Online objectives get fresh rollouts of the current policy at every step, sampled inside the
jitted update from the MDP's transition tensor, so a training chunk is one XLA call.

With ``policy_replay="all"`` (train option) the policy data of an update is instead every rollout
sampled so far, as in IQ-Learn's replay buffer: a tabular buffer is exactly a table of counts
N[s, a, s'], and the loss over it is the count-weighted mean over all S x A x S transitions (the
expectation a uniform minibatch from the buffer estimates).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import optax

from algorithms import Transitions, soft_value
from bench.checkpointing import digest
from bench.objectives import Objective
from bench.registry import MODELS, BenchError

POLICY_REPLAY = ("none", "all")  # policy data per update: this update's rollouts, or every rollout so far

@dataclass(frozen=True)
class TabularProblem:
    """What the trainer needs from an MDP: dynamics, start, terminal states and expert data."""

    transitions: np.ndarray  # [S, A, S]
    start: int
    terminal: np.ndarray  # [S] bool
    horizon: int
    expert_states: np.ndarray
    expert_actions: np.ndarray
    expert_next_states: np.ndarray


def _transitions(q, states, actions, next_states, terminal, mask) -> Transitions:
    """Gather transitions from the table; V(s') is 0 after a terminal state."""
    return Transitions(
        logits=q[states],
        actions=actions,
        next_values=soft_value(q[next_states]) * (1.0 - terminal[next_states]),
        mask=mask,
    )


def _rollouts(key, q, log_p, start, terminal, horizon, count):
    """Sample ``count`` episodes of ``horizon`` steps; a step is masked once a terminal was reached."""

    def step(carry, key):
        states, alive = carry
        k_action, k_next = jax.random.split(key)
        actions = jax.random.categorical(k_action, q[states])
        next_states = jax.random.categorical(k_next, log_p[states, actions])
        out = (states, actions, next_states, alive)
        return (next_states, alive * (1.0 - terminal[next_states])), out

    init = (jnp.full((count,), start), jnp.ones((count,)))
    _, (s, a, s_next, mask) = jax.lax.scan(step, init, jax.random.split(key, horizon))
    return s.reshape(-1), a.reshape(-1), s_next.reshape(-1), mask.reshape(-1)


def _all_transitions(num_states: int, num_actions: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(s, a, s') of every one of the S x A x S transitions, in row-major order of a [S, A, S] count table."""
    s, a, s_next = jnp.meshgrid(jnp.arange(num_states), jnp.arange(num_actions), jnp.arange(num_states), indexing="ij")
    return s.reshape(-1), a.reshape(-1), s_next.reshape(-1)


def _count(counts, states, actions, next_states, mask):
    """Add the live transitions of a rollout batch to the replay table N[s, a, s']."""
    return counts.at[states, actions, next_states].add(mask)


@partial(jax.jit, static_argnames=("objective", "horizon", "num_rollouts", "learning_rate", "size"))
def _train_chunk(q, opt_state, replay, key, log_p, terminal, start, expert, *, objective, horizon, num_rollouts, learning_rate, size):
    """``size`` Adam steps on the table q; returns the new (q, opt_state, replay) and the step losses.

    ``replay`` is None (each update learns from its own fresh rollouts) or the count table N[s, a, s'] of
    every rollout so far, to which each update adds its fresh ones before learning from all of them."""
    optimiser = optax.adam(learning_rate)
    every = _all_transitions(*log_p.shape[:2])

    def loss_fn(q, key, replay):
        expert_batch = _transitions(q, *expert, terminal, jnp.ones(expert[0].shape))
        policy_batch = None
        if objective.online:
            s, a, s_next, mask = _rollouts(key, jax.lax.stop_gradient(q), log_p, start, terminal, horizon, num_rollouts)
            if replay is not None:
                replay = _count(replay, s, a, s_next, mask)
                s, a, s_next, mask = *every, replay.reshape(-1)
            policy_batch = _transitions(q, s, a, s_next, terminal, mask)
        return objective(expert_batch, policy_batch), replay

    def update(carry, key):
        q, opt_state, replay = carry
        (loss, replay), grads = jax.value_and_grad(loss_fn, has_aux=True)(q, key, replay)
        updates, opt_state = optimiser.update(grads, opt_state)
        return (optax.apply_updates(q, updates), opt_state, replay), loss

    (q, opt_state, replay), losses = jax.lax.scan(update, (q, opt_state, replay), jax.random.split(key, size))
    return q, opt_state, replay, losses


def train_table(
    problem: TabularProblem,
    objective: Objective,
    *,
    seed: int,
    steps: int,
    learning_rate: float,
    init_scale: float,
    num_rollouts: int,
    chunks: int,
    resume: tuple[int, dict] | None = None,
    policy_replay: str = "none",
) -> Iterator[tuple[int, float, dict]]:
    """Adam on q in ``chunks`` jitted chunks; yields (steps done, mean loss of the chunk, state) after each,
    state = {"q": q, "opt": Adam's state} (and "replay": the count table with ``policy_replay="all"``).
    ``resume`` = (steps done, state) continues a run from a chunk boundary, bit for bit: the chunk sizes
    and keys depend on the seed and ``chunks`` only.

    q starts at init_scale * N(0, 1): the policy in states the data never visits stays at this
    random initialisation unless the objective reaches them, which is the point of Figure 11.
    """
    log_p = jnp.log(jnp.asarray(problem.transitions, jnp.float32))
    terminal = jnp.asarray(problem.terminal, jnp.float32)
    expert = tuple(jnp.asarray(x) for x in (problem.expert_states, problem.expert_actions, problem.expert_next_states))
    key_train = jax.random.split(jax.random.PRNGKey(seed))[1]
    done, state = resume or (0, initial_state(problem, seed, learning_rate, init_scale, policy_replay))
    sizes = np.diff(np.linspace(0, steps, chunks + 1).round().astype(int))
    for size, key, end in zip(sizes, jax.random.split(key_train, chunks), np.cumsum(sizes)):
        if end <= done:  # chunks a resumed run has already done
            continue
        q, opt_state, replay, losses = _train_chunk(
            state["q"], state["opt"], state.get("replay"), key, log_p, terminal, problem.start, expert,
            objective=objective, horizon=problem.horizon, num_rollouts=num_rollouts,
            learning_rate=learning_rate, size=int(size),
        )
        done, state = int(end), {"q": q, "opt": opt_state} | ({} if replay is None else {"replay": replay})
        yield done, float(jnp.mean(losses)), state


def initial_state(problem: TabularProblem, seed: int, learning_rate: float, init_scale: float, policy_replay: str = "none") -> dict:
    """q ~ init_scale * N(0, 1) from the seed's first key, a fresh Adam state and, with ``policy_replay="all"``,
    an empty replay table N[s, a, s'] = 0."""
    num_states, num_actions, _ = problem.transitions.shape
    q = init_scale * jax.random.normal(jax.random.split(jax.random.PRNGKey(seed))[0], (num_states, num_actions))
    state = {"q": q, "opt": optax.adam(learning_rate).init(q)}
    if policy_replay == "all":
        state["replay"] = jnp.zeros(problem.transitions.shape, jnp.float32)
    return state


def policy_of(state: dict) -> np.ndarray:
    return np.asarray(jax.nn.softmax(state["q"], axis=-1), dtype=np.float64)


@dataclass
class Progress:
    """What a model reports while a cell trains; the last report has ``final=True``."""

    step: int
    total: int
    metrics: dict
    final: bool = False
    artifacts: dict | None = None
    tags: dict | None = None  # run tags, e.g. bench.params_sha256 of the trained parameters


def _policy_replay(train: dict, objective: Objective) -> str:
    """The train option ``policy_replay`` checked: one of POLICY_REPLAY, and "all" only for online objectives."""
    replay = train.get("policy_replay", "none")
    if replay not in POLICY_REPLAY:
        raise BenchError(
            f"train option policy_replay={replay!r} is unknown; use 'none' (each update learns from its own rollouts) "
            "or 'all' (from every rollout so far, as IQ-Learn's replay buffer)."
        )
    if replay != "none" and not objective.online:
        raise BenchError(f"train option policy_replay={replay!r} needs an online objective (one that samples rollouts); drop it.")
    return replay


def _problem(task, demonstrations: int) -> TabularProblem:
    needed = ("transitions", "terminal", "demonstrations", "success_probability")
    if not all(hasattr(task, name) for name in needed):
        raise BenchError(
            f"model preset 'tabular' trains only tabular MDP tasks such as toy_mdp, not {type(task).__name__}; "
            "pick a sequence model preset for text tasks."
        )
    demo = task.demonstrations(demonstrations)
    return TabularProblem(task.transitions(), task.start, task.terminal(), task.horizon, demo.states, demo.actions, demo.next_states)


@MODELS.register("tabular", "a table of logits q[s, a] read as soft Q-values (toy MDP cells)")
@dataclass(frozen=True)
class TabularPolicy:
    init_scale: float = 1.0

    @staticmethod
    def check_objective(objective) -> None:
        """The runner asks this before any training: GAIL's three networks need a sequence model."""
        if not isinstance(objective, Objective):
            raise BenchError(
                f"the tabular model trains single-loss objectives (mle, iqlearn, iqlearn_online, mle_entreg), not "
                f"{type(objective).__name__}; run GAIL on a sequence-model preset (t5-*, dec-tiny, smollm2-*)."
            )

    def fit(self, task, objective: Objective, *, seed: int, data: dict, train: dict, checkpoints=None) -> Iterator[Progress]:
        """Train, reporting train/loss and train/success_rate per chunk, then eval/success_rate. With
        ``checkpoints`` (bench.checkpointing), save at chunk ends when due and continue from the newest."""
        self.check_objective(objective)
        problem = _problem(task, int(data.get("demonstrations", 1)))
        steps, learning_rate = int(train["steps"]), float(train["learning_rate"])
        replay = _policy_replay(train, objective)
        state, resume = None, None
        if checkpoints is not None and checkpoints.latest() is not None:
            done, state, _ = checkpoints.restore(initial_state(problem, seed, learning_rate, self.init_scale, replay))
            resume = (done, state)
        for step, loss, state in train_table(
            problem, objective, seed=seed, steps=steps, learning_rate=learning_rate,
            init_scale=self.init_scale, num_rollouts=int(train.get("policy_batch", 16)),
            chunks=int(train.get("eval_points", 10)), resume=resume, policy_replay=replay,
        ):
            yield Progress(step, steps, {"train/loss": loss, "train/success_rate": task.success_probability(policy_of(state))})
            if checkpoints is not None and checkpoints.due(step, steps):
                checkpoints.save(step, state, {})
        policy = policy_of(state)
        yield Progress(
            steps, steps, {"eval/success_rate": task.success_probability(policy)}, final=True,
            artifacts={"policy.json": {"policy": policy.round(6).tolist(), "rows": "state", "columns": ["advance", "up"]}},
            tags={"bench.params_sha256": digest(state["q"])},
        )
