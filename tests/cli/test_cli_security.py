"""Hostile cases of ``clvml score`` (issue 15): secrets in URLs, model folders, the CRM tables.

The model is the committed export ``models/clvml``, scored on 300 customers of data/social.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest

import clvml.cli  # noqa: F401  (registers every command)
from clvml.cli._app import run as cli_run
from clvml.scoring.crm import CRMSink

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "clvml"
SOCIAL = ROOT / "data" / "social"
N_CUSTOMERS = 300
PASSWORD = "Secr?et_42"

pytestmark = pytest.mark.skipif(not (MODEL / "MLmodel").is_file(), reason="no models/clvml")


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile") / "data"
    folder.mkdir()
    customers = pd.read_parquet(SOCIAL / "customers.parquet")
    ids = set(customers["customer_id"].iloc[:N_CUSTOMERS])
    for name in ("transactions", "engagement", "customers"):
        frame = pd.read_parquet(SOCIAL / f"{name}.parquet")
        frame.loc[frame["customer_id"].isin(ids)].to_parquet(folder / f"{name}.parquet")
    return folder


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def crm_with_query_password(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A CRM URL carrying the password as a query parameter (trust auth ignores it)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crm.db'}?password={quote(PASSWORD, safe='')}"
    pg_url = request.getfixturevalue("pg_url")
    return f"{pg_url}&password={quote(PASSWORD, safe='')}"


def _score(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli_run(["score", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.filterwarnings("ignore:Query string argument.*pysqlite")  # SQLite ignores it
def test_score_success_line_logs_and_run_table_hide_a_query_password(
    small_data: Path,
    crm_with_query_password: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    code, out, err = _score(
        ["--model", str(MODEL), "--data", str(small_data), "--crm-url", crm_with_query_password],
        capsys,
    )
    assert code == 0, err
    assert "password=***" in out.replace("\n", "")
    for secret in (PASSWORD, quote(PASSWORD, safe=""), "Secr"):
        assert secret not in out + err + caplog.text
    with CRMSink(crm_with_query_password) as sink:
        runs = sink.read_runs()
    assert (runs["status"] == "succeeded").all()
    assert not runs.astype(str).apply(lambda c: c.str.contains("Secr")).any().any()


@pytest.mark.parametrize("table", ["clvml_score_runs", "clvml_schema_version"])
def test_reserved_table_names_are_one_line(
    small_data: Path, table: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crm = tmp_path / "crm.db"
    argv = ["--model", str(MODEL), "--data", str(small_data), "--crm-url", f"sqlite:///{crm}"]
    code, _, err = _score([*argv, "--table", table], capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "reserved for clvml's own tables" in err
    assert not crm.exists()


def test_a_losing_concurrent_job_fails_before_loading_the_model(
    small_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import clvml.pipelines.score as score_mod
    from clvml.pipelines.score import score_customers
    from clvml.scoring.errors import CRMLockError

    crm = f"sqlite:///{tmp_path / 'crm.db'}"
    loaded: list[str] = []
    real = score_mod.load_scoring_model

    def spy(uri: str, **kw: object):
        loaded.append(uri)
        return real(uri, **kw)

    monkeypatch.setattr(score_mod, "load_scoring_model", spy)
    monkeypatch.setattr(score_mod, "prepare_inputs", lambda *a, **k: pytest.fail("features built"))
    with (
        CRMSink(crm) as running,
        running.hold_lock(),
        pytest.raises(CRMLockError, match="another scoring job"),
    ):
        score_customers(str(MODEL), small_data, crm, workdir=tmp_path)
    assert loaded == []  # the model was never loaded, no feature built


# -- model folders: loaded only if their files match the digests recorded at export ---------
@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(MODEL, dst)
    return dst


def _plant(folder: Path, marker: Path) -> None:
    """Code that leaves a marker file if the folder's _model_code.py is ever executed."""
    code = folder / "_model_code.py"
    code.write_text(code.read_text() + f"\nopen({str(marker)!r}, 'w').write('ran')\n")


def test_committed_model_folder_matches_its_digests() -> None:
    from clvml.tracking.integrity import verify_folder

    ident = verify_folder(MODEL)
    assert ident.verified and ident.name == "clvml"
    assert ident.version.startswith("1+sha256-") and ident.version.endswith(ident.digest)


@pytest.mark.parametrize("tamper", ["code", "pickle", "added", "removed", "manifest", "symlink"])
def test_tampered_folder_is_refused_before_any_of_its_code_runs(
    model_copy: Path, tmp_path: Path, tamper: str
) -> None:
    from clvml.tracking.integrity import ModelIntegrityError
    from clvml.tracking.scoring_model import load_scoring_model

    marker = tmp_path / "pwned"
    if tamper == "code":
        _plant(model_copy, marker)
    elif tamper == "pickle":
        pkl = model_copy / "artifacts" / "clv_model.pkl"
        pkl.write_bytes(pkl.read_bytes() + b"\x00")
    elif tamper == "added":
        (model_copy / "artifacts" / "extra.py").write_text("import os\n")
    elif tamper == "removed":
        (model_copy / "artifacts" / "segment_scheme.json").unlink()
    elif tamper == "manifest":  # new code, and its digest written into export.json by hand
        import hashlib
        import json

        _plant(model_copy, marker)
        info = json.loads((model_copy / "export.json").read_text())
        new = hashlib.sha256((model_copy / "_model_code.py").read_bytes()).hexdigest()
        info["artifacts_sha256"]["_model_code.py"] = new
        (model_copy / "export.json").write_text(json.dumps(info))
    else:
        (model_copy / "artifacts" / "link.json").symlink_to(model_copy / "MLmodel")
    with pytest.raises(ModelIntegrityError) as info:
        load_scoring_model(str(model_copy))
    msg = str(info.value)
    assert "\n" not in msg and "--trust-model" in msg and "not loaded" in msg
    assert not marker.exists()  # nothing of the folder ran


def test_score_refuses_a_tampered_folder_in_one_line_and_writes_nothing(
    small_data: Path, model_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "pwned"
    _plant(model_copy, marker)
    crm = f"sqlite:///{tmp_path / 'crm.db'}"
    argv = ["--model", str(model_copy), "--data", str(small_data), "--crm-url", crm]
    code, _, err = _score(argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "ModelIntegrityError" in err and "_model_code.py changed" in err
    assert not marker.exists()
    with CRMSink(crm) as sink:
        assert sink.read_runs().empty and sink.read_scores().empty
    # --trust-model: the operator vouches for it; it runs, and the CRM says it is unverified
    code, _, err = _score([*argv, "--trust-model"], capsys)
    assert code == 0, err
    assert marker.exists()
    with CRMSink(crm) as sink:
        runs, scores = sink.read_runs(), sink.read_scores()
    assert runs["model_name"].tolist() == ["model"]  # the folder, not export.json's label
    assert runs["model_version"].iloc[0].startswith("unverified-sha256-")
    assert set(scores["model_version"]) == set(runs["model_version"])


def test_verified_folder_is_recorded_with_the_digest_of_its_files(
    small_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from clvml.tracking.integrity import verify_folder

    crm = f"sqlite:///{tmp_path / 'crm.db'}"
    code, _, err = _score(
        ["--model", str(MODEL), "--data", str(small_data), "--crm-url", crm], capsys
    )
    assert code == 0, err
    with CRMSink(crm) as sink:
        runs = sink.read_runs()
    assert runs[["model_name", "model_version"]].values.tolist() == [
        ["clvml", verify_folder(MODEL).version]
    ]


# -- every command that loads a model checks it (and takes --trust-model) ---------------------
def test_every_command_loading_a_model_takes_trust_model() -> None:
    import typer.main

    from clvml.cli._app import app

    group = typer.main.get_command(app)
    ctx = group.make_context("clvml", [], resilient_parsing=True)
    loading = {}
    for name in group.list_commands(ctx):
        params = {p.name for p in group.get_command(ctx, name).params}
        if params & {"model", "model_uri"}:
            loading[name] = "trust_model" in params
    # score, report and segments load a model to serve or read it; export copies one
    assert {"score", "report", "segments", "export"} <= set(loading)
    assert all(loading.values()), loading


@pytest.fixture(scope="module")
def unsegmented_scores(small_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scores of the committed model without value_tier/segment (the scheme must be loaded)."""
    crm = f"sqlite:///{tmp_path_factory.mktemp('scored') / 'crm.db'}"
    argv = ["score", "--model", str(MODEL), "--data", str(small_data), "--crm-url", crm]
    assert cli_run(argv) == 0
    with CRMSink(crm) as sink:
        scores = sink.read_scores().drop(columns=["value_tier", "segment"])
    path = tmp_path_factory.mktemp("scores") / "scores.csv"
    scores.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("command", ["report", "segments"])
def test_report_and_segments_refuse_a_tampered_model_unless_trusted(
    command: str,
    unsegmented_scores: Path,
    model_copy: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    marker = tmp_path / "pwned"
    _plant(model_copy, marker)
    argv = [command, "--scores", str(unsegmented_scores), "--model", str(model_copy)]
    if command == "report":
        argv += ["--out", str(tmp_path / "report.html")]
    capsys.readouterr()
    code = cli_run(argv)
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "ModelIntegrityError" in err and "_model_code.py changed" in err
    assert not marker.exists() and not (tmp_path / "report.html").exists()
    code = cli_run([*argv, "--trust-model"])
    assert code == 0, capsys.readouterr().err
    assert marker.exists()  # vouched for: its code ran
    if command == "report":
        assert (tmp_path / "report.html").is_file()
