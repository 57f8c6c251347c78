"""Model-agnostic decoding for any :class:`bench.models.base.LanguageModel`: sampling, greedy, beam search.

Everything is jitted with fixed shapes: B prompts, k samples per prompt, N = B * k rows, L = ``max_new``
generated positions, V the vocabulary. Loops are ``lax.while_loop`` over generated positions and stop
early once every row (or, in beam search, every prompt) is done; positions never reached hold pad.

Notation. ``z_t`` are the logits [N, V] for generated position t, ``pi(. | prefix) = softmax(z_t)`` the
policy, and at temperature tau the sampling distribution is ``q_tau = softmax(z_t / tau)``.

* :func:`generate` (KV cache: ``prefill`` once, then ``step``) and :func:`generate_uncached` (recomputes
  ``forward`` over the whole prefix for every token; a reference for tests and the speed benchmark)
  share one loop and one token-choice function, so they differ only in where the logits come from.
* :func:`beam_search`: alive vs finished beams with the GNMT/t5x length penalty.
* :class:`Calculator`: GSM8k calculator in the loop through a host callback.

Cache tiling for ``num_samples = k > 1``: the prompt batch is prefilled ONCE (B rows) and every state leaf
is repeated k times along axis 0 (``jnp.repeat``, so rows b*k .. b*k+k-1 belong to prompt b); the encoder
or prompt pass is therefore paid B times, not B*k times. Beam search tiles the same way (k = beam size).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from tasks.calculator import complete

__all__ = [
    "Generation",
    "BeamResult",
    "Calculator",
    "generate",
    "generate_uncached",
    "beam_search",
    "length_penalty",
    "log_softmax_and_entropy",
]

# An "effectively impossible" log-probability for empty beam slots: finite, so sums and
# divisions never produce inf - inf = nan, yet far below any real sequence's log-probability.
_NEG = -1.0e9


class Generation(NamedTuple):
    """Sampled continuations; every field is [N, L] with N = B * num_samples, prompt-major rows.

    tokens:           int32 ids; pad after EOS and at positions the loop never reached.
    mask:             int32, 1 for real tokens up to and including EOS (calculator tokens included).
    log_probs:        float32 ``log pi(y_t | prefix)`` at temperature 1, the policy's log-probability
                      (also for calculator-forced tokens: what the model would have given them); 0 where
                      mask is 0.
    entropies:        float32 ``H_t = -sum_v pi(v) log pi(v)`` in nats, temperature 1; 0 where mask is 0.
    sample_log_probs: float32 ``log q(y_t)`` under the distribution the token was actually drawn from:
                      ``softmax(z / tau)`` when sampling, and 0 for greedy decoding and for forced tokens
                      (both are deterministic choices, i.e. a point mass). Use it for importance weights.
    forced:           bool, True where the calculator inserted the token rather than the policy choosing
                      it. Policy-gradient / IRL losses should use ``mask * ~forced`` (see :class:`Calculator`).
    """

    tokens: jax.Array
    mask: jax.Array
    log_probs: jax.Array
    entropies: jax.Array
    sample_log_probs: jax.Array
    forced: jax.Array


class BeamResult(NamedTuple):
    """Best beam per prompt: ``tokens`` [B, L] (pad after EOS) and its length-normalised ``scores`` [B]."""

    tokens: jax.Array
    scores: jax.Array


# --------------------------------------------------------------------------------------------------
# Small pure helpers


def log_softmax_and_entropy(logits: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(log p, H)`` with ``log p = log_softmax(z)`` over the last axis and ``H = -sum p log p`` (nats).

    Terms with p = 0 (logits of -inf) contribute 0, the limit of p log p, instead of 0 * -inf = nan.
    """
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    p = jnp.exp(logp)
    entropy = -jnp.sum(jnp.where(p > 0, p * logp, 0.0), axis=-1)
    return logp, entropy


def length_penalty(length: jax.Array, alpha: float) -> jax.Array:
    """GNMT / t5x length penalty ``lp(n) = ((5 + n) / 6) ** alpha``; a finished score is ``log P / lp(n)``.

    ``n`` counts generated tokens including the EOS; ``alpha = 0`` gives plain log-probabilities.
    """
    return ((5.0 + jnp.asarray(length, jnp.float32)) / 6.0) ** alpha


def _take(values: jax.Array, index: jax.Array) -> jax.Array:
    """``values[..., index]`` row by row: values [N, V], index [N] -> [N]."""
    return jnp.take_along_axis(values, index[:, None], axis=-1)[:, 0]


def _choose(logits: jax.Array, key: jax.Array, temperature: jax.Array, greedy: bool) -> tuple[jax.Array, jax.Array]:
    """Pick one token per row; returns ``(token [N], log q_tau(token) [N])``.

    Greedy is ``argmax z`` and gets ``log q = 0`` (a point mass). Sampling draws from
    ``softmax(z / tau)``, independently per row from one key.
    """
    if greedy:
        token = jnp.argmax(logits, axis=-1).astype(jnp.int32)
        return token, jnp.zeros(token.shape, jnp.float32)
    scaled = logits.astype(jnp.float32) / temperature
    token = jax.random.categorical(key, scaled, axis=-1).astype(jnp.int32)
    return token, _take(jax.nn.log_softmax(scaled, axis=-1), token)


def _tile_rows(tree: Any, k: int, batch: int) -> Any:
    """Repeat every leaf k times along axis 0 (prompt-major: row b*k + j is prompt b's j-th copy).

    base.py promises batch on axis 0 for every state array; a leaf that breaks it would be silently
    mis-tiled, so it is refused here with the contract named.
    """

    def tile(x):
        if x.ndim == 0 or x.shape[0] != batch:
            raise ValueError(
                f"decoding state leaf of shape {x.shape} does not carry the batch ({batch}) on axis 0, "
                "as bench/models/base.py requires of every state array"
            )
        return jnp.repeat(x, k, axis=0) if k > 1 else x

    return jax.tree.map(tile, tree)


# --------------------------------------------------------------------------------------------------
# Calculator in the loop


class Calculator:
    """GSM8k calculator inside the decoding loop.

    Built from a tokenizer-like pair ``decode(ids) -> str`` and ``encode(str) -> ids`` and a bound
    ``max_forced`` on the number of tokens one result may force. ``encode`` must return the ids of the
    string as a continuation: no BOS/EOS, and no word-start marker that the text would not have
    (for SentencePiece, ``encode("12")`` may give '▁12'; wrap it if that is not what the model writes).

    In the loop: when a row has just produced (not been forced) a *trigger* token, i.e. one whose text
    ends with '=', a host callback (``jax.pure_callback``) decodes that row's generated ids so far and asks
    :func:`tasks.calculator.complete`, which answers only if the text ends inside an open ``<<EXPR=``. The
    result's ids (at most ``max_forced``; a longer result is not forced at all, since a truncated number is
    worse than none) go into the row's force queue, which is emptied one token per step in place of sampling.

    Log-probabilities of forced tokens: ``Generation.log_probs`` holds the model's real ``log pi`` of each
    forced token (it is free, since the logits exist anyway, and keeps log_probs consistent with a
    teacher-forced ``forward``), while ``Generation.forced`` marks them. They are the environment's
    (the tool's) output, not the policy's actions, so a policy/IRL loss should mask them out with
    ``mask * ~forced``; counting them would push the policy toward or away from arithmetic it did not do.
    ``sample_log_probs`` is 0 for them (forced with certainty).
    """

    def __init__(
        self,
        decode: Callable[[Sequence[int]], str],
        encode: Callable[[str], Sequence[int]],
        max_forced: int = 8,
        trigger_ids: Sequence[int] | None = None,
    ):
        if max_forced < 1:
            raise ValueError("max_forced must be at least 1")
        self.decode = decode
        self.encode = encode
        self.max_forced = int(max_forced)
        self._trigger_ids = None if trigger_ids is None else tuple(int(i) for i in trigger_ids)
        self._tables: dict[int, np.ndarray] = {}

    @classmethod
    def from_tokenizer(cls, tokenizer, max_forced: int = 8) -> "Calculator":
        """From a ``tokenizers.Tokenizer`` (as bench/models/tokenizers.py builds): special tokens are left
        out of both directions; ``encode`` may return an ``Encoding`` (its ``.ids`` are used) or ids."""

        def decode(ids):
            return tokenizer.decode([int(i) for i in ids], skip_special_tokens=True)

        def encode(text):
            encoded = tokenizer.encode(text, add_special_tokens=False)
            return list(getattr(encoded, "ids", encoded))

        return cls(decode, encode, max_forced)

    def trigger_table(self, vocab_size: int) -> np.ndarray:
        """Bool [V]: ids whose decoded text ends with '=' (derived once per vocabulary size, then cached).

        Ids that ``decode`` cannot handle (e.g. extra padding ids past the tokenizer) are not triggers.
        """
        if vocab_size not in self._tables:
            table = np.zeros(vocab_size, bool)
            if self._trigger_ids is not None:
                table[[i for i in self._trigger_ids if 0 <= i < vocab_size]] = True
            else:
                for i in range(vocab_size):
                    try:
                        table[i] = self.decode([i]).endswith("=")
                    except Exception:  # noqa: BLE001  (any tokenizer failure just means "not a trigger")
                        table[i] = False
            self._tables[vocab_size] = table
        return self._tables[vocab_size]

    def forced_ids(self, tokens: np.ndarray, t: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Host side: for each row in ``rows``, the ids to force after ``tokens[row, :t + 1]``.

        Returns ``(ids [N, max_forced] int32 zero-padded, counts [N] int32)``; count 0 means nothing.
        """
        tokens, rows, t = np.asarray(tokens), np.asarray(rows), int(t)
        ids = np.zeros((tokens.shape[0], self.max_forced), np.int32)
        counts = np.zeros(tokens.shape[0], np.int32)
        for r in np.flatnonzero(rows):
            result = complete(self.decode([int(i) for i in tokens[r, : t + 1]]))
            if result is None:
                continue
            encoded = [int(i) for i in self.encode(result)]
            if 0 < len(encoded) <= self.max_forced:
                ids[r, : len(encoded)] = encoded
                counts[r] = len(encoded)
        return ids, counts

    def in_jit(self, tokens: jax.Array, t: jax.Array, rows: jax.Array) -> tuple[jax.Array, jax.Array]:
        """:meth:`forced_ids` from inside jit; the host is called only when some row triggered."""
        n = tokens.shape[0]
        shapes = (jax.ShapeDtypeStruct((n, self.max_forced), jnp.int32), jax.ShapeDtypeStruct((n,), jnp.int32))

        def call(_):
            return jax.pure_callback(self.forced_ids, shapes, tokens, t, rows)

        def nothing(_):
            return jnp.zeros(shapes[0].shape, jnp.int32), jnp.zeros(shapes[1].shape, jnp.int32)

        return jax.lax.cond(jnp.any(rows), call, nothing, None)


# --------------------------------------------------------------------------------------------------
# The sampling loop shared by cached and uncached decoding


class _Carry(NamedTuple):
    t: jax.Array  # next generated position to fill
    out: Generation
    done: jax.Array  # [N] bool: EOS already produced
    queue: jax.Array  # [N, F] forced ids (calculator); F = 1 and unused without one
    q_len: jax.Array  # [N]
    q_pos: jax.Array  # [N]
    model: Any  # model state (cached) or None (uncached)


def _empty_generation(n: int, length: int, pad_id: int) -> Generation:
    zeros = jnp.zeros((n, length), jnp.float32)
    return Generation(
        tokens=jnp.full((n, length), pad_id, jnp.int32),
        mask=jnp.zeros((n, length), jnp.int32),
        log_probs=zeros,
        entropies=zeros,
        sample_log_probs=zeros,
        forced=jnp.zeros((n, length), bool),
    )


def _select(c: _Carry, logits, *, rng, temperature, greedy, eos_id, pad_id, calculator, triggers) -> _Carry:
    """Choose the token of position ``c.t`` from its logits, record it, advance ``t``."""
    t = c.t
    logp, entropy = log_softmax_and_entropy(logits)
    key = jax.random.fold_in(rng, t) if rng is not None else None
    token, sample_lp = _choose(logits, key, temperature, greedy)

    live = ~c.done
    from_queue = live & (c.q_pos < c.q_len)
    queued = _take(c.queue, jnp.minimum(c.q_pos, c.queue.shape[1] - 1))
    token = jnp.where(from_queue, queued, token)
    token = jnp.where(live, token, pad_id)

    def put(buffer, value):
        return buffer.at[:, t].set(value)

    out = c.out
    out = Generation(
        tokens=put(out.tokens, token),
        mask=put(out.mask, live.astype(jnp.int32)),
        log_probs=put(out.log_probs, jnp.where(live, _take(logp, token), 0.0)),
        entropies=put(out.entropies, jnp.where(live, entropy, 0.0)),
        sample_log_probs=put(out.sample_log_probs, jnp.where(live & ~from_queue, sample_lp, 0.0)),
        forced=put(out.forced, from_queue),
    )
    queue, q_len, q_pos = c.queue, c.q_len, c.q_pos + from_queue.astype(jnp.int32)
    if calculator is not None:
        # Only a token the policy chose can open a calculation; forced digits never contain '='.
        fire = live & ~from_queue & triggers[token]
        new_ids, new_len = calculator.in_jit(out.tokens, t, fire)
        queue = jnp.where(fire[:, None], new_ids, queue)
        q_len = jnp.where(fire, new_len, q_len)
        q_pos = jnp.where(fire, 0, q_pos)
    done = c.done | (live & (token == eos_id))
    return c._replace(t=t + 1, out=out, done=done, queue=queue, q_len=q_len, q_pos=q_pos)


def _sample_loop(first_logits, advance, model_carry, *, max_new, rng, temperature, greedy, eos_id, pad_id, calculator):
    """Decode ``max_new`` positions. ``advance(model_carry, tokens, token, t) -> (logits_{t+1}, model_carry)``
    feeds the token of position t; position 0 uses ``first_logits``. ``advance`` is called max_new - 1 times
    at most, never for a position that is not decoded."""
    n, vocab_size = first_logits.shape
    forced_width = calculator.max_forced if calculator is not None else 1
    triggers = jnp.asarray(calculator.trigger_table(vocab_size)) if calculator is not None else None
    select = lambda c, logits: _select(  # noqa: E731
        c, logits, rng=rng, temperature=temperature, greedy=greedy, eos_id=eos_id, pad_id=pad_id,
        calculator=calculator, triggers=triggers,
    )
    carry = _Carry(
        t=jnp.asarray(0, jnp.int32),
        out=_empty_generation(n, max_new, pad_id),
        done=jnp.zeros((n,), bool),
        queue=jnp.zeros((n, forced_width), jnp.int32),
        q_len=jnp.zeros((n,), jnp.int32),
        q_pos=jnp.zeros((n,), jnp.int32),
        model=model_carry,
    )
    carry = select(carry, first_logits)

    def keep_going(c):
        return (c.t < max_new) & ~jnp.all(c.done)

    def body(c):
        prev = c.t - 1
        logits, model = advance(c.model, c.out.tokens, c.out.tokens[:, prev], prev)
        return select(c._replace(model=model), logits)

    return jax.lax.while_loop(keep_going, body, carry).out


# --------------------------------------------------------------------------------------------------
# jit cache. Models are plain Python objects: equal hashable models (e.g. frozen dataclasses with the
# same config) share compiled functions; an unhashable one is keyed by identity and kept referenced
# in the entry, so its id cannot be reused by another object while the entry lives.

_JIT_CACHE: OrderedDict[tuple, tuple[Any, Callable]] = OrderedDict()
_JIT_CACHE_SIZE = 64
_JIT_LOCK = threading.Lock()


def _jitted(kind: str, model, static: tuple, build: Callable[[], Callable]) -> Callable:
    try:
        hash(model)
        ident = model
    except TypeError:
        ident = ("id", id(model))
    key = (kind, ident, static)
    with _JIT_LOCK:
        hit = _JIT_CACHE.get(key)
        if hit is None or (ident is not model and hit[0] is not model):
            hit = (model, jax.jit(build()))
            _JIT_CACHE[key] = hit
            while len(_JIT_CACHE) > _JIT_CACHE_SIZE:
                _JIT_CACHE.popitem(last=False)
        _JIT_CACHE.move_to_end(key)
        return hit[1]


def _check(max_new: int, num_samples: int, greedy: bool, rng, temperature) -> bool:
    """Validate options; returns whether decoding is greedy (temperature 0 means greedy)."""
    if max_new < 1:
        raise ValueError("max_new must be at least 1")
    if num_samples < 1:
        raise ValueError("num_samples must be at least 1")
    greedy = bool(greedy) or (isinstance(temperature, (int, float)) and temperature == 0)
    if not greedy and rng is None:
        raise ValueError("sampling needs an rng key (or pass greedy=True)")
    return greedy


# --------------------------------------------------------------------------------------------------
# Public API


def generate(
    model,
    params,
    prompt: jax.Array,
    prompt_mask: jax.Array,
    *,
    max_new: int,
    rng: jax.Array | None = None,
    temperature: float = 1.0,
    greedy: bool = False,
    num_samples: int = 1,
    calculator: Calculator | None = None,
) -> Generation:
    """Sample (or greedily decode) ``num_samples`` continuations per prompt with the model's KV cache.

    ``prompt``/``prompt_mask`` are [B, P]; the result has N = B * num_samples rows, rows b*k .. b*k+k-1
    for prompt b. Token t of a row is drawn from ``softmax(z_t / temperature)`` with key
    ``fold_in(rng, t)`` (or ``argmax z_t`` when ``greedy`` or ``temperature == 0``), unless the
    calculator forces it. After EOS a row emits pad with mask 0; decoding stops when all rows are done.
    ``temperature`` is traced, so changing it does not recompile.
    """
    return _decode(
        "generate", _cached_start, model, params, prompt, prompt_mask, max_new=max_new, rng=rng,
        temperature=temperature, greedy=greedy, num_samples=num_samples, calculator=calculator,
    )


def generate_uncached(model, params, prompt: jax.Array, prompt_mask: jax.Array, **options) -> Generation:
    """Reference decoding without a cache, with the options of :func:`generate`: at each step
    ``forward`` runs on the prompt and the whole fixed-size [N, L] target buffer and the logits of the
    next position are read off.

    Same options, same loop, same random keys as :func:`generate`, so on the same inputs they agree up
    to floating-point rounding of the logits. Costs O(L) forward passes of length L instead of one
    prefill and L single-token steps; it exists to test the cache and to measure its speed-up.
    The target mask marks positions 0..t+1 as real when reading position t+1 (later ones are hidden by
    causality anyway; marking the read position itself keeps models that mask queries honest).
    """
    return _decode("uncached", _uncached_start, model, params, prompt, prompt_mask, **options)


def _cached_start(model, params, prompt, prompt_mask, max_new: int, num_samples: int):
    """Prefill once and tile the state: the prompt is processed B times rather than B * k."""
    logits, state = model.prefill(params, prompt, prompt_mask, max_new)
    logits, state = _tile_rows((logits, state), num_samples, prompt.shape[0])

    def advance(state, tokens, token, t):
        return model.step(params, state, token, t)

    return logits, advance, state


def _uncached_start(model, params, prompt, prompt_mask, max_new: int, num_samples: int):
    """Repeat the prompts k times; every step recomputes ``forward`` over the whole target buffer."""
    prompt = jnp.repeat(prompt, num_samples, axis=0)
    prompt_mask = jnp.repeat(prompt_mask, num_samples, axis=0)
    positions = jnp.arange(max_new)

    def logits_at(tokens, t):
        target_mask = jnp.broadcast_to(positions <= t, tokens.shape).astype(jnp.int32)
        logits = model.forward(params, prompt, prompt_mask, tokens, target_mask)
        return jax.lax.dynamic_index_in_dim(logits, t, axis=1, keepdims=False)

    first = logits_at(jnp.full((prompt.shape[0], max_new), model.pad_id, jnp.int32), 0)

    def advance(_, tokens, token, t):
        return logits_at(tokens, t + 1), None

    return first, advance, None


def _decode(
    kind: str, start: Callable, model, params, prompt, prompt_mask, *, max_new: int, rng=None,
    temperature: float = 1.0, greedy: bool = False, num_samples: int = 1, calculator: Calculator | None = None,
) -> Generation:
    """The shared driver: check options, build (once per model and settings) and run the jitted loop."""
    greedy = _check(max_new, num_samples, greedy, rng, temperature)
    # The calculator is part of the key (hashed by identity) so that it stays alive with its function.
    static = (int(max_new), greedy, int(num_samples), calculator)

    def build():
        def run(params, prompt, prompt_mask, rng, temperature):
            first, advance, state = start(model, params, prompt, prompt_mask, max_new, num_samples)
            return _sample_loop(
                first, advance, state, max_new=max_new, rng=rng, temperature=temperature, greedy=greedy,
                eos_id=model.eos_id, pad_id=model.pad_id, calculator=calculator,
            )

        return run

    fn = _jitted(kind, model, static, build)
    return fn(params, jnp.asarray(prompt, jnp.int32), jnp.asarray(prompt_mask, jnp.int32), rng, jnp.float32(temperature))


# --------------------------------------------------------------------------------------------------
# Beam search


class _Beams(NamedTuple):
    t: jax.Array
    alive_seq: jax.Array  # [B, K, L]
    alive_logp: jax.Array  # [B, K] summed log-probabilities
    fin_seq: jax.Array  # [B, K, L]
    fin_score: jax.Array  # [B, K] log P / lp(length); _NEG in empty slots
    fin_flag: jax.Array  # [B, K] slot holds a finished hypothesis
    model: Any  # state with B * K rows, already ordered like alive_seq


def _gather_beams(x: jax.Array, index: jax.Array) -> jax.Array:
    """``x[b, index[b, j]]`` for x [B, M, ...] and index [B, J] -> [B, J, ...]."""
    return jax.vmap(lambda row, idx: row[idx])(x, index)


def _beam_select(c: _Beams, logits, *, beam_size, alpha, eos_id):
    """One beam step at position t: expand, keep the K best alive, merge new EOS hypotheses into finished.

    Candidates are the top 2K of ``alive_logp + log pi`` over (beam, token): at most K of them end in
    EOS (one EOS per beam), so at least K remain to stay alive. A hypothesis ending in EOS at position t
    has length n = t + 1 and score ``log P / lp(n)``. A prompt stops accepting hypotheses once it has K
    finished ones (see :func:`beam_search`). Returns the new beams and the flat parent index [B*K].
    """
    t = c.t
    batch, k, _ = c.alive_seq.shape
    logp, _ = log_softmax_and_entropy(logits)
    vocab = logp.shape[-1]
    cand = (c.alive_logp[:, :, None] + logp.reshape(batch, k, vocab)).reshape(batch, k * vocab)
    top_logp, top_index = jax.lax.top_k(cand, 2 * k)
    parent, token = top_index // vocab, (top_index % vocab).astype(jnp.int32)
    seqs = _gather_beams(c.alive_seq, parent).at[:, :, t].set(token)  # [B, 2K, L]
    is_eos = token == eos_id

    # Alive: the K best candidates that did not end.
    alive_logp, pick = jax.lax.top_k(jnp.where(is_eos, _NEG, top_logp), k)
    alive_seq = _gather_beams(seqs, pick)
    alive_parent = jnp.take_along_axis(parent, pick, axis=1)

    # Finished: merge the old K with the new EOS hypotheses, keep the K best scores.
    accepting = ~jnp.all(c.fin_flag, axis=1, keepdims=True)
    new_flag = is_eos & accepting & (top_logp > _NEG / 2)
    new_score = jnp.where(new_flag, top_logp / length_penalty(t + 1, alpha), _NEG)
    fin_score, pick = jax.lax.top_k(jnp.concatenate([c.fin_score, new_score], axis=1), k)
    fin_seq = _gather_beams(jnp.concatenate([c.fin_seq, seqs], axis=1), pick)
    fin_flag = jnp.take_along_axis(jnp.concatenate([c.fin_flag, new_flag], axis=1), pick, axis=1)

    flat_parent = (jnp.arange(batch)[:, None] * k + alive_parent).reshape(-1)
    beams = c._replace(t=t + 1, alive_seq=alive_seq, alive_logp=alive_logp, fin_seq=fin_seq, fin_score=fin_score, fin_flag=fin_flag)
    return beams, flat_parent


def beam_search(model, params, prompt: jax.Array, prompt_mask: jax.Array, *, max_new: int, beam_size: int = 4, alpha: float = 0.6) -> BeamResult:
    """Beam search with the GNMT length penalty; returns the best hypothesis per prompt.

    Score of a finished hypothesis y with n tokens (EOS included): ``sum_t log pi(y_t | y_<t) / lp(n)``,
    ``lp(n) = ((5 + n) / 6) ** alpha`` (t5x / GNMT). Alive and finished beams are kept apart (t5x style).

    Stopping: a prompt is done once it holds ``beam_size`` finished hypotheses (the rule of fairseq and
    of Hugging Face's ``early_stopping=True``); the loop ends when all prompts are done or at ``max_new``.
    t5x instead goes on while an alive beam could still beat the worst finished one under the largest
    penalty ``lp(max_new)``; with alpha > 0 that can replace greedy's hypothesis by a longer one even at
    beam size 1, whereas this rule makes beam size 1 exactly greedy decoding. A prompt with no finished
    hypothesis at ``max_new`` returns its best alive beam scored ``log P / lp(max_new)``.

    The model state is prefilled once for B prompts, tiled to B * beam_size rows, and reordered after
    every step with one gather along axis 0.
    """
    if max_new < 1 or beam_size < 1:
        raise ValueError("max_new and beam_size must be at least 1")
    k = int(beam_size)

    def build():
        def run(params, prompt, prompt_mask, alpha):
            batch = prompt.shape[0]
            logits, state = model.prefill(params, prompt, prompt_mask, max_new)
            logits, state = _tile_rows((logits, state), k, batch)
            empty = jnp.full((batch, k, max_new), model.pad_id, jnp.int32)
            # Only beam 0 is live at the start, so the first expansion does not yield K copies of one token.
            start_logp = jnp.tile(jnp.where(jnp.arange(k) == 0, 0.0, _NEG), (batch, 1)).astype(jnp.float32)
            beams = _Beams(
                t=jnp.asarray(0, jnp.int32), alive_seq=empty, alive_logp=start_logp, fin_seq=empty,
                fin_score=jnp.full((batch, k), _NEG, jnp.float32), fin_flag=jnp.zeros((batch, k), bool), model=state,
            )
            select = lambda c, logits: _beam_select(c, logits, beam_size=k, alpha=alpha, eos_id=model.eos_id)  # noqa: E731

            def reorder(c, parent):
                return c._replace(model=jax.tree.map(lambda x: x[parent], c.model))

            beams = reorder(*select(beams, logits))

            def keep_going(c):
                return (c.t < max_new) & ~jnp.all(c.fin_flag)

            def body(c):
                prev = c.t - 1
                tokens = c.alive_seq[:, :, prev].reshape(-1)
                logits, state = model.step(params, c.model, tokens, prev)
                return reorder(*select(c._replace(model=state), logits))

            beams = jax.lax.while_loop(keep_going, body, beams)
            has_finished = jnp.any(beams.fin_flag, axis=1)
            best = jnp.argmax(beams.fin_score, axis=1)  # fin_score is sorted, but be explicit
            fin_tokens = _gather_beams(beams.fin_seq, best[:, None])[:, 0]
            fin_score = jnp.take_along_axis(beams.fin_score, best[:, None], axis=1)[:, 0]
            alive_score = beams.alive_logp[:, 0] / length_penalty(max_new, alpha)
            tokens = jnp.where(has_finished[:, None], fin_tokens, beams.alive_seq[:, 0])
            return BeamResult(tokens, jnp.where(has_finished, fin_score, alive_score))

        return run

    fn = _jitted("beam", model, (int(max_new), k), build)
    return fn(params, jnp.asarray(prompt, jnp.int32), jnp.asarray(prompt_mask, jnp.int32), jnp.float32(alpha))
