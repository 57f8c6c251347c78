"""Compile time of one T5 update against depth: a deep stack must compile about as fast as a shallow one.

What is measured: XLA's compilation (``jit(...).lower(...).compile()``) of the text trainer's MLE update
(``bench.textcells.train_step``: forward, loss, gradient, Adam) at batch 1, 8 prompt and 8 target tokens, for two
T5 configurations of t5-small's width (d_model 512, 8 heads, d_ff 2048, its vocabulary) that differ only in depth:
2+2 and 12+12 layers. The stacks run under ``nn.scan``, so XLA sees one layer body per stack whatever the depth; an
unrolled stack (a Python loop over layers) compiled each layer anew, and its compile time grew with depth.

Shapes are abstract (``jax.eval_shape``): nothing is allocated, so the same helper times t5-large on a laptop.
The in-memory caches are cleared before each program and the persistent compilation cache is kept from storing it
(its minimum compile time is raised meanwhile), so no round reuses an earlier one's trace or executable. The two
programs compile in turns, ``ROUNDS`` times (once: CPU times barely vary), and the best of each is compared: a ratio
within one run, printed (``-s``) and kept in ``benchmark.extra_info``. The assertion reads the compilation's CPU
time (of this process), which other processes' load leaves alone, where wall time on 2 shared cores swings with
them; wall times are printed beside it. Never an absolute time.

By hand, at real presets (batch 1, 8/8 tokens; ``--objective iqlearn`` for the IQLearn update)::

    .venv/bin/python tests/benchmarks/test_compile_speed.py t5-small t5-large
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import bench  # noqa: F401  (fills the registries)
from bench import grids, textcells
from bench.models import t5
from bench.registry import ALGORITHMS, MODELS

BATCH, PROMPT, TARGET, ROUNDS = 1, 8, 8, 1
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


class Seconds(NamedTuple):
    """Wall and CPU times (of this process, all its threads: what other processes' load leaves alone)."""

    lower: float  # tracing and lowering to StableHLO (Python), wall time
    lower_cpu: float
    compile: float  # XLA's compilation, wall time
    compile_cpu: float


def update_compile_seconds(model, objective: str = "mle", batch: int = BATCH, prompt: int = PROMPT, target: int = TARGET) -> Seconds:
    """The times to trace and compile one text-trainer update of ``model`` (``train_step``), from abstract shapes."""
    arms = dict(grids.TABLE1_ARMS)
    optimiser = textcells.adam_warmup(1e-4, 0)
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0))
    state = jax.eval_shape(lambda p: (p, optimiser.init(p)), params)
    tokens = lambda n: jax.ShapeDtypeStruct((batch, n), jnp.int32)  # noqa: E731
    data = (tokens(prompt), tokens(prompt), tokens(target), tokens(target))
    statics = dict(model=model, objective=ALGORITHMS.build(objective, **arms[objective]), optimiser=optimiser, max_new=target)
    jax.clear_caches()  # else a second call reuses the first one's trace and executable from memory
    clock = lambda: np.array([time.perf_counter(), time.process_time()])  # noqa: E731  (wall, CPU)
    start = clock()
    lowered = textcells.train_step.lower(state, data, jax.random.PRNGKey(0), **statics)
    traced = clock()
    with no_cache_writes():
        lowered.compile()
    return Seconds(*(traced - start), *(clock() - traced))


def small_width(layers: int) -> t5.T5:
    """t5-small's shapes with ``layers`` encoder and ``layers`` decoder layers."""
    config = dataclasses.replace(MODELS.build("t5-small").config, num_layers=layers, num_decoder_layers=layers)
    return t5.T5(config, preset=f"t5-small-{layers}+{layers}")


def best_seconds(models: dict, rounds: int, objective: str = "mle") -> dict[str, Seconds]:
    """Per model, the best of each time over ``rounds``, the models compiling in turns."""
    times: dict[str, list[Seconds]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            times[name].append(update_compile_seconds(model, objective))
    return {name: Seconds(*map(min, zip(*runs))) for name, runs in times.items()}


def ratios(best: dict[str, Seconds], to: str) -> dict[str, Seconds]:
    return {name: Seconds(*(a / b for a, b in zip(seconds, best[to]))) for name, seconds in best.items()}


def test_compile_time_of_an_update_does_not_grow_with_depth(benchmark):
    models = {"deep": small_width(DEEP), "shallow": small_width(SHALLOW)}  # a first compilation's one-off costs count against deep
    best = benchmark.pedantic(lambda: best_seconds(models, ROUNDS), rounds=1, iterations=1, warmup_rounds=0)
    ratio = ratios(best, "shallow")["deep"]
    benchmark.extra_info.update({"seconds": {k: v._asdict() for k, v in best.items()}, "deep_over_shallow": ratio._asdict(),
                                 "layers": [SHALLOW, DEEP]})
    print(f"\nMLE update, t5-small width, {DEEP}+{DEEP} / {SHALLOW}+{SHALLOW} layers: compile {ratio.compile_cpu:.2f} CPU "
          f"({best['deep'].compile_cpu:.1f} s / {best['shallow'].compile_cpu:.1f} s), {ratio.compile:.2f} wall; "
          f"trace+lower {ratio.lower_cpu:.2f} CPU")
    assert ratio.compile_cpu <= MAX_DEEP_OVER_SHALLOW, f"{DEEP}+{DEEP} layers compile {ratio.compile_cpu:.2f}x as long as {SHALLOW}+{SHALLOW}"


def main() -> None:
    parser = argparse.ArgumentParser(description="compile time of one update per preset (batch 1, 8/8 tokens), and ratios to the first")
    parser.add_argument("presets", nargs="+", help="model presets, e.g. t5-small t5-large")
    parser.add_argument("--objective", default="mle", choices=[name for name, _ in grids.TABLE1_ARMS if name != "gail"])
    parser.add_argument("--rounds", type=int, default=1, help="compilations per preset, in turns; the best counts (default: 1)")
    args = parser.parse_args()
    best = best_seconds({name: MODELS.build(name) for name in args.presets}, args.rounds, args.objective)
    for name, ratio in ratios(best, args.presets[0]).items():
        b = best[name]
        print(f"{name}: compile {b.compile_cpu:.1f} s CPU, {b.compile:.1f} s wall; trace+lower {b.lower_cpu:.1f} s CPU. Ratio to "
              f"{args.presets[0]}: compile {ratio.compile_cpu:.2f} CPU, {ratio.compile:.2f} wall; trace+lower {ratio.lower_cpu:.2f} CPU")


if __name__ == "__main__":
    main()
