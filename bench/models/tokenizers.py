"""Tokenizers for the model presets, all as ``tokenizers.Tokenizer`` objects.

* :func:`from_gguf`: the byte-level BPE stored in a GGUF file's metadata (SmolLM2, offline).
* :func:`from_folder`: a Hugging Face checkpoint's ``tokenizer.json``.
* :func:`train_bpe`: a byte-level BPE trained on task text for tiny presets; deterministic and
  cached on disk by a hash of (texts, settings).
* :func:`byte_tokenizer`: one token per UTF-8 byte, the fallback that needs no training.

Byte-level means every string maps to tokens with no unknowns and decodes back exactly: text
is cut into UTF-8 bytes, each byte shown as a printable character (GPT-2's byte-to-unicode
table, where e.g. a space shows as "Ġ"), and BPE merges run over those characters.

Ids of the trained and byte tokenizers follow the T5 convention: <pad> 0, </s> 1, <unk> 2.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

from bench.registry import BenchError

T5_SPECIALS = ("<pad>", "</s>", "<unk>")
_CONTROL = 3  # llama.cpp token type of control tokens (<|im_start|>, ...); 1 is a normal token


def _byte_level(model: models.Model, split_digits: bool = False) -> Tokenizer:
    """A tokenizer over ``model`` with GPT-2's byte-level pre-tokenizer and decoder.

    The pre-tokenizer first splits text with GPT-2's regex (contractions, words with their
    leading space, numbers, punctuation runs, whitespace) and maps bytes to characters;
    ``split_digits`` cuts every digit into its own piece first (SmolLM's convention).
    """
    tokenizer = Tokenizer(model)
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if split_digits:
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    else:
        tokenizer.pre_tokenizer = byte_level
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


# ----------------------------------------------------------------------------- GGUF


@dataclass(frozen=True)
class SpecialIds:
    bos: int | None
    eos: int | None
    pad: int | None
    unk: int | None


def special_ids(reader) -> SpecialIds:
    """BOS / EOS / padding / unknown ids stated in the GGUF metadata (None when absent)."""

    def get(name):
        field = reader.fields.get(f"tokenizer.ggml.{name}_token_id")
        return None if field is None else int(field.contents())

    return SpecialIds(get("bos"), get("eos"), get("padding"), get("unknown"))


# llama.cpp's names for its pre-tokenizer regex sets -> whether digits are split one by one first
_GGUF_PRE = {"gpt2": False, "default": False, "smollm": True}


def from_gguf(reader) -> Tokenizer:
    """The GPT-2-style byte-level BPE of a GGUF file (``tokenizer.ggml.model`` = "gpt2").

    The vocabulary is ``tokenizer.ggml.tokens`` (id = index), the merges ``tokenizer.ggml.merges``
    ("a b", in priority order). Control tokens (type 3) become special tokens, matched whole in
    the input and dropped by ``decode(skip_special_tokens=True)``. The pre-tokenizer follows
    ``tokenizer.ggml.pre``: "smollm" is llama.cpp's name for digits split one by one, then
    GPT-2's regex. No BOS is added automatically (SmolLM2 states add_bos_token = False): the
    ids are in :func:`special_ids`.
    """
    fields = reader.fields
    kind = fields["tokenizer.ggml.model"].contents()
    if kind != "gpt2":
        raise BenchError(f"GGUF tokenizer model {kind!r} is not supported; only byte-level BPE ('gpt2') is.")
    pre = fields["tokenizer.ggml.pre"].contents() if "tokenizer.ggml.pre" in fields else "default"
    if pre not in _GGUF_PRE:
        raise BenchError(f"GGUF pre-tokenizer {pre!r} is not supported; known: {', '.join(sorted(_GGUF_PRE))}.")
    tokens = fields["tokenizer.ggml.tokens"].contents()
    merges = [tuple(m.split(" ", 1)) for m in fields["tokenizer.ggml.merges"].contents()]
    types = fields["tokenizer.ggml.token_type"].contents() if "tokenizer.ggml.token_type" in fields else [1] * len(tokens)
    tokenizer = _byte_level(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges), split_digits=_GGUF_PRE[pre])
    control = [t for t, kind in zip(tokens, types) if kind == _CONTROL]
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in control])
    return tokenizer


# ----------------------------------------------------------------------------- Hugging Face


def from_folder(path: str | Path) -> Tokenizer:
    """The ``tokenizer.json`` of a Hugging Face checkpoint folder (or the file itself)."""
    path = Path(path).expanduser()
    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.exists():
        raise BenchError(f"no tokenizer.json at {path}; point at a Hugging Face checkpoint folder that has one.")
    return Tokenizer.from_file(str(file))


# ----------------------------------------------------------------------------- trained and byte


def cache_dir() -> Path:
    """Where trained tokenizers are kept: $BENCH_CACHE_DIR/tokenizers, else ~/.cache/irl-bench/tokenizers."""
    root = os.environ.get("BENCH_CACHE_DIR")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "irl-bench") / "tokenizers"


def _content_key(texts: Sequence[str], settings: dict) -> str:
    """sha256 over the settings and every text, each length-prefixed so boundaries count."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for text in texts:
        data = text.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def train_bpe(
    texts: Iterable[str],
    vocab_size: int,
    special_tokens: Sequence[str] = T5_SPECIALS,
    min_frequency: int = 2,
    cache: bool = True,
) -> Tokenizer:
    """Train a byte-level BPE of at most ``vocab_size`` tokens on ``texts``.

    Ids: ``special_tokens`` first in order (default <pad> 0, </s> 1, <unk> 2), then the 256
    byte characters, then merges in the order learned. A merge needs ``min_frequency``
    occurrences, so a small corpus may give fewer than ``vocab_size`` tokens.

    Deterministic: the trainer counts pairs exactly and breaks count ties by token ids, which
    come from the sorted alphabet, so the same texts and settings give the same vocabulary in
    any process (tests/test_tokenizers.py checks it across processes). With ``cache`` the
    result is stored under :func:`cache_dir` by the sha256 of (texts, settings, tokenizers
    version) and read back next time.
    """
    import tokenizers as tokenizers_package

    texts = [str(t) for t in texts]
    if vocab_size < len(special_tokens) + 256:
        raise BenchError(
            f"vocab_size {vocab_size} leaves no room for merges ({len(special_tokens)} specials + 256 bytes); use byte_tokenizer()."
        )
    settings = {
        "kind": "byte-level-bpe", "vocab_size": int(vocab_size), "special_tokens": list(special_tokens),
        "min_frequency": int(min_frequency), "tokenizers": tokenizers_package.__version__, "format": 1,
    }
    path = cache_dir() / f"bpe-{_content_key(texts, settings)[:32]}.json"
    if cache and path.exists():
        return Tokenizer.from_file(str(path))
    tokenizer = _byte_level(models.BPE())
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    if cache:
        _save_atomically(tokenizer, path)
    return tokenizer


def _save_atomically(tokenizer: Tokenizer, path: Path) -> None:
    """Write to a temporary file and rename, so a concurrent reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        tokenizer.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def bytes_to_chars() -> dict[int, str]:
    """GPT-2's table from the 256 byte values to printable characters.

    Bytes that are printable Latin-1 characters ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for
    themselves; the other 68 (controls, space, ...) take the characters 256, 257, ... in
    byte order, so every byte has a visible, non-whitespace stand-in.
    """
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for byte in range(256):
        if byte in keep:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + extra)
            extra += 1
    return table


def byte_tokenizer(special_tokens: Sequence[str] = T5_SPECIALS) -> Tokenizer:
    """One token per UTF-8 byte: id = len(special_tokens) + byte value (3 + byte by default)."""
    offset = len(special_tokens)
    vocab = {token: i for i, token in enumerate(special_tokens)}
    vocab.update({char: offset + byte for byte, char in bytes_to_chars().items()})
    tokenizer = _byte_level(models.BPE(vocab=vocab, merges=[]))
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special_tokens])
    return tokenizer
