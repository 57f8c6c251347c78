"""A persistent XLA compilation cache shared by every bench process on a machine.

Compiling a text cell's programs (the update, the decoders for each sampling mode, the reward pass) is most
of a small cell's time on a CPU: a 6-update t5-tiny arith cell (`tests/multihost_child.py`) took 48 s with
an empty cache and 26 s with a warm one, on 2 cores beside one other bench run. JAX keeps compiled programs in memory only, so each `bench run`, each Ray worker, a
cell resumed after a crash and the next seed of the same cell in another process compile them again; with
this cache they load them from disk instead. An executable loaded from the cache is the one the compiler
wrote, so results do not change.

Where: ``$BENCH_COMPILATION_CACHE``, else ``$XDG_CACHE_HOME/bench/xla`` (``~/.cache/bench/xla``);
``BENCH_COMPILATION_CACHE=off`` turns it off. A directory given to JAX itself (``JAX_COMPILATION_CACHE_DIR``)
wins. The cache grows without bound (JAX's default); delete the folder to reclaim the space.
"""

from __future__ import annotations

import os
from pathlib import Path

OFF = ("", "0", "off", "none", "false")


def cache_dir(environ=os.environ) -> Path | None:
    """The folder bench asks JAX to cache compiled programs in, or None when turned off."""
    chosen = environ.get("BENCH_COMPILATION_CACHE")
    if chosen is not None:
        return None if chosen.strip().lower() in OFF else Path(chosen).expanduser()
    return Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bench" / "xla"


def enable() -> Path | None:
    """Point JAX at the cache (before the first compilation of the process); returns the folder in use."""
    import jax

    if jax.config.jax_compilation_cache_dir:  # set by the user through JAX itself
        return Path(jax.config.jax_compilation_cache_dir)
    folder = cache_dir()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(folder))
    return folder
