"""Vocabulary-chunked soft-Q statistics: MLE and IQLearn without the [B, T, V] float32 logits.

An LM's logits are q(s_t, .) = h_t W, with h [B, T, D] the final hidden states and W [D, V] the
output matrix. MLE, offline IQLearn and online IQLearn need only two numbers per position from
them (``algorithms.transitions``): V(s_t) = logsumexp_v (h_t W)_v and q(s_t, a_t) = h_t W[:, a_t].
:func:`soft_q` computes both by scanning over the vocabulary in chunks of C columns with a running
(online) logsumexp, exactly as a streaming softmax does:

    z = h W_c                                     [B, T, C], one chunk of logits
    m' = max(m, max_v z_v)
    s' = s exp(m - m') + sum_v exp(z_v - m')      V = m + log s after the last chunk
    q(s, a) += z_a where a falls in the chunk

Its backward pass recomputes each chunk's logits and accumulates, with
g_c = dL/dV softmax(z)_c + dL/dq onehot(a)_c (softmax_c = exp(z_c - V)):

    dL/dh = sum_c g_c W_c^T,       dL/dW_c = sum_{b,t} h_bt^T g_c,bt

so neither pass holds more than [B, T, C] logits (plus W's gradient, [D, V], which any update
holds). The price is one more [B, T, D] x [D, V] product than the plain path (the forward logits
are recomputed in the backward pass). Values and gradients equal the plain path's
(``transitions.soft_q`` over ``einsum(h, W)``) up to float32 summation order.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from algorithms.transitions import TokenTransitions, sequence_transitions

F32 = jnp.float32
DEFAULT_CHUNK = 4096
_PAD = float(np.finfo(np.float32).min)  # logits of padded vocabulary columns: exp(_PAD - anything finite) == 0


def _layout(kernel: jax.Array, chunk: int) -> tuple[int, int, int]:
    """(V, C, n): the chunk width C = min(chunk, V) and the number of chunks n = ceil(V / C)."""
    vocab = kernel.shape[1]
    width = min(chunk, vocab)
    return vocab, width, -(-vocab // width)


def _chunk_logits(hidden, kernel, i, vocab, width):
    """Logits [..., C] (float32) of chunk i, its block of W, its first column and its column ids [C]. Chunk i
    covers columns [i C, (i + 1) C); the last one, where C does not divide V, is read as the C columns ending at V,
    and the columns it shares with the chunk before get logit _PAD and id -1 (so each column counts once). No copy
    of W is made."""
    first = i * width
    start = jnp.minimum(first, vocab - width)
    block = jax.lax.dynamic_slice_in_dim(kernel, start, width, axis=1)
    z = jnp.einsum("...d,dc->...c", hidden, block, preferred_element_type=F32)
    ids = start + jnp.arange(width, dtype=jnp.int32)
    if vocab % width:  # only then does the last chunk overlap the one before: its shared columns count for nothing
        z = jnp.where(ids >= first, z, _PAD)
        ids = jnp.where(ids >= first, ids, -1)  # and match no action
    return z, block, start, ids


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def soft_q(hidden: jax.Array, kernel: jax.Array, actions: jax.Array, chunk: int = DEFAULT_CHUNK) -> tuple[jax.Array, jax.Array]:
    """(q(s, a), V(s)), each [...], of the logits ``hidden @ kernel`` (hidden [..., D], kernel [D, V],
    actions [...] ints), computed ``chunk`` vocabulary columns at a time (module docstring)."""
    return _forward(hidden, kernel, actions, chunk)


def _forward(hidden, kernel, actions, chunk):
    vocab, width, n = _layout(kernel, chunk)
    shape = hidden.shape[:-1]

    def body(carry, i):
        m, s, taken = carry
        z, _, _, ids = _chunk_logits(hidden, kernel, i, vocab, width)
        m_new = jnp.maximum(m, jnp.max(z, axis=-1))
        s = s * jnp.exp(m - m_new) + jnp.sum(jnp.exp(z - m_new[..., None]), axis=-1)
        taken = taken + jnp.sum(jnp.where(ids == actions[..., None], z, 0.0), axis=-1)
        return (m_new, s, taken), None

    init = (jnp.full(shape, -jnp.inf, F32), jnp.zeros(shape, F32), jnp.zeros(shape, F32))
    (m, s, taken), _ = jax.lax.scan(body, init, jnp.arange(n, dtype=jnp.int32))
    return taken, m + jnp.log(s)


def _soft_q_fwd(hidden, kernel, actions, chunk):
    taken, values = _forward(hidden, kernel, actions, chunk)
    return (taken, values), (hidden, kernel, actions, values)


def _soft_q_bwd(chunk, residuals, cotangents):
    hidden, kernel, actions, values = residuals
    d_taken, d_values = (c.astype(F32) for c in cotangents)
    vocab, width, n = _layout(kernel, chunk)

    def body(carry, i):
        d_hidden, d_kernel = carry
        z, block, start, ids = _chunk_logits(hidden, kernel, i, vocab, width)
        g = jnp.exp(z - values[..., None]) * d_values[..., None] + jnp.where(ids == actions[..., None], d_taken[..., None], 0.0)
        g = g.astype(block.dtype)
        d_hidden = d_hidden + jnp.einsum("...c,dc->...d", g, block, preferred_element_type=F32)
        d_block = jnp.einsum("...d,...c->dc", hidden, g, preferred_element_type=F32)
        # added, not written: the columns an overlapping last chunk shares with the one before have g = 0 here
        d_kernel = jax.lax.dynamic_update_slice_in_dim(
            d_kernel, jax.lax.dynamic_slice_in_dim(d_kernel, start, width, axis=1) + d_block, start, axis=1
        )
        return (d_hidden, d_kernel), None

    init = (jnp.zeros(hidden.shape, F32), jnp.zeros(kernel.shape, F32))
    (d_hidden, d_kernel), _ = jax.lax.scan(body, init, jnp.arange(n, dtype=jnp.int32))
    return d_hidden.astype(hidden.dtype), d_kernel.astype(kernel.dtype), None


soft_q.defvjp(_soft_q_fwd, _soft_q_bwd)


def from_hidden(
    hidden: jax.Array, kernel: jax.Array, targets: jax.Array, mask: jax.Array, chunk: int = DEFAULT_CHUNK
) -> TokenTransitions:
    """``transitions.from_sequence`` for logits given as ``hidden @ kernel`` (hidden [B, T, D], kernel [D, V]),
    computed chunk by chunk: the batch has ``logits=None`` and carries V(s_t), q(s_t, a_t) and V(s_{t+1}).
    MLE, offline and online IQLearn accept it; losses that read every logit (ent-reg's entropy) do not."""
    taken, values = soft_q(hidden, kernel, targets, chunk)
    return sequence_transitions(values, taken, targets, mask)
