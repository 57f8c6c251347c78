"""The contract every language model of the harness meets, so decoding and training are model-agnostic.

Shapes: B batch, P prompt length, T target length, V vocabulary, L maximum new tokens.
Token ids are int32; masks are 1 for real tokens and 0 for padding. Every array of a decoding
``state`` carries the batch on axis 0 (so beam search can reorder it with one gather), and a
state is a pytree of arrays only (so it passes through ``jax.lax`` loops).

``forward`` is teacher forcing, for training and for uncached reference decoding:
``logits[b, t]`` is the distribution of ``targets[b, t]`` given the prompt and ``targets[b, :t]``.
For an encoder-decoder the prompt is encoded and the decoder input is the targets shifted
right behind ``decoder_start_id``; for a decoder-only model the prompt and targets are one
sequence and the logits are those of the target positions.

``prefill`` then ``step`` is incremental decoding with a KV cache. ``prefill`` consumes the
prompt and returns the logits [B, V] of generated position 0 with a state that has room for
``max_new`` tokens (an encoder-decoder encodes the prompt and runs the decoder on
``decoder_start_id``; a decoder-only model runs the prompt through its stack).
``step(params, state, token, t)`` feeds the token chosen at generated position ``t`` and
returns the logits for position t + 1. Padding may sit anywhere in a prompt: models attend
only to unmasked keys and, where positions matter, number tokens by cumsum(mask) - 1.
"""

from __future__ import annotations

from typing import Any, Protocol

import jax

Params = Any
State = Any


class LanguageModel(Protocol):
    vocab_size: int
    eos_id: int
    pad_id: int

    def init(self, rng: jax.Array) -> Params:
        """Random parameters (float32), with the real shapes of the preset."""

    def forward(self, params: Params, prompt: jax.Array, prompt_mask: jax.Array, targets: jax.Array, target_mask: jax.Array) -> jax.Array:
        """Teacher-forced logits [B, T, V] for ``targets`` [B, T] given ``prompt`` [B, P]."""

    def prefill(self, params: Params, prompt: jax.Array, prompt_mask: jax.Array, max_new: int) -> tuple[jax.Array, State]:
        """Consume the prompt; return the logits [B, V] of generated position 0 and the cache state."""

    def step(self, params: Params, state: State, token: jax.Array, t: jax.Array) -> tuple[jax.Array, State]:
        """Feed ``token`` [B] generated at position ``t``; return logits [B, V] for position t + 1 and the new state."""


class ConfiguredModel:
    """Mixin for models whose token ids and vocabulary size live in ``self.config``."""

    config: Any

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    @property
    def eos_id(self) -> int:
        return self.config.eos_id

    @property
    def pad_id(self) -> int:
        return self.config.pad_id
