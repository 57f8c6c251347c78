"""The one timing helper of the benchmarks: compare ratios of these within one run, never absolute times."""

from __future__ import annotations

import time

import jax


def best_time(fn, rounds: int) -> tuple[float, object]:
    """(fastest wall time of ``rounds`` calls, the last result); results are blocked on, so device work counts."""
    best, result = float("inf"), None
    for _ in range(rounds):
        start = time.perf_counter()
        result = jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return best, result
