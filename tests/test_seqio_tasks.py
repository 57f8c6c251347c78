"""The seqio adapter on the shared data: tokenized eval batches, EOS, decoding, metrics through seqio.

Skipped where seqio is not installed (the ``seqio`` extra) or BENCH_DATA_DIR is unset. Only eval
splits are read, so the file stays fast (TensorFlow's import is most of its time).
"""

import os
from pathlib import Path

import pytest

seqio = pytest.importorskip("seqio")

import numpy as np  # noqa: E402

from tasks.scoring import score  # noqa: E402
from tasks.seqio_tasks import references_of, register  # noqa: E402
from tasks.text import TEXT_TASKS, load  # noqa: E402

PREFIX = "test_bench_"
LENGTHS = {"inputs": 256, "targets": 64}
N = 4  # examples per batch
EOS, PAD = 1, 0  # ByteVocabulary's ids; byte b is id b + 3, so no text byte is 0 or 1


@pytest.fixture(scope="module")
def data_dir():
    value = os.environ.get("BENCH_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.skip("BENCH_DATA_DIR is not set to the shared data folder")
    return Path(value).absolute()


@pytest.fixture(scope="module")
def names(data_dir):
    names = register(data_dir, prefix=PREFIX)
    yield names
    for name in names:
        seqio.TaskRegistry.remove(name)


def first_batch(task_name: str) -> dict:
    """The first N examples of the task's eval split, trimmed/padded to LENGTHS and batched."""
    split = TEXT_TASKS[task_name].eval_split
    ds = seqio.get_mixture_or_task(PREFIX + task_name).get_dataset(sequence_length=LENGTHS, split=split, shuffle=False)
    return next(seqio.utils.trim_and_pad_dataset(ds.take(N), LENGTHS).batch(N).as_numpy_iterator())


def test_register_names_the_four_tasks_and_replaces_on_a_second_call(names, data_dir):
    assert names == [PREFIX + t for t in ("gsm8k", "xsum", "tldr", "wmt22")]
    before = seqio.get_mixture_or_task(PREFIX + "xsum")
    again = register(data_dir, vocabulary=seqio.ByteVocabulary(extra_ids=7), prefix=PREFIX)
    try:
        after = seqio.get_mixture_or_task(PREFIX + "xsum")
        assert again == names and after is not before
        assert after.output_features["targets"].vocabulary.extra_ids == 7
        assert after.source.splits == TEXT_TASKS["xsum"].split_names
    finally:
        register(data_dir, prefix=PREFIX)  # back to the default vocabulary for the other tests


@pytest.mark.parametrize("task_name", list(TEXT_TASKS))
def test_eval_batch_is_int32_tokens_ending_in_eos_that_decode_to_the_text(names, data_dir, task_name):
    task = TEXT_TASKS[task_name]
    batch = first_batch(task_name)
    examples = load(task, task.eval_split, data_dir)[:N]
    vocabulary = seqio.get_mixture_or_task(PREFIX + task_name).output_features["targets"].vocabulary
    assert [i.decode() for i in batch["id"]] == [e.id for e in examples]
    assert batch["targets_pretokenized"][0].decode() == examples[0].target
    for feature, text in (("inputs", [e.input for e in examples]), ("targets", [e.target for e in examples])):
        tokens = batch[feature]
        assert tokens.dtype == np.int32 and tokens.shape == (N, LENGTHS[feature])
        for row, full in zip(tokens, text):
            length = int(np.count_nonzero(row != PAD))
            assert (row[length:] == PAD).all() and row[length - 1] == EOS
            decoded = vocabulary.decode(row.tolist())
            if len(full.encode("utf-8")) < LENGTHS[feature]:  # fits with its EOS: the whole text
                assert decoded == full and length == len(full.encode("utf-8")) + 1
            else:  # trimmed to make room for EOS: a prefix of the text
                assert length == LENGTHS[feature] and decoded and full.startswith(decoded)


@pytest.mark.parametrize("task_name", list(TEXT_TASKS))
def test_metric_fn_scores_targets_against_themselves_like_tasks_scoring(names, data_dir, task_name):
    task = TEXT_TASKS[task_name]
    targets = [e.target for e in load(task, task.eval_split, data_dir)[:N]]
    [metric_fn] = seqio.get_mixture_or_task(PREFIX + task_name).metric_fns
    values = metric_fn(targets, targets)
    assert values == score(task, targets, targets).values
    assert set(values) == {*task.metrics, "self_bleu"}
    assert all(values[name] == pytest.approx(100.0) for name in task.metrics)  # accuracy, rouge1, bleu, ...


def test_seqio_evaluator_scores_wmt22_against_both_references(names, data_dir):
    """Through seqio's own Evaluator: predicting reference B scores BLEU 100, as in bench score."""
    task = TEXT_TASKS["wmt22"]
    examples = load(task, task.eval_split, data_dir)[:N]
    vocabulary = seqio.ByteVocabulary()
    evaluator = seqio.Evaluator(
        PREFIX + "wmt22",
        feature_converter=seqio.EncDecFeatureConverter(pack=False),
        eval_split=task.eval_split,
        num_examples=N,
        async_compute_metrics=False,
    )
    outputs = [vocabulary.encode(e.references[1]) + [EOS] for e in examples]
    width = max(map(len, outputs))

    def predict_fn(dataset):
        return [(int(i), np.array(outputs[int(i)] + [PAD] * (width - len(outputs[int(i)])))) for i, _ in dataset.as_numpy_iterator()]

    metrics, _ = evaluator.evaluate(compute_metrics=True, predict_fn=predict_fn)
    values = metrics.result()[PREFIX + "wmt22"]
    assert values == score(task, [e.references[1] for e in examples], [e.references for e in examples]).values
    assert values["bleu"] == pytest.approx(100.0)


def test_references_of_turns_only_targets_with_references_into_tuples():
    example = {"references": b'["A", "B"]'}
    assert references_of("A", example=example, is_target=True) == ("A", "B")
    assert references_of("P", example=example, is_target=False) == "P"
    assert references_of("A", is_target=True) == "A"
