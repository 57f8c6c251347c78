"""Task metrics: ROUGE, BLEU/ChrF, GSM8k accuracy, Self-BLEU, entropy, reward correlation.

Pure Python + numpy (scipy, rouge-score and sacrebleu are imported lazily, inside the
function that needs them, so importing this module stays cheap). No JAX here: scoring
text must not need a model stack.

Scales, so that nothing is compared across scales by accident:

=====================  =====================================================
rouge, bleu, chrf      0-100 (F-measure x 100 for ROUGE; sacrebleu's scale)
gsm8k_accuracy         0-100 (percentage of correct final answers)
self_bleu              0-100 (mean sentence BLEU x 100; lower = more diverse)
per_token_entropy      nats per generated token
reward_correlation     Spearman rho in [-1, 1], or nan when undefined
=====================  =====================================================
"""

from __future__ import annotations

import bisect
import math
import re
import sys
from collections import Counter
from typing import Callable, Sequence

import numpy as np

__all__ = [
    "rouge",
    "rouge_sentence_splitter",
    "split_sentences",
    "bleu",
    "chrf",
    "gsm8k_answer",
    "gsm8k_accuracy",
    "self_bleu",
    "self_bleu_scores",
    "per_token_entropy",
    "reward_correlation",
]


def _check_pair(name: str, predictions: Sequence, references: Sequence) -> None:
    if len(predictions) != len(references):
        raise ValueError(
            f"{name}: got {len(predictions)} predictions but {len(references)} references; "
            "pass one reference entry per prediction."
        )
    if len(predictions) == 0:
        raise ValueError(f"{name}: got no predictions; pass at least one prediction/reference pair.")


# ----------------------------------------------------------------------------- ROUGE

# A sentence ends at '.', '!' or '?' (optionally followed by closing quotes or brackets)
# followed by whitespace. Two fixed-width look-behinds because Python's `re` needs them.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'\u201d\u2019)\]]))\s+")

_PUNKT_AVAILABLE: bool | None = None


def _punkt_available() -> bool:
    """Whether NLTK's punkt sentence model is on disk (never downloads it). Cached."""
    global _PUNKT_AVAILABLE
    if _PUNKT_AVAILABLE is None:
        try:
            import nltk

            nltk.data.find("tokenizers/punkt_tab/english/")
            _PUNKT_AVAILABLE = True
        except (ImportError, LookupError, OSError):
            _PUNKT_AVAILABLE = False
    return _PUNKT_AVAILABLE


def rouge_sentence_splitter(splitter: str = "regex") -> str:
    """Which sentence splitter ``rouge(..., splitter=splitter)`` uses here: "punkt" or "regex".

    The default is "regex" so that ROUGE-Lsum is the same on every machine; "auto" picks
    "punkt" when NLTK's punkt_tab data happens to be installed, else "regex". Log this next
    to ROUGE-Lsum scores: the two splitters can give slightly different ROUGE-Lsum
    (ROUGE-1/2 do not depend on it).
    """
    if splitter == "auto":
        return "punkt" if _punkt_available() else "regex"
    if splitter not in ("punkt", "regex"):
        raise ValueError(f"splitter must be 'auto', 'punkt' or 'regex', got {splitter!r}.")
    if splitter == "punkt" and not _punkt_available():
        raise ValueError(
            "splitter='punkt' needs NLTK's punkt_tab data, which is not installed; "
            "run nltk.download('punkt_tab') or use splitter='regex'."
        )
    return splitter


def split_sentences(text: str, splitter: str = "regex") -> list[str]:
    """Splits text into sentences for ROUGE-Lsum.

    "regex" (the deterministic fallback): existing line breaks are sentence boundaries,
    and so is any run of whitespace that follows '.', '!' or '?' (optionally followed
    by a closing quote or bracket). Known limitation: abbreviations such as "Mr. Smith"
    are split; numbers like "3.5" are not (no whitespace after the dot).
    "punkt": NLTK's ``sent_tokenize`` on each line, as T5/HF-style evaluations do.
    """
    kind = rouge_sentence_splitter(splitter)
    sentences: list[str] = []
    for line in text.split("\n"):
        if kind == "punkt":
            import nltk

            pieces = nltk.sent_tokenize(line)
        else:
            pieces = _SENTENCE_END.split(line)
        sentences.extend(p.strip() for p in pieces if p.strip())
    return sentences


def rouge(predictions: list[str], references: list[str], splitter: str = "regex") -> dict[str, float]:
    """ROUGE-1, ROUGE-2 and ROUGE-Lsum F-measures, mean over examples, x100.

    For each pair, with rouge-score's tokenizer (lower-case, alphanumeric tokens) and
    Porter stemmer: ``F = 2PR / (P + R)`` where P and R are the clipped n-gram overlap
    divided by the prediction / reference n-gram counts (ROUGE-N), or, for ROUGE-Lsum,
    the summary-level union-LCS over sentences (each sentence on its own line first,
    as T5's evaluation prepares summaries; see :func:`split_sentences`). Scores are
    averaged over examples with a plain mean (T5 reports the bootstrap median of
    means, which agrees to well within a bootstrap interval).

    An empty prediction scores 0 for that example.

    Returns:
      ``{"rouge1": ..., "rouge2": ..., "rougeLsum": ...}`` on a 0-100 scale.
    """
    _check_pair("rouge", predictions, references)
    from rouge_score import rouge_scorer

    keys = ("rouge1", "rouge2", "rougeLsum")
    scorer = rouge_scorer.RougeScorer(list(keys), use_stemmer=True)
    totals = dict.fromkeys(keys, 0.0)
    for prediction, reference in zip(predictions, references):
        # rouge-score splits Lsum inputs on '\n' only; ROUGE-1/2 ignore line breaks.
        pred = "\n".join(split_sentences(prediction, splitter))
        ref = "\n".join(split_sentences(reference, splitter))
        scores = scorer.score(ref, pred)  # rouge-score's order: (target, prediction)
        for key in keys:
            totals[key] += scores[key].fmeasure
    return {key: 100.0 * total / len(predictions) for key, total in totals.items()}


# ------------------------------------------------------------------- BLEU / ChrF


def _reference_streams(name: str, references: Sequence) -> list[list[str]]:
    """list[str] (one per prediction) or list[list[str]] (k per prediction) -> k streams."""
    if all(isinstance(r, str) for r in references):
        return [list(references)]
    if not all(isinstance(r, (list, tuple)) for r in references):
        raise ValueError(
            f"{name}: references must be all strings or all lists of strings; "
            "pass one string or one equal-length list of strings per prediction."
        )
    sizes = {len(r) for r in references}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(
            f"{name}: every prediction needs the same number (>= 1) of references, got sizes "
            f"{sorted(sizes)}; pad or trim the reference lists to one common length."
        )
    return [list(stream) for stream in zip(*references)]


def bleu(predictions: list[str], references: list[str] | list[list[str]]) -> dict:
    """Corpus BLEU with sacrebleu's defaults (13a tokenizer, exp smoothing), 0-100.

    ``BLEU = BP * exp(sum_n 1/4 log p_n)`` with p_n the corpus-level clipped n-gram
    precisions (n = 1..4) and ``BP = min(1, exp(1 - r/c))`` (c: total prediction length,
    r: total closest reference length).

    Args:
      predictions: one string per example.
      references: one string per prediction, or one list of k strings per prediction
        (k reference streams, the same k for every prediction).

    Returns:
      ``{"bleu": score, "bleu_signature": "nrefs:1|case:mixed|eff:no|tok:13a|..."}``.
    """
    _check_pair("bleu", predictions, references)
    from sacrebleu.metrics import BLEU

    metric = BLEU()
    result = metric.corpus_score(list(predictions), _reference_streams("bleu", references))
    return {"bleu": float(result.score), "bleu_signature": str(metric.get_signature())}


def chrf(predictions: list[str], references: list[str] | list[list[str]]) -> dict:
    """Corpus chrF2 with sacrebleu's defaults (character 6-grams, beta 2), 0-100.

    ``chrF_beta = (1 + beta^2) P R / (beta^2 P + R)`` with P and R the character n-gram
    precision and recall averaged over n = 1..6. References as in :func:`bleu`.

    Returns:
      ``{"chrf": score, "chrf_signature": str}``.
    """
    _check_pair("chrf", predictions, references)
    from sacrebleu.metrics import CHRF

    metric = CHRF()
    result = metric.corpus_score(list(predictions), _reference_streams("chrf", references))
    return {"chrf": float(result.score), "chrf_signature": str(metric.get_signature())}


# -------------------------------------------------------------------------- GSM8k

# A number: optional sign (only when not glued to a preceding digit, so "16-3-4" ends in
# "4", not "-4"), an optional leading '.', then digits with ',' and '.' inside, ending on
# a digit (so a sentence's final '.' or ',' is never part of it).
_NUMBER = re.compile(r"(?<![0-9])-?\.?[0-9](?:[0-9.,]*[0-9])?")


def _normalise_number(raw: str) -> str | None:
    text = raw.replace(",", "").rstrip(".")
    try:
        float(text)
    except ValueError:  # e.g. "1.2.3"
        return None
    return text


def gsm8k_answer(text: str) -> str | None:
    """The final numeric answer of a GSM8k solution, as a string without commas.

    Rule: if the text contains '####', the answer is the first number after the last
    '####' (GSM8k's ``#### 1,450,000`` -> ``"1450000"``; ``#### $18.`` -> ``"18"``). If
    the last '####' is followed by no number, the answer is None: the model committed
    to a non-numeric answer. Fallback when there is no '####' at all (models that never
    learned the marker): the last number in the text.

    Commas are removed and a trailing '.' dropped; a string that does not parse as a
    number (e.g. "1.2.3") gives None.
    """
    marker = text.rfind("####")
    if marker >= 0:
        match = _NUMBER.search(text, marker + 4)
        return _normalise_number(match.group(0)) if match else None
    numbers = _NUMBER.findall(text)
    return _normalise_number(numbers[-1]) if numbers else None


def gsm8k_accuracy(predictions: list[str], references: list[str], tolerance: float = 1e-6) -> float:
    """Percentage (0-100) of predictions whose final answer equals the reference's.

    ``acc = 100 * mean_i [ |float(a(pred_i)) - float(a(ref_i))| < tolerance ]`` with
    ``a = gsm8k_answer``; a missing answer (None) on either side never matches.
    References are GSM8k answer strings ending with ``#### N``.
    """
    _check_pair("gsm8k_accuracy", predictions, references)
    correct = 0
    for prediction, reference in zip(predictions, references):
        got, want = gsm8k_answer(prediction), gsm8k_answer(reference)
        if got is not None and want is not None and abs(float(got) - float(want)) < tolerance:
            correct += 1
    return 100.0 * correct / len(predictions)


# ---------------------------------------------------------------------- Self-BLEU

_SMOOTHING_EPSILON = 0.1  # NLTK SmoothingFunction(epsilon=0.1).method1
# NLTK's unsmoothed BLEU replaces a zero precision by the smallest positive float, so
# log p = -708.4 and the score becomes ~1e-77 rather than exactly 0; matched on purpose.
_NO_SMOOTHING_FLOOR = sys.float_info.min


def _ngram_counts(tokens: list[str], max_order: int) -> list[Counter]:
    """counts[n-1][g] = occurrences of the n-gram g (a tuple) in tokens, n = 1..max_order."""
    return [Counter(zip(*(tokens[k:] for k in range(n)))) for n in range(1, max_order + 1)]


def _max_and_runner_up(all_counts: list[list[Counter]], max_order: int, stats: list[dict] | None = None, start: int = 0) -> list[dict]:
    """Per order: n-gram -> [max count over texts, second-max count, index holding the max].

    The second max is over the multiset of per-text counts, so two texts tied at the max
    give second-max == max: leaving either one out still leaves the max in the others.
    ``stats`` and ``start``: extend (in place) the table of earlier texts with these, numbered from
    ``start`` (texts that come in chunks: :mod:`tasks.scoring`).
    """
    stats = [{} for _ in range(max_order)] if stats is None else stats
    for j, per_order in enumerate(all_counts, start):
        for table, counts in zip(stats, per_order):
            for gram, c in counts.items():
                entry = table.get(gram)
                if entry is None:
                    table[gram] = [c, 0, j]
                elif c > entry[0]:
                    entry[1], entry[0], entry[2] = entry[0], c, j
                elif c > entry[1]:
                    entry[1] = c
    return stats


def _closest_other_length(sorted_lengths: list[int], own: int) -> int:
    """Closest length to ``own`` among sorted_lengths with one copy of ``own`` removed.

    Ties go to the shorter length (NLTK's closest_ref_length). ``own`` is in the list.
    """
    lo = bisect.bisect_left(sorted_lengths, own)
    hi = bisect.bisect_right(sorted_lengths, own)
    if hi - lo >= 2:  # another text has exactly this length
        return own
    candidates = []
    if lo > 0:
        candidates.append(sorted_lengths[lo - 1])
    if hi < len(sorted_lengths):
        candidates.append(sorted_lengths[hi])
    return min(candidates, key=lambda r: (abs(r - own), r))


def _sentence_bleu(matches: list[int], hyp_len: int, ref_len: int, max_order: int, smoothing: str) -> float:
    """NLTK sentence_bleu from clipped match counts, on a 0-1 scale.

    p_n = matches_n / max(1, hyp_len - n + 1); zero-match orders are smoothed (method1:
    0.1 / denominator; none: the smallest float). No unigram match -> 0.
    BLEU = BP * exp(fsum_n (1/N) log p_n), BP = 1 if hyp_len > ref_len else
    exp(1 - ref_len / hyp_len).
    """
    if hyp_len == 0 or matches[0] == 0:
        return 0.0
    weight = 1.0 / max_order
    terms = []
    for n in range(1, max_order + 1):
        denominator = max(1, hyp_len - n + 1)
        numerator = matches[n - 1]
        if numerator > 0:
            p = numerator / denominator
        elif smoothing == "method1":
            p = _SMOOTHING_EPSILON / denominator
        else:
            p = _NO_SMOOTHING_FLOOR
        terms.append(weight * math.log(p))
    brevity = 1 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return brevity * math.exp(math.fsum(terms))


def self_bleu_scores(
    texts: list[str],
    max_order: int = 4,
    smoothing: str = "method1",
    tokenize: Callable[[str], list[str]] = str.split,
) -> list[float]:
    """Per-text leave-one-out sentence BLEU (0-100); :func:`self_bleu` is their mean.

    See :func:`self_bleu` for the definition. Fewer than 2 texts -> ``[0.0] * len(texts)``.
    """
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise ValueError("self_bleu: texts must be a list of strings; wrap a single text in a list.")
    if not isinstance(max_order, int) or max_order < 1:
        raise ValueError(f"self_bleu: max_order must be a positive int, got {max_order!r}.")
    if smoothing not in ("method1", "none"):
        raise ValueError(f"self_bleu: smoothing must be 'method1' or 'none', got {smoothing!r}.")
    if len(texts) < 2:
        return [0.0] * len(texts)

    tokens = [list(tokenize(t)) for t in texts]
    all_counts = [_ngram_counts(t, max_order) for t in tokens]
    stats = _max_and_runner_up(all_counts, max_order)
    sorted_lengths = sorted(len(t) for t in tokens)

    scores = []
    for i, per_order in enumerate(all_counts):
        matches = []
        for table, counts in zip(stats, per_order):
            clipped = 0
            for gram, c in counts.items():
                top, runner_up, holder = table[gram]
                # Clip by the max count over the OTHER texts.
                clipped += min(c, runner_up if holder == i else top)
            matches.append(clipped)
        hyp_len = len(tokens[i])
        ref_len = _closest_other_length(sorted_lengths, hyp_len)
        scores.append(100.0 * _sentence_bleu(matches, hyp_len, ref_len, max_order, smoothing))
    return scores


def self_bleu(
    texts: list[str],
    max_order: int = 4,
    smoothing: str = "method1",
    tokenize: Callable[[str], list[str]] = str.split,
) -> float:
    """Self-BLEU of a set of generations, 0-100 (higher = less diverse).

    ``SelfBLEU = 100 * (1/N) sum_i BLEU(hyp = texts[i], refs = {texts[j] : j != i})``,
    each term NLTK's ``sentence_bleu`` with uniform weights 1/max_order:
    modified precision p_n clips each hypothesis n-gram count by its MAX count over the
    references; the brevity penalty uses the reference length closest to the hypothesis
    length (ties -> shorter); ``smoothing="method1"`` adds 0.1 to zero numerators
    (NLTK ``SmoothingFunction().method1``, the Texygen convention), ``"none"`` is NLTK's
    default (a zero precision becomes the smallest float, so the score is ~1e-77, not 0).
    A hypothesis with no unigram match, or an empty one, scores 0; an empty text still
    serves as a (length-0) reference for the others.

    Leave-one-out is exact (the hypothesis is never its own reference). Cost is linear
    in the total number of n-grams: one pass records, per n-gram, the max and
    second-max count over the set and which text holds the max, so the clip count
    against "all but i" is the second max when i holds the max, else the max.

    Fewer than 2 texts -> 0.0 (no references to compare against).
    """
    scores = self_bleu_scores(texts, max_order=max_order, smoothing=smoothing, tokenize=tokenize)
    if len(scores) < 2:
        return 0.0
    return math.fsum(scores) / len(scores)


# ------------------------------------------------------------ Entropy, correlation


def per_token_entropy(log_probs: np.ndarray, mask: np.ndarray) -> float:
    """Token-weighted mean entropy of the policy, in nats per generated token.

    ``H_t = -sum_v p_t(v) log p_t(v)`` with ``p = exp(log_probs)`` (a -inf log
    probability contributes 0, the limit of p log p), and the result is
    ``sum_t mask_t H_t / sum_t mask_t``.

    Args:
      log_probs: [..., V] log-probabilities over the vocabulary at each position.
      mask: [...] 1 for generated tokens, 0 for padding (same leading shape).

    Returns:
      The mean entropy, or 0.0 when the mask selects no token.
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    mask = np.asarray(mask, dtype=np.float64)
    if log_probs.ndim < 1 or log_probs.shape[:-1] != mask.shape:
        raise ValueError(
            f"per_token_entropy: log_probs shape {log_probs.shape} must be mask shape "
            f"{mask.shape} plus a trailing vocabulary axis."
        )
    total = mask.sum()
    if total == 0:
        return 0.0
    finite = np.isfinite(log_probs)
    safe = np.where(finite, log_probs, 0.0)
    p_log_p = np.where(finite, np.exp(safe) * safe, 0.0)
    entropy = -p_log_p.sum(axis=-1)
    # Padding positions may hold garbage (nan); never let it leak through a 0 weight.
    weighted = np.where(mask != 0, entropy * mask, 0.0)
    return float(weighted.sum() / total)


def reward_correlation(rewards, metric) -> float:
    """Spearman rank correlation between per-sequence total reward and a task metric.

    ``rho = Pearson(rank(R), rank(m))`` (scipy.stats.spearmanr, average ranks for ties),
    where ``R_i`` is sequence i's summed reward.

    Args:
      rewards: [B] per-sequence summed rewards, or [B, T] per-token rewards that are
        summed over the last axis here (padding positions must hold 0).
      metric: [B] per-sequence task metric (e.g. ROUGE-1 of each summary).

    Returns:
      rho in [-1, 1]; ``float('nan')`` when it is undefined: fewer than 2 sequences or
      either input constant (also nan if an input holds nan).
    """
    totals = np.asarray(rewards, dtype=np.float64)
    if totals.ndim == 2:
        totals = totals.sum(axis=-1)
    values = np.asarray(metric, dtype=np.float64)
    if totals.ndim != 1 or values.ndim != 1:
        raise ValueError(
            f"reward_correlation: rewards must be [B] or [B, T] and metric [B], got shapes "
            f"{np.shape(rewards)} and {np.shape(metric)}."
        )
    if totals.shape != values.shape:
        raise ValueError(
            f"reward_correlation: got {totals.shape[0]} reward sums but {values.shape[0]} "
            "metric values; pass one of each per sequence."
        )
    if totals.size < 2 or np.all(totals == totals[0]) or np.all(values == values[0]):
        return float("nan")
    from scipy.stats import spearmanr

    return float(spearmanr(totals, values).statistic)
