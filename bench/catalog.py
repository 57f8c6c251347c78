"""Tasks registered by name. Each factory takes the task options a cell states."""

from __future__ import annotations

from bench.registry import TASKS, BenchError
from tasks.toy_mdp import ChainMDP

TOY_VARIANTS = ("recovery", "no_recovery")


@TASKS.register("toy_mdp", "chain MDP of Appendix A.3.3 / Fig. 11: mistakes recoverable or not (variant)")
def toy_mdp(variant: str, n: int = 10, horizon: int = 14, slip: float = 0.1) -> ChainMDP:
    if variant not in TOY_VARIANTS:
        raise BenchError(f"toy_mdp variant {variant!r} is unknown; use one of {', '.join(TOY_VARIANTS)}.")
    try:
        return ChainMDP(n=n, horizon=horizon, slip=slip, recovery=variant == "recovery")
    except ValueError as err:
        raise BenchError(str(err)) from None
