"""Models of the MLflow registry are digest-checked before any of their code runs (issue 15).

A CLV model is logged and registered as ``clvml train`` does it
(:func:`clvml.tracking.pyfunc.log_clv_model`), then its files are changed in the artifact
store behind the registry's back. Loading it must be refused in one line, before the
planted code runs; ``--trust-model`` loads it and names it unverified.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

import clvml.cli  # noqa: F401  (registers every command)
from clvml.cli._app import run as cli_run
from clvml.scoring.crm import CRMSink

NAME = "registry-integrity"
AS_OF = "2025-06-30"


@pytest.fixture(scope="module")
def fitted(small_social: Path):
    import pandas as pd

    from clvml.data.validation import validate_customers, validate_engagement, validate_transactions
    from clvml.features.dataset import customer_features
    from clvml.models.composite import CLVModel

    tx = validate_transactions(pd.read_parquet(small_social / "transactions.parquet"))
    eng = validate_engagement(pd.read_parquet(small_social / "engagement.parquet"))
    cust = validate_customers(pd.read_parquet(small_social / "customers.parquet"))
    X = customer_features(tx, eng, cust, cutoff=AS_OF)
    model = CLVModel(horizon_weeks=52, methods=("btyd",), interval=None).fit(X)
    return model, X


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    from clvml.tracking.store import configure_mlflow

    return configure_mlflow(workdir=tmp_path_factory.mktemp("store")).tracking_uri


@pytest.fixture
def registered(fitted, store: str, monkeypatch: pytest.MonkeyPatch):
    """A new version of NAME (alias champion), logged as clvml train does; its files."""
    import mlflow

    from clvml.tracking.pyfunc import log_clv_model

    model, X = fitted
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    mlflow.set_tracking_uri(store)
    with mlflow.start_run() as run:
        info = log_clv_model(model, X, registered_model_name=NAME)
    version = str(info.registered_model_version)
    mlflow.MlflowClient().set_registered_model_alias(NAME, "champion", version)
    location = mlflow.MlflowClient().get_logged_model(info.model_id).artifact_location
    folder = Path(unquote(urlparse(location).path)) if "://" in location else Path(location)
    assert (folder / "MLmodel").is_file()
    return {
        "files": folder,
        "run_id": run.info.run_id,
        "info": info,
        "version": version,
        "uri": f"models:/{NAME}/{version}",
    }


def _uri(registered: dict, kind: str) -> str:
    return {
        "version": registered["uri"],
        "alias": f"models:/{NAME}@champion",
        "runs": f"runs:/{registered['run_id']}/{registered['info'].name}",
        "logged": f"models:/{registered['info'].model_id}",
    }[kind]


def _plant(folder: Path, marker: Path) -> None:
    code = folder / "_model_code.py"
    code.write_text(code.read_text() + f"\nopen({str(marker)!r}, 'w').write('ran')\n")


def test_logging_records_the_digests_on_the_version_the_run_and_the_logged_model(registered):
    import mlflow

    from clvml.tracking.integrity import manifest_digest
    from clvml.tracking.registry_integrity import DIGESTS_TAG, MANIFEST_TAG, model_digests

    client = mlflow.MlflowClient()
    files = model_digests(registered["files"])  # the bytes in the artifact store
    version_tags = client.get_model_version(NAME, registered["version"]).tags
    assert json.loads(version_tags[DIGESTS_TAG]) == files
    assert version_tags[MANIFEST_TAG] == manifest_digest(files)
    assert {"MLmodel", "_model_code.py", "artifacts/clv_model.pkl"} <= set(files)
    run_tags = client.get_run(registered["run_id"]).data.tags
    assert run_tags[f"{MANIFEST_TAG}.{registered['info'].name}"] == manifest_digest(files)
    logged = client.get_logged_model(registered["info"].model_id).tags
    assert logged[MANIFEST_TAG] == manifest_digest(files)


def test_untouched_model_loads_by_every_uri(registered):
    from clvml.tracking.scoring_model import load_scoring_model

    for kind in ("version", "alias", "runs", "logged"):
        loaded = load_scoring_model(_uri(registered, kind))
        assert "unverified" not in loaded.version
        if kind in ("version", "alias"):
            assert (loaded.name, loaded.version) == (NAME, registered["version"])


@pytest.mark.parametrize(
    ("tamper", "kind"),
    [("code", "version"), ("pickle", "alias"), ("added", "alias"), ("removed", "runs")],
)
def test_tampered_registry_artifact_is_refused_before_any_of_its_code_runs(
    registered, tmp_path: Path, tamper: str, kind: str
):
    from clvml.tracking.integrity import ModelIntegrityError
    from clvml.tracking.scoring_model import load_scoring_model

    uri = _uri(registered, kind)
    files: Path = registered["files"]
    marker = tmp_path / "pwned"
    if tamper == "code":
        _plant(files, marker)
    elif tamper == "pickle":
        pkl = files / "artifacts" / "clv_model.pkl"
        pkl.write_bytes(pkl.read_bytes() + b"\x00")
    elif tamper == "added":
        (files / "artifacts" / "extra.py").write_text("import os\n")
    else:
        (files / "artifacts" / "segment_scheme.json").unlink(missing_ok=True)
        (files / "input_example.json").unlink()
    with pytest.raises(ModelIntegrityError) as info:
        load_scoring_model(uri)
    msg = str(info.value)
    assert "\n" not in msg and "--trust-model" in msg and "not loaded" in msg
    assert uri in msg
    assert not marker.exists()  # nothing of the model ran


def test_trust_model_loads_a_tampered_version_and_names_it_unverified(registered, tmp_path):
    from clvml.tracking.scoring_model import load_scoring_model

    marker = tmp_path / "pwned"
    _plant(registered["files"], marker)
    loaded = load_scoring_model(f"models:/{NAME}@champion", trust_model=True)
    assert marker.exists()  # the operator vouched for it: it ran
    assert loaded.name == NAME
    assert loaded.version.startswith(f"{registered['version']}+unverified-sha256-")


def test_edited_digest_tag_and_a_version_without_digests_are_refused(registered, tmp_path):
    import mlflow

    from clvml.tracking.integrity import ModelIntegrityError
    from clvml.tracking.registry_integrity import DIGESTS_TAG, MANIFEST_TAG
    from clvml.tracking.scoring_model import load_scoring_model

    client = mlflow.MlflowClient()
    marker = tmp_path / "pwned"
    _plant(registered["files"], marker)
    version = registered["version"]
    tags = client.get_model_version(NAME, version).tags
    digests = json.loads(tags[DIGESTS_TAG])
    digests["_model_code.py"] = "0" * 64  # the list edited, its digest not
    client.set_model_version_tag(NAME, version, DIGESTS_TAG, json.dumps(digests))
    with pytest.raises(ModelIntegrityError, match="tag was changed"):
        load_scoring_model(registered["uri"])
    # a version registered behind clvml's back (no digests recorded)
    client.delete_model_version_tag(NAME, version, DIGESTS_TAG)
    client.delete_model_version_tag(NAME, version, MANIFEST_TAG)
    with pytest.raises(ModelIntegrityError, match="no artifact digests"):
        load_scoring_model(registered["uri"])
    assert not marker.exists()


def test_score_refuses_a_tampered_registry_model_in_one_line_and_writes_nothing(
    registered, small_social: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    marker = tmp_path / "pwned"
    _plant(registered["files"], marker)
    crm = f"sqlite:///{tmp_path / 'crm.db'}"
    argv = ["score", "--model", f"models:/{NAME}@champion", "--data", str(small_social)]
    code = cli_run([*argv, "--crm-url", crm, "--as-of", AS_OF])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "ModelIntegrityError" in err and "_model_code.py changed" in err
    assert not marker.exists()
    with CRMSink(crm) as sink:
        assert sink.read_runs().empty and sink.read_scores().empty


def test_export_refuses_a_tampered_registry_model(registered, tmp_path: Path):
    from clvml.tracking.export import export_model
    from clvml.tracking.integrity import ModelIntegrityError

    marker = tmp_path / "pwned"
    _plant(registered["files"], marker)
    out = tmp_path / "exported"
    with pytest.raises(ModelIntegrityError, match=r"_model_code\.py changed"):
        export_model(f"models:/{NAME}@champion", out)
    assert not out.exists() and not marker.exists()
