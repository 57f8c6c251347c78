"""tasks.scoring on tiny literal inputs: families, references, notes, input errors and layering.

The last tests cover what of the seqio adapter needs no seqio (its import and its ImportError),
so they run in every environment; tests/test_seqio_tasks.py covers the rest where seqio is.
"""

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from tasks import metrics, scoring
from tasks.scoring import Scores, multi_references, normalise_references, score
from tasks.text import GSM8K, TLDR, WMT22, XSUM

ROOT = Path(__file__).parents[1]

GSM_REFS = ["Tom has 3 + 4 = <<3+4=7>>7 apples.\n#### 7", "She pays 2 * 5 = <<2*5=10>>10 dollars.\n#### 10"]
# Right answer; then wrong arithmetic as the last number, which calculator.apply repairs.
GSM_PREDS = ["Tom has 3 + 4 = <<3+4=7>>7 apples.\n#### 7", "She pays 2 * 5 = <<2*5=11>>"]


def test_gsm8k_accuracy_and_calculator_fallback_note():
    scores = score(GSM8K, GSM_PREDS, GSM_REFS)
    assert list(scores.values) == ["accuracy", "accuracy_calculator", "self_bleu"]
    assert scores.values["accuracy"] == pytest.approx(50.0)
    assert scores.values["accuracy_calculator"] == pytest.approx(100.0)
    assert scores.signatures == {}
    assert len(scores.notes) == 1 and "2 of 2 lines have no 'generation_calculator'" in scores.notes[0]


def test_gsm8k_calculator_outputs_are_scored_as_given():
    # The given calculator output for line 2 is wrong; line 1 falls back to calculator.apply.
    scores = score(GSM8K, GSM_PREDS, GSM_REFS, predictions_calculator=[None, "#### 12"])
    assert scores.values["accuracy_calculator"] == pytest.approx(50.0)
    assert "1 of 2 lines" in scores.notes[0]
    assert score(GSM8K, GSM_PREDS, GSM_REFS, predictions_calculator=GSM_REFS).notes == []


@pytest.mark.parametrize("task", [XSUM, TLDR])
def test_identical_summaries_score_100_with_the_splitter_as_signature(task):
    texts = ["The cat sat on the mat. It purred.", "Rain is expected tomorrow in the north."]
    scores = score(task, texts, texts)
    assert list(scores.values) == ["rouge1", "rouge2", "rougeLsum", "self_bleu"]
    assert all(scores.values[k] == pytest.approx(100.0) for k in ("rouge1", "rouge2", "rougeLsum"))
    assert scores.signatures == {"rougeLsum": "sentence splitter:regex|stemmer:porter"}


def test_rouge_runs_once_for_three_metric_names(monkeypatch):
    calls = []
    real = metrics.rouge

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(metrics, "rouge", counting)
    score(XSUM, ["a b c"], ["a b c"])
    assert len(calls) == 1


def test_wmt22_uses_every_reference_when_counts_agree():
    preds = ["Das Haus ist klein und alt.", "Ich habe heute keine Zeit."]
    refs = [("Das Gebäude ist winzig.", "Das Haus ist klein und alt."), ("Heute fehlt mir die Zeit.", "Ich habe heute keine Zeit.")]
    both = score(WMT22, preds, refs)
    first = score(WMT22, preds, [r[0] for r in refs])
    assert both.values["bleu"] == pytest.approx(100.0) and both.values["chrf"] == pytest.approx(100.0)
    assert first.values["bleu"] < 50
    assert both.signatures["bleu"].startswith("nrefs:2") and first.signatures["chrf"].startswith("nrefs:1")
    assert both.notes == [] and list(both.values) == ["bleu", "chrf", "self_bleu"]


def test_wmt22_falls_back_to_first_references_with_a_note():
    scores = score(WMT22, ["a b c d", "e f g h"], [("a b c d", "x"), ("e f g h",)])
    assert scores.signatures["bleu"].startswith("nrefs:1")
    assert len(scores.notes) == 2 and all("first reference" in n for n in scores.notes)


def test_multi_references_shapes():
    assert multi_references([("x",), ("y",)]) == (["x", "y"], None)
    assert multi_references([("x", "x2"), ("y", "y2")]) == ([["x", "x2"], ["y", "y2"]], None)
    refs, note = multi_references([("x", "x2"), ("y",)])
    assert refs == ["x", "y"] and "first reference" in note


def test_strings_and_tuples_are_the_same_references():
    assert normalise_references(["a", ("b", "c"), ["d"]]) == [("a",), ("b", "c"), ("d",)]
    assert score(XSUM, ["a b", "c d"], ["a b", "c e"]) == score(XSUM, ["a b", "c d"], [("a b",), ("c e",)])


def test_self_bleu_is_the_metrics_value():
    preds = ["the cat sat on the mat", "the cat sat on a hat", "dogs run fast"]
    assert score(XSUM, preds, preds).values["self_bleu"] == pytest.approx(metrics.self_bleu(preds))


def test_scores_update_merges_all_three_parts():
    a = Scores({"x": 1.0}, {"x": "s"}, ["n1"])
    a.update(Scores({"y": 2.0}, {}, ["n2"]))
    assert a == Scores({"x": 1.0, "y": 2.0}, {"x": "s"}, ["n1", "n2"])


@pytest.mark.parametrize(
    "args, needle",
    [
        (("#### 1", ["#### 1"]), "predictions must be a list of strings"),
        ((["#### 1", "#### 2"], ["#### 1"]), "got 2 predictions but 1 references"),
        ((["#### 1"], [[]]), "reference 0 is [], not a string or a non-empty list"),
        ((["#### 1"], [3]), "reference 0 is 3"),
        ((["#### 1"], ["#### 1"], ["a", "b"]), "predictions_calculator must be None or 1 entries"),
        (([], []), "gsm8k: got no predictions"),
    ],
)
def test_bad_inputs_are_one_sentence_value_errors(args, needle):
    with pytest.raises(ValueError) as err:
        score(GSM8K, *args)
    assert needle in str(err.value) and len(str(err.value).splitlines()) == 1


def test_a_metric_without_a_family_is_named():
    task = dataclasses.replace(XSUM, metrics=("rouge1", "meteor"))
    with pytest.raises(ValueError, match="asks for metric\\(s\\) meteor that tasks.scoring cannot compute"):
        score(task, ["a"], ["a"])


def test_every_text_task_metric_has_a_family():
    from tasks.text import TEXT_TASKS

    assert all(name in scoring.FAMILIES for task in TEXT_TASKS.values() for name in task.metrics)


# ---------------------------------------------------------------- layering and the seqio extra


WATCHED = {"jax", "bench", "algorithms", "reports", "seqio", "tensorflow"}


def loaded_packages(code: str) -> list[str]:
    """The packages of WATCHED that running ``code`` in a fresh interpreter imports."""
    probe = f"{code}; import sys; print(sorted({{m.split('.')[0] for m in sys.modules}} & {WATCHED!r}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return ast.literal_eval(out.strip().splitlines()[-1])


def test_scoring_and_the_seqio_module_import_nothing_above_tasks():
    assert loaded_packages("import tasks.scoring, tasks.seqio_tasks") == []


def test_bench_score_does_not_import_seqio_or_tensorflow():
    assert not {"seqio", "tensorflow"} & set(loaded_packages("import bench.cli, bench.score"))


def test_register_without_seqio_is_one_import_error(monkeypatch):
    from tasks import seqio_tasks

    monkeypatch.setitem(sys.modules, "seqio", None)  # makes `import seqio` fail
    with pytest.raises(ImportError) as err:
        seqio_tasks.register()
    assert str(err.value) == "tasks.seqio_tasks needs seqio, which is not installed; install the extra with pip install '.[seqio]'."


# ---------------------------------------------------------------- chunks


def random_texts(rng, n, vocabulary=8, longest=9):
    """Short texts over a tiny vocabulary: repeated n-grams, ties for the max count, equal lengths, empty texts."""
    words = [f"w{i}" for i in range(vocabulary)]
    return [" ".join(rng.choice(words) for _ in range(rng.randrange(longest))) for _ in range(n)]


@pytest.mark.parametrize("chunk", [1, 2, 7, 1000])
def test_chunked_scores_are_the_metrics_of_the_whole_input(chunk):
    """Chunks change nothing: Self-BLEU, BLEU, chrF and accuracy exactly, ROUGE to float rounding."""
    import random

    rng = random.Random(chunk)
    preds = random_texts(rng, 40) + ["w1 w2 w3"] * 3  # duplicates across chunk boundaries
    refs = [(a, b) for a, b in zip(random_texts(rng, 43), random_texts(rng, 43))]
    wmt = score(WMT22, preds, refs, chunk=chunk)
    assert wmt.values["self_bleu"] == metrics.self_bleu(preds)
    assert wmt.values["bleu"] == metrics.bleu(preds, [list(r) for r in refs])["bleu"]
    assert wmt.values["chrf"] == metrics.chrf(preds, [list(r) for r in refs])["chrf"]
    assert wmt.signatures["bleu"] == metrics.bleu(preds, [list(r) for r in refs])["bleu_signature"]
    xsum = score(XSUM, preds, [r[0] for r in refs], chunk=chunk)
    whole = metrics.rouge(preds, [r[0] for r in refs])
    assert all(xsum.values[k] == pytest.approx(whole[k], rel=1e-12, abs=1e-12) for k in ("rouge1", "rouge2", "rougeLsum"))
    answers = [f"#### {rng.randrange(3)}" for _ in preds]
    gold = [f"x\n#### {rng.randrange(3)}" for _ in preds]
    assert score(GSM8K, answers, gold, chunk=chunk).values["accuracy"] == metrics.gsm8k_accuracy(answers, gold)


def test_score_chunks_reads_its_input_twice_and_refuses_a_changing_one():
    calls = []

    def chunks():
        calls.append(1)
        yield (["a b c"] * len(calls), ["a b c"] * len(calls), None)

    with pytest.raises(ValueError, match="the input gave 1 predictions, then 2; it must not change while it is scored"):
        scoring.score_chunks(XSUM, chunks)
    assert len(calls) == 2
