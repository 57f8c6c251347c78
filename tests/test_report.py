import re

from bench.cli import main
from bench.runner import run_suite
from reports import html
from reports.claims import Arm, Claim
from reports.runs import load_runs


def test_report_is_built_from_the_store_alone(store_uri, tiny_suite, tmp_path):
    run_suite("tiny")
    assert main(["report", "--suite", "tiny", "--out", str(tmp_path / "out")]) == 0
    page = (tmp_path / "out" / "tiny.html").read_text()
    assert "<svg" in page and "Figure 11" in page
    runs = load_runs("tiny", store_uri)
    for run in runs:  # every run behind the figure is listed by id
        assert run.run_id in page
    assert "4 / 4" in page
    # 2 seeds per arm are below the 20 the claims need; the offline arm was not run at all
    assert "not run" in page and "no finished runs for offline IQLearn" in page
    assert not re.search(r"(src|href)=['\"]https?://", page), "the page must be self-contained"


def test_figure_without_runs_says_not_run_and_how_to_run_it(store_uri, tiny_suite):
    page = html.build("tiny", [], [(e.cell.hash, e.figure) for e in tiny_suite], store_uri)
    assert "0 / 4" in page and "bench run --suite tiny --filter figure=fig11" in page


def test_check_exits_nonzero_only_on_a_failed_claim(store_uri, tiny_suite, capsys, monkeypatch):
    run_suite("tiny")
    assert main(["check", "--suite", "tiny"]) == 0  # the offline arm is not in 'tiny': not run, no fail
    assert "NOT RUN" in capsys.readouterr().out
    impossible = Claim(
        "tiny.impossible", "fig11", "MLE beats online IQLearn by 2 (success rates cannot differ by 2)", "eval/success_rate",
        Arm("MLE", {"algorithm": "mle"}), Arm("online", {"algorithm": "iqlearn_online"}), "greater", margin=2.0, min_seeds=2,
    )
    monkeypatch.setattr(html, "CLAIMS", [impossible])
    assert main(["check", "--suite", "tiny"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_text_cells_section_lists_each_cell_with_its_metrics(store_uri):
    from reports.runs import RunRecord

    run = RunRecord(
        "run123", "cellabc", "text-smoke", {"task": "xsum", "algorithm": "iqlearn", "model": "t5-tiny"}, {},
        {"eval/rouge1": 3.25, "eval/self_bleu": 1.5, "eval/per_token_entropy": 3.6, "eval/mean_length": 31.0,
         "eval/reward_corr/rouge1": 0.1}, 0,
    )
    page = html.build("s", [run], [("cellabc", "text-smoke"), ("other", "fig11")], store_uri)
    assert "Text cells: wiring check" in page and "rouge1 3.25" in page and "run123" in page
    assert "reward_corr" not in page  # reward correlations are not task metrics
    assert "No claim of the paper is checked on these cells." in page
    assert "both drawn from XSum" in page and "official test split" in page  # the data caveat reaches the provenance


def test_a_shared_cell_feeds_every_figure_that_lists_it():
    from reports.runs import RunRecord, place

    def record(cell, figure):
        return RunRecord(run_id=f"r-{cell}", cell=cell, figure=figure, params={}, tags={}, metrics={}, start_time=0)

    runs = [record("a", "fig2"), record("b", "fig5"), record("gone", "fig2")]
    placed = place(runs, [("a", "fig2"), ("a", "table2"), ("b", "fig5"), ("a", "fig2")])
    assert sorted((r.cell, r.figure) for r in placed) == [("a", "fig2"), ("a", "table2"), ("b", "fig5")]
    assert place(placed, [("a", "fig2"), ("a", "table2"), ("b", "fig5")]) == placed  # idempotent
