"""The text tasks: counts and formatting on the shared data, subsets, bad files, the no-data error."""

import gzip
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from bench.cli import main
from bench.registry import TASKS
from tasks import text
from tasks.text import DataError, Decoding, Example, TextTask, counts, hash_unit, load


@pytest.fixture
def data_dir():
    """The shared data (BENCH_DATA_DIR, relative to the working directory); skips when absent."""
    value = os.environ.get("BENCH_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.skip("BENCH_DATA_DIR is not set to the shared data folder")
    return Path(value).absolute()


def write_jsonl(path: Path, records, gz=False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(r) + "\n" for r in records).encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def gsm8k_records(n):
    return [{"question": f"What is {i} + 1?", "answer": f"{i} + 1 = <<{i}+1={i + 1}>>{i + 1}\n#### {i + 1}"} for i in range(n)]


@pytest.fixture
def tiny_dir(tmp_path):
    """A data folder with a 20-record gsm8k/train.jsonl."""
    write_jsonl(tmp_path / "gsm8k" / "train.jsonl", gsm8k_records(20))
    return tmp_path


# --- the shared data -------------------------------------------------------------------------

EXPECTED_COUNTS = {
    "gsm8k": {"train": 7473, "test": 1319},
    "xsum": {"train": 910, "test": 1000},
    "wmt22": {"train": 29000, "validation": 1002, "test": 2037},
}


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_counts_of_the_shared_data(name, data_dir):
    measured = counts(name, data_dir)
    print(f"{name}: {measured}")
    assert measured == EXPECTED_COUNTS[name]


def test_tldr_split_is_derived_by_id_hash_stable_and_disjoint(data_dir):
    train, held_out = load("tldr", "train", data_dir), load("tldr", "eval", data_dir)
    print(f"tldr: train {len(train)}, eval {len(held_out)}")
    assert len(train) + len(held_out) == 500
    assert 0.7 < len(train) / 500 < 0.9
    assert not {e.id for e in train} & {e.id for e in held_out}
    assert all(hash_unit(e.id) < 0.8 for e in train) and all(hash_unit(e.id) >= 0.8 for e in held_out)
    assert [e.id for e in load("tldr", "train", data_dir)] == [e.id for e in train]


def test_tldr_membership_does_not_depend_on_file_order(tmp_path):
    records = [{"id": f"t3_{i}", "subreddit": "s", "title": "t", "post": "p", "summary": "x"} for i in range(50)]
    write_jsonl(tmp_path / "a" / "tldr" / "test.jsonl", records)
    write_jsonl(tmp_path / "b" / "tldr" / "test.jsonl", records[::-1])
    ids = [{e.id for e in load("tldr", "train", tmp_path / d)} for d in ("a", "b")]
    assert ids[0] == ids[1] and 0 < len(ids[0]) < 50


def test_example_formatting(data_dir):
    q = load("gsm8k", "test", data_dir)[0]
    assert q.id == "test-0" and q.input.startswith("Janet\u2019s ducks lay 16 eggs")
    assert "<<16-3-4=9>>" in q.target and q.target.endswith("#### 18") and q.references == (q.target,)

    x = load("xsum", "test", data_dir)[0]
    assert x.id == "34268361" and x.input.startswith("The owners said") and x.references == (x.target,)

    t = next(e for e in load("tldr", "train", data_dir) + load("tldr", "eval", data_dir) if e.id == "t3_1wbdsh")
    assert t.input.startswith("SUBREDDIT: r/relationships\nTITLE: Me [19 F] with my friend [19 M]")
    assert "\nPOST: Hello hello everybody." in t.input

    test, val, train = (load("wmt22", s, data_dir)[0] for s in ("test", "validation", "train"))
    assert test.input.startswith("You can come back any time") and len(test.references) == 2
    assert test.references[0] == test.target
    assert len(val.references) == 3 and train.references == (train.target,)


def test_relative_bench_data_dir_is_resolved_against_the_working_directory(tiny_dir, monkeypatch):
    monkeypatch.chdir(tiny_dir.parent)
    monkeypatch.setenv("BENCH_DATA_DIR", tiny_dir.name)
    assert len(load("gsm8k", "train")) == 20


def test_gzip_file_is_read(tmp_path):
    write_jsonl(tmp_path / "gsm8k" / "test.jsonl.gz", gsm8k_records(3), gz=True)
    assert [e.id for e in load("gsm8k", "test", tmp_path)] == ["test-0", "test-1", "test-2"]


# --- task definitions ------------------------------------------------------------------------


def test_task_definitions():
    assert TASKS.build("gsm8k") is text.GSM8K and isinstance(TASKS.build("wmt22"), TextTask)
    assert text.GSM8K.metrics == ("accuracy", "accuracy_calculator")
    assert text.XSUM.metrics == text.TLDR.metrics == ("rouge1", "rouge2", "rougeLsum")
    assert text.WMT22.metrics == ("bleu", "chrf")
    assert text.TLDR.split_names == ("train", "eval") and text.WMT22.split_names == ("train", "validation", "test")
    assert all(t.decoding == Decoding("sample", 1.0, None, None) for t in text.TEXT_TASKS.values())
    assert text.WMT22.alternative_decodings == (Decoding("beam", beam_size=4, length_penalty=0.6),)
    assert "official test split" in text.XSUM.caveat
    assert "sha256" in text.TLDR.caveat and "Multi30k" in text.WMT22.caveat
    assert Example("a", "in", "out").references == ("out",)


def test_decoding_refuses_nonsense():
    with pytest.raises(ValueError, match="beam_size"):
        Decoding("beam")
    with pytest.raises(ValueError, match="unknown"):
        Decoding("nucleus")


def test_bench_list_shows_each_text_tasks_metrics(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name, task in text.TEXT_TASKS.items():
        line = next(l for l in lines if l.strip().startswith(name + " "))
        assert all(m in line for m in task.metrics)
    assert any(l.strip().startswith("toy_mdp ") for l in lines)


def test_tasks_text_imports_no_jax_and_no_upper_layer():
    code = "import sys, tasks.text; print(sorted({m.split('.')[0] for m in sys.modules} & {'jax', 'bench', 'algorithms', 'reports'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1])
    assert out.stdout.strip() == "[]"


# --- subsets ---------------------------------------------------------------------------------


def test_subset_is_deterministic_and_keeps_file_order(tiny_dir):
    a, b = (load("gsm8k", "train", tiny_dir, subset=5, seed=0) for _ in range(2))
    c = load("gsm8k", "train", tiny_dir, subset=5, seed=1)
    assert a == b and len(a) == 5 and a != c
    positions = [int(e.id.split("-")[1]) for e in a]
    assert positions == sorted(positions)
    assert load("gsm8k", "train", tiny_dir, subset=20) == load("gsm8k", "train", tiny_dir)


def test_subset_larger_than_the_split_names_both_sizes(tiny_dir):
    with pytest.raises(DataError, match=r"subset=30 .* 20 examples"):
        load("gsm8k", "train", tiny_dir, subset=30)


def test_subset_of_the_shared_data(data_dir):
    a = load("xsum", "train", data_dir, subset=100, seed=3)
    assert len(a) == 100 and a == load("xsum", "train", data_dir, subset=100, seed=3)


# --- bad input -------------------------------------------------------------------------------


def bad_file(tmp_path, content: bytes) -> Path:
    path = tmp_path / "gsm8k" / "train.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    "content, needle",
    [
        (b'{"question": "q", "answer": "a"}\n{"question": "q", \n', r"line 2 is not valid JSON"),
        (b'{"question": "q", "answer": "a"}\n{"question": "q"}\n', r"line 2 has no field 'answer'"),
        (b'{"question": "q", "answer": "a"}\n{"question": "\xff\xfe", "answer": "a"}\n', r"line 2 is not valid UTF-8"),
    ],
    ids=["malformed-json", "missing-field", "non-utf8"],
)
def test_bad_line_names_file_and_line(tmp_path, content, needle):
    path = bad_file(tmp_path, content)
    with pytest.raises(DataError, match=needle) as info:
        load("gsm8k", "train", tmp_path)
    assert str(path) in str(info.value)


def test_non_object_line_and_non_string_field(tmp_path):
    bad_file(tmp_path, b'[1, 2]\n')
    with pytest.raises(DataError, match=r"line 1 is a JSON list, not an object"):
        load("gsm8k", "train", tmp_path)
    (tmp_path / "gsm8k" / "train.jsonl").write_bytes(b'{"question": 3, "answer": "a"}\n')
    with pytest.raises(DataError, match=r"line 1: field 'question' has type int, not str"):
        load("gsm8k", "train", tmp_path)


def test_unknown_task_and_split_list_the_valid_ones(tiny_dir):
    with pytest.raises(DataError, match=r"unknown text task 'cnn'; valid text tasks: gsm8k, xsum, tldr, wmt22"):
        load("cnn", "train", tiny_dir)
    with pytest.raises(DataError, match=r"task gsm8k has no split 'dev'; use one of train, test"):
        load("gsm8k", "dev", tiny_dir)


def test_a_named_data_folder_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"does not exist; point --data-dir at"):
        load("gsm8k", "train", tmp_path / "nope")


# --- no data: the error names both ways; the hub path ------------------------------------------


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)


def test_no_data_error_names_both_ways(no_env, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(DataError) as info:
        load("gsm8k", "train")
    message = str(info.value)
    assert "BENCH_DATA_DIR" in message and "--data-dir" in message and "`datasets` package" in message
    assert "not installed" in message and len(message.splitlines()) == 1


def test_missing_file_in_the_data_folder_names_the_path(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(DataError, match=r"xsum/test\.jsonl\[\.gz\] does not exist .* BENCH_DATA_DIR"):
        load("xsum", "test", tmp_path)


def test_task_without_hub_source_says_so(no_env):
    with pytest.raises(DataError, match=r"the hub has no known source for this split; set BENCH_DATA_DIR"):
        load("tldr", "train")


def fake_datasets(load_dataset):
    return types.SimpleNamespace(load_dataset=load_dataset)


def test_hub_is_used_when_there_is_no_file(no_env, monkeypatch):
    calls = []

    def load_dataset(path, config, split):
        calls.append((path, config, split))
        return gsm8k_records(4)

    monkeypatch.setitem(sys.modules, "datasets", fake_datasets(load_dataset))
    examples = load("gsm8k", "test")
    assert calls == [("openai/gsm8k", "main", "test")] and [e.id for e in examples][:2] == ["test-0", "test-1"]


def test_hub_failure_is_one_sentence_naming_both_ways(no_env, monkeypatch):
    def load_dataset(path, config, split):
        raise ConnectionError("Couldn't reach 'EdinburghNLP/xsum' on the Hub (LocalEntryNotFoundError)\nmore detail")

    monkeypatch.setitem(sys.modules, "datasets", fake_datasets(load_dataset))
    with pytest.raises(DataError) as info:
        load("xsum", "train")
    message = str(info.value)
    assert "Hugging Face hub" in message and "Couldn't reach" in message and "BENCH_DATA_DIR" in message
    assert len(message.splitlines()) == 1
