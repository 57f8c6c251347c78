"""The four text tasks as seqio Tasks, for t5x and other seqio users (imported only on demand).

:func:`register` adds ``bench_gsm8k``, ``bench_xsum``, ``bench_tldr`` and ``bench_wmt22`` (the
prefix is an argument) to ``seqio.TaskRegistry``. Each Task reads the harness's own splits
through :func:`tasks.text.load` (``data_dir``, else ``BENCH_DATA_DIR``, else the hub), tokenizes
``inputs`` and ``targets`` with one vocabulary, trims them and ends them with EOS, and scores
decoded predictions with :func:`tasks.scoring.score`, so seqio reports the same numbers as
``bench score`` (every reference of a WMT sentence included, see ``references`` below).

How a t5x user runs it: t5x is not on PyPI (it is installed from its GitHub repository), so the
harness never requires it; a user who has it writes a small module that registers the tasks
when imported::

    # my_bench_tasks.py
    import seqio
    from tasks.seqio_tasks import register
    register(vocabulary=seqio.SentencePieceVocabulary("/path/to/t5/sentencepiece.model"))

and names a task in the gin config of a t5x train/eval/infer run::

    import my_bench_tasks
    MIXTURE_OR_TASK_NAME = "bench_xsum"
    TASK_FEATURE_LENGTHS = {"inputs": 1024, "targets": 64}

The vocabulary must be the model's. The default, ``seqio.ByteVocabulary()``, is ByT5's and
needs no file; T5's SentencePiece model lives on a Google Cloud bucket
(``gs://t5-data/vocabs/cc_all.32000/sentencepiece.model``) that is not reachable offline, so
users who have a copy pass ``seqio.SentencePieceVocabulary(path)``.

Features of each example, before tokenization (all scalar strings):

- ``inputs``, ``targets``: :class:`tasks.text.Example`'s input and target text;
- ``id``: the example's id (as :func:`tasks.text.load` gives it);
- ``references``: a JSON list of every reference of the example (WMT22 test has two). The
  Task's ``postprocess_fn`` turns a target into that tuple, so the metric function sees all
  references as ``bench score`` does; a plain string feature keeps the dataset batchable.

``tokenize`` also keeps ``inputs_pretokenized`` and ``targets_pretokenized``. Importing this
module needs neither seqio nor TensorFlow; :func:`register` does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from tasks.scoring import score
from tasks.text import TEXT_TASKS, Example, TextTask, load, resolve_data_dir

__all__ = ["register", "records", "references_of", "metric_fn"]


def _seqio() -> Any:
    """The seqio module; its absence is one ImportError naming the fix."""
    try:
        import seqio  # noqa: PLC0415  (optional dependency, brings TensorFlow)
    except ImportError:
        raise ImportError("tasks.seqio_tasks needs seqio, which is not installed; install the extra with pip install '.[seqio]'.") from None
    return seqio


def records(examples: list[Example]) -> dict[str, list[str]]:
    """Column-wise string features (see the module docstring) of ``examples``, in their order."""
    return {
        "id": [e.id for e in examples],
        "inputs": [e.input for e in examples],
        "targets": [e.target for e in examples],
        "references": [json.dumps(list(e.references), ensure_ascii=False) for e in examples],
    }


def _dataset_fn(task: TextTask, data_dir: Path | None) -> Callable[..., Any]:
    """seqio's ``dataset_fn(split, shuffle_files, seed=None)`` over ``load(task, split, data_dir)``.

    ``shuffle_files`` and ``seed`` are ignored: the split is read whole into memory, so there
    are no files to shuffle; the Task shuffles examples itself when ``get_dataset(shuffle=True)``.
    """

    def dataset_fn(split: str, shuffle_files: bool, seed: int | None = None):
        import tensorflow as tf  # noqa: PLC0415  (present wherever seqio is)

        del shuffle_files, seed  # in memory: nothing to shuffle at the file level
        columns = records(load(task, split, data_dir))
        return tf.data.Dataset.from_tensor_slices({k: tf.constant(v, dtype=tf.string) for k, v in columns.items()})

    dataset_fn.__name__ = f"{task.name}_dataset_fn"
    return dataset_fn


def _text(value: Any) -> str:
    """A str from a str, bytes, numpy bytes or eager string tensor."""
    value = value.numpy() if hasattr(value, "numpy") else value
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def references_of(output: Any, example: Any = None, is_target: bool = False) -> Any:
    """seqio ``postprocess_fn``: a target becomes the tuple of its example's references; a prediction passes through.

    seqio calls it as ``postprocess_fn(text, example=ex, is_target=...)``; without an example
    holding ``references`` (e.g. a caller that passes only the text) the target passes through.
    """
    if is_target and example is not None and "references" in example:
        return tuple(json.loads(_text(example["references"])))
    return output


def metric_fn(task: TextTask) -> Callable[[list, list], dict[str, float]]:
    """seqio metric function ``(targets, predictions) -> {metric: value}`` computing :func:`tasks.scoring.score`.

    ``targets`` are strings or tuples of reference strings (after :func:`references_of`); the
    result holds the task's metrics and ``self_bleu``. seqio has no place for scoring notes or
    sacrebleu signatures, so only the values are returned.
    """

    def fn(targets, predictions):
        return dict(score(task, list(predictions), list(targets)).values)

    fn.__name__ = f"{task.name}_metrics"
    fn.__qualname__ = fn.__name__
    return fn


def register(data_dir: str | os.PathLike | None = None, vocabulary: Any = None, prefix: str = "bench_") -> list[str]:
    """Register gsm8k, xsum, tldr and wmt22 as seqio Tasks named ``prefix + task name``; return the names.

    Args:
      data_dir: folder holding ``<task>/<split>.jsonl[.gz]``; default ``BENCH_DATA_DIR``, else
        the hub where the task has a hub source (resolved now, read when a dataset is built).
      vocabulary: a ``seqio.Vocabulary`` for inputs and targets; default ``seqio.ByteVocabulary()``.
      prefix: prepended to each task name.

    A Task already registered under one of these names is replaced, so registering twice
    (e.g. with another vocabulary) works.
    """
    seqio = _seqio()
    root = resolve_data_dir(data_dir)
    vocabulary = vocabulary if vocabulary is not None else seqio.ByteVocabulary()
    output_features = {name: seqio.Feature(vocabulary=vocabulary, add_eos=True) for name in ("inputs", "targets")}
    names = []
    for task in TEXT_TASKS.values():
        name = prefix + task.name
        seqio.TaskRegistry.remove(name)
        seqio.TaskRegistry.add(
            name,
            source=seqio.FunctionDataSource(_dataset_fn(task, root), splits=task.split_names),
            output_features=output_features,
            preprocessors=[seqio.preprocessors.tokenize, seqio.preprocessors.append_eos_after_trim],
            postprocess_fn=references_of,
            metric_fns=[metric_fn(task)],
        )
        names.append(name)
    return names
