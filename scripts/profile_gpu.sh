#!/usr/bin/env bash
# Table 1 on one accelerator (an H100 or H200): `bench profile` for t5-base, t5-large and t5-xl at the paper's
# batch sizes (32, 32, 16), prompts of 512 and targets of 128 tokens, bfloat16, random initialisation (no weights,
# no data), the median of 20 steps per row, the MLE and IQLearn updates also with the vocabulary-chunked loss.
# Each preset runs in its own process under its own time limit, so one that runs out of time or memory leaves
# the others' tables; every table is appended to $OUT/table1.md (./table1.md where OUT is unset), and the log of
# each preset to $OUT/profile-<preset>.log.
#
#   bash scripts/profile_gpu.sh                      # all three presets
#   PRESETS="t5-base" LIMIT=600 bash scripts/profile_gpu.sh
#
# Time: compilation dominates. On an H200 (jax 0.11.2), one t5-base update took 35-41 s to compile and the online
# IQLearn update (with its decoding loop) over 140 s; a t5-large update over 3 minutes: the T5 stacks are unrolled
# Python loops, so compile time grows with depth. Programs compile in parallel (one thread per two cores), and
# compiled programs are kept in JAX's persistent cache (JAX_COMPILATION_CACHE_DIR, default
# ~/.cache/bench-jax), so a rerun on the same machine skips compilation. Allow 10 to 15 minutes per preset.
#
# Environment: PYTHON (default python3, which needs jax with its accelerator plugin, flax and optax; mlflow is
# optional), PRESETS, LIMIT (seconds per preset, default 900), REPEATS (default 20), CHUNKED (1, the default: also
# time the chunked loss; 0: do not), EXTRA (more `bench profile` arguments, e.g. "--algorithms mle,iqlearn").
# Runs are logged to MLflow only with BENCH_PROFILE_MLFLOW=1.
set -uo pipefail
cd "$(dirname "$0")/.."

out_dir="${OUT:-.}"
table="$out_dir/table1.md"
python="${PYTHON:-python3}"
presets="${PRESETS:-t5-base t5-large t5-xl}"
limit="${LIMIT:-900}"
repeats="${REPEATS:-20}"
chunked_flag="--chunked"
[ "${CHUNKED:-1}" = "0" ] && chunked_flag=""
mlflow_flag="--no-mlflow"
[ "${BENCH_PROFILE_MLFLOW:-0}" = "1" ] && mlflow_flag=""

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MLFLOW_DISABLE_TELEMETRY=true
export XLA_PYTHON_CLIENT_MEM_FRACTION="${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.95}"  # room for GAIL's four T5 copies
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-$HOME/.cache/bench-jax}"
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="${JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS:-5}"

mkdir -p "$out_dir"
{
  echo "## Table 1 measured with bench profile ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  "$python" -c "import jax; print('devices:', jax.devices()); print('jax', jax.__version__)" 2>&1 | sed 's/^/    /'
  echo
} >>"$table"

status=0
for preset in $presets; do
  echo "== $preset (limit ${limit}s)" >&2
  start=$(date +%s)
  # shellcheck disable=SC2086  # EXTRA and the flags are word lists
  timeout --kill-after=10 "$limit" "$python" -m bench.cli profile --preset "$preset" --repeats "$repeats" $chunked_flag \
      --dtype bfloat16 --out "$table" $mlflow_flag ${EXTRA:-} 2>&1 | tee "$out_dir/profile-$preset.log"
  rc=${PIPESTATUS[0]}
  echo "== $preset: exit $rc after $(( $(date +%s) - start ))s" >&2
  if [ "$rc" -ne 0 ]; then
    status=1  # exit 1 with a table: some row failed (e.g. out of memory) and says so in the table
    if ! grep -q "^### $preset:" "$out_dir/profile-$preset.log"; then
      reason="exit status $rc"
      if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then reason="ran past its ${limit}s limit"; fi
      printf '### %s: no table (%s); see profile-%s.log\n\n' "$preset" "$reason" "$preset" >>"$table"
    fi
  fi
done
echo "tables: $table" >&2
exit $status
