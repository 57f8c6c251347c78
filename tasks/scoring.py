"""Score predictions on a text task: the task's own metrics plus Self-BLEU, each family computed once.

:func:`score` is the one place that maps a task's metric names (``TextTask.metrics``) to the
computations of :mod:`tasks.metrics`, so every front end reports the same numbers: ``bench
score`` (a file of generations) and the seqio adapter (:mod:`tasks.seqio_tasks`, predictions
decoded by seqio) both call it.

A *family* computes a group of metrics over all predictions at once (the three ROUGE scores
come from one pass), so a task asking for rouge1, rouge2 and rougeLsum runs ROUGE once.

Which references each metric uses:

- ``accuracy``, ``accuracy_calculator``, ``rouge*``: the first reference of each prediction;
- ``bleu``, ``chrf``: every reference when all predictions have the same number of them
  (sacrebleu's reference streams), else the first of each, with a note saying so;
- ``accuracy_calculator`` scores the calculator-in-the-loop output of each prediction; where
  none is given it falls back to ``tasks.calculator.apply(prediction)``, with a note counting
  the fallbacks (the notes use the words of the harness's generations files: a line, its
  ``generation_calculator``).

Values are on a 0-100 scale, in the order of ``task.metrics`` then ``self_bleu``.

Memory is bounded by a chunk of predictions, not by their number: :func:`score_chunks` reads its
input twice, chunk by chunk (at most ``CHUNK`` predictions each). The first pass checks every
chunk, counts the references per prediction (which BLEU/chrF form applies) and builds Self-BLEU's
n-gram table; the second feeds each family, which keeps only sums: correct answers, ROUGE
F-measures, sacrebleu's sufficient statistics (integers, so BLEU and chrF equal sacrebleu's
corpus scores exactly) and the per-prediction Self-BLEU terms (8 bytes each). What grows with the
input is Self-BLEU's table of distinct n-grams: its leave-one-out clip needs, for every n-gram,
the largest count over all the other predictions. :func:`score` is :func:`score_chunks` over
lists, so every front end gets the same numbers.

Standard library, sacrebleu and :mod:`tasks` only: no JAX, no bench, no TensorFlow.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

from tasks import calculator, metrics
from tasks.text import TextTask

__all__ = ["Scores", "Shape", "FAMILIES", "CHUNK", "score", "score_chunks", "normalise_references", "multi_references"]

CHUNK = 1000  # predictions per chunk: what scoring holds at once


@dataclass
class Scores:
    """Metric -> value (0-100), sacrebleu signatures (and ROUGE's splitter) and notes for the reader."""

    values: dict[str, float] = field(default_factory=dict)
    signatures: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def update(self, other: "Scores") -> None:
        self.values.update(other.values)
        self.signatures.update(other.signatures)
        self.notes.extend(other.notes)


@dataclass(frozen=True)
class _Inputs:
    """What every family reads: predictions, their reference tuples and calculator outputs (None: absent)."""

    predictions: list[str]
    references: list[tuple[str, ...]]
    predictions_calculator: list[str | None]

    @property
    def first_references(self) -> list[str]:
        return [refs[0] for refs in self.references]


# ---------------------------------------------------------------------------------------------
# Checking the inputs.


def _is_strings(value: object) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def normalise_references(references: Sequence[str] | Sequence[Sequence[str]]) -> list[tuple[str, ...]]:
    """One tuple of reference strings per prediction, from one string or one non-empty sequence of strings each."""
    out = []
    for i, refs in enumerate(references):
        refs = (refs,) if isinstance(refs, str) else refs
        if not _is_strings(refs) or not refs:
            raise ValueError(f"reference {i} is {refs!r}, not a string or a non-empty list of strings; pass one of those per prediction.")
        out.append(tuple(refs))
    return out


def _inputs(
    predictions: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]],
    predictions_calculator: Sequence[str | None] | None,
) -> _Inputs:
    """Check lengths and types once, so the families can trust their inputs."""
    if isinstance(predictions, str) or not _is_strings(predictions := list(predictions)):
        raise ValueError("predictions must be a list of strings; pass one decoded string per example.")
    n = len(predictions)
    if len(references) != n:
        raise ValueError(f"got {n} predictions but {len(references)} references; pass one reference entry per prediction.")
    calc = [None] * n if predictions_calculator is None else list(predictions_calculator)
    if len(calc) != n or not all(c is None or isinstance(c, str) for c in calc):
        raise ValueError(f"predictions_calculator must be None or {n} entries, each a string or None; pass one per prediction.")
    return _Inputs(predictions, normalise_references(references), calc)


def _chunks_of(x: _Inputs, size: int) -> Iterator[tuple[list[str], list[tuple[str, ...]], list[str | None]]]:
    """``x`` in slices of ``size`` predictions."""
    for i in range(0, len(x.predictions), size):
        yield x.predictions[i : i + size], x.references[i : i + size], x.predictions_calculator[i : i + size]


@dataclass(frozen=True)
class Shape:
    """What the first pass learns of the whole input: the number of predictions and of references per prediction."""

    count: int
    reference_counts: frozenset[int]


# ---------------------------------------------------------------------------------------------
# Metric families: each sums one group of metrics over the chunks (``add``), then gives its Scores.


class _Accuracy:
    """GSM8k accuracy: 100 * correct / count, the correct answers counted chunk by chunk."""

    name = "accuracy"

    def __init__(self, shape: Shape):
        self.shape, self.correct, self.missing = shape, 0, 0

    def outputs(self, x: _Inputs) -> list[str]:
        return x.predictions

    def add(self, x: _Inputs) -> None:
        # gsm8k_accuracy is 100 * correct / n: rounding recovers the integer count exactly (n < 2**40)
        self.correct += round(metrics.gsm8k_accuracy(self.outputs(x), x.first_references) * len(x.predictions) / 100)

    def result(self) -> Scores:
        return Scores({self.name: 100.0 * self.correct / self.shape.count})


class _AccuracyCalculator(_Accuracy):
    """Accuracy of the calculator-in-the-loop outputs; ``tasks.calculator.apply(prediction)`` where none is given."""

    name = "accuracy_calculator"

    def outputs(self, x: _Inputs) -> list[str]:
        self.missing += sum(c is None for c in x.predictions_calculator)
        return [c if c is not None else calculator.apply(p) for p, c in zip(x.predictions, x.predictions_calculator)]

    def result(self) -> Scores:
        scores = super().result()
        if self.missing:
            scores.notes.append(
                f"accuracy_calculator: {self.missing} of {self.shape.count} lines have no 'generation_calculator'; used "
                "tasks.calculator.apply(generation) for them, which fixes only the <<expr=result>> results, "
                "not what calculator-in-the-loop decoding would change after them."
            )
        return scores


class _Rouge:
    """ROUGE-1/2/Lsum: the mean F-measure over all predictions, from each chunk's mean times its size."""

    KEYS = ("rouge1", "rouge2", "rougeLsum")

    def __init__(self, shape: Shape):
        self.shape, self.sums = shape, dict.fromkeys(self.KEYS, 0.0)

    def add(self, x: _Inputs) -> None:
        out = metrics.rouge(x.predictions, x.first_references)
        for key in self.KEYS:
            self.sums[key] += float(out[key]) * len(x.predictions)

    def result(self) -> Scores:
        splitter = f"sentence splitter:{metrics.rouge_sentence_splitter()}|stemmer:porter"
        return Scores({k: total / self.shape.count for k, total in self.sums.items()}, {"rougeLsum": splitter})


def multi_references(references: Sequence[tuple[str, ...]]) -> tuple[list[str] | list[list[str]], str | None]:
    """References for BLEU/chrF: one string each, or one equal-length list each; plus a note if some were dropped."""
    refs, note = _reference_form(frozenset(len(r) for r in references))
    return [r[0] for r in references] if refs == 1 else [list(r) for r in references], note


def _reference_form(sizes: frozenset[int]) -> tuple[int, str | None]:
    """How many references per prediction BLEU/chrF use (1: the first; k: all k), and the note if some are dropped."""
    if len(sizes) == 1:
        return next(iter(sizes)), None
    return 1, (
        f"bleu/chrf: lines have different numbers of references ({', '.join(map(str, sorted(sizes)))}); "
        "scored against the first reference of each line only."
    )


def _sacrebleu(name: str) -> Callable[[Shape], "_SacreBleu"]:
    """The family of corpus BLEU or chrF with sacrebleu's defaults (as :func:`tasks.metrics.bleu` / ``chrf``)."""

    def family(shape: Shape) -> _SacreBleu:
        return _SacreBleu(name, shape)

    family.__name__ = f"_{name}"
    return family


class _SacreBleu:
    """A sacrebleu corpus score from its sufficient statistics summed over the chunks: per-segment integer counts
    (n-gram matches, totals, lengths), so the sum, and the score, equal sacrebleu's ``corpus_score`` exactly."""

    def __init__(self, name: str, shape: Shape):
        from sacrebleu.metrics import BLEU, CHRF

        self.name, self.metric, self.stats = name, (BLEU if name == "bleu" else CHRF)(), None
        self.nrefs, self.note = _reference_form(shape.reference_counts)

    def add(self, x: _Inputs) -> None:
        refs = [r[0] for r in x.references] if self.nrefs == 1 else [list(r) for r in x.references]
        streams = metrics._reference_streams(self.name, refs)
        for segment in self.metric._extract_corpus_statistics(x.predictions, streams):
            self.stats = list(segment) if self.stats is None else [a + b for a, b in zip(self.stats, segment)]

    def result(self) -> Scores:
        value = float(self.metric._compute_score_from_stats(self.stats).score)
        return Scores({self.name: value}, {self.name: str(self.metric.get_signature())}, [self.note] if self.note else [])


FAMILIES: dict[str, Callable[[Shape], object]] = {
    "accuracy": _Accuracy,
    "accuracy_calculator": _AccuracyCalculator,
    "rouge1": _Rouge,
    "rouge2": _Rouge,
    "rougeLsum": _Rouge,
    "bleu": _sacrebleu("bleu"),
    "chrf": _sacrebleu("chrf"),
}


def _families(task: TextTask) -> list[Callable[[Shape], object]]:
    """The distinct families behind ``task.metrics``, in first-use order; an unknown metric is a ValueError."""
    unknown = [name for name in task.metrics if name not in FAMILIES]
    if unknown:
        raise ValueError(f"task {task.name} asks for metric(s) {', '.join(unknown)} that tasks.scoring cannot compute; use {', '.join(FAMILIES)}.")
    return list(dict.fromkeys(FAMILIES[name] for name in task.metrics))


# ---------------------------------------------------------------------------------------------
# Self-BLEU in two passes.


class _SelfBleu:
    """:func:`tasks.metrics.self_bleu` of predictions that come in chunks, exactly (max order 4, method1, split on
    whitespace). Pass 1, :meth:`observe` on every chunk in order: per n-gram the max count over the predictions, the
    runner-up and the first prediction holding the max (:func:`tasks.metrics._max_and_runner_up`, extended chunk by
    chunk), and how often each length occurs. Pass 2, :meth:`add` on the same chunks: each prediction's sentence
    BLEU against all the others, clipped by the runner-up where it holds the max."""

    ORDER = 4

    def __init__(self):
        self.table: list[dict] = [{} for _ in range(self.ORDER)]
        self.lengths: Counter = Counter()
        self.observed, self.scores = 0, array("d")
        self._sorted_lengths: list[int] | None = None

    @staticmethod
    def _counts(text: str) -> tuple[list[str], list[Counter]]:
        tokens = [sys.intern(t) for t in text.split()]  # interned: the table's n-grams share their strings
        return tokens, metrics._ngram_counts(tokens, _SelfBleu.ORDER)

    def observe(self, texts: list[str]) -> None:
        counted = [self._counts(t) for t in texts]
        metrics._max_and_runner_up([counts for _, counts in counted], self.ORDER, self.table, self.observed)
        self.lengths.update(len(tokens) for tokens, _ in counted)
        self.observed += len(texts)

    def add(self, texts: list[str]) -> None:
        if self._sorted_lengths is None:  # each length at most twice: all _closest_other_length needs to see
            self._sorted_lengths = sorted(n for n, k in self.lengths.items() for _ in range(min(k, 2)))
        for text in texts:
            if self.observed < 2:  # no other prediction to compare with
                self.scores.append(0.0)
                continue
            i = len(self.scores)
            tokens, per_order = self._counts(text)
            matches = []
            for table, counts in zip(self.table, per_order):
                clipped = 0
                for gram, c in counts.items():
                    top, runner_up, holder = table[gram]
                    clipped += min(c, runner_up if holder == i else top)  # the max over the OTHER predictions
                matches.append(clipped)
            other = metrics._closest_other_length(self._sorted_lengths, len(tokens))
            self.scores.append(100.0 * metrics._sentence_bleu(matches, len(tokens), other, self.ORDER, "method1"))

    def result(self) -> float:
        return math.fsum(self.scores) / len(self.scores) if len(self.scores) >= 2 else 0.0


# ---------------------------------------------------------------------------------------------


Chunk = tuple[Sequence[str], Sequence, "Sequence[str | None] | None"]


def score_chunks(task: TextTask, chunks: Callable[[], Iterable[Chunk]]) -> Scores:
    """:func:`score` of predictions that come in chunks, holding one chunk at a time.

    Args:
      task: the text task whose ``metrics`` to compute.
      chunks: called twice, each call an iterable of the same ``(predictions, references,
        predictions_calculator)`` chunks in the same order (as :func:`score` takes them).

    Returns and raises as :func:`score`; also a ValueError when the second pass differs in length.
    """
    families = _families(task)
    count, sizes, self_bleu = 0, set(), _SelfBleu()
    for chunk in chunks():
        x = _inputs(*chunk)
        count += len(x.predictions)
        sizes.update(len(r) for r in x.references)
        self_bleu.observe(x.predictions)
    if not count:
        raise ValueError(f"{task.name}: got no predictions; pass at least one prediction/reference pair.")
    accumulators = [family(Shape(count, frozenset(sizes))) for family in families]
    again = 0
    for chunk in chunks():
        x = _inputs(*chunk)
        again += len(x.predictions)
        for accumulator in accumulators:
            accumulator.add(x)
        self_bleu.add(x.predictions)
    if again != count:
        raise ValueError(f"the input gave {count} predictions, then {again}; it must not change while it is scored.")
    scores = Scores()
    for accumulator in accumulators:
        scores.update(accumulator.result())
    scores.values = {name: float(scores.values[name]) for name in task.metrics}
    scores.values["self_bleu"] = float(self_bleu.result())
    return scores


def score(
    task: TextTask,
    predictions: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]],
    predictions_calculator: Sequence[str | None] | None = None,
    chunk: int = CHUNK,
) -> Scores:
    """The task's metrics and the Self-BLEU of the predictions, 0-100, each family computed once.

    Args:
      task: the text task whose ``metrics`` to compute.
      predictions: one decoded string per example.
      references: per prediction, one reference string or a non-empty sequence of them.
      predictions_calculator: per prediction, the calculator-in-the-loop output or None
        (used by ``accuracy_calculator`` only; None or a missing entry falls back to
        ``tasks.calculator.apply(prediction)``).
      chunk: predictions scored at a time (:func:`score_chunks`); the values do not depend on it
        beyond float rounding of the ROUGE means (~1e-15 relative).

    Returns:
      :class:`Scores` with ``values`` ordered as ``task.metrics`` then ``self_bleu``.

    Raises:
      ValueError: a one-sentence message when the inputs do not fit (lengths, types, no predictions).
    """
    x = _inputs(predictions, references, predictions_calculator)
    return score_chunks(task, lambda: _chunks_of(x, chunk))
