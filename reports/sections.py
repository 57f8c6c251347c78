"""The paper's figures (other than Figure 11, reports/fig11.py) as specs for reports/figures.py.

Each names the figure tags whose runs it reads: Figure 9 redraws the fig3 runs, Figure 10 the
fig4 runs. GSM8k panels also take the synthetic ``arith`` task, its laptop-scale stand-in.
"""

from __future__ import annotations

from reports.figures import Curve, FigureSection, Panel, Sweep, Tradeoff

GSM8K = ("gsm8k", "arith")
_ACCURACY = Panel("eval/accuracy", "accuracy")
_SELF_BLEU = Panel("eval/self_bleu", "Self-BLEU")

FIG2 = FigureSection(
    "fig2", "Figure 2: GSM8k, accuracy vs Self-BLEU (T5 base / large / XL)",
    "IRL (IQLearn, GAIL) is at least as accurate as MLE; MLE loses accuracy sharply as the entropy cost grows; "
    "larger models are more accurate but their generations are more self-similar.",
    ("fig2",),
    (Tradeoff((_ACCURACY, Panel("eval/accuracy_calculator", "accuracy with calculator"))),),
)

FIG3 = FigureSection(
    "fig3", "Figure 3: XSUM, ROUGE-1 and ROUGE-2 vs Self-BLEU (T5 base / large / XL)",
    "Small gains for IRL over MLE; an entropy cost of 0.1 on T5-large MLE and GAIL is catastrophic (off the plot).",
    ("fig3",),
    (Tradeoff((Panel("eval/rouge1", "ROUGE-1"), Panel("eval/rouge2", "ROUGE-2"))),),
)

_TEMPERATURE = "sampling temperature (0 = greedy)"
_BY_RUN = ("algorithm", "hp.lam")

FIG4 = FigureSection(
    "fig4", "Figure 4: decoder-only, task metric vs sampling temperature (GSM8k, TLDR, WMT22 with beam search)",
    "IQLearn beats MLE at low sampling temperature on all three tasks; on WMT22 it depends less on beam search.",
    ("fig4",),
    (Sweep(
        (
            Panel("eval_temperature/*/accuracy", "GSM8k accuracy", {"task": GSM8K}),
            Panel("eval_temperature/*/rougeLsum", "TLDR ROUGE-Lsum", {"task": "tldr"}),
            Panel("eval_temperature/*/bleu", "WMT22 BLEU (dotted: beam 4)", {"task": "wmt22"}, hline="eval_beam/bleu"),
        ),
        "*", _TEMPERATURE, series=_BY_RUN, split=("model",),
    ),),
)

FIG5 = FigureSection(
    "fig5", "Figure 5: online vs offline IQLearn (GSM8k, T5-base) across the online mix-in",
    "Accuracy changes little with the share of online data, diversity clearly improves (lower Self-BLEU).",
    ("fig5",),
    (Sweep(
        tuple(Panel(p.metric, p.title, {"algorithm": ("iqlearn", "iqlearn_online")}) for p in (_ACCURACY, _SELF_BLEU)),
        "hp.alpha", "online mix-in α (0 = offline)", series=("hp.lam",),
    ),),
)

FIG6 = FigureSection(
    "fig6", "Figure 6: GSM8k training subsets x λ (T5-base)",
    "IQLearn's gains over MLE persist across dataset sizes; larger datasets prefer larger λ only slightly.",
    ("fig6",),
    (
        Sweep((_ACCURACY, _SELF_BLEU), "hp.lam", "λ (MLE at 0)", series=("data.train_subset",)),
        Sweep((_ACCURACY,), "data.train_subset", "training subset (examples)", series=_BY_RUN, xscale="log"),
    ),
)

FIG7 = FigureSection(
    "fig7", "Figure 7: XSUM training subsets, learning curves (T5-base)",
    "On the smallest subsets MLE overfits (ROUGE-1 falls late in training), IQLearn does not, and entropy "
    "regularisation does not match IQLearn.",
    ("fig7",),
    (
        Curve((Panel("eval_curve/rouge1", "ROUGE-1 during training"),), series=_BY_RUN, split=("model", "data.train_subset")),
        Sweep((Panel("eval/curve_drop/rouge1", "ROUGE-1 lost late in training (best − final)"),),
              "data.train_subset", "training subset (examples)", series=_BY_RUN, xscale="log"),
    ),
)

FIG8 = FigureSection(
    "fig8", "Figure 8: WMT22, reward correlation vs λ (online IQLearn, α = 0.1)",
    "The correlation of the summed IQLearn reward with BLEU and ChrF grows with λ.",
    ("fig8",),
    (Sweep(
        (Panel("eval/reward_corr/bleu", "Spearman with BLEU"), Panel("eval/reward_corr/chrf", "Spearman with ChrF")),
        "hp.lam", "λ", series=("algorithm", "hp.alpha"),
    ),),
)

FIG9 = FigureSection(
    "fig9", "Figure 9: XSUM, ROUGE vs Self-BLEU and vs per-token entropy (Figure 3's runs)",
    "As Figure 3: small gains for IRL in ROUGE-Lsum; per-token entropy tells the same story as Self-BLEU.",
    ("fig3",),
    (
        Tradeoff((Panel("eval/rougeLsum", "ROUGE-Lsum"),)),
        Tradeoff(
            (Panel("eval/rouge1", "ROUGE-1"), Panel("eval/rouge2", "ROUGE-2"), Panel("eval/rougeLsum", "ROUGE-Lsum")),
            diversity="eval/per_token_entropy",
        ),
    ),
)

FIG10 = FigureSection(
    "fig10", "Figure 10: decoder-only, more metrics vs sampling temperature (Figure 4's runs)",
    "As Figure 4: IQLearn beats MLE at low temperature in GSM8k accuracy with calculator and TLDR ROUGE-1 and ROUGE-2.",
    ("fig4",),
    (Sweep(
        (
            Panel("eval_temperature/*/accuracy_calculator", "GSM8k accuracy with calculator", {"task": GSM8K}),
            Panel("eval_temperature/*/rouge1", "TLDR ROUGE-1", {"task": "tldr"}),
            Panel("eval_temperature/*/rouge2", "TLDR ROUGE-2", {"task": "tldr"}),
        ),
        "*", _TEMPERATURE, series=_BY_RUN, split=("model",),
    ),),
)

FIG12 = FigureSection(
    "fig12", "Figure 12: GAIL on XSUM with and without an MLE loss (T5-large)",
    "Without the MLE loss GAIL drifts to the maximum generation length and ROUGE-1 drops; with it (weight 1) neither happens.",
    ("fig12",),
    (Curve(
        (Panel("eval_curve/rouge1", "ROUGE-1 during training"), Panel("eval_curve/mean_length", "mean length during training")),
        series=("algorithm", "hp.mle_weight"), split=("model",),
    ),),
)



_GAIN = "IQLearn accuracy gain over MLE (points)"
_ARITH_WHERE = {"algorithm": "iqlearn"}

ARITH = FigureSection(
    "arith", "Section 3.3.2 on arith: IQLearn's accuracy gain over MLE vs target length and dataset size (t5-tiny)",
    "Both datasets with longer targets and smaller datasets show stronger task performance gains for IRL (Section 3.3.2).",
    ("arith",),
    tuple(
        Sweep(
            (Panel(metric, title, where | {"algorithm": ("mle", "iqlearn")}),),
            x, xlabel, series=("algorithm", "hp.lam"), split=("task",), baseline={"algorithm": "mle"}, xscale=scale,
        )
        # sampled at T = 1 (the claims' metric, as the paper samples) and greedy, where the entropy IQLearn keeps costs nothing
        for metric, title in (("eval/accuracy_calculator", "accuracy with calculator, T = 1"),
                              ("eval_temperature/0/accuracy_calculator", "accuracy with calculator, greedy"))
        for x, xlabel, where, scale in (
            ("task.steps", "arithmetic steps per problem (target length)", {"data.train_subset": 2000}, "linear"),
            ("data.train_subset", "training problems", {"task.steps": 2}, "log"),
        )
    ),
)


SECTIONS = (FIG2, FIG3, FIG4, FIG5, FIG6, FIG7, FIG8, FIG9, FIG10, FIG12, ARITH)
