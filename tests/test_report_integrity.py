"""What reaches the report from the store is shown as text, and each cell stands for one agreed result.

Runs are forged in a real SQLite MLflow store: tags and param values through the client, markup in metric and
param names (which the client refuses) by writing the store's tables directly, as someone with the file could.
"""

import sqlite3
from html.parser import HTMLParser

import pytest
from mlflow.tracking import MlflowClient

from bench.runner import run_suite
from reports import html
from reports.claims import evaluate
from reports.references import CLAIMS
from reports.runs import RunRecord, load_runs, place, resolve

SCRIPT = "<script>alert(1)</script>"
IMG = "\"'><img src=x onerror=alert(2)>"
MARK = SCRIPT + IMG


class Elements(HTMLParser):
    """The elements, attribute names and text a browser would see in a page."""

    def __init__(self, page: str):
        super().__init__()
        self.tags, self.attributes, self.text = set(), set(), []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes |= {name for name, _ in attrs}

    def handle_data(self, data):
        self.text.append(data)


def forge(client: MlflowClient, experiment: str, cell: str, figure: str, params: dict, metrics: dict, tags=None,
          start_time: int | None = None) -> str:
    """A FINISHED run tagged as ``cell``; returns its id."""
    run = client.create_run(experiment, tags={"bench.cell": cell, "bench.figure": figure} | (tags or {}), start_time=start_time)
    run_id = run.info.run_id
    for key, value in params.items():
        client.log_param(run_id, key, value)
    for key, value in metrics.items():
        client.log_metric(run_id, key, value)
    client.set_terminated(run_id, "FINISHED")
    return run_id


def rename(uri: str, run_id: str, table_keys: dict[str, tuple[str, str]]) -> None:
    """Rename a run's metric or param keys in the SQLite file itself (MLflow's client refuses such names)."""
    with sqlite3.connect(uri[len("sqlite:///"):]) as db:
        for table, (old, new) in table_keys.items():
            db.execute(f"UPDATE {table} SET key = ? WHERE key = ? AND run_uuid = ?", (new, old, run_id))


def test_markup_from_the_store_is_shown_as_text_in_every_section(store_uri):
    client = MlflowClient(store_uri)
    experiment = client.create_experiment("forged")
    poisoned_tags = {t: MARK for t in ("bench.error", "bench.model", "bench.git_commit", "bench.versions", "bench.devices")}
    toy = {"algorithm": "iqlearn_online", "hp.form": "relaxed", "task": "toy_mdp"}
    forged = [
        ("fig11-a", "fig11", toy | {"task.variant": "recovery", "seed": MARK, "hp.lam": MARK, "hp.gamma": MARK}, {}),
        ("fig11-b", "fig11", toy | {"task.variant": MARK, "seed": "1", "algorithm": MARK}, {}),
        # two (gamma, lam) points, so the sensitivity table is drawn beside the forged one
        ("fig11-c", "fig11", toy | {"task.variant": "recovery", "seed": "0", "hp.lam": "0.1", "hp.gamma": "0.5"}, {}),
        ("fig11-d", "fig11", toy | {"task.variant": "recovery", "seed": "0", "hp.lam": "0.1", "hp.gamma": "0.9"}, {}),
        ("fig2-a", "fig2", {"task": MARK, "model": MARK, "algorithm": MARK, "hp.lam": MARK, "seed": "0", "renamed": "x"},
         {"eval/accuracy": 30.0, "eval/self_bleu": 40.0}),
        # a "$" in a label would start matplotlib's mathtext, and "$^$" is a formula it cannot parse
        ("fig2-b", "fig2", {"task": "gsm8k", "model": "t5$^$", "algorithm": "iqlearn", "hp.lam": "0.1", "seed": "0"},
         {"eval/accuracy": 31.0, "eval/self_bleu": 41.0}),
        ("text", "text-smoke", {"task": MARK, "algorithm": "mle", "model": MARK}, {"eval/renamed": 1.0}),
    ]
    forged = [(MARK + name, figure, params, metrics) for name, figure, params, metrics in forged]  # forged cell hashes too
    ids = {}
    for cell, figure, params, metrics in forged:
        ids[cell] = forge(client, experiment, cell, figure, params, {"eval/success_rate": 0.5} | metrics, poisoned_tags)
    rename(store_uri, ids[MARK + "fig2-a"], {"params": ("renamed", f"hp.{MARK}")})
    rename(store_uri, ids[MARK + "text"], {"metrics": ("eval/renamed", f"eval/{MARK}"),
                                           "latest_metrics": ("eval/renamed", f"eval/{MARK}")})

    runs = load_runs("forged", store_uri)
    by_cell = {r.cell: r for r in runs}
    assert f"eval/{MARK}" in by_cell[MARK + "text"].metrics and f"hp.{MARK}" in by_cell[MARK + "fig2-a"].params  # stored
    page = html.build("forged", runs, [(cell, figure) for cell, figure, _, _ in forged], store_uri, history=lambda *_: {})

    seen = Elements(page)
    assert "script" not in seen.tags and "img" not in seen.tags
    assert not {a for a in seen.attributes if a.startswith("on")}
    text = "".join(seen.text)
    assert text.count(SCRIPT) >= 10 and IMG in text  # the data did reach the page, as text
    assert "t5$^$" in text


def test_runs_of_a_cell_that_disagree_are_a_conflict_and_used_nowhere():
    def record(run_id, start, params_sha=None, code="abc", cell="c1", value=1.0):
        tags = {"bench.git_commit": code} | ({"bench.params_sha256": params_sha} if params_sha else {})
        return RunRecord(run_id, cell, "fig11", {"algorithm": "mle", "task.variant": "recovery"}, tags,
                         {"eval/success_rate": value}, start)

    agreed = resolve([record("old", 1, "h1"), record("new", 2, "h1")])
    assert [r.run_id for r in agreed] == ["new"] and not agreed.conflicts  # a rerun that agrees: the newest

    timing = resolve([record("t1", 1), record("t2", 2)])  # no parameters hash (timing cells): code decides
    assert [r.run_id for r in timing] == ["t2"] and not timing.conflicts

    for old, new, differs in (
        (record("old", 1, "h1"), record("new", 2, "h2", value=0.0), ("trained parameters",)),
        (record("old", 1, "h1"), record("new", 2, "h1", code="def"), ("code",)),
        (record("old", 1, "h1"), record("new", 2, "h2", code="def"), ("trained parameters", "code")),
        (record("old", 1, "h1"), record("new", 2, None), ("trained parameters",)),  # a hash where the cell logs one
        (record("old", 1), record("new", 2, code="abc+dirty"), ("code",)),
    ):
        found = resolve([old, new, record("other", 0, "h9", cell="c2")])
        assert [r.run_id for r in found] == ["other"]  # the cell in conflict is used nowhere, the other cell is
        (conflict,) = found.conflicts
        assert conflict.cell == "c1" and conflict.differs == differs and [r.run_id for r in conflict.runs] == ["new", "old"]


def test_bench_code_tag_is_the_code_identity_when_present():
    def record(run_id, start, tags):
        return RunRecord(run_id, "c", "fig11", {}, {"bench.params_sha256": "h"} | tags, {}, start)

    same_commit = [record("a", 1, {"bench.git_commit": "abc+dirty", "bench.code": "abc+dirty.111"}),
                   record("b", 2, {"bench.git_commit": "abc+dirty", "bench.code": "abc+dirty.222"})]
    assert resolve(same_commit).conflicts[0].differs == ("code",)  # two different dirty trees on one commit
    same_code = [record("a", 1, {"bench.git_commit": "abc", "bench.code": "abc"}), record("b", 2, {"bench.code": "abc"})]
    assert [r.run_id for r in resolve(same_code)] == ["b"]


def _cell_runs(client, experiment, entry, params_sha, start):
    cell = entry.cell
    return forge(client, experiment, cell.hash, entry.figure, {k: str(v) for k, v in cell.flat().items()},
                 {"eval/success_rate": 0.0}, {"bench.params_sha256": params_sha, "bench.git_commit": "abc"}, start_time=start)


def test_a_forged_run_of_a_cell_is_refused_and_listed_not_taken_as_newest(store_uri, tiny_suite):
    run_suite("tiny")
    real = load_runs("tiny", store_uri)
    assert len(real) == 4 and not real.conflicts
    target = tiny_suite[0]
    client = MlflowClient(store_uri)
    experiment = client.get_experiment_by_name("tiny").experiment_id
    forged_id = _cell_runs(client, experiment, target, "0" * 64, start=max(r.start_time for r in real) + 1000)

    runs = load_runs("tiny", store_uri)
    (conflict,) = runs.conflicts
    real_id = next(r.run_id for r in real if r.cell == target.cell.hash)
    assert conflict.cell == target.cell.hash and [r.run_id for r in conflict.runs] == [forged_id, real_id]
    assert {r.cell for r in runs} == {r.cell for r in real} - {target.cell.hash}  # neither run is used

    expected = [(e.cell.hash, e.figure) for e in tiny_suite]
    page = html.build("tiny", runs, expected, store_uri)
    section = page[page.index("id='conflicts'"):page.index("id='fig2'")]
    assert "Conflicts: 1 cell left out" in section and target.cell.hash in section
    assert forged_id in section and real_id in section and "trained parameters" in section
    assert "mlflow runs delete --run-id" in section  # how to settle it
    assert "3 / 4" in page  # the cell is not counted as done
    figure = page[page.index("<section id='fig11'>"):page.index("<section id='fig12'>")]
    assert forged_id not in figure and real_id not in figure
    for r in runs:  # every cell the report uses is shown with the run it used
        assert r.run_id in figure
    assert [evaluate(c, place(runs, expected)).values_a for c in CLAIMS if c.figure == "fig11"] == [
        evaluate(c, place([r for r in real if r.cell != target.cell.hash], expected)).values_a for c in CLAIMS if c.figure == "fig11"]

    client.delete_run(forged_id)  # settled as the report says: the forged run deleted, the real one is used again
    settled = load_runs("tiny", store_uri)
    assert not settled.conflicts and real_id in {r.run_id for r in settled}
    assert "Conflicts: none" in html.build("tiny", settled, expected, store_uri)


def test_a_forced_rerun_on_the_same_code_is_no_conflict_and_the_newest_is_used(store_uri, tiny_suite):
    run_suite("tiny", filter_expr="seed=0")
    first = {r.cell: r.run_id for r in load_runs("tiny", store_uri)}
    run_suite("tiny", filter_expr="seed=0", force=True)
    second = load_runs("tiny", store_uri)
    assert not second.conflicts and len(second) == 2
    assert all(r.run_id != first[r.cell] and r.tags["bench.params_sha256"] for r in second)


@pytest.mark.parametrize("versions", ["not json", "[1, 2]", '{"jax": "0.10.2"}'])
def test_provenance_reads_any_versions_tag(versions):
    run = RunRecord("r", "c", "fig11", {}, {"bench.versions": versions}, {}, 0)
    page = html.build("s", [run], [("c", "fig11")], "sqlite:///x.db", history=lambda *_: {})
    assert ("jax 0.10.2" if versions.startswith("{") else versions) in page
