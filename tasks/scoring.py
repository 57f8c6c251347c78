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

Standard library and :mod:`tasks` only: no JAX, no bench, no TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from tasks import calculator, metrics
from tasks.text import TextTask

__all__ = ["Scores", "FAMILIES", "score", "normalise_references", "multi_references"]


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


# ---------------------------------------------------------------------------------------------
# Metric families: each computes a group of metrics over all predictions at once.


def _accuracy(x: _Inputs) -> Scores:
    return Scores({"accuracy": metrics.gsm8k_accuracy(x.predictions, x.first_references)})


def _accuracy_calculator(x: _Inputs) -> Scores:
    outputs = [c if c is not None else calculator.apply(p) for p, c in zip(x.predictions, x.predictions_calculator)]
    scores = Scores({"accuracy_calculator": metrics.gsm8k_accuracy(outputs, x.first_references)})
    missing = sum(c is None for c in x.predictions_calculator)
    if missing:
        scores.notes.append(
            f"accuracy_calculator: {missing} of {len(outputs)} lines have no 'generation_calculator'; used "
            "tasks.calculator.apply(generation) for them, which fixes only the <<expr=result>> results, "
            "not what calculator-in-the-loop decoding would change after them."
        )
    return scores


def _rouge(x: _Inputs) -> Scores:
    out = metrics.rouge(x.predictions, x.first_references)
    splitter = f"sentence splitter:{metrics.rouge_sentence_splitter()}|stemmer:porter"
    return Scores({k: float(out[k]) for k in ("rouge1", "rouge2", "rougeLsum")}, {"rougeLsum": splitter})


def multi_references(references: Sequence[tuple[str, ...]]) -> tuple[list[str] | list[list[str]], str | None]:
    """References for BLEU/chrF: one string each, or one equal-length list each; plus a note if some were dropped."""
    sizes = {len(refs) for refs in references}
    if sizes == {1}:
        return [refs[0] for refs in references], None
    if len(sizes) == 1:
        return [list(refs) for refs in references], None
    return [refs[0] for refs in references], (
        f"bleu/chrf: lines have different numbers of references ({', '.join(map(str, sorted(sizes)))}); "
        "scored against the first reference of each line only."
    )


def _sacrebleu(name: str) -> Callable[[_Inputs], Scores]:
    """The family of ``metrics.<name>`` (bleu or chrf): its score, its sacrebleu signature and any note."""

    def family(x: _Inputs) -> Scores:
        refs, note = multi_references(x.references)
        out = getattr(metrics, name)(x.predictions, refs)
        return Scores({name: float(out[name])}, {name: str(out[f"{name}_signature"])}, [note] if note else [])

    family.__name__ = f"_{name}"
    return family


FAMILIES: dict[str, Callable[[_Inputs], Scores]] = {
    "accuracy": _accuracy,
    "accuracy_calculator": _accuracy_calculator,
    "rouge1": _rouge,
    "rouge2": _rouge,
    "rougeLsum": _rouge,
    "bleu": _sacrebleu("bleu"),
    "chrf": _sacrebleu("chrf"),
}


def _families(task: TextTask) -> list[Callable[[_Inputs], Scores]]:
    """The distinct families behind ``task.metrics``, in first-use order; an unknown metric is a ValueError."""
    unknown = [name for name in task.metrics if name not in FAMILIES]
    if unknown:
        raise ValueError(f"task {task.name} asks for metric(s) {', '.join(unknown)} that tasks.scoring cannot compute; use {', '.join(FAMILIES)}.")
    return list(dict.fromkeys(FAMILIES[name] for name in task.metrics))


def score(
    task: TextTask,
    predictions: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]],
    predictions_calculator: Sequence[str | None] | None = None,
) -> Scores:
    """The task's metrics and the Self-BLEU of the predictions, 0-100, each family computed once.

    Args:
      task: the text task whose ``metrics`` to compute.
      predictions: one decoded string per example.
      references: per prediction, one reference string or a non-empty sequence of them.
      predictions_calculator: per prediction, the calculator-in-the-loop output or None
        (used by ``accuracy_calculator`` only; None or a missing entry falls back to
        ``tasks.calculator.apply(prediction)``).

    Returns:
      :class:`Scores` with ``values`` ordered as ``task.metrics`` then ``self_bleu``.

    Raises:
      ValueError: a one-sentence message when the inputs do not fit (lengths, types, no predictions).
    """
    x = _inputs(predictions, references, predictions_calculator)
    scores = Scores()
    for family in _families(task):
        scores.update(family(x))
    scores.values = {name: float(scores.values[name]) for name in task.metrics}
    scores.values["self_bleu"] = float(metrics.self_bleu(x.predictions))
    return scores
