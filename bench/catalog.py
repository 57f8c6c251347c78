"""Tasks registered by name. Each factory takes the task options a cell states.

The text tasks (gsm8k, xsum, tldr, wmt22) take no options: their factories return the
:class:`tasks.text.TextTask` that describes them.
"""

from __future__ import annotations

from bench.registry import TASKS, BenchError
from tasks.arith import ArithTask
from tasks.text import TEXT_TASKS, TextTask
from tasks.toy_mdp import ChainMDP

TOY_VARIANTS = ("recovery", "no_recovery")


@TASKS.register("toy_mdp", "chain MDP of Appendix A.3.3 / Fig. 11, mistakes recoverable or not (variant); metrics: success_rate")
def toy_mdp(variant: str, n: int = 10, horizon: int = 14, slip: float = 0.1, top: str = "stay") -> ChainMDP:
    if variant not in TOY_VARIANTS:
        raise BenchError(f"toy_mdp variant {variant!r} is unknown; use one of {', '.join(TOY_VARIANTS)}.")
    try:
        return ChainMDP(n=n, horizon=horizon, slip=slip, recovery=variant == "recovery", top=top)
    except ValueError as err:
        raise BenchError(str(err)) from None


def _register_text_task(task: TextTask) -> None:
    """Register ``task`` under its name; its one-line description names the task and its metrics."""
    TASKS.register(task.name, task.describe())(lambda: task)


for _task in TEXT_TASKS.values():
    _register_text_task(_task)


# ---------------------------------------------------------------------------------------------
# arith: synthetic GSM8k-style problems generated from a seed (tasks/arith.py); needs no data files.


@TASKS.register(
    "arith",
    "synthetic GSM8k-style word problems generated from a seed (options: steps, max_value, operations, "
    "train_size, test_size, seed), no data files; metrics: accuracy, accuracy_calculator",
)
def arith(steps: int = 2, max_value: int = 20, operations: str = "+-*", train_size: int = 2000, test_size: int = 200, seed: int = 0) -> ArithTask:
    try:
        return ArithTask(steps=steps, max_value=max_value, operations=operations, train_size=train_size, test_size=test_size, seed=seed)
    except ValueError as err:
        raise BenchError(str(err)) from None


# ---------------------------------------------------------------------------------------------
# timing: Table 1's update and sampling times (bench/profile.py); random token ids, no data.


@TASKS.register(
    "timing",
    "Table 1: one update per algorithm and sampling one batch timed at the preset's real shapes (options: prompt_len, "
    "target_len); random token ids from the cell's seed, no data; metrics: profile/median_ms, p25, p75, peak memory",
)
def timing(prompt_len: int = 64, target_len: int = 32):
    from bench.profile import TimingTask

    return TimingTask(prompt_len=int(prompt_len), target_len=int(target_len))
