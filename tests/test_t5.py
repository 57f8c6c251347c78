"""T5 in Flax: Hugging Face parity, cached decoding, padding, presets and weights."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench.models import t5
from bench.models.checkpoints import read_safetensors
from bench.registry import MODELS, BenchError

PUBLISHED = {"t5-small": 60_506_624, "t5-base": 222_903_552, "t5-large": 737_668_096, "t5-xl": 2_849_757_184}


def padded(rows, width, where="right", pad=0, seed=0):
    """Token rows of different lengths laid into [B, width] with padding at the end, start or scattered."""
    rng = np.random.default_rng(seed)
    tokens = np.full((len(rows), width), pad, np.int32)
    for b, row in enumerate(rows):
        if where == "right":
            slots = np.arange(len(row))
        elif where == "left":
            slots = np.arange(width - len(row), width)
        else:
            slots = np.sort(rng.choice(width, len(row), replace=False))
        tokens[b, slots] = row
    return jnp.asarray(tokens), jnp.asarray(tokens != pad, jnp.int32)  # rows hold no pad id


def random_rows(lengths, vocab, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(2, vocab, n) for n in lengths]  # ids 0 (pad) and 1 (eos) stay out of the prompt


@pytest.fixture(scope="module")
def tiny():
    """The t5-tiny preset, its random parameters and its jitted forward, shared so shapes compile once."""
    model = MODELS.build("t5-tiny")
    return model, model.init(jax.random.PRNGKey(0)), jax.jit(model.forward)


# ------------------------------------------------------------------------------ presets and shapes


def test_presets_have_the_published_parameter_counts():
    for name, count in PUBLISHED.items():
        model = MODELS.build(name)
        assert isinstance(model, t5.T5) and model.vocab_size == 32128
        assert t5.param_count(jax.eval_shape(model.init, jax.random.PRNGKey(0))) == count, name
    assert MODELS.build("t5-xl").config.feed_forward == "gated-gelu"
    assert MODELS.build("t5-tiny", vocab_size=300).vocab_size == 300


def test_init_is_float32_even_for_bfloat16_compute():
    shapes = jax.eval_shape(MODELS.build("t5-base", dtype="bfloat16").init, jax.random.PRNGKey(0))
    assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(shapes)} == {jnp.dtype("float32")}


def test_real_presets_refuse_to_load_without_weights(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # never download in a test
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    for name in ("t5-base", "t5-xl"):
        with pytest.raises(BenchError, match=f"preset {name} has no weights"):
            MODELS.build(name).load()
    with pytest.raises(BenchError, match="preset t5-large has no weights .*does not exist"):
        MODELS.build("t5-large", weights=str(tmp_path / "missing")).load()
    with pytest.raises(BenchError, match="preset t5-tiny has no published weights"):
        MODELS.build("t5-tiny").load()


# ------------------------------------------------------------------------------ scanned stacks and remat


def deeper(model, layers):
    """The same T5 with ``layers`` encoder and ``layers`` decoder layers."""
    return t5.T5(dataclasses.replace(model.config, num_layers=layers, num_decoder_layers=layers))


def loss_of(model):
    """A scalar of the teacher-forced logits, for gradients."""

    def loss(params, prompt, targets):
        return model.forward(params, prompt, jnp.ones_like(prompt), targets, jnp.ones_like(targets)).sum()

    return loss


def test_stacks_are_scanned_so_the_program_does_not_grow_with_depth(tiny):
    model, _, _ = tiny
    prompt, targets = jnp.ones((2, 5), jnp.int32), jnp.ones((2, 4), jnp.int32)
    sizes = {}
    for layers in (2, 6):
        shapes = jax.eval_shape(deeper(model, layers).init, jax.random.PRNGKey(0))
        for stack in ("encoder", "decoder"):  # every layer parameter carries the layer axis first
            assert {leaf.shape[0] for leaf in jax.tree_util.tree_leaves(shapes[stack]["layers"])} == {layers}
        assert shapes["decoder"]["relative_bias"]["embedding"].shape == (32, 4)  # one table per stack, not per layer
        lowered = jax.jit(jax.grad(loss_of(deeper(model, layers)))).lower(shapes, prompt, targets)
        sizes[layers] = len(lowered.as_text())
    assert sizes[6] <= 1.05 * sizes[2], sizes  # unrolled, 6+6 layers lowered to about 3x the 2+2 program


def remat_policies(jaxpr) -> set:
    """The policies of every jax.checkpoint (``remat``) equation in ``jaxpr`` and the jaxprs nested in it."""
    found = set()
    for eqn in jaxpr.eqns:
        if "policy" in eqn.params:  # jax.checkpoint's primitive (remat2 in this JAX; the name varies by version)
            found.add(eqn.params["policy"])
        for value in eqn.params.values():
            for inner in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(inner, (jax.extend.core.Jaxpr, jax.extend.core.ClosedJaxpr)):
                    found |= remat_policies(getattr(inner, "jaxpr", inner))
    return found


def test_remat_policies_keep_gradients_and_a_bad_name_is_refused(tiny):
    _, params, _ = tiny
    prompt = jnp.asarray(np.random.default_rng(9).integers(2, 512, (2, 6)), jnp.int32)
    targets = jnp.asarray(np.random.default_rng(10).integers(2, 512, (2, 5)), jnp.int32)
    reference = jax.jit(jax.grad(loss_of(MODELS.build("t5-tiny"))))(params, prompt, targets)
    for name, policy in t5.REMAT_POLICIES.items():  # each scanned layer under jax.checkpoint with the named policy
        grad = jax.grad(loss_of(MODELS.build("t5-tiny", remat=name)))  # traced only: compiling each would be slow
        assert remat_policies(jax.make_jaxpr(grad)(params, prompt, targets).jaxpr) == (set() if policy is None else {policy}), name
    grad = jax.grad(loss_of(MODELS.build("t5-tiny", remat="full")))  # the policy that recomputes the most
    for ours, theirs in zip(jax.tree_util.tree_leaves(jax.jit(grad)(params, prompt, targets)), jax.tree_util.tree_leaves(reference)):
        scale = float(jnp.abs(theirs).max())  # recomputation reorders float32 sums: equal to rounding of the leaf's scale
        assert float(jnp.abs(ours - theirs).max()) <= 1e-5 * max(1.0, scale)
    with pytest.raises(BenchError, match="remat='dot' is not a rematerialisation policy; use one of none, full, dots, dots_no_batch"):
        MODELS.build("t5-base", remat="dot")


# ------------------------------------------------------------------------------ Hugging Face parity


def hf_model(tmp_path, own_head=True, **config):
    """A tiny random HF T5 (float32, eval mode, eager attention) saved as safetensors in ``tmp_path``.

    transformers 5 ties ``lm_head`` to ``shared`` even for v1.1 (unscaled) and then saves no
    ``lm_head.weight``; ``own_head`` gives an untied model its own matrix, as real v1.1 checkpoints have.
    """
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    tied = config.pop("tie_word_embeddings")
    hf_config = transformers.T5Config(
        vocab_size=97, d_model=32, d_kv=8, d_ff=48, num_layers=2, num_decoder_layers=3, num_heads=4,
        dropout_rate=0.0, tie_word_embeddings=tied, **config,
    )
    hf_config._attn_implementation = "eager"  # before construction: the stacks copy the config
    model = transformers.T5ForConditionalGeneration(hf_config).eval()
    if not tied and own_head:
        model.lm_head = torch.nn.Linear(32, 97, bias=False)
    with torch.no_grad():  # norms start at 1: make them matter
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                p.uniform_(0.5, 1.5)
    model.save_pretrained(tmp_path, safe_serialization=True)
    return model


@pytest.mark.parametrize(
    "layout",
    [
        dict(feed_forward_proj="relu", tie_word_embeddings=True),  # v1.0
        dict(feed_forward_proj="gated-gelu", tie_word_embeddings=False,  # v1.1, with buckets that saturate early
             relative_attention_num_buckets=16, relative_attention_max_distance=24),
        dict(feed_forward_proj="gated-gelu", tie_word_embeddings=False, own_head=False),  # v1.1 as transformers 5 saves it
    ],
    ids=["v1.0", "v1.1", "v1.1-saved-tied"],
)
def test_logits_match_hugging_face(tmp_path, layout):
    torch = pytest.importorskip("torch")
    reference = hf_model(tmp_path, **dict(layout))
    config = t5.config_from_hf(json.loads((tmp_path / "config.json").read_text()))
    assert config.tie_word_embeddings == layout["tie_word_embeddings"] and config.num_decoder_layers == 3
    model = t5.T5(config)
    params = t5.from_hf(config, read_safetensors(tmp_path, "t5-test"))
    assert t5.param_count(params) == sum(p.numel() for p in reference.parameters()) + (0 if layout.get("own_head", True) else 97 * 32)

    prompt, prompt_mask = padded(random_rows([40, 23, 7], 97, seed=1), 40)  # padding at the end, as HF numbers by index
    targets = jnp.asarray(np.random.default_rng(2).integers(1, 97, (3, 9)), jnp.int32)
    ours = np.asarray(jax.jit(model.forward)(params, prompt, prompt_mask, targets, jnp.ones_like(targets)))
    decoder_input, _ = model.decoder_input(targets, jnp.ones_like(targets))
    with torch.no_grad():
        theirs = reference(
            input_ids=torch.tensor(np.asarray(prompt), dtype=torch.long),
            attention_mask=torch.tensor(np.asarray(prompt_mask), dtype=torch.long),
            decoder_input_ids=torch.tensor(np.asarray(decoder_input), dtype=torch.long),
        ).logits.numpy()
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() <= 1e-4

    other = t5.T5Config(**{**config.__dict__, "d_ff": 64})
    with pytest.raises(BenchError, match="DenseReluDense"):
        t5.from_hf(other, read_safetensors(tmp_path, "t5-test"))


def test_relative_buckets_match_hugging_face():
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from transformers.models.t5.modeling_t5 import T5Attention

    relative = np.arange(-600, 601)
    for bidirectional in (True, False):
        for buckets, distance in ((32, 128), (16, 24), (8, 20)):
            ours = t5.relative_bucket(jnp.asarray(relative), bidirectional, buckets, distance)
            theirs = T5Attention._relative_position_bucket(torch.tensor(relative), bidirectional, buckets, distance)
            np.testing.assert_array_equal(np.asarray(ours), theirs.numpy())


# ------------------------------------------------------------------------------ decoding and padding


def greedy_cached(model, params, prompt, prompt_mask, max_new):
    """Greedy tokens and their logits from prefill + step under one jitted lax.scan."""

    @jax.jit
    def run(params, prompt, prompt_mask):
        logits, state = model.prefill(params, prompt, prompt_mask, max_new)

        def body(carry, t):
            logits, state = carry
            token = jnp.argmax(logits, -1).astype(jnp.int32)
            next_logits, state = model.step(params, state, token, t)  # the last call feeds the last token too
            return (next_logits, state), (token, logits)

        _, (tokens, all_logits) = jax.lax.scan(body, (logits, state), jnp.arange(max_new, dtype=jnp.int32))
        return tokens.T, jnp.swapaxes(all_logits, 0, 1), state

    return run(params, prompt, prompt_mask)


def test_cached_greedy_equals_full_recomputation(tiny):
    model, params, forward = tiny
    max_new = 10
    prompt, prompt_mask = padded(random_rows([9, 4, 11], model.vocab_size, seed=3), 11, where="scattered")
    tokens, cached_logits, state = greedy_cached(model, params, prompt, prompt_mask, max_new)
    assert all(leaf.shape[0] == 3 for leaf in jax.tree_util.tree_leaves(state))  # batch on axis 0 everywhere

    generated = jnp.zeros((3, max_new), jnp.int32)
    for n in range(max_new):  # uncached: recompute the whole prefix each time
        logits = forward(params, prompt, prompt_mask, generated, jnp.ones_like(generated))[:, n]
        np.testing.assert_allclose(np.asarray(cached_logits[:, n]), np.asarray(logits), atol=1e-4)
        generated = generated.at[:, n].set(jnp.argmax(logits, -1))
    np.testing.assert_array_equal(np.asarray(tokens), np.asarray(generated))
    assert len(set(np.asarray(tokens).ravel().tolist())) > 1  # a degenerate model would prove little


def test_padding_anywhere_in_the_prompt_changes_nothing(tiny):
    model, params, forward = tiny
    rows = random_rows([6, 3, 5], model.vocab_size, seed=4)
    targets = jnp.asarray(np.random.default_rng(5).integers(1, model.vocab_size, (3, 10)), jnp.int32)
    reference = None
    for width, where in ((6, "right"), (11, "right"), (11, "left"), (11, "scattered")):
        prompt, mask = padded(rows, width, where, seed=width)
        logits = np.asarray(forward(params, prompt, mask, targets, jnp.ones_like(targets)))
        reference = logits if reference is None else reference
        np.testing.assert_allclose(logits, reference, atol=5e-5, err_msg=f"{where} padding to {width}")
    # padding at the end of the targets leaves the real positions alone (same scattered prompt as last)
    target_mask = (jnp.arange(10)[None, :] < jnp.asarray([[4], [10], [1]])).astype(jnp.int32)
    logits = np.asarray(forward(params, prompt, mask, jnp.where(target_mask == 1, targets, 0), target_mask))
    real = np.asarray(target_mask, bool)
    np.testing.assert_allclose(logits[real], reference[real], atol=5e-5)


def test_gradients_are_finite_and_reach_every_parameter(tiny):
    model, params, _ = tiny
    prompt, mask = padded(random_rows([5, 2], model.vocab_size, seed=8), 6, where="left")
    targets = jnp.asarray([[4, 5, 1, 0], [6, 1, 0, 0]], jnp.int32)
    target_mask = (targets != 0).astype(jnp.int32).at[:, 0].set(1)

    def loss(params):
        logp = jax.nn.log_softmax(model.forward(params, prompt, mask, targets, target_mask))
        picked = jnp.take_along_axis(logp, targets[..., None], -1)[..., 0]
        return -(picked * target_mask).sum() / target_mask.sum()

    grads = jax.jit(jax.grad(loss))(params)
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        assert bool(jnp.isfinite(g).all()) and float(jnp.abs(g).max()) > 0, jax.tree_util.keystr(path)


def test_bfloat16_runs_and_returns_float32_logits(tiny):
    _, params, forward32 = tiny
    model = MODELS.build("t5-tiny", dtype="bfloat16")
    prompt, mask = padded(random_rows([7, 5, 11], model.vocab_size, seed=6), 11)
    targets = jnp.asarray(np.random.default_rng(7).integers(1, model.vocab_size, (3, 10)), jnp.int32)
    reference = forward32(params, prompt, mask, targets, jnp.ones_like(targets))
    for stored in (params, model.cast(params)):  # float32 storage or bfloat16 storage, bfloat16 compute
        logits = jax.jit(model.forward)(stored, prompt, mask, targets, jnp.ones_like(targets))
        assert logits.dtype == jnp.float32 and bool(jnp.isfinite(logits).all())
        assert float(jnp.abs(logits - reference).max()) < 0.05 * float(jnp.abs(reference).max())

    @jax.jit
    def two_steps(params, prompt, mask):
        first, state = model.prefill(params, prompt, mask, 3)
        after, state = model.step(params, state, jnp.argmax(first, -1), jnp.int32(0))
        return first, after, state

    first, after, state = two_steps(model.cast(params), prompt, mask)
    assert first.dtype == after.dtype == jnp.float32 and state["cache"][0].dtype == jnp.bfloat16
    assert state["cache"][0].shape == (3, 2, 4, 4, 16) and state["cross"][0].shape == (3, 2, 11, 4, 16)  # [B, layers, slots, H, d_kv]
    assert bool(jnp.isfinite(after).all())
    np.testing.assert_allclose(np.asarray(first), np.asarray(reference[:, 0]), atol=0.05 * float(jnp.abs(reference).max()))
