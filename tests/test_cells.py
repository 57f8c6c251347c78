import json
import os
import subprocess
import sys

import pytest

from bench.cells import Cell
from conftest import toy_cell

SCRIPT = (
    "from conftest import toy_cell; "
    "print(toy_cell('iqlearn', seed=3, lam=0.1, gamma=0.9).hash)"
)


def test_hash_is_stable_across_processes():
    here = os.path.dirname(__file__)
    hashes = set()
    for seed in ("0", "1", "12345"):  # different str-hash randomisation in each child
        env = os.environ | {"PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=here, env=env, capture_output=True, text=True, check=True)
        hashes.add(out.stdout.strip())
    assert hashes == {toy_cell("iqlearn", seed=3, lam=0.1, gamma=0.9).hash}


def test_hash_ignores_option_order_and_sees_every_field():
    a = Cell.make("toy_mdp", "iqlearn", model="tabular", seed=0, hparams={"lam": 0.1, "gamma": 0.9})
    b = Cell.make("toy_mdp", "iqlearn", model="tabular", seed=0, hparams={"gamma": 0.9, "lam": 0.1})
    assert a == b and a.hash == b.hash and len(a.hash) == 16
    variants = [
        Cell.make("toy_mdp", "iqlearn", model="tabular", seed=1, hparams={"lam": 0.1, "gamma": 0.9}),
        Cell.make("toy_mdp", "iqlearn", model="tabular", seed=0, hparams={"lam": 0.2, "gamma": 0.9}),
        Cell.make("toy_mdp", "mle", model="tabular", seed=0, hparams={"lam": 0.1, "gamma": 0.9}),
        Cell.make("toy_mdp", "iqlearn", model="tabular", seed=0, hparams={"lam": 0.1, "gamma": 0.9}, train={"steps": 5}),
    ]
    assert len({a.hash} | {v.hash for v in variants}) == 5


def test_config_is_json_and_flat_names_are_prefixed():
    cell = toy_cell("iqlearn", lam=0.1, gamma=0.9)
    assert json.loads(json.dumps(cell.config()))["hparams"] == {"gamma": 0.9, "lam": 0.1}
    flat = cell.flat()
    assert flat["hp.lam"] == 0.1 and flat["task.variant"] == "recovery" and flat["train.steps"] == 40
    assert flat["seed"] == 0 and flat["algorithm"] == "iqlearn"


def test_non_scalar_options_are_refused():
    with pytest.raises(TypeError, match="hparams.lam"):
        Cell.make("toy_mdp", "iqlearn", model="tabular", seed=0, hparams={"lam": [0.1]})
    with pytest.raises(TypeError, match="unknown cell option groups"):
        Cell.make("toy_mdp", "iqlearn", model="tabular", seed=0, hyper={"lam": 0.1})
