"""Speed of the random "t5-tiny" preset: a train step, cached vs uncached greedy decoding, beam search.

What is measured (everything jitted and compiled before timing; batch 16, prompt 64 tokens):

(a) one optax Adam step on the masked mean token cross-entropy of ``model.forward`` (targets 32);
(b) greedy decoding of 64 new tokens with the KV cache (``generate``) and without it
    (``generate_uncached``: a full ``forward`` over prompt + 64-slot target buffer for every token);
(c) beam search, beam 4, 64 new tokens.

A random model may emit EOS at any step and end the loop early, which would time different amounts
of work; the decoding timings therefore use the model with EOS switched off (``_NoEos``), so every
run decodes exactly 64 positions. The cache speed-up is (uncached / cached), both timed as the best of
a few rounds inside one test: a ratio within the run, printed (``-s``) and stored in
``benchmark.extra_info``. Absolute times are never asserted (this CPU's speed varies by ~2x).
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from timing import best_time

pytest.importorskip("bench.models.t5", reason="bench.models.t5 is not written yet")
optax = pytest.importorskip("optax")

import bench.models.t5  # noqa: E402,F401  (registers the T5 presets)
from bench.models.decoding import beam_search, generate, generate_uncached  # noqa: E402
from bench.registry import MODELS  # noqa: E402

BATCH, PROMPT, TARGETS, NEW = 16, 64, 32, 64
MIN_CACHE_SPEEDUP = 5.0


class _NoEos:
    """The same model with an EOS id it never emits, so decoding always runs all ``max_new`` steps."""

    eos_id = -1

    def __init__(self, model):
        self._model = model
        self.vocab_size, self.pad_id = model.vocab_size, model.pad_id

    def init(self, rng):
        return self._model.init(rng)

    def forward(self, *args):
        return self._model.forward(*args)

    def prefill(self, *args):
        return self._model.prefill(*args)

    def step(self, *args):
        return self._model.step(*args)


@pytest.fixture(scope="module")
def setup():
    model = MODELS.build("t5-tiny")
    params = model.init(jax.random.key(0))
    rng = np.random.default_rng(0)
    prompt = jnp.asarray(rng.integers(2, model.vocab_size, (BATCH, PROMPT)), jnp.int32)
    prompt_mask = jnp.ones_like(prompt).at[::2, PROMPT - 8 :].set(0)  # half the prompts padded
    targets = jnp.asarray(rng.integers(2, model.vocab_size, (BATCH, TARGETS)), jnp.int32)
    return model, params, prompt, prompt_mask, targets



def _train_step(model, optimizer):
    def loss_fn(params, prompt, prompt_mask, targets, target_mask):
        logits = model.forward(params, prompt, prompt_mask, targets, target_mask)
        nll = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
        return jnp.sum(nll * target_mask) / jnp.maximum(jnp.sum(target_mask), 1)

    @jax.jit
    def step(params, opt_state, prompt, prompt_mask, targets, target_mask):
        loss, grads = jax.value_and_grad(loss_fn)(params, prompt, prompt_mask, targets, target_mask)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def test_train_step_speed(benchmark, setup):
    model, params, prompt, prompt_mask, targets = setup
    optimizer = optax.adam(1e-3)
    step = _train_step(model, optimizer)
    opt_state = optimizer.init(params)
    target_mask = jnp.ones_like(targets)
    args = (params, opt_state, prompt, prompt_mask, targets, target_mask)
    jax.block_until_ready(step(*args))  # compile

    result = benchmark.pedantic(lambda: jax.block_until_ready(step(*args)), rounds=8, iterations=1, warmup_rounds=1)
    loss = float(result[2])
    benchmark.extra_info.update({"batch": BATCH, "prompt": PROMPT, "targets": TARGETS, "loss": loss})
    assert np.isfinite(loss)


def test_greedy_cache_speedup(benchmark, setup):
    model, params, prompt, prompt_mask, _ = setup
    model = _NoEos(model)

    def cached():
        return generate(model, params, prompt, prompt_mask, max_new=NEW, greedy=True)

    def uncached():
        return generate_uncached(model, params, prompt, prompt_mask, max_new=NEW, greedy=True)

    fast, slow = jax.block_until_ready(cached()), jax.block_until_ready(uncached())  # compile both
    assert np.asarray(fast.mask).sum() == BATCH * NEW  # every row decoded all 64 positions
    agree = float(np.mean(np.asarray(fast.tokens) == np.asarray(slow.tokens)))

    benchmark.pedantic(lambda: jax.block_until_ready(cached()), rounds=5, iterations=1, warmup_rounds=1)
    cached_s, _ = best_time(cached, rounds=5)
    uncached_s, _ = best_time(uncached, rounds=3)
    speedup = uncached_s / cached_s
    benchmark.extra_info.update(
        {
            "batch": BATCH, "prompt": PROMPT, "new_tokens": NEW,
            "cached_seconds": cached_s, "uncached_seconds": uncached_s,
            "cache_speedup": speedup, "token_agreement": agree,
        }
    )
    print(
        f"\ngreedy, {NEW} tokens, batch {BATCH}, prompt {PROMPT} (t5-tiny): cached {cached_s * 1e3:.1f} ms, "
        f"uncached {uncached_s * 1e3:.1f} ms -> KV-cache speed-up {speedup:.1f}x; token agreement {agree:.3f}"
    )
    assert speedup >= MIN_CACHE_SPEEDUP, f"KV-cache speed-up {speedup:.1f}x is below {MIN_CACHE_SPEEDUP}x"


def test_beam_search_speed(benchmark, setup):
    model, params, prompt, prompt_mask, _ = setup
    model = _NoEos(model)

    def run():
        return beam_search(model, params, prompt, prompt_mask, max_new=NEW, beam_size=4, alpha=0.6)

    jax.block_until_ready(run())  # compile
    tokens, scores = benchmark.pedantic(lambda: jax.block_until_ready(run()), rounds=3, iterations=1, warmup_rounds=1)
    greedy_s, _ = best_time(lambda: generate(model, params, prompt, prompt_mask, max_new=NEW, greedy=True), rounds=3)
    beam_s, _ = best_time(run, rounds=3)
    benchmark.extra_info.update(
        {"batch": BATCH, "prompt": PROMPT, "new_tokens": NEW, "beam_size": 4, "beam_seconds": beam_s, "beam_over_greedy": beam_s / greedy_s}
    )
    print(f"\nbeam 4, {NEW} tokens, batch {BATCH}: {beam_s * 1e3:.1f} ms = {beam_s / greedy_s:.1f}x cached greedy")
    assert tokens.shape == (BATCH, NEW) and np.all(np.isfinite(np.asarray(scores)))
