"""Figure 11's one-at-a-time robustness grid: the suite's cells and the report's tables."""

import hashlib
import itertools
import re
from collections import Counter

import pytest

import bench  # noqa: F401  (fills the registries)
from bench.registry import SUITES
from bench.runner import validate
from bench.suites import FIG11_ONLINE_ONLY, FIG11_ONLINE_VARIANTS, FIG11_ROBUST_AXES, fig11_robustness_cells
from reports import fig11, html
from reports.runs import RunRecord
from reports.stats import difference_ci

KNOB_KEYS = {"hparams": "hp", "train": "train", "model_options": "model", "task_options": "task"}


@pytest.fixture(scope="module")
def grid():
    return fig11_robustness_cells(seeds=2)


def test_every_cell_moves_at_most_one_choice_from_the_centre(grid):
    validate(grid)  # every option in its domain
    centre = next(e.cell for e in grid if e.cell.algorithm == "iqlearn_online" and e.cell.options("hparams")["gamma"] == 0.8
                  and e.cell.options("hparams")["lam"] == 0.1 and e.cell.options("train")["steps"] == 1000
                  and e.cell.options("model_options")["init_scale"] == 1.0 and "top" not in e.cell.options("task_options")
                  and e.cell.options("task_options")["horizon"] == 14 and e.cell.options("hparams")["alpha"] == 0.1
                  and e.cell.options("train")["policy_batch"] == 16 and "policy_replay" not in e.cell.options("train"))
    reading = {"form", "temperature", "value_data", "alpha"}
    for entry in grid:
        moved = [
            (group, key) for group, key, _ in FIG11_ROBUST_AXES
            if entry.cell.options(group).get(key) != centre.options(group).get(key) and not (group == "hparams" and key in reading - {"alpha"})
        ]
        if entry.cell.algorithm == "iqlearn":
            moved = [m for m in moved if m not in FIG11_ONLINE_ONLY]
        assert len(moved) <= 1, (entry.cell.label(), moved)
        assert set(entry.cell.options("hparams")) - {"lam", "gamma"} <= reading
    assert {e.figure for e in grid} == {"fig11_robustness"}


def test_each_point_has_every_online_variant_and_offline_only_where_offline_reads_the_axis(grid):
    points = 1 + sum(len(values) for _, _, values in FIG11_ROBUST_AXES)
    online_only = sum(len(values) for group, key, values in FIG11_ROBUST_AXES if (group, key) in FIG11_ONLINE_ONLY)
    per_arm = Counter((e.cell.algorithm, tuple(sorted(e.cell.options("hparams").items())) if e.cell.algorithm == "iqlearn" else
                       tuple((k, v) for k, v in sorted(e.cell.options("hparams").items()) if k in ("form", "temperature", "value_data")))
                      for e in grid)
    # 2 seeds x 2 MDP variants
    assert [n for arm, n in per_arm.items() if arm[0] == "iqlearn_online"] == [4 * points] * len(FIG11_ONLINE_VARIANTS)
    assert sum(n for arm, n in per_arm.items() if arm[0] == "iqlearn") == 4 * (points - online_only)
    assert len({e.cell.hash for e in grid}) == len(grid)


def test_the_mini_and_paper_suites_run_the_grid_and_keep_todays_figure_11_cells():
    mini, paper, smoke = (SUITES.build(name) for name in ("mini", "paper", "smoke"))
    assert len([e for e in mini if e.figure == "fig11_robustness"]) == len(fig11_robustness_cells(seeds=20))
    assert len([e for e in paper if e.figure == "fig11_robustness"]) == len(fig11_robustness_cells(seeds=50))
    # the hashes of the fig11 cells the suites had before the grid came (none names a new option)
    digest = hashlib.sha256("".join(sorted(e.cell.hash + e.figure for e in smoke if e.figure.startswith("fig11"))).encode())
    assert digest.hexdigest()[:16] == "6015d36eeff904f7"


# --------------------------------------------------------------------------------------- report
_ids = itertools.count()


def run(algorithm, variant, seed, success, **params) -> RunRecord:
    i = next(_ids)
    base = {"hp.gamma": "0.8", "hp.lam": "0.1", "task.horizon": "14", "train.steps": "1000", "model.init_scale": "1.0",
            "train.policy_batch": "16"}
    if algorithm == "iqlearn_online":
        base["hp.alpha"] = "0.1"
    flat = base | {k: str(v) for k, v in params.items()} | {"algorithm": algorithm, "task.variant": variant, "seed": str(seed)}
    return RunRecord(f"run{i:05d}", f"cell{i:05d}", "fig11_robustness", flat, {}, {fig11.METRIC: success}, i)


def arm(algorithm, variant, mean, **params):
    return [run(algorithm, variant, s, mean + 0.01 * (s - 1), **params) for s in range(3)]


def synthetic():
    runs = []
    for variant in ("recovery", "no_recovery"):
        runs += arm("iqlearn", variant, 0.60)
        runs += arm("iqlearn", variant, 0.50, **{"hp.gamma": 0.5})
        runs += arm("iqlearn_online", variant, 0.62, **{"hp.form": "relaxed"})
        runs += arm("iqlearn_online", variant, 0.63, **{"hp.form": "relaxed", "hp.temperature": "eq17"})
        runs += arm("iqlearn_online", variant, 0.66, **{"hp.form": "original"})
        runs += arm("iqlearn_online", variant, 0.80 if variant == "recovery" else 0.6, **{"hp.form": "original", "hp.value_data": "policy"})
        for form in ({"hp.form": "relaxed"}, {"hp.form": "original", "hp.value_data": "policy"}):
            runs += arm("iqlearn_online", variant, 0.70, **form, **{"hp.gamma": 0.5})
            runs += arm("iqlearn_online", variant, 0.75, **form, **{"hp.alpha": 0.3})  # offline arm: the centre's
            runs += arm("iqlearn_online", variant, 0.9, **form, **{"hp.alpha": 0.3, "hp.gamma": 0.5})  # two moves: no point
    return runs


def rows_of(section: str, variant_name: str) -> dict[str, list[str]]:
    table = section.split(f"<h4>{variant_name}</h4>")[1].split("</table>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table)[1:]
    return {cells[0]: cells[1:] for cells in (re.findall(r"<td>(.*?)</td>", row) for row in rows)}


def test_the_robustness_table_shows_every_variant_at_every_point():
    section = fig11.robustness_html(synthetic())
    assert "Centre: hp.gamma 0.8, hp.lam 0.1, task.horizon 14, task.top stay" in section
    rows = rows_of(section, "with recovery")
    assert list(rows) == ["centre", "hp.gamma = 0.5", "hp.alpha = 0.3"]
    offline_centre = [0.59, 0.60, 0.61]
    diff, lo, hi, _ = difference_ci([0.79, 0.80, 0.81], offline_centre)
    policy_gap = rows["centre"][4]
    assert policy_gap == f"<b>{diff:+.3f} [{lo:+.3f}, {hi:+.3f}]</b> <small>n=3/3</small>"  # clears 11 points: bold
    assert rows["centre"][2].startswith("+0.030 [") and "<b>" not in rows["centre"][2]  # eq17: 0.63 - 0.60
    # a point on gamma compares with offline at gamma 0.5; one on alpha with the centre's offline arm
    assert rows["hp.gamma = 0.5"][0].startswith("0.500 [") and rows["hp.gamma = 0.5"][1].startswith("<b>+0.200 [")
    assert rows["hp.alpha = 0.3"][0].startswith("0.600 [") and rows["hp.alpha = 0.3"][1].startswith("<b>+0.150 [")
    assert rows["hp.alpha = 0.3"][2] == "not run"
    assert rows_of(section, "without recovery")["centre"][4].startswith("+0.000 [")


def test_the_robustness_table_reads_only_its_figure_and_escapes_what_it_shows():
    runs = synthetic()
    assert fig11.robustness_html([RunRecord(r.run_id, r.cell, "fig11", r.params, {}, r.metrics, 0) for r in runs]) == ""
    hostile = arm("iqlearn_online", "recovery", 0.7, **{"hp.form": "relaxed", "task.top": "<script>"})
    section = fig11.robustness_html(runs + hostile)
    assert "<script>" not in section and "task.top = &lt;script&gt;" in section


def test_the_report_section_includes_the_grid():
    assert "fig11_robustness" in html.FIGURES["fig11"][1]
    assert "Robustness: online - offline success rate" in fig11.render(synthetic())
