"""The four text tasks of the paper (GSM8k, XSUM, TL;DR, WMT22 en-de): splits, formatting, loading.

A task is data (:class:`TextTask`): where each split lives, which fields a record needs, how a
record becomes an :class:`Example` (input text, target text, all reference texts), which metrics
score it and how the paper decodes it. :func:`load` reads a split, in this order, from

1. ``data_dir`` (``--data-dir``), else the environment variable ``BENCH_DATA_DIR`` (a relative
   value is resolved against the current working directory): a folder holding
   ``<task>/<stem>.jsonl`` or ``<task>/<stem>.jsonl.gz`` (UTF-8 JSON Lines, one record a line);
2. else the Hugging Face hub through the ``datasets`` package, where it is importable and the
   task names a hub source for that split (only GSM8k and XSUM do, see ``_HUB``);
3. else it stops with one sentence naming both ways.

Records without an ``id`` field (GSM8k, WMT) get ``"<stem>-<i>"``, ``i`` the 0-based position of
the record in its file, so ids are stable as long as the file is. Every problem with a file
raises :class:`DataError` naming the file, the line and the fix.

This module is numpy and the standard library only: no JAX, no bench, no models.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

ENV_VAR = "BENCH_DATA_DIR"


class DataError(ValueError):
    """A data set that cannot be read as asked; the message is one sentence naming input and fix."""


@dataclass(frozen=True)
class Example:
    """One input/target pair. ``references`` holds every acceptable target (default: the target)."""

    id: str
    input: str
    target: str
    references: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.references:
            object.__setattr__(self, "references", (self.target,))


@dataclass(frozen=True)
class Decoding:
    """How to decode a model for this task: ``sample`` (with ``temperature``), ``greedy`` or ``beam``.

    Beam search scores a hypothesis y by log p(y) / lp(y) with the GNMT length penalty
    lp(y) = ((5 + |y|) / 6) ** length_penalty (Wu et al. 2016), the alpha of the paper's Table 5.
    """

    method: str = "sample"
    temperature: float = 1.0
    beam_size: int | None = None
    length_penalty: float | None = None

    def __post_init__(self):
        if self.method not in ("sample", "greedy", "beam"):
            raise ValueError(f"decoding method {self.method!r} is unknown; use sample, greedy or beam.")
        if self.method == "beam" and not (self.beam_size or 0) >= 1:
            raise ValueError(f"beam search needs beam_size >= 1, got {self.beam_size!r}.")
        if self.temperature <= 0:
            raise ValueError(f"decoding temperature {self.temperature} must be positive; use method='greedy' for argmax.")


@dataclass(frozen=True)
class Split:
    """A harness split: the file ``<task>/<stem>.jsonl[.gz]``, or the part of it whose id hashes into ``bucket``.

    With ``bucket = (lo, hi)`` a record belongs to the split when lo <= u(id) < hi, where
    u(id) = int(sha256(id)[:8 bytes], big endian) / 2**64 is uniform on [0, 1). Membership depends
    only on the record's own id: not on its position, the file's order or any random state.
    """

    name: str
    stem: str
    bucket: tuple[float, float] | None = None


@dataclass(frozen=True)
class HubSource:
    """Where ``datasets.load_dataset(path, config, split=split)`` finds the same records as a file split."""

    path: str
    config: str | None
    split: str


@dataclass(frozen=True)
class TextTask:
    """A text task: its splits, record fields, formatting, metrics and decoding (see module docstring)."""

    name: str
    title: str
    splits: tuple[Split, ...]
    fields: tuple[str, ...]
    to_example: Callable[[Mapping[str, Any]], Example]
    metrics: tuple[str, ...]
    eval_split: str
    decoding: Decoding = Decoding()
    alternative_decodings: tuple[Decoding, ...] = ()
    caveat: str = ""
    hub: tuple[tuple[str, HubSource], ...] = ()

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.splits)

    def split(self, name: str) -> Split:
        """The split called ``name``; an unknown name is a DataError listing the task's splits."""
        for s in self.splits:
            if s.name == name:
                return s
        raise DataError(f"task {self.name} has no split {name!r}; use one of {', '.join(self.split_names)}.")

    def hub_source(self, split: str) -> HubSource | None:
        return dict(self.hub).get(split)

    def describe(self) -> str:
        """One line for ``bench list``: what the task is and how it is scored."""
        return f"{self.title}; metrics: {', '.join(self.metrics)}"


# ---------------------------------------------------------------------------------------------
# Formatting: raw record -> Example. The loader has checked that every field in ``fields`` is a
# string and has set ``id``.


def _gsm8k_example(r: Mapping[str, Any]) -> Example:
    """Input: the question. Target: the full worked answer, ``<<expr=result>>`` annotations and ``#### N`` kept."""
    return Example(r["id"], r["question"], r["answer"])


def _xsum_example(r: Mapping[str, Any]) -> Example:
    return Example(r["id"], r["document"], r["summary"])


TLDR_FORMAT = "SUBREDDIT: r/{subreddit}\nTITLE: {title}\nPOST: {post}"


def _tldr_example(r: Mapping[str, Any]) -> Example:
    """Input: ``TLDR_FORMAT`` (the OpenAI summarize-from-feedback layout, without the trailing ``TL;DR:``)."""
    return Example(r["id"], TLDR_FORMAT.format(subreddit=r["subreddit"], title=r["title"], post=r["post"]), r["summary"])


def _wmt_example(r: Mapping[str, Any]) -> Example:
    """Input: the English source. References: the target (reference A) then ``alt_targets`` where present."""
    alt = r.get("alt_targets") or []
    if not isinstance(alt, list) or not all(isinstance(t, str) for t in alt):
        raise DataError("field 'alt_targets' must be a list of strings; fix the record.")
    return Example(r["id"], r["source"], r["target"], (r["target"], *alt))


ROUGE = ("rouge1", "rouge2", "rougeLsum")
# The paper's Table 5: WMT beam search with 4 beams and length penalty alpha = 0.6.
WMT_BEAM = Decoding(method="beam", beam_size=4, length_penalty=0.6)

GSM8K = TextTask(
    name="gsm8k",
    title="GSM8k grade-school maths (question -> worked answer ending '#### N')",
    splits=(Split("train", "train"), Split("test", "test")),
    fields=("question", "answer"),
    to_example=_gsm8k_example,
    metrics=("accuracy", "accuracy_calculator"),
    eval_split="test",
    hub=(("train", HubSource("openai/gsm8k", "main", "train")), ("test", HubSource("openai/gsm8k", "main", "test"))),
)

XSUM = TextTask(
    name="xsum",
    title="XSUM one-sentence news summarisation (BBC article -> summary)",
    splits=(Split("train", "train"), Split("test", "test")),
    fields=("id", "document", "summary"),
    to_example=_xsum_example,
    metrics=ROUGE,
    eval_split="test",
    caveat=(
        "xsum: the shared data's train (910) and test (1000) are both drawn from XSum's official test split "
        "(disjoint by id), not from the official train split; the hub source, where used, has the official splits."
    ),
    hub=(("train", HubSource("EdinburghNLP/xsum", None, "train")), ("test", HubSource("EdinburghNLP/xsum", None, "test"))),
)

TLDR_TRAIN_FRACTION = 0.8
TLDR = TextTask(
    name="tldr",
    title="Reddit TL;DR summarisation (subreddit, title, post -> TL;DR)",
    splits=(
        Split("train", "test", (0.0, TLDR_TRAIN_FRACTION)),
        Split("eval", "test", (TLDR_TRAIN_FRACTION, 1.0)),
    ),
    fields=("id", "subreddit", "title", "post", "summary"),
    to_example=_tldr_example,
    metrics=ROUGE,
    eval_split="eval",
    caveat=(
        "tldr: only the 500-post test file exists, so train (~80%) and eval (~20%) are both derived from it "
        "by the sha256 hash of each post id; scores are not comparable to the paper's TL;DR test set."
    ),
)

WMT22 = TextTask(
    name="wmt22",
    title="WMT22 English -> German translation",
    splits=(Split("train", "train"), Split("validation", "validation"), Split("test", "test")),
    fields=("source", "target"),
    to_example=_wmt_example,
    metrics=("bleu", "chrf"),
    eval_split="test",
    alternative_decodings=(WMT_BEAM,),
    caveat=(
        "wmt22: training data is Multi30k image captions (29k pairs), a small-scale out-of-domain stand-in for "
        "WMT's parallel corpora; validation is newstest2021 and test is the WMT22 general test set."
    ),
)

TEXT_TASKS: dict[str, TextTask] = {t.name: t for t in (GSM8K, XSUM, TLDR, WMT22)}


def get_task(task: str | TextTask) -> TextTask:
    """The task itself, or the one named ``task``; an unknown name is a DataError listing the valid ones."""
    if isinstance(task, TextTask):
        return task
    try:
        return TEXT_TASKS[task]
    except KeyError:
        raise DataError(f"unknown text task {task!r}; valid text tasks: {', '.join(TEXT_TASKS)}.") from None


# ---------------------------------------------------------------------------------------------
# Reading JSON Lines.


def open_lines(path: Path) -> Iterator[bytes]:
    """The raw lines of ``path``, gunzipped when the name ends in ``.gz``."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        yield from f


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number from 1, JSON object) for each non-blank line of a UTF-8 JSON Lines file.

    A line that is not UTF-8, not JSON, or not a JSON object raises DataError naming file and line.
    """
    path = Path(path)
    for number, raw in enumerate(open_lines(path), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DataError(f"{path} line {number} is not valid UTF-8 (byte {err.start}); re-save the file as UTF-8.") from None
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{path} line {number} is not valid JSON ({err.msg}, column {err.colno}); fix or remove that line.") from None
        if not isinstance(record, dict):
            raise DataError(f"{path} line {number} is a JSON {type(record).__name__}, not an object; write one object per line.")
        yield number, record


def _check_fields(task: TextTask, record: dict, where: str) -> None:
    for name in task.fields:
        if name not in record:
            raise DataError(f"{where} has no field {name!r} (task {task.name} needs {', '.join(task.fields)}); add it or fix the file.")
        if not isinstance(record[name], str):
            raise DataError(f"{where}: field {name!r} has type {type(record[name]).__name__}, not str; fix the record.")


def _examples(task: TextTask, split: Split, records: Iterator[tuple[str, dict]]) -> list[Example]:
    """Check and format ``(where, record)`` pairs; ``where`` names the record in errors."""
    out = []
    for index, (where, record) in enumerate(records):
        _check_fields(task, record, where)
        record = {"id": f"{split.stem}-{index}", **record}
        if not isinstance(record["id"], str):
            record["id"] = str(record["id"])
        try:
            out.append(task.to_example(record))
        except DataError as err:
            raise DataError(f"{where}: {err}") from None
    return out


def hash_unit(key: str) -> float:
    """u(key) = int(sha256(key)[:8], big endian) / 2**64, uniform on [0, 1) and stable everywhere."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2.0**64


def in_bucket(example: Example, bucket: tuple[float, float] | None) -> bool:
    return bucket is None or bucket[0] <= hash_unit(example.id) < bucket[1]


# ---------------------------------------------------------------------------------------------
# Finding the data.


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """``data_dir``, else ``$BENCH_DATA_DIR`` (relative to the working directory), else None.

    A folder that was named but does not exist is an error rather than a silent fall-through to
    the hub, so a typo does not turn into a download.
    """
    value = data_dir if data_dir is not None else os.environ.get(ENV_VAR) or None
    if value is None:
        return None
    path = Path(value).expanduser().absolute()
    if not path.is_dir():
        source = "--data-dir" if data_dir is not None else ENV_VAR
        raise DataError(f"data folder {path} (from {source}) does not exist; point {source} at the folder holding <task>/<split>.jsonl.")
    return path


def split_file(root: Path, task: TextTask, split: Split) -> Path | None:
    """``root/<task>/<stem>.jsonl``, else ``.jsonl.gz``, else None."""
    for suffix in (".jsonl", ".jsonl.gz"):
        path = root / task.name / f"{split.stem}{suffix}"
        if path.is_file():
            return path
    return None


def _from_file(task: TextTask, split: Split, path: Path) -> list[Example]:
    return _examples(task, split, ((f"{path} line {n}", r) for n, r in read_jsonl(path)))


def _from_hub(task: TextTask, split: Split, source: HubSource, datasets: Any) -> list[Example]:
    """Load the hub copy; any failure (no network, renamed data set) becomes one DataError."""
    name = f"{source.path}" + (f" ({source.config})" if source.config else "") + f" split {source.split}"
    try:
        rows = datasets.load_dataset(source.path, source.config, split=source.split)
    except Exception as err:  # noqa: BLE001  (the hub fails in many ways; each becomes one sentence)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(
            f"could not load {task.name}/{split.name} from the Hugging Face hub ({name}: {first}); "
            f"set {ENV_VAR} or --data-dir to a folder holding {task.name}/{split.stem}.jsonl instead."
        ) from None
    return _examples(task, split, ((f"{name} row {i}", dict(r)) for i, r in enumerate(rows)))


def _import_datasets() -> Any | None:
    try:
        import datasets  # noqa: PLC0415  (optional dependency)
    except ImportError:
        return None
    return datasets


def _no_data(task: TextTask, split: Split, root: Path | None, hub_reason: str) -> DataError:
    looked = f"{root / task.name}/{split.stem}.jsonl[.gz] does not exist" if root else f"neither --data-dir nor {ENV_VAR} is set"
    return DataError(
        f"cannot load {task.name}/{split.name}: {looked} and {hub_reason}; set {ENV_VAR} or --data-dir to a folder "
        f"holding {task.name}/{split.stem}.jsonl (or .jsonl.gz), or install the `datasets` package with Hugging Face hub access."
    )


def _load_all(task: TextTask, split: Split, data_dir: str | os.PathLike | None) -> list[Example]:
    """Every example of the split's source, file first, then hub (bucket not yet applied)."""
    root = resolve_data_dir(data_dir)
    path = split_file(root, task, split) if root else None
    if path is not None:
        return _from_file(task, split, path)
    source = task.hub_source(split.name)
    if source is None:
        raise _no_data(task, split, root, "the hub has no known source for this split")
    datasets = _import_datasets()
    if datasets is None:
        raise _no_data(task, split, root, "the `datasets` package is not installed")
    return _from_hub(task, split, source, datasets)


def subset_of(examples: list[Example], k: int, seed: int) -> list[Example]:
    """k examples chosen by ``Generator(PCG64(seed)).permutation(n)[:k]``, kept in their original order."""
    n = len(examples)
    if not 0 <= k <= n:
        raise DataError(f"subset={k} is not possible for a split of {n} examples; use 0 <= subset <= {n}.")
    chosen = np.sort(np.random.default_rng(seed).permutation(n)[:k])
    return [examples[i] for i in chosen]


def load(
    task: str | TextTask,
    split: str,
    data_dir: str | os.PathLike | None = None,
    subset: int | None = None,
    seed: int = 0,
) -> list[Example]:
    """The examples of ``task``'s ``split`` in file order; with ``subset=k``, k of them chosen by ``seed``."""
    task = get_task(task)
    s = task.split(split)
    examples = [e for e in _load_all(task, s, data_dir) if in_bucket(e, s.bucket)]
    return examples if subset is None else subset_of(examples, subset, seed)


def counts(task: str | TextTask, data_dir: str | os.PathLike | None = None) -> dict[str, int]:
    """Number of examples in each split of ``task``."""
    task = get_task(task)
    return {name: len(load(task, name, data_dir)) for name in task.split_names}
