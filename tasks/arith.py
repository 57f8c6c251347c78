"""``arith``: synthetic GSM8k-style word problems, generated from a seed (no data files).

A problem follows one person's pile of things through ``steps`` operations. The question states
the starting number and one number per step; the answer works it out one line per step in
GSM8k's exact format, each computation wrapped in a calculator annotation, and ends on ``#### N``::

    question: Mia has 5 apples. She buys 3 more. She gives away 2. How many apples does Mia have now?
    answer:   She buys 3 more, so she has 5+3=<<5+3=8>>8.
              She gives away 2, so she has 8-2=<<8-2=6>>6 left.
              #### 6

Step i computes ``r_i = r_{i-1} <op> n_i`` with ``r_0`` and every ``n_i`` numbers of the question.
Rules that keep it exact and readable:

- every question number lies in [1, max_value]; ``*`` and ``/`` prefer factors >= 2 and use 1
  only when no larger factor fits (so a chain never gets stuck);
- every result is a non-negative integer no larger than ``result_cap(max_value, steps)``; ``/``
  only divides exactly; a result before the last step is >= 1 (>= the number of steps left when
  ``-`` is the only operation), so every later step has a valid operand;
- the wording (name, pronoun, thing, one of three templates per operation) is drawn by the same
  random generator; question and answer templates come in pairs, so the question alone
  determines the answer.

Splits: one stream of problems from ``numpy.random.default_rng(derive_seed(...))`` is deduplicated
by question text in order; the first ``test_size`` distinct problems are ``test``, the next
``train_size`` are ``train``. So the splits never share a question, the test set does not depend
on ``train_size``, and a smaller train set is a prefix of a larger one. The seed is a sha256 of
the generating parameters (never Python's ``hash()``), so every process produces the same data
(for a given numpy version, whose PCG64 streams are what make it reproducible).

Lengths (medians over the 200 test problems at the defaults max_value=20, operations="+-*"; tokens
from a 512-entry byte-level BPE trained on the train split, bench.models.tokenizers.train_bpe)::

    steps   question chars (tokens)   answer chars (tokens)
    1        73  (18)                  52  (23)
    2       100  (26)                  99  (44)
    4       144  (37)                 195  (89)
    8       227  (61)                 396 (184)

About 45 answer characters (22 tokens, most of them the digits of ``a+n=<<a+n=r>>r``) a step, so
steps <= 4 fits 128-token targets and steps=8 needs about 200.

numpy and the standard library only (plus :mod:`tasks.text` for its Example and Decoding types).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field

import numpy as np

from tasks.text import DataError, Decoding, Example, Split, subset_of

__all__ = [
    "OPERATIONS",
    "MAX_STEPS",
    "MAX_VALUE_LIMIT",
    "MAX_SIZE",
    "Step",
    "Problem",
    "ArithTask",
    "check_parameters",
    "derive_seed",
    "result_cap",
    "sample_problem",
    "render_question",
    "render_answer",
    "generate_splits",
]

OPERATIONS = "+-*/"  # canonical order: the seed and the random draws use the operations in this order
MAX_STEPS = 8
MAX_VALUE_LIMIT = 1000  # keeps results (<= max_value**2) far inside the calculator's 1e15 and short in tokens
MAX_SIZE = 100_000
SPLITS = ("train", "test")
VERSION = 1  # part of the seed: bump it when the generator changes, so old and new data never mix silently


# ---------------------------------------------------------------------------------------------
# Wording. A person is (name, subject, object, possessive pronoun); a thing is (singular, plural).

PEOPLE = (
    ("Mia", "she", "her", "her"), ("Tom", "he", "him", "his"), ("Ava", "she", "her", "her"),
    ("Leo", "he", "him", "his"), ("Zoe", "she", "her", "her"), ("Sam", "he", "him", "his"),
    ("Ana", "she", "her", "her"), ("Ben", "he", "him", "his"), ("Eva", "she", "her", "her"),
    ("Max", "he", "him", "his"), ("Lily", "she", "her", "her"), ("Omar", "he", "him", "his"),
)
THINGS = (
    ("apple", "apples"), ("marble", "marbles"), ("sticker", "stickers"), ("cookie", "cookies"),
    ("coin", "coins"), ("pencil", "pencils"), ("card", "cards"), ("shell", "shells"),
    ("egg", "eggs"), ("book", "books"),
)

# (question sentence, answer line) pairs per operation. Placeholders: {P}/{p} subject pronoun
# (capitalised / not), {o} object pronoun, {poss} possessive, {n} the step's number, {calc} the
# annotated computation "a<op>n=<<a<op>n=r>>r".
TEMPLATES: dict[str, tuple[tuple[str, str], ...]] = {
    "+": (
        ("{P} buys {n} more.", "{P} buys {n} more, so {p} has {calc}."),
        ("{P} finds {n} more.", "{P} finds {n} more, so {p} has {calc}."),
        ("A friend gives {o} {n} more.", "With {n} more, {p} has {calc}."),
    ),
    "-": (
        ("{P} gives away {n}.", "{P} gives away {n}, so {p} has {calc} left."),
        ("{P} loses {n}.", "{P} loses {n}, so {p} has {calc} left."),
        ("{P} sells {n}.", "After selling {n}, {p} has {calc}."),
    ),
    "*": (
        ("Then {p} has {n} times as many.", "{n} times as many is {calc}."),
        ("{P} trades each one for {n} new ones.", "Trading each for {n} gives {calc}."),
        ("{Poss} pile grows to {n} times its size.", "The pile grows to {calc}."),
    ),
    "/": (
        ("{P} splits them into {n} equal groups and keeps one.", "One of {n} equal groups has {calc}."),
        ("{P} keeps only one in every {n}.", "Keeping one in every {n} leaves {calc}."),
        ("{P} packs them into {n} equal boxes and keeps one box.", "One box holds {calc}."),
    ),
}


# ---------------------------------------------------------------------------------------------
# Parameters.


def _is_int(value: object) -> bool:
    # bool is an int subclass; steps=True is a bug, not a 1.
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_range(name: str, value: object, lo: int, hi: int | None) -> None:
    if not _is_int(value) or value < lo or (hi is not None and value > hi):
        valid = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"
        raise ValueError(f"arith {name} must be an integer {valid}, got {value!r}.")


def check_parameters(steps: int, max_value: int, operations: str, train_size: int, test_size: int, seed: int) -> None:
    """Raise ValueError, one sentence naming the parameter and its valid range, for any bad parameter."""
    _check_range("steps", steps, 1, MAX_STEPS)
    _check_range("max_value", max_value, 1, MAX_VALUE_LIMIT)
    if (
        not isinstance(operations, str)
        or not operations
        or any(c not in OPERATIONS for c in operations)
        or len(set(operations)) != len(operations)
    ):
        raise ValueError(f"arith operations must be a non-empty string of distinct characters from {OPERATIONS!r}, got {operations!r}.")
    if set(operations) == {"-"} and max_value < steps:
        # Each subtraction takes at least 1 from a start of at most max_value.
        raise ValueError(f"arith max_value must be at least steps ({steps}) when operations is '-', got {max_value}.")
    _check_range("train_size", train_size, 1, MAX_SIZE)
    _check_range("test_size", test_size, 1, MAX_SIZE)
    _check_range("seed", seed, 0, None)


def canonical_operations(operations: str) -> tuple[str, ...]:
    """The operations in the order of OPERATIONS, so "*+-" and "+-*" generate the same data."""
    return tuple(c for c in OPERATIONS if c in operations)


def derive_seed(steps: int, max_value: int, operations: str, seed: int) -> int:
    """A 128-bit generator seed: sha256 of the parameters that shape a problem (not the split sizes)."""
    key = f"arith/v{VERSION}/steps={steps}/max_value={max_value}/operations={''.join(canonical_operations(operations))}/seed={seed}"
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:16], "big")


def result_cap(max_value: int, steps: int) -> int:
    """Largest allowed result: max_value**2, raised to max_value*(steps+1) so additions alone always fit."""
    return max_value * max(max_value, steps + 1)


# ---------------------------------------------------------------------------------------------
# Problems.


@dataclass(frozen=True)
class Step:
    """One operation: ``before <op> operand = result``, worded by template ``template`` of ``op``."""

    op: str
    operand: int
    before: int
    result: int
    template: int


@dataclass(frozen=True)
class Problem:
    """A sampled problem: who, what, the starting number and the steps; rendering is separate."""

    person: tuple[str, str, str, str]
    thing: tuple[str, str]
    start: int
    steps: tuple[Step, ...]

    @property
    def answer_value(self) -> int:
        return self.steps[-1].result


def apply_operation(op: str, a: int, b: int) -> int:
    """``a <op> b`` on integers; callers only divide exactly."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a // b


def operand_choices(op: str, value: int, max_value: int, cap: int, floor: int) -> tuple[np.ndarray, np.ndarray]:
    """(preferred, fallback) operands in [1, max_value] keeping ``floor <= value <op> n <= cap``.

    ``*`` and ``/`` prefer n >= 2 (multiplying or dividing by 1 is no step at all); n = 1 is the
    fallback used only when no operation has a preferred operand.
    """
    if op == "+":
        good = np.arange(1, min(max_value, cap - value) + 1)
        return good, good
    if op == "-":
        good = np.arange(1, min(max_value, value - floor) + 1)
        return good, good
    if value < 1:  # 0 * n and 0 / n say nothing (only a last result can be 0, so this is a guard)
        empty = np.arange(0)
        return empty, empty
    if op == "*":
        candidates = np.arange(1, min(max_value, cap // value) + 1)
    else:
        candidates = np.arange(1, min(max_value, value) + 1)
        candidates = candidates[value % candidates == 0]
    candidates = candidates[(candidates * value if op == "*" else value // candidates) >= floor]
    return candidates[candidates >= 2], candidates[candidates == 1]


def result_floor(ops: tuple[str, ...], steps_left: int) -> int:
    """Smallest result allowed with ``steps_left`` steps still to come (see module docstring)."""
    if ops == ("-",):
        return steps_left  # each remaining subtraction needs at least 1 to take
    return min(steps_left, 1)  # >= 1 mid-chain: some operation always has an operand from 1 up


def _pick(rng: np.random.Generator, values) -> int:
    return int(values[rng.integers(len(values))])


def sample_steps(rng: np.random.Generator, start: int, steps: int, max_value: int, ops: tuple[str, ...]) -> tuple[Step, ...]:
    """``steps`` valid steps from ``start``: an operation uniformly among those with an operand, then the operand."""
    cap = result_cap(max_value, steps)
    value, out = start, []
    for i in range(steps):
        floor = result_floor(ops, steps - i - 1)
        choices = {op: operand_choices(op, value, max_value, cap, floor) for op in ops}
        usable = [op for op in ops if len(choices[op][0])]
        tier = 0
        if not usable:  # only a trivial * 1 or / 1 is left
            usable, tier = [op for op in ops if len(choices[op][1])], 1
        op = usable[int(rng.integers(len(usable)))]
        operand = _pick(rng, choices[op][tier])
        result = apply_operation(op, value, operand)
        out.append(Step(op, operand, value, result, int(rng.integers(len(TEMPLATES[op])))))
        value = result
    return tuple(out)


def sample_problem(rng: np.random.Generator, steps: int, max_value: int, operations: str) -> Problem:
    """Draw one problem (wording and numbers) from ``rng``."""
    ops = canonical_operations(operations)
    person = PEOPLE[rng.integers(len(PEOPLE))]
    thing = THINGS[rng.integers(len(THINGS))]
    lowest = steps if ops == ("-",) else 1
    start = int(rng.integers(lowest, max_value + 1))
    return Problem(person, thing, start, sample_steps(rng, start, steps, max_value, ops))


def _count(n: int, thing: tuple[str, str]) -> str:
    return f"{n} {thing[0] if n == 1 else thing[1]}"


def _slots(problem: Problem, step: Step) -> dict[str, str | int]:
    name, subject, obj, poss = problem.person
    expr = f"{step.before}{step.op}{step.operand}"
    return {
        "P": subject.capitalize(), "p": subject, "o": obj, "Poss": poss.capitalize(), "poss": poss,
        "n": step.operand, "calc": f"{expr}=<<{expr}={step.result}>>{step.result}",
    }


def render_question(problem: Problem) -> str:
    """'<Name> has <start> <things>. <one sentence per step> How many <things> does <Name> have now?'"""
    name = problem.person[0]
    sentences = [f"{name} has {_count(problem.start, problem.thing)}."]
    sentences += [TEMPLATES[s.op][s.template][0].format(**_slots(problem, s)) for s in problem.steps]
    sentences.append(f"How many {problem.thing[1]} does {name} have now?")
    return " ".join(sentences)


def render_answer(problem: Problem) -> str:
    """One line per step with its ``<<expr=result>>result`` annotation, then ``#### N``."""
    lines = [TEMPLATES[s.op][s.template][1].format(**_slots(problem, s)) for s in problem.steps]
    lines.append(f"#### {problem.answer_value}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Splits.


@functools.lru_cache(maxsize=16)
def generate_splits(
    steps: int, max_value: int, operations: str, train_size: int, test_size: int, seed: int
) -> dict[str, tuple[Example, ...]]:
    """{'test': ..., 'train': ...}: distinct questions, test first (see module docstring).

    Raises DataError (a ValueError) when the parameters allow fewer distinct questions than
    ``train_size + test_size``, found by giving up after a generous number of draws.
    """
    check_parameters(steps, max_value, operations, train_size, test_size, seed)
    rng = np.random.default_rng(derive_seed(steps, max_value, operations, seed))
    needed, max_draws = test_size + train_size, 20 * (test_size + train_size) + 10_000
    seen: dict[str, str] = {}  # question -> answer, in first-seen order (dicts keep insertion order)
    for _ in range(max_draws):
        problem = sample_problem(rng, steps, max_value, operations)
        seen.setdefault(render_question(problem), render_answer(problem))
        if len(seen) == needed:
            break
    else:
        raise DataError(
            f"arith train_size + test_size = {needed} is more than the {len(seen)} distinct problems found for "
            f"steps={steps}, max_value={max_value}, operations={operations!r}; lower the sizes or raise steps or max_value."
        )
    pairs = list(seen.items())
    return {
        "test": tuple(Example(f"arith-test-{i}", q, a) for i, (q, a) in enumerate(pairs[:test_size])),
        "train": tuple(Example(f"arith-train-{i}", q, a) for i, (q, a) in enumerate(pairs[test_size:])),
    }


@dataclass(frozen=True)
class ArithTask:
    """The ``arith`` task; to the harness it looks like :class:`tasks.text.TextTask` (name, metrics,
    eval_split, decoding, caveat, describe, split_names), and it loads its own examples."""

    steps: int = 2
    max_value: int = 20
    operations: str = "+-*"
    train_size: int = 2000
    test_size: int = 200
    seed: int = 0
    name: str = field(default="arith", init=False)
    metrics: tuple[str, ...] = field(default=("accuracy", "accuracy_calculator"), init=False)
    eval_split: str = field(default="test", init=False)
    decoding: Decoding = field(default=Decoding(), init=False)
    alternative_decodings: tuple[Decoding, ...] = field(default=(), init=False)
    caveat: str = field(
        default="arith: synthetic word problems generated from a seed, not from the paper; a stand-in for GSM8k at small scale.",
        init=False,
    )

    def __post_init__(self):
        check_parameters(self.steps, self.max_value, self.operations, self.train_size, self.test_size, self.seed)

    @property
    def title(self) -> str:
        return (
            f"synthetic GSM8k-style arithmetic ({self.steps} steps on 1..{self.max_value}, operations {self.operations}, "
            f"{self.train_size} train / {self.test_size} test, seed {self.seed}) -> worked answer ending '#### N'"
        )

    @property
    def split_names(self) -> tuple[str, ...]:
        return SPLITS

    def split(self, name: str) -> Split:
        """The split called ``name``; an unknown name is a DataError listing the splits (as TextTask.split)."""
        if name not in SPLITS:
            raise DataError(f"task {self.name} has no split {name!r}; use one of {', '.join(SPLITS)}.")
        return Split(name, name)

    def describe(self) -> str:
        """One line for ``bench list``: what the task is and how it is scored."""
        return f"{self.title}; metrics: {', '.join(self.metrics)}"

    def load(self, split: str, subset: int | None = None, seed: int = 0) -> list[Example]:
        """The examples of ``split`` in generation order; with ``subset=k``, k of them chosen by ``seed``
        exactly as :func:`tasks.text.load` chooses (``tasks.text.subset_of``)."""
        self.split(split)
        examples = list(
            generate_splits(self.steps, self.max_value, self.operations, self.train_size, self.test_size, self.seed)[split]
        )
        return examples if subset is None else subset_of(examples, subset, seed)
