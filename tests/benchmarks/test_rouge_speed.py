"""ROUGE speed: the harness's ``tasks.metrics.rouge`` against rouge-score's own scorer loop, same run.

What is measured (both timed the same way: best of a few rounds of time.perf_counter, in this one test, on the
same 300 synthetic prediction / reference pairs of two to four sentences, generated from a seed so that no data
is needed):

(a) ``rouge(predictions, references)``: ROUGE-1/2/Lsum with the stemmer, every text split into sentences first
    (one per line, as T5's evaluation prepares ROUGE-Lsum);
(b) rouge-score's ``RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=True).score`` over the same pairs,
    split into sentences beforehand (so both compute the same scores, and (a) pays only for its own work).

overhead = (a) / (b), a ratio within the run (never an absolute time), printed (``-s``) and stored in
``benchmark.extra_info``; it must stay below 2 (the splitter is a regex, the scoring is rouge-score's own).
"""

from __future__ import annotations

import random

import pytest
from timing import best_time

from tasks.metrics import rouge, split_sentences

N_PAIRS = 300
MAX_OVERHEAD = 2.0
WORDS = ("the council said new rules would apply from next year to all schools in the region while "
         "critics argued costs were rising and families faced longer journeys police confirmed a man was arrested").split()


def _text(rng: random.Random) -> str:
    sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))).capitalize() + "." for _ in range(rng.randint(2, 4))]
    return " ".join(sentences)



def test_rouge_overhead_over_rouge_score(benchmark):
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    rng = random.Random(0)
    predictions, references = [_text(rng) for _ in range(N_PAIRS)], [_text(rng) for _ in range(N_PAIRS)]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=True)

    scores = benchmark.pedantic(rouge, args=(predictions, references), rounds=2, iterations=1, warmup_rounds=1)
    ours, _ = best_time(lambda: rouge(predictions, references), rounds=3)
    lines = lambda text: "\n".join(split_sentences(text))  # noqa: E731
    split = [(lines(p), lines(r)) for p, r in zip(predictions, references)]
    plain, raw = best_time(lambda: [scorer.score(r, p) for p, r in split], rounds=3)
    assert scores["rougeLsum"] == pytest.approx(100 * sum(s["rougeLsum"].fmeasure for s in raw) / N_PAIRS)
    overhead = ours / plain
    benchmark.extra_info.update({"pairs": N_PAIRS, "rouge_seconds": ours, "rouge_score_seconds": plain, "overhead": overhead, **scores})
    print(f"\nROUGE on {N_PAIRS} pairs: {ours * 1e3:.0f} ms, rouge-score alone {plain * 1e3:.0f} ms -> {overhead:.2f}x")
    assert all(0 < scores[k] < 100 for k in ("rouge1", "rouge2", "rougeLsum"))
    assert overhead < MAX_OVERHEAD, f"tasks.metrics.rouge is {overhead:.2f}x rouge-score's own loop"
