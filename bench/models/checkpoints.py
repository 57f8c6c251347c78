"""Reading Hugging Face safetensors checkpoints into flat numpy arrays, from a folder or the hub.

Each architecture maps these flat tensors onto its own parameter tree (``from_hf`` in its module).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.registry import BenchError


def resolve(source: str | Path, preset: str) -> Path:
    """A local folder holding ``*.safetensors``, or a hub repo id fetched through huggingface_hub."""
    path = Path(source).expanduser()
    if path.is_dir():
        if not any(path.glob("*.safetensors")):
            raise BenchError(f"preset {preset}: folder {path} holds no *.safetensors file; point it at a Hugging Face checkpoint folder.")
        return path
    text = str(source)
    looks_like_repo = text.count("/") == 1 and not text.startswith((".", "/", "~"))
    if looks_like_repo:
        try:
            from huggingface_hub import snapshot_download
        except ImportError:
            reason = "huggingface_hub is not installed"
        else:
            try:
                return Path(snapshot_download(repo_id=str(source), allow_patterns=["*.safetensors", "*.json", "*.model", "tokenizer*"]))
            except Exception as err:  # offline, unknown repo, no permission: all mean "no weights from the hub"
                reason = f"the hub answered {type(err).__name__}"
    else:
        reason = f"folder {path} does not exist"
    raise BenchError(
        f"preset {preset} has no weights ({reason}): pass a local folder with the Hugging Face *.safetensors "
        "checkpoint, or a hub repo id with huggingface_hub installed and the hub reachable."
    )


def read_safetensors(source: str | Path, preset: str) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint (all shards) as float32/int numpy arrays, keyed by its HF name.

    Read through safetensors' flax backend so that bfloat16 checkpoints load too (numpy has no bfloat16).
    """
    from safetensors import safe_open

    folder = resolve(source, preset)
    index = folder / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists() else sorted(p.name for p in folder.glob("*.safetensors"))
    tensors: dict[str, np.ndarray] = {}
    for name in files:
        with safe_open(folder / name, framework="flax") as f:
            for key in f.keys():
                value = f.get_tensor(key)
                tensors[key] = np.asarray(value, dtype=np.float32) if value.dtype.kind == "f" or str(value.dtype) == "bfloat16" else np.asarray(value)
    return tensors


def pretrained_tokenizer(weights: str | Path | None, preset: str):
    """The ``tokenizer.json`` beside a checkpoint (folder or hub repo id); None for a preset without weights."""
    if weights is None:
        return None
    from bench.models import tokenizers

    return tokenizers.from_folder(resolve(weights, preset))
