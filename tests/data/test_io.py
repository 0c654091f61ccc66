"""Reading and writing the input tables: CSV, Parquet, SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from clvml.data.folder import check_folder, validate_folder
from clvml.data.io import (
    DataSourceError,
    find_tables,
    load_folder,
    load_tables,
    read_table,
    safe_url,
    write_table,
)
from clvml.data.validation import validate_transactions

NOW = "2024-12-31"


@pytest.fixture
def transactions() -> pd.DataFrame:
    """A validated frame with the types a round trip must preserve."""
    raw = pd.DataFrame(
        {
            "customer_id": ["007", "007", "42", "x-1"],
            "timestamp": [
                "2024-01-02T10:00:00.250+01:00",
                "2024-02-03T11:30Z",
                "2024-01-05T00:00Z",
                "2024-03-01T23:59:59Z",
            ],
            "amount": [10.25, 20.5, 3.0, 0.0],
            "quantity": [1, 2, 1, 5],
            "order_id": ["o1", "o2", "o3", "o4"],
        }
    )
    return validate_transactions(raw, now=NOW)


def _round_trip(df: pd.DataFrame) -> pd.DataFrame:
    return validate_transactions(df, now=NOW).reset_index(drop=True)


@pytest.mark.parametrize("name", ["transactions.csv", "transactions.csv.gz", "t.parquet"])
def test_file_round_trip(tmp_path: Path, transactions: pd.DataFrame, name: str) -> None:
    path = write_table(transactions, tmp_path / name)
    back = read_table(path)
    assert back["customer_id"].tolist() == ["007", "007", "42", "x-1"]  # leading zeros kept
    pd.testing.assert_frame_equal(_round_trip(back), transactions.reset_index(drop=True))
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left


def test_sqlite_round_trip_by_table_and_by_query(
    tmp_path: Path, transactions: pd.DataFrame
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = sa.create_engine(url)
    transactions.to_sql("transactions", engine, index=False)
    engine.dispose()
    back = read_table(url, table="transactions")
    pd.testing.assert_frame_equal(_round_trip(back), transactions.reset_index(drop=True))
    some = read_table(
        url,
        query="SELECT * FROM transactions WHERE customer_id = :cid AND amount > :m",
        params={"cid": "007", "m": 15},
    )
    assert some["order_id"].tolist() == ["o2"]
    # a value that would be an injection is only a value
    none = read_table(
        url,
        query="SELECT * FROM transactions WHERE customer_id = :cid",
        params={"cid": "x' OR '1'='1"},
    )
    assert len(none) == 0


@pytest.mark.postgres
def test_postgres_round_trip(pg_url: str, transactions: pd.DataFrame) -> None:
    engine = sa.create_engine(pg_url)
    try:
        transactions.to_sql("transactions", engine, index=False)
        schema = sa.make_url(pg_url).query["options"].removeprefix("-csearch_path=")
        back = read_table(engine, table="transactions", schema=schema)
    finally:
        engine.dispose()
    pd.testing.assert_frame_equal(_round_trip(back), transactions.reset_index(drop=True))
    back = read_table(
        pg_url, query="SELECT * FROM transactions WHERE amount >= :m", params={"m": 10}
    )
    assert sorted(back["order_id"]) == ["o1", "o2"]
    assert list(load_tables(pg_url)) == ["transactions"]


@pytest.mark.parametrize(
    "name", ["transactions; DROP TABLE transactions", "a.b", "1abc", 'x"y', "", "a" * 64]
)
def test_table_names_must_be_plain_identifiers(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataSourceError, match="is not a plain SQL identifier"):
        read_table(f"sqlite:///{tmp_path / 'shop.db'}", table=name)


def test_schema_names_are_validated_too(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="schema name 'main;--' is not a plain"):
        read_table(f"sqlite:///{tmp_path / 'shop.db'}", table="t", schema="main;--")


def test_missing_database_table(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match=r"no table 'transactions'"):
        read_table(f"sqlite:///{tmp_path / 'empty.db'}", table="transactions")


def test_table_or_query_not_both(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="exactly one of table= or query="):
        read_table(f"sqlite:///{tmp_path / 'x.db'}", table="t", query="SELECT 1")


def test_password_never_in_messages() -> None:
    url = "postgresql+psycopg://clv:s3cr3t-pw@127.0.0.1:1/shop"
    assert "s3cr3t-pw" not in safe_url(url)
    with pytest.raises(DataSourceError) as info:
        read_table(url, table="transactions")
    assert "s3cr3t-pw" not in str(info.value)
    assert "clv:***@127.0.0.1:1/shop" in str(info.value)


def test_unknown_file_format(tmp_path: Path) -> None:
    (tmp_path / "transactions.xlsx").write_text("")
    with pytest.raises(DataSourceError, match=r"unknown file format '.xlsx'"):
        read_table(tmp_path / "transactions.xlsx")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_table(tmp_path / "nope.csv")


def test_corrupt_parquet(tmp_path: Path) -> None:
    (tmp_path / "t.parquet").write_text("not parquet")
    with pytest.raises(DataSourceError, match="cannot read as Parquet"):
        read_table(tmp_path / "t.parquet")


def test_load_folder_finds_the_tables(tmp_path: Path, transactions: pd.DataFrame) -> None:
    write_table(transactions, tmp_path / "transactions.parquet")
    customers = pd.DataFrame(
        {
            "customer_id": ["007", "42"],
            "acquisition_date": ["2023-01-01", "2023-02-01"],
            "acquisition_channel": ["referral", "organic"],
            "acquisition_cost": [3.0, 0.0],
        }
    )
    write_table(customers, tmp_path / "Customers.csv")
    (tmp_path / "truth.csv").write_text("ignored\n")
    assert sorted(find_tables(tmp_path)) == ["customers", "transactions"]
    tables = load_folder(tmp_path)
    assert len(tables["transactions"]) == 4 and len(tables["customers"]) == 2


def test_folder_without_transactions(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text("customer_id\n1\n")
    with pytest.raises(FileNotFoundError, match="no transactions file"):
        load_folder(tmp_path)


def test_folder_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_folder(tmp_path / "missing")


def test_table_in_two_formats_is_ambiguous(tmp_path: Path, transactions: pd.DataFrame) -> None:
    write_table(transactions, tmp_path / "transactions.csv")
    write_table(transactions, tmp_path / "transactions.parquet")
    with pytest.raises(DataSourceError, match="transactions is there twice"):
        load_folder(tmp_path)


def test_write_is_atomic_when_writing_fails(tmp_path: Path, transactions: pd.DataFrame) -> None:
    path = write_table(transactions, tmp_path / "transactions.parquet")
    before = path.read_bytes()
    unwritable = pd.DataFrame({"x": [1, "a", 2.5, object()]})  # pyarrow cannot store this column
    with pytest.raises(Exception):  # noqa: B017 - whatever pyarrow raises, the file must survive
        write_table(unwritable, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["transactions.parquet"]


def test_write_replaces_an_existing_file(tmp_path: Path, transactions: pd.DataFrame) -> None:
    path = write_table(transactions, tmp_path / "t.csv")
    write_table(transactions.iloc[:1], path)
    assert len(read_table(path)) == 1


def test_check_folder_on_sqlite_counts_cross_table_gaps(
    tmp_path: Path, transactions: pd.DataFrame
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = sa.create_engine(url)
    transactions.to_sql("transactions", engine, index=False)
    pd.DataFrame(
        {
            "customer_id": ["007", "nobody"],
            "timestamp": ["2024-01-01T00:00Z", "2024-01-02T00:00Z"],
            "channel": ["twitter", "email"],
            "kind": ["mention", "email_open"],
            "direction": ["inbound", "inbound"],
        }
    ).to_sql("engagement", engine, index=False)
    engine.dispose()
    check = check_folder(url, now=NOW)
    assert check.ok and list(check.reports) == ["transactions", "engagement"]
    (note,) = check.reports["engagement"].outcomes
    assert (note.rule, note.n_rows, note.action, note.example) == (
        "unknown_customer",
        1,
        "kept",
        "nobody",
    )
    assert check.reports["engagement"].rows_kept == 2
    assert set(validate_folder(url, now=NOW)) == {"transactions", "engagement"}
