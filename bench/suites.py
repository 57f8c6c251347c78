"""Suites are data: named lists of cells, each tagged with the paper figure or table it feeds.

Figure 11 (toy MDP, Appendix A.3.3). The paper gives neither the chain length, the horizon, the
discount nor the IQLearn weights of this experiment; the choices below are ours:

- chain of n = 10 bottom states, horizon 14 (four steps of slack to undo mistakes), slip 0.1
  (the paper's 10%); one mistake-free demonstration (all demonstrations are identical);
- gamma = 0.5, lam = 0.05, online mix-in alpha = 0.2 (the largest of the paper's text grid),
  16 policy rollouts per update, Adam with learning rate 0.05, logits initialised N(0, 1).

The gap between online and offline IQLearn depends on gamma and lam (a smaller gamma and a
smaller lam make the learned reward separate expert from non-expert states more sharply); the
``paper`` suite therefore also sweeps both, so the report shows how robust the finding is.

``fig11_robustness`` (mini and paper suites) is a one-at-a-time grid around gamma 0.8, lam 0.1,
alpha 0.1 for offline IQLearn and four online variants: the relaxed reading with and without
Eq. 17's temperature, and the original reading with the initial-state value telescoped onto
expert + policy samples or policy samples only. Each axis moves one choice away from the centre:
gamma, lam, alpha, the policy rollouts per update and their replay, the training length, the
initialisation scale, the top-state dynamics and the horizon of the MDP.
"""

from __future__ import annotations

import os
from itertools import product

from bench.cells import Cell, SuiteCell
from bench.registry import SUITES

__all__ = ["SuiteCell", "smoke", "paper", "mini"]


FIG11_TASK = {"n": 10, "horizon": 14, "slip": 0.1}
FIG11_GAMMA, FIG11_LAM, FIG11_ALPHA = 0.5, 0.05, 0.2
FIG11_TRAIN = {"learning_rate": 0.05, "policy_batch": 16, "eval_points": 10}


def fig11_arms(gamma: float, lam: float, alpha: float) -> list[tuple[str, dict]]:
    """MLE (reference), offline IQLearn and both readings of online IQLearn."""
    online = {"lam": lam, "gamma": gamma, "alpha": alpha}
    return [
        ("mle", {}),
        ("iqlearn", {"lam": lam, "gamma": gamma}),
        ("iqlearn_online", online | {"form": "relaxed"}),
        ("iqlearn_online", online | {"form": "original"}),
    ]


def fig11_cells(
    seeds: int, steps: int, *, gamma: float = FIG11_GAMMA, lam: float = FIG11_LAM, alpha: float = FIG11_ALPHA,
    figure: str = "fig11", with_mle: bool = True,
) -> list[SuiteCell]:
    arms = fig11_arms(gamma, lam, alpha)[0 if with_mle else 1 :]
    return [
        SuiteCell(
            Cell.make(
                "toy_mdp", algorithm, model="tabular", seed=seed,
                task_options=FIG11_TASK | {"variant": variant}, hparams=hparams,
                model_options={"init_scale": 1.0}, data={"demonstrations": 1},
                train=FIG11_TRAIN | {"steps": steps},
            ),
            figure,
        )
        for variant, (algorithm, hparams), seed in product(("recovery", "no_recovery"), arms, range(seeds))
    ]


FIG11_ROBUST_CENTRE = {"gamma": 0.8, "lam": 0.1, "alpha": 0.1}
FIG11_ROBUST_STEPS = 1000
FIG11_ONLINE_VARIANTS = (
    {"form": "relaxed"},
    {"form": "relaxed", "temperature": "eq17"},
    {"form": "original"},
    {"form": "original", "value_data": "policy"},
)
# (cell option group, key, values away from the centre); the groups marked online change only online cells
FIG11_ROBUST_AXES = (
    ("hparams", "gamma", (0.5, 0.9)),
    ("hparams", "lam", (0.01, 0.5)),
    ("hparams", "alpha", (0.05, 0.3)),
    ("train", "policy_batch", (4, 64)),
    ("train", "policy_replay", ("all",)),
    ("train", "steps", (3000,)),
    ("model_options", "init_scale", (0.0, 3.0)),
    ("task_options", "top", ("forward",)),
    ("task_options", "horizon", (20,)),
)
FIG11_ONLINE_ONLY = {("hparams", "alpha"), ("train", "policy_batch"), ("train", "policy_replay")}


def fig11_robustness_points() -> list[tuple[str, str, object]]:
    """The grid's points as (group, key, value): the centre (None, None, None), then each axis value."""
    return [(None, None, None)] + [(group, key, value) for group, key, values in FIG11_ROBUST_AXES for value in values]


def fig11_robustness_cells(seeds: int, figure: str = "fig11_robustness") -> list[SuiteCell]:
    """Offline IQLearn and every online variant at each one-at-a-time point, both MDP variants, ``seeds``
    seeds. A point on an axis that only online IQLearn reads (alpha, rollouts, replay) has no offline
    cells of its own: its offline arm is the centre's."""
    centre = {"lam": FIG11_ROBUST_CENTRE["lam"], "gamma": FIG11_ROBUST_CENTRE["gamma"]}
    arms = [("iqlearn", centre)] + [("iqlearn_online", centre | {"alpha": FIG11_ROBUST_CENTRE["alpha"]} | v) for v in FIG11_ONLINE_VARIANTS]
    cells = []
    for (group, key, value), variant, (algorithm, hparams), seed in product(
        fig11_robustness_points(), ("recovery", "no_recovery"), arms, range(seeds)
    ):
        if algorithm == "iqlearn" and (group, key) in FIG11_ONLINE_ONLY:
            continue
        options = {
            "task_options": FIG11_TASK | {"variant": variant}, "hparams": dict(hparams),
            "model_options": {"init_scale": 1.0}, "train": FIG11_TRAIN | {"steps": FIG11_ROBUST_STEPS},
        }
        if group is not None:
            options[group] = options[group] | {key: value}
        cell = Cell.make("toy_mdp", algorithm, model="tabular", seed=seed, data={"demonstrations": 1}, **options)
        cells.append(SuiteCell(cell, figure))
    return cells


# Text smoke cells: every text task x algorithm on t5-tiny for a few dozen steps, plus one decoder-only
# cell. They check the wiring (data -> tokenizer -> training -> sampling -> scoring -> MLflow), not the
# paper's numbers. xsum, tldr and wmt22 share one prompt/target shape (64 / 32 tokens: articles and
# posts are cut, Multi30k captions fit) so their cells share jit compilations within one process;
# gsm8k gets 128 / 128 (medians with the 512-token BPE: question 105, worked answer 134 tokens, so
# about half the answers keep their final "#### N").
TEXT_SMOKE_TASKS = ("gsm8k", "xsum", "tldr", "wmt22")
TEXT_SMOKE_DATA = {"train_subset": 200, "eval_subset": 16}
TEXT_SMOKE_TRAIN = {
    "batch_size": 8, "steps": 30, "eval_every": 15, "learning_rate": 1e-3, "warmup_steps": 5,
    "max_prompt": 64, "max_target": 32, "samples_per_prompt": 4,
}
TEXT_SMOKE_LENGTHS = {"gsm8k": {"max_prompt": 128, "max_target": 128}}


def text_arms(lam: float = 0.1, gamma: float = 0.99, alpha: float = 0.2, kl_anneal_steps: int = 10_000) -> list[tuple[str, dict]]:
    """Every text algorithm: MLE, MLE with entropy regularisation, offline and online (relaxed) IQLearn,
    GAIL and GAIL+MLE (mle_weight 1, as in Figure 12; GAIL's entropy cost 0, its KL weight the paper's)."""
    return [
        ("mle", {}),
        ("mle_entreg", {"lam": lam}),
        ("iqlearn", {"lam": lam, "gamma": gamma}),
        ("iqlearn_online", {"lam": lam, "gamma": gamma, "alpha": alpha, "form": "relaxed"}),
        ("gail", {"lam": 0.0, "gamma": gamma, "kl_anneal_steps": kl_anneal_steps}),
        ("gail_mle", {"lam": 0.0, "gamma": gamma, "mle_weight": 1.0, "kl_anneal_steps": kl_anneal_steps}),
    ]


# IQLearn and GAIL start from a short pure-MLE phase (the paper's GAIL starts from an MLE checkpoint);
# the total number of updates stays that of the other cells.
MLE_FIRST = ("iqlearn", "iqlearn_online", "gail", "gail_mle")


def text_smoke_cells(figure: str = "text-smoke", tasks=TEXT_SMOKE_TASKS) -> list[SuiteCell]:
    """Every algorithm on each of ``tasks`` (t5-tiny), and one dec-tiny MLE cell on the first."""
    steps = TEXT_SMOKE_TRAIN["steps"]

    def cell(task, algorithm, hparams, model="t5-tiny"):
        warmup = {"mle_warmup_steps": 10, "steps": steps - 10} if algorithm in MLE_FIRST else {}
        options = ARITH_SMOKE_TASK if task == "arith" else {}
        return SuiteCell(
            Cell.make(
                task, algorithm, model=model, seed=0, task_options=options, hparams=hparams, data=TEXT_SMOKE_DATA,
                train=TEXT_SMOKE_TRAIN | TEXT_SMOKE_LENGTHS.get(task, {}) | warmup,
            ),
            figure,
        )

    cells = [cell(task, algorithm, hparams) for task, (algorithm, hparams) in product(tasks, text_arms(kl_anneal_steps=10))]
    return cells + [cell(tasks[0], "mle", {}, model="dec-tiny")]


# The generated arith task needs no data, so these cells run everywhere, even without BENCH_DATA_DIR.
ARITH_SMOKE_TASK = {"steps": 1, "train_size": 200, "test_size": 16}


@SUITES.register(
    "smoke",
    "CPU, minutes: Figure 11 (toy MDP) at 20 seeds per arm, every algorithm on the generated arith task, and, "
    "when BENCH_DATA_DIR is set, on the 4 text tasks (t5-tiny, one dec-tiny cell each); the CI suite",
)
def smoke() -> list[SuiteCell]:
    cells = fig11_cells(seeds=20, steps=1000) + text_smoke_cells(tasks=("arith",))
    if os.environ.get("BENCH_DATA_DIR"):  # the four paper tasks read local data; without it the rest still runs
        cells += text_smoke_cells()
    return cells


def _paper_fig11() -> list[SuiteCell]:
    cells = fig11_cells(seeds=50, steps=3000)
    for gamma, lam in product((0.5, 0.9, 0.99), (0.01, 0.05, 0.5)):
        if (gamma, lam) != (FIG11_GAMMA, FIG11_LAM):
            cells += fig11_cells(seeds=20, steps=3000, gamma=gamma, lam=lam, figure="fig11_sensitivity", with_mle=False)
    return cells + fig11_robustness_cells(seeds=50)


@SUITES.register("paper", "the paper's grid at its settings: Figures 2-12, Tables 2 and 5 on T5 base/large/XL and SmolLM2-1.7B, 3 seeds (accelerators)")
def paper() -> list[SuiteCell]:
    from bench import grids

    return grids.text_grid(grids.PAPER) + _paper_fig11()


@SUITES.register("mini", "the paper's figures at laptop scale: t5-tiny, briefly fine-tuned smollm2-135m, data subsets, 3 seeds; plus the arith ablation of Section 3.3.2 (2 CPU cores: hours)")
def mini() -> list[SuiteCell]:
    from bench import grids

    return (
        grids.text_grid(grids.MINI, grids.FIGURES + (grids.arith_ablation,)) + fig11_cells(seeds=20, steps=1000)
        + fig11_robustness_cells(seeds=20)
    )
