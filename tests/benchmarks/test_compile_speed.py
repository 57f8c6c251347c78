"""Compile time of one T5 update against depth: a deep stack must compile about as fast as a shallow one.

What is measured: XLA's compilation (``jit(...).lower(...).compile()``) of the text trainer's MLE update
(``bench.textcells.train_step``: forward, loss, gradient, Adam) at batch 1, 8 prompt and 8 target tokens, for two
T5 configurations of t5-small's width (d_model 512, 8 heads, d_ff 2048, its vocabulary) that differ only in depth:
2+2 and 12+12 layers. The stacks run under ``nn.scan``, so XLA sees one layer body per stack whatever the depth; an
unrolled stack (a Python loop over layers) compiled each layer anew, and its compile time grew with depth.

Shapes are abstract (``jax.eval_shape``): nothing is allocated, so the same helper times t5-large on a laptop. The
in-memory caches are cleared before each program and the persistent compilation cache is kept from storing it (its
minimum compile time is raised meanwhile), so no round reuses an earlier one's trace or executable. The two programs compile in turns, ``ROUNDS`` times, and
the best of each is compared: a ratio within one run, printed (``-s``) and kept in ``benchmark.extra_info``. Never
an absolute time: this CPU's speed varies by ~2x.

By hand, at real presets (batch 1, 8/8 tokens; ``--objective iqlearn`` for the IQLearn update)::

    .venv/bin/python tests/benchmarks/test_compile_speed.py t5-small t5-large
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import time

import jax
import jax.numpy as jnp
import bench  # noqa: F401  (fills the registries)
from bench import grids, textcells
from bench.models import t5
from bench.registry import ALGORITHMS, MODELS

BATCH, PROMPT, TARGET, ROUNDS = 1, 8, 8, 2
SHALLOW, DEEP = 2, 12  # layers per stack (12: t5-base's depth)
MAX_DEEP_OVER_SHALLOW = 1.5


@contextlib.contextmanager
def no_cache_writes():
    """Raise the persistent cache's minimum compile time so that nothing compiled inside is stored (and later read)."""
    name = "jax_persistent_cache_min_compile_time_secs"
    before = getattr(jax.config, name)
    jax.config.update(name, 1e9)
    try:
        yield
    finally:
        jax.config.update(name, before)


def update_compile_seconds(model, objective: str = "mle", batch: int = BATCH, prompt: int = PROMPT, target: int = TARGET) -> tuple[float, float]:
    """(trace + lower seconds, XLA compile seconds) of one text-trainer update of ``model`` from abstract shapes."""
    arms = dict(grids.TABLE1_ARMS)
    optimiser = textcells.adam_warmup(1e-4, 0)
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0))
    state = jax.eval_shape(lambda p: (p, optimiser.init(p)), params)
    tokens = lambda n: jax.ShapeDtypeStruct((batch, n), jnp.int32)  # noqa: E731
    data = (tokens(prompt), tokens(prompt), tokens(target), tokens(target))
    statics = dict(model=model, objective=ALGORITHMS.build(objective, **arms[objective]), optimiser=optimiser, max_new=target)
    jax.clear_caches()  # else a second call reuses the first one's trace and executable from memory
    start = time.perf_counter()
    lowered = textcells.train_step.lower(state, data, jax.random.PRNGKey(0), **statics)
    traced = time.perf_counter()
    with no_cache_writes():
        lowered.compile()
    return traced - start, time.perf_counter() - traced


def small_width(layers: int) -> t5.T5:
    """t5-small's shapes with ``layers`` encoder and ``layers`` decoder layers."""
    config = dataclasses.replace(MODELS.build("t5-small").config, num_layers=layers, num_decoder_layers=layers)
    return t5.T5(config, preset=f"t5-small-{layers}+{layers}")


def best_compile_seconds(models: dict, rounds: int, objective: str = "mle") -> dict[str, tuple[float, float]]:
    """Per model, the best (lower, compile) seconds over ``rounds``, the models compiling in turns."""
    best: dict[str, tuple[float, float]] = {}
    for _ in range(rounds):
        for name, model in models.items():
            lower_s, compile_s = update_compile_seconds(model, objective)
            old = best.get(name, (float("inf"), float("inf")))
            best[name] = (min(old[0], lower_s), min(old[1], compile_s))
    return best


def test_compile_time_of_an_update_does_not_grow_with_depth(benchmark):
    models = {"shallow": small_width(SHALLOW), "deep": small_width(DEEP)}
    best = best_compile_seconds(models, ROUNDS)
    ratio = best["deep"][1] / best["shallow"][1]
    lower_ratio = best["deep"][0] / best["shallow"][0]
    benchmark.pedantic(lambda: update_compile_seconds(models["deep"]), rounds=1, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update({"compile_s": {k: v[1] for k, v in best.items()}, "lower_s": {k: v[0] for k, v in best.items()},
                                 "deep_over_shallow": ratio, "lower_deep_over_shallow": lower_ratio, "layers": [SHALLOW, DEEP]})
    print(f"\nMLE update of t5-small-width T5, compile {DEEP}+{DEEP} / {SHALLOW}+{SHALLOW} layers: {ratio:.2f} "
          f"({best['deep'][1]:.1f} s / {best['shallow'][1]:.1f} s); trace+lower {lower_ratio:.2f}")
    assert ratio <= MAX_DEEP_OVER_SHALLOW, f"{DEEP}+{DEEP} layers compile {ratio:.2f}x as long as {SHALLOW}+{SHALLOW}"


def main() -> None:
    parser = argparse.ArgumentParser(description="compile time of one update per preset (batch 1, 8/8 tokens), and ratios to the first")
    parser.add_argument("presets", nargs="+", help="model presets, e.g. t5-small t5-large")
    parser.add_argument("--objective", default="mle", choices=[name for name, _ in grids.TABLE1_ARMS if name != "gail"])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    best = best_compile_seconds({name: MODELS.build(name) for name in args.presets}, args.rounds, args.objective)
    first = best[args.presets[0]]
    for name, (lower_s, compile_s) in best.items():
        print(f"{name}: trace+lower {lower_s:.1f} s, compile {compile_s:.1f} s; "
              f"/ {args.presets[0]}: compile {compile_s / first[1]:.2f}, trace+lower {lower_s / first[0]:.2f}")


if __name__ == "__main__":
    main()
