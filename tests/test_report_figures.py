"""Every section of the report from synthetic runs: plots, numbers, verdicts, tables against the paper."""

import itertools
import re
from html import escape

import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from reports import html, references, sections, tables
from reports.claims import evaluate
from reports.figures import Curve, Panel, Sweep, Tradeoff, mean_curve, render_plot, stat, sweep_rows, tradeoff_rows
from reports.runs import RunRecord, load_histories

_ids = itertools.count()


def run(figure: str, seed: int = 0, metrics: dict | None = None, **params) -> RunRecord:
    """A finished run as the report reads it; ``hp_lam=0.1`` stands for the param hp.lam."""
    flat = {k.replace("_", ".", 1) if k.startswith(("hp_", "data_", "profile_", "task_")) else k: str(v) for k, v in params.items()}
    i = next(_ids)
    return RunRecord(f"run{i:04d}", f"cell{i:04d}", figure, flat | {"seed": str(seed)}, {}, dict(metrics or {}), i)


def three_seeds(figure: str, metric: str, mean: float, spread: float = 0.1, **params) -> list[RunRecord]:
    """Seeds 0, 1, 2 with ``metric`` = mean - spread, mean, mean + spread."""
    return [run(figure, s, {metric: mean + (s - 1) * spread}, **params) for s in range(3)]


def verdicts(runs: list[RunRecord], section: str) -> dict[str, str]:
    return {v.claim.id: v.verdict for v in html.verdicts_for(runs, section)}


# --------------------------------------------------------------------------------- synthetic data
def tradeoff_runs(figure: str, task: str, metrics: tuple, better: float) -> list[RunRecord]:
    """MLE, MLE ent-reg, IQLearn and GAIL at a few lambdas, 3 seeds; IQLearn is ``better`` points up."""
    runs = []
    arms = [("mle", None, 0.0), ("mle_entreg", 0.1, -5.0), ("mle_entreg", 1.0, -20.0), ("iqlearn", 0.1, better),
            ("iqlearn", 0.5, better), ("gail", 0.0, 0.0)]
    for model, (algorithm, lam, gain), s in itertools.product(("t5-base", "t5-xl"), arms, range(3)):
        size = 10.0 if model == "t5-xl" else 0.0
        values = {f"eval/{m}": 30 + size + gain + 0.1 * s for m in metrics}
        values |= {"eval/self_bleu": 40 + size - 5 * (lam or 0) + 0.2 * s, "eval/per_token_entropy": 1 + (lam or 0) + 0.01 * s}
        values |= {f"eval_temperature/0/{m}": 31 + size + gain + 0.1 * s for m in metrics}
        hp = {} if lam is None else {"hp_lam": lam}
        runs.append(run(figure, s, values, task=task, model=model, algorithm=algorithm, **hp))
    return runs


def temperature_runs(iqlearn_gain_at_zero: float) -> list[RunRecord]:
    """fig4 cells: MLE and IQLearn on three tasks; IQLearn ahead at T=0, behind at T=1."""
    runs = []
    for task, ms in (("gsm8k", ("accuracy", "accuracy_calculator")), ("tldr", ("rouge1", "rouge2", "rougeLsum")), ("wmt22", ("bleu",))):
        for (algorithm, hp), s in itertools.product((("mle", {}), ("iqlearn", {"hp_lam": 0.1})), range(3)):
            gain = (iqlearn_gain_at_zero, -3.0) if algorithm == "iqlearn" else (0.0, 0.0)
            values = {f"eval_temperature/{t:g}/{m}": 20 + g + 0.1 * s for m in ms for t, g in zip((0, 1.0), gain)}
            if task == "wmt22":
                values["eval_beam/bleu"] = 25 + 0.1 * s
            runs.append(run("fig4", s, values, task=task, model="smollm2-135m", algorithm=algorithm, **hp))
    return runs


def arith_runs(long_gain: float, small_gain: float) -> list[RunRecord]:
    """The arith ablation: MLE and IQLearn (lam 0.1, 0.5); IQLearn gains ``long_gain`` points on 4-step problems,
    ``small_gain`` with 64 problems, and 1 point elsewhere (with and without the calculator alike)."""
    runs = []
    points = [(k, 2000) for k in (1, 2, 4)] + [(2, 64)]
    for (steps, size), (algorithm, lam), s in itertools.product(points, (("mle", None), ("iqlearn", 0.1), ("iqlearn", 0.5)), range(3)):
        gain = 0.0 if lam is None else long_gain if steps == 4 else small_gain if size == 64 else 1.0
        accuracy = 30 - 3 * steps + gain + 0.2 * s
        metrics = {"eval/accuracy_calculator": accuracy, "eval_temperature/0/accuracy_calculator": accuracy + 10,  # greedy
                   "eval/accuracy": accuracy - 10, "eval_temperature/0/accuracy": accuracy}
        runs.append(run("arith", s, metrics, task="arith", model="t5-tiny",
                        algorithm=algorithm, task_steps=steps, data_train_subset=size, **({"hp_lam": lam} if lam else {})))
    return runs


def all_runs() -> list[RunRecord]:
    runs = arith_runs(long_gain=6.0, small_gain=5.0)
    runs += tradeoff_runs("fig2", "gsm8k", ("accuracy", "accuracy_calculator"), better=2.0)
    runs += tradeoff_runs("fig3", "xsum", ("rouge1", "rouge2", "rougeLsum"), better=2.0)
    runs += temperature_runs(5.0)
    for alpha, s in itertools.product((0.0, 0.1, 0.2), range(3)):  # fig5
        algorithm = "iqlearn" if alpha == 0 else "iqlearn_online"
        runs.append(run("fig5", s, {"eval/accuracy": 40 + 0.1 * s, "eval/self_bleu": 50 - 50 * alpha + 0.1 * s},
                        task="gsm8k", model="t5-base", algorithm=algorithm, hp_lam=0.1, **({"hp_alpha": alpha} if alpha else {})))
    for subset, (algorithm, lam), s in itertools.product((100, 1000), (("mle", None), ("iqlearn", 0.1)), range(3)):  # fig6
        runs.append(run("fig6", s, {"eval/accuracy": 20 + subset / 100 + (2 if lam else 0) + 0.1 * s, "eval/self_bleu": 30.0 + s},
                        task="gsm8k", model="t5-base", algorithm=algorithm, data_train_subset=subset,
                        **({"hp_lam": lam} if lam else {})))
    for subset, (algorithm, lam), s in itertools.product((100, 1000), (("mle", None), ("mle_entreg", 0.1), ("iqlearn", 0.1)), range(3)):
        drop = 6.0 if algorithm != "iqlearn" and subset == 100 else 0.5  # fig7: MLE overfits on the small subset
        runs.append(run("fig7", s, {"eval/rouge1": 25.0 + s, "eval/curve_drop/rouge1": drop + 0.1 * s}, task="xsum",
                        model="t5-base", algorithm=algorithm, data_train_subset=subset, **({"hp_lam": lam} if lam else {})))
    for lam, s in itertools.product((0.0, 0.1, 1.0), range(3)):  # fig8
        corr = 0.1 + 0.4 * lam + 0.01 * s
        runs.append(run("fig8", s, {"eval/reward_corr/bleu": corr, "eval/reward_corr/chrf": corr}, task="wmt22", model="t5-base",
                        algorithm="iqlearn_online", hp_lam=lam, hp_alpha=0.1))
    for (algorithm, hp), s in itertools.product((("gail", {}), ("gail_mle", {"hp_mle_weight": 1.0})), range(3)):  # fig12
        long = algorithm == "gail"
        runs.append(run("fig12", s, {"eval/mean_length": (60 if long else 25) + s, "eval/rouge1": (10 if long else 30) + 0.1 * s},
                        task="xsum", model="t5-large", algorithm=algorithm, **hp))
    return runs


def fake_history(runs: list[RunRecord]):
    """Learning curves: the fig7/fig12 runs rise, then those with a curve drop fall back by it."""
    by_id = {r.run_id: r for r in runs}

    def history(run_ids, metrics):
        out = {}
        for rid in run_ids:
            drop = by_id[rid].metrics.get("eval/curve_drop/rouge1", 0.0)
            out[rid] = {m: [(0, 5.0), (10, 20.0), (20, 20.0 - drop)] for m in metrics}
        return out

    return history


# ------------------------------------------------------------------------------------- claims
def test_every_claim_has_a_unique_id_and_names_a_section():
    ids = [c.id for c in references.CLAIMS]
    assert len(ids) == len(set(ids))
    for claim in references.CLAIMS:
        assert claim.figure in html.FIGURES, claim.id
        assert getattr(claim, "kind", "greater") in ("greater", "equivalent") and claim.a.where.get("figure") and claim.b.where.get("figure")
        if not claim.id.startswith("fig11"):
            assert claim.min_seeds == 3, claim.id
    assert {c.figure for c in references.CLAIMS} >= {f"fig{i}" for i in range(2, 13)} | {"table2", "table5"}


def test_sections_follow_the_papers_order():
    assert list(html.FIGURES) == [f"fig{i}" for i in range(2, 13)] + ["table1", "table2", "table5", "arith", "text-smoke"]


def test_synthetic_results_give_the_expected_verdicts():
    runs = all_runs()
    got = {}
    for section in html.FIGURES:
        got |= verdicts(runs, section)
    assert got["fig2.iqlearn_accuracy_not_below_mle"] == "pass"  # IQLearn 2 points up
    assert got["fig2.gail_accuracy_not_below_mle"] == "pass"  # equal, within the 1-point margin
    assert got["fig2.entropy_cost_costs_mle_accuracy"] == "pass"  # picks lambda 1.0, 20 points down
    assert got["fig2.iqlearn_greedy_accuracy_not_below_mle"] == "pass"  # 2 points up greedily too
    assert got["fig2.iqlearn_smallest_lambda_greedy_accuracy_not_below_mle"] == "pass"
    assert got["fig2.iqlearn_more_diverse_than_mle"] == "pass"  # Self-BLEU 0.5 lower at lambda 0.1
    # IQLearn is 2 points up on accuracy: no MLE / ent-reg point beats it there, so it is provably undominated
    assert got["fig2.iqlearn_not_dominated_by_entreg"] == "pass" and got["fig3.iqlearn_not_dominated_by_entreg"] == "pass"
    assert got["fig2.larger_model_more_accurate"] == "pass" and got["fig2.larger_model_more_self_similar"] == "pass"
    assert got["fig3.iqlearn_rouge1_gain"] == "pass" and got["fig9.iqlearn_rougeLsum_gain"] == "pass"
    assert got["fig3.entropy_cost_catastrophic_large_mle"] == "not run"  # no T5-large in fig3
    assert got["fig4.gsm8k_accuracy_low_temperature"] == "pass"  # at T=0, although IQLearn is behind at T=1
    assert got["fig10.tldr_rouge2_low_temperature"] == "pass"
    assert got["fig5.online_accuracy_matches_offline"] == "pass" and got["fig5.online_more_diverse"] == "pass"
    assert got["fig6.iqlearn_not_below_mle_smallest_subset"] == "pass"
    assert got["fig7.mle_overfits_more_than_iqlearn"] == "pass"  # only on the smallest subset
    assert got["fig7.entropy_does_not_match_iqlearn"] == "pass"
    assert got["fig8.correlation_grows_with_lambda_bleu"] == "pass"
    assert got["fig12.gail_drifts_longer"] == "pass" and got["fig12.mle_loss_keeps_rouge1"] == "pass"
    assert got["table2.tldr.rouge1"] == "not run"
    for suffix in ("", "_greedy", "_no_calculator", "_greedy_no_calculator"):  # the same gains in every decoding
        assert got[f"arith.gain_grows_with_target_length{suffix}"] == "pass" and got[f"arith.gain_grows_as_data_shrinks{suffix}"] == "pass"


def test_arith_interactions_fail_when_the_gain_shrinks_and_the_plot_shows_gains_over_mle():
    flat = arith_runs(long_gain=-4.0, small_gain=1.0)
    got = verdicts(flat, "arith")
    assert got["arith.gain_grows_with_target_length"] == "fail"  # 4 steps: -4 vs 1 step: +1
    assert got["arith.gain_grows_with_target_length_greedy"] == "fail"
    assert got["arith.gain_grows_as_data_shrinks"] == "inconclusive"  # +1 vs +1
    v = {v.claim.id: v for v in html.verdicts_for(flat, "arith")}["arith.gain_grows_with_target_length"]
    assert v.diff == pytest.approx(-5.0) and "IQLearn (λ=0.1) − MLE accuracy: -4.000" in v.measured()
    plot = sections.ARITH.plots[0]
    rows = sweep_rows(plot, plot.panels[0], flat)
    assert {x for (_, x) in rows} == {1.0, 2.0, 4.0}  # every length at 2000 problems, MLE itself not drawn
    assert rows[(("IQLearn", 0.1), 4.0)].mean == pytest.approx(-4.0)
    assert rows[(("IQLearn", 0.1), 2.0)].mean == pytest.approx(1.0)
    assert verdicts([r for r in flat if r.params["algorithm"] == "mle"], "arith")["arith.gain_grows_as_data_shrinks"] == "not run"


def test_the_greedy_arith_claims_read_greedy_accuracy():
    flat = arith_runs(long_gain=-4.0, small_gain=1.0)
    for r in flat:  # greedily, IQLearn gains 6 points on 4-step problems where sampling at T=1 loses 4
        if r.params["algorithm"] == "iqlearn" and r.params["task.steps"] == "4":
            r.metrics["eval_temperature/0/accuracy_calculator"] += 10.0
    got = verdicts(flat, "arith")
    assert got["arith.gain_grows_with_target_length"] == "fail" and got["arith.gain_grows_with_target_length_greedy"] == "pass"


def test_a_dominated_iqlearn_fails_the_frontier_and_a_close_one_is_inconclusive_with_its_power():
    """Every IQLearn point 5 points less accurate than MLE and more self-similar than ent-reg at 1.0: dominated."""
    runs = tradeoff_runs("fig2", "gsm8k", ("accuracy",), better=-5.0)
    for r in runs:
        if r.params["algorithm"] == "iqlearn":
            r.metrics["eval/self_bleu"] += 20.0
    assert verdicts(runs, "fig2")["fig2.iqlearn_not_dominated_by_entreg"] == "fail"
    close = tradeoff_runs("fig2", "gsm8k", ("accuracy",), better=-0.05)  # within seed noise of MLE on accuracy
    for r in close:
        if r.params["algorithm"] == "iqlearn":  # and no less self-similar than MLE
            r.metrics["eval/self_bleu"] = 40 + (10.0 if r.params["model"] == "t5-xl" else 0.0) + 0.2 * int(r.params["seed"])
    single = [r for r in close if r.params["model"] == "t5-base"]
    v = {v.claim.id: v for v in html.verdicts_for(single, "fig2")}["fig2.iqlearn_not_dominated_by_entreg"]
    assert v.verdict == "inconclusive" and v.power is not None and "seeds per arm" in v.detail


def test_a_clearly_worse_arm_fails_and_a_missing_one_is_not_run():
    worse = tradeoff_runs("fig2", "gsm8k", ("accuracy",), better=-5.0)
    assert verdicts(worse, "fig2")["fig2.iqlearn_accuracy_not_below_mle"] == "fail"
    assert verdicts(temperature_runs(-5.0), "fig4")["fig4.wmt22_bleu_low_temperature"] == "fail"
    no_iqlearn = [r for r in worse if r.params["algorithm"] != "iqlearn"]
    v = {v.claim.id: v for v in html.verdicts_for(no_iqlearn, "fig2")}["fig2.iqlearn_accuracy_not_below_mle"]
    assert v.verdict == "not run" and "IQLearn" in v.detail


def test_claims_at_the_smallest_subset_ignore_the_others():
    claim = next(c for c in references.CLAIMS if c.id == "fig7.mle_overfits_more_than_iqlearn")
    runs = [r for r in all_runs() if r.figure == "fig7"]
    v = evaluate(claim, runs)
    assert v.verdict == "pass" and len(v.values_a) == 3 and "data.train_subset=100" in v.detail
    large_only = [r for r in runs if r.params["data.train_subset"] == "1000"]
    assert evaluate(claim, large_only).verdict == "inconclusive"  # the drops are equal there


# ------------------------------------------------------------------------------------- sections
@pytest.mark.parametrize("section", [s.id for s in sections.SECTIONS])
def test_each_figure_section_draws_its_plots_numbers_and_runs(section):
    spec, members = html.FIGURES[section]
    runs = [r for r in all_runs() if r.figure in members]
    assert runs, f"the synthetic data has no runs for {section}"
    body = spec.render(runs, fake_history(runs))
    assert body.count("<svg") == len(spec.plots)
    assert "±" in body and "n=3" in body  # mean ± s.e.m. and the seeds behind each point
    assert "No run logged the metrics" not in body
    for r in runs:
        assert r.run_id in body


def test_tradeoff_points_are_means_with_sem_in_both_axes_and_mle_is_lambda_zero():
    runs = tradeoff_runs("fig2", "gsm8k", ("accuracy",), better=2.0)
    plot = Tradeoff((Panel("eval/accuracy"),))
    base = [r for r in runs if r.params["model"] == "t5-base"]
    rows = tradeoff_rows(plot, plot.panels[0], base)
    x, y = rows[(("MLE / ent-reg",), 0.0)]  # the mle cells (no hp.lam) are lambda 0
    assert x.n == 3 and x.mean == pytest.approx(30.1) and x.sem == pytest.approx(0.1 / 3**0.5)
    assert y.mean == pytest.approx(40.2) and y.sem == pytest.approx(0.2 / 3**0.5)
    assert (("MLE / ent-reg",), 1.0) in rows  # ent-reg continues the same series


def test_sweep_reads_temperatures_from_metric_names_and_beam_as_a_line():
    runs = temperature_runs(5.0)
    plot = Sweep((Panel("eval_temperature/*/bleu", where={"task": "wmt22"}, hline="eval_beam/bleu"),), "*", "T",
                 series=("algorithm",), split=())
    rows = sweep_rows(plot, plot.panels[0], runs)
    assert rows[(("IQLearn",), 0.0)].mean == pytest.approx(25.1) and rows[(("MLE",), 1.0)].mean == pytest.approx(20.1)
    body = render_plot(plot, runs)
    assert "<svg" in body and "eval_beam/bleu" in body


def test_curves_average_seeds_per_step_and_report_the_late_drop():
    assert [(s, st.mean, st.n) for s, st in mean_curve([[(0, 1.0), (5, 3.0)], [(0, 3.0)]])] == [(0, 2.0, 2), (5, 3.0, 1)]
    runs = [r for r in all_runs() if r.figure == "fig7"]
    body = render_plot(Curve((Panel("eval_curve/rouge1"),), split=("data.train_subset",)), runs, fake_history(runs))
    assert body.count("<svg") == 1 and "train subset=100" in body
    assert "6.10 ± 0.06" in body  # MLE's drop on the small subset: 6.0, 6.1, 6.2


def test_stat_is_mean_and_standard_error():
    s = stat([1.0, 2.0, 3.0])
    assert (s.mean, s.sem, s.n) == (2.0, pytest.approx(1 / 3**0.5), 3)
    assert stat([4.0]).err == 0.0 and "n=1" in stat([4.0]).text()


# --------------------------------------------------------------------------------------- tables
def test_table5_compares_gains_over_the_lambda_zero_row():
    def bleu(mean, **params):
        return three_seeds("table5", "eval_beam/bleu", mean, task="wmt22", **params)

    runs = bleu(20.0, algorithm="mle") + bleu(22.2, algorithm="iqlearn", hp_lam=0.1)  # +2.2, paper +2.17
    runs += bleu(19.0, algorithm="iqlearn", hp_lam=0.5) + bleu(21.0, algorithm="iqlearn", hp_lam=0.2)  # -1.0 (paper +2.29); no row
    rows = {(r.cells[0], r.cells[1]): r.verdict for r in tables.table5_rows(runs)}
    assert rows[("0", "0")] == tables.BASELINE
    assert rows[("0.1", "0")] == tables.WITHIN and rows[("0.5", "0")] == tables.OUTSIDE
    assert rows[("0.2", "0")] == tables.NO_REFERENCE and rows[("0.1", "0.1")] == tables.NOT_RUN
    body = tables.TABLE5.render(runs)
    assert "<svg" in body and "34.51" in body and "+2.17" in body and "+2.20" in body
    assert verdicts(runs, "table5")["table5.iqlearn_beats_bc"] == "pass"


def test_table2_compares_correlations_within_tolerance():
    online = {"algorithm": "iqlearn_online", "hp_alpha": 0.1}
    runs = three_seeds("table2", "eval/reward_corr/rouge1", 0.6, 0.01, task="tldr", hp_lam=0.5, **online)
    runs += three_seeds("table2", "eval/reward_corr/rouge1", 0.0, 0.01, task="tldr", algorithm="mle")
    runs += three_seeds("table2", "eval/reward_corr/bleu", 0.05, 0.01, task="wmt22", hp_lam=0.1, **online)
    runs += three_seeds("table2", "eval/reward_corr/bleu", 0.0, 0.01, task="wmt22", algorithm="mle")
    rows = {(r.cells[0], r.cells[1]): r.verdict for r in tables.table2_rows(runs)}
    assert rows[("tldr", "ROUGE-1")] == tables.WITHIN  # 0.60 vs 0.64, 0.00 vs -0.05
    assert rows[("wmt22", "BLEU")] == tables.OUTSIDE  # 0.05 vs 0.43 (MLE's 0.00 vs -0.05 is within)
    assert rows[("gsm8k", "accuracy with calculator")] == tables.NOT_RUN
    assert verdicts(runs, "table2")["table2.tldr.rouge1"] == "pass"


def test_table1_compares_ratios_to_the_mle_update():
    def ms(target, value, model="t5-base"):
        return [run("table1", s, {"profile/median_ms": value + s, "profile/p25_ms": value - 1, "profile/p75_ms": value + 3},
                    model=model, profile_target=target) for s in range(2)]

    runs = ms("mle_update", 10.0) + ms("gail_update", 24.0) + ms("iqlearn_update", 20.0) + ms("mle_update", 5.0, "t5-tiny")
    rows = {(r.cells[0], r.cells[1]): r for r in tables.table1_rows(runs)}
    assert rows[("t5-base", "MLE update")].verdict == tables.BASELINE
    assert rows[("t5-base", "GAIL update")].verdict == tables.WITHIN  # 24.5/10.5 = 2.33 vs 451/189 = 2.39
    assert rows[("t5-base", "IQLearn update")].verdict == tables.OUTSIDE  # 1.95 vs 1.04
    assert rows[("t5-base", "+ sampling (online IRL)")].verdict == tables.NOT_RUN
    assert rows[("t5-large", "GAIL update")].verdict == tables.NOT_RUN
    assert rows[("t5-tiny", "MLE update")].verdict == tables.BASELINE  # a model the paper lacks: shown, no reference
    assert "2.33" in rows[("t5-base", "GAIL update")].cells[3] and "2.39" in rows[("t5-base", "GAIL update")].cells[5]


# ----------------------------------------------------------------------------------------- page
def test_page_shows_every_section_with_verdicts_and_the_command_for_missing_ones(store_uri):
    runs = all_runs()
    expected = [(r.cell, r.figure) for r in runs] + [("missing", "fig6")]
    page = html.build("s", runs, expected, store_uri, history=fake_history(runs))
    for section, (spec, _) in html.FIGURES.items():
        assert f"<section id='{section}'>" in page and escape(spec.TITLE) in page
    fig6 = page[page.index("<section id='fig6'>") : page.index("<section id='fig7'>")]
    assert "<svg" in fig6 and "<b>pass</b>" in fig6
    table1 = page[page.index("<section id='table1'>") : page.index("<section id='table2'>")]
    assert "not run: suite <code>s</code> defines no cells" in table1 and "--filter figure=table1" in table1
    fig9 = page[page.index("<section id='fig9'>") : page.index("<section id='fig10'>")]
    assert "<svg" in fig9  # Figure 9 reads the fig3 runs
    assert re.search(r"href='#fig6'>[^<]*</a></td><td>12 / 13</td>", page)
    assert "Paper:" in page and not re.search(r"(src|href)=['\"]https?://", page)


def test_a_section_without_runs_says_not_run_and_how_to_run_it(store_uri):
    page = html.build("tiny", [], [("c1", "fig3"), ("c2", "table5")], store_uri)
    fig9 = page[page.index("<section id='fig9'>") : page.index("<section id='fig10'>")]
    assert "not run. Run it with <code>bench run --suite tiny --filter figure=fig3</code>" in fig9
    assert "bench run --suite tiny --filter figure=table5" in page
    assert re.search(r"href='#table5'>[^<]*</a></td><td>0 / 1</td><td>1 not run; rows: \d+ not run</td>", page)


def test_overview_counts_table_rows_against_the_paper(store_uri):
    runs = three_seeds("table5", "eval_beam/bleu", 20.0, algorithm="mle")
    runs += three_seeds("table5", "eval_beam/bleu", 22.2, algorithm="iqlearn", hp_lam=0.1)
    page = html.build("s", runs, [(r.cell, r.figure) for r in runs], store_uri)
    assert "1 pass; rows: 1 within tolerance, 18 not run" in page


def test_suite_verdicts_include_sections_that_read_other_tags():
    claims = {v.claim.figure for v in html.suite_verdicts([], {"fig3"})}
    assert claims == {"fig3", "fig9"}


# ---------------------------------------------------------------------------------------- store
def test_histories_are_read_from_the_store(store_uri):
    client = MlflowClient(store_uri)
    exp = client.create_experiment("h")
    rid = client.create_run(exp).info.run_id
    client.log_batch(rid, metrics=[Metric("eval_curve/rouge1", v, 0, step) for step, v in ((10, 2.0), (0, 1.0), (20, 1.5))])
    client.log_batch(rid, metrics=[Metric("train/loss", 3.0, 0, 0)])
    got = load_histories([rid], ["eval_curve/rouge1", "eval_curve/mean_length"], store_uri)
    assert got == {rid: {"eval_curve/rouge1": [(0, 1.0), (10, 2.0), (20, 1.5)]}}


def test_params_match_as_numbers_with_defaults_and_alternatives():
    mle = run("figX", algorithm="mle")
    ent = run("figX", algorithm="mle_entreg", hp_lam="0.0")
    assert mle.matches({"hp.lam": 0}) and ent.matches({"hp.lam": 0}) and mle.matches({"hp.alpha": 0.0})
    assert ent.matches({"algorithm": ("mle", "mle_entreg")}) and not ent.matches({"algorithm": ("iqlearn",)})
    assert not mle.matches({"hp.gamma": 0.5}) and run("figX", seed=1).matches({"seed": "1.0"})
