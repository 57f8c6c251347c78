"""Table 1: the time of one update per algorithm and of sampling one batch, at real architecture shapes.

What is timed (the paper's Table 1 rows; random initialisation, random token ids, no data):

- ``mle`` / ``iqlearn`` / ``iqlearn_online``: the text trainer's own jitted step
  (``textcells.train_step``: forward, loss, backward, Adam) on a batch of ``batch_size`` prompts
  of ``prompt_len`` tokens with targets of ``target_len`` tokens; online IQLearn's step also samples
  one continuation per prompt with the KV-cache decoder (``decoding.generate``, temperature 1);
- ``gail``: the GAIL trainer's step (``gail_trainer.update``: sampling, then discriminator, value
  and policy gradients and three Adam updates);
- sampling alone, for the online algorithms: ``decoding.generate`` of ``target_len`` new tokens
  per prompt, jitted on its own. The paper's Table 1 times updates *excluding* sampling and
  sampling on its own row, so GAIL's update excluding sampling is reported as the difference of
  the two medians, and the "+ sampling (online IRL)" row is the sampling time.

Each program is compiled ahead of time (``jit(...).lower(...).compile()``, several at once on a host
with many cores: ``profile/compile_s``; its memory footprint ``profile/peak_bytes`` comes from XLA's
``memory_analysis()``), called ``warmup_repeats`` times untimed, then ``repeats`` times, each call
blocked on (``block_until_ready``). Every call applies one update to the same starting state and drops the
result (the work is that of any training step; sharing the state keeps one copy of the
parameters resident for all algorithms). When several programs are timed together they take
turns, step by step, so that a change in the machine's load touches all of them alike and their
ratios stay comparable. Reported: median and 25th/75th percentiles in milliseconds.

``train.chunked = 1`` times the MLE / IQLearn update with the vocabulary-chunked loss
(``algorithms.chunked``), which never holds the float32 [B, T, V] logits.

Two entry points: :func:`fit`, the runner's hook for suite cells of the ``timing`` task (one
MLflow run per Table 1 cell), and :func:`profile_preset`, behind ``bench profile``, which times
every algorithm of one preset in one process and prints their ratios to MLE beside the paper's.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import optax

from algorithms import chunked as chunked_loss
from algorithms import iqlearn, mle
from algorithms.transitions import from_sequence
from bench import gail_trainer, textcells
from bench.models import decoding
from bench.objectives import Adversarial, Objective
from bench.registry import BenchError
from bench.tabular import Progress

LEARNING_RATE = 1e-4  # the paper's (Table 3); the value does not change the time of a step
ROW_LABELS = {
    "mle": "MLE update", "iqlearn": "IQLearn update", "gail": "GAIL update (incl. sampling)",
    "iqlearn_online": "online IQLearn update (incl. sampling)",
}
CHUNKABLE = (mle.loss, iqlearn.offline_loss, iqlearn.online_loss)  # losses that read only V(s) and q(s, a) per position


@dataclass(frozen=True)
class TimingTask:
    """The ``timing`` task: no data; prompts and targets are random token ids drawn from the cell's seed."""

    prompt_len: int = 64
    target_len: int = 32
    name: str = "timing"
    metrics: tuple = ()

    def __post_init__(self):
        if self.prompt_len < 1 or self.target_len < 1:
            raise BenchError(f"timing task: prompt_len={self.prompt_len} and target_len={self.target_len} must both be >= 1.")


# ----------------------------------------------------------------------------------- programs


@dataclass
class Program:
    """A compiled program ready to be timed: ``call(i)`` runs it once (blocked on) with repeat index i."""

    name: str
    call: Callable[[int], Any]
    compile_s: float
    memory: dict = field(default_factory=dict)


def memory_of(compiled) -> dict:
    """XLA's memory footprint of a compiled program (``memory_analysis()``): ``peak_bytes`` = arguments +
    outputs + temporaries - aliased buffers, the most the program holds at once by XLA's buffer assignment,
    and ``temp_bytes``, the temporaries alone (activations, logits, gradients); {} where unavailable."""
    try:
        stats = compiled.memory_analysis()
    except Exception:  # some backends do not implement it
        stats = None
    if stats is None:
        return {}
    temp = int(stats.temp_size_in_bytes)
    peak = int(stats.argument_size_in_bytes + stats.output_size_in_bytes + temp - stats.alias_size_in_bytes)
    return {"peak_bytes": peak, "temp_bytes": temp}


def _device_peak() -> dict:
    """The device allocator's peak bytes in use (GPU/TPU), for backends whose compiled programs report no memory."""
    stats = jax.devices()[0].memory_stats() or {}
    return {"peak_bytes": int(stats["peak_bytes_in_use"])} if "peak_bytes_in_use" in stats else {}


@dataclass
class Lowered:
    """A traced program waiting for compilation (``jit(...).lower(...)``); ``compile_program`` makes it a Program."""

    name: str
    lowered: Any
    args: tuple
    keys: list


def lower(name: str, jitted, args: tuple, statics: dict, keys) -> Lowered:
    """Trace ``jitted`` for ``args``; the program's i-th call will get ``keys[i]`` as its last argument."""
    return Lowered(name, jitted.lower(*args, keys[0], **statics), args, keys)


def compile_program(pending: Lowered) -> Program:
    """Compile ahead of time (``profile/compile_s`` is this wall time) and wrap the call, blocked on its results."""
    start = time.perf_counter()
    compiled = pending.lowered.compile()
    compile_s = time.perf_counter() - start
    args, keys = pending.args, pending.keys

    def call(i: int):
        return jax.block_until_ready(compiled(*args, keys[i]))

    return Program(pending.name, call, compile_s, memory_of(compiled))


def compile_all(pending: list[Lowered], workers: int | None = None) -> list[Program | Exception]:
    """Compile several programs at once in threads, one per two CPU cores (XLA compiles without Python's lock,
    and each of a large T5's programs takes minutes to compile for an accelerator, whose host has many cores);
    a program that fails gives its exception. Each program's compile_s is then its own wall time, overlapped."""
    workers = workers or min(len(pending), max(1, (os.cpu_count() or 1) // 2))

    def one(p: Lowered) -> Program | Exception:
        try:
            return compile_program(p)
        except Exception as err:  # noqa: BLE001  (reported per program by the caller)
            return err

    if workers <= 1 or len(pending) <= 1:
        return [one(p) for p in pending]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, pending))


def random_batch(model, task: TimingTask, batch_size: int, seed: int):
    """(prompt, prompt_mask, targets, target_mask): token ids drawn uniformly from the ids above the special
    ones (pad, EOS, BOS), full masks; a decoder-only model gets its BOS at the front of the prompt."""
    rng = np.random.default_rng(seed)
    special = [model.pad_id, model.eos_id, getattr(model, "bos_id", None)]
    low = max(int(s) for s in special if s is not None) + 1
    if low >= model.vocab_size:
        raise BenchError(f"model vocabulary ({model.vocab_size}) has no room for random token ids above the special ones.")
    prompt = rng.integers(low, model.vocab_size, (batch_size, task.prompt_len), dtype=np.int32)
    if getattr(model, "bos_id", None) is not None:
        prompt[:, 0] = model.bos_id
    targets = rng.integers(low, model.vocab_size, (batch_size, task.target_len), dtype=np.int32)
    ones = lambda a: jnp.ones(a.shape, jnp.int32)  # noqa: E731
    return jnp.asarray(prompt), ones(prompt), jnp.asarray(targets), ones(targets)


def init_params(model, seed: int, cast: bool = False):
    """Random parameters with the preset's real shapes (never pretrained weights: timing needs none);
    ``cast`` stores them in the model's compute dtype (``T5.cast``: bfloat16 halves the memory)."""
    params = textcells._init(jax.random.PRNGKey(seed), model=model)
    return model.cast(params) if cast and hasattr(model, "cast") else params


def chunked_sequence_loss(model, objective: Objective, params, batch, key, max_new: int, chunk: int):
    """``textcells.sequence_loss`` with every batch of transitions built by ``algorithms.chunked.from_hidden``
    from the model's final hidden states and output matrix (``model.forward_hidden``), chunk by chunk over
    the vocabulary: no [B, T, V] logits, same loss and terms."""
    prompt, prompt_mask, targets, target_mask = batch

    def transitions(tokens, mask):
        hidden, kernel = model.forward_hidden(params, prompt, prompt_mask, tokens, mask)
        return chunked_loss.from_hidden(hidden, kernel, tokens, mask, chunk)

    expert = transitions(targets, target_mask)
    terms = {"nll": mle.loss(expert)}
    policy = None
    if objective.online:
        sample = decoding.generate(model, jax.lax.stop_gradient(params), prompt, prompt_mask, max_new=max_new, rng=key, temperature=1.0)
        mask = sample.mask * (1 - sample.forced.astype(sample.mask.dtype))
        policy = transitions(sample.tokens, mask)
        terms["sample_length"] = jnp.mean(jnp.sum(mask, axis=1).astype(jnp.float32))
    return objective(expert, policy), terms


@partial(jax.jit, static_argnames=("model", "objective", "optimiser", "max_new", "chunk"))
def chunked_train_step(state, batch, key, *, model, objective, optimiser, max_new, chunk):
    """``textcells.train_step`` with the vocabulary-chunked loss (:func:`chunked_sequence_loss`)."""
    params, opt_state = state
    (loss, terms), grads = jax.value_and_grad(
        lambda p: chunked_sequence_loss(model, objective, p, batch, key, max_new, chunk), has_aux=True
    )(params)
    updates, opt_state = optimiser.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), terms | {"loss": loss}


@partial(jax.jit, static_argnames=("model", "max_new"))
def sample_batch(params, prompt, prompt_mask, key, *, model, max_new):
    """One continuation per prompt at temperature 1 with the KV cache, as the online algorithms sample."""
    return decoding.generate(model, params, prompt, prompt_mask, max_new=max_new, rng=key, temperature=1.0)


def loss_head_memory(model, batch_size: int, target_len: int, chunk: int) -> dict[str, dict]:
    """XLA's memory footprint of the loss head alone, compiled (not run) for both paths: the offline IQLearn loss
    and its gradient with respect to the final hidden states [B, T, D] and the output matrix [D, V] of ``model``,
    through the [B, T, V] logits ("plain") or chunk by chunk ("chunked"). The step's other memory (activations,
    parameters, optimiser state) is the same on both paths; this isolates what the chunked loss saves."""
    dtype = jnp.dtype(getattr(getattr(model, "config", None), "dtype", "float32"))
    width = model.config.d_model
    hidden = jax.ShapeDtypeStruct((batch_size, target_len, width), dtype)
    kernel = jax.ShapeDtypeStruct((width, model.vocab_size), dtype)
    targets, mask = jnp.zeros((batch_size, target_len), jnp.int32), jnp.ones((batch_size, target_len), jnp.float32)

    def plain(h, w):
        logits = jnp.einsum("btd,dv->btv", h, w, preferred_element_type=jnp.float32)
        return iqlearn.offline_loss(from_sequence(logits, targets, mask), lam=0.1, gamma=0.99)

    def chunk_path(h, w):
        return iqlearn.offline_loss(chunked_loss.from_hidden(h, w, targets, mask, chunk), lam=0.1, gamma=0.99)

    return {name: memory_of(jax.jit(jax.value_and_grad(f, argnums=(0, 1))).lower(hidden, kernel).compile())
            for name, f in (("plain", plain), ("chunked", chunk_path))}


def check_chunkable(model, objective) -> None:
    if not isinstance(objective, Objective) or objective.loss not in CHUNKABLE:
        raise BenchError(
            "train.chunked=1 applies to losses that read only V(s) and q(s, a) per position (mle, iqlearn, "
            "iqlearn_online); GAIL and ent-reg read every logit."
        )
    if not hasattr(model, "forward_hidden"):
        raise BenchError(f"train.chunked=1 needs a model with forward_hidden (T5 presets); {type(model).__name__} has none.")


def lower_update(name, model, objective, params, batch, keys, *, max_new: int, chunked: bool = False,
                 chunk: int = chunked_loss.DEFAULT_CHUNK) -> Lowered:
    """The traced update of ``objective`` (an Objective or GAIL's Adversarial) from ``params``: the text trainer's
    ``train_step`` (``chunked_train_step`` with ``chunked``), or ``gail_trainer.update``."""
    optimiser = textcells.adam_warmup(LEARNING_RATE, 0)
    if chunked:
        check_chunkable(model, objective)
    if isinstance(objective, Adversarial):
        state = gail_trainer.init(params, optimiser)
        statics = dict(model=model, hp=objective, optimiser=optimiser, max_new=max_new)
        return lower(name, gail_trainer.update, (state, batch), statics, keys)
    state = (params, optimiser.init(params))
    statics = dict(model=model, objective=objective, optimiser=optimiser, max_new=max_new)
    if chunked:
        return lower(name, chunked_train_step, (state, batch), statics | {"chunk": chunk}, keys)
    return lower(name, textcells.train_step, (state, batch), statics, keys)


def lower_sampling(name, model, params, batch, keys, *, max_new: int) -> Lowered:
    return lower(name, sample_batch, (params, batch[0], batch[1]), dict(model=model, max_new=max_new), keys)


def update_program(name, model, objective, params, batch, keys, *, max_new: int, chunked: bool = False,
                   chunk: int = chunked_loss.DEFAULT_CHUNK) -> Program:
    """The compiled update (:func:`lower_update`)."""
    return compile_program(lower_update(name, model, objective, params, batch, keys, max_new=max_new, chunked=chunked, chunk=chunk))


def sampling_program(name, model, params, batch, keys, *, max_new: int) -> Program:
    """The compiled sampling of one batch (:func:`sample_batch`)."""
    return compile_program(lower_sampling(name, model, params, batch, keys, max_new=max_new))


def run_keys(seed: int, count: int) -> list:
    base = jax.random.PRNGKey(seed + 1)
    return [jax.random.fold_in(base, i) for i in range(count)]


def time_programs(programs: list[Program], repeats: int, warmup: int, on_round: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """Milliseconds of ``repeats`` calls of each program after ``warmup`` untimed ones, the programs taking turns."""
    times = {p.name: [] for p in programs}
    for i in range(warmup + repeats):
        for p in programs:
            start = time.perf_counter()
            p.call(i)
            elapsed = (time.perf_counter() - start) * 1000
            if i >= warmup:
                times[p.name].append(elapsed)
        if on_round is not None:
            on_round(i + 1)
    return {name: np.asarray(ms) for name, ms in times.items()}


def summary(ms: np.ndarray, prefix: str = "") -> dict[str, float]:
    """median, 25th and 75th percentile, mean and minimum of step times, as profile/<prefix>median_ms etc."""
    p25, median, p75 = np.percentile(ms, [25, 50, 75])
    return {
        f"profile/{prefix}median_ms": float(median), f"profile/{prefix}p25_ms": float(p25), f"profile/{prefix}p75_ms": float(p75),
        f"profile/{prefix}mean_ms": float(np.mean(ms)), f"profile/{prefix}min_ms": float(np.min(ms)),
    }


# ----------------------------------------------------------------------------------- cells


def _settings(train: dict) -> tuple[int, int, int, bool, int, bool]:
    batch_size, repeats = int(train.get("batch_size", 8)), int(train.get("repeats", 20))
    warmup, is_chunked = int(train.get("warmup_repeats", 2)), bool(int(train.get("chunked", 0)))
    chunk, cast = int(train.get("chunk_size", chunked_loss.DEFAULT_CHUNK)), bool(int(train.get("cast_params", 0)))
    if batch_size < 1 or repeats < 1 or warmup < 0 or chunk < 1:
        raise BenchError(
            f"timing cell: train.batch_size={batch_size}, train.repeats={repeats} and train.chunk_size={chunk} must be >= 1 "
            f"and train.warmup_repeats={warmup} >= 0."
        )
    return batch_size, repeats, warmup, is_chunked, chunk, cast


def fit(model, task: TimingTask, objective, *, seed: int, data: dict, train: dict) -> Iterator[Progress]:
    """Time one Table 1 cell (module docstring); yields one report, its metrics (final=True).

    train: batch_size, repeats (>= 1; Table 1 cells use 20), warmup_repeats, chunked (0/1), chunk_size,
    cast_params (0/1: store parameters in the model's compute dtype). Online objectives (iqlearn_online,
    GAIL) also time sampling alone, in turns with the update: profile/sampling_median_ms etc., and
    profile/sampling_ms, its median."""
    if not isinstance(task, TimingTask):
        raise BenchError(f"bench.profile.fit times the timing task only, not {type(task).__name__}.")
    batch_size, repeats, warmup, is_chunked, chunk, cast = _settings(train)
    params = init_params(model, seed, cast)
    batch = random_batch(model, task, batch_size, seed)
    keys = run_keys(seed, warmup + repeats)
    pending = [lower_update("update", model, objective, params, batch, keys, max_new=task.target_len, chunked=is_chunked, chunk=chunk)]
    if objective.online:
        pending.append(lower_sampling("sampling", model, params, batch, keys, max_new=task.target_len))
    programs = compile_all(pending)
    for program in programs:
        if isinstance(program, Exception):
            raise program
    total = warmup + repeats
    times = time_programs(programs, repeats, warmup)
    update = programs[0]
    metrics = cell_metrics(times["update"], update.memory or _device_peak(), update.compile_s, times.get("sampling"),
                           adversarial=isinstance(objective, Adversarial))
    metrics["profile/params"] = float(sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(params)))
    raw = {name: [round(float(x), 3) for x in ms] for name, ms in times.items()}
    yield Progress(total, total, metrics, final=True, artifacts={"profile.json": {"ms": raw, "compile_s": {p.name: p.compile_s for p in programs}}})


def cell_metrics(update_ms: np.ndarray, memory: dict, compile_s: float, sampling_ms: np.ndarray | None = None,
                 adversarial: bool = False) -> dict[str, float]:
    """The metrics of one Table 1 cell: profile/median_ms, p25, p75, mean, min of the update; compile_s; peak_bytes,
    temp_bytes; with sampling timed, the same of sampling (profile/sampling_median_ms, ...) and profile/sampling_ms
    (its median); for GAIL, profile/update_excl_sampling_ms, the difference of the two medians (the paper's GAIL row
    excludes sampling)."""
    metrics = summary(update_ms) | {"profile/compile_s": float(compile_s), "profile/repeats": float(len(update_ms))}
    metrics |= {f"profile/{k}": float(v) for k, v in memory.items()}
    if sampling_ms is not None:
        metrics |= summary(sampling_ms, "sampling_") | {"profile/sampling_ms": float(np.median(sampling_ms))}
        if adversarial:
            metrics["profile/update_excl_sampling_ms"] = metrics["profile/median_ms"] - metrics["profile/sampling_ms"]
    return metrics


# ----------------------------------------------------------------------------------- bench profile


@dataclass
class Row:
    key: str  # algorithm, "sampling", "<algorithm>+chunked", "gail_excl_sampling"
    label: str
    ms: np.ndarray | None = None
    memory: dict = field(default_factory=dict)
    compile_s: float = 0.0
    error: str | None = None
    derived_ms: float | None = None  # a difference of medians (GAIL excluding sampling)

    @property
    def median(self) -> float | None:
        if self.derived_ms is not None:
            return self.derived_ms
        return None if self.ms is None else float(np.median(self.ms))


@dataclass
class Profile:
    preset: str
    batch_size: int
    prompt_len: int
    target_len: int
    repeats: int
    device: str
    rows: list[Row]
    head_memory: dict = field(default_factory=dict)  # "plain" / "chunked" -> memory_of() of the loss head alone

    def row(self, key: str) -> Row | None:
        return next((r for r in self.rows if r.key == key), None)

    def ratio(self, key: str) -> float | None:
        row, base = self.row(key), self.row("mle")
        if row is None or base is None or row.median is None or not base.median:
            return None
        return row.median / base.median


# The paper's Table 1 row each measured row is compared with (ms from bench.estimate.TABLE1_MS).
PAPER_ROW = {"mle": "mle", "iqlearn": "iqlearn", "gail_excl_sampling": "gail", "sampling": "sampling"}


def paper_ratio(preset: str, key: str) -> float | None:
    from bench.estimate import TABLE1_MS

    paper = TABLE1_MS.get(preset)
    if paper is None or key not in PAPER_ROW:
        return None
    return paper[PAPER_ROW[key]] / paper["mle"]


def profile_preset(model, preset: str, objectives: dict, *, batch_size: int, prompt_len: int, target_len: int,
                   repeats: int, warmup: int, seed: int = 0, chunked: bool = False, chunk: int = chunked_loss.DEFAULT_CHUNK,
                   cast: bool = False, log: Callable[[str], None] = print) -> Profile:
    """Time every objective's update (and sampling alone, and with ``chunked`` the chunked MLE / IQLearn
    updates) of one preset in one process, the programs taking turns; a program that fails to compile or
    run is reported as failed and the others go on."""
    task = TimingTask(prompt_len, target_len)
    params = init_params(model, seed, cast)
    batch = random_batch(model, task, batch_size, seed)
    keys = run_keys(seed, warmup + repeats)
    rows: list[Row] = []
    pending: list[tuple[Row, Lowered]] = []

    def failed(row: Row, err: BaseException) -> None:
        row.error = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
        log(f"  {row.label}: FAILED ({row.error})")

    def add(key, label, trace):
        row = Row(key, label)
        rows.append(row)
        try:
            pending.append((row, trace()))
        except Exception as err:  # noqa: BLE001  (any failure of one program is reported in its row)
            failed(row, err)

    online = any(o.online for o in objectives.values())
    for name, objective in objectives.items():
        add(name, ROW_LABELS.get(name, name), lambda o=objective, n=name: lower_update(n, model, o, params, batch, keys, max_new=target_len))
        if chunked and isinstance(objective, Objective) and objective.loss in CHUNKABLE and not objective.online:
            add(f"{name}+chunked", f"{ROW_LABELS.get(name, name)} (chunked loss)", lambda o=objective, n=name: lower_update(
                f"{n}+chunked", model, o, params, batch, keys, max_new=target_len, chunked=True, chunk=chunk))
    if online:
        add("sampling", "sampling a batch (KV cache)", lambda: lower_sampling("sampling", model, params, batch, keys, max_new=target_len))
    log(f"  compiling {len(pending)} programs at once")
    start = time.perf_counter()
    programs: list[Program] = []
    for (row, _), program in zip(pending, compile_all([p for _, p in pending])):
        if isinstance(program, Exception):
            failed(row, program)
            continue
        try:
            program.call(0)  # the first run also allocates: fail here (e.g. out of memory) rather than mid-timing
        except Exception as err:  # noqa: BLE001
            failed(row, err)
            continue
        row.memory, row.compile_s = program.memory, program.compile_s
        programs.append(program)
        log(f"  {row.label}: compiled in {program.compile_s:.1f}s")
    log(f"  compiled and ran once in {time.perf_counter() - start:.1f}s")
    log(f"  timing {len(programs)} programs in turns: {warmup} warm-up + {repeats} timed calls each")
    times = time_programs(programs, repeats, max(warmup - 1, 0))  # each has run once already
    for row in rows:
        if row.key in times:
            row.ms = times[row.key]
    gail, sampling = next((r for r in rows if r.key == "gail"), None), next((r for r in rows if r.key == "sampling"), None)
    if gail is not None and gail.ms is not None and sampling is not None and sampling.ms is not None:
        rows.append(Row("gail_excl_sampling", "GAIL update excl. sampling (difference of medians)",
                        derived_ms=float(np.median(gail.ms) - np.median(sampling.ms))))
    device = ", ".join(sorted({f"{d.platform}:{d.device_kind}" for d in jax.devices()}))
    head = {}
    if chunked and hasattr(model, "forward_hidden"):
        try:
            head = loss_head_memory(model, batch_size, target_len, chunk)
        except Exception as err:  # noqa: BLE001  (a missing memory analysis leaves the note out)
            log(f"  loss-head memory: not measured ({type(err).__name__})")
    return Profile(preset, batch_size, prompt_len, target_len, repeats, device, rows, head)


def _ms_text(row: Row) -> str:
    if row.error:
        return f"failed: {row.error}"
    if row.derived_ms is not None:
        return f"{row.derived_ms:.1f}"
    if row.ms is None:
        return "-"
    p25, p75 = np.percentile(row.ms, [25, 75])
    return f"{np.median(row.ms):.1f} [{p25:.1f}, {p75:.1f}]"


TABLE_ORDER = ("mle", "mle+chunked", "iqlearn", "iqlearn+chunked", "gail", "gail_excl_sampling", "iqlearn_online", "sampling")


def render(profile: Profile) -> str:
    """The profile as a markdown table: ms median [p25, p75], ratio to MLE, the paper's ratio, peak memory."""
    head = (
        f"### {profile.preset}: batch {profile.batch_size}, prompt {profile.prompt_len}, target {profile.target_len} tokens, "
        f"median of {profile.repeats} steps ({profile.device})\n\n"
        "| row | ms: median [p25, p75] | ratio to MLE | paper ratio | peak MiB |\n|---|---|---|---|---|\n"
    )
    order = {k: i for i, k in enumerate(TABLE_ORDER)}
    lines = []
    for row in sorted(profile.rows, key=lambda r: order.get(r.key, len(order))):
        label = row.label
        ratio, paper = profile.ratio(row.key), paper_ratio(profile.preset, row.key)
        peak = row.memory.get("peak_bytes")
        lines.append(
            f"| {label} | {_ms_text(row)} | {'-' if ratio is None else f'{ratio:.3f}'} | "
            f"{'-' if paper is None else f'{paper:.2f}'} | {'-' if peak is None else f'{peak / 2**20:.0f}'} |"
        )
    notes = []
    for key in ("mle", "iqlearn"):
        plain, chunked_row = profile.row(key), profile.row(f"{key}+chunked")
        if plain and chunked_row and plain.memory.get("peak_bytes") and chunked_row.memory.get("peak_bytes"):
            notes.append(
                f"{ROW_LABELS[key]}: chunked / plain peak memory {chunked_row.memory['peak_bytes'] / plain.memory['peak_bytes']:.3f} "
                f"(temporaries {chunked_row.memory.get('temp_bytes', 0) / max(plain.memory.get('temp_bytes', 1), 1):.3f})"
            )
    plain_head, chunked_head = profile.head_memory.get("plain", {}), profile.head_memory.get("chunked", {})
    if plain_head.get("peak_bytes") and chunked_head.get("peak_bytes"):
        notes.append(
            f"loss head alone (hidden states -> IQLearn loss and gradients, [{profile.batch_size}, {profile.target_len}, vocab]): "
            f"peak {plain_head['peak_bytes'] / 2**20:.0f} MiB plain, {chunked_head['peak_bytes'] / 2**20:.0f} MiB chunked "
            f"(ratio {chunked_head['peak_bytes'] / plain_head['peak_bytes']:.3f})"
        )
    sampling = profile.ratio("sampling")
    if sampling is not None:
        notes.append(f"sampling / MLE update: {sampling:.2f}")
    iq = profile.ratio("iqlearn")
    if iq is not None:
        notes.append(f"IQLearn / MLE update: {iq:.3f}")
    return head + "\n".join(lines) + ("\n\n" + "\n".join(f"- {n}" for n in notes) if notes else "") + "\n"


def log_profile(profile: Profile, cells: dict, experiment: str = "profile") -> str:
    """Log each timed row of ``profile`` as the MLflow run of its Table 1 cell (``cells``: row key -> Cell) in
    ``experiment``, tagged figure table1; sampling's times go with the online rows. Returns a one-line summary."""
    try:
        from bench import redact
        from bench.tracking import Store
    except ImportError as err:  # e.g. an accelerator image without mlflow
        return f"bench profile: not logged to MLflow ({err})"
    store = Store.open(experiment)
    sampling = profile.row("sampling")
    logged = 0
    for key, cell in cells.items():
        row = profile.row(key)
        if row is None:
            continue
        run_id = store.start(cell, "table1")
        if row.ms is None:
            store.fail(run_id, RuntimeError(row.error or "not timed"))
            continue
        online = key in ("gail", "iqlearn_online") and sampling is not None and sampling.ms is not None
        metrics = cell_metrics(row.ms, row.memory, row.compile_s, sampling.ms if online else None, adversarial=key == "gail")
        store.log_metrics(run_id, metrics, len(row.ms))
        store.finish(run_id)
        logged += 1
    return f"bench profile: logged {logged} runs (figure table1) to MLflow experiment {experiment!r} at {redact.uri(store.client.tracking_uri)}"
