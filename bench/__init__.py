"""Benchmark and reproduction harness for "Imitating Language via Scalable Inverse RL".

Importing the package fills the registries: tasks, algorithms, model presets and suites.
"""

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# MLflow prints "View run ... at: <tracking URI>" on stdout as each run ends, password and all; bench says where runs go.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

from bench import catalog, objectives, suites, tabular  # noqa: E402,F401  (registration)
from bench.models import llama, t5  # noqa: E402,F401  (model presets)
from bench.cells import Cell  # noqa: E402
from bench.registry import ALGORITHMS, MODELS, SUITES, TASKS, BenchError  # noqa: E402

__all__ = ["ALGORITHMS", "MODELS", "SUITES", "TASKS", "BenchError", "Cell"]
