"""Self-BLEU speed: the one-pass leave-one-out method vs NLTK's definition, same run.

What is measured (both timed the same way: best of a few rounds of time.perf_counter,
inside this one test, on the same 1000 real XSum summaries, tokenised with str.split):

(a) ``self_bleu(texts)`` over all 1000 summaries (tokenising inside, all n-gram counting
    included), divided by 1000 -> seconds per hypothesis;
(b) NLTK's definition, ``sentence_bleu(others, hyp, weights=(0.25,)*4,
    smoothing_function=SmoothingFunction().method1)``, for the FIRST 50 hypotheses only,
    each against the other 999 (pre-tokenised, which favours NLTK), divided by 50 ->
    seconds per hypothesis. Full NLTK Self-BLEU on 1000 texts is O(N^2) (tens of
    seconds here), so its total is extrapolated as 1000 x that per-hypothesis time.

speed-up = (b) / (a), a ratio measured within the run (never an absolute time), printed
(run with -s to see it) and stored in ``benchmark.extra_info``. The pytest-benchmark
table itself times (a) with ``benchmark.pedantic``. The 50 fast per-hypothesis scores
must equal NLTK's within 1e-9.
"""

import json
import os
import warnings
from pathlib import Path

import pytest
from timing import best_time

from tasks.metrics import self_bleu, self_bleu_scores

REPO_ROOT = Path(__file__).resolve().parents[2]
N_TEXTS = 1000
N_NLTK = 50
MIN_SPEEDUP = 20


def _xsum_summaries(n: int) -> list[str]:
    value = os.environ.get("BENCH_DATA_DIR")
    if not value:
        pytest.skip("BENCH_DATA_DIR is not set (CI uses BENCH_DATA_DIR=../shared/data)")
    data_dir = Path(value) if Path(value).is_absolute() else (REPO_ROOT / value).resolve()
    with (data_dir / "xsum" / "test.jsonl").open() as f:
        summaries = [json.loads(line)["summary"] for _, line in zip(range(n), f)]
    assert len(summaries) == n, f"need {n} summaries in {data_dir / 'xsum' / 'test.jsonl'}, found {len(summaries)}"
    return summaries



def _nltk_subset(tokens: list[list[str]], n_hyp: int) -> list[float]:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    smoother = SmoothingFunction().method1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [
            100 * sentence_bleu(tokens[:i] + tokens[i + 1 :], tokens[i], weights=(0.25,) * 4, smoothing_function=smoother)
            for i in range(n_hyp)
        ]


def test_self_bleu_speedup_vs_nltk(benchmark):
    texts = _xsum_summaries(N_TEXTS)
    tokens = [t.split() for t in texts]

    score = benchmark.pedantic(self_bleu, args=(texts,), rounds=5, iterations=1, warmup_rounds=1)

    fast_total, _ = best_time(lambda: self_bleu(texts), rounds=5)
    nltk_total, nltk_scores = best_time(lambda: _nltk_subset(tokens, N_NLTK), rounds=2)
    fast_per_hyp = fast_total / N_TEXTS
    nltk_per_hyp = nltk_total / N_NLTK
    speedup = nltk_per_hyp / fast_per_hyp

    fast_scores = self_bleu_scores(texts)[:N_NLTK]
    worst = max(abs(a - b) for a, b in zip(fast_scores, nltk_scores))

    benchmark.extra_info.update(
        {
            "n_texts": N_TEXTS,
            "nltk_hypotheses_timed": N_NLTK,
            "self_bleu": score,
            "fast_seconds_all_1000": fast_total,
            "nltk_seconds_first_50": nltk_total,
            "nltk_seconds_1000_extrapolated": nltk_per_hyp * N_TEXTS,
            "speedup_per_hypothesis": speedup,
            "max_abs_diff_vs_nltk": worst,
        }
    )
    print(
        f"\nSelf-BLEU on {N_TEXTS} XSum summaries = {score:.4f} (0-100).\n"
        f"fast: {fast_total * 1e3:.1f} ms for all {N_TEXTS} hypotheses "
        f"({fast_per_hyp * 1e6:.1f} us/hypothesis)\n"
        f"NLTK: {nltk_total:.2f} s for the first {N_NLTK} hypotheses vs the other {N_TEXTS - 1} "
        f"({nltk_per_hyp * 1e3:.2f} ms/hypothesis; ~{nltk_per_hyp * N_TEXTS:.0f} s extrapolated to {N_TEXTS})\n"
        f"speed-up per hypothesis: {speedup:.0f}x; max |fast - NLTK| on the {N_NLTK}: {worst:.1e}"
    )
    assert worst <= 1e-9
    assert speedup >= MIN_SPEEDUP, f"speed-up {speedup:.1f}x is below {MIN_SPEEDUP}x"
