"""The ``bench`` command: list, run, report, check, score, profile."""

from __future__ import annotations

import argparse
import signal
import sys
from collections import Counter
from pathlib import Path

DEFAULT_REPORT_DIR = "bench-report"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench", description="Reproduce 'Imitating Language via Scalable Inverse RL' as a grid of MLflow runs.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="print tasks, algorithms, model presets and suites")
    run = sub.add_parser("run", help="run every unfinished cell of a suite, then write its report")
    run.add_argument("--suite", required=True, help="suite name (`bench list` shows them)")
    run.add_argument("--filter", dest="filter_expr", metavar="EXPR", help="comma-separated key=glob / key!=glob terms, e.g. 'algorithm=iqlearn*,seed=0'")
    run.add_argument("--force", action="store_true", help="run cells again even if they have a finished run (the old run is kept)")
    run.add_argument("--dry-run", action="store_true", help="print the cells that would run and stop")
    run.add_argument("--no-report", action="store_true", help="do not write the HTML report afterwards")
    run.add_argument("--out", default=DEFAULT_REPORT_DIR, help=f"folder for the report (default: {DEFAULT_REPORT_DIR}); checked before any "
                     "cell runs; a report that still cannot be written is one line on stderr, and the exit status is the cells'")
    run.add_argument("--resume-other-code", action="store_true",
                     help="continue checkpoints written by other code (tag bench.code); by default they are set aside and the cell trains afresh")
    scale = run.add_argument_group("where and how cells run (none of this changes a cell's identity or result)")
    scale.add_argument("--executor", choices=("local", "ray"), default="local",
                       help="local: cells one after another in this process (default); ray: each cell a Ray task")
    scale.add_argument("--address", metavar="ADDR", help="with --executor ray: the cluster to join ('auto', 'ray://HEAD:10001'); default: start a local one")
    scale.add_argument("--cpus-per-cell", type=float, default=1.0, metavar="N", help="with --executor ray: CPUs each cell requests (default: 1)")
    scale.add_argument("--gpus-per-cell", type=float, metavar="N", help="with --executor ray: GPUs each cell requests (default: 1 if the cluster has GPUs, else 0)")
    scale.add_argument("--forward-env", action="append", default=[], metavar="NAME",
                       help="with --executor ray: also send this variable (or NAME* pattern) to the workers; credentials go only "
                            "when named exactly (also $BENCH_RAY_FORWARD_ENV=A,B; see bench/executors.py)")
    scale.add_argument("--mesh", metavar="SPEC", help="device mesh of text cells, e.g. 'data=2,fsdp=4' (default: $BENCH_MESH, else every device on the fsdp axis)")
    scale.add_argument("--checkpoint-dir", metavar="DIR", help="checkpoint root, shared by every worker (default: $BENCH_CHECKPOINT_DIR, else ./bench-checkpoints)")
    scale.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                       help="updates between checkpoints; 0: only at the end of training (default: 1000)")
    scale.add_argument("--no-checkpoints", action="store_true", help="neither write nor resume from checkpoints")
    report = sub.add_parser("report", help="write the suite's HTML report from MLflow")
    report.add_argument("--suite", required=True, help="suite name")
    report.add_argument("--out", default=DEFAULT_REPORT_DIR, help=f"folder for the report (default: {DEFAULT_REPORT_DIR})")
    check = sub.add_parser("check", help="print the suite's claim verdicts; exit 1 if any fails")
    check.add_argument("--suite", required=True, help="suite name")
    score = sub.add_parser("score", help="score a JSON Lines file of generations on a text task (see bench/score.py for the format)")
    score.add_argument("--task", required=True, help="a text task: gsm8k, xsum, tldr, wmt22")
    score.add_argument("--generations", required=True, metavar="FILE.jsonl", help="one object per line: 'generation' and 'references', 'target' or 'id'")
    score.add_argument("--split", help="split in which lines' 'id' are looked up (default: the task's evaluation split)")
    score.add_argument("--data-dir", help="folder holding <task>/<split>.jsonl (default: $BENCH_DATA_DIR)")
    score.add_argument("--json", dest="json_out", metavar="OUT", help="also write the scores to this JSON file")
    prof = sub.add_parser("profile", help="time one update per algorithm and sampling one batch (Table 1); print ratios to MLE")
    prof.add_argument("--preset", default="t5-tiny", help="model preset, random initialisation at its real shapes (default: t5-tiny)")
    prof.add_argument("--algorithms", default="mle,iqlearn,gail,iqlearn_online",
                      help="comma-separated Table 1 rows (default: mle,iqlearn,gail,iqlearn_online; online ones also time sampling alone)")
    prof.add_argument("--batch-size", type=int, help="batch size (default: the preset's Table 1 batch, else 8)")
    prof.add_argument("--prompt-len", type=int, help="prompt tokens (default: the preset's Table 1 length, else 64)")
    prof.add_argument("--target-len", type=int, help="target and sampled tokens (default: the preset's Table 1 length, else 32)")
    prof.add_argument("--repeats", type=int, default=20, help="timed steps per program; the median is reported (default: 20)")
    prof.add_argument("--warmup", type=int, default=2, help="untimed steps per program after compilation (default: 2)")
    prof.add_argument("--chunked", action="store_true", help="also time MLE and IQLearn with the vocabulary-chunked loss, with peak memory")
    prof.add_argument("--chunk-size", type=int, default=4096, help="vocabulary columns per chunk of the chunked loss (default: 4096)")
    prof.add_argument("--dtype", choices=("float32", "bfloat16"), help="compute dtype; bfloat16 also stores the parameters in it "
                      "(default: the preset's Table 1 setting: bfloat16 for t5-base/large/xl, else float32)")
    prof.add_argument("--seed", type=int, default=0, help="seed of the random parameters and token ids (default: 0)")
    prof.add_argument("--out", metavar="FILE", help="also write the table (markdown) to FILE (appended to if it exists)")
    prof.add_argument("--no-mlflow", action="store_true", help="do not log the runs to the MLflow experiment 'profile'")
    return p


def _profile(args) -> int:
    """``bench profile``: every requested Table 1 row of one preset timed in one process (bench/profile.py)."""
    from bench import grids, profile
    from bench.registry import ALGORITHMS, MODELS, BenchError, UnknownNameError

    arms = dict(grids.TABLE1_ARMS)
    wanted = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    unknown = [a for a in wanted if a not in arms]
    if unknown or not wanted:
        raise UnknownNameError(f"--algorithms {args.algorithms!r}: use a comma-separated subset of {', '.join(arms)}.")
    table1 = {m: (s, name) for name, presets in grids.TABLE1_PRESETS.items() for m, s in presets.items()}
    (batch, prompt, target), scale = table1.get(args.preset, ((8, 64, 32), None))
    batch, prompt, target = args.batch_size or batch, args.prompt_len or prompt, args.target_len or target
    bfloat16 = args.dtype == "bfloat16" if args.dtype else scale in grids.TABLE1_BFLOAT16
    if min(batch, prompt, target, args.repeats, args.chunk_size) < 1 or args.warmup < 0:
        raise BenchError("--batch-size, --prompt-len, --target-len, --repeats and --chunk-size must be >= 1, --warmup >= 0.")
    model = MODELS.build(args.preset, **({"dtype": "bfloat16"} if bfloat16 else {}))
    objectives = {name: ALGORITHMS.build(name, **arms[name]) for name in wanted}
    print(f"bench profile: {args.preset}, batch {batch}, prompt {prompt}, target {target} tokens, "
          f"{'bfloat16' if bfloat16 else 'float32'}, {args.repeats} timed steps", file=sys.stderr)
    result = profile.profile_preset(
        model, args.preset, objectives, batch_size=batch, prompt_len=prompt, target_len=target, repeats=args.repeats,
        warmup=args.warmup, seed=args.seed, chunked=args.chunked, chunk=args.chunk_size, cast=bfloat16,
        log=lambda line: print(line, file=sys.stderr),
    )
    text = profile.render(result)
    print(text)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as f:
            f.write(text + "\n")
    if not args.no_mlflow:
        cells = {
            key: grids.timing_cell(args.preset, key.split("+")[0], arms[key.split("+")[0]], batch_size=batch, prompt_len=prompt,
                                   target_len=target, repeats=args.repeats, warmup=args.warmup, chunked=key.endswith("+chunked"),
                                   bfloat16=bfloat16, seed=args.seed)
            for key in (r.key for r in result.rows) if key.split("+")[0] in arms
        }
        print(profile.log_profile(result, cells), file=sys.stderr)
    return 0 if not any(r.error for r in result.rows) else 1


def _list() -> int:
    from bench.registry import ALGORITHMS, MODELS, SUITES, TASKS

    for title, registry in (("tasks", TASKS), ("algorithms", ALGORITHMS), ("model presets", MODELS), ("suites", SUITES)):
        print(f"{title}:")
        width = max((len(e.name) for e in registry), default=0)
        for entry in registry:
            print(f"  {entry.name:<{width}}  {entry.description}")
    return 0


def _dry_run(suite: str, entries) -> int:
    """The cells that would run, and per figure their count and estimated device-hours (bench/estimate.py)."""
    from bench.cells import SuiteCell
    from bench.estimate import by_figure

    unique = list({e.cell.hash: e for e in entries}.values())
    figures, total = by_figure(entries), by_figure([SuiteCell(e.cell, "total") for e in unique])["total"] if unique else None
    print(f"suite {suite}: {len(unique)} cells" + (f" ({len(entries) - len(unique)} of them feed two figures)" if len(unique) < len(entries) else ""))
    print(f"  {'figure':<18} {'cells':>6} {'CPU h':>8} {'accel. h':>9}   (estimates of training time, see bench/estimate.py)")
    for figure, row in list(figures.items()) + ([("total", total)] if total else []):
        print(f"  {figure:<18} {row['cells']:>6} {row['cpu_hours']:>8.2f} {row['accelerator_hours']:>9.1f}")
    for entry in entries:
        print(f"  {entry.cell.hash}  {entry.figure:<18} {entry.cell.model:<14} {entry.cell.label()}")
    return 0


def _suite_runs(suite: str):
    """The suite's cells as (hash, figure) pairs, the tracking URI, and its finished runs as MLflow holds them.

    Only reads: the store is checked with ``write=False``, so a read-only store serves and nothing is created in
    it. A store without the suite's experiment is said in one line on stderr (every cell then shows as not run)."""
    from mlflow.tracking import MlflowClient

    from bench import redact
    from bench.runner import load_suite
    from bench.tracking import check_reachable, tracking_uri
    from reports.runs import load_runs

    expected = [(e.cell.hash, e.figure) for e in load_suite(suite)]
    uri = tracking_uri()
    check_reachable(uri, write=False)
    if MlflowClient(uri).get_experiment_by_name(suite) is None:
        print(f"note: the MLflow store {redact.uri(uri)} has no experiment {suite!r}, so every cell shows as not run; "
              f"run `bench run --suite {suite}` first, or point MLFLOW_TRACKING_URI at the store that holds it.", file=sys.stderr)
    return expected, uri, load_runs(suite, uri)


def _report(suite: str, out: str) -> str:
    """Write the suite's report; returns its path and a one-line summary of the checks."""
    from reports import html
    from reports.runs import place

    folder = _check_out(out)
    expected, uri, runs = _suite_runs(suite)
    page = html.build(suite, runs, expected, uri)  # places each run under every figure that lists its cell
    runs = place(runs, expected)
    path = folder / f"{suite}.html"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
    except OSError as err:  # checked up front; what is left is a race, a full disk and the like
        from bench.registry import BenchError

        raise BenchError(f"cannot write the report {path} ({err.strerror or err}); free the space or pass another --out.") from None
    checks = html.summarise(html.suite_verdicts(runs, {f for _, f in expected}))
    return f"{path} (checks: {checks})"


def _check_out(out: str) -> Path:
    """``--out`` as the report's folder, refused in one sentence (exit 2) unless it is a folder or can be made one:
    its nearest existing ancestor must be a writable folder. ``bench run`` checks it before any cell runs."""
    import os

    from bench.registry import UsageError

    folder = Path(out)
    existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise UsageError(f"--out {out}: {existing} is a file, not a folder; pass a folder for the report (default: {DEFAULT_REPORT_DIR}).")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: folder {existing} is not writable; pass a folder you can write.")
    return folder


def _report_after_run(suite: str, out: str) -> None:
    """``bench run``'s report: the cells' results are in MLflow whatever happens here, so a report that cannot be
    written is one line on stderr and leaves the exit status to the cells (``bench report`` writes it again)."""
    from bench.registry import BenchError

    try:
        print(f"report: {_report(suite, out)}", file=sys.stderr)
    except BenchError as err:
        print(f"bench: the report was not written ({err}); the cells' results are kept in MLflow: "
              f"fix that and run `bench report --suite {suite}`.", file=sys.stderr)


def _check(suite: str) -> int:
    from reports.html import suite_verdicts
    from reports.runs import place

    expected, _, runs = _suite_runs(suite)
    verdicts = suite_verdicts(place(runs, expected), {f for _, f in expected})
    for v in verdicts:
        print(f"{v.verdict.upper():<13} {v.claim.id}\n              {v.measured()}\n              {v.detail}")
    failed = sum(v.verdict == "fail" for v in verdicts)
    print(f"{len(verdicts)} checks: " + ", ".join(f"{n} {k}" for k, n in Counter(v.verdict for v in verdicts).items()))
    return 1 if failed else 0


def _settings(args):
    """``bench run``'s execution settings (bench.runner.Settings) from its flags and environment."""
    import os

    from bench.checkpointing import DEFAULT_EVERY
    from bench.registry import BenchError, UsageError
    from bench.runner import Settings

    import jax

    from bench.models import sharding

    every = DEFAULT_EVERY if args.checkpoint_every is None else args.checkpoint_every
    if every < 0:
        raise UsageError(f"--checkpoint-every {every} must be >= 0 (0 saves only at the end of training).")
    mesh = args.mesh or os.environ.get(sharding.ENV_MESH)
    try:
        sharding.parse_mesh_spec(mesh, jax.device_count())  # a bad spec is refused before any cell runs
    except BenchError as err:
        raise UsageError(str(err)) from None
    return Settings(checkpoint_dir=args.checkpoint_dir, checkpoint_every=every, checkpoints=not args.no_checkpoints, mesh=mesh,
                    resume_other_code=args.resume_other_code)


def _executor(args):
    from bench.executors import LocalExecutor, RayExecutor
    from bench.registry import UsageError

    if args.executor == "local":
        if args.address or args.gpus_per_cell is not None or args.forward_env:
            raise UsageError("--address, --gpus-per-cell and --forward-env apply to --executor ray only; add --executor ray or drop them.")
        return LocalExecutor()
    if args.cpus_per_cell <= 0 or (args.gpus_per_cell or 0) < 0:
        raise UsageError("--cpus-per-cell must be > 0 and --gpus-per-cell >= 0.")
    return RayExecutor(address=args.address, cpus_per_cell=args.cpus_per_cell, gpus_per_cell=args.gpus_per_cell,
                       forward_env=tuple(args.forward_env))


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from bench.registry import BenchError

    try:
        if args.command == "list":
            import bench  # noqa: F401  (fills the registries)

            return _list()
        import bench  # noqa: F401
        from bench import compilation

        compilation.enable()  # before the first compilation: compiled programs are reused across processes

        if args.command == "run":
            from bench.models import sharding
            from bench.runner import load_suite, run_suite, select, validate

            sharding.initialize_distributed()  # multi-host: before any JAX computation; else nothing

            # A scheduler's or `kill`'s SIGTERM stops the grid as Ctrl-C does: the running cell is marked KILLED. SIGINT
            # gets Python's handler back, as a job started with `&` by a script inherits SIGINT ignored.
            signal.signal(signal.SIGTERM, _interrupt)
            signal.signal(signal.SIGINT, signal.default_int_handler)

            if args.dry_run:
                from bench.runner import data_problems

                entries = select(load_suite(args.suite), args.filter_expr)
                validate(entries, check_data=False)
                code = _dry_run(args.suite, entries)
                # listed anyway: the paper's subsets need the full data sets of the hub, not the local excerpts
                for problem in data_problems(entries):
                    print(f"warning: with this data, `bench run` would refuse {problem}", file=sys.stderr)
                return code
            if not args.no_report:
                _check_out(args.out)  # before any training: a bad --out must never cost a run
            summary = run_suite(args.suite, filter_expr=args.filter_expr, force=args.force, settings=_settings(args),
                                executor=_executor(args))
            print(
                f"suite {args.suite}: {len(summary.finished)} cells finished now, {summary.skipped} skipped as already finished, "
                f"{len(summary.taken)} left to other processes, {len(summary.failed)} failed",
                file=sys.stderr,
            )
            for entry, error in summary.failed:
                print(f"  FAILED {entry.cell.label()}: {error}", file=sys.stderr)
            for entry, why in summary.undone:  # skipped for another process that did not finish them
                print(f"  NOT DONE {entry.cell.label()}: {why}", file=sys.stderr)
            if not args.no_report and sharding.is_primary():
                _report_after_run(args.suite, args.out)
            return 1 if summary.failed or summary.undone else 0
        if args.command == "report":
            print(f"report: {_report(args.suite, args.out)}")
            return 0
        if args.command == "check":
            return _check(args.suite)
        if args.command == "profile":
            return _profile(args)
        if args.command == "score":
            from bench.score import score

            return score(args.task, args.generations, split=args.split, data_dir=args.data_dir, json_out=args.json_out)
    except BenchError as err:
        print(f"bench: {err}", file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:  # output piped into head and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("bench: interrupted; finished cells are kept in MLflow, rerun the same command to continue.", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
