"""Where runs go (embedded store by default) and URLs without passwords."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clvml.tracking.store import configure_mlflow, redact_uri, resolve_tracking


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("postgresql://app:s3cret@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("postgresql+psycopg://app:s3/cr@t@db/x", "postgresql+psycopg://app:***@db/x"),
        ("https://user:tok@mlflow.example/#/x", "https://user:***@mlflow.example/#/x"),
        ("mysql://app@db/x", "mysql://app@db/x"),
        ("https://h/api?token=abc&sslmode=require", "https://h/api?token=***&sslmode=require"),
        ("postgresql://db/x?password=pw&user=a", "postgresql://db/x?password=***&user=a"),
        ("sqlite:////tmp/mlruns.db", "sqlite:////tmp/mlruns.db"),
        ("data/social", "data/social"),
    ],
)
def test_redact_uri(uri, expected):
    assert redact_uri(uri) == expected


def test_default_is_an_absolute_embedded_store(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = resolve_tracking(None, tmp_path)
    assert cfg.tracking_uri == f"sqlite:///{tmp_path.resolve() / 'mlruns.db'}"
    assert cfg.artifact_location == (tmp_path.resolve() / "mlartifacts").as_uri()


def test_environment_then_explicit_uri(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert resolve_tracking(None, tmp_path).tracking_uri == "http://127.0.0.1:5000"
    explicit = resolve_tracking("runs/store.db", tmp_path)
    assert explicit.tracking_uri == f"sqlite:///{tmp_path.resolve() / 'runs' / 'store.db'}"
    relative = resolve_tracking("sqlite:///x.db", tmp_path)
    assert relative.tracking_uri == f"sqlite:///{tmp_path.resolve() / 'x.db'}"


def test_configure_mlflow_creates_the_store_in_workdir(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    work = tmp_path / "work"
    configure_mlflow(None, "exp", workdir=work)
    with mlflow.start_run() as run:
        mlflow.log_text("x", "a.txt")
    assert (work / "mlruns.db").is_file()
    art = Path(mlflow.get_run(run.info.run_id).info.artifact_uri.removeprefix("file://"))
    assert (art / "a.txt").is_file() and work.resolve() in art.parents
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()


def test_configuring_mlflow_leaves_the_environment_as_the_user_set_it(tmp_path, monkeypatch):
    # mlflow.set_tracking_uri exports the URI to the environment; a second store chosen by
    # folder must not be redirected to the first one by that side effect.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first = configure_mlflow(workdir=tmp_path / "a")
    assert "MLFLOW_TRACKING_URI" not in os.environ
    second = configure_mlflow(workdir=tmp_path / "b")
    assert first.tracking_uri != second.tracking_uri
    assert second.tracking_uri.endswith("/b/mlruns.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", first.tracking_uri)
    configure_mlflow(workdir=tmp_path / "b")
    assert os.environ["MLFLOW_TRACKING_URI"] == first.tracking_uri
