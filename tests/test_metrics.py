"""Task metrics: hand-checked values, agreement with the reference libraries, edge cases."""

import json
import math
import os
import random
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from tasks import calculator
from tasks.metrics import (
    bleu,
    chrf,
    gsm8k_accuracy,
    gsm8k_answer,
    per_token_entropy,
    reward_correlation,
    rouge,
    self_bleu,
    self_bleu_scores,
    split_sentences,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def _data_dir() -> Path | None:
    """$BENCH_DATA_DIR, resolved against the repo root when relative (CI: ../shared/data)."""
    value = os.environ.get("BENCH_DATA_DIR")
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else (REPO_ROOT / path).resolve()


# ----------------------------------------------------------------------------- ROUGE


def test_rouge_hand_checked():
    got = rouge(["the cat sat"], ["the cat sat on the mat"])
    # ROUGE-1: 3 shared unigrams; P = 3/3, R = 3/6 -> F = 2*1*0.5/1.5 = 2/3.
    # ROUGE-2: prediction bigrams {the cat, cat sat} both in the 5 reference bigrams;
    #          P = 2/2, R = 2/5 -> F = 2*0.4/1.4 = 4/7.
    # ROUGE-Lsum: one sentence each, LCS = 3 -> same as ROUGE-1.
    assert got["rouge1"] == pytest.approx(100 * 2 / 3)
    assert got["rouge2"] == pytest.approx(100 * 4 / 7)
    assert got["rougeLsum"] == pytest.approx(100 * 2 / 3)
    assert set(got) == {"rouge1", "rouge2", "rougeLsum"}


def test_rouge_lsum_uses_sentences():
    # Same two sentences in swapped order. Tokens: pred a b c d, ref c d a b.
    # ROUGE-2: pred bigrams {a b, b c, c d}, ref {c d, d a, a b}: 2 of 3 -> 200/3.
    # ROUGE-Lsum with one sentence per line: each reference sentence is fully covered
    # by the union LCS over the prediction's sentences -> P = R = 1 -> 100.
    # (Without the split, plain LCS would be 2 of 4 tokens -> 50.)
    got = rouge(["A b. C d."], ["C d. A b."])
    assert got["rouge1"] == pytest.approx(100.0)
    assert got["rouge2"] == pytest.approx(200 / 3)
    assert got["rougeLsum"] == pytest.approx(100.0)


def test_rouge_stems_and_averages():
    # "running" and "runs" both stem to "run": identical after stemming -> 100.
    # Second pair shares nothing -> 0. Mean over the two examples -> 50.
    got = rouge(["dogs running", "alpha"], ["dog runs", "beta"])
    assert got["rouge1"] == pytest.approx(50.0)


def test_rouge_matches_rouge_score():
    from rouge_score import rouge_scorer

    pairs = [
        ("The cat was found under the bed. It was asleep.", "The cat was under the bed!"),
        ("Police arrested two men after a robbery in Leeds.", "Two men have been arrested following a robbery."),
        ("Scores rose 3.5% in 2023, officials said.", "Officials said scores rose by 3.5 per cent."),
    ]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=True)
    want = {"rouge1": 0.0, "rouge2": 0.0, "rougeLsum": 0.0}
    for pred, ref in pairs:
        scores = scorer.score("\n".join(split_sentences(ref)), "\n".join(split_sentences(pred)))
        for key in want:
            want[key] += 100 * scores[key].fmeasure / len(pairs)
    got = rouge([p for p, _ in pairs], [r for _, r in pairs])
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-12)
    # ROUGE-1/2 do not depend on the sentence split at all.
    raw = [scorer.score(r, p) for p, r in pairs]
    assert got["rouge1"] == pytest.approx(100 * np.mean([s["rouge1"].fmeasure for s in raw]))


def test_regex_sentence_splitter():
    text = 'He said "stop." Then he left! Did she? Yes. It cost 3.5 dollars.\nNew line'
    assert split_sentences(text, "regex") == [
        'He said "stop."',
        "Then he left!",
        "Did she?",
        "Yes.",
        "It cost 3.5 dollars.",
        "New line",
    ]
    assert split_sentences("", "regex") == []
    with pytest.raises(ValueError, match="splitter"):
        split_sentences("a", "spacy")


def test_rouge_length_mismatch_names_both_lengths():
    with pytest.raises(ValueError, match=r"2 predictions but 1 references"):
        rouge(["a", "b"], ["a"])


# ---------------------------------------------------------------------- BLEU / ChrF


def test_bleu_hand_checked():
    # Clipped precisions: unigrams 5/6 (second 'the' unmatched), bigrams 3/5,
    # trigrams 2/4, 4-grams 1/3; equal lengths -> BP = 1.
    # BLEU = (5/6 * 3/5 * 1/2 * 1/3) ** (1/4) = (1/12) ** 0.25 = 0.537285 -> 53.73.
    got = bleu(["the cat sat on the mat"], ["the cat sat on a mat"])
    assert got["bleu"] == pytest.approx(100 * (1 / 12) ** 0.25, abs=1e-9)
    assert got["bleu_signature"].startswith("nrefs:1|")
    assert bleu(["same words here ok"], ["same words here ok"])["bleu"] == pytest.approx(100.0)


PREDS = ["the cat sat on the mat", "a quick brown fox jumps", "hello there general kenobi", ""]
REFS_A = ["the cat is on the mat", "the quick brown fox jumped", "hello there", "something"]
REFS_B = ["a cat sat on a mat", "a fast brown fox jumps over", "general kenobi hello", "nothing"]


def test_bleu_and_chrf_match_sacrebleu():
    import sacrebleu

    assert bleu(PREDS, REFS_A)["bleu"] == pytest.approx(sacrebleu.corpus_bleu(PREDS, [REFS_A]).score, abs=1e-12)
    assert chrf(PREDS, REFS_A)["chrf"] == pytest.approx(sacrebleu.corpus_chrf(PREDS, [REFS_A]).score, abs=1e-12)
    # Several references per prediction: per-prediction lists become reference streams.
    multi = [[a, b] for a, b in zip(REFS_A, REFS_B)]
    got_bleu, got_chrf = bleu(PREDS, multi), chrf(PREDS, multi)
    assert got_bleu["bleu"] == pytest.approx(sacrebleu.corpus_bleu(PREDS, [REFS_A, REFS_B]).score, abs=1e-12)
    assert got_chrf["chrf"] == pytest.approx(sacrebleu.corpus_chrf(PREDS, [REFS_A, REFS_B]).score, abs=1e-12)
    assert "nrefs:2" in got_bleu["bleu_signature"] and "nrefs:2" in got_chrf["chrf_signature"]
    assert got_bleu["bleu"] > bleu(PREDS, REFS_A)["bleu"]  # more references can only help here


def test_bleu_rejects_ragged_or_mismatched_references():
    with pytest.raises(ValueError, match="same number"):
        bleu(["a", "b"], [["a", "x"], ["b"]])
    with pytest.raises(ValueError, match="2 predictions but 3 references"):
        chrf(["a", "b"], ["a", "b", "c"])
    with pytest.raises(ValueError, match="no predictions"):
        bleu([], [])


# -------------------------------------------------------------------------- GSM8k


@pytest.mark.parametrize(
    "text, want",
    [
        ("Janet sells <<16-3-4=9>>9 eggs.\n#### 18", "18"),
        ("#### 1,450,000", "1450000"),
        ("#### -5", "-5"),
        ("#### $18.", "18"),
        ("#### 3.5", "3.5"),
        ("first #### 5 then #### 7", "7"),  # the last marker wins
        ("#### none", None),  # a marker with no number after it
        ("The answer is 18.", "18"),  # fallback: last number
        ("so x = 16-3-4", "4"),  # a '-' glued to a digit is an operator, not a sign
        ("It drops to -4 degrees", "-4"),
        ("costs 1,000, not 900.", "900"),
        ("it weighs .5 kg", ".5"),
        ("wait...5", ".5"),
        ("version 1.2.3", None),  # not a number
        ("no numbers here", None),
        ("", None),
    ],
)
def test_gsm8k_answer(text, want):
    assert gsm8k_answer(text) == want


def test_gsm8k_accuracy_hand_checked():
    refs = ["2 * 9 = <<2*9=18>>18\n#### 18"] * 4 + ["#### 1,000"]
    preds = ["#### 18", "So the answer is 18.0", "#### 17", "", "#### 1000"]
    # Correct: 1st, 2nd (18.0 == 18), 5th (commas ignored); wrong: 17, empty -> 3/5.
    assert gsm8k_accuracy(preds, refs) == pytest.approx(60.0)
    assert gsm8k_accuracy(["no number"], ["no number either"]) == 0.0  # None never matches


def _gsm8k_records(n: int) -> list[dict]:
    data_dir = _data_dir()
    if data_dir is None:
        pytest.skip("BENCH_DATA_DIR is not set (CI uses BENCH_DATA_DIR=../shared/data)")
    path = data_dir / "gsm8k" / "test.jsonl"
    with path.open() as f:
        return [json.loads(line) for _, line in zip(range(n), f)]


def test_real_gsm8k_annotations_reevaluate():
    records = _gsm8k_records(50)
    checked, wrong = 0, []
    for k, record in enumerate(records):
        for expr, stated in re.findall(r"<<([^<>=]*)=([^<>]*)>>", record["answer"]):
            checked += 1
            ours = calculator.evaluate(expr)
            # The stated result is itself read with the calculator: GSM8k writes '3/4' once.
            theirs = calculator.evaluate(stated)
            if ours is None or theirs is None or abs(float(ours) - float(theirs)) > 1e-6 * max(1.0, abs(float(theirs))):
                wrong.append((k, expr, stated, ours))
    for item in wrong:
        print("annotation that does not re-evaluate (record, expr, stated, ours):", item)
    assert checked > 100
    # Measured: all annotations of the first 50 records re-evaluate. Allow a sliver for
    # genuine errors in the data rather than weakening the calculator.
    assert len(wrong) <= 0.02 * checked, wrong


def test_real_gsm8k_answers_score_100_against_themselves():
    records = _gsm8k_records(50)
    refs = [r["answer"] for r in records]
    assert gsm8k_accuracy(refs, refs) == 100.0
    for ref in refs:
        assert gsm8k_answer(ref) == ref.rsplit("####", 1)[1].strip().replace(",", "")


# ---------------------------------------------------------------------- Self-BLEU


def test_self_bleu_hand_checked():
    # Two identical 2-token texts, max_order 2: p1 = p2 = 1, BP = 1 -> 100.
    assert self_bleu(["a b", "a b"], max_order=2) == pytest.approx(100.0)
    # Same with max_order 4 and method1: p1 = 2/2, p2 = 1/1, p3 and p4 have no n-grams
    # (denominator max(1, 0) = 1) -> 0.1 each: exp((2 ln 0.1)/4) = sqrt(0.1) = 0.316228.
    assert self_bleu(["a b", "a b"]) == pytest.approx(100 * math.sqrt(0.1), abs=1e-12)
    # "a b c d" vs "a b c e": p1 = 3/4, p2 = 2/3, p3 = 1/2, p4 = 0 -> 0.1/1; BP = 1.
    # (0.75 * 2/3 * 0.5 * 0.1) ** 0.25 = 0.025 ** 0.25 = 0.397635; symmetric pair.
    assert self_bleu(["a b c d", "a b c e"]) == pytest.approx(100 * 0.025**0.25, abs=1e-12)


def test_self_bleu_is_leave_one_out():
    # With the hypothesis left in its own references every text would score 100.
    # Here each text is unique and shares nothing with the others -> 0.
    assert self_bleu(["a b c d", "e f g h", "i j k l"]) == 0.0


def test_self_bleu_degenerate_sets():
    assert self_bleu([]) == 0.0
    assert self_bleu(["only one text here"]) == 0.0
    assert self_bleu(["", ""]) == 0.0
    assert self_bleu(["", "a b c"]) == 0.0
    # The empty text scores 0 but still counts as a reference (length 0) for the others:
    # the two identical texts score 100 each (closest other length is 4) -> mean 200/3.
    assert self_bleu(["a b c d", "a b c d", ""]) == pytest.approx(200 / 3)
    with pytest.raises(ValueError, match="smoothing"):
        self_bleu(["a", "b"], smoothing="method7")
    with pytest.raises(ValueError, match="list of strings"):
        self_bleu("a single string")


def _nltk_self_bleu_scores(texts, max_order, smoothing):
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    smoother = SmoothingFunction().method1 if smoothing == "method1" else None
    tokens = [t.split() for t in texts]
    scores = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NLTK warns on every zero-count order unsmoothed
        for i, hyp in enumerate(tokens):
            others = tokens[:i] + tokens[i + 1 :]
            scores.append(
                100 * sentence_bleu(others, hyp, weights=(1 / max_order,) * max_order, smoothing_function=smoother)
            )
    return scores


def _random_set(rng: random.Random) -> list[str]:
    vocab = "the a cat dog sat ran on mat".split()
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 12))) for _ in range(rng.randint(3, 15))]
    texts.append(texts[0])  # a duplicate
    texts.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 3))))  # shorter than 4 tokens
    texts.append("")
    rng.shuffle(texts)
    return texts


@pytest.mark.parametrize("max_order, smoothing", [(4, "method1"), (2, "method1"), (4, "none"), (2, "none"), (1, "none")])
@pytest.mark.parametrize("seed", range(6))
def test_self_bleu_matches_nltk_leave_one_out(seed, max_order, smoothing):
    texts = _random_set(random.Random(seed))
    want = _nltk_self_bleu_scores(texts, max_order, smoothing)
    got = self_bleu_scores(texts, max_order=max_order, smoothing=smoothing)
    assert got == pytest.approx(want, abs=1e-9, rel=0)
    assert self_bleu(texts, max_order=max_order, smoothing=smoothing) == pytest.approx(np.mean(want), abs=1e-9, rel=0)


def test_self_bleu_unsmoothed_keeps_nltk_tiny_floor():
    # NLTK without smoothing maps a zero 4-gram precision to the smallest float, so the
    # score is ~1e-77 rather than 0; we match that rather than "fix" it.
    scores = self_bleu_scores(["a b c d", "a b c e"], smoothing="none")
    assert 0 < scores[0] < 1e-60


def test_self_bleu_custom_tokenizer():
    assert self_bleu(["A B", "a b"], max_order=2, tokenize=lambda s: s.lower().split()) == pytest.approx(100.0)


# ------------------------------------------------------------ Entropy, correlation


def test_per_token_entropy_hand_checked():
    uniform = np.log(np.full(4, 0.25))  # H = ln 4
    one_hot = np.array([0.0, -np.inf, -np.inf, -np.inf])  # H = 0 (-inf contributes 0)
    log_probs = np.stack([uniform, one_hot])[None]  # [1, 2, 4]
    assert per_token_entropy(log_probs, np.array([[1, 1]])) == pytest.approx(math.log(4) / 2)
    assert per_token_entropy(log_probs, np.array([[1, 0]])) == pytest.approx(math.log(4))
    assert per_token_entropy(log_probs, np.array([[0, 1]])) == 0.0
    assert per_token_entropy(log_probs, np.array([[0, 0]])) == 0.0  # empty mask
    # Two-way split 0.75/0.25: H = -(0.75 ln 0.75 + 0.25 ln 0.25) = 0.562335 nats.
    assert per_token_entropy(np.log([[0.75, 0.25]]), np.array([1])) == pytest.approx(0.5623351446188083)


def test_per_token_entropy_ignores_padding_garbage_and_checks_shapes():
    log_probs = np.array([np.log([0.5, 0.5]), [np.nan, np.nan]])
    assert per_token_entropy(log_probs, np.array([1, 0])) == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="mask shape"):
        per_token_entropy(np.zeros((2, 3, 5)), np.ones((2, 4)))


def test_reward_correlation():
    # Ranks (1,2,3,4) vs (1,3,2,4): d^2 sum = 2 -> rho = 1 - 6*2/(4*(16-1)) = 0.8.
    assert reward_correlation([1.0, 2.0, 3.0, 4.0], [10, 30, 20, 40]) == pytest.approx(0.8)
    assert reward_correlation([3.0, 2.0, 1.0], [1, 2, 3]) == pytest.approx(-1.0)
    # [B, T] per-token rewards are summed per sequence: sums 1, 3, 2.
    assert reward_correlation([[1, 0], [1, 2], [2, 0]], [0.1, 0.9, 0.5]) == pytest.approx(1.0)


def test_reward_correlation_undefined_is_nan():
    assert math.isnan(reward_correlation([1.0], [2.0]))
    assert math.isnan(reward_correlation([], []))
    assert math.isnan(reward_correlation([1.0, 1.0, 1.0], [1, 2, 3]))
    assert math.isnan(reward_correlation([1.0, 2.0, 3.0], [5, 5, 5]))
    with pytest.raises(ValueError, match="3 reward sums but 2 metric values"):
        reward_correlation([1, 2, 3], [1, 2])


# ------------------------------------------------------ Empty generations never crash


def test_empty_generations_score_zero():
    refs = ["the cat sat on the mat.", "2 + 2 = <<2+2=4>>4\n#### 4"]
    empty = ["", ""]
    assert rouge(empty, refs) == {"rouge1": 0.0, "rouge2": 0.0, "rougeLsum": 0.0}
    assert bleu(empty, refs)["bleu"] == 0.0
    assert chrf(empty, refs)["chrf"] == 0.0
    assert gsm8k_accuracy(empty, refs) == 0.0
    assert self_bleu(empty) == 0.0
    assert self_bleu(["", "", "the cat"]) == 0.0
    # Empty references too: nothing crashes.
    assert rouge(["a b"], [""])["rouge1"] == 0.0
    assert bleu(["a b"], [""])["bleu"] == 0.0
