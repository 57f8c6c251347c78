"""What a suite will cost before it runs: device-hours per figure for ``bench run --dry-run``.

Accelerator presets are costed from the paper's Table 1 (milliseconds per update on TPU v3: MLE,
offline IQLearn, GAIL, and online IQLearn = IQLearn + sampling a batch); presets the paper did not
time borrow the numbers of the T5 of nearest size (``PROXY``). Laptop presets (trained on CPU) are
costed from updates timed on this project's 2-core CI machine, with a fixed evaluation overhead per
cell. Both are estimates of training time: they leave out compilation and, for accelerators,
evaluation, and they assume the batch sizes of the paper.
"""

from __future__ import annotations

from collections import defaultdict

from bench.cells import SuiteCell
from reports.references import TABLE1_MS as PAPER_TABLE1_MS

# Table 1 of the paper (TPU v3, reports/references.py holds its numbers once): ms per MLE, IQLearn and GAIL update,
# and per batch sampled ("+ sampling (online IRL)"); an online IQLearn update is an IQLearn update plus sampling.
_ROWS = {"mle": "mle_update", "iqlearn": "iqlearn_update", "gail": "gail_update", "sampling": "sampling"}


def _paper_table1() -> dict[str, dict[str, float]]:
    models = {model for _, model in PAPER_TABLE1_MS}
    table = {m: {kind: PAPER_TABLE1_MS[(row, m)][0] for kind, row in _ROWS.items()} for m in models}
    for row in table.values():
        row["online"] = row["iqlearn"] + row["sampling"]
    return table


TABLE1_MS = _paper_table1()
PROXY = {"t5-small": "t5-base", "smollm2-135m": "t5-base", "smollm2-360m": "t5-base", "smollm2-1.7b": "t5-xl"}
# CPU ms per update on 2 cores at the mini suite's batch and lengths (bench run --suite mini, per-cell
# logs), and seconds of evaluation per cell (sampling, scoring, MLflow).
CPU_MS = {
    "t5-tiny": {"mle": 60, "iqlearn": 70, "gail": 400, "online": 250},
    "dec-tiny": {"mle": 60, "iqlearn": 70, "gail": 400, "online": 250},
    "smollm2-135m": {"mle": 4000, "iqlearn": 4200, "gail": 15000, "online": 9000},
    "tabular": {"mle": 0.3, "iqlearn": 0.3, "gail": 0.3, "online": 0.4},
}
CPU_EVAL_S = {"t5-tiny": 6.0, "dec-tiny": 6.0, "smollm2-135m": 90.0, "tabular": 0.2}
# Pretrained presets whose cells vary in length and evaluation (the mini suite's headline cells) are costed per token
# instead, from the SmolLM2 pilot on 2 idle cores (../shared/NOTES.md: an update of 8 examples of 40 + 76 tokens took
# ~4.5 s, one with 32 + 40 tokens ~3 s; sampling one 76-token answer ~0.27 s in batches of 32 prompts):
#   update  = UPDATE_MS_PER_TOKEN * batch * (max_prompt + max_target)   (an online update adds its sampling)
#   decode  = DECODE_MS_PER_TOKEN * max_target per sequence; a cell decodes eval_subset prompts once at T=1 and once
#             per eval temperature (twice each where the task scores a calculator decoding), plus k samples each
#   + CELL_OVERHEAD_S (loading the weights, compiling, scoring, MLflow).
UPDATE_MS_PER_TOKEN = {"smollm2-135m": 4.85}
DECODE_MS_PER_TOKEN = {"smollm2-135m": 3.6}
CELL_OVERHEAD_S = {"smollm2-135m": 60.0}
CALCULATOR_TASKS = ("gsm8k", "arith")


def per_token_seconds(cell) -> float:
    """Estimated CPU seconds of a text cell of a preset in UPDATE_MS_PER_TOKEN (see the formula above)."""
    train, data = cell.options("train"), cell.options("data")
    steps, warm = int(train.get("steps", 0)), int(train.get("mle_warmup_steps", 0))
    batch, prompt, target = int(train.get("batch_size", 8)), int(train.get("max_prompt", 64)), int(train.get("max_target", 32))
    decode_s = DECODE_MS_PER_TOKEN[cell.model] * target / 1000
    update_s = UPDATE_MS_PER_TOKEN[cell.model] * batch * (prompt + target) / 1000
    if update_kind(cell.algorithm) in ("online", "gail"):
        update_s = update_s * (4 if cell.algorithm.startswith("gail") else 1) + batch * decode_s
    temperatures = [t for t in str(train.get("eval_temperatures", "")).split(",") if t.strip()]
    per_scoring = 2 if cell.task in CALCULATOR_TASKS else 1
    prompts = int(data.get("eval_subset", 100))
    sequences = prompts * (per_scoring * (1 + len(temperatures)) + int(train.get("samples_per_prompt", 4)))
    return (steps + warm) * update_s + sequences * decode_s + CELL_OVERHEAD_S[cell.model]


def update_kind(algorithm: str) -> str:
    """Which Table 1 row an algorithm's updates cost: mle (also ent-reg), iqlearn, gail, online."""
    if algorithm.startswith("gail"):
        return "gail"
    if algorithm == "iqlearn_online":
        return "online"
    return "iqlearn" if algorithm == "iqlearn" else "mle"


# Table 1's timing cells (task "timing", bench/profile.py) cost (warm-up + timed) calls of their update, plus as many of
# sampling alone for the online rows (GAIL, online IQLearn), plus compilation. Presets only timed on CPU (t5-small) are
# costed from `bench profile --preset t5-small` on the 2-core machine (batch 8, 64 / 32 tokens).
TIMING_CPU_MS = {"t5-small": {"mle": 1760, "iqlearn": 1800, "gail": 9450, "online": 4880, "sampling": 1550}}
TIMING_COMPILE_S = {"cpu": 30.0, "accelerator": 60.0}


def timing_seconds(cell) -> tuple[float, str]:
    """(estimated seconds, device) of a Table 1 timing cell."""
    train = cell.options("train")
    calls = int(train.get("repeats", 20)) + int(train.get("warmup_repeats", 2))
    kind = update_kind(cell.algorithm)
    cpu = CPU_MS.get(cell.model) or TIMING_CPU_MS.get(cell.model)
    ms, device = (cpu, "cpu") if cpu else (TABLE1_MS.get(PROXY.get(cell.model, cell.model)), "accelerator")
    if ms is None:
        return 0.0, device
    # sampling alone: timed where known, else the online update less the offline one
    sampling = ms.get("sampling", ms["online"] - ms["iqlearn"]) if kind in ("gail", "online") else 0.0
    return calls * (ms[kind] + sampling) / 1000 + TIMING_COMPILE_S[device], device


def cell_seconds(entry: SuiteCell) -> tuple[float, str]:
    """(estimated seconds, "cpu" or "accelerator") of one cell; 0 for presets nobody has timed."""
    cell = entry.cell
    if cell.task == "timing":
        return timing_seconds(cell)
    train = cell.options("train")
    steps, warm = int(train.get("steps", 0)), int(train.get("mle_warmup_steps", 0))
    kind = update_kind(cell.algorithm)
    if cell.model in UPDATE_MS_PER_TOKEN:
        return per_token_seconds(cell), "cpu"
    if cell.model in CPU_MS:
        ms = CPU_MS[cell.model]
        return (warm * ms["mle"] + steps * ms[kind]) / 1000 + CPU_EVAL_S[cell.model], "cpu"
    timed = TABLE1_MS.get(PROXY.get(cell.model, cell.model))
    if timed is None:
        return 0.0, "accelerator"
    return (warm * timed["mle"] + steps * timed[kind]) / 1000, "accelerator"


def by_figure(entries: list[SuiteCell]) -> dict[str, dict]:
    """figure -> {"cells": n, "cpu_hours": h, "accelerator_hours": h}, in the suite's order."""
    out: dict[str, dict] = defaultdict(lambda: {"cells": 0, "cpu_hours": 0.0, "accelerator_hours": 0.0})
    for entry in entries:
        seconds, device = cell_seconds(entry)
        row = out[entry.figure]
        row["cells"] += 1
        row[f"{device}_hours"] += seconds / 3600
    return dict(out)
