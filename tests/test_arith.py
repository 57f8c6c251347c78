"""The synthetic ``arith`` task: format, arithmetic, splits, determinism, parameters, registry."""

import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.registry import TASKS, BenchError
from tasks import calculator, metrics
from tasks.arith import OPERATIONS, ArithTask, generate_splits
from tasks.scoring import score
from tasks.text import DataError, Decoding, Example

ROOT = Path(__file__).resolve().parents[1]
ANNOTATION = re.compile(r"(?P<expr>[0-9+\-*/]+)=<<(?P=expr)=(?P<result>[0-9]+)>>(?P=result)")
SMALL = dict(train_size=40, test_size=20)


def annotations(answer: str) -> list[tuple[str, int]]:
    """(expression, result) of each answer line but the last, which must be '#### N'."""
    *lines, final = answer.split("\n")
    assert re.fullmatch(r"#### [0-9]+", final), final
    out = []
    for line in lines:
        found = ANNOTATION.findall(line)
        assert len(found) == 1, line  # one annotation a line, written 'expr=<<expr=r>>r'
        out.append((found[0][0], int(found[0][1])))
    return out


def check_example(example: Example, steps: int, max_value: int, operations: str) -> None:
    steps_found = annotations(example.target)
    assert len(steps_found) == steps
    previous = None
    for expr, result in steps_found:
        assert calculator.evaluate(expr) == str(result) and result >= 0
        left, op, right = re.fullmatch(r"([0-9]+)([+\-*/])([0-9]+)", expr).groups()
        assert op in operations and 1 <= int(right) <= max_value
        # The chain: each step starts from the previous result (the first from a question number).
        assert previous is None or int(left) == previous
        assert previous is not None or 1 <= int(left) <= max_value
        for number in (left, right) if previous is None else (right,):
            assert re.search(rf"(?<![0-9]){number}(?![0-9])", example.input), (number, example.input)
        previous = result
    assert example.target.endswith(f"#### {previous}")
    assert example.references == (example.target,)


def test_examples_follow_the_gsm8k_format_and_their_arithmetic_is_right():
    task = ArithTask(steps=3)
    test = task.load("test")
    assert len(test) == 200 and len(task.load("train")) == 2000
    for example in test:
        check_example(example, 3, 20, "+-*")
        assert int(metrics.gsm8k_answer(example.target)) == annotations(example.target)[-1][1]
    assert [e.id for e in test[:2]] == ["arith-test-0", "arith-test-1"]


@pytest.mark.parametrize("steps", [1, 2, 5, 8])
def test_steps_is_the_number_of_annotations(steps):
    for example in ArithTask(steps=steps, **SMALL).load("train"):
        assert example.target.count("<<") == example.target.count(">>") == steps
        assert len(example.target.split("\n")) == steps + 1


def test_every_parameter_corner_generates_valid_problems():
    """All operation sets, tiny and large max_value: no dead ends, every step exact and in range."""
    subsets = ["".join(c) for r in range(1, 5) for c in itertools.combinations(OPERATIONS, r)]
    for operations, steps, max_value in itertools.product(subsets, (1, 8), (8, 1000)):
        for example in ArithTask(steps=steps, max_value=max_value, operations=operations, train_size=5, test_size=5).load("test"):
            check_example(example, steps, max_value, operations)


def test_division_is_exact_and_used():
    examples = ArithTask(steps=4, operations="/*", **SMALL).load("train")
    divisions = [expr for e in examples for expr, _ in annotations(e.target) if "/" in expr]
    assert divisions and all(calculator.evaluate(expr).isdigit() for expr in divisions)


def test_train_and_test_are_disjoint_and_test_ignores_train_size():
    small, large = ArithTask(train_size=100, test_size=50), ArithTask(train_size=300, test_size=50)
    test, train = {e.input for e in small.load("test")}, {e.input for e in large.load("train")}
    assert len(test) == 50 and len(train) == 300 and not test & train
    assert small.load("test") == large.load("test")
    assert large.load("train")[:100] == small.load("train")


def test_seed_and_parameters_change_the_data():
    base = ArithTask(**SMALL).load("test")
    assert ArithTask(seed=1, **SMALL).load("test") != base
    assert ArithTask(max_value=30, **SMALL).load("test") != base
    # Operations are a set: their order does not matter.
    assert ArithTask(operations="*-+", **SMALL).load("test") == base


def test_subset_matches_text_load_semantics():
    task = ArithTask(**SMALL)
    full = task.load("train")
    chosen = task.load("train", subset=10, seed=3)
    assert len(chosen) == 10 and chosen == task.load("train", subset=10, seed=3)
    assert [full.index(e) for e in chosen] == sorted(full.index(e) for e in chosen)  # original order kept
    assert chosen != task.load("train", subset=10, seed=4)
    with pytest.raises(DataError, match="subset=41"):
        task.load("train", subset=41)
    with pytest.raises(DataError, match="no split 'validation'; use one of train, test"):
        task.load("validation")


_DUMP = (
    "import hashlib, json; from tasks.arith import ArithTask; t = ArithTask(steps=3, train_size=50, test_size=20, seed=7); "
    "print(hashlib.sha256(json.dumps([[e.id, e.input, e.target] for s in t.split_names for e in t.load(s)]).encode()).hexdigest())"
)


def test_generation_is_identical_across_processes():
    digests = []
    for hash_seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-c", _DUMP], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        digests.append(done.stdout.strip())
    assert digests[0] == digests[1] and len(digests[0]) == 64
    here = ArithTask(steps=3, train_size=50, test_size=20, seed=7)
    local = json.dumps([[e.id, e.input, e.target] for s in here.split_names for e in here.load(s)])
    assert hashlib.sha256(local.encode()).hexdigest() == digests[0]


def test_references_score_100_with_the_gsm8k_metrics():
    task = ArithTask(steps=4, **SMALL)
    examples = task.load(task.eval_split)
    refs = [e.target for e in examples]
    scores = score(task, refs, [e.references for e in examples])
    assert list(scores.values)[:2] == ["accuracy", "accuracy_calculator"]
    assert scores.values["accuracy"] == scores.values["accuracy_calculator"] == 100.0
    # A wrong final number is caught by both metrics.
    wrong = [re.sub(r"#### ([0-9]+)$", lambda m: f"#### {int(m.group(1)) + 1}", r) for r in refs]
    assert score(task, wrong, refs).values["accuracy"] == 0.0


def test_task_looks_like_a_text_task():
    task = ArithTask()
    assert (task.name, task.eval_split, task.split_names) == ("arith", "test", ("train", "test"))
    assert task.metrics == ("accuracy", "accuracy_calculator") and task.decoding == Decoding()
    assert "synthetic" in task.caveat and "not from the paper" in task.caveat
    line = task.describe()
    assert "\n" not in line and line.endswith("metrics: accuracy, accuracy_calculator") and "2 steps" in line
    with pytest.raises(AttributeError):
        task.steps = 3  # frozen


@pytest.mark.parametrize(
    "options, needle",
    [
        ({"steps": 0}, "arith steps must be an integer from 1 to 8, got 0."),
        ({"steps": 9}, "arith steps must be an integer from 1 to 8"),
        ({"steps": True}, "arith steps must be an integer"),
        ({"max_value": 0}, "arith max_value must be an integer from 1 to 1000"),
        ({"operations": "+%"}, "arith operations must be a non-empty string of distinct characters from '+-*/'"),
        ({"operations": ""}, "arith operations must be"),
        ({"operations": "++"}, "arith operations must be"),
        ({"operations": "-", "steps": 8, "max_value": 5}, "arith max_value must be at least steps (8) when operations is '-'"),
        ({"train_size": 0}, "arith train_size must be an integer from 1 to 100000"),
        ({"test_size": 2.5}, "arith test_size must be an integer"),
        ({"seed": -1}, "arith seed must be an integer of at least 0"),
    ],
)
def test_bad_parameters_name_the_parameter_and_range(options, needle):
    with pytest.raises(ValueError) as info:
        ArithTask(**options)
    assert needle in str(info.value) and str(info.value).count(". ") == 0
    with pytest.raises(BenchError, match=re.escape(needle)):
        TASKS.build("arith", **options)


def test_too_few_distinct_problems_is_a_clear_error():
    # 12 names x 10 things x 3 templates x one number pair (1+1): 360 distinct questions at most.
    with pytest.raises(DataError, match=r"train_size \+ test_size = 400 is more than the 360 distinct problems"):
        ArithTask(steps=1, max_value=1, operations="+", train_size=300, test_size=100).load("test")


def test_registry_builds_it():
    import bench  # noqa: F401  (fills the registries)

    task = TASKS.build("arith", steps=3)
    assert isinstance(task, ArithTask) and task.steps == 3 and task.max_value == 20
    assert "no data files" in TASKS.get("arith").description
    with pytest.raises(BenchError, match="has no option 'step'"):
        TASKS.build("arith", step=3)


def test_generation_is_cached_and_immutable():
    task = ArithTask(**SMALL)
    loaded = task.load("train")
    loaded.clear()  # the caller's list is a copy
    assert len(task.load("train")) == 40
    assert generate_splits(2, 20, "+-*", 40, 20, 0) is generate_splits(2, 20, "+-*", 40, 20, 0)
