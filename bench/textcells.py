"""Training a sequence model (T5 or decoder-only) on a text task: the trainer behind the text cells.

The runner calls :func:`fit` for any model preset without a ``fit`` of its own. One cell:

1. data: ``data.train_subset`` / ``data.eval_subset`` examples of the task's train and eval splits,
   chosen by the cell's seed (``tasks.text.load(subset=, seed=)``), from ``$BENCH_DATA_DIR``; the
   synthetic ``arith`` task generates its splits instead (``ArithTask.load``) and needs no data;
2. tokenizer: tiny presets (random initialisation) train a byte-level BPE on the train inputs and
   targets with the preset's vocabulary size (``tokenizers.train_bpe``, cached on disk); presets
   with pretrained weights use their own (``DecoderLM.tokenizer()``);
3. prompts and targets cut to ``train.max_prompt`` / ``train.max_target`` tokens (targets end in
   EOS), right-padded with the pad id; a decoder-only model gets its BOS in front of the prompt;
4. Adam with a linear warm-up to ``train.learning_rate`` over ``train.warmup_steps`` then constant,
   ``train.steps`` updates of ``train.batch_size`` examples (after ``train.mle_warmup_steps`` pure
   MLE updates, default 0). The loss reads the teacher-forced logits through the soft-Q lens,
   ``expert = from_sequence(forward(prompt, targets))``; online objectives also sample one
   continuation per prompt from the current (stop-gradient) policy at temperature 1 and score it
   with gradients, ``policy = from_sequence(forward(prompt, samples))``. GAIL and GAIL+MLE
   (``objectives.Adversarial``) run ``bench.gail_trainer.update`` instead: policy, value network and
   discriminator, all three copied from the policy as the MLE phase left it. One jitted step per
   phase; every step's terms (loss, nll, ...) are logged as ``train/<term>`` window means, and a
   non-finite term stops the cell with an error naming the step and every term;
5. every ``train.eval_every`` steps: one sample per eval prompt at temperature 1, scored with
   ``tasks.scoring.score`` -> ``eval_curve/<metric>`` and ``eval_curve/mean_length``; the logged terms
   (``train/loss``, ``train/nll``, ``train/entropy``, ``train/v_mean``, IQLearn's ``train/td``) as means
   over the window since the last point, every ``train.log_every`` steps (default: with each evaluation).
   Tasks with ``accuracy_calculator`` (gsm8k, arith) decode a second time with the calculator in the
   loop (``decoding.Calculator``) and score that decoding for it;
6. at the end: the same scoring once more -> ``eval/<metric>``, and ``eval/curve_drop/<metric>``, how far
   the metric fell from its best point on the curve (overfitting, Figure 7); then
   ``train.samples_per_prompt`` samples (default 4) per eval prompt at temperature 1 -> ``eval/self_bleu``
   (mean over prompts of the Self-BLEU among that prompt's samples), ``eval/per_token_entropy`` (nats),
   ``eval/mean_length`` (tokens, EOS included); each sample's summed implied reward
   ``sum_t q(s_t, a_t) - gamma V(s_{t+1})`` (IQLearn's gamma, else ``REWARD_GAMMA``) and
   ``eval/reward_corr/<metric>``, its Spearman correlation with the sample's own score. Every sample
   lands in the ``generations.jsonl`` artifact;
7. optionally ``train.eval_temperatures`` ("0,0.5,1"; 0 is greedy) -> ``eval_temperature/<T>/<metric>``
   (Figures 4, 10), and ``train.eval_beam_size`` > 0 -> beam search with the GNMT length penalty
   ``train.eval_length_penalty`` -> ``eval_beam/<metric>`` (Figure 4's WMT22 panel, Table 5).
"""

from __future__ import annotations

import json
import math
import os
from functools import lru_cache, partial
from typing import Any, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import optax

from algorithms import from_sequence, iqlearn, mle
from bench.models import decoding, sharding, tokenizers
from bench import gail_trainer
from bench.checkpointing import digest
from bench.objectives import Adversarial, Objective
from bench.registry import BenchError
from bench.tabular import Progress
from tasks import metrics as task_metrics
from tasks import text as text_tasks
from tasks.arith import ArithTask
from tasks.scoring import score

TINY_PRESETS = ("t5-tiny", "dec-tiny")
# The per-sequence metric each task's reward correlation is reported against first (all task metrics are).
PER_SEQUENCE = {"gsm8k": "accuracy", "arith": "accuracy", "xsum": "rouge1", "tldr": "rouge1", "wmt22": "chrf"}

DEFAULT_TRAIN = {
    "batch_size": 8, "learning_rate": 1e-3, "warmup_steps": 0, "mle_warmup_steps": 0,
    "max_prompt": 64, "max_target": 32, "eval_every": 0, "samples_per_prompt": 4,
    "eval_temperatures": "", "eval_beam_size": 0, "eval_length_penalty": 0.6, "log_every": 0,
}


# ----------------------------------------------------------------------------------- data


def _data_dir(data: dict) -> str:
    value = data.get("data_dir") or os.environ.get(text_tasks.ENV_VAR)
    if not value:
        raise BenchError(
            f"text cells read their data from a local folder: set {text_tasks.ENV_VAR} (or the cell's data.data_dir) "
            "to the folder holding <task>/<split>.jsonl, e.g. BENCH_DATA_DIR=../shared/data."
        )
    return value


def _examples(task, data: dict, seed: int):
    """The cell's train and eval examples: a generated task (arith) makes its own, a text task reads its files."""
    train_subset, eval_subset = data.get("train_subset"), data.get("eval_subset")
    sizes = (None if train_subset is None else int(train_subset), None if eval_subset is None else int(eval_subset))
    try:
        if isinstance(task, ArithTask):
            return task.load("train", subset=sizes[0], seed=seed), task.load(task.eval_split, subset=sizes[1], seed=seed)
        root = _data_dir(data)
        train = text_tasks.load(task, "train", root, subset=sizes[0], seed=seed)
        evals = text_tasks.load(task, task.eval_split, root, subset=sizes[1], seed=seed)
    except text_tasks.DataError as err:
        raise BenchError(str(err)) from None
    return train, evals


def _tokenizer(model, preset: str, train) -> Any:
    own = model.tokenizer() if hasattr(model, "tokenizer") else None
    if own is not None:
        return own
    if preset in TINY_PRESETS:
        texts = [e.input for e in train] + [e.target for e in train]
        return tokenizers.train_bpe(texts, model.vocab_size)
    raise BenchError(
        f"model preset {preset} has no tokenizer: give it weights with a tokenizer.json (weights=FOLDER or a hub id), "
        "or use t5-tiny / dec-tiny, which train one on the task text."
    )


@partial(jax.jit, static_argnames="model")
def _init(key, *, model):
    """model.init under one cached compilation per (hashable) model, shared by every cell of a process."""
    return model.init(key)


def _params(model, preset: str, seed: int):
    if preset in TINY_PRESETS:
        return _init(jax.random.PRNGKey(seed), model=model)
    return model.load()


def encode(tokenizer, texts, length: int, *, pad_id: int, prefix: tuple = (), eos_id: int | None = None):
    """Token ids [N, length] and mask: ``prefix`` + text ids (+ EOS), cut to ``length`` (EOS kept), right-padded."""
    room = length - len(prefix) - (eos_id is not None)
    if room < 1:
        raise BenchError(f"a length of {length} tokens leaves no room for text; raise max_prompt / max_target.")
    ids = np.full((len(texts), length), pad_id, np.int32)
    mask = np.zeros((len(texts), length), np.int32)
    for i, enc in enumerate(tokenizer.encode_batch(list(texts), add_special_tokens=False)):
        row = list(prefix) + enc.ids[:room] + ([eos_id] if eos_id is not None else [])
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask


def decode_rows(tokenizer, tokens: np.ndarray, mask: np.ndarray, eos_id: int) -> list[str]:
    out = []
    for row, m in zip(np.asarray(tokens), np.asarray(mask)):
        ids = [int(t) for t, keep in zip(row, m) if keep and t != eos_id]
        out.append(tokenizer.decode(ids))
    return out


# ----------------------------------------------------------------------------------- training


@lru_cache(maxsize=None)
def adam_warmup(learning_rate: float, warmup_steps: int) -> optax.GradientTransformation:
    """Adam with a linear warm-up from 0 to ``learning_rate`` over ``warmup_steps``, then constant.

    Cached, so equal settings give the same object: it is a static argument of the jitted steps,
    and cells with equal settings share their compilations."""
    if warmup_steps > 0:
        schedule = optax.join_schedules(
            [optax.linear_schedule(0.0, learning_rate, warmup_steps), optax.constant_schedule(learning_rate)], [warmup_steps]
        )
    else:
        schedule = optax.constant_schedule(learning_rate)
    return optax.adam(schedule)


def sequence_loss(model, objective: Objective, params, batch, key, max_new: int) -> tuple[jax.Array, dict]:
    """objective(expert[, policy]) over teacher-forced logits; online objectives sample from stop_gradient(params).

    Returns the loss and its terms for the log: :func:`diagnostics` of the expert batch (so every
    algorithm's fit to the data is comparable) and, online, ``sample_length``."""
    prompt, prompt_mask, targets, target_mask = batch
    expert = from_sequence(model.forward(params, prompt, prompt_mask, targets, target_mask), targets, target_mask)
    terms = diagnostics(objective, expert)
    policy = None
    if objective.online:
        sample = decoding.generate(model, jax.lax.stop_gradient(params), prompt, prompt_mask, max_new=max_new, rng=key, temperature=1.0)
        tokens, mask = sample.tokens, sample.mask * (1 - sample.forced.astype(sample.mask.dtype))
        policy = from_sequence(model.forward(params, prompt, prompt_mask, tokens, mask), tokens, mask)
        terms["sample_length"] = jnp.mean(jnp.sum(mask, axis=1).astype(jnp.float32))
    return objective(expert, policy), terms


def diagnostics(objective, expert) -> dict[str, jax.Array]:
    """The logged teacher-forced terms of a step (``algorithms.iqlearn.diagnostics``, under stop_gradient):
    ``nll``, ``entropy`` (nats per token) and ``v_mean`` (mean V(s)) for every algorithm, and for IQLearn
    (an objective with ``lam`` and ``gamma``) its TD term ``td`` = lam * E[r^2], so that
    loss = td + nll offline. They explain an IQLearn cell: how much of its loss the TD term is, and
    whether it buys entropy or shrinks V."""
    kwargs = dict(getattr(objective, "kwargs", ()))
    terms = iqlearn.diagnostics(jax.lax.stop_gradient(expert), gamma=float(kwargs.get("gamma", REWARD_GAMMA)))
    td2 = terms.pop("td2")
    if "lam" in kwargs and "gamma" in kwargs:
        terms["td"] = kwargs["lam"] * td2
    return terms


@partial(jax.jit, static_argnames=("model", "objective", "optimiser", "max_new", "mesh"))
def train_step(state, batch, key, *, model, objective, optimiser, max_new, mesh=None):
    """One Adam update of state = (params, opt_state); returns (state, terms) with terms["loss"].
    Static arguments are hashable, so cells sharing them share the compilation.

    With a ``mesh`` (``bench.models.sharding``) the new state keeps the FSDP layout of
    ``sharding.state_shardings``; the batch arrives split over the mesh, and GSPMD turns the mean loss
    over the global batch into all-gathered weights and reduce-scattered gradients."""
    params, opt_state = state
    (loss, terms), grads = jax.value_and_grad(
        lambda p: sequence_loss(model, objective, p, batch, key, max_new), has_aux=True
    )(params)
    updates, opt_state = optimiser.update(grads, opt_state, params)
    state = sharding.constrain_state((optax.apply_updates(params, updates), opt_state), mesh)
    return state, terms | {"loss": loss}


@partial(jax.jit, static_argnames=("model", "gamma"))
def sequence_rewards(params, prompt, prompt_mask, tokens, mask, *, model, gamma):
    """Summed IQLearn reward sum_t q(s_t, a_t) - gamma V(s_{t+1}) of each sequence [N]."""
    batch = from_sequence(model.forward(params, prompt, prompt_mask, tokens, mask), tokens, mask)
    return jnp.sum(iqlearn.reward(batch, gamma=gamma) * batch.mask, axis=-1)


MLE = Objective(mle.loss)
REWARD_GAMMA = 0.99  # the discount of the implied reward for cells whose algorithm has none (MLE, ent-reg)


def reward_gamma(objective) -> float:
    """The discount of a cell's implied reward r_t = q(s_t, a_t) - gamma V(s_{t+1}): IQLearn's own, else REWARD_GAMMA.
    GAIL's gamma discounts its discriminator rewards, not the logits, so GAIL cells use REWARD_GAMMA too."""
    if isinstance(objective, Objective):
        return float(dict(objective.kwargs).get("gamma", REWARD_GAMMA))
    return REWARD_GAMMA


# ----------------------------------------------------------------------------------- fit


def _chunks(prompts, batch: int, mesh) -> Iterator[tuple[jax.Array, jax.Array]]:
    """Host prompts and masks in chunks of ``batch`` rows, each replicated over ``mesh``: decoding keeps
    whole prompts on every device and lets GSPMD all-gather the sharded parameters as it needs them."""
    for start in range(0, len(prompts[0]), batch):
        yield sharding.replicate((prompts[0][start : start + batch], prompts[1][start : start + batch]), mesh)


def _generate(model, params, prompts, key, max_new: int, num_samples: int, batch: int, mesh, temperature: float = 1.0, calculator=None):
    """Sample in chunks of ``batch`` prompts (temperature 0: greedy); host arrays of tokens, mask, entropies [N * k, L]."""
    parts = []
    for i, (p, m) in enumerate(_chunks(prompts, batch, mesh)):
        g = decoding.generate(
            model, params, p, m, max_new=max_new, rng=jax.random.fold_in(key, i), temperature=temperature or 1.0,
            greedy=temperature == 0, num_samples=num_samples, calculator=calculator,
        )
        parts.append(sharding.to_host((g.tokens, g.mask, g.entropies)))
    return tuple(np.concatenate(x) for x in zip(*parts))


def _beam(model, params, prompts, max_new: int, batch: int, mesh, beam_size: int, length_penalty: float):
    """Beam search in chunks of ``batch`` prompts; host tokens and mask (up to and including EOS) [N, L]."""
    tokens = np.concatenate([
        sharding.to_host(decoding.beam_search(model, params, p, m, max_new=max_new, beam_size=beam_size, alpha=length_penalty).tokens)
        for p, m in _chunks(prompts, batch, mesh)
    ])
    is_eos = tokens == model.eos_id
    return tokens, (np.cumsum(is_eos, axis=1) - is_eos == 0).astype(np.int32)


def temperatures(text: str) -> list[float]:
    """``train.eval_temperatures`` ("0,0.5,1": cells hold scalars only) as floats; 0 is greedy decoding."""
    try:
        values = [float(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        values = [-1.0]
    if any(t < 0 for t in values):
        raise BenchError(f"train.eval_temperatures={text!r} must be comma-separated numbers >= 0, e.g. '0,0.5,1'.")
    return values


def curve_drop(curve: list[float], final: float) -> float:
    """How far a metric fell from its best point on the eval curve to the end: max(curve + [final]) - final >= 0."""
    return max([*curve, final]) - final


def _window_means(window: list[dict[str, float]]) -> dict[str, float]:
    """train/<term>: the mean of each logged term over the steps of ``window`` that have it."""
    names = dict.fromkeys(name for terms in window for name in terms)
    return {f"train/{name}": float(np.mean([t[name] for t in window if name in t])) for name in names}


def _task_scores(task, predictions, examples, predictions_calculator=None) -> dict[str, float]:
    values = score(task, predictions, [e.references for e in examples], predictions_calculator).values
    return {name: values[name] for name in task.metrics}


def fit(model, task, objective: Objective, *, seed: int, data: dict, train: dict, mesh=None, checkpoints=None,
        start=None) -> Iterator[Progress]:
    """Train ``model`` on text ``task`` with ``objective``; yields Progress reports, the last with final=True.

    With ``checkpoints`` (``bench.checkpointing.CellCheckpoints``) it saves the train state, the RNG key, the
    data order and position, the logged terms and the eval curve when due (after that step's report), and
    continues from the newest checkpoint, so a resumed cell ends bit for bit as an uninterrupted one.

    Runs on every device of ``mesh`` (default: ``sharding.mesh_from_spec($BENCH_MESH)``, all devices of all
    processes on the fsdp axis): the train state is sharded FSDP-style, each batch split over the devices,
    and every process reads the same results back (``sharding.to_host``).

    ``start``, where the cell starts from another cell's trained parameters (``Cell.init_from``), maps the
    preset's own starting parameters to those (restored in the same structure: ``checkpointing.load_final``)."""
    if not isinstance(task, (text_tasks.TextTask, ArithTask)):
        raise BenchError(f"the text trainer trains text tasks (gsm8k, xsum, tldr, wmt22, arith), not {type(task).__name__}.")
    opts = DEFAULT_TRAIN | dict(train)
    steps, mle_steps = int(opts["steps"]), int(opts["mle_warmup_steps"])
    if steps < 0 or mle_steps < 0:
        raise BenchError(f"train.steps={steps} and train.mle_warmup_steps={mle_steps} must both be >= 0.")
    batch_size, max_prompt, max_target = int(opts["batch_size"]), int(opts["max_prompt"]), int(opts["max_target"])
    eval_every, k = int(opts["eval_every"]), int(opts["samples_per_prompt"])
    # train/<term> window means every ``period`` updates: log_every, else at each evaluation
    period = int(opts["log_every"]) or eval_every
    if eval_every < 0 or period < 0:
        raise BenchError(f"train.eval_every={eval_every} and train.log_every={opts['log_every']} must be >= 0 (0: at the end only).")
    lr, warmup = float(opts["learning_rate"]), int(opts["warmup_steps"])
    eval_temperatures = temperatures(opts["eval_temperatures"])
    beam_size, length_penalty = int(opts["eval_beam_size"]), float(opts["eval_length_penalty"])
    preset = getattr(model, "preset", type(model).__name__)
    mesh = sharding.mesh_from_spec(os.environ.get(sharding.ENV_MESH)) if mesh is None else mesh
    sharding.check_batch_size(batch_size, mesh)

    train_examples, eval_examples = _examples(task, data, seed)
    tokenizer = _tokenizer(model, preset, train_examples)
    bos = getattr(model, "bos_id", None)
    prefix = (bos,) if bos is not None else ()
    pad, eos = model.pad_id, model.eos_id
    prompts = encode(tokenizer, [e.input for e in train_examples], max_prompt, pad_id=pad, prefix=prefix)
    targets = encode(tokenizer, [e.target for e in train_examples], max_target, pad_id=pad, eos_id=eos)
    eval_prompts = encode(tokenizer, [e.input for e in eval_examples], max_prompt, pad_id=pad, prefix=prefix)

    key = jax.random.PRNGKey(seed)
    key, key_data = jax.random.split(key)
    params = _params(model, preset, seed)
    if start is not None:
        params = start(params)
    total = mle_steps + steps
    order = np.random.default_rng(seed).permutation(len(train_examples))
    position = 0
    history: list[dict[str, float]] = []  # the logged terms of every step

    def next_batch():
        nonlocal order, position
        if position + batch_size > len(order):
            order, position = np.random.default_rng([seed, len(history)]).permutation(len(train_examples)), 0
        idx = order[position : position + batch_size]
        position += batch_size
        return sharding.shard_batch(tuple(a[idx] for a in (*prompts, *targets)), mesh)

    # GSM8k-style tasks score accuracy_calculator on a decoding with the calculator in the loop.
    calculator = decoding.Calculator.from_tokenizer(tokenizer) if "accuracy_calculator" in task.metrics else None
    chunk = batch_size * 4

    def decode_and_score(params, step_key, temperature=1.0):
        """Task scores of one decoding per eval prompt at ``temperature`` (with the calculator where the task has one)."""
        tokens, mask, _ = _generate(model, params, eval_prompts, step_key, max_target, 1, chunk, mesh, temperature)
        with_calculator = None
        if calculator is not None:
            calc_tokens, calc_mask, _ = _generate(model, params, eval_prompts, step_key, max_target, 1, chunk, mesh, temperature, calculator)
            with_calculator = decode_rows(tokenizer, calc_tokens, calc_mask, eos)
        predictions = decode_rows(tokenizer, tokens, mask, eos)
        return _task_scores(task, predictions, eval_examples, with_calculator), float(mask.sum(axis=1).mean())

    curves: dict[str, list[float]] = {m: [] for m in task.metrics}

    def evaluate(params, step_key):
        values, mean_length = decode_and_score(params, step_key)
        for m, v in values.items():
            curves[m].append(v)
        return {f"eval_curve/{m}": v for m, v in values.items()} | {"eval_curve/mean_length": mean_length}

    optimiser = adam_warmup(lr, warmup)
    place = lambda state: jax.device_put(state, sharding.state_shardings(state, mesh))  # noqa: E731  FSDP layout
    state = place((params, optimiser.init(params)))  # the MLE phase's optimiser state carries into an Objective phase
    adversarial = isinstance(objective, Adversarial)
    step = 0
    if checkpoints is not None and (saved := checkpoints.latest()) is not None:
        # GAIL's three networks exist once its phase has begun; until then the state is the MLE phase's.
        template = place(gail_trainer.init(params, optimiser)) if adversarial and saved.step > mle_steps else state
        step, restored, meta = checkpoints.restore({"train": template, "order": order, "key": np.asarray(key_data)})
        state, order, key_data = restored["train"], np.asarray(restored["order"]), jnp.asarray(restored["key"])
        position, history, curves = meta["position"], meta["history"], meta["curves"]
        params = state.policy if isinstance(state, gail_trainer.GailState) else state[0]
    for phase_objective, end in ((MLE, mle_steps), (objective, total)):
        if step >= end:
            continue
        if isinstance(phase_objective, Adversarial):
            if not isinstance(state, gail_trainer.GailState):
                state = place(gail_trainer.init(params, optimiser))
            update = partial(gail_trainer.update, model=model, hp=phase_objective, optimiser=optimiser, max_new=max_target, mesh=mesh)
        else:
            update = partial(train_step, model=model, objective=phase_objective, optimiser=optimiser, max_new=max_target, mesh=mesh)
        while step < end:
            state, terms = update(state, next_batch(), jax.random.fold_in(key_data, step))
            step += 1
            terms = {name: float(value) for name, value in sharding.to_host(terms).items()}
            if not all(math.isfinite(v) for v in terms.values()):
                shown = ", ".join(f"{name}={value:.6g}" for name, value in terms.items())
                raise FloatingPointError(
                    f"training loss is {terms['loss']} at step {step} of {total} ({shown}); "
                    "lower train.learning_rate or check the objective."
                )
            history.append(terms)
            params = state.policy if isinstance(state, gail_trainer.GailState) else state[0]
            log_now, evaluate_now = (step < total and every > 0 and step % every == 0 for every in (period, eval_every))
            if log_now or evaluate_now:
                terms_now = _window_means(history[-period:]) if log_now else {}
                yield Progress(step, total, terms_now | (evaluate(params, jax.random.fold_in(key, step)) if evaluate_now else {}))
            if checkpoints is not None and checkpoints.due(step, total):  # after its metrics are logged, so none is lost
                # the key and the data order are the same on every host: saved as host arrays
                checkpoints.save(step, {"train": state, "order": order, "key": np.asarray(key_data)},
                                 {"position": position, "history": history, "curves": curves})

    # Final evaluation: the task metrics on one decoding per eval prompt (temperature 1, the calculator in the
    # loop for accuracy_calculator), then k samples per prompt for diversity, entropy, length and rewards.
    final_key = jax.random.fold_in(key, total + 1)
    values, _ = decode_and_score(params, final_key)
    results = {f"eval/{m}": v for m, v in values.items()}
    tokens, mask, entropies = _generate(model, params, eval_prompts, final_key, max_target, k, chunk, mesh)
    texts = decode_rows(tokenizer, tokens, mask, eos)
    results |= _window_means(history[(total - 1) // period * period :] if period else history)  # since the last window
    results["eval/self_bleu"] = float(np.mean([task_metrics.self_bleu(texts[i * k : (i + 1) * k]) for i in range(len(eval_examples))]))
    results["eval/per_token_entropy"] = float((entropies * mask).sum() / max(mask.sum(), 1))
    results["eval/mean_length"] = float(mask.sum(axis=1).mean())
    if eval_every:  # the curve's last point is the final evaluation; how far each metric fell from its best
        results |= {f"eval_curve/{m}": results[f"eval/{m}"] for m in (*task.metrics, "mean_length")}
        results |= {f"eval/curve_drop/{m}": curve_drop(curves[m], results[f"eval/{m}"]) for m in task.metrics}
    for t in eval_temperatures:  # Figures 4 and 10: the metric against the sampling temperature
        values, _ = decode_and_score(params, jax.random.fold_in(final_key, 1 + int(1000 * t)), t)
        results |= {f"eval_temperature/{t:g}/{m}": v for m, v in values.items()}
    if beam_size:  # Figure 4's WMT22 panel and Table 5: beam search with the GNMT length penalty
        beam_tokens, beam_mask = _beam(model, params, eval_prompts, max_target, chunk, mesh, beam_size, length_penalty)
        beam_texts = decode_rows(tokenizer, beam_tokens, beam_mask, eos)
        results |= {f"eval_beam/{m}": v for m, v in _task_scores(task, beam_texts, eval_examples).items()}

    # Per-sample scores (each sample against its prompt's references) and the implied IQLearn reward of
    # each sample under the trained logits, for every algorithm (Table 2 compares IQLearn with MLE).
    per_sample = [score(task, [t], [eval_examples[i // k].references]).values for i, t in enumerate(texts)]
    rep = lambda a: np.repeat(a, k, axis=0)  # noqa: E731  rows b*k+j belong to prompt b
    samples = sharding.replicate((rep(eval_prompts[0]), rep(eval_prompts[1]), tokens, mask), mesh)
    rewards = sharding.to_host(sequence_rewards(params, *samples, model=model, gamma=reward_gamma(objective)))
    for m in task.metrics:
        results[f"eval/reward_corr/{m}"] = task_metrics.reward_correlation(rewards, [s[m] for s in per_sample])
    results["eval/reward_mean"] = float(rewards.mean())
    metric = PER_SEQUENCE.get(task.name, task.metrics[0])
    lines = []
    for i, t in enumerate(texts):
        record = {
            "id": eval_examples[i // k].id, "prompt_index": i // k, "sample_index": i % k, "text": t,
            "reference": eval_examples[i // k].references[0], "metric": metric, "value": per_sample[i][metric],
        }
        record["reward"] = float(rewards[i])
        lines.append(json.dumps(record, ensure_ascii=False))
    yield Progress(
        total, total, results, final=True, artifacts={"generations.jsonl": "\n".join(lines) + "\n"},
        tags={"bench.params_sha256": digest(params)},
    )
