"""The subscriptions table: contract, validation, loaders and ``clvml validate`` (issue #19)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import clvml.cli.validate  # noqa: F401  (registers the command)
from clvml.cli._app import run
from clvml.data.folder import check_folder
from clvml.data.io import load_tables, write_table
from clvml.data.validation import check_table, validate_subscriptions
from clvml.exceptions import DataValidationError

NOW = "2024-12-31"


def subs(**overrides: list) -> pd.DataFrame:
    """Four valid spells (customer a cancelled and came back); keywords replace columns."""
    data = {
        "customer_id": ["a", "a", "b", "c"],
        "start": ["2023-01-15", "2024-02-01", "2023-03-01", "2024-01-31"],
        "end": ["2023-06-15", None, "2024-03-01", ""],
        "period": ["month", "Month", "year", "month"],
        "plan": ["basic", "premium", "basic", None],
        "price_per_period": [9.99, 19.99, 99.0, None],
    }
    data.update(overrides)
    return pd.DataFrame(data)


def test_valid_spells_are_typed_and_kept() -> None:
    out, report = validate_subscriptions(subs(), now=NOW, return_report=True)
    assert report.rows_read == report.rows_kept == 4
    assert out["start"].dtype == "datetime64[us]"
    assert out["end"].isna().tolist() == [False, True, False, True]
    assert out["period"].tolist() == ["month", "month", "year", "month"]
    assert out["price_per_period"].dtype == "float64"


def test_only_required_columns_are_enough() -> None:
    frame = subs()[["customer_id", "start", "period"]].iloc[[0, 2, 3]]
    assert len(validate_subscriptions(frame, now=NOW)) == 3


def test_end_before_start_names_the_column_and_the_count() -> None:
    bad = subs(end=["2022-12-31", None, "2023-02-01", ""])
    with pytest.raises(DataValidationError, match=r"column 'end': 2 rows are before start"):
        validate_subscriptions(bad, now=NOW)
    kept, report = validate_subscriptions(bad, now=NOW, invalid="drop", return_report=True)
    assert len(kept) == 2 and report.rows_set_aside == 2
    assert [(o.rule, o.n_rows, o.action) for o in report.outcomes] == [
        ("end_before_start", 2, "set aside")
    ]
    assert sorted(report.set_aside["rule"]) == ["end_before_start"] * 2


def test_an_end_on_the_start_day_is_allowed() -> None:
    frame = subs(end=["2023-01-15", None, "2024-03-01", ""])
    assert len(validate_subscriptions(frame, now=NOW)) == 4


def test_overlapping_spells_of_one_customer() -> None:
    # a's second spell starts before the first ended; d's second starts while the first
    # is still active; b's two spells touch (one starts the day the other ends): fine
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b", "d", "d", "d"],
            "start": [
                "2023-01-01", "2023-05-01", "2023-01-01", "2023-06-01",
                "2023-01-01", "2023-03-01", "2024-01-01",
            ],
            "end": ["2023-06-01", None, "2023-06-01", None, None, "2023-04-01", None],
            "period": ["month"] * 7,
        }
    )  # fmt: skip
    with pytest.raises(
        DataValidationError, match=r"column 'start': 3 rows start before an earlier subscription"
    ):
        validate_subscriptions(frame, now=NOW)
    kept, report = validate_subscriptions(frame, now=NOW, invalid="drop", return_report=True)
    assert kept.index.tolist() == [0, 2, 3, 4]
    assert report.outcomes[0].rule == "overlapping_spells"
    assert report.outcomes[0].n_rows == 3


def test_overlap_is_found_whatever_the_row_order() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b", "a"],
            "start": ["2023-05-01", "2023-01-01", "2023-01-01"],
            "end": [None, None, "2023-06-01"],
            "period": ["month"] * 3,
        }
    )
    _, report = check_table(frame, "subscriptions", now=NOW)
    assert [(o.rule, o.n_rows, o.example) for o in report.errors] == [
        ("overlapping_spells", 1, "2023-05-01")
    ]


def test_unknown_period_and_negative_price() -> None:
    with pytest.raises(
        DataValidationError, match=r"column 'period': 1 row is not one of month, year"
    ):
        validate_subscriptions(subs(period=["month", "week", "year", "month"]), now=NOW)
    with pytest.raises(DataValidationError, match=r"column 'price_per_period': 1 row is negative"):
        validate_subscriptions(subs(price_per_period=[9.99, -1.0, 99.0, None]), now=NOW)


def test_missing_period_and_start_are_errors() -> None:
    with pytest.raises(DataValidationError, match=r"column 'period': 1 row is missing"):
        validate_subscriptions(subs(period=["month", None, "year", "month"]), now=NOW)
    with pytest.raises(DataValidationError, match=r"column 'start': 1 row is missing"):
        validate_subscriptions(subs(start=["2023-01-15", "2024-02-01", "", "2024-01-31"]), now=NOW)


def test_unknown_plans_only_when_the_plans_are_given() -> None:
    assert len(validate_subscriptions(subs(), now=NOW)) == 4  # any plan name by default
    with pytest.raises(
        DataValidationError,
        match=r"column 'plan': 1 row is not one of the known plans \(basic\) \(e.g. 'premium'\)",
    ):
        validate_subscriptions(subs(), now=NOW, plans=["basic"])
    kept, report = validate_subscriptions(
        subs(), now=NOW, plans=["basic"], invalid="drop", return_report=True
    )
    assert len(kept) == 3 and report.outcomes[0].rule == "unknown_plan"


def test_future_start_and_end_are_errors() -> None:
    with pytest.raises(DataValidationError, match=r"column 'end': 1 row is after now"):
        validate_subscriptions(subs(end=["2023-06-15", None, "2025-03-01", ""]), now=NOW)


def test_check_table_reports_every_rule_at_once() -> None:
    bad = subs(end=["2022-12-31", None, "2024-03-01", ""], period=["month", "day", "year", "x"])
    frame, report = check_table(bad, "subscriptions", now=NOW)
    assert frame is None
    assert sorted((o.rule, o.column, o.n_rows) for o in report.errors) == [
        ("end_before_start", "end", 1),
        ("unknown_category", "period", 2),
    ]


def _write_folder(path: Path, with_transactions: bool) -> Path:
    path.mkdir()
    write_table(subs(), path / "subscriptions.csv")
    if with_transactions:
        tx = pd.DataFrame({"customer_id": ["a"], "timestamp": ["2024-01-02"], "amount": [9.99]})
        write_table(tx, path / "transactions.parquet")
    return path


def test_a_folder_may_hold_subscriptions_without_transactions(tmp_path: Path) -> None:
    folder = _write_folder(tmp_path / "subs_only", with_transactions=False)
    assert list(load_tables(folder, require=("transactions", "subscriptions"))) == ["subscriptions"]
    check = check_folder(folder, now=NOW)
    assert check.ok and list(check.frames) == ["subscriptions"]
    with pytest.raises(FileNotFoundError, match="no transactions file"):
        load_tables(folder)  # the purchase workflows still need transactions


def test_parquet_and_csv_read_the_same(tmp_path: Path) -> None:
    a = _write_folder(tmp_path / "csv", with_transactions=True)
    b = tmp_path / "pq"
    b.mkdir()
    write_table(subs(), b / "subscriptions.parquet")
    fa = check_folder(a, now=NOW).frames["subscriptions"]
    fb = check_folder(b, now=NOW).frames["subscriptions"]
    pd.testing.assert_frame_equal(fa, fb)


def test_database_url_reads_the_subscriptions_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'subs.db'}"
    engine = sa.create_engine(url)
    subs().to_sql("subscriptions", engine, index=False)
    engine.dispose()
    check = check_folder(url, now=NOW)
    assert list(check.frames) == ["subscriptions"] and check.ok
    assert check.frames["subscriptions"]["end"].isna().sum() == 2


def test_subscriptions_of_customers_missing_from_customers_are_noted(tmp_path: Path) -> None:
    folder = _write_folder(tmp_path / "f", with_transactions=True)
    customers = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "acquisition_date": ["2023-01-01", "2023-02-01"],
            "acquisition_channel": ["referral", "organic"],
            "acquisition_cost": [10.0, 5.0],
        }
    )
    write_table(customers, folder / "customers.csv")
    report = check_folder(folder, now=NOW).reports["subscriptions"]
    assert [(o.rule, o.n_rows, o.action) for o in report.outcomes] == [
        ("unknown_customer", 1, "kept")
    ]


def test_cli_validate_reports_the_subscriptions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _write_folder(tmp_path / "ok", with_transactions=False)
    assert run(["validate", "--data", str(folder), "--now", NOW]) == 0
    out = capsys.readouterr().out
    assert "subscriptions (subscriptions.csv): 4 rows read, 4 kept, 0 set aside; ok" in out
    bad = tmp_path / "bad"
    bad.mkdir()
    write_table(subs(end=["2022-12-31", None, "2024-03-01", ""]), bad / "subscriptions.csv")
    assert run(["validate", "--data", str(bad), "--now", NOW, "--plans", "basic"]) == 2
    out, err = capsys.readouterr()
    assert "end_before_start" in out and "unknown_plan" in out
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "column 'end'" in lines[0]
    assert "Traceback" not in out + err


def test_cli_validate_reads_a_single_subscriptions_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_table(subs(), tmp_path / "subscriptions_2024.csv")
    assert run(["validate", "--data", str(path), "--now", NOW]) == 0
    assert "subscriptions (subscriptions_2024.csv): 4 rows read" in capsys.readouterr().out


def test_overlap_check_is_linear_enough() -> None:
    # 200k spells of 100k customers (two touching spells each) validate without a Python loop
    n = 100_000
    rng = np.random.default_rng(0)
    first = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    frame = pd.DataFrame(
        {
            "customer_id": np.r_[np.arange(n), np.arange(n)].astype(str),
            "start": np.r_[first, first + pd.Timedelta(days=60)],
            "end": np.r_[first + pd.Timedelta(days=60), np.full(n, pd.NaT)],
            "period": "month",
        }
    )
    assert len(validate_subscriptions(frame, now=NOW)) == 2 * n


def test_the_spark_engine_refuses_subscriptions_instead_of_skipping_their_rules() -> None:
    from clvml.spark.validate import validate_table

    with pytest.raises(ValueError, match="does not check subscriptions"):
        validate_table(None, "subscriptions")


def test_own_column_names_map_onto_the_subscriptions_contract(tmp_path: Path) -> None:
    from clvml.data.mapping import parse_columns

    folder = tmp_path / "own"
    folder.mkdir()
    own = subs().rename(columns={"start": "signup", "end": "cancelled_on", "period": "billing"})
    write_table(own, folder / "subscriptions.csv")
    mapping = parse_columns(
        "subscriptions.start=signup,end=cancelled_on,subscriptions.period=billing"
    )
    check = check_folder(folder, columns=mapping, now=NOW)
    assert check.ok
    assert check.frames["subscriptions"]["end"].notna().sum() == 2
    with pytest.raises(DataValidationError, match="'starts' is not a column of the data contracts"):
        parse_columns("starts=signup")


@pytest.mark.postgres
def test_postgres_subscriptions_with_date_columns_and_null_ends(pg_url: str) -> None:
    frame = subs().assign(
        start=lambda d: pd.to_datetime(d["start"]).dt.date,
        end=lambda d: pd.to_datetime(d["end"].replace("", None)).dt.date,
    )
    engine = sa.create_engine(pg_url)
    try:
        frame.to_sql("subscriptions", engine, index=False, dtype={"start": sa.Date, "end": sa.Date})
    finally:
        engine.dispose()
    check = check_folder(pg_url, now=NOW)
    assert check.ok and list(check.frames) == ["subscriptions"]
    got = check.frames["subscriptions"]
    assert got["start"].dtype == "datetime64[us]"
    assert got["end"].isna().tolist() == [False, True, False, True]
