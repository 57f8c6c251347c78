# The harness on CPU (JAX's CPU wheels). For GPUs, swap jax[cpu] for jax[cuda12] in the image.
FROM python:3.11-slim
ENV MLFLOW_DISABLE_TELEMETRY=true PYTHONUNBUFFERED=1
WORKDIR /bench
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir -r requirements.lock
COPY bench ./bench
COPY algorithms ./algorithms
COPY tasks ./tasks
COPY reports ./reports
RUN pip install --no-cache-dir --no-deps .
# Results land in /results: mount it to keep mlflow.db, mlruns/ and bench-report/.
WORKDIR /results
ENTRYPOINT ["bench"]
CMD ["run", "--suite", "smoke"]
