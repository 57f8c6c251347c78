"""Credentials never leave bench in what it prints or reports (bench/redact.py)."""

from bench import redact


def test_password_in_userinfo_is_masked_user_kept():
    assert redact.uri("https://alice:s3cret@mlflow.example:5000/api") == "https://alice:***@mlflow.example:5000/api"


def test_secret_query_values_are_masked_others_kept():
    masked = redact.uri("http://host:5000/?token=abc&experiment=7&aws_secret=xyz")
    assert "abc" not in masked and "xyz" not in masked
    assert "experiment=7" in masked and masked.count("***") == 2


def test_uris_without_credentials_are_unchanged():
    for value in ("sqlite:////tmp/runs/mlflow.db", "http://127.0.0.1:5000", "https://alice@host/x"):
        assert redact.uri(value) == value


def test_text_masks_every_uri_and_named_secrets():
    line = "cannot reach http://bob:pw1@h:1/ or https://c:pw2@k/ (password pw3)"
    out = redact.text(line, secrets=("pw3",))
    assert "pw1" not in out and "pw2" not in out and "pw3" not in out
    assert "http://bob:***@h:1/" in out


def test_a_failed_cells_error_keeps_no_password(tmp_path):
    """An error quoting a URI with a password is masked in the run's bench.error tag and error.txt artifact."""
    from mlflow.tracking import MlflowClient

    from bench.tracking import Store

    store = Store.open("failing", f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = store.client.create_run(store.experiment_id).info.run_id
    store.fail(run_id, ConnectionError("cannot reach http://alice:hunter2@tracking:5000/api/2.0"))
    run = MlflowClient(store.client.tracking_uri).get_run(run_id)
    assert "hunter2" not in run.data.tags["bench.error"] and "alice:***@tracking" in run.data.tags["bench.error"]
    text = open(store.client.download_artifacts(run_id, "error.txt", str(tmp_path))).read()
    assert "hunter2" not in text and "alice:***@" in text
