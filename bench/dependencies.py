"""Cells that start from another cell's trained parameters (``Cell.init_from``): checks and order.

A downstream cell names its upstream by the upstream's content hash, so the dependency is part of its
identity. The upstream runs once, however many cells start from it, and before all of them; its final
parameters are kept addressed by its finished run (``checkpointing.load_final``), never by the cell
hash alone. Everything here is a pure function of the suite's cells.
"""

from __future__ import annotations

from bench.registry import BenchError
from bench.suites import SuiteCell


class DependencyError(BenchError):
    exit_code = 2


def upstreams(entries: list[SuiteCell]) -> dict[str, str]:
    """downstream cell hash -> upstream cell hash, for every cell with an ``init_from``."""
    return {e.cell.hash: e.cell.init_from for e in entries if e.cell.init_from}


def check(entries: list[SuiteCell], suite: str = "the suite") -> None:
    """Refuse, before any training, an ``init_from`` that names no cell of ``entries`` and any cycle."""
    known = {e.cell.hash: e for e in entries}
    for entry in entries:
        upstream = entry.cell.init_from
        if upstream and upstream not in known:
            raise DependencyError(
                f"cell {entry.cell.label()} of {entry.figure} starts from cell {upstream} (init_from), which is not in "
                f"{suite}; add that cell to the grid (a --filter must keep it too) or drop init_from."
            )
    cycle = find_cycle(upstreams(entries))
    if cycle:
        names = " -> ".join(known[h].cell.label() if h in known else h for h in cycle)
        raise DependencyError(f"cells start from each other in a cycle ({names}); break it by removing one init_from.")


def find_cycle(edges: dict[str, str]) -> list[str]:
    """A cycle of the graph node -> the node it starts from, as [a, b, ..., a]; [] when there is none.
    Each node has at most one upstream, so following the chain from every node finds any cycle."""
    done: set[str] = set()
    for start in edges:
        path, seen = [], set()
        node = start
        while node in edges and node not in done:
            if node in seen:
                return path[path.index(node):] + [node]
            seen.add(node)
            path.append(node)
            node = edges[node]
        done |= seen
    return []


def order(entries: list[SuiteCell]) -> list[SuiteCell]:
    """``entries`` with every upstream cell before the cells that start from it, otherwise in suite order."""
    by_hash = {e.cell.hash: e for e in entries}
    out, placed = [], set()

    def place(entry: SuiteCell) -> None:
        if entry.cell.hash in placed:
            return
        upstream = by_hash.get(entry.cell.init_from)
        if upstream is not None:
            place(upstream)
        placed.add(entry.cell.hash)
        out.append(entry)

    for entry in entries:
        place(entry)
    return out


def needed(entries: list[SuiteCell]) -> frozenset[str]:
    """The hashes of the cells that some cell starts from: their final parameters must be kept."""
    return frozenset(upstreams(entries).values())
