"""Running a suite: every unfinished cell, one MLflow run each, failures recorded and skipped past."""

from __future__ import annotations

import fnmatch
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial

from tqdm import tqdm

from bench import checkpointing, dependencies, redact
from bench.registry import ALGORITHMS, MODELS, SUITES, TASKS, BenchError, UsageError
from bench.suites import SuiteCell
from bench.tracking import Owner, Store, is_live, lease_s, provenance


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
            if cell.init_from and check_objective is not None:  # a model with its own trainer (tabular)
                raise BenchError(f"model {cell.model} trains with its own trainer, which cannot start from another cell; "
                                 "drop init_from or use a sequence-model preset.")
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
    ...) plus ``figure``; values are matched as text with shell-style wildcards (``*``, ``?``, ``[01]``).

    Bad input is refused in one sentence (exit 2): a term without ``=``, an unknown key, a glob with an
    unclosed ``[`` (fnmatch would match it as a literal ``[``), and a filter that keeps no cell (naming the
    values each key takes in the suite)."""
    if not expr:
        return entries
    terms = [_split(term.strip()) for term in expr.split(",")]
    known = set().union(*(e.cell.flat() for e in entries), {"figure"}) if entries else {"figure"}
    for key, _, _ in terms:
        if key not in known:
            raise UsageError(f"filter key {key!r} is not a cell field; valid keys: {', '.join(sorted(known))}")

    def keep(entry: SuiteCell) -> bool:
        fields = entry.cell.flat() | {"figure": entry.figure}
        return all((key in fields and fnmatch.fnmatchcase(str(fields[key]), pat)) == (op == "=") for key, op, pat in terms)

    chosen = [e for e in entries if keep(e)]
    if entries and not chosen:
        hint = _values_hint(entries, [key for key, _, _ in terms])
        raise UsageError(f"--filter {expr!r} matches none of the suite's {len(entries)} cells; values in this suite: {hint}.")
    return chosen


def _split(term: str) -> tuple[str, str, str]:
    """``key=glob`` / ``key!=glob`` -> (key, op, glob); a term without either, or whose glob opens a
    character class ``[`` it never closes, is refused in one sentence."""
    for op in ("!=", "="):
        if op in term:
            key, pattern = term.split(op, 1)
            if _unclosed_bracket(pattern):
                raise UsageError(f"filter term {term!r} opens a character class '[' it never closes; close it (e.g. seed=[01]) "
                                 "or write [[] for a literal '['.")
            return key.strip(), op, pattern.strip()
    raise UsageError(f"filter term {term!r} has no '=' or '!='; write e.g. --filter 'algorithm=iqlearn,task.variant=recovery'")


def _unclosed_bracket(pattern: str) -> bool:
    """Whether a glob has a ``[`` that starts no character class: fnmatch reads a class as ``[`` then an
    optional ``!``, then at least one character (a ``]`` right there is a member), up to the next ``]``;
    a ``[`` with no such ``]`` it silently matches as itself."""
    i = 0
    while (i := pattern.find("[", i)) >= 0:
        j = i + 1
        j += pattern.startswith("!", j)
        j += pattern.startswith("]", j)
        close = pattern.find("]", j)
        if close < 0:
            return True
        i = close + 1
    return False


def _values_hint(entries: list[SuiteCell], keys: list[str], most: int = 12) -> str:
    """``key: v1, v2, ...`` per key (each once, in order), the distinct values the cells hold, sorted as text, at
    most ``most`` of them shown."""
    parts = []
    for key in dict.fromkeys(keys):
        values = sorted({str((e.cell.flat() | {"figure": e.figure}).get(key, "")) for e in entries})
        parts.append(f"{key}: {', '.join(values[:most])}{', ...' if len(values) > most else ''}")
    return "; ".join(parts)


@dataclass(frozen=True)
class Settings:
    """How cells run here, none of it part of a cell's identity (the same cell gives the same result either way).

    checkpoint_every: updates between checkpoints (0: only at the end of training); checkpoints=False turns
    them off. mesh: the device mesh spec of text cells ("data=2,fsdp=4"; None: every device on fsdp).
    since_ms: with --force, FINISHED runs that started before this time do not count as done.
    resume_other_code: continue a checkpoint written by other code (tag bench.code) instead of setting it aside.
    keep_final: hashes of the cells other cells start from: when one finishes, its final parameters are kept in
    ``<checkpoint root>/finished/<run id>`` (``checkpointing.save_final``; read back with ``load_final``) and
    the run is tagged ``bench.final_params`` with that folder."""

    checkpoint_dir: str | None = None
    checkpoint_every: int = checkpointing.DEFAULT_EVERY
    checkpoints: bool = True
    mesh: str | None = None
    since_ms: int | None = None
    progress: bool = False
    resume_other_code: bool = False
    keep_final: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Outcome:
    """What became of one cell: finished or failed (with its run), or skipped because another process has it."""

    status: str  # "finished" | "failed" | "skipped"
    run_id: str | None = None
    error: str | None = None
    resumed_at: int | None = None  # the checkpoint step it resumed from


def _trainer(model, task, settings: Settings):
    """The cell's fit function and whether it checkpoints: the model's own (tabular), the text trainer on the
    settings' mesh, or the timer of Table 1 (a timing is atomic: nothing to resume)."""
    fit = getattr(model, "fit", None)
    if fit is not None:
        return fit, True
    from bench import profile, textcells
    from bench.models import sharding

    if isinstance(task, profile.TimingTask):
        return partial(profile.fit, model), False
    return partial(textcells.fit, model, mesh=sharding.mesh_from_spec(settings.mesh)), True


def _checkpoints(cell, settings: Settings, store: Store, run_id: str | None):
    """The cell's checkpoints and the step the run continues from (None: from the start).

    The newest checkpoint is continued only by a successor of the run that wrote it (:func:`_not_continued`):
    a run of this cell that this store's experiment knows and that did not finish (KILLED, FAILED, or RUNNING
    with a dead owner, which the claim has just marked KILLED), written for this store and by this code (tag
    bench.code; ``settings.resume_other_code`` waives the code). Any other checkpoint is never read: the cell
    trains afresh and one line on stderr says why; a FINISHED run's checkpoint is removed, any other is set aside
    as ``<folder>.stale-<time>`` (``.other-code-<time>``, ``.corrupt-<time>`` when unreadable) for a person to
    inspect or move back. The
    metrics the source run logged up to the save are copied into ``run_id`` once the trainer has read the
    checkpoint back (``on_restore``), so a checkpoint found corrupt then leaves the run clean. With checkpoints
    off, a cell in ``keep_final`` gets a ``FinalState`` (the end of training held in memory). In a multi-host
    run every process takes process 0's decision (``sharding.agree``)."""
    from bench.models import sharding

    if not settings.checkpoints:
        return (checkpointing.FinalState() if cell.hash in settings.keep_final else None), None
    ckpt = _cell_checkpoints(cell, settings, store, run_id)
    try:
        saved, unreadable = ckpt.latest(), None
    except checkpointing.UnreadableCheckpoint as err:
        saved, unreadable = None, err
    verdict = None
    if sharding.is_primary():
        if unreadable is not None:
            verdict = ("corrupt", unreadable.reason)
        elif saved is not None:
            source = store.run(saved.run_id) if saved.run_id else None
            verdict = _not_continued(saved, source, cell.hash, store, ckpt.code, settings.resume_other_code)
    resume = sharding.agree(saved is not None and verdict is None)
    if not resume and sharding.agree(verdict is not None):
        if sharding.is_primary():
            _discard(cell, ckpt, *verdict)
        sharding.agree(True)  # the others go on once it is gone
        ckpt.close()  # every process opens the (now empty) folder afresh
    if not resume or saved is None:  # saved is None only on a process other than 0 that reads no checkpoint
        return ckpt, None
    if saved.code != ckpt.code and sharding.is_primary():
        store.set_tags(run_id, {"bench.resumed_code": saved.code or "not recorded"})
        _say(f"cell {cell.label()}: continuing the checkpoint in {ckpt.directory}, written by other code ({saved.code or 'not recorded'}; "
             f"this is {ckpt.code}), as --resume-other-code asks.")
    ckpt.on_restore = partial(_adopt, store, run_id, saved)
    return ckpt, saved.step


def _cell_checkpoints(cell, settings: Settings, store: Store, run_id: str | None) -> checkpointing.CellCheckpoints:
    """The cell's checkpoint folder, each save recording ``run_id``, the store and the code."""
    return checkpointing.CellCheckpoints(
        f"{checkpointing.root(settings.checkpoint_dir)}/{cell.hash}", settings.checkpoint_every, run_id=run_id,
        store=store.identity(), code=provenance()["bench.code"],
    )


def _not_continued(saved: checkpointing.Saved, source, cell_hash: str, store: Store, code: str, other_code: bool) -> tuple[str, str] | None:
    """None when checkpoint ``saved`` may be continued by a new run of cell ``cell_hash`` in ``store``, else (what to
    do with it, why not): "remove" the checkpoint of a FINISHED run, set aside one of "other-code" (kept for
    --resume-other-code) or any other "stale" one.
    ``source`` is the run that wrote it as ``store`` holds it (None: unknown or deleted there)."""
    here = store.identity()
    if saved.run_id is None:
        return "stale", "it names no MLflow run"
    if saved.store is not None and saved.store != here:
        return "stale", f"it was written for another store ({saved.store}), not {here}"
    if source is None:
        return "stale", f"its run {saved.run_id} is unknown to {here} (the store was removed or MLFLOW_TRACKING_URI changed)"
    if source.info.experiment_id != store.experiment_id or source.data.tags.get("bench.cell") != cell_hash:
        return "stale", f"its run {saved.run_id} belongs to another experiment or cell"
    if source.info.status == "FINISHED":
        return "remove", f"its run {saved.run_id} FINISHED"
    if saved.code != code and not other_code:
        return "other-code", f"it was written by other code ({saved.code or 'not recorded'}; this is {code})"
    return None


def _discard(cell, ckpt: checkpointing.CellCheckpoints, action: str, why: str) -> None:
    """Remove (``action`` "remove") or set aside a checkpoint that is not continued, with one line saying so."""
    where = f"cell {cell.label()}: the checkpoint in {ckpt.directory}"
    if action == "remove":
        ckpt.clear()
        _say(f"{where} is not continued: {why}; removed it, training afresh.")
        return
    target = ckpt.set_aside(action)
    hint = f" (to continue from it, move it back to {ckpt.directory} and pass --resume-other-code)" if action == "other-code" else ""
    if action == "corrupt":
        _say(f"{where} cannot be read ({why}); set it aside as {target}, training afresh.")
    else:
        _say(f"{where} is not continued: {why}; set it aside as {target}, training afresh{hint}.")


def _adopt(store: Store, run_id: str, saved: checkpointing.Saved, step: int) -> None:
    store.adopt(run_id, saved.run_id, saved.saved_at_ms, step)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _keep_final(store: Store, run_id: str, ckpt, final, settings: Settings) -> None:
    """Keep the final parameters of a cell needed downstream (``Settings.keep_final``) by the run that trained them:
    those of the state saved at the last step, checked against the final report's bench.params_sha256."""
    sha = ((final.tags or {}) if final is not None else {}).get("bench.params_sha256")
    if ckpt is None or ckpt.last is None or final is None or ckpt.last[0] != final.total or not sha:
        raise BenchError("this cell is needed downstream but its trainer neither checkpoints its final state nor reports "
                         "bench.params_sha256, so its final parameters cannot be kept.")
    step, state = ckpt.last
    folder = checkpointing.save_final(_agree_text(run_id), step, checkpointing.params_of(state), sha, settings.checkpoint_dir)
    store.set_tags(run_id, {"bench.final_params": folder})


def _agree_text(text: str | None) -> str:
    """Process 0's ``text`` (an MLflow run id: 32 characters of ASCII) on every process of a multi-host run."""
    import jax
    import numpy as np

    if jax.process_count() == 1:
        return text or ""
    from jax.experimental import multihost_utils

    raw = np.frombuffer((text or "").encode().ljust(64)[:64], np.uint8)
    return bytes(np.asarray(multihost_utils.broadcast_one_to_all(raw))).decode().strip()


def attempt(store: Store, entry: SuiteCell, settings: Settings = Settings()) -> Outcome:
    """Claim, train and record one cell (on whichever machine this runs: executors call it).

    It runs only if this process wins the cell's claim (``Store.claim``), beating a heartbeat meanwhile; it
    resumes from the cell's newest checkpoint when an unfinished run of this store left one (``_checkpoints``);
    a newest checkpoint that cannot be read back is set aside and the cell trains afresh. A failure is recorded
    as a FAILED run and returned (its checkpoint is kept for the next attempt); a KeyboardInterrupt marks the run
    KILLED and propagates. Once the run is FINISHED its checkpoints are removed, so they can never be continued
    by another run; a cell in ``settings.keep_final`` first keeps its final parameters (``_keep_final``)."""
    from bench.models import sharding

    cell = entry.cell
    run_id = store.claim(cell, entry.figure, since_ms=settings.since_ms)
    if not sharding.agree(run_id is not None):  # multi-host: process 0 claims for all (the others hold a Follower)
        return Outcome("skipped")
    ckpt, resumed_at = None, None
    try:
        with store.heartbeat(run_id):
            task = TASKS.build(cell.task, **cell.options("task_options"))
            objective = ALGORITHMS.build(cell.algorithm, **cell.options("hparams"))
            model = MODELS.build(cell.model, **cell.options("model_options"))
            fit, resumable = _trainer(model, task, settings)
            if resumable:
                ckpt, resumed_at = _checkpoints(cell, settings, store, run_id)

            start = None
            if cell.init_from:
                start, upstream_tags = _upstream_start(store, cell, settings)
                store.set_tags(run_id, upstream_tags)

            def train():
                extra = {"checkpoints": ckpt} if ckpt is not None else {}
                extra |= {"start": start} if start is not None else {}
                reports = fit(task, objective, seed=cell.seed, data=cell.options("data"), train=cell.options("train"), **extra)
                return _record(store, run_id, reports, settings.progress, resumed_at or 0)

            try:
                final = train()
            except checkpointing.UnreadableCheckpoint as err:  # raised by the restore, before any report was logged
                if resumed_at is None or err.directory != getattr(ckpt, "directory", None):
                    raise
                if sharding.is_primary():
                    _discard(cell, ckpt, "corrupt", err.reason)
                sharding.agree(True)
                ckpt.close()
                ckpt, resumed_at = _cell_checkpoints(cell, settings, store, run_id), None
                final = train()
            if cell.hash in settings.keep_final:
                _keep_final(store, run_id, ckpt, final, settings)
    except KeyboardInterrupt:
        store.kill(run_id)
        raise
    except Exception as err:
        store.fail(run_id, err)
        return Outcome("failed", run_id, redact.text(f"{type(err).__name__}: {err}"), resumed_at)
    finally:
        if ckpt is not None:
            ckpt.close()  # the last save is complete before the run is marked finished
    store.finish(run_id)
    if isinstance(ckpt, checkpointing.CellCheckpoints) and sharding.is_primary():
        try:
            ckpt.clear()
        except OSError as err:  # the result is recorded; a leftover is removed at the cell's next attempt
            _say(f"cell {cell.label()}: could not remove its checkpoints in {ckpt.directory} ({err}); delete them by hand.")
    return Outcome("finished", run_id, resumed_at=resumed_at)


def _upstream_start(store: Store, cell, settings: Settings) -> tuple:
    """The start of a cell with an ``init_from`` and the tags that name it: a function mapping the preset's own parameters to the final parameters
    of the upstream cell's newest FINISHED run in this store, addressed by that run and checked against its
    bench.params_sha256 (``checkpointing.load_final``). BenchError, before any training, when the upstream has no
    finished run (it failed or has not run) or kept no parameters. The run's tags name the upstream, its run and digest."""
    from bench.models import sharding

    primary = sharding.is_primary()  # in a multi-host run process 0 reads the store and tells the others
    if primary:
        finished = [r for r in store.cell_runs(cell.init_from) if r.info.status == "FINISHED"]
        digests = {r.data.tags.get("bench.params_sha256") for r in finished}
        if len(digests) > 1:  # which one the cell means is not for the runner to guess (reports mark it a conflict)
            runs = ", ".join(r.info.run_id for r in finished)
            raise BenchError(f"it starts from cell {cell.init_from}, whose FINISHED runs ({runs}) hold different parameters; "
                             "delete the stale run(s) in MLflow (mlflow runs delete --run-id ID) and rerun.")
    upstream_run = _agree_text(store.finished_cells().get(cell.init_from) if primary else None) or None
    if upstream_run is None:
        raise BenchError(f"it starts from cell {cell.init_from} (init_from), which has no FINISHED run in this store (it failed "
                         "or has not run); run that cell first, e.g. with a --filter that selects both.")
    sha = _agree_text(store.run(upstream_run).data.tags.get("bench.params_sha256", "") if primary else None)
    if not sha:
        raise BenchError(f"its upstream run {upstream_run} (cell {cell.init_from}) recorded no bench.params_sha256, so its "
                         "parameters cannot be verified; rerun the upstream cell with --force.")
    tags = {"bench.init_from": cell.init_from, "bench.init_from_run": upstream_run, "bench.init_from_params_sha256": sha}
    return partial(_load_upstream, upstream_run, sha, settings.checkpoint_dir), tags


def _load_upstream(run_id: str, sha: str, directory: str | None, template):
    return checkpointing.load_final(run_id, sha, template, directory)


def _record(store: Store, run_id: str, reports, progress: bool, start: int):
    """Log each Progress report's metrics (at its step), artifacts and tags; a step bar on a terminal. Returns the
    last report (None when there was none)."""
    bar, report = None, None
    for report in reports:
        if progress and bar is None:
            bar = tqdm(total=report.total, initial=start, desc="  steps", unit="step", leave=False, file=sys.stderr)
        if bar is not None:
            bar.update(report.step - bar.n)
        store.log_metrics(run_id, report.metrics, report.step)
        if report.artifacts:
            store.log_artifacts(run_id, report.artifacts)
        if report.tags:
            store.set_tags(run_id, report.tags)
    if bar is not None:
        bar.close()
    return report


@dataclass
class Summary:
    total: int = 0
    skipped: int = 0  # finished before this command started
    taken: list = field(default_factory=list)  # cells another process ran or was running meanwhile
    finished: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    undone: list = field(default_factory=list)  # (entry, why): cells of `taken` still not done after the grid, holder dead


class Follower:
    """The store of processes other than 0 in a multi-host run: they train in step with process 0, which
    alone claims cells and records results; every other call (claim, status, adopt, log_*, finish, ...)
    does nothing and returns None."""

    def __init__(self, suite: str):
        self.suite = suite

    def finished_cells(self) -> dict:
        return {}

    def heartbeat(self, run_id):
        return nullcontext()

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def plan(name: str, entries: list[SuiteCell], store: Store, force: bool) -> tuple[list[SuiteCell], Summary]:
    """The cells to attempt, each once, in suite order: all with ``force``, else those without a FINISHED run.
    A cell may feed several figures (Table 2's MLE cells are Figure 2's); it runs once, tagged with the first
    figure that lists it, and the report places its run under every figure the suite lists it for. In a
    multi-host run every process attempts every cell (so all take the same steps) and the claims skip the
    finished ones."""
    import jax

    finished = store.finished_cells() if jax.process_count() == 1 else {}
    todo, seen = [], set()
    for entry in entries:
        if entry.cell.hash not in seen and (force or entry.cell.hash not in finished):
            todo.append(entry)
        seen.add(entry.cell.hash)
    unique = len(seen)
    return todo, Summary(total=unique, skipped=unique - len(todo))


def run_suite(
    name: str, *, filter_expr: str | None = None, force: bool = False, store: Store | None = None,
    settings: Settings | None = None, executor=None,
) -> Summary:
    """Run every selected cell of suite ``name`` that has no FINISHED run (all of them with ``force``) on
    ``executor`` (default: this process, one cell after another)."""
    from bench.executors import LocalExecutor

    import jax

    from bench.models import sharding

    suite = load_suite(name)
    dependencies.check(suite, f"suite {name}")  # an init_from naming no cell of the suite, or a cycle
    entries = select(suite, filter_expr)
    validate(entries)
    if jax.process_count() > 1 and not isinstance(executor or LocalExecutor(), LocalExecutor):
        raise BenchError("a multi-host run (jax.distributed) trains one cell at a time over all hosts: use --executor local.")
    store = store or (Store.open(name) if sharding.is_primary() else Follower(name))
    settings = settings or Settings()
    # the final parameters of every cell another cell starts from are kept, by the run that trained them
    settings = replace(settings, keep_final=settings.keep_final | dependencies.needed(suite))
    if force and settings.since_ms is None:
        settings = replace(settings, since_ms=int(time.time() * 1000))
    executor = executor or LocalExecutor()
    todo, summary = plan(name, entries, store, force)
    todo = dependencies.order(todo)  # upstream cells before the cells that start from them

    print(
        f"suite {name}: {summary.total} cells, {summary.skipped} already finished, {len(todo)} to run on {executor.describe()} "
        + (f"(MLflow experiment {name!r} at {redact.uri(store.client.tracking_uri)})" if isinstance(store, Store) else
           f"(process {jax.process_index()} of {jax.process_count()}; process 0 records the results)"),
        file=sys.stderr,
    )
    tty = sys.stderr.isatty()
    for i, (entry, outcome, seconds) in enumerate(executor.run(store, todo, replace(settings, progress=settings.progress or tty)), 1):
        where = f"[{i}/{len(todo)}] {entry.cell.label()}"
        if outcome.status == "skipped":
            summary.taken.append(entry)
            holder = _holder(store, entry.cell.hash, time.time()) if isinstance(store, Store) else ""
            print(f"{where}: another process has run or is running it{holder}; skipped", file=sys.stderr)
        elif outcome.status == "failed":
            summary.failed.append((entry, outcome.error))
            print(f"{where} FAILED: {outcome.error}", file=sys.stderr)
        else:
            summary.finished.append((entry, outcome.run_id))
            resumed = f" (resumed from the checkpoint at step {outcome.resumed_at})" if outcome.resumed_at is not None else ""
            if not tty or resumed:
                print(f"{where} done in {seconds:.1f}s{resumed}", file=sys.stderr)
    if isinstance(store, Store):
        now = time.time()
        summary.undone = [(e, why) for e in summary.taken if (why := _undone(store, e.cell.hash, settings.since_ms, now))]
    return summary


def _undone(store: Store, cell_hash: str, since_ms: int | None, now: float) -> str | None:
    """Why a cell that another process held (its claim was lost) is still not done, None when it is done (a
    FINISHED run, started at or after ``since_ms`` with --force) or its holder is still at work (``is_live``)."""
    runs = store.cell_runs(cell_hash)
    if any(r.info.status == "FINISHED" and (since_ms is None or r.info.start_time >= since_ms) for r in runs):
        return None
    if any(r.info.status == "RUNNING" and is_live(r.data.tags, now) for r in runs):
        return None
    newest = max(runs, key=lambda r: r.info.start_time, default=None)
    if newest is None:
        return "the process that held it left no run of it; rerun this command to train it"
    state = "is gone (or silent past its lease) and left the run RUNNING" if newest.info.status == "RUNNING" else f"ended it {newest.info.status}"
    return f"{_who(newest)}, which held it with run {newest.info.run_id}, {state}; rerun this command to train it"


def _holder(store: Store, cell_hash: str, now: float) -> str:
    """For a skipped cell's line: who holds it (the oldest live RUNNING run's owner) and when it last beat; an owner
    this machine cannot check (another host or container) is trusted for the lease, so say how long that is."""
    live = [r for r in store.cell_runs(cell_hash) if r.info.status == "RUNNING" and is_live(r.data.tags, now)]
    if not live:
        return ""
    run = min(live, key=lambda r: r.info.start_time)
    beat = now - float(run.data.tags["bench.heartbeat"])
    return f" ({_who(run)}, run {run.info.run_id}, beat {beat:.0f} s ago; taken over once silent for {lease_s():.0f} s)"


def _who(run) -> str:
    owner = Owner.parse(run.data.tags.get("bench.owner", ""))
    return f"process {owner.pid} on {owner.host}" if owner.pid is not None else "an unknown process"
