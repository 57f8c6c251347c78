"""``bench score`` end to end (in-process) and its input errors."""

import json
import os
from pathlib import Path

import pytest

from bench.cli import main

GOLD = [
    ("Tom has 3 + 4 = <<3+4=7>>7 apples.\n#### 7", "Tom has 3 + 4 = <<3+4=7>>7 apples.\n#### 7"),
    ("She pays 2 * 5 = <<2*5=10>>10 dollars.\n#### 10", "She pays 2 * 5 = <<2*5=11>>11 dollars.\n#### 11"),
    ("It takes 6 / 2 = <<6/2=3>>3 hours.\n#### 3", "It takes 6 / 2 = <<6/2=3>>3 hours.\n#### 3"),
]


@pytest.fixture
def data_dir():
    value = os.environ.get("BENCH_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.skip("BENCH_DATA_DIR is not set to the shared data folder")
    return str(Path(value).absolute())


def write_lines(path: Path, records) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return str(path)


def run_score(capsys, *argv):
    code = main(["score", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def table(out: str) -> dict[str, float]:
    """metric -> value from the printed table."""
    values = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] != "metric":
            try:
                values[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return values


def test_gsm8k_with_targets_and_calculator_fallback(tmp_path, capsys):
    # Line 2 is wrong without the calculator; with it (given for line 2 only) it is right.
    records = [{"target": target, "generation": generation} for target, generation in GOLD]
    records[1]["generation_calculator"] = GOLD[1][0]
    gens = write_lines(tmp_path / "gens.jsonl", records)
    code, out, err = run_score(capsys, "--task", "gsm8k", "--generations", gens, "--json", str(tmp_path / "out" / "s.json"))
    assert code == 0, err
    values = table(out)
    assert values["accuracy"] == pytest.approx(66.67, abs=0.01)
    assert values["accuracy_calculator"] == pytest.approx(100.0)
    assert "self_bleu" in values
    assert "2 of 3 lines have no 'generation_calculator'" in out and "tasks.calculator.apply" in out
    saved = json.loads((tmp_path / "out" / "s.json").read_text())
    assert saved["task"] == "gsm8k" and saved["count"] == 3
    assert saved["values"]["accuracy"] == pytest.approx(200 / 3) and set(saved["values"]) == {"accuracy", "accuracy_calculator", "self_bleu"}


def test_gsm8k_ids_are_looked_up_in_the_split(tmp_path, capsys, data_dir):
    from tasks.text import load

    gold = load("gsm8k", "test", data_dir)
    records = [{"id": e.id, "generation": e.target} for e in gold[:4]] + [{"id": gold[4].id, "generation": "#### -1"}]
    gens = write_lines(tmp_path / "gens.jsonl", records)
    code, out, err = run_score(capsys, "--task", "gsm8k", "--generations", gens, "--data-dir", data_dir)
    assert code == 0, err
    assert table(out)["accuracy"] == pytest.approx(80.0)


def test_xsum_rouge_from_the_file_and_from_ids(tmp_path, capsys, data_dir):
    records = [
        {"target": "The cat sat on the mat.", "generation": "The cat sat on the mat."},
        {"references": ["A dog barked all night."], "generation": "A dog slept all day."},
        {"id": "34268361", "generation": "A water park has been given planning permission."},
    ]
    gens = write_lines(tmp_path / "gens.jsonl", records)
    code, out, err = run_score(capsys, "--task", "xsum", "--generations", gens, "--data-dir", data_dir, "--json", str(tmp_path / "x.json"))
    assert code == 0, err
    values = table(out)
    assert set(values) == {"rouge1", "rouge2", "rougeLsum", "self_bleu"}
    assert 30 < values["rouge1"] < 100
    assert "caveat: xsum" in out and "sentence splitter" in out
    assert json.loads((tmp_path / "x.json").read_text())["values"]["rouge1"] == pytest.approx(values["rouge1"], abs=0.01)


def test_xsum_identical_generations_score_100(tmp_path, capsys):
    records = [{"target": t, "generation": t} for t in ("The cat sat on the mat.", "Rain is expected tomorrow in the north.")]
    code, out, err = run_score(capsys, "--task", "xsum", "--generations", write_lines(tmp_path / "g.jsonl", records))
    assert code == 0, err
    assert table(out)["rouge1"] == pytest.approx(100.0) and table(out)["rougeLsum"] == pytest.approx(100.0)


def test_wmt22_uses_every_reference_and_prints_sacrebleu_signatures(tmp_path, capsys, data_dir):
    records = [{"id": f"test-{i}", "generation": "Sie können jederzeit wiederkommen."} for i in range(3)]
    code, out, err = run_score(capsys, "--task", "wmt22", "--generations", write_lines(tmp_path / "g.jsonl", records), "--data-dir", data_dir)
    assert code == 0, err
    assert {"bleu", "chrf", "self_bleu"} <= set(table(out))
    assert "bleu signature: nrefs:2" in out and "chrf signature: nrefs:2" in out


@pytest.mark.parametrize(
    "content, needle",
    [
        ('{"target": "#### 1", "generation": "#### 1"}\n{"target": \n', "line 2 is not valid JSON"),
        ('{"target": "#### 1"}\n', "line 1 has no string field 'generation'"),
        ('{"generation": "#### 1"}\n', "line 1 has none of 'references', 'target' or 'id'"),
        ('{"generation": "x", "references": []}\n', "'references' must be a non-empty list of strings"),
        ("\n", "has no lines"),
    ],
)
def test_bad_generations_file_is_one_line_naming_file_and_line(tmp_path, capsys, content, needle):
    path = tmp_path / "gens.jsonl"
    path.write_text(content, encoding="utf-8")
    code, _, err = run_score(capsys, "--task", "gsm8k", "--generations", str(path))
    assert code == 1
    assert needle in err and str(path) in err and len(err.strip().splitlines()) == 1


def test_unknown_id_names_the_id(tmp_path, capsys, data_dir):
    gens = write_lines(tmp_path / "g.jsonl", [{"id": "test-99999", "generation": "x"}])
    code, _, err = run_score(capsys, "--task", "gsm8k", "--generations", gens, "--data-dir", data_dir)
    assert code == 1 and "id 'test-99999' is not in the split" in err


def test_id_lookup_without_data_is_the_loaders_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    gens = write_lines(tmp_path / "g.jsonl", [{"id": "t3_x", "generation": "x"}])
    code, _, err = run_score(capsys, "--task", "tldr", "--generations", gens)
    assert code == 1 and "BENCH_DATA_DIR" in err and len(err.strip().splitlines()) == 1


def test_unknown_task_is_the_registrys_error(tmp_path, capsys):
    gens = write_lines(tmp_path / "g.jsonl", [{"target": "a", "generation": "a"}])
    code, _, err = run_score(capsys, "--task", "cnn_dm", "--generations", gens)
    assert code == 2 and "unknown task 'cnn_dm'; valid tasks:" in err


def test_non_text_task_and_bad_split_are_refused(tmp_path, capsys):
    gens = write_lines(tmp_path / "g.jsonl", [{"target": "a", "generation": "a"}])
    code, _, err = run_score(capsys, "--task", "toy_mdp", "--generations", gens)
    assert code == 1 and "has no text to score; use one of the text tasks: gsm8k, tldr, wmt22, xsum" in err
    code, _, err = run_score(capsys, "--task", "xsum", "--generations", gens, "--split", "dev")
    assert code == 1 and "task xsum has no split 'dev'" in err


def test_missing_generations_file(tmp_path, capsys):
    code, _, err = run_score(capsys, "--task", "xsum", "--generations", str(tmp_path / "nope.jsonl"))
    assert code == 1 and "does not exist" in err



def test_scoring_holds_a_chunk_of_lines_not_the_file(tmp_path, monkeypatch):
    """Memory flat in the file's length: the peak Python allocation while scoring 4x the lines stays within 1.2x.
    The lines repeat a pool of 16 (about 200 words each), so Self-BLEU's n-gram table, the part that grows with
    distinct text, is the same in both; what a reader of the whole file holds (rows, n-gram counts per line) grows
    4x. (Long lines, so that a chunk outweighs the few hundred kB CPython keeps in its tuple free lists.)"""
    import random
    import tracemalloc

    from bench.score import score
    from tasks import scoring

    monkeypatch.setattr(scoring, "CHUNK", 50, raising=False)
    rng = random.Random(0)
    pool = [
        {"target": "#### 7", "generation": " ".join(f"She pays {rng.randrange(99)} + {rng.randrange(99)} = {rng.randrange(99)} dollars "
                                                     f"for {rng.choice('abcdefgh')}." for _ in range(20)) + "\n#### 7"}
        for _ in range(16)
    ]

    def peak(lines: int) -> int:
        gens = write_lines(tmp_path / f"gens{lines}.jsonl", [pool[i % len(pool)] for i in range(lines)])
        tracemalloc.start()
        try:
            assert score("gsm8k", gens) == 0
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(100), peak(400)
    assert large < 1.2 * small, f"peak {small / 1e6:.2f} MB for 100 lines, {large / 1e6:.2f} MB for 400"
