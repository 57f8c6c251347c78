"""The persistent XLA compilation cache: where it lives, how it is turned off, and that a second process loads
what the first compiled instead of compiling it again."""

import os
import subprocess
import sys
from pathlib import Path

from bench.compilation import cache_dir

# A program slow enough to compile (a chain of matmuls and sines, > 0 s) that JAX writes it to the cache, and a
# line saying whether it came from there.
PROGRAM = """
import jax, jax.numpy as jnp
from bench import compilation
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_log_compiles", True)
print("cache:", compilation.enable())
f = jax.jit(lambda x: jnp.sin(x @ x.T).sum() * 3.0 + 1.0)
print("value:", float(f(jnp.arange(64.0).reshape(8, 8) / 64)))
"""


def python(code: str, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("BENCH_COMPILATION_CACHE", "JAX_COMPILATION_CACHE_DIR")}
    return subprocess.run([sys.executable, "-c", code], env=environ | env, capture_output=True, text=True, timeout=120, check=True)


def test_cache_dir_follows_the_environment(tmp_path):
    assert cache_dir({"BENCH_COMPILATION_CACHE": str(tmp_path)}) == tmp_path
    assert cache_dir({"XDG_CACHE_HOME": "/x/cache"}) == Path("/x/cache/bench/xla")
    assert cache_dir({}) == Path.home() / ".cache" / "bench" / "xla"
    for off in ("off", "OFF", "0", "none", ""):
        assert cache_dir({"BENCH_COMPILATION_CACHE": off}) is None


def test_a_second_process_loads_the_program_the_first_compiled(tmp_path):
    folder = tmp_path / "xla"
    first = python(PROGRAM, BENCH_COMPILATION_CACHE=str(folder))
    assert f"cache: {folder}" in first.stdout and any(folder.iterdir())
    assert "Persistent compilation cache hit" not in first.stderr
    second = python(PROGRAM, BENCH_COMPILATION_CACHE=str(folder))
    assert "Persistent compilation cache hit" in second.stderr
    value = [line for line in first.stdout.splitlines() if line.startswith("value:")]
    assert value and value[0] in second.stdout  # the cached program computes the same value


def test_off_leaves_jax_alone_and_jaxs_own_setting_wins(tmp_path):
    off = python(PROGRAM, BENCH_COMPILATION_CACHE="off", HOME=str(tmp_path))
    assert "cache: None" in off.stdout and not (tmp_path / ".cache").exists()
    own = python(PROGRAM, BENCH_COMPILATION_CACHE=str(tmp_path / "ours"), JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax"))
    assert f"cache: {tmp_path / 'jax'}" in own.stdout and not (tmp_path / "ours").exists()
