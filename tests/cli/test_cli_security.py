"""Hostile cases of ``clvml score`` (issue 15): secrets in URLs, model folders, the CRM tables.

The model is the committed export ``models/clvml``, scored on 300 customers of data/social.
"""

from __future__ import annotations

import logging
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
