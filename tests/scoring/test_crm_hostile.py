"""Hostile cases of the CRM sink (issue 15), on SQLite and PostgreSQL alike.

Tables clvml did not create for a role are never altered; reserved names are refused;
ids with a NUL character or of 20,000 characters are quarantined, not fatal; the run
table keeps one row per attempt (schema version 2, migrated from version 1); the job
lock can be held before the expensive part of a job.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from clvml.exceptions import DataValidationError
from clvml.scoring.crm import CRMSink
from clvml.scoring.errors import CRMLockError
from clvml.scoring.schema import MAX_ID_LENGTH, SCHEMA_VERSION

RUN = {"model_name": "bgnbd", "model_version": "3", "as_of": "2026-11-23"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def crm_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crm.db'}"
    return request.getfixturevalue("pg_url")


def _scores(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ids, "clv": np.arange(1.0, len(ids) + 1.0)})


def _columns(url: str, table: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        return [c["name"] for c in sa.inspect(engine).get_columns(table)]
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _sql(url: str, *statements: str) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            return [conn.exec_driver_sql(s) for s in statements][-1:]
    finally:
        engine.dispose()


# -- tables clvml did not create for that role ---------------------------------------------
@pytest.mark.parametrize("name", ["clvml_score_runs", "clvml_schema_version", "_clvml_stage_x"])
def test_reserved_table_names_are_refused_before_connecting(name: str, tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="reserved for clvml's own tables"):
        CRMSink(f"sqlite:///{tmp_path / 'crm.db'}", table=name)
    assert not (tmp_path / "crm.db").exists()


def test_foreign_quarantine_table_is_refused_and_left_alone(crm_url: str) -> None:
    _sql(
        crm_url,
        "CREATE TABLE x_quarantine (note TEXT NOT NULL, n INTEGER)",
        "INSERT INTO x_quarantine VALUES ('theirs', 1)",
    )
    with CRMSink(crm_url, table="x") as sink, pytest.raises(DataValidationError) as info:
        sink.write(_scores(["a", "b"]), **RUN)
    assert "did not create it as the quarantine of 'x'" in str(info.value)
    assert "\n" not in str(info.value)
    # nothing altered, nothing created
    assert _columns(crm_url, "x_quarantine") == ["note", "n"]
    assert _tables(crm_url) == {"x_quarantine"}


@pytest.mark.parametrize("name", ["alerts", "alert_deliveries", "customer_score_history"])
def test_a_namesake_of_a_clvml_table_is_refused_and_left_alone(crm_url: str, name: str) -> None:
    # a CRM with its own table of that name (e.g. an 'alerts' table of another system)
    _sql(
        crm_url,
        f"CREATE TABLE {name} (customer_id TEXT, note TEXT NOT NULL)",
        f"INSERT INTO {name} VALUES ('a', 'theirs')",
    )
    with CRMSink(crm_url) as sink, pytest.raises(DataValidationError) as info:
        sink.write(_scores(["a", "b"]), **RUN)
    assert f"table {name!r} exists but is not clvml's" in str(info.value)
    assert "\n" not in str(info.value)
    assert _columns(crm_url, name) == ["customer_id", "note"]
    assert _tables(crm_url) == {name}


def test_score_table_named_like_a_quarantine_is_not_taken_over(crm_url: str) -> None:
    # an earlier job scored into a table named x_quarantine; then --table x comes along
    with CRMSink(crm_url, table="x_quarantine") as first:
        first.write(_scores(["a", "b", "c"]), **RUN)
        before_cols = _columns(crm_url, "x_quarantine")
        before = first.read_scores()
    with (
        CRMSink(crm_url, table="x") as sink,
        pytest.raises(DataValidationError, match="x_quarantine"),
    ):
        sink.write(_scores(["d"]), **RUN)
    assert _columns(crm_url, "x_quarantine") == before_cols
    with CRMSink(crm_url, table="x_quarantine") as first:
        pd.testing.assert_frame_equal(first.read_scores(), before)
    assert "x" not in _tables(crm_url)


def test_a_quarantine_table_is_not_used_as_a_score_table(crm_url: str) -> None:
    with CRMSink(crm_url, table="y") as sink:
        sink.write(_scores(["a", "b"]).assign(clv=[1.0, -1.0]), **RUN)
        before_cols = _columns(crm_url, "y_quarantine")
        assert len(sink.read_quarantine()) == 1
    with (
        CRMSink(crm_url, table="y_quarantine") as other,
        pytest.raises(DataValidationError, match="is the quarantine table of score table 'y'"),
    ):
        other.write(_scores(["c"]), **RUN)
    assert _columns(crm_url, "y_quarantine") == before_cols


def test_table_without_customer_key_is_refused_before_any_column_is_added(crm_url: str) -> None:
    _sql(crm_url, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    with (
        CRMSink(crm_url, table="notes") as sink,
        pytest.raises(DataValidationError, match="customer_id as its primary key"),
    ):
        sink.migrate()
    assert _columns(crm_url, "notes") == ["id", "body"]


# -- ids a database index cannot hold ---------------------------------------------------------
def test_nul_and_very_long_ids_are_quarantined_not_fatal(crm_url: str) -> None:
    ids = ["ok-1", "nul\x00id", "z" * 20_000, "y" * MAX_ID_LENGTH, "ok-2"]
    rejected = pd.DataFrame({"customer_id": ["in\x00put"], "reason": ["unknown customer id"]})
    with CRMSink(crm_url) as sink:
        res = sink.write(_scores(ids), rejected=rejected, **RUN)
        assert (res.rows_read, res.rows_written, res.rows_quarantined) == (6, 3, 3)
        assert sorted(sink.read_scores()["customer_id"]) == ["ok-1", "ok-2", "y" * MAX_ID_LENGTH]
        q = sink.read_quarantine().set_index("row_number")
        runs = sink.read_runs()
    assert runs["status"].tolist() == ["succeeded"]
    # the same rows on SQLite and PostgreSQL: NUL shown as \x00, long ids kept whole
    assert q.loc[1, "customer_id"] == "nul\\x00id"
    assert q.loc[1, "reason"] == "customer_id contains a NUL character"
    assert q.loc[2, "customer_id"] == "z" * 20_000
    assert q.loc[2, "reason"] == f"customer_id longer than {MAX_ID_LENGTH} characters"
    assert q.loc[5, "customer_id"] == "in\\x00put"


# -- the run table keeps every attempt --------------------------------------------------------
def test_every_attempt_keeps_its_own_row(crm_url: str) -> None:
    with CRMSink(crm_url) as sink:
        first = sink.write(_scores(["a", "b"]), **RUN)
        # a later attempt of the same run fails: the earlier success stays on record
        with pytest.raises(RuntimeError), sink.run(**RUN):
            raise RuntimeError("disk full")
        # a killed attempt: its row says running until the next job marks it abandoned
        killed = sink.run(**RUN)
        killed.__enter__()
        killed._lock.__exit__(None, None, None)  # the process died: lock gone, row left
        killed._conn.close()
        killed._conn = None
        assert sink.read_attempts()["status"].tolist() == ["succeeded", "failed", "running"]
        sink.write(_scores(["a", "b", "c"]), **RUN)
        att = sink.read_attempts()
        runs = sink.read_runs()
    assert att["run_id"].eq(first.run_id).all()
    assert att["attempts"].tolist() == [1, 2, 3, 4]
    assert att["status"].tolist() == ["succeeded", "failed", "failed", "succeeded"]
    assert att["rows_written"].iloc[0] == 2 and att["rows_written"].iloc[3] == 3
    assert att["error"].iloc[1].startswith("RuntimeError: disk full")
    assert att["error"].iloc[2].startswith("abandoned")
    assert att["scored_at"].nunique() == 1  # the run's first start, on every attempt
    # one row per run: its latest attempt, with how many attempts it took
    assert runs[["status", "attempts"]].values.tolist() == [["succeeded", 4]]


def test_version_1_run_table_is_migrated_to_one_row_per_attempt(crm_url: str) -> None:
    _sql(
        crm_url,
        "CREATE TABLE customer_scores (customer_id TEXT PRIMARY KEY, clv FLOAT NOT NULL,"
        " clv_lower FLOAT, clv_upper FLOAT, p_alive FLOAT, churn_probability FLOAT,"
        " expected_purchases FLOAT, expected_avg_spend FLOAT, segment TEXT, value_tier TEXT,"
        " model_name TEXT NOT NULL, model_version TEXT NOT NULL,"
        " scored_at TIMESTAMP WITH TIME ZONE NOT NULL, run_id TEXT NOT NULL)",
        "CREATE TABLE customer_scores_quarantine (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL,"
        " row_number INTEGER NOT NULL, customer_id TEXT, reason TEXT NOT NULL, payload TEXT,"
        " quarantined_at TIMESTAMP WITH TIME ZONE NOT NULL)",
        "CREATE TABLE clvml_score_runs (run_id TEXT PRIMARY KEY, table_name TEXT NOT NULL,"
        " model_name TEXT NOT NULL, model_version TEXT NOT NULL, as_of DATE,"
        " status TEXT NOT NULL, rows_read BIGINT, rows_scored BIGINT, rows_written BIGINT,"
        " rows_quarantined BIGINT, attempts INTEGER NOT NULL,"
        " scored_at TIMESTAMP WITH TIME ZONE NOT NULL,"
        " started_at TIMESTAMP WITH TIME ZONE NOT NULL, finished_at TIMESTAMP WITH TIME ZONE,"
        " timings TEXT, error TEXT)",
        "CREATE TABLE clvml_schema_version (table_name TEXT PRIMARY KEY, version INTEGER NOT NULL,"
        " migrated_at TIMESTAMP WITH TIME ZONE NOT NULL)",
        "INSERT INTO clvml_score_runs (run_id, table_name, model_name, model_version, status,"
        " attempts, scored_at, started_at) VALUES ('old-run', 'customer_scores', 'm', '1',"
        " 'succeeded', 3, '2026-01-01 00:00:00+00', '2026-01-02 00:00:00+00')",
        "INSERT INTO clvml_schema_version VALUES ('customer_scores', 1, '2026-01-01 00:00:00+00')",
    )
    with CRMSink(crm_url) as sink:
        sink.migrate()
        with sink.connect() as conn:
            pk = sa.inspect(conn).get_pk_constraint("clvml_score_runs")["constrained_columns"]
            version = conn.exec_driver_sql(
                "SELECT version FROM clvml_schema_version WHERE table_name = 'customer_scores'"
            ).scalar()
        assert sorted(pk) == ["attempts", "run_id"] and version == SCHEMA_VERSION == 3
        old = sink.read_attempts()
        assert old[["run_id", "attempts", "status"]].values.tolist() == [
            ["old-run", 3, "succeeded"]
        ]
        res = sink.write(_scores(["a"]), run_id="old-run", model_name="m", model_version="1")
        att = sink.read_attempts()
    assert res.rows_written == 1
    assert att[["attempts", "status"]].values.tolist() == [[3, "succeeded"], [4, "succeeded"]]


# -- the job lock, held before the expensive part of a job -----------------------------------
def test_lock_held_before_the_work_makes_a_second_job_fail_at_once(crm_url: str) -> None:
    with CRMSink(crm_url) as holder, holder.hold_lock():
        with CRMSink(crm_url) as other, pytest.raises(CRMLockError):
            other.write(_scores(["x"]), **RUN)
        with CRMSink(crm_url) as other, pytest.raises(CRMLockError), other.hold_lock():
            pass
        # the holder's own run uses the lock it holds
        res = holder.write(_scores(["a", "b"]), **RUN)
    assert res.rows_written == 2
    with CRMSink(crm_url) as after:  # released at the end of the block
        assert after.write(_scores(["c"]), **RUN).rows_written == 1
