"""The decoder-only model: shapes, the base.py contract with padding anywhere, cache/forward
agreement, Hugging Face parity and the presets' parameter counts."""

import json
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench.models.llama import (
    DecoderLM, LlamaConfig, config_from_hf, dec_tiny, from_hf, last_real_before, positions_of,
    smollm2_1_7b, smollm2_135m, smollm2_360m,
)
from bench.registry import MODELS, BenchError

# A small model with peaked logits (init_std 0.3): argmax ties are then far apart, so greedy
# tokens compare exactly between two computation orders.
TINY = LlamaConfig(
    vocab_size=97, d_model=32, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=8, d_ff=48,
    rope_theta=10000.0, rms_norm_eps=1e-6, init_std=0.3,
)


P, T = 7, 10  # every tiny-model test uses prompts [3, P] and targets [3, T]: one compile each


@dataclass
class Compiled:
    model: DecoderLM
    params: dict
    forward: Callable
    prefill: Callable
    step: Callable

    def greedy(self, prompt, mask, steps=T):
        """Greedy tokens [B, steps], their logits and the final state, through prefill/step."""
        logits, state = self.prefill(self.params, prompt, mask, steps)
        tokens, all_logits = [], []
        for t in range(steps):
            all_logits.append(logits)
            token = jnp.argmax(logits, axis=-1).astype(jnp.int32)
            tokens.append(token)
            logits, state = self.step(self.params, state, token, t)
        return jnp.stack(tokens, 1), jnp.stack(all_logits, 1), state


@pytest.fixture(scope="module")
def tiny():
    model = DecoderLM(TINY)
    return Compiled(
        model, model.init(jax.random.PRNGKey(0)), jax.jit(model.forward),
        jax.jit(model.prefill, static_argnums=3), jax.jit(model.step),
    )


def padded_prompts():
    """Three rows with padding on the left, the right and in the middle."""
    rng = np.random.default_rng(1)
    prompt = rng.integers(3, TINY.vocab_size, (3, P)).astype(np.int32)
    mask = np.ones((3, P), np.int32)
    mask[0, :3] = 0  # left
    mask[1, -2:] = 0  # right
    mask[2, [1, 4]] = 0  # middle
    return prompt, mask


def test_init_shapes_and_param_tree(tiny):
    params = tiny.params
    layers = params["layers"]
    assert params["embed"].shape == (97, 32)
    assert layers["attn"]["q"]["kernel"].shape == (2, 32, 4, 8)
    assert layers["attn"]["k"]["kernel"].shape == (2, 32, 2, 8)
    assert layers["attn"]["o"]["kernel"].shape == (2, 4, 8, 32)
    assert layers["mlp"]["down"]["kernel"].shape == (2, 48, 32)
    assert "lm_head" not in params  # tied
    assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(params))


def test_param_counts_of_presets():
    # exact counts of the public checkpoints, from their shapes (embedding tied, no biases)
    assert smollm2_135m().num_params() == 134_515_008
    assert smollm2_360m().num_params() == 361_821_120
    assert smollm2_1_7b().num_params() == 1_711_376_384
    assert dec_tiny().num_params() == 131_392
    untied = DecoderLM(TINY.replace(tie_word_embeddings=False))
    assert untied.num_params() == DecoderLM(TINY).num_params() + 97 * 32


def test_presets_are_registered():
    model = MODELS.build("dec-tiny", vocab_size=300)
    assert isinstance(model, DecoderLM) and model.vocab_size == 300 and (model.pad_id, model.eos_id) == (0, 1)
    assert MODELS.build("smollm2-360m").config.num_heads == 15
    for name in ("smollm2-135m", "smollm2-360m", "smollm2-1.7b"):
        assert name in MODELS
    with pytest.raises(BenchError, match="no pretrained weights"):
        MODELS.build("smollm2-1.7b").load()


def test_masks_helpers():
    mask = jnp.array([[0, 0, 1, 1, 0, 1, 1]])
    assert positions_of(mask).tolist() == [[-1, -1, 0, 1, 1, 2, 3]]
    assert last_real_before(mask).tolist() == [[0, 0, 0, 2, 3, 3, 5]]


def test_greedy_through_cache_equals_forward_argmax(tiny):
    """prefill/step decoding and full recomputation (forward) agree token for token, with padding
    on the left, the right and in the middle of the prompts."""
    prompt, mask = padded_prompts()
    tokens, step_logits, state = tiny.greedy(prompt, mask)
    logits = tiny.forward(tiny.params, prompt, mask, tokens, jnp.ones_like(tokens))
    assert logits.shape == (3, T, TINY.vocab_size) and logits.dtype == jnp.float32
    np.testing.assert_array_equal(np.argmax(logits, -1), np.asarray(tokens))
    np.testing.assert_allclose(step_logits, logits, atol=1e-4)
    # every state array carries the batch on axis 0
    assert all(x.shape[0] == 3 for x in jax.tree_util.tree_leaves(state))
    assert state["k"].shape == (3, 2, P + T, 2, 8)


def test_padding_anywhere_changes_nothing(tiny):
    """The same real tokens padded differently give the same logits, in forward and in decoding."""
    real = np.array([5, 17, 33, 8], np.int32)
    layouts = [[1, 1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1, 1], [1, 0, 1, 0, 1, 0, 1]]
    prompt = np.zeros((3, P), np.int32)
    mask = np.array(layouts, np.int32)
    for row, layout in enumerate(layouts):
        prompt[row, np.flatnonzero(layout)] = real
    targets = np.tile(np.arange(40, 40 + T, dtype=np.int32), (3, 1))
    logits = tiny.forward(tiny.params, prompt, mask, targets, np.ones_like(targets))
    np.testing.assert_allclose(logits[1:], jnp.broadcast_to(logits[:1], logits[1:].shape), atol=1e-5)
    tokens, _, _ = tiny.greedy(prompt, mask)
    assert (tokens == tokens[:1]).all()


def test_target_padding_is_skipped(tiny):
    """A pad inside the targets is invisible: the token after it is predicted from the last real one."""
    prompt = np.tile(np.arange(3, 3 + P, dtype=np.int32), (3, 1))
    plain = np.arange(10, 10 + T, dtype=np.int32)
    gapped = np.concatenate([plain[:1], [0, 0], plain[1:T - 2]]).astype(np.int32)
    targets = np.stack([plain, gapped, plain])
    target_mask = np.ones((3, T), np.int32)
    target_mask[1, 1:3] = 0
    logits = tiny.forward(tiny.params, prompt, np.ones_like(prompt), targets, target_mask)
    kept = [0, *range(3, T)]
    np.testing.assert_allclose(logits[1, kept], logits[0, : T - 2], atol=1e-5)


def test_bfloat16_runs_with_float32_logits(tiny):
    model = DecoderLM(TINY.replace(dtype="bfloat16"))
    prompt, mask = padded_prompts()
    targets = np.tile(np.arange(7, 7 + T, dtype=np.int32), (3, 1))
    logits = jax.jit(model.forward)(tiny.params, prompt, mask, targets, np.ones_like(targets))
    reference = tiny.forward(tiny.params, prompt, mask, targets, np.ones_like(targets))
    assert logits.dtype == jnp.float32
    scale = float(jnp.abs(reference).max())
    assert float(jnp.abs(logits - reference).max()) < 0.1 * scale
    first, state = jax.eval_shape(lambda p: model.prefill(p, prompt, mask, 4), tiny.params)
    assert first.dtype == jnp.float32 and state["k"].dtype == jnp.bfloat16


@pytest.mark.parametrize("tied", [False, True])
def test_parity_with_transformers(tmp_path, tied):
    """Logits of a random tiny Hugging Face LlamaForCausalLM (GQA on), saved as safetensors and
    imported with from_hf, match ours at every real position, with padding in the prompts."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")

    torch.manual_seed(0)
    hf_config = transformers.LlamaConfig(
        vocab_size=101, hidden_size=48, intermediate_size=80, num_hidden_layers=2, num_attention_heads=6,
        num_key_value_heads=2, head_dim=8, rope_theta=5000.0, rms_norm_eps=1e-5, tie_word_embeddings=tied,
        max_position_embeddings=64, bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )
    hf_model = transformers.LlamaForCausalLM(hf_config).eval()
    with torch.no_grad():  # non-trivial norm scales, so a mix-up of the norms would show
        for name, weight in hf_model.named_parameters():
            if "norm" in name:
                weight.copy_(1.0 + 0.2 * torch.randn_like(weight))
    hf_model.save_pretrained(tmp_path, safe_serialization=True)

    config = config_from_hf(json.loads((tmp_path / "config.json").read_text()))
    assert (config.num_kv_heads, config.head_dim, config.tie_word_embeddings) == (2, 8, tied)
    model = DecoderLM(config, preset="hf-tiny", weights=str(tmp_path))
    params = model.load()
    assert ("lm_head" in params) == (not tied)

    rng = np.random.default_rng(0)
    prompt = rng.integers(3, 101, (3, 6)).astype(np.int32)
    prompt_mask = np.array([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1], [1, 1, 0, 1, 1, 0]], np.int32)
    targets = rng.integers(3, 101, (3, 5)).astype(np.int32)
    target_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.int32)
    ours = np.asarray(jax.jit(model.forward)(params, prompt, prompt_mask, targets, target_mask))

    tokens = np.concatenate([prompt, targets], 1)
    mask = np.concatenate([prompt_mask, target_mask], 1)
    position_ids = np.maximum(np.cumsum(mask, 1) - 1, 0)
    with torch.no_grad():
        theirs = hf_model(
            input_ids=torch.from_numpy(tokens).long(), attention_mask=torch.from_numpy(mask).long(),
            position_ids=torch.from_numpy(position_ids).long(),
        ).logits.numpy()
    predictor = np.asarray(last_real_before(jnp.asarray(mask)))[:, prompt.shape[1]:]
    expected = np.take_along_axis(theirs, predictor[:, :, None], axis=1)
    real = target_mask.astype(bool)
    diff = np.abs(ours - expected)[real].max()
    print(f"max |logit diff| vs transformers (tied={tied}): {diff:.2e}")
    assert diff <= 1e-4

    first, _ = model.prefill(params, prompt, prompt_mask, 2)
    last = np.array([5, 5, 4])
    assert np.abs(np.asarray(first) - theirs[np.arange(3), last]).max() <= 1e-4


def test_from_hf_refuses_wrong_checkpoints():
    with pytest.raises(BenchError, match="lacks"):
        from_hf(TINY, {"model.embed_tokens.weight": np.zeros((97, 32), np.float32)})
