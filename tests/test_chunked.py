"""The shared soft-Q statistics (algorithms/transitions.soft_q) and the vocabulary-chunked loss (algorithms/chunked):
the same losses and gradients as the plain path, and less memory. Memory is compared through XLA's buffer
assignment of compiled programs (deterministic), never through a timing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bench  # noqa: F401  (fills the registries)
from algorithms import chunked, iqlearn, mle
from algorithms import transitions as tr
from bench import profile, textcells
from bench.registry import ALGORITHMS, MODELS


def _old_from_sequence(logits, targets, mask):
    """from_sequence as it was before V(s) was shared: plain Transitions, every loss recomputing logsumexp."""
    values = tr.soft_value(logits)
    next_mask = jnp.concatenate([mask[:, 1:], jnp.zeros_like(mask[:, :1])], axis=1)
    next_values = jnp.concatenate([values[:, 1:], jnp.zeros_like(values[:, :1])], axis=1) * next_mask
    return tr.Transitions(logits, targets, next_values, mask.astype(logits.dtype))


LOSSES = {
    "mle": lambda e, p: mle.loss(e),
    "iqlearn": lambda e, p: iqlearn.offline_loss(e, lam=0.3, gamma=0.9),
    "relaxed": lambda e, p: iqlearn.online_loss(e, p, lam=0.3, gamma=0.9, alpha=0.2, form="relaxed"),
    "original": lambda e, p: iqlearn.online_loss(e, p, lam=0.3, gamma=0.9, alpha=0.2, form="original"),
}


def _inputs(seed=0, b=3, t=6, d=16, v=1000):
    k = jax.random.split(jax.random.PRNGKey(seed), 6)
    hidden = jax.random.normal(k[0], (b, t, d))
    kernel = 0.3 * jax.random.normal(k[1], (d, v))
    targets = jax.random.randint(k[2], (b, t), 0, v)
    mask = jnp.ones((b, t)).at[1, 4:].set(0).at[2, 2:].set(0)  # contiguous from t = 0, as targets are
    policy_targets = jax.random.randint(k[3], (b, t), 0, v)
    return hidden, kernel, targets, mask, policy_targets


@pytest.mark.parametrize("name", LOSSES)
def test_shared_soft_q_matches_the_unshared_path_in_value_and_gradient(name):
    hidden, kernel, targets, mask, policy_targets = _inputs(1)
    logits, policy_logits = jnp.einsum("btd,dv->btv", hidden, kernel), jnp.einsum("btd,dv->btv", hidden[::-1], kernel)

    def loss(build, lg, plg):
        return LOSSES[name](build(lg, targets, mask), build(plg, policy_targets, mask))

    new = jax.jit(jax.value_and_grad(lambda a, b: loss(tr.from_sequence, a, b), argnums=(0, 1)))(logits, policy_logits)
    old = jax.value_and_grad(lambda a, b: loss(_old_from_sequence, a, b), argnums=(0, 1))(logits, policy_logits)
    assert float(new[0]) == pytest.approx(float(old[0]), rel=1e-6)
    for a, b in zip(new[1], old[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", LOSSES)
def test_chunked_loss_equals_the_plain_loss_and_gradients(name, chunk=300):  # 300 does not divide V = 1000
    hidden, kernel, targets, mask, policy_targets = _inputs(2)

    def plain(h, w):
        batch = lambda hh, a: tr.from_sequence(jnp.einsum("btd,dv->btv", hh, w), a, mask)  # noqa: E731
        return LOSSES[name](batch(h, targets), batch(h[::-1], policy_targets))

    def chunk_path(h, w):
        batch = lambda hh, a: chunked.from_hidden(hh, w, a, mask, chunk)  # noqa: E731
        return LOSSES[name](batch(h, targets), batch(h[::-1], policy_targets))

    v_plain, g_plain = jax.value_and_grad(plain, argnums=(0, 1))(hidden, kernel)
    v_chunk, g_chunk = jax.jit(jax.value_and_grad(chunk_path, argnums=(0, 1)))(hidden, kernel)
    assert float(v_chunk) == pytest.approx(float(v_plain), rel=1e-6)
    for a, b in zip(g_chunk, g_plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("chunk", [128, 250, 1000, 4096])  # not dividing V, dividing it, one chunk, wider than V
def test_chunked_statistics_and_their_gradients_at_every_chunk_width(chunk):
    hidden, kernel, targets, _, _ = _inputs(4)
    # actions in the columns the last chunk shares with the one before (872..895 for C = 128), counted once
    targets = targets.at[0, :3].set(jnp.array([880, 999, 0]))
    d_taken, d_values = jax.random.normal(jax.random.PRNGKey(5), (2,) + targets.shape)

    def f(stats):
        return lambda h, w: jnp.sum(stats(h, w)[0] * d_taken + stats(h, w)[1] * d_values)

    plain = f(lambda h, w: tr.soft_q(jnp.einsum("btd,dv->btv", h, w), targets))
    chunks = f(lambda h, w: chunked.soft_q(h, w, targets, chunk))
    v_plain, g_plain = jax.value_and_grad(plain, argnums=(0, 1))(hidden, kernel)
    v_chunk, g_chunk = jax.jit(jax.value_and_grad(chunks, argnums=(0, 1)))(hidden, kernel)
    assert float(v_chunk) == pytest.approx(float(v_plain), rel=1e-5)
    for a, b in zip(g_chunk, g_plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_chunked_statistics_are_v_and_q_and_need_no_logits():
    hidden, kernel, targets, mask, _ = _inputs(3)
    logits = jnp.einsum("btd,dv->btv", hidden, kernel)
    taken, values = chunked.soft_q(hidden, kernel, targets, 300)
    np.testing.assert_allclose(values, jax.nn.logsumexp(logits, -1), rtol=1e-6)
    np.testing.assert_allclose(taken, jnp.take_along_axis(logits, targets[..., None], -1)[..., 0], rtol=1e-6)
    batch = chunked.from_hidden(hidden, kernel, targets, mask, 300)
    assert batch.logits is None
    np.testing.assert_allclose(batch.next_values, tr.from_sequence(logits, targets, mask).next_values, rtol=1e-6)


def test_t5_forward_hidden_gives_the_forward_logits():
    model = MODELS.build("t5-tiny", vocab_size=300)  # v1.1 layout: untied lm_head
    params = model.init(jax.random.PRNGKey(0))
    batch = profile.random_batch(model, profile.TimingTask(7, 5), 2, 0)
    hidden, kernel = jax.jit(model.forward_hidden)(params, *batch)
    logits = jax.jit(model.forward)(params, *batch)
    np.testing.assert_allclose(jnp.einsum("btd,dv->btv", hidden, kernel), logits, rtol=1e-5, atol=1e-5)


def test_t5_forward_hidden_with_tied_embeddings():
    from bench.models.t5 import T5, T5Config

    model = T5(T5Config(vocab_size=300, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_decoder_layers=1, num_heads=4,
                        tie_word_embeddings=True), preset="t5-tied-test")
    params = model.init(jax.random.PRNGKey(1))
    batch = profile.random_batch(model, profile.TimingTask(7, 5), 2, 1)
    hidden, kernel = jax.jit(model.forward_hidden)(params, *batch)
    assert kernel.shape == (32, 300)
    logits = jax.jit(model.forward)(params, *batch)
    np.testing.assert_allclose(jnp.einsum("btd,dv->btv", hidden, kernel), logits, rtol=1e-5, atol=1e-5)


def test_chunked_sequence_loss_matches_the_trainers_loss_and_gradients():
    model = MODELS.build("t5-tiny", vocab_size=300)
    objective = ALGORITHMS.build("iqlearn", lam=0.1, gamma=0.99)
    params = model.init(jax.random.PRNGKey(0))
    batch = profile.random_batch(model, profile.TimingTask(8, 6), 2, 0)
    key = jax.random.PRNGKey(1)

    def value_and_grad(f):
        return jax.jit(jax.value_and_grad(lambda p: f(p), has_aux=True))(params)

    (l_plain, t_plain), g_plain = value_and_grad(lambda p: textcells.sequence_loss(model, objective, p, batch, key, 6))
    (l_chunk, t_chunk), g_chunk = value_and_grad(lambda p: profile.chunked_sequence_loss(model, objective, p, batch, key, 6, 128))
    assert float(l_chunk) == pytest.approx(float(l_plain), rel=1e-5)
    assert float(t_chunk["nll"]) == pytest.approx(float(t_plain["nll"]), rel=1e-5)
    for a, b in zip(jax.tree_util.tree_leaves(g_chunk), jax.tree_util.tree_leaves(g_plain)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6 * float(jnp.max(jnp.abs(b))) + 1e-9)


def test_chunked_loss_holds_far_less_memory_at_t5s_vocabulary():
    """The loss and its gradient from hidden states at T5's 32128 tokens: XLA's temporaries of the compiled
    programs (buffer assignment, not a measurement)."""
    b, t, d, v = 8, 64, 64, 32128
    hidden, kernel = jax.ShapeDtypeStruct((b, t, d), jnp.float32), jax.ShapeDtypeStruct((d, v), jnp.float32)
    targets, mask = jnp.zeros((b, t), jnp.int32), jnp.ones((b, t))

    def plain(h, w):
        return iqlearn.offline_loss(tr.from_sequence(jnp.einsum("btd,dv->btv", h, w), targets, mask), lam=0.1, gamma=0.99)

    def chunk_path(h, w):
        return iqlearn.offline_loss(chunked.from_hidden(h, w, targets, mask, 2048), lam=0.1, gamma=0.99)

    grad = lambda f: jax.jit(jax.value_and_grad(f, argnums=(0, 1))).lower(hidden, kernel).compile()  # noqa: E731
    plain_mem, chunk_mem = profile.memory_of(grad(plain)), profile.memory_of(grad(chunk_path))
    logits_bytes = b * t * v * 4
    assert plain_mem["temp_bytes"] >= logits_bytes  # the plain path holds [B, T, V] float32 at least once
    assert chunk_mem["temp_bytes"] < logits_bytes / 4  # the chunked one never does
    assert chunk_mem["peak_bytes"] < 0.5 * plain_mem["peak_bytes"]


def test_chunked_path_refuses_losses_that_read_every_logit():
    model = MODELS.build("t5-tiny")
    with pytest.raises(bench.BenchError, match="read every logit"):
        profile.check_chunkable(model, ALGORITHMS.build("mle_entreg", lam=0.1))
    with pytest.raises(bench.BenchError, match="read every logit"):
        profile.check_chunkable(model, ALGORITHMS.build("gail", lam=0.0, gamma=0.99))
