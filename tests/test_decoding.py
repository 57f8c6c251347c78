"""Decoding (bench/models/decoding.py) against the model contract of bench/models/base.py.

Most tests use ``ToyLM``, defined here: logits of generated position t are

    z_t = table[y_{t-1}] + hist[(s_0 + y_0 + ... + y_{t-1}) mod M] + pos[t]

where y_{-1} is the last real prompt token and s_0 the sum of the real prompt tokens. The ``hist``
term makes the state carry real history (so a mis-tiled or mis-reordered cache shows), ``table`` alone
is a bigram model and ``pos`` alone a fixed script. The random "t5-tiny" and "dec-tiny" presets join
the tests that do not need crafted logits once their modules import.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench.models.decoding import (
    Calculator,
    beam_search,
    generate,
    generate_uncached,
    length_penalty,
)

PAD, EOS = 0, 1


@dataclass(frozen=True)
class ToyLM:
    vocab_size: int = 16
    eos_id: int = EOS
    pad_id: int = PAD
    modulus: int = 5
    max_len: int = 64

    def init(self, rng):
        k1, k2, k3 = jax.random.split(rng, 3)
        v = self.vocab_size
        return {
            "table": 2.0 * jax.random.normal(k1, (v, v)),
            "hist": jax.random.normal(k2, (self.modulus, v)),
            "pos": 0.5 * jax.random.normal(k3, (self.max_len, v)),
        }

    def _start(self, prompt, prompt_mask):
        last = prompt.shape[1] - 1 - jnp.argmax(prompt_mask[:, ::-1], axis=1)
        prev = jnp.take_along_axis(prompt, last[:, None], axis=1)[:, 0]
        return prev, jnp.sum(prompt * prompt_mask, axis=1)

    def _logits(self, params, prev, total, t):
        return params["table"][prev] + params["hist"][total % self.modulus] + params["pos"][t]

    def forward(self, params, prompt, prompt_mask, targets, target_mask):
        prev0, s0 = self._start(prompt, prompt_mask)
        inputs = jnp.concatenate([prev0[:, None], targets[:, :-1]], axis=1)
        before = jnp.concatenate([jnp.zeros_like(targets[:, :1]), jnp.cumsum(targets, axis=1)[:, :-1]], axis=1)
        return self._logits(params, inputs, s0[:, None] + before, jnp.arange(targets.shape[1]))

    def prefill(self, params, prompt, prompt_mask, max_new):
        prev, total = self._start(prompt, prompt_mask)
        return self._logits(params, prev, total, 0), {"prev": prev, "total": total}

    def step(self, params, state, token, t):
        total = state["total"] + token
        return self._logits(params, token, total, t + 1), {"prev": token, "total": total}


def crafted(model: ToyLM, table=None, pos=None, hist=None):
    """Params with chosen terms; the others are zero."""
    v = model.vocab_size
    return {
        "table": jnp.zeros((v, v)) if table is None else jnp.asarray(table, jnp.float32),
        "hist": jnp.zeros((model.modulus, v)) if hist is None else jnp.asarray(hist, jnp.float32),
        "pos": jnp.zeros((model.max_len, v)) if pos is None else jnp.asarray(pos, jnp.float32),
    }


def prompts_for(model, batch=3, length=7, seed=0):
    """Random prompts avoiding pad/EOS, with right padding (row 1) and left padding (row 2)."""
    rng = np.random.default_rng(seed)
    hi = min(model.vocab_size, 500)
    prompt = rng.integers(2, hi, size=(batch, length))
    prompt[np.isin(prompt, [model.pad_id, model.eos_id])] = 2 if model.eos_id != 2 and model.pad_id != 2 else 3
    mask = np.ones((batch, length), np.int32)
    if batch > 1:
        mask[1, -2:] = 0
    if batch > 2:
        mask[2, :3] = 0
    prompt = np.where(mask == 1, prompt, model.pad_id)
    return jnp.asarray(prompt, jnp.int32), jnp.asarray(mask, jnp.int32)


_FORWARDS: dict = {}


def forward(model, *args):
    """``model.forward`` under jit (eager flax is slow), one compiled function per model."""
    key = model if getattr(type(model), "__hash__", None) else id(model)
    if key not in _FORWARDS:
        _FORWARDS[key] = jax.jit(model.forward)
    return _FORWARDS[key](*args)


def teacher_forced(model, params, prompt, prompt_mask, gen, k=1):
    """forward's logits [N, L, V] on the generated tokens, for prompts tiled k times."""
    prompt, prompt_mask = jnp.repeat(prompt, k, axis=0), jnp.repeat(prompt_mask, k, axis=0)
    return forward(model, params, prompt, prompt_mask, gen.tokens, gen.mask)


def sequence_log_prob(model, params, prompt, prompt_mask, tokens):
    """sum_t log pi(y_t | y_<t) over the tokens up to and including the first EOS (numpy, float64)."""
    tokens = np.asarray(tokens)
    mask = np.cumsum(np.cumsum(tokens == model.eos_id, axis=1), axis=1) <= 1
    mask &= tokens != model.pad_id
    logits = np.asarray(forward(model, params, prompt, prompt_mask, jnp.asarray(tokens), jnp.asarray(mask, jnp.int32)), np.float64)
    logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) - logits.max(-1, keepdims=True)
    picked = np.take_along_axis(logp, tokens[..., None], axis=-1)[..., 0]
    return (picked * mask).sum(1), mask.sum(1)


# --------------------------------------------------------------------------------------------------
# The models under test: the toy one always, the real presets when their modules exist.

_REAL = {"t5-tiny": "bench.models.t5", "dec-tiny": "bench.models.llama"}
_BUILT: dict[str, tuple] = {}


def build(name):
    if name not in _BUILT:
        if name == "toy":
            model = ToyLM()
        else:
            pytest.importorskip(_REAL[name], reason=f"{_REAL[name]} is not written yet")
            from bench.registry import MODELS

            if name not in MODELS:
                pytest.skip(f"model preset {name!r} is not registered")
            model = MODELS.build(name)
        _BUILT[name] = (model, model.init(jax.random.key(0)))
    return _BUILT[name]


ALL_MODELS = ["toy", "t5-tiny", "dec-tiny"]


# --------------------------------------------------------------------------------------------------
# Cache vs no cache, greedy, temperature


@pytest.mark.parametrize("name", ALL_MODELS)
def test_cached_greedy_equals_uncached_greedy(name):
    model, params = build(name)
    prompt, mask = prompts_for(model)
    cached = generate(model, params, prompt, mask, max_new=10, greedy=True)
    uncached = generate_uncached(model, params, prompt, mask, max_new=10, greedy=True)
    np.testing.assert_array_equal(cached.tokens, uncached.tokens)
    np.testing.assert_array_equal(cached.mask, uncached.mask)
    np.testing.assert_allclose(cached.log_probs, uncached.log_probs, atol=1e-4)
    np.testing.assert_allclose(cached.entropies, uncached.entropies, atol=1e-4)


def test_cached_sampling_equals_uncached_sampling():
    model, params = build("toy")
    prompt, mask = prompts_for(model)
    key = jax.random.key(3)
    cached = generate(model, params, prompt, mask, max_new=10, rng=key, num_samples=3)
    uncached = generate_uncached(model, params, prompt, mask, max_new=10, rng=key, num_samples=3)
    np.testing.assert_array_equal(cached.tokens, uncached.tokens)
    np.testing.assert_allclose(cached.sample_log_probs, uncached.sample_log_probs, atol=1e-5)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_low_temperature_sampling_is_greedy(name):
    model, params = build(name)
    prompt, mask = prompts_for(model)
    greedy = generate(model, params, prompt, mask, max_new=10, greedy=True)
    # Two samples per prompt (the compile of the log-prob test below is reused): both are greedy's.
    cold = generate(model, params, prompt, mask, max_new=10, rng=jax.random.key(1), temperature=1e-6, num_samples=2)
    np.testing.assert_array_equal(cold.tokens, np.repeat(greedy.tokens, 2, axis=0))
    zero = generate(model, params, prompt, mask, max_new=10, temperature=0.0)  # temperature 0 means greedy
    np.testing.assert_array_equal(zero.tokens, greedy.tokens)
    np.testing.assert_array_equal(greedy.sample_log_probs, 0.0)


def test_sampling_needs_a_key():
    model, params = build("toy")
    prompt, mask = prompts_for(model)
    with pytest.raises(ValueError, match="rng"):
        generate(model, params, prompt, mask, max_new=4)


# --------------------------------------------------------------------------------------------------
# Sampling: determinism, several samples per prompt, row order


def test_sampling_is_deterministic_and_samples_differ():
    model, params = build("toy")
    prompt, mask = prompts_for(model)
    a = generate(model, params, prompt, mask, max_new=16, rng=jax.random.key(7), num_samples=4, temperature=2.0)
    b = generate(model, params, prompt, mask, max_new=16, rng=jax.random.key(7), num_samples=4, temperature=2.0)
    c = generate(model, params, prompt, mask, max_new=16, rng=jax.random.key(8), num_samples=4, temperature=2.0)
    assert a.tokens.shape == (12, 16)
    for field in a._fields:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.tokens, c.tokens)
    rows = [tuple(r) for r in np.asarray(a.tokens)]
    assert len(set(rows[0:4])) > 1 and len(set(rows[4:8])) > 1  # the k samples of one prompt differ


def test_rows_are_prompt_major():
    """Prompt b's samples are rows b*k .. b*k+k-1: here each prompt's last token fixes the first token."""
    model = ToyLM()
    table = np.zeros((16, 16))
    for last, first in [(5, 9), (6, 10), (7, 11)]:
        table[last, first] = 50.0
    params = crafted(model, table=table)
    prompt = jnp.array([[3, 5], [3, 6], [3, 7]], jnp.int32)
    gen = generate(model, params, prompt, jnp.ones_like(prompt), max_new=3, rng=jax.random.key(0), num_samples=4)
    np.testing.assert_array_equal(gen.tokens[:, 0], np.repeat([9, 10, 11], 4))


# --------------------------------------------------------------------------------------------------
# EOS, log-probabilities and entropies


def test_eos_ends_a_row_then_pad_and_mask_zero():
    model = ToyLM()
    pos = np.zeros((model.max_len, 16))
    for t, token in enumerate([4, 5, 6, EOS]):
        pos[t, token] = 30.0
    params = crafted(model, pos=pos)
    prompt = jnp.array([[3, 4, 5]], jnp.int32)
    for fn in (generate, generate_uncached):
        gen = fn(model, params, prompt, jnp.ones_like(prompt), max_new=8, greedy=True)
        np.testing.assert_array_equal(gen.tokens[0], [4, 5, 6, EOS, PAD, PAD, PAD, PAD])
        np.testing.assert_array_equal(gen.mask[0], [1, 1, 1, 1, 0, 0, 0, 0])
        assert np.all(np.asarray(gen.log_probs[0, 4:]) == 0) and np.all(np.asarray(gen.entropies[0, 4:]) == 0)
        assert np.all(np.asarray(gen.log_probs[0, :4]) > -1e-6)  # near-certain choices


def test_eos_masking_when_rows_finish_at_different_times():
    model, params = build("toy")
    params = dict(params, table=params["table"].at[:, EOS].add(1.5))  # EOS often, at varying steps
    prompt, mask = prompts_for(model)
    gen = generate(model, params, prompt, mask, max_new=12, rng=jax.random.key(2), num_samples=4)
    tokens, gmask = np.asarray(gen.tokens), np.asarray(gen.mask)
    ends = []
    for row, m in zip(tokens, gmask):
        eos = np.flatnonzero(row == EOS)
        end = eos[0] + 1 if len(eos) else len(row)
        ends.append(end)
        np.testing.assert_array_equal(m, np.arange(len(row)) < end)
        assert np.all(row[end:] == PAD)
    assert len(set(ends)) > 1


@pytest.mark.parametrize("name", ALL_MODELS)
def test_log_probs_and_entropies_match_forward(name):
    model, params = build(name)
    prompt, mask = prompts_for(model)
    k, temperature = 2, 1.3
    gen = generate(model, params, prompt, mask, max_new=10, rng=jax.random.key(5), num_samples=k, temperature=temperature)
    logits = teacher_forced(model, params, prompt, mask, gen, k)
    logp = jax.nn.log_softmax(logits, axis=-1)
    real = np.asarray(gen.mask) == 1
    picked = np.take_along_axis(np.asarray(logp), np.asarray(gen.tokens)[..., None], axis=-1)[..., 0]
    np.testing.assert_allclose(np.asarray(gen.log_probs)[real], picked[real], atol=1e-4)
    entropy = -np.sum(np.exp(np.asarray(logp)) * np.asarray(logp), axis=-1)
    np.testing.assert_allclose(np.asarray(gen.entropies)[real], entropy[real], atol=1e-4)
    tempered = np.asarray(jax.nn.log_softmax(logits / temperature, axis=-1))
    picked_t = np.take_along_axis(tempered, np.asarray(gen.tokens)[..., None], axis=-1)[..., 0]
    np.testing.assert_allclose(np.asarray(gen.sample_log_probs)[real], picked_t[real], atol=1e-4)
    assert np.all(np.asarray(gen.log_probs)[~real] == 0)


# --------------------------------------------------------------------------------------------------
# Beam search


def test_length_penalty_is_gnmt():
    assert float(length_penalty(1, 0.6)) == pytest.approx(1.0)
    assert float(length_penalty(7, 0.6)) == pytest.approx(2.0**0.6)
    assert float(length_penalty(30, 0.0)) == 1.0


@pytest.mark.parametrize("name", ALL_MODELS)
@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_beam_size_one_is_greedy(name, alpha):
    model, params = build(name)
    if name == "toy":  # end some rows early, so the EOS branch of the beam bookkeeping is exercised
        params = dict(params, table=params["table"].at[:, EOS].add(2.0))
    prompt, mask = prompts_for(model)
    greedy = generate(model, params, prompt, mask, max_new=10, greedy=True)
    tokens, scores = beam_search(model, params, prompt, mask, max_new=10, beam_size=1, alpha=alpha)
    np.testing.assert_array_equal(tokens, greedy.tokens)
    lengths = np.asarray(greedy.mask).sum(1)
    want = np.asarray(greedy.log_probs).sum(1) / np.asarray(length_penalty(lengths, alpha))
    np.testing.assert_allclose(scores, want, rtol=1e-4, atol=1e-4)


def test_beam_search_beats_greedy_on_a_trap():
    """Greedy takes A (p=.5) into a flat continuation; beam search takes B (p=.4) into a certain one."""
    model = ToyLM()
    start, a, b, c = 2, 3, 4, 5
    flat = list(range(6, 14))
    table = np.full((16, 16), -30.0)
    table[start, [a, b, 6]] = np.log([0.5, 0.4, 0.1])
    table[a, flat] = np.linspace(0.0, 0.01, len(flat))  # ~1/8 each, no exact ties
    table[b, c] = 0.0
    for tok in flat + [c]:
        table[tok, EOS] = 0.0
    params = crafted(model, table=table)
    prompt = jnp.array([[7, start]], jnp.int32)
    mask = jnp.ones_like(prompt)
    greedy = generate(model, params, prompt, mask, max_new=6, greedy=True)
    tokens, _ = beam_search(model, params, prompt, mask, max_new=6, beam_size=4, alpha=0.6)
    np.testing.assert_array_equal(tokens[0, :3], [b, c, EOS])
    greedy_lp, _ = sequence_log_prob(model, params, prompt, mask, greedy.tokens)
    beam_lp, _ = sequence_log_prob(model, params, prompt, mask, tokens)
    assert greedy.tokens[0, 0] == a
    assert beam_lp[0] > greedy_lp[0] + 1.0


def test_wide_beam_is_exhaustive_search():
    """With a beam wider than the tree, beam search must return the best finished hypothesis.

    The ToyLM's history term makes logits depend on the whole prefix, so a wrong state reorder shows.
    """
    model = ToyLM(vocab_size=4, modulus=3)
    params = model.init(jax.random.key(11))
    params = dict(params, table=params["table"].at[:, EOS].add(0.5))
    prompt, mask = prompts_for(model, batch=2, length=4)
    max_new, alpha = 3, 0.6
    tokens, scores = beam_search(model, params, prompt, mask, max_new=max_new, beam_size=32, alpha=alpha)
    for b in range(2):
        candidates = []
        for n in range(1, max_new + 1):
            for body in itertools.product(range(4), repeat=n - 1):
                if EOS in body:
                    continue
                seq = list(body) + [EOS] + [PAD] * (max_new - n)
                candidates.append(seq)
        seqs = np.array(candidates)
        lp, lengths = sequence_log_prob(model, params, jnp.repeat(prompt[b : b + 1], len(seqs), 0),
                                        jnp.repeat(mask[b : b + 1], len(seqs), 0), seqs)
        normed = lp / ((5 + lengths) / 6) ** alpha
        best = int(np.argmax(normed))
        np.testing.assert_array_equal(tokens[b], seqs[best])
        assert float(scores[b]) == pytest.approx(normed[best], abs=1e-4)


def test_beam_without_eos_returns_best_alive_beam():
    model = ToyLM()
    table = np.zeros((16, 16))
    table[:, EOS] = -50.0  # EOS never wins
    table[:, 6] = 3.0
    params = crafted(model, table=table)
    prompt = jnp.array([[2, 3]], jnp.int32)
    tokens, scores = beam_search(model, params, prompt, jnp.ones_like(prompt), max_new=5, beam_size=3, alpha=0.6)
    np.testing.assert_array_equal(tokens[0], [6] * 5)
    lp, _ = sequence_log_prob(model, params, prompt, jnp.ones_like(prompt), tokens)
    assert float(scores[0]) == pytest.approx(lp[0] / ((5 + 5) / 6) ** 0.6, abs=1e-4)


# --------------------------------------------------------------------------------------------------
# Calculator in the loop

CHARS = "<>=*+-/().0123456789 x#"


def char_decode(ids):
    return "".join(CHARS[i - 2] for i in ids if i >= 2)


def char_encode(text):
    return [CHARS.index(ch) + 2 for ch in text]


def script_model(text: str):
    """A ToyLM (char vocabulary) whose position-t logits strongly prefer text[t], then EOS."""
    model = ToyLM(vocab_size=len(CHARS) + 2)
    pos = np.zeros((model.max_len, model.vocab_size))
    for t, token in enumerate(char_encode(text) + [EOS]):
        pos[t, token] = 20.0
    return model, crafted(model, pos=pos)


def decode_rows(gen):
    return [char_decode([int(i) for i in row if i not in (EOS, PAD)]) for row in np.asarray(gen.tokens)]


def test_calculator_trigger_table_from_decode():
    calc = Calculator(char_decode, char_encode)
    table = calc.trigger_table(len(CHARS) + 2)
    assert np.flatnonzero(table).tolist() == char_encode("=")


def test_calculator_from_the_project_byte_tokenizer():
    tokenizers = pytest.importorskip("bench.models.tokenizers")
    tok = tokenizers.byte_tokenizer()
    calc = Calculator.from_tokenizer(tok)
    ids = tok.encode("So <<3*4=", add_special_tokens=False).ids
    assert np.flatnonzero(calc.trigger_table(tok.get_vocab_size())).tolist() == [ids[-1]]
    tokens = np.zeros((2, 16), np.int32)
    tokens[:, : len(ids)] = ids
    forced, counts = calc.forced_ids(tokens, np.int32(len(ids) - 1), np.array([True, False]))
    assert counts.tolist() == [2, 0]
    assert tok.decode(forced[0, :2].tolist()) == "12"


@pytest.mark.parametrize("fn", [generate, generate_uncached])
def test_calculator_forces_the_result_then_decoding_goes_on(fn):
    model, params = script_model("<<3*4=99>> #")  # the model's own arithmetic is wrong
    calc = Calculator(char_decode, char_encode, max_forced=4)
    prompt = jnp.asarray([char_encode("x"), char_encode("xx")[:1]], jnp.int32)
    gen = fn(model, params, prompt, jnp.ones_like(prompt), max_new=16, greedy=True, calculator=calc)
    assert decode_rows(gen) == ["<<3*4=12>> #"] * 2
    forced = np.asarray(gen.forced)
    assert forced[:, 6:8].all() and forced.sum() == 4
    assert np.all(np.asarray(gen.sample_log_probs)[forced] == 0)
    # Forced tokens keep the model's real log-probability (low here: it wanted '9') and count in mask.
    logp = jax.nn.log_softmax(forward(model, params, prompt, jnp.ones_like(prompt), gen.tokens, gen.mask), axis=-1)
    picked = np.take_along_axis(np.asarray(logp), np.asarray(gen.tokens)[..., None], -1)[..., 0]
    real = np.asarray(gen.mask) == 1
    np.testing.assert_allclose(np.asarray(gen.log_probs)[real], picked[real], atol=1e-4)
    assert np.all(np.asarray(gen.log_probs)[forced] < -10)
    np.testing.assert_array_equal(gen.mask[0], [1] * 13 + [0] * 3)


def test_calculator_while_sampling_forces_only_where_triggered():
    model, params = script_model("<<3*4=99>>")
    calc = Calculator(char_decode, char_encode, max_forced=4)
    pos = np.asarray(params["pos"]).copy()
    pos[0] = 0.0  # first character free: rows that start with '<' open an annotation
    pos[0, char_encode("<")[0]] = 1.0
    params = dict(params, pos=jnp.asarray(pos))
    prompt = jnp.asarray([char_encode("x")], jnp.int32)
    gen = generate(model, params, prompt, jnp.ones_like(prompt), max_new=12, rng=jax.random.key(0), num_samples=16, calculator=calc)
    texts = decode_rows(gen)
    opened = [t.startswith("<<") for t in texts]
    assert any(opened) and not all(opened)
    for text, row_forced in zip(texts, np.asarray(gen.forced)):
        if text.startswith("<<"):
            assert text == "<<3*4=12>>" and row_forced.sum() == 2
        else:
            assert "12" not in text and row_forced.sum() == 0


@pytest.mark.parametrize(
    "script, max_forced, want",
    [
        ("<<x=5>>", 4, "<<x=5>>"),  # not arithmetic: the model's own text stays
        ("3*4=99", 4, "3*4=99"),  # '=' outside an annotation
        ("<<1000*1000=9999999>>", 4, "<<1000*1000=9999999>>"),  # '1000000' is longer than max_forced: not forced
        ("<<1000*1000=9999999>>", 8, "<<1000*1000=1000000>>"),
        ("<<1+1=9>><<2*3=9>>", 4, "<<1+1=2>><<2*3=6>>"),  # two annotations
    ],
)
def test_calculator_cases(script, max_forced, want):
    # The script model follows positions, so each script leaves as many placeholder characters as the result has.
    model, params = script_model(script)
    calc = Calculator(char_decode, char_encode, max_forced=max_forced)
    prompt = jnp.asarray([char_encode("x")], jnp.int32)
    gen = generate(model, params, prompt, jnp.ones_like(prompt), max_new=24, greedy=True, calculator=calc)
    assert decode_rows(gen) == [want]
