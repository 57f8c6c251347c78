# The harness with JAX for NVIDIA GPUs: `bench` is the entrypoint.
#
#   docker build -t irl-bench .
#   docker run --gpus all -v "$PWD/results:/results" irl-bench run --suite paper
#
# JAX's CUDA 12 wheels bring their own CUDA and cuDNN libraries, so a slim Python base is
# enough; the host needs only the NVIDIA driver and the NVIDIA Container Toolkit.
# `--build-arg JAX_EXTRA=cpu` builds the same image for CPUs.
FROM python:3.11-slim

ARG JAX_EXTRA=cuda12
# git: provenance tags (bench.git_commit) when the source is mounted; tini: signals reach `bench`,
# so `docker stop` marks the running cell KILLED and keeps the finished ones.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git=1:2.* tini=0.19.* \
    && rm -rf /var/lib/apt/lists/*

ENV MLFLOW_DISABLE_TELEMETRY=true \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/bench
COPY requirements.lock pyproject.toml README.md ./
# Exactly the lock's versions; the GPU plugin of the same JAX version on top (jaxlib itself is the same wheel).
RUN pip install -r requirements.lock \
    && pip install -c requirements.lock "jax[${JAX_EXTRA}]==0.10.2" "ray==2.60.0"
COPY bench ./bench
COPY algorithms ./algorithms
COPY tasks ./tasks
COPY reports ./reports
RUN pip install --no-deps .

# Results land in /results (mlflow.db, mlruns/, bench-checkpoints/, bench-report/): mount it to keep them.
# Data: mount a folder laid out as <task>/<split>.jsonl and set BENCH_DATA_DIR to it.
WORKDIR /results
ENTRYPOINT ["tini", "--", "bench"]
CMD ["run", "--suite", "smoke"]
