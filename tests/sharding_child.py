"""Child process of tests/test_sharding.py: runs the trainer on (simulated) CPU devices and reports what it got.

It is a separate process because the number of CPU devices is fixed when JAX starts: the parent sets
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (and, for the multi-process test, the
``JAX_COORDINATOR_ADDRESS`` / ``JAX_NUM_PROCESSES`` / ``JAX_PROCESS_ID`` that ``sharding.initialize_distributed``
reads) in this process's environment before JAX is imported. Scalars go to the last line of stdout,
``RESULT <json>``; arrays to an .npz file. SPEC is a mesh spec (``sharding.mesh_from_spec``) or ``one``: the
first local device alone, the reference every layout is compared with.

    python tests/sharding_child.py steps OBJECTIVE SPEC OUT.npz   STEPS train steps of t5-tiny (OBJECTIVES)

(``fit`` itself on several hosts is tested through ``bench run`` in tests/test_multihost.py.)
"""

from __future__ import annotations

import json
import sys
from functools import partial

from bench.models import sharding

sharding.initialize_distributed()  # before any JAX computation; a no-op unless the parent set a coordinator

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import bench  # noqa: E402,F401  (fills the registries)
from bench import gail_trainer  # noqa: E402
from bench.objectives import Adversarial  # noqa: E402
from bench.registry import ALGORITHMS, MODELS  # noqa: E402
from bench.textcells import adam_warmup, train_step  # noqa: E402

OBJECTIVES = {
    "mle": {}, "iqlearn": {"lam": 0.1, "gamma": 0.99},
    "gail_mle": {"lam": 0.01, "gamma": 0.99, "mle_weight": 1.0, "kl_anneal_steps": 2},
}
BATCH, PROMPT, TARGET, STEPS, LEARNING_RATE = 8, 12, 10, 3, 1e-3


def mesh_of(spec: str):
    return sharding.mesh_from_spec(None, jax.local_devices()[:1]) if spec == "one" else sharding.mesh_from_spec(spec)


def batches(vocab: int, steps: int) -> list[tuple[np.ndarray, ...]]:
    """``steps`` random global batches of prompt, prompt mask, targets, target mask, with ragged targets."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(steps):
        lengths = rng.integers(3, TARGET + 1, BATCH)
        target_mask = (np.arange(TARGET)[None] < lengths[:, None]).astype(np.int32)
        prompt = rng.integers(2, vocab, (BATCH, PROMPT)).astype(np.int32)
        targets = (rng.integers(2, vocab, (BATCH, TARGET)) * target_mask).astype(np.int32)
        out.append((prompt, np.ones_like(prompt), targets, target_mask))
    return out


def spans_devices(tree) -> int:
    """The most pieces any leaf is cut into (global size / shard size): 1 means nothing is sharded."""
    return max(int(np.prod(x.shape)) // int(np.prod(x.sharding.shard_shape(x.shape))) for x in jax.tree.leaves(tree))


def keep_gradient() -> optax.GradientTransformation:
    """An identity transformation whose state is the last gradient it saw: chained before Adam, the real
    step hands us every step's gradient (sharded like the params) at no extra compilation."""
    return optax.GradientTransformation(lambda params: jax.tree.map(jnp.zeros_like, params), lambda grads, state, params=None: (grads, grads))


def steps(objective_name: str, spec: str, out: str) -> dict:
    """STEPS real steps of t5-tiny on mesh ``spec`` (``train_step``, or GAIL's ``update`` for gail_mle).

    Saves to ``out`` the losses, every step's gradients and the final parameters of the trained networks,
    flattened; returns the layout facts."""
    mesh = mesh_of(spec)
    model = MODELS.build("t5-tiny")
    objective = ALGORITHMS.build(objective_name, **OBJECTIVES[objective_name])
    optimiser = optax.chain(keep_gradient(), adam_warmup(LEARNING_RATE, 0))
    params = model.init(jax.random.PRNGKey(0))
    if isinstance(objective, Adversarial):  # policy, value network and discriminator, each with its own Adam
        state, step = gail_trainer.init(params, optimiser), partial(gail_trainer.update, hp=objective)
        trained = lambda s: ((s.policy, s.value, s.disc), (s.policy_opt[0], s.value_opt[0], s.disc_opt[0]))  # noqa: E731
    else:
        state, step = (params, optimiser.init(params)), partial(train_step, objective=objective)
        trained = lambda s: (s[0], s[1][0])  # noqa: E731
    state = jax.device_put(state, sharding.state_shardings(state, mesh))
    flat = lambda tree: np.concatenate([x.ravel() for x in jax.tree.leaves(sharding.to_host(tree))])  # noqa: E731
    losses, grads = [], []
    for i, batch in enumerate(batches(model.vocab_size, STEPS)):
        state, terms = step(
            state, sharding.shard_batch(batch, mesh), jax.random.PRNGKey(i), model=model, optimiser=optimiser, max_new=TARGET, mesh=mesh
        )
        losses.append(float(sharding.to_host(terms["loss"])))
        grads.append(flat(trained(state)[1]))
    np.savez(out, losses=np.asarray(losses), grads=np.stack(grads), params=flat(trained(state)[0]))
    layout = jax.tree.leaves(sharding.state_shardings(state, mesh))
    return {"losses": losses, "spans": spans_devices(state), "learning_rate": LEARNING_RATE,
            "kept_layout": all(x.sharding == s for x, s in zip(jax.tree.leaves(state), layout))}


if __name__ == "__main__":
    scenario, *args = sys.argv[1:]
    result = {"steps": steps}[scenario](*args)
    result |= {"process": jax.process_index(), "processes": jax.process_count(), "devices": jax.device_count()}
    print("RESULT " + json.dumps(result), flush=True)
