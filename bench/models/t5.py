"""T5 encoder-decoder in Flax (linen), with the exact semantics of Hugging Face's T5, behind the
``bench.models.base.LanguageModel`` contract.

Architecture (Raffel et al. 2020; "v1.1" as in the t5x / HF checkpoints):

- One token embedding ``shared`` [V, D] feeds both stacks; embeddings are not scaled.
- Each stack is ``num_layers`` pre-norm residual blocks, ``x = x + f(norm(x))``, then a final norm.
  Encoder block: self-attention, feed-forward. Decoder block: causal self-attention,
  cross-attention over the encoder output, feed-forward.
- The norm is RMS norm without mean subtraction and without bias:
  ``y = w * x / sqrt(mean(x^2) + eps)``, the mean taken in float32.
- Attention scores are ``q . k + bias`` with *no* ``1/sqrt(d_kv)`` scaling (T5 folds it into the
  initialisation of ``q``). ``bias`` is a learned scalar per head and relative-position bucket,
  held by the first layer of each stack and shared by all of that stack's layers; the encoder's
  buckets are bidirectional, the decoder's causal. Cross-attention has no position bias.
- Feed-forward: v1.0 ``wo(relu(wi x))``; v1.1 ``wo(gelu_tanh(wi_0 x) * wi_1 x)`` (HF's gelu_new).
- Output: v1.0 ties the output matrix to ``shared`` and scales the decoder output by
  ``D ** -0.5`` first; v1.1 has a separate ``lm_head`` and no scaling.
- Each stack runs its layers under ``nn.scan``: the parameters of a stack's layers are stacked on a
  leading axis (``encoder/layers/self_attention/q/kernel`` is [num_layers, D, H * d_kv]) and XLA
  compiles one layer body per stack, so compile time does not grow with depth. The relative bias
  is computed once per stack, outside the scan, and passed to every layer. ``T5Config.remat``
  rematerialises each layer in the backward pass by a ``REMAT_POLICIES`` policy (default none).
- Dropout is omitted: every function here is deterministic. (The T5 papers fine-tune with dropout
  0.1; a trainer that wants it must add it, e.g. as a ``dropout_rate`` field and an rng argument.)

Positions: tokens are numbered by ``cumsum(mask) - 1`` (base.py), so padding anywhere in the
prompt leaves the real tokens' outputs unchanged. Hugging Face numbers by index instead; the two
agree whenever padding sits at the end, which is how the parity tests compare them.

Precision: ``init`` and ``from_hf`` give float32 parameters (base.py). ``T5Config.dtype`` is the
compute dtype: parameters are cast to it where they are used (``T5.cast`` stores them in it once,
halving memory), activations and caches live in it, while the norm's variance, attention
scores/softmax and the returned logits are float32.

Cached decoding: ``prefill`` encodes the prompt, projects every decoder layer's cross-attention
keys/values once, and runs the decoder on ``decoder_start_id`` at slot 0 of a self-attention
cache with ``max_new + 1`` slots. ``step(token, t)`` writes the token generated at position t into
slot ``t + 1`` (its decoder position) and attends to slots ``<= t + 1``. Slot = decoder position,
so the relative bias of the single query is the same row the full computation would use. The
cache holds every layer's slots in one array per keys and values, [B, layers, slots, H, d_kv]
(batch first, as base.py requires); the scan carries it and layer l writes and reads row l.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from bench.models.base import ConfiguredModel
from bench.registry import MODELS, BenchError

Params = Any
State = Any

F32 = jnp.float32
NEG = float(np.finfo(np.float32).min)  # masked scores: exp(NEG - max) is exactly 0 and no sum of two overflows


# --------------------------------------------------------------------------------------------- config

# What each layer keeps for the backward pass (``jax.checkpoint`` policies); the rest is recomputed from the
# layer's input during the backward pass, trading compute for activation memory.
REMAT_POLICIES = {
    "none": None,  # no rematerialisation: everything the backward pass needs is kept
    "full": jax.checkpoint_policies.nothing_saveable,  # only the layer's input: the layer runs twice
    "dots": jax.checkpoint_policies.dots_saveable,  # every matmul output; norms, softmax and activations recomputed
    "dots_no_batch": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,  # the weight projections, not q.k or p.v
}


@dataclass(frozen=True)
class T5Config:
    """Shapes and conventions of one T5 model (HF field names where they exist)."""

    vocab_size: int = 32128
    d_model: int = 512
    d_kv: int = 64
    d_ff: int = 2048
    num_layers: int = 6
    num_decoder_layers: int = 6
    num_heads: int = 8
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    feed_forward: str = "relu"  # "relu" (v1.0) or "gated-gelu" (v1.1, gelu with tanh approximation)
    tie_word_embeddings: bool = True  # v1.0: output = shared^T (D ** -0.5 h); v1.1: separate lm_head
    layer_norm_epsilon: float = 1e-6
    pad_id: int = 0
    eos_id: int = 1
    decoder_start_id: int = 0
    dtype: str = "float32"  # compute dtype: "float32" or "bfloat16"
    remat: str = "none"  # per-layer rematerialisation policy, a key of REMAT_POLICIES

    def __post_init__(self):
        if self.feed_forward not in ("relu", "gated-gelu"):
            raise ValueError(f"feed_forward must be 'relu' or 'gated-gelu', not {self.feed_forward!r}")
        if self.dtype not in ("float32", "bfloat16"):
            raise ValueError(f"dtype must be 'float32' or 'bfloat16', not {self.dtype!r}")
        if self.remat not in REMAT_POLICIES:
            raise BenchError(f"model option remat={self.remat!r} is not a rematerialisation policy; use one of {', '.join(REMAT_POLICIES)}.")

    @property
    def gated(self) -> bool:
        return self.feed_forward == "gated-gelu"

    @property
    def compute_dtype(self):
        return jnp.dtype(self.dtype)

    @property
    def inner_dim(self) -> int:
        return self.num_heads * self.d_kv


def config_from_hf(hf: dict, **overrides: Any) -> T5Config:
    """A ``T5Config`` from a Hugging Face ``config.json`` dict.

    transformers 5 writes ``tie_word_embeddings: true`` for every T5 and keeps the v1.0/v1.1
    distinction in ``scale_decoder_outputs``; older files only have ``tie_word_embeddings``.
    """
    tied = hf.get("scale_decoder_outputs", hf.get("tie_word_embeddings", True))
    fields = dict(
        vocab_size=hf["vocab_size"], d_model=hf["d_model"], d_kv=hf["d_kv"], d_ff=hf["d_ff"],
        num_layers=hf["num_layers"], num_decoder_layers=hf.get("num_decoder_layers") or hf["num_layers"],
        num_heads=hf["num_heads"],
        relative_attention_num_buckets=hf.get("relative_attention_num_buckets", 32),
        relative_attention_max_distance=hf.get("relative_attention_max_distance", 128),
        feed_forward=hf.get("feed_forward_proj", "relu"), tie_word_embeddings=bool(tied),
        layer_norm_epsilon=hf.get("layer_norm_epsilon", 1e-6), pad_id=hf.get("pad_token_id", 0),
        eos_id=hf.get("eos_token_id", 1), decoder_start_id=hf.get("decoder_start_token_id", 0),
    )
    fields.update(overrides)
    return T5Config(**fields)


# ------------------------------------------------------------------------------ relative positions


def relative_bucket(relative: jax.Array, bidirectional: bool, num_buckets: int, max_distance: int) -> jax.Array:
    """The bucket of each relative position ``key_position - query_position``.

    Bidirectional (encoder): half the buckets for keys at or before the query, half for keys after.
    Causal (decoder): keys after the query all fall in bucket 0 (they are masked anyway).
    Within a half of ``n`` buckets, distances ``d < n/2`` get their own bucket and larger ones
    share log-spaced buckets up to ``max_distance``:
    ``n/2 + floor(log(d / (n/2)) / log(max_distance / (n/2)) * (n - n/2))``, capped at ``n - 1``.
    The float32 operations follow Mesh TensorFlow's order so distances on a boundary land where
    the published checkpoints saw them (tests compare every distance with the reference).
    """
    relative = relative.astype(jnp.int32)
    if bidirectional:
        num_buckets //= 2
        offset = jnp.where(relative > 0, num_buckets, 0)
        distance = jnp.abs(relative)
    else:
        offset = 0
        distance = jnp.maximum(-relative, 0)
    max_exact = num_buckets // 2
    # max(d, 1) keeps log finite; those d < max_exact take the exact branch anyway
    ratio = jnp.log(jnp.maximum(distance, 1).astype(F32) / max_exact) / np.float32(math.log(max_distance / max_exact))
    large = jnp.minimum(max_exact + (ratio * (num_buckets - max_exact)).astype(jnp.int32), num_buckets - 1)
    return offset + jnp.where(distance < max_exact, distance, large)


def token_positions(mask: jax.Array) -> jax.Array:
    """Position of each token among the real ones, ``cumsum(mask) - 1`` (padding repeats its left neighbour)."""
    return jnp.cumsum(mask.astype(jnp.int32), axis=-1) - 1


# ------------------------------------------------------------------------------------------ layers


def _normal(std: float):
    """T5's initialisation: N(0, std^2) per matrix (``q`` gets the 1/sqrt(d_kv) that attention omits)."""
    return nn.initializers.normal(stddev=std)


def _dense(config: T5Config, features: int, std: float) -> nn.Dense:
    return nn.Dense(features, use_bias=False, dtype=config.compute_dtype, param_dtype=F32, kernel_init=_normal(std))


class RMSNorm(nn.Module):
    """``y = scale * x / sqrt(mean(x^2) + eps)``: no mean subtraction, no bias, statistics in float32."""

    config: T5Config

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        scale = self.param("scale", nn.initializers.ones, (x.shape[-1],), F32)
        x32 = x.astype(F32)
        normed = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.config.layer_norm_epsilon)
        dtype = self.config.compute_dtype
        return normed.astype(dtype) * scale.astype(dtype)


class RelativeBias(nn.Module):
    """Learned bias per (bucket, head); returns ``bias[b, h, q, k]`` in float32."""

    config: T5Config
    bidirectional: bool

    @nn.compact
    def __call__(self, query_positions: jax.Array, key_positions: jax.Array) -> jax.Array:
        c = self.config
        table = self.param("embedding", _normal(c.d_model**-0.5), (c.relative_attention_num_buckets, c.num_heads), F32)
        relative = key_positions[:, None, :] - query_positions[:, :, None]
        buckets = relative_bucket(relative, self.bidirectional, c.relative_attention_num_buckets, c.relative_attention_max_distance)
        return jnp.transpose(table.astype(F32)[buckets], (0, 3, 1, 2))


class Attention(nn.Module):
    """Multi-head attention without score scaling: ``softmax(q k^T + bias, masked) v`` then ``o``."""

    config: T5Config

    def setup(self):
        c = self.config
        self.q = _dense(c, c.inner_dim, (c.d_model * c.d_kv) ** -0.5)
        self.k = _dense(c, c.inner_dim, c.d_model**-0.5)
        self.v = _dense(c, c.inner_dim, c.d_model**-0.5)
        self.o = _dense(c, c.d_model, c.inner_dim**-0.5)

    def _heads(self, x: jax.Array) -> jax.Array:
        return x.reshape(x.shape[:-1] + (self.config.num_heads, self.config.d_kv))

    def keys_values(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Keys and values [B, S, H, d_kv] of ``x`` [B, S, D] (cached for cross-attention and decoding)."""
        return self._heads(self.k(x)), self._heads(self.v(x))

    def __call__(self, x: jax.Array, keys: jax.Array, values: jax.Array, bias: jax.Array | float, mask: jax.Array) -> jax.Array:
        """``x`` [B, Q, D] attends over ``keys``/``values`` [B, K, H, d_kv]; ``mask`` broadcasts to [B, H, Q, K]."""
        q = self._heads(self.q(x))
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, keys, preferred_element_type=F32) + bias
        probs = jax.nn.softmax(jnp.where(mask, scores, NEG), axis=-1).astype(values.dtype)
        out = jnp.einsum("bhqk,bkhd->bqhd", probs, values)
        return self.o(out.reshape(out.shape[:2] + (-1,)))


class FeedForward(nn.Module):
    """v1.0: ``wo(relu(wi x))``; v1.1: ``wo(gelu_tanh(wi_0 x) * wi_1 x)``."""

    config: T5Config

    def setup(self):
        c = self.config
        if c.gated:
            self.wi_0 = _dense(c, c.d_ff, c.d_model**-0.5)
            self.wi_1 = _dense(c, c.d_ff, c.d_model**-0.5)
        else:
            self.wi = _dense(c, c.d_ff, c.d_model**-0.5)
        self.wo = _dense(c, c.d_model, c.d_ff**-0.5)

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.config.gated:
            hidden = jax.nn.gelu(self.wi_0(x), approximate=True) * self.wi_1(x)
        else:
            hidden = jax.nn.relu(self.wi(x))
        return self.wo(hidden)


class EncoderLayer(nn.Module):
    """One encoder block as a scan body: ``(x, None) = layer(x, bias, mask)``."""

    config: T5Config

    def setup(self):
        self.self_attention_norm = RMSNorm(self.config)
        self.self_attention = Attention(self.config)
        self.mlp_norm = RMSNorm(self.config)
        self.mlp = FeedForward(self.config)

    def __call__(self, x: jax.Array, bias: jax.Array, mask: jax.Array) -> tuple[jax.Array, None]:
        h = self.self_attention_norm(x)
        x = x + self.self_attention(h, *self.self_attention.keys_values(h), bias, mask)
        return x + self.mlp(self.mlp_norm(x)), None


class DecoderLayer(nn.Module):
    """One decoder block as a scan body over layer numbers; the carry is (x, cache or None).

    ``memory`` is either the encoder output [B, P, D], whose cross-attention keys/values the layer
    projects itself (and returns as its scan output when ``return_cross``, so that ``prefill`` collects
    every layer's), or those keys/values already projected for every layer, a pair [B, layers, P, H, d_kv].
    ``cache`` is None (self-attention over ``x`` itself) or (keys, values) [B, layers, S, H, d_kv]: the
    new keys/values are written at slot ``slot`` of layer ``layer`` and attention runs over all S slots.
    """

    config: T5Config
    return_cross: bool = False

    def setup(self):
        self.self_attention_norm = RMSNorm(self.config)
        self.self_attention = Attention(self.config)
        self.cross_attention_norm = RMSNorm(self.config)
        self.cross_attention = Attention(self.config)
        self.mlp_norm = RMSNorm(self.config)
        self.mlp = FeedForward(self.config)

    def __call__(self, carry, layer, bias, mask, memory, memory_mask, slot):
        x, cache = carry
        h = self.self_attention_norm(x)
        keys, values = self.self_attention.keys_values(h)
        if cache is not None:
            start = (0, layer, slot, 0, 0)
            cache = tuple(jax.lax.dynamic_update_slice(c, new[:, None].astype(c.dtype), start) for c, new in zip(cache, (keys, values)))
            keys, values = (jax.lax.dynamic_index_in_dim(c, layer, axis=1, keepdims=False) for c in cache)
        x = x + self.self_attention(h, keys, values, bias, mask)
        if isinstance(memory, tuple):
            cross = tuple(jax.lax.dynamic_index_in_dim(m, layer, axis=1, keepdims=False) for m in memory)
        else:
            cross = self.cross_attention.keys_values(memory)
        x = x + self.cross_attention(self.cross_attention_norm(x), *cross, 0.0, memory_mask)
        return (x + self.mlp(self.mlp_norm(x)), cache), (cross if self.return_cross else None)


def scanned(layer: type[nn.Module], config: T5Config, length: int, in_axes: tuple) -> type[nn.Module]:
    """``layer`` applied ``length`` times under ``nn.scan``: one traced (and compiled) body whatever the depth,
    its parameters stacked on a leading layer axis; rematerialised per layer by ``config.remat``'s policy
    (``prevent_cse=False`` is safe under scan, which already keeps XLA from merging the recomputation away)."""
    if config.remat != "none":
        layer = nn.remat(layer, policy=REMAT_POLICIES[config.remat], prevent_cse=False)
    return nn.scan(layer, variable_axes={"params": 0}, split_rngs={"params": True}, in_axes=in_axes, length=length)


class Encoder(nn.Module):
    config: T5Config

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        """``x`` [B, P, D] embedded prompt; every token attends to every real token."""
        c = self.config
        positions = token_positions(mask)
        bias = RelativeBias(c, bidirectional=True, name="relative_bias")(positions, positions)  # once, shared by every layer
        key_mask = mask.astype(bool)[:, None, None, :]
        layers = scanned(EncoderLayer, c, c.num_layers, (nn.broadcast, nn.broadcast))(c, name="layers")
        x, _ = layers(x, bias, key_mask)
        return RMSNorm(c, name="final_norm")(x)


class Decoder(nn.Module):
    config: T5Config

    @nn.compact
    def __call__(self, x, query_positions, key_positions, mask, memory, memory_mask, cache=None, slot=None):
        """The decoder stack (``DecoderLayer`` for ``memory``, ``cache`` and ``slot``); returns the normed output,
        the updated cache and, when ``memory`` is the encoder output, every layer's cross-attention keys/values
        [layers, B, P, H, d_kv] (None otherwise)."""
        c = self.config
        bias = RelativeBias(c, bidirectional=False, name="relative_bias")(query_positions, key_positions)  # once, shared
        memory_mask = memory_mask.astype(bool)[:, None, None, :]
        in_axes = (0,) + (nn.broadcast,) * 5
        return_cross = not isinstance(memory, tuple)
        layers = scanned(DecoderLayer, c, c.num_decoder_layers, in_axes)(c, return_cross, name="layers")
        (x, cache), cross = layers((x, cache), jnp.arange(c.num_decoder_layers), bias, mask, memory, memory_mask, slot)
        return RMSNorm(c, name="final_norm")(x), cache, cross


class T5Module(nn.Module):
    """The network; ``T5`` below wraps it in the harness contract."""

    config: T5Config

    def setup(self):
        c = self.config
        self.shared = nn.Embed(c.vocab_size, c.d_model, dtype=c.compute_dtype, param_dtype=F32, embedding_init=_normal(1.0))
        self.encoder = Encoder(c)
        self.decoder = Decoder(c)
        if not c.tie_word_embeddings:
            self.lm_head = self.param("lm_head", _normal(1.0), (c.d_model, c.vocab_size), F32)

    def encode(self, prompt: jax.Array, prompt_mask: jax.Array) -> jax.Array:
        return self.encoder(self.shared(prompt), prompt_mask)

    def logits(self, hidden: jax.Array) -> jax.Array:
        """float32 logits of the decoder output (tied: ``shared^T (D ** -0.5 h)``; untied: ``lm_head^T h``)."""
        c = self.config
        if c.tie_word_embeddings:
            hidden = hidden * jnp.asarray(c.d_model**-0.5, hidden.dtype)
            return jnp.einsum("...d,vd->...v", hidden, self.shared.embedding.astype(hidden.dtype), preferred_element_type=F32)
        return jnp.einsum("...d,dv->...v", hidden, self.lm_head.astype(hidden.dtype), preferred_element_type=F32)

    def projection(self, hidden: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(h, W) with ``logits(hidden) == einsum("...d,dv->...v", h, W)`` (float32 accumulation): h is the decoder
        output (tied: times ``D ** -0.5``) in the compute dtype, W [D, V] the output matrix in the compute dtype."""
        c = self.config
        if c.tie_word_embeddings:
            return hidden * jnp.asarray(c.d_model**-0.5, hidden.dtype), self.shared.embedding.astype(hidden.dtype).T
        return hidden, self.lm_head.astype(hidden.dtype)

    def decoder_hidden(self, prompt, prompt_mask, decoder_input, decoder_mask):
        """Teacher forcing up to the final norm: the decoder output [B, T, D] at every decoder position."""
        encoded = self.encode(prompt, prompt_mask)
        positions = token_positions(decoder_mask)
        length = decoder_input.shape[1]
        causal = jnp.arange(length)[None, :] <= jnp.arange(length)[:, None]
        mask = causal[None, None] & decoder_mask.astype(bool)[:, None, None, :]
        hidden, _, _ = self.decoder(self.shared(decoder_input), positions, positions, mask, encoded, prompt_mask)
        return hidden

    def hidden_and_projection(self, prompt, prompt_mask, decoder_input, decoder_mask):
        return self.projection(self.decoder_hidden(prompt, prompt_mask, decoder_input, decoder_mask))

    def __call__(self, prompt, prompt_mask, decoder_input, decoder_mask):
        """Teacher forcing: logits [B, T, V] at every decoder position."""
        return self.logits(self.decoder_hidden(prompt, prompt_mask, decoder_input, decoder_mask))

    def decode_step(self, token, index, cache, memory, prompt_mask):
        """Decoder on one token [B] at position/slot ``index`` over ``memory`` (``Decoder``): logits [B, V], the
        updated cache and, from the encoder output, every layer's cross-attention keys/values."""
        slots = jnp.arange(cache[0].shape[2])
        query = jnp.full((1, 1), index, jnp.int32)
        mask = (slots <= index)[None, None, None, :]
        hidden, cache, cross = self.decoder(self.shared(token[:, None]), query, slots[None, :], mask, memory, prompt_mask, cache, index)
        return self.logits(hidden[:, 0]), cache, cross

    def prefill(self, prompt, prompt_mask, cache):
        """Encode, then the decoder on ``decoder_start_id`` at slot 0 of the empty ``cache`` (``decode_step``)."""
        start = jnp.full((prompt.shape[0],), self.config.decoder_start_id, jnp.int32)
        return self.decode_step(start, jnp.int32(0), cache, self.encode(prompt, prompt_mask), prompt_mask)


# -------------------------------------------------------------------------------- the contract


@dataclass(frozen=True)
class T5(ConfiguredModel):
    """A T5 preset meeting ``bench.models.base.LanguageModel``.

    ``weights``: a local folder with HF ``*.safetensors`` or a hub repo id, read by ``load``.
    """

    config: T5Config
    preset: str = "t5"
    weights: str | None = None

    @property
    def module(self) -> T5Module:
        return T5Module(self.config)

    def init(self, rng: jax.Array) -> Params:
        """Random float32 parameters with T5's initialisation and the preset's real shapes."""
        one = jnp.ones((1, 1), jnp.int32)  # shapes do not depend on lengths: a 1-token pass creates every parameter
        return jax.jit(lambda key: self.module.init(key, one, one, one, one)["params"])(rng)

    def cast(self, params: Params) -> Params:
        """Parameters stored in the compute dtype: half the memory in bfloat16, and the same results
        except the relative-bias table, which float32 storage keeps unrounded."""
        return jax.tree_util.tree_map(lambda p: p.astype(self.config.compute_dtype), params)

    def encode(self, params: Params, prompt: jax.Array, prompt_mask: jax.Array) -> jax.Array:
        """Encoder output [B, P, D] in the compute dtype."""
        return self.module.apply({"params": params}, prompt, prompt_mask, method=T5Module.encode)

    def decoder_input(self, targets: jax.Array, target_mask: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Targets shifted right behind ``decoder_start_id`` (and their mask, the start token being real)."""
        start = jnp.full((targets.shape[0], 1), self.config.decoder_start_id, targets.dtype)
        ones = jnp.ones((targets.shape[0], 1), target_mask.dtype)
        return jnp.concatenate([start, targets[:, :-1]], 1), jnp.concatenate([ones, target_mask[:, :-1]], 1)

    def forward(self, params: Params, prompt, prompt_mask, targets, target_mask) -> jax.Array:
        """Teacher-forced float32 logits [B, T, V]; ``logits[b, t]`` predicts ``targets[b, t]``."""
        decoder_input, decoder_mask = self.decoder_input(targets, target_mask)
        return self.module.apply({"params": params}, prompt, prompt_mask, decoder_input, decoder_mask)

    def forward_hidden(self, params: Params, prompt, prompt_mask, targets, target_mask) -> tuple[jax.Array, jax.Array]:
        """``forward`` stopped before the output projection: (h [B, T, D] in the compute dtype, W [D, V]) with
        ``forward(...) == einsum("btd,dv->btv", h, W, preferred_element_type=float32)``. For losses that never
        hold the [B, T, V] logits at once (``algorithms.chunked``); gradients reach W's parameter (``shared``
        when tied, ``lm_head`` otherwise)."""
        decoder_input, decoder_mask = self.decoder_input(targets, target_mask)
        return self.module.apply(
            {"params": params}, prompt, prompt_mask, decoder_input, decoder_mask, method=T5Module.hidden_and_projection
        )

    def prefill(self, params: Params, prompt, prompt_mask, max_new: int) -> tuple[jax.Array, State]:
        """Encode, project every decoder layer's cross-attention keys/values once, run the decoder on the start token.

        State (batch first, layers second): ``prompt_mask`` [B, P]; ``cross`` (keys, values) [B, layers, P, H, d_kv];
        ``cache`` (keys, values) [B, layers, max_new + 1, H, d_kv] in the compute dtype. Slot s of ``cache`` holds
        decoder position s: the start token at 0, the token generated at t at t + 1, so all ``max_new`` generated
        tokens can be fed back without an index running off the end.
        """
        c = self.config
        shape = (prompt.shape[0], c.num_decoder_layers, max_new + 1, c.num_heads, c.d_kv)
        empty = (jnp.zeros(shape, c.compute_dtype), jnp.zeros(shape, c.compute_dtype))
        logits, cache, cross = self.module.apply({"params": params}, prompt, prompt_mask, empty, method=T5Module.prefill)
        cross = tuple(jnp.moveaxis(x, 0, 1) for x in cross)  # the scan stacks its outputs layers first
        return logits, {"prompt_mask": prompt_mask, "cross": cross, "cache": cache}

    def step(self, params: Params, state: State, token: jax.Array, t: jax.Array) -> tuple[jax.Array, State]:
        """Feed ``token`` [B] generated at position ``t`` (decoder position t + 1); logits [B, V] for t + 1."""
        logits, cache, _ = self.module.apply(
            {"params": params}, token.astype(jnp.int32), jnp.asarray(t, jnp.int32) + 1, state["cache"], state["cross"],
            state["prompt_mask"], method=T5Module.decode_step,
        )
        return logits, {**state, "cache": cache}

    def load(self, source: str | None = None) -> Params:
        """float32 parameters from HF safetensors: ``source``, else the preset's ``weights``.

        Raises the one-sentence ``BenchError`` of ``read_safetensors`` (naming the preset) when
        there are none.
        """
        from bench.models.checkpoints import read_safetensors

        source = source or self.weights
        if source is None:
            raise BenchError(
                f"preset {self.preset} has no published weights: pass a local folder with a Hugging Face "
                "*.safetensors T5 checkpoint of the same shapes, or train it from random initialisation."
            )
        return from_hf(self.config, read_safetensors(source, self.preset), preset=self.preset)

    def tokenizer(self):
        """The checkpoint's ``tokenizer.json`` (T5's SentencePiece as a ``tokenizers.Tokenizer``); None without
        weights (t5-tiny trains a BPE on the task text instead)."""
        from bench.models.checkpoints import pretrained_tokenizer

        return pretrained_tokenizer(self.weights, self.preset)


def param_count(params: Params) -> int:
    """Number of scalars in a parameter tree (concrete or ``jax.eval_shape`` output)."""
    return int(sum(math.prod(p.shape) for p in jax.tree_util.tree_leaves(params)))


# ------------------------------------------------------------------------------ checkpoint import


class _Source(NamedTuple):
    """Where one parameter comes from in a Hugging Face checkpoint."""

    name: str  # the HF tensor name; in a layer's, "{i}" stands for the layer number
    transpose: bool  # a torch Linear [out, in], transposed to Flax's [in, out]
    layers: int = 0  # 0: one tensor; n: the tensors of layers 0 .. n-1, stacked on a leading axis (the scan axis)

    def names(self) -> list[str]:
        return [self.name.format(i=i) for i in range(self.layers)] if self.layers else [self.name]


def _hf_names(config: T5Config) -> dict[tuple[str, ...], _Source]:
    """Our parameter path -> its ``_Source``."""
    names: dict[tuple[str, ...], _Source] = {("shared", "embedding"): _Source("shared.weight", False)}
    ff = ("wi_0", "wi_1", "wo") if config.gated else ("wi", "wo")

    for stack, count in (("encoder", config.num_layers), ("decoder", config.num_decoder_layers)):
        names[(stack, "relative_bias", "embedding")] = _Source(f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight", False)
        names[(stack, "final_norm", "scale")] = _Source(f"{stack}.final_layer_norm.weight", False)
        ours, theirs = (stack, "layers"), stack + ".block.{i}.layer"
        sublayers = [("self_attention", "SelfAttention")] + ([("cross_attention", "EncDecAttention")] if stack == "decoder" else [])
        for index, (name, module) in enumerate(sublayers):
            for w in "qkvo":
                names[ours + (name, w, "kernel")] = _Source(f"{theirs}.{index}.{module}.{w}.weight", True, count)
            names[ours + (f"{name}_norm", "scale")] = _Source(f"{theirs}.{index}.layer_norm.weight", False, count)
        index = len(sublayers)  # the feed-forward sublayer comes last
        for w in ff:
            names[ours + ("mlp", w, "kernel")] = _Source(f"{theirs}.{index}.DenseReluDense.{w}.weight", True, count)
        names[ours + ("mlp_norm", "scale")] = _Source(f"{theirs}.{index}.layer_norm.weight", False, count)
    if not config.tie_word_embeddings:
        names[("lm_head",)] = _Source("lm_head.weight", True)
    return names


# Tensors a T5 checkpoint may hold that duplicate ``shared`` or that T5 never uses.
_REDUNDANT = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight")


def from_hf(config: T5Config, tensors: dict[str, np.ndarray], preset: str = "t5") -> Params:
    """Map HF ``T5ForConditionalGeneration`` tensors onto this module's float32 parameter tree.

    torch ``Linear`` weights are [out, in] and are transposed to Flax's [in, out]; the tensors of a stack's
    layers (``block.{i}``) are stacked on a leading axis, as the scanned stacks hold them. A missing
    ``shared.weight`` falls back to ``encoder.embed_tokens.weight``; an untied model without
    ``lm_head.weight`` (transformers 5 ties it when saving) uses ``shared`` unscaled, as
    transformers 5 does. Missing, unexpected or misshapen tensors raise ``BenchError``.
    """
    tensors = dict(tensors)
    if "shared.weight" not in tensors and "encoder.embed_tokens.weight" in tensors:
        tensors["shared.weight"] = tensors["encoder.embed_tokens.weight"]
    if not config.tie_word_embeddings and "lm_head.weight" not in tensors and "shared.weight" in tensors:
        tensors["lm_head.weight"] = tensors["shared.weight"]
    expected = jax.eval_shape(T5(config).init, jax.random.PRNGKey(0))
    sources = _hf_names(config)
    unexpected = sorted(set(tensors) - {name for source in sources.values() for name in source.names()} - set(_REDUNDANT))
    if unexpected:
        raise BenchError(
            f"preset {preset}: checkpoint tensor {unexpected[0]} has no place in this T5 ({len(unexpected)} unexpected); is it the right preset?"
        )
    params: dict = {}
    for path, source in sources.items():
        want = _get(expected, path).shape[1 if source.layers else 0 :]  # one layer's shape
        want = want[::-1] if source.transpose else want  # compared in the checkpoint's own layout
        values = []
        for name in source.names():
            if name not in tensors:
                raise BenchError(f"preset {preset}: checkpoint lacks tensor {name}; is it a T5 checkpoint of this preset?")
            value = np.asarray(tensors[name], np.float32)
            if value.shape != want:
                raise BenchError(f"preset {preset}: checkpoint tensor {name} has shape {value.shape}, this T5 needs {want}.")
            values.append(value.T if source.transpose else value)
        _put(params, path, jnp.asarray(np.stack(values) if source.layers else values[0]))
    return params


def _get(tree, path):
    for key in path:
        tree = tree[key]
    return tree


def _put(tree, path, value):
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


# ------------------------------------------------------------------------------------------ presets

V10 = dict(vocab_size=32128, feed_forward="relu", tie_word_embeddings=True)
V11 = dict(vocab_size=32128, feed_forward="gated-gelu", tie_word_embeddings=False)

SHAPES = {
    "t5-small": dict(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_decoder_layers=6, num_heads=8, **V10),
    "t5-base": dict(d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_decoder_layers=12, num_heads=12, **V10),
    "t5-large": dict(d_model=1024, d_kv=64, d_ff=4096, num_layers=24, num_decoder_layers=24, num_heads=16, **V10),
    "t5-xl": dict(d_model=2048, d_kv=64, d_ff=5120, num_layers=24, num_decoder_layers=24, num_heads=32, **V11),
}
HUB = {"t5-small": "google-t5/t5-small", "t5-base": "google-t5/t5-base", "t5-large": "google-t5/t5-large", "t5-xl": "google/t5-v1_1-xl"}


def _preset(name: str, weights: str | None, dtype: str, remat: str) -> T5:
    return T5(T5Config(**SHAPES[name], dtype=dtype, remat=remat), preset=name, weights=weights or HUB[name])


@MODELS.register("t5-tiny", "tiny T5 v1.1 layout (d_model 64, 2+2 layers) for CPU tests, random initialisation")
def t5_tiny(vocab_size: int = 512, dtype: str = "float32", weights: str | None = None, remat: str = "none") -> T5:
    config = T5Config(vocab_size=vocab_size, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=4,
                      feed_forward="gated-gelu", tie_word_embeddings=False, dtype=dtype, remat=remat)
    return T5(config, preset="t5-tiny", weights=weights)


@MODELS.register("t5-small", "T5 v1.0 small (60.5M; weights google-t5/t5-small)")
def t5_small(weights: str | None = None, dtype: str = "float32", remat: str = "none") -> T5:
    return _preset("t5-small", weights, dtype, remat)


@MODELS.register("t5-base", "T5 v1.0 base (222.9M; weights google-t5/t5-base)")
def t5_base(weights: str | None = None, dtype: str = "float32", remat: str = "none") -> T5:
    return _preset("t5-base", weights, dtype, remat)


@MODELS.register("t5-large", "T5 v1.0 large (737.7M; weights google-t5/t5-large)")
def t5_large(weights: str | None = None, dtype: str = "float32", remat: str = "none") -> T5:
    return _preset("t5-large", weights, dtype, remat)


@MODELS.register("t5-xl", "T5 v1.1 XL (2.85B, gated-GELU, untied; weights google/t5-v1_1-xl)")
def t5_xl(weights: str | None = None, dtype: str = "float32", remat: str = "none") -> T5:
    return _preset("t5-xl", weights, dtype, remat)


__all__ = ["T5", "T5Config", "T5Module", "config_from_hf", "from_hf", "param_count", "relative_bucket"]
