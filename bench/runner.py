"""Running a suite: every unfinished cell, one MLflow run each, failures recorded and skipped past."""

from __future__ import annotations

import fnmatch
import os
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache, partial

from tqdm import tqdm

from bench.registry import ALGORITHMS, MODELS, SUITES, TASKS, BenchError
from bench.suites import SuiteCell
from bench.tracking import Store


def load_suite(name: str) -> list[SuiteCell]:
    return SUITES.build(name)


def validate(entries: list[SuiteCell], check_data: bool = True) -> None:
    """Refuse a suite with a bad cell before any training: every cell's task and objective are built
    (which checks each option and hyperparameter domain), its model preset must exist and accept
    the algorithm."""
    for entry in entries:
        cell = entry.cell
        try:
            task = TASKS.build(cell.task, **cell.options("task_options"))
            objective = ALGORITHMS.build(cell.algorithm, **cell.options("hparams"))
            check_objective = getattr(MODELS.get(cell.model).factory, "check_objective", None)
            if check_objective is not None:
                check_objective(objective)
            if check_data:
                _check_subsets(cell, task)
        except BenchError as err:
            raise InvalidCellError(f"cell {cell.label()} of {entry.figure}: {err}") from None


@lru_cache(maxsize=None)
def _split_sizes(task: str, root: str) -> dict[str, int]:
    from tasks import text

    return text.counts(task, root)


def _check_subsets(cell, task) -> None:
    """A data subset larger than its split is refused up front (where the split's file is at hand)."""
    from tasks.text import TextTask

    data = cell.options("data")
    root = data.get("data_dir") or os.environ.get("BENCH_DATA_DIR")
    if not isinstance(task, TextTask) or not root or not os.path.isdir(root):
        return
    sizes = _split_sizes(task.name, os.path.abspath(root))
    for key, split in (("train_subset", "train"), ("eval_subset", task.eval_split)):
        n = data.get(key)
        if n is not None and int(n) > sizes.get(split, 0):
            raise BenchError(f"data.{key}={n} is more than the {sizes.get(split, 0)} examples of {task.name}'s {split} split; use at most that.")


def data_problems(entries: list[SuiteCell]) -> list[str]:
    """What ``validate`` would refuse about the data subsets of these cells, one line per cell."""
    problems = []
    for entry in entries:
        try:
            _check_subsets(entry.cell, TASKS.build(entry.cell.task, **entry.cell.options("task_options")))
        except BenchError as err:
            problems.append(f"cell {entry.cell.label()} of {entry.figure}: {err}")
    return problems


class InvalidCellError(BenchError):
    exit_code = 2


def select(entries: list[SuiteCell], expr: str | None) -> list[SuiteCell]:
    """Keep the cells matching ``expr``: comma-separated ``key=glob`` or ``key!=glob`` terms, all of
    which must hold. Keys are those of ``Cell.flat()`` (task, algorithm, seed, hp.lam, task.variant,
    ...) plus ``figure``; values are matched as text with shell-style wildcards."""
    if not expr:
        return entries
    terms = []
    for term in expr.split(","):
        key, op, pattern = _split(term.strip())
        terms.append((key, op, pattern))
    known = set().union(*(e.cell.flat() for e in entries), {"figure"}) if entries else {"figure"}
    for key, _, _ in terms:
        if key not in known:
            raise BenchError(f"filter key {key!r} is not a cell field; valid keys: {', '.join(sorted(known))}")

    def keep(entry: SuiteCell) -> bool:
        fields = entry.cell.flat() | {"figure": entry.figure}
        return all((key in fields and fnmatch.fnmatchcase(str(fields[key]), pat)) == (op == "=") for key, op, pat in terms)

    return [e for e in entries if keep(e)]


def _split(term: str) -> tuple[str, str, str]:
    for op in ("!=", "="):
        if op in term:
            key, pattern = term.split(op, 1)
            return key.strip(), op, pattern.strip()
    raise BenchError(f"filter term {term!r} has no '=' or '!='; write e.g. --filter 'algorithm=iqlearn,task.variant=recovery'")


@dataclass
class Summary:
    total: int = 0
    skipped: int = 0
    finished: list = field(default_factory=list)
    failed: list = field(default_factory=list)


def run_cell(store: Store, entry: SuiteCell, progress: bool) -> str:
    """Train and evaluate one cell inside its MLflow run; returns the run id. Raises on failure
    after recording it; a KeyboardInterrupt marks the run KILLED and propagates."""
    cell = entry.cell
    run_id = None
    try:
        run_id = store.start(cell, entry.figure)
        task = TASKS.build(cell.task, **cell.options("task_options"))
        objective = ALGORITHMS.build(cell.algorithm, **cell.options("hparams"))
        model = MODELS.build(cell.model, **cell.options("model_options"))
        bar = None
        fit = getattr(model, "fit", None)
        if fit is None:  # sequence models (T5, decoder-only) are trained by the text trainer, or timed (Table 1)
            from bench import profile, textcells

            fit = partial(profile.fit if isinstance(task, profile.TimingTask) else textcells.fit, model)
        for report in fit(task, objective, seed=cell.seed, data=cell.options("data"), train=cell.options("train")):
            if progress and bar is None:
                bar = tqdm(total=report.total, desc="  steps", unit="step", leave=False, file=sys.stderr)
            if bar is not None:
                bar.update(report.step - bar.n)
            store.log_metrics(run_id, report.metrics, report.step)
            if report.artifacts:
                store.log_artifacts(run_id, report.artifacts)
        if bar is not None:
            bar.close()
    except KeyboardInterrupt:
        if run_id is not None:  # else store.start has already marked its run KILLED
            store.kill(run_id)
        raise
    except Exception as err:
        if run_id is not None:
            store.fail(run_id, err)
        raise
    store.finish(run_id)
    return run_id


def run_suite(name: str, *, filter_expr: str | None = None, force: bool = False, store: Store | None = None) -> Summary:
    """Run every selected cell of suite ``name`` that has no FINISHED run (all of them with ``force``)."""
    entries = select(load_suite(name), filter_expr)
    validate(entries)
    store = store or Store.open(name)
    finished = store.finished_cells()
    # A cell may feed several figures (e.g. Table 2's MLE cells are Figure 2's); it runs once, tagged with the
    # first figure that lists it, and the report places its run under every figure the suite lists it for.
    todo, seen = [], set()
    for entry in entries:
        if entry.cell.hash not in seen and (force or entry.cell.hash not in finished):
            todo.append(entry)
        seen.add(entry.cell.hash)
    unique = len({e.cell.hash for e in entries})
    summary = Summary(total=unique, skipped=unique - len(todo))
    tty = sys.stderr.isatty()
    print(
        f"suite {name}: {unique} cells, {summary.skipped} already finished, {len(todo)} to run "
        f"(MLflow experiment {name!r} at {store.client.tracking_uri})",
        file=sys.stderr,
    )
    for i, entry in enumerate(tqdm(todo, desc=f"{name} cells", unit="cell", file=sys.stderr, disable=not tty), 1):
        start = time.perf_counter()
        try:
            run_id = run_cell(store, entry, progress=tty)
        except KeyboardInterrupt:
            raise
        except Exception as err:
            summary.failed.append((entry, f"{type(err).__name__}: {err}"))
            print(f"[{i}/{len(todo)}] FAILED {entry.cell.label()}: {type(err).__name__}: {err}", file=sys.stderr)
            continue
        summary.finished.append((entry, run_id))
        if not tty:
            print(f"[{i}/{len(todo)}] {entry.cell.label()} done in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    return summary
