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
