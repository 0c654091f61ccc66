"""``clvml validate`` through the path real users take: ``clvml.cli._app.run``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import clvml.cli.validate  # noqa: F401  (registers the command)
from clvml.cli._app import run
from clvml.data.io import write_table


def _folder(path: Path, amounts: list[float], customer_ids: list[str | None]) -> Path:
    path.mkdir()
    write_table(
        pd.DataFrame(
            {
                "customer_id": customer_ids,
                "timestamp": ["2024-01-02 10:00", "2024-01-02 12:00", "2024-01-09", "2024-02-01"],
                "amount": amounts,
            }
        ),
        path / "transactions.csv",
    )
    write_table(
        pd.DataFrame(
            {
                "customer_id": ["a", "b"],
                "acquisition_date": ["2023-12-01", "2023-12-02"],
                "acquisition_channel": ["referral", "organic"],
                "acquisition_cost": [4.0, 0.0],
            }
        ),
        path / "customers.parquet",
    )
    return path


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_good_folder_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _folder(tmp_path / "good", [10.0, 5.0, 3.0, 8.0], ["a", "a", "b", "b"])
    assert run(["validate", "--data", str(good), "--now", "2024-06-30"]) == 0
    out, err = capsys.readouterr()
    assert "transactions (transactions.csv): 4 rows read, 4 kept, 0 set aside; ok" in out
    assert "customers (customers.parquet): 2 rows read, 2 kept" in out
    assert err == ""


def test_bad_folder_exits_2_with_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _folder(tmp_path / "bad", [10.0, -5.0, 3.0, 8.0], ["a", "a", None, "b"])
    assert run(["validate", "--data", str(bad), "--now", "2024-06-30"]) == 2
    out, err = capsys.readouterr()
    assert "cannot be used" in out
    assert "missing_id" in out and "negative_amount" in out  # the report lists every rule
    (line,) = _lines(err)
    assert "column 'customer_id': 1 row is missing" in line
    assert "1 more rule fails" in line
    assert "Traceback" not in out + err


def test_policy_options_make_the_bad_folder_usable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _folder(tmp_path / "bad", [10.0, -5.0, 3.0, 8.0], ["a", "a", None, "b"])
    argv = ["validate", "--data", str(bad), "--now", "2024-06-30", "--returns", "net"]
    assert run([*argv, "--invalid", "drop"]) == 0
    out = capsys.readouterr().out
    assert "4 rows read, 2 kept, 2 set aside; ok" in out
    assert "return_netted" in out and "purchase_reduced" in out


def test_future_rows_fail_against_now(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _folder(tmp_path / "good", [10.0, 5.0, 3.0, 8.0], ["a", "a", "b", "b"])
    assert run(["validate", "--data", str(good), "--now", "2024-01-31"]) == 2
    (line,) = _lines(capsys.readouterr().err)
    assert "column 'timestamp': 1 row is after now" in line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data", "{tmp}/missing"], "no such folder"),
        (["--data", "{tmp}", "--now", "someday"], "now='someday' is not a date"),
        (["--data", "{tmp}", "--tz", "Nowhere/City"], "is not an IANA time zone"),
    ],
)
def test_user_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    folder = _folder(tmp_path / "data", [1.0, 2.0, 3.0, 4.0], ["a", "a", "b", "b"])
    argv = [a.replace("{tmp}", str(folder)) for a in argv]
    assert run(["validate", *argv]) == 2
    (line,) = _lines(capsys.readouterr().err)
    assert message in line


def test_unknown_policy_is_a_usage_error(tmp_path: Path) -> None:
    assert run(["validate", "--data", str(tmp_path), "--returns", "ignore"]) == 2


def test_database_url_as_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = sa.create_engine(url)
    pd.DataFrame(
        {"customer_id": ["a", "b"], "timestamp": ["2024-01-02", "2024-01-03"], "amount": [1.0, 2.0]}
    ).to_sql("transactions", engine, index=False)
    engine.dispose()
    assert run(["validate", "--data", url, "--now", "2024-06-30"]) == 0
    assert "transactions (table transactions): 2 rows read, 2 kept" in capsys.readouterr().out


def test_database_password_is_not_printed(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+psycopg://clv:s3cr3t-pw@127.0.0.1:1/shop"
    assert run(["validate", "--data", url]) == 2
    out, err = capsys.readouterr()
    (line,) = _lines(err)
    assert "clv:***@127.0.0.1:1/shop" in line
    assert "s3cr3t-pw" not in out + err
