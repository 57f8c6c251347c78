"""Bad command-line input to `bench run` / `bench report`: one sentence, the right exit status, no lost result."""

import pytest
from mlflow.tracking import MlflowClient

from bench.cells import Cell
from bench.cli import main
from bench.runner import _unclosed_bracket
from bench.suites import SuiteCell


def runs_of(uri, experiment):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=1000) if exp else []


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ----------------------------------------------------------------------------- cell labels


def test_label_names_the_model_and_leaves_the_hash_alone():
    t5 = Cell.make("arith", "mle", model="t5-tiny", seed=0, task_options={"steps": 1})
    dec = Cell.make("arith", "mle", model="dec-tiny", seed=0, task_options={"steps": 1})
    assert t5.label() == "arith(steps=1)/mle()/t5-tiny/seed0"
    assert dec.label() == "arith(steps=1)/mle()/dec-tiny/seed0"
    assert t5.hash == "02c270f0bbac5249"  # as before the model joined the label: the label is not hashed


def test_failure_lines_and_run_names_carry_the_model(store_uri, tiny_suite, capsys):
    no_learning_rate = Cell.make(
        "toy_mdp", "mle", model="tabular", seed=9, task_options={"variant": "recovery", "n": 4, "horizon": 6},
        train={"steps": 10},
    )
    tiny_suite.append(SuiteCell(no_learning_rate, "fig11"))
    assert main(["run", "--suite", "tiny", "--filter", "seed=9", "--no-report"]) == 1
    label = "toy_mdp(horizon=6,n=4,variant=recovery)/mle()/tabular/seed9"
    assert f"FAILED {label}: " in capsys.readouterr().err
    (run,) = runs_of(store_uri, "tiny")
    assert run.info.run_name == label


# ----------------------------------------------------------------------------- --filter


def test_a_filter_that_matches_no_cell_is_refused_with_the_values_it_could_take(capsys):
    assert main(["run", "--suite", "smoke", "--dry-run", "--filter", "figure=fig11,algorithm=iqlearn_offline"]) == 2
    err = one_line(capsys.readouterr().err)
    assert "--filter 'figure=fig11,algorithm=iqlearn_offline' matches none of the suite's" in err
    assert "algorithm: " in err and "iqlearn_online" in err and "mle" in err and "figure: " in err and "fig11" in err


@pytest.mark.parametrize("expr", ["seed=[01", "task.variant!=rec[overy"])
def test_an_unclosed_bracket_is_refused_naming_the_term(expr, capsys):
    assert main(["run", "--suite", "smoke", "--dry-run", "--filter", f"figure=fig11,{expr}"]) == 2
    err = one_line(capsys.readouterr().err)
    assert f"filter term {expr!r} opens a character class '[' it never closes" in err


def test_a_closed_bracket_still_selects(capsys):
    assert main(["run", "--suite", "smoke", "--dry-run", "--filter", "figure=fig11,seed=[01]"]) == 0


@pytest.mark.parametrize(
    "pattern, unclosed",
    [("[01]", False), ("[0", True), ("a[", True), ("[!]", True), ("[]]", False), ("[]", True), ("[!a]x", False),
     ("[[]", False), ("x*", False), ("[a][", True), ("", False)],
)
def test_unclosed_bracket_agrees_with_fnmatch(pattern, unclosed):
    import fnmatch
    import re

    assert _unclosed_bracket(pattern) == unclosed
    # fnmatch escapes a '[' it takes literally: "\[" outside any class in its regex
    assert bool(re.search(r"(?<![\[\\])\\\[", fnmatch.translate(pattern))) == unclosed


# ----------------------------------------------------------------------------- --out


def test_report_out_pointing_at_a_file_is_one_sentence_exit_2(store_uri, tiny_suite, tmp_path, capsys):
    (tmp_path / "taken").write_text("not a folder")
    for out in ("taken", "taken/sub"):
        assert main(["report", "--suite", "tiny", "--out", str(tmp_path / out)]) == 2
        err = one_line(capsys.readouterr().err)
        assert f"--out {tmp_path / out}: {tmp_path / 'taken'} is a file, not a folder" in err


def test_run_out_pointing_at_a_file_is_refused_before_any_training(store_uri, tiny_suite, tmp_path, capsys):
    (tmp_path / "taken").write_text("not a folder")
    assert main(["run", "--suite", "tiny", "--out", str(tmp_path / "taken")]) == 2
    assert "is a file, not a folder" in one_line(capsys.readouterr().err)
    assert runs_of(store_uri, "tiny") == []


def test_a_report_that_cannot_be_written_after_the_cells_leaves_their_results_and_exit_status(store_uri, tiny_suite, tmp_path, capsys):
    (tmp_path / "out" / "tiny.html").mkdir(parents=True)  # --out is a fine folder, but the page's name is taken
    assert main(["run", "--suite", "tiny", "--filter", "seed=0,algorithm=mle", "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "bench: the report was not written (cannot write the report" in err and "run `bench report --suite tiny`" in err
    assert [r.info.status for r in runs_of(store_uri, "tiny")] == ["FINISHED"]


# ----------------------------------------------------------------------------- reading a store


def test_report_on_a_missing_store_says_so_and_creates_nothing(store_uri, tiny_suite, tmp_path, capsys):
    assert main(["report", "--suite", "tiny", "--out", str(tmp_path / "out")]) == 1
    err = one_line(capsys.readouterr().err)
    assert f"cannot read the MLflow SQLite store {store_uri}: there is no file" in err
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "out").exists()


def test_report_notes_a_store_without_the_suites_experiment(store_uri, tiny_suite, tmp_path, capsys):
    MlflowClient(store_uri).create_experiment("another")
    assert main(["report", "--suite", "tiny", "--out", str(tmp_path / "out")]) == 0
    assert "has no experiment 'tiny', so every cell shows as not run" in capsys.readouterr().err
    assert MlflowClient(store_uri).get_experiment_by_name("tiny") is None  # reading created nothing
    assert (tmp_path / "out" / "tiny.html").is_file()


def test_report_refuses_a_file_that_is_not_an_mlflow_store(store_uri, tiny_suite, tmp_path, capsys):
    (tmp_path / "mlflow.db").write_bytes(b"")
    assert main(["check", "--suite", "tiny"]) == 1
    assert "holds no MLflow tables" in one_line(capsys.readouterr().err)
    assert (tmp_path / "mlflow.db").read_bytes() == b""  # no tables were created in it



# ----------------------------------------------------------------------------- a tracking server's refusals


@pytest.mark.parametrize(
    "status, body, login, says",
    [
        (200, "{}", False, None),
        (403, "Invalid Host header - possible DNS rebinding attack detected", False,
         "refuses requests addressed to mlflow.lab:5000 (403 Invalid Host header): start it with --allowed-hosts mlflow.lab:5000"),
        (401, "You are not authenticated.", False, "asks for a login (401): set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"),
        (401, "You are not authenticated.", True, "rejects the login given (401)"),
        (403, "Permission denied", True, "denies this account access (403)"),
        (502, "<html><body>Bad Gateway from https://bob:pw-in-body@proxy</body></html>", False,
         "answered HTTP 502 to an experiments search (<html><body>Bad Gateway from https://bob:***@proxy</body></html>)"),
    ],
)
def test_a_servers_refusal_is_one_sentence_naming_the_fix_with_credentials_masked(status, body, login, says):
    from bench.tracking import server_refusal

    sentence = server_refusal("http://alice:s3cret@mlflow.lab:5000", status, body, login)
    if says is None:
        assert sentence is None
        return
    assert says in sentence and "http://alice:***@mlflow.lab:5000" in sentence
    assert "s3cret" not in sentence and "pw-in-body" not in sentence and len(sentence.splitlines()) == 1
