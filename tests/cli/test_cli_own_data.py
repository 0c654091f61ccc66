"""Your own data on every command (issue #16): column mapping, timestamp format, policies, URLs.

The same 300 customers of the bundled data/social are written in four layouts: the contract's
(Parquet, ISO timestamps), a shop's own CSV export (other column names, ``dd/mm/yyyy HH:MM``
dates), an SQLite database and a PostgreSQL database. Each command must read the own layouts,
given the flags, exactly as it reads the contract's; the raw CDNOW file with its 255 genuine
identical rows is read as it is distributed.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from clvml.cli import app  # noqa: F401  (registers every command)
from clvml.cli._app import run as cli_run

ROOT = Path(__file__).resolve().parents[2]
N = 300
#: The shop's names for the contract's columns, per table.
RENAMES = {
    "transactions": {"customer_id": "cust", "timestamp": "order_date", "amount": "total"},
    "engagement": {"customer_id": "cust", "timestamp": "event_time"},
    "customers": {"customer_id": "cust", "acquisition_date": "signup"},
}
COLUMNS = (
    "customer_id=cust,transactions.timestamp=order_date,amount=total,"
    "engagement.timestamp=event_time,acquisition_date=signup"
)
FORMAT = "%d/%m/%Y %H:%M"
OWN_FLAGS = ["--columns", COLUMNS, "--timestamp-format", FORMAT]


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    with threadpool_limits(1, user_api="openmp"):
        yield


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    from clvml.data.synthetic import load_social_commerce

    data = load_social_commerce()
    ids = set(data.customers["customer_id"].iloc[:N])
    out = {}
    for name in ("transactions", "engagement", "customers"):
        frame = getattr(data, name)
        frame = frame.loc[frame["customer_id"].isin(ids)].reset_index(drop=True)
        for c in frame.columns:  # minute resolution: what a dd/mm/yyyy HH:MM export keeps
            if pd.api.types.is_datetime64_any_dtype(frame[c]):
                frame[c] = frame[c].dt.floor("min")
        out[name] = frame
    return out


@pytest.fixture(scope="module")
def contract_folder(tables, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("contract")
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def own_folder(tables, tmp_path_factory) -> Path:
    """The shop's CSV export: its own column names and day-first dates."""
    folder = tmp_path_factory.mktemp("own")
    for name, frame in tables.items():
        frame = frame.copy()
        for c in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[c]):
                frame[c] = frame[c].dt.strftime(FORMAT)
        frame.rename(columns=RENAMES[name]).to_csv(folder / f"{name}.csv", index=False)
    return folder


def _to_database(tables: dict[str, pd.DataFrame], url: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        for name, frame in tables.items():
            frame.to_sql(name, engine, index=False, if_exists="replace")
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="module")
def sqlite_url(tables, tmp_path_factory) -> str:
    return _to_database(tables, f"sqlite:///{tmp_path_factory.mktemp('db') / 'shop.db'}")


@pytest.fixture(scope="module")
def pg_db(tables):
    """A PostgreSQL database of its own holding the three tables (skipped without a server)."""
    sa = pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg")
    admin = sa.create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT"
    )
    name = f"clvml_own_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server here
        admin.dispose()
        pytest.skip(f"no PostgreSQL server: {exc}")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        yield _to_database(tables, url)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def _ok(argv: list[str], capsys) -> str:
    code = cli_run(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return " ".join(captured.out.split())


def _one_line(argv: list[str], capsys, *needles: str) -> str:
    code = cli_run(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


# ----------------------------------------------------------------------------- validate
def test_validate_reads_the_shops_layout_with_the_flags(own_folder, tables, capsys):
    out = _ok(["validate", "--data", str(own_folder), *OWN_FLAGS], capsys)
    for name, frame in tables.items():
        n = len(frame)
        assert f"{name} ({name}.csv): {n:,} rows read, {n:,} kept, 0 set aside; ok" in out
    assert "The data can be used." in out


def test_validate_without_the_mapping_names_the_flag(own_folder, capsys):
    _one_line(["validate", "--data", str(own_folder)], capsys, "customer_id", "--columns")


def test_day_first_dates_without_a_format_are_refused_naming_the_flag(own_folder, capsys):
    err = _one_line(
        ["validate", "--data", str(own_folder), "--columns", COLUMNS],
        capsys,
        "cannot be read as ISO 8601",
        "--timestamp-format",
    )
    assert "duplicate" not in err


def test_unreadable_dates_are_not_counted_as_duplicates(tmp_path, capsys):
    """Five rows of one customer on five days written dd/mm: one real duplicate, not four."""
    rows = ["31/01/2024", "30/01/2024", "29/01/2024", "28/01/2024", "28/01/2024"]
    pd.DataFrame({"customer_id": "a", "timestamp": rows, "amount": 1.0}).to_csv(
        tmp_path / "transactions.csv", index=False
    )
    assert cli_run(["validate", "--data", str(tmp_path)]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert re.search(r"\b1 duplicate_row\b", out), out
    assert "5 unparseable_timestamp" in out


def test_a_mapping_onto_no_column_is_one_line_listing_the_columns(own_folder, capsys):
    _one_line(
        ["validate", "--data", str(own_folder), "--columns", "amount=price"],
        capsys,
        "--columns amount=price: no column 'price'",
        "total",
    )


def test_a_mapping_key_that_is_no_contract_column_is_refused(own_folder, capsys):
    _one_line(
        ["validate", "--data", str(own_folder), "--columns", "client=cust"],
        capsys,
        "'client' is not a column of the data contracts",
        "customer_id",
    )


def test_raw_cdnow_file_with_its_genuine_duplicates(capsys):
    raw = ROOT / "data" / "cdnow" / "CDNOW_master.txt"
    flags = ["--columns", "timestamp=date,amount=dollar_value,quantity=number_of_cds"]
    flags += ["--timestamp-format", "%Y%m%d"]
    err = _one_line(["validate", "--data", str(raw), *flags], capsys, "255 rows are exact dup")
    assert "--duplicates keep" in err
    out = _ok(["validate", "--data", str(raw), *flags, "--duplicates", "keep"], capsys)
    assert "69,659 rows read, 69,659 kept, 0 set aside; ok" in out
    assert re.search(r"255 duplicate_row .* kept", out), out


# ----------------------------------------------------------------------------- evaluate
def _evaluate_table(argv: list[str], capsys, tmp_path: Path, tag: str) -> pd.DataFrame:
    out = tmp_path / f"{tag}.csv"
    _ok([*argv, "--out", str(out)], capsys)
    return pd.read_csv(out)


EVAL = ["--calibration-end", "2025-06-29", "--horizon-weeks", "52", "--supervised", "customers"]


@pytest.mark.slow
def test_evaluate_gives_the_same_table_from_every_layout(
    contract_folder, own_folder, sqlite_url, pg_db, capsys, tmp_path
):
    want = _evaluate_table(
        ["evaluate", "--data", str(contract_folder), *EVAL], capsys, tmp_path, "a"
    )
    for tag, argv in {
        "own": ["evaluate", "--data", str(own_folder), *EVAL, *OWN_FLAGS],
        "sqlite": ["evaluate", "--data", sqlite_url, *EVAL],
        "postgres": ["evaluate", "--data", pg_db, *EVAL],
    }.items():
        got = _evaluate_table(argv, capsys, tmp_path, tag)
        pd.testing.assert_frame_equal(got, want, obj=tag)


@pytest.mark.slow
def test_raw_cdnow_file_is_evaluated_from_the_cli(capsys, tmp_path):
    """The raw CDNOW file as distributed (whitespace columns, yyyymmdd dates, 255 repeats).

    On the deployable protocol of docs/model_comparison.md (26-week horizon: the earlier
    window the supervised parts learn on fits in the history, so every method is a row).
    """
    raw = ROOT / "data" / "cdnow" / "CDNOW_master.txt"
    argv = ["evaluate", "--data", str(raw), "--calibration-end", "1997-12-31"]
    argv += ["--holdout-end", "1998-06-30", "--duplicates", "keep", "--timestamp-format", "%Y%m%d"]
    argv += ["--columns", "timestamp=date,amount=dollar_value,quantity=number_of_cds"]
    table = _evaluate_table(argv, capsys, tmp_path, "cdnow")
    assert {"closed_form", "btyd", "hybrid"} <= set(table["method"])
    assert (table.set_index("method").loc["btyd", "normalized_gini"]) > 0.3


# ----------------------------------------------------------------------------- other commands
IMPACT = ["--calibration-end", "2025-06-29", "--horizon-weeks", "52"]


def _impact_json(argv: list[str], capsys, path: Path) -> dict:
    import json

    _ok([*argv, "--out", str(path)], capsys)
    return json.loads(path.read_text())


def test_impact_reads_the_shops_layout_and_databases(
    contract_folder, own_folder, sqlite_url, pg_db, capsys, tmp_path
):
    want = _impact_json(
        ["impact", "--data", str(contract_folder), *IMPACT], capsys, tmp_path / "a.json"
    )
    for tag, argv in {
        "own": ["impact", "--data", str(own_folder), *IMPACT, *OWN_FLAGS],
        "sqlite": ["impact", "--data", sqlite_url, *IMPACT],
        "postgres": ["impact", "--data", pg_db, *IMPACT],
    }.items():
        got = _impact_json(argv, capsys, tmp_path / f"{tag}.json")
        assert got == want, tag


def test_validate_reads_a_postgresql_url(pg_db, tables, capsys):
    out = _ok(["validate", "--data", pg_db], capsys)
    n = len(tables["transactions"])
    assert f"transactions (table transactions): {n:,} rows read, {n:,} kept" in out
    assert "postgres@127.0.0.1" in out


def test_score_reads_the_shops_layout(contract_folder, own_folder, capsys, tmp_path):
    """The same customers scored from the shop's CSV and from the contract's Parquet."""
    from clvml.scoring.crm import CRMSink

    model = str(ROOT / "models" / "clvml")
    got = {}
    for tag, argv in {
        "contract": ["--data", str(contract_folder)],
        "own": ["--data", str(own_folder), *OWN_FLAGS],
    }.items():
        crm = f"sqlite:///{tmp_path / tag}.db"
        _ok(["score", "--model", model, "--crm-url", crm, *argv], capsys)
        got[tag] = CRMSink(crm).read_scores().drop(columns=["scored_at", "run_id"])
    assert len(got["own"]) > 0
    pd.testing.assert_frame_equal(got["own"], got["contract"])


def test_train_config_columns_and_flags_override_it(own_folder, tmp_path):
    from clvml.pipelines.config import load_config

    path = tmp_path / "train.toml"
    path.write_text(
        f'[data]\nsource = "{own_folder}"\ntimestamp_format = "{FORMAT}"\nduplicates = "keep"\n'
        '[data.columns]\ncustomer_id = "cust"\namount = "total"\n'
    )
    cfg = load_config(path)
    assert cfg["data"]["columns"] == {"customer_id": "cust", "amount": "total"}
    flags = cfg.override(columns="customer_id=client_no", duplicates="drop", tz="Europe/Madrid")
    assert flags["data"]["columns"] == {"customer_id": "client_no"}
    assert (flags["data"]["duplicates"], flags["data"]["tz"]) == ("drop", "Europe/Madrid")
    assert flags["data"]["timestamp_format"] == FORMAT  # not given: the config's
    bad = tmp_path / "bad.toml"
    bad.write_text('[data.columns]\nclient = "cust"\n')
    with pytest.raises(ValueError, match=r"data\.columns: 'client' is not a column"):
        load_config(bad)


def test_train_tables_of_the_shops_layout(own_folder, contract_folder, tables):
    """train reads through the same mapping: its validated tables equal the contract's."""
    from clvml.pipelines.config import load_config
    from clvml.pipelines.engine import load_tables_of, validate_tables

    own = load_config(None).override(data=str(own_folder), columns=COLUMNS, timestamp_format=FORMAT)
    ref = load_config(None).override(data=str(contract_folder))
    got, _ = validate_tables(load_tables_of(own)[0], own)
    want, _ = validate_tables(load_tables_of(ref)[0], ref)
    for name in tables:
        pd.testing.assert_frame_equal(
            got[name].reset_index(drop=True), want[name].reset_index(drop=True), obj=name
        )
