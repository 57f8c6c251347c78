"""``bench score``: score a file of model generations on a text task.

The generations file is UTF-8 JSON Lines, one object per line:

- ``generation`` (required): the model output;
- the references, taken from the first of these the line has:
  ``references`` (a non-empty list of strings), ``target`` (one string), or ``id``: looked up
  in the task's ``--split`` (default: the task's evaluation split), loaded from ``--data-dir``
  / ``BENCH_DATA_DIR`` (or the hub) like any other data (ids are those of
  :func:`tasks.text.load`: the record's own id, else ``"<stem>-<line index from 0>"``);
- for gsm8k, optionally ``generation_calculator``: the text generated with the calculator in
  the loop, which ``accuracy_calculator`` scores. Lines without it fall back to
  ``tasks.calculator.apply(generation)``, which only rewrites the results inside
  ``<<expr=result>>`` and so cannot recover what calculator-in-the-loop decoding changes
  afterwards; the output says how many lines fell back.

Metrics are the task's own (``TextTask.metrics``) plus Self-BLEU of the generations (a
diversity measure: lower is more diverse), all on a 0-100 scale, computed by
:func:`tasks.scoring.score` (shared with the seqio adapter, so both report the same numbers);
this module only reads the file, prints the table and writes the JSON. BLEU and chrF use every
reference of a line when all lines have the same number of them, else the first of each; the
output says which. ROUGE and GSM8k accuracy use the first reference. ``--json OUT`` writes
``{task, split, generations, count, values, signatures, notes, caveat}``.

The file is read twice, a chunk of lines at a time (:class:`Generations`, :func:`tasks.scoring.score_chunks`),
so memory holds one chunk and sums, not the file: scoring 10x the lines takes about the same memory,
plus Self-BLEU's table of the distinct n-grams of the generations (see :mod:`tasks.scoring`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterator

from bench.registry import TASKS, BenchError
from tasks import scoring
from tasks.scoring import Scores
from tasks.text import TEXT_TASKS, DataError, TextTask, load, read_jsonl


@dataclass(frozen=True)
class Row:
    """One scored line: its number in the file, the output(s) and the references."""

    line: int
    generation: str
    references: tuple[str, ...]
    generation_calculator: str | None = None


def text_task(name: str) -> TextTask:
    """The registered text task ``name``; an unknown name is the registry's error (exit 2)."""
    TASKS.get(name)
    if name not in TEXT_TASKS:
        text = ", ".join(n for n in TASKS.names() if n in TEXT_TASKS)
        raise BenchError(f"task {name!r} has no text to score; use one of the text tasks: {text}.")
    return TASKS.build(name)


def _string_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _row(path: Path, number: int, record: dict, lookup: Callable[[str], tuple[str, ...] | None]) -> Row:
    """Check one line of the generations file and find its references."""
    where = f"{path} line {number}"
    generation = record.get("generation")
    if not isinstance(generation, str):
        raise BenchError(f"{where} has no string field 'generation'; write the model output there.")
    calc = record.get("generation_calculator")
    if calc is not None and not isinstance(calc, str):
        raise BenchError(f"{where}: 'generation_calculator' must be a string; write the calculator-in-the-loop output there or drop it.")
    if "references" in record:
        if not _string_list(record["references"]):
            raise BenchError(f"{where}: 'references' must be a non-empty list of strings; fix the line.")
        refs = tuple(record["references"])
    elif "target" in record:
        if not isinstance(record["target"], str):
            raise BenchError(f"{where}: 'target' must be a string; fix the line.")
        refs = (record["target"],)
    elif "id" in record:
        refs = lookup(str(record["id"]))
        if refs is None:
            raise BenchError(f"{where}: id {record['id']!r} is not in the split; check the id or pass the right --split.")
    else:
        raise BenchError(f"{where} has none of 'references', 'target' or 'id'; add one so the generation can be scored.")
    return Row(number, generation, refs, calc)


class Generations:
    """The generations file as chunks of ``tasks.scoring.CHUNK`` lines, read afresh on each call (scoring reads it
    twice), each line checked as it is read. The split is loaded (once) only if a line needs an id looked up.
    ``count``: the lines of the last complete read."""

    def __init__(self, path: str | Path, task: TextTask, split: str, data_dir: str | None = None):
        self.path, self.task, self.split, self.data_dir = Path(path), task, split, data_dir
        if not self.path.is_file():
            raise BenchError(f"generations file {self.path} does not exist; pass the JSON Lines file the model wrote.")
        self.count = 0
        self._by_id: dict[str, tuple[str, ...]] | None = None

    def lookup(self, key: str) -> tuple[str, ...] | None:
        if self._by_id is None:
            self._by_id = {e.id: e.references for e in load(self.task, self.split, self.data_dir)}
        return self._by_id.get(key)

    def rows(self) -> Iterator[Row]:
        try:
            for number, record in read_jsonl(self.path):
                yield _row(self.path, number, record, self.lookup)
        except DataError as err:
            raise BenchError(str(err)) from None

    def __call__(self) -> Iterator[tuple[list[str], list[tuple[str, ...]], list[str | None]]]:
        count, rows = 0, self.rows()
        while chunk := list(islice(rows, scoring.CHUNK)):
            count += len(chunk)
            yield [r.generation for r in chunk], [r.references for r in chunk], [r.generation_calculator for r in chunk]
        if not count:
            raise BenchError(f"generations file {self.path} has no lines; write one JSON object per generation.")
        self.count = count


def format_table(scores: Scores) -> str:
    """``metric  value`` lines (two decimals), then signatures (sacrebleu's; ROUGE's splitter) and notes."""
    width = max(len("metric"), *(len(k) for k in scores.values))
    lines = [f"{'metric':<{width}}  value"]
    lines += [f"{name:<{width}}  {value:.2f}" for name, value in scores.values.items()]
    lines += [f"{name} signature: {sig}" for name, sig in scores.signatures.items()]
    lines += [f"note: {note}" for note in scores.notes]
    return "\n".join(lines)


def score(task_name: str, generations: str, split: str | None = None, data_dir: str | None = None, json_out: str | None = None) -> int:
    """Run ``bench score``: read, score, print the table and optionally write it as JSON."""
    task = text_task(task_name)
    split = split or task.eval_split
    try:
        task.split(split)
    except DataError as err:
        raise BenchError(str(err)) from None
    lines = Generations(generations, task, split, data_dir)
    try:
        scores = scoring.score_chunks(task, lines)
    except ValueError as err:  # the metrics' own one-sentence input errors
        raise BenchError(f"cannot score {generations}: {err}") from None
    print(f"{task.name}: {lines.count} generations from {generations}")
    print(format_table(scores))
    if task.caveat:
        print(f"caveat: {task.caveat}")
    if json_out:
        out = Path(json_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"task": task.name, "split": split, "generations": str(generations), "count": lines.count, **asdict(scores), "caveat": task.caveat}
        out.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0
