"""CRM sink: atomic, idempotent, locked writes with quarantine, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import select
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames, range_indexes

from clvml.exceptions import ClvmlError, DataValidationError
from clvml.scoring.crm import CRMSink, ScoreRun
from clvml.scoring.errors import CRMConnectionError, CRMError, CRMLockError
from clvml.scoring.schema import SCHEMA_VERSION, validate_identifier
from clvml.scoring.validation import split_scores

RUN = {"model_name": "bgnbd+gg", "model_version": "3", "as_of": "2026-11-23"}


def make_scores(n: int, seed: int = 0, start: int = 0) -> pd.DataFrame:
    """Valid scores for customers c{start}..c{start+n-1}."""
    rng = np.random.default_rng(seed)
    clv = rng.gamma(2.0, 50.0, n)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:07d}" for i in range(start, start + n)],
            "clv": clv,
            "clv_lower": clv * 0.5,
            "clv_upper": clv * 1.5,
            "p_active": (p_active := rng.random(n)),
            "churn_probability": 1.0 - p_active,
            "p_alive_btyd": np.minimum(1.0, p_active + rng.random(n)),
            "expected_purchases": rng.gamma(1.0, 2.0, n),
            "expected_avg_spend": rng.gamma(3.0, 20.0, n),
            "segment": rng.choice(["champions", "at_risk", "hibernating"], n),
            "value_tier": rng.choice(["top_1", "top_10", "next_40", "rest"], n),
        }
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def crm_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crm.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def sink(crm_url: str):
    with CRMSink(crm_url) as s:
        yield s


def _score_values(sink: CRMSink) -> pd.DataFrame:
    cols = [
        "customer_id",
        "clv",
        "clv_lower",
        "clv_upper",
        "p_active",
        "churn_probability",
        "p_alive_btyd",
        "expected_purchases",
        "expected_avg_spend",
        "segment",
        "value_tier",
    ]
    return sink.read_scores()[cols]


def _table_names(sink: CRMSink) -> set[str]:
    with sink.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
        if conn.dialect.name == "sqlite":
            names |= set(sa.inspect(conn).get_temp_table_names())
    return names


# -- writing ---------------------------------------------------------------------------------
def test_write_round_trip(sink: CRMSink) -> None:
    scores = make_scores(500)
    res = sink.write(scores, **RUN, scored_at="2026-11-23T02:00:00Z")
    assert (res.rows_read, res.rows_scored, res.rows_written, res.rows_quarantined) == (
        500,
        500,
        500,
        0,
    )
    got = sink.read_scores()
    pd.testing.assert_frame_equal(
        got[scores.columns].reset_index(drop=True), scores, check_dtype=False
    )
    assert set(got["model_name"]) == {"bgnbd+gg"}
    assert set(got["model_version"]) == {"3"}
    assert set(got["run_id"]) == {res.run_id}
    stamp = pd.to_datetime(got["scored_at"], utc=True)
    assert (stamp == pd.Timestamp("2026-11-23T02:00:00Z")).all()
    runs = sink.read_runs()
    assert runs[["status", "rows_read", "rows_written", "rows_quarantined", "attempts"]].iloc[
        0
    ].tolist() == ["succeeded", 500, 500, 0, 1]
    assert str(runs["as_of"].iloc[0])[:10] == "2026-11-23"
    assert {"validate", "stage", "upsert", "quarantine"} <= set(runs["timings"].iloc[0])
    assert not any(n.startswith("_clvml_stage") for n in _table_names(sink))


def test_optional_columns_missing_are_null_and_index_ids_accepted(sink: CRMSink) -> None:
    scores = make_scores(5)[["customer_id", "clv"]].set_index("customer_id")
    sink.write(scores, **RUN)
    got = sink.read_scores()
    assert got["customer_id"].tolist() == scores.index.tolist()
    assert got[["p_alive_btyd", "segment", "clv_lower"]].isna().all().all()


def test_same_job_twice_leaves_the_same_table(sink: CRMSink) -> None:
    scores = make_scores(300)
    scores.loc[7, "clv"] = -1.0  # one quarantined row, to check the quarantine is not doubled
    first = sink.write(scores, **RUN)
    table1, quarantine1 = sink.read_scores(), sink.read_quarantine()
    second = sink.write(scores, **RUN)
    assert second.run_id == first.run_id
    pd.testing.assert_frame_equal(sink.read_scores(), table1)
    pd.testing.assert_frame_equal(
        sink.read_quarantine().drop(columns=["id", "quarantined_at"]),
        quarantine1.drop(columns=["id", "quarantined_at"]),
    )
    runs = sink.read_runs()
    assert len(runs) == 1
    assert runs["attempts"].iloc[0] == 2
    assert runs["status"].iloc[0] == "succeeded"


def test_new_job_upserts_and_leaves_absent_customers(sink: CRMSink) -> None:
    sink.write(make_scores(100, seed=1), **RUN)
    newer = make_scores(100, seed=2, start=50)  # 50 updated, 50 new; c0..c49 absent
    res = sink.write(newer, model_name="bgnbd+gg", model_version="4", as_of="2026-11-24")
    got = sink.read_scores().set_index("customer_id")
    assert len(got) == 150
    old = make_scores(100, seed=1).set_index("customer_id")
    np.testing.assert_array_equal(got.loc[old.index[:50], "clv"], old["clv"].iloc[:50])
    assert (got.loc[old.index[:50], "model_version"] == "3").all()
    new = newer.set_index("customer_id")
    np.testing.assert_array_equal(got.loc[new.index, "clv"], new["clv"])
    assert (got.loc[new.index, "run_id"] == res.run_id).all()


# -- atomicity -------------------------------------------------------------------------------
def test_crash_after_staging_keeps_previous_scores(
    sink: CRMSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink.write(make_scores(1000, seed=1), **RUN)
    before = sink.read_scores()

    def crash(self: ScoreRun) -> None:
        # everything is staged and upserted inside the transaction at this point
        raise RuntimeError("power cut")

    monkeypatch.setattr(ScoreRun, "_before_commit", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        sink.write(make_scores(1500, seed=9), model_name="m", model_version="9", as_of="2026-12-01")
    pd.testing.assert_frame_equal(sink.read_scores(), before)
    runs = sink.read_runs().set_index("model_version")
    assert runs.loc["9", "status"] == "failed"
    assert runs.loc["9", "error"] == "RuntimeError: power cut"
    assert pd.isna(runs.loc["9", "rows_written"])
    assert not any(n.startswith("_clvml_stage") for n in _table_names(sink))


_CHILD = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[3])
    from test_crm_sink import make_scores
    from clvml.scoring.crm import CRMSink, ScoreRun

    def pause(self):
        print("UPSERTED", flush=True)   # staged + upserted, not committed
        time.sleep(600)

    ScoreRun._before_commit = pause
    CRMSink(sys.argv[1]).write(make_scores(int(sys.argv[2]), seed=5),
                               model_name="m", model_version="killed", as_of="2026-12-02")
    """
)


def test_killed_job_leaves_previous_scores_and_holds_lock_until_death(
    sink: CRMSink, tmp_path: Path
) -> None:
    sink.write(make_scores(2000, seed=1), **RUN)
    before = sink.read_scores()
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    child = subprocess.Popen(
        [
            sys.executable,
            str(script),
            sink.url.render_as_string(hide_password=False),
            "5000",
            str(Path(__file__).parent),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([child.stdout], [], [], 120)
        assert ready, "child never reached the commit point"
        assert child.stdout.readline().strip() == "UPSERTED"
        # while it sits in its transaction, a second job is refused ...
        with pytest.raises(CRMLockError, match="another scoring job is writing"):
            sink.write(make_scores(10, seed=3), **RUN)
        # ... and readers still see the old scores
        pd.testing.assert_frame_equal(sink.read_scores(), before)
    finally:
        child.kill()
        child.wait(30)
    pd.testing.assert_frame_equal(sink.read_scores(), before)
    # the lock died with the process; the next job runs and marks the killed one abandoned
    res = sink.write(make_scores(10, seed=3), model_name="bgnbd+gg", model_version="5")
    assert res.rows_written == 10
    runs = sink.read_runs().set_index("model_version")
    assert runs.loc["killed", "status"] == "failed"
    assert runs.loc["killed", "error"].startswith("abandoned")
    assert runs.loc["5", "status"] == "succeeded"


# -- quarantine ------------------------------------------------------------------------------
def test_bad_rows_are_quarantined_with_reasons_and_counts_add_up(sink: CRMSink) -> None:
    scores = make_scores(10)
    scores["customer_id"] = scores["customer_id"].astype(object)
    scores.loc[0, "customer_id"] = None
    scores.loc[1, "customer_id"] = "  "
    scores.loc[2, "clv"] = np.nan
    scores.loc[3, "clv"] = -5.0
    scores.loc[4, "p_alive_btyd"] = 1.2
    scores.loc[5, "churn_probability"] = -0.1
    scores.loc[6, "customer_id"] = scores.loc[7, "customer_id"]
    scores.loc[8, ["clv_lower", "clv_upper"]] = [10.0, 5.0]
    rejected = pd.DataFrame({"customer_id": ["x1", "x2"], "reason": ["no transactions"] * 2})
    res = sink.write(scores, **RUN, rejected=rejected)
    assert (res.rows_read, res.rows_scored, res.rows_written, res.rows_quarantined) == (
        12,
        10,
        1,
        11,
    )
    assert res.rows_read == res.rows_written + res.rows_quarantined
    assert sink.read_scores()["customer_id"].tolist() == [scores.loc[9, "customer_id"]]
    q = sink.read_quarantine(res.run_id).set_index("row_number")
    assert q.loc[0, "reason"] == "missing customer_id"
    assert q.loc[1, "reason"] == "missing customer_id"
    assert q.loc[2, "reason"] == "clv is missing"
    assert q.loc[3, "reason"] == "clv is negative"
    assert q.loc[4, "reason"] == "p_alive_btyd is outside [0, 1]"
    assert q.loc[5, "reason"] == "churn_probability is outside [0, 1]"
    assert q.loc[6, "reason"] == q.loc[7, "reason"] == "duplicate customer_id in batch"
    assert q.loc[8, "reason"] == "clv_lower > clv_upper"
    assert q.loc[[10, 11], "reason"].tolist() == ["no transactions"] * 2
    assert q.loc[3, "payload"]["clv"] == -5.0
    run = sink.read_runs().iloc[0]
    assert (run["rows_read"], run["rows_written"], run["rows_quarantined"]) == (12, 1, 11)


def test_frame_level_errors_write_nothing(sink: CRMSink) -> None:
    sink.write(make_scores(20), **RUN)
    before = sink.read_scores()
    with pytest.raises(DataValidationError, match=r"column 'clv'.*required score column"):
        sink.write(make_scores(5).drop(columns="clv"), model_name="m", model_version="x")
    with pytest.raises(DataValidationError, match=r"unknown score column\(s\) \['p_allive'\]"):
        sink.write(make_scores(5).assign(p_allive=0.5), model_name="m", model_version="y")
    pd.testing.assert_frame_equal(sink.read_scores(), before)
    assert sink.read_runs().set_index("model_version").loc[["x", "y"], "status"].eq("failed").all()


@settings(max_examples=40, deadline=None)
@given(
    data_frames(
        [
            column("customer_id", elements=st.sampled_from(["a", "b", "c", "", " ", None])),
            column("clv", elements=st.floats(allow_nan=True, allow_infinity=True)),
            column("p_alive_btyd", elements=st.floats(-0.5, 1.5) | st.just(float("nan"))),
            column("value_tier", elements=st.sampled_from(["top_1", "rest", None, "a\x00b"])),
        ],
        index=range_indexes(max_size=12),
    )
)
def test_split_scores_partitions_rows(frame: pd.DataFrame) -> None:
    frame["customer_id"] = frame["customer_id"].astype(object)
    s = split_scores(frame)
    assert len(s.valid) + len(s.quarantined) == len(frame)
    assert sorted(s.quarantined["row_number"]) == list(s.quarantined["row_number"])
    v = s.valid
    assert v["customer_id"].is_unique
    assert (v["customer_id"].str.strip() != "").all()
    assert np.isfinite(v["clv"]).all() and (v["clv"] >= 0).all()
    p = v["p_alive_btyd"].dropna()
    assert ((p >= 0) & (p <= 1)).all()
    assert not v["value_tier"].dropna().str.contains("\x00").any()
    assert (s.quarantined["reason"].str.len() > 0).all()


# -- concurrency -----------------------------------------------------------------------------
def test_two_jobs_at_once_do_not_interleave(sink: CRMSink, crm_url: str) -> None:
    sink.migrate()
    entered, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with CRMSink(crm_url) as s, s.run(model_name="m", model_version="A") as run:
                entered.set()
                release.wait(30)
                run.write(make_scores(200, seed=1))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            entered.set()

    t = threading.Thread(target=first)
    t.start()
    try:
        assert entered.wait(30)
        with pytest.raises(CRMLockError, match="table 'customer_scores'"):
            sink.write(make_scores(200, seed=2), model_name="m", model_version="B")
        # a job allowed to wait runs after the first one, never in the middle of it
        waiting = CRMSink(crm_url, lock_timeout=30)
        result: list[object] = []
        t2 = threading.Thread(
            target=lambda: result.append(
                waiting.write(make_scores(200, seed=3), model_name="m", model_version="C")
            )
        )
        t2.start()
        t2.join(0.5)
        assert t2.is_alive()  # still waiting for the lock
        release.set()
        t.join(30)
        t2.join(30)
        waiting.close()
    finally:
        release.set()
        t.join(30)
    assert not errors
    got = sink.read_scores()
    assert set(got["model_version"]) == {"C"}
    np.testing.assert_array_equal(got["clv"], make_scores(200, seed=3)["clv"])
    # B never got the lock, so it never started a run
    runs = sink.read_runs()
    assert runs["model_version"].tolist() == ["A", "C"]
    assert (runs["status"] == "succeeded").all()
    assert runs["finished_at"].iloc[0] <= runs["started_at"].iloc[1]


# -- schema and migration --------------------------------------------------------------------
def test_migration_adds_missing_columns_and_keeps_rows(crm_url: str) -> None:
    engine = sa.create_engine(crm_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE customer_scores (customer_id TEXT PRIMARY KEY, clv FLOAT NOT NULL)"
        )
        conn.exec_driver_sql("INSERT INTO customer_scores VALUES ('old', 1.5)")
    engine.dispose()
    with CRMSink(crm_url) as sink:
        added = sink.migrate()
        assert added["customer_scores"] == [
            "clv_lower",
            "clv_upper",
            "p_active",
            "churn_probability",
            "p_alive_btyd",
            "expected_purchases",
            "expected_avg_spend",
            "segment",
            "value_tier",
            "scoring_method",
            "consent_marketing",
            "expected_residual_lifetime",
            "model_name",
            "model_version",
            "scored_at",
            "run_id",
        ]
        assert sink.migrate() == {}
        sink.write(make_scores(3), **RUN)
        got = sink.read_scores().set_index("customer_id")
        assert got.loc["old", "clv"] == 1.5
        assert len(got) == 4
        with sink.connect() as conn:
            version = conn.exec_driver_sql(
                "SELECT version FROM clvml_schema_version WHERE table_name = 'customer_scores'"
            ).scalar()
        assert version == SCHEMA_VERSION


def test_existing_table_without_key_is_refused(crm_url: str) -> None:
    engine = sa.create_engine(crm_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE scores_nokey (customer_id TEXT, clv FLOAT)")
    engine.dispose()
    with (
        CRMSink(crm_url, table="scores_nokey") as sink,
        pytest.raises(DataValidationError, match="customer_id as its primary key"),
    ):
        sink.migrate()


def test_custom_table_name(sink: CRMSink, crm_url: str) -> None:
    with CRMSink(crm_url, table="clv_nightly") as other:
        other.write(make_scores(4), **RUN)
        assert {"clv_nightly", "clv_nightly_quarantine"} <= _table_names(other)
        assert len(other.read_scores()) == 4


@pytest.mark.parametrize(
    "name",
    [
        "customer_scores; DROP TABLE x",
        'a"b',
        "Customer_Scores",
        "1scores",
        "",
        "a-b",
        "a" * 53,
        "scores\n",
        "sch.tbl",
    ],
)
def test_table_names_with_sql_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="invalid table name"):
        CRMSink(f"sqlite:///{tmp_path / 'x.db'}", table=name)
    assert not (tmp_path / "x.db").exists()
    assert validate_identifier("a" * 52) == "a" * 52


@pytest.mark.postgres
def test_postgres_schema_argument(pg_url: str) -> None:
    schema = sa.make_url(pg_url).query["options"].removeprefix("-csearch_path=")
    base = sa.make_url(pg_url).difference_update_query(["options"])
    with CRMSink(base, schema=schema) as sink:
        sink.write(make_scores(3), **RUN)
        assert len(sink.read_scores()) == 3
    with CRMSink(pg_url) as same:  # the same table, found through the search_path
        assert len(same.read_scores()) == 3


def test_sqlite_refuses_schema(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="schema name is not supported on SQLite"):
        CRMSink(f"sqlite:///{tmp_path / 'x.db'}", schema="crm")


# -- connections and secrets -----------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "postgres://scorer:s3cr3t-Pa55@127.0.0.1:1/crm",
        "postgresql://scorer:s3cr3t-Pa55@127.0.0.1:1/crm",
        "postgresql+psycopg://scorer:s3cr3t-Pa55@127.0.0.1:1/crm",
    ],
)
def test_unreachable_database_is_one_line_without_password(url: str) -> None:
    sink = CRMSink(url)
    with pytest.raises(CRMConnectionError) as info:
        sink.write(make_scores(3), **RUN)
    msg = str(info.value)
    assert isinstance(info.value, ClvmlError)
    assert "s3cr3t" not in msg and "\n" not in msg
    assert msg.startswith("cannot connect to CRM database postgresql+psycopg://scorer:***@")
    assert "s3cr3t" not in repr(sink)


def test_unopenable_sqlite_file_is_a_connection_error(tmp_path: Path) -> None:
    with pytest.raises(CRMConnectionError, match="cannot connect to CRM database sqlite:///"):
        CRMSink(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'crm.db'}").migrate()


def test_unsupported_backend_is_refused() -> None:
    with pytest.raises(DataValidationError, match="unsupported CRM database 'mysql'"):
        CRMSink("mysql://u:pw@host/db")


@pytest.mark.postgres
def test_postgres_score_table_leaves_room_for_in_place_updates(pg_url: str) -> None:
    # A rescoring job updates every row; with half-full pages PostgreSQL can put each new
    # row version on the same page (a HOT update, no new index entry).
    import time

    from clvml.scoring.schema import SCORE_FILLFACTOR

    with CRMSink(pg_url) as sink:
        table = sink.table
        sink.write(make_scores(200), **RUN)
        sink.write(make_scores(200, seed=1), **{**RUN, "model_version": "4"})
    # the sink's connections are closed: their statistics reach the collector on exit
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            options = conn.execute(
                sa.text("SELECT reloptions FROM pg_class WHERE oid = to_regclass(:t)"),
                {"t": table},
            ).scalar_one()
            stats = sa.text(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                "WHERE relid = to_regclass(:t)"
            )
            for _ in range(50):
                conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
                upd, hot = conn.execute(stats, {"t": table}).one()
                if upd >= 200:
                    break
                time.sleep(0.2)
    finally:
        engine.dispose()
    assert f"fillfactor={SCORE_FILLFACTOR}" in options
    assert upd >= 200 and hot == upd


@pytest.mark.postgres
def test_password_never_logged(pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    url = sa.make_url(pg_url).set(password="s3cr3t-Pa55")  # trust auth ignores it
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    try:
        with CRMSink(url) as sink:
            sink.write(make_scores(3), **RUN)
            with pytest.raises(CRMLockError) as info, sink.run(model_name="m", model_version="1"):
                sink.write(make_scores(3), **RUN)
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    started = [r.getMessage() for r in caplog.records if r.name == "clvml.scoring.crm"]
    assert "postgres:***@127.0.0.1" in started[0]
    assert "s3cr3t" not in caplog.text
    assert "s3cr3t" not in str(info.value)


@pytest.mark.parametrize("dtype", ["object", "str", "string[pyarrow]", "string[python]"])
def test_missing_and_blank_ids_are_caught_in_every_string_dtype(dtype: str) -> None:
    frame = pd.DataFrame(
        {"customer_id": pd.Series(["a", None, " ", "b", "a\x00"], dtype=dtype), "clv": 1.0}
    )
    s = split_scores(frame)
    assert s.valid["customer_id"].tolist() == ["a", "b"]
    assert s.quarantined["reason"].tolist() == [
        "missing customer_id",
        "missing customer_id",
        "customer_id contains a NUL character",
    ]
    assert s.quarantined["customer_id"].tolist() == [None, " ", "a\x00"]


def test_integer_ids_become_text_and_float_ids_are_refused() -> None:
    s = split_scores(pd.DataFrame({"customer_id": [10, 20], "clv": [1.0, 2.0]}))
    assert s.valid["customer_id"].tolist() == ["10", "20"]
    with pytest.raises(DataValidationError, match=r"column 'customer_id'.*not float64"):
        split_scores(pd.DataFrame({"customer_id": [1.0, 2.0], "clv": [1.0, 2.0]}))


def test_run_id_of_another_model_is_refused_and_left_alone(sink: CRMSink) -> None:
    first = sink.write(make_scores(3), **RUN)
    with pytest.raises(DataValidationError, match="already belongs to table 'customer_scores'"):
        sink.write(make_scores(3), model_name="other", model_version="1", run_id=first.run_id)
    runs = sink.read_runs()
    assert runs[["run_id", "status", "model_name"]].values.tolist() == [
        [first.run_id, "succeeded", "bgnbd+gg"]
    ]


_WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[3])
    from test_crm_sink import make_scores
    from clvml.scoring.crm import CRMSink

    print("START", flush=True)
    CRMSink(sys.argv[1]).write(make_scores(int(sys.argv[2]), seed=7),
                               model_name="m", model_version="new", as_of="2026-12-03")
    print("DONE", flush=True)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.3, 0.8, 1.5, 3.0])
def test_job_killed_at_any_moment_leaves_old_or_new_table_whole(
    sink: CRMSink, tmp_path: Path, delay: float
) -> None:
    n = 30_000
    sink.write(make_scores(n, seed=1), **RUN)
    old = _score_values(sink)
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    child = subprocess.Popen(
        [
            sys.executable,
            str(script),
            sink.url.render_as_string(hide_password=False),
            str(n),
            str(Path(__file__).parent),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready, _, _ = select.select([child.stdout], [], [], 120)
    assert ready and child.stdout.readline().strip() == "START"
    try:
        child.wait(delay)
    except subprocess.TimeoutExpired:
        child.kill()
    child.wait(30)
    got = _score_values(sink)
    new = make_scores(n, seed=7)
    runs = sink.read_runs().set_index("model_version")["status"]
    # depending on the delay the kill lands before the run starts, mid-run or after commit
    if got["clv"].equals(old["clv"]):
        pd.testing.assert_frame_equal(got, old)
        assert runs.get("new", "never started") in ("never started", "running")
    else:  # the commit happened before the kill: all of the new scores, nothing mixed
        pd.testing.assert_frame_equal(got, new, check_dtype=False)
        assert runs["new"] == "succeeded"


@pytest.mark.postgres
def test_missing_postgres_schema_is_one_line_error(pg_url: str) -> None:
    with CRMSink(pg_url, schema="no_such_schema_x") as sink:
        with pytest.raises(CRMError, match='schema "no_such_schema_x" does not exist') as info:
            sink.write(make_scores(3), **RUN)
        assert "\n" not in str(info.value)
        assert not isinstance(info.value, CRMConnectionError)


@pytest.mark.postgres
def test_public_stage_and_merge_steps_write_what_other_connections_staged(pg_url: str) -> None:
    """``create_stage`` commits an empty table another connection fills; ``merge_stage``
    upserts it, quarantines refused and rejected rows, and the counts add up."""
    scores = make_scores(40)
    refused = pd.DataFrame(
        {"row_number": [40], "customer_id": ["cx"], "reason": ["clv: not finite"], "payload": [{}]}
    )
    rejected = pd.DataFrame({"customer_id": ["c_new"], "reason": ["no purchase on or before"]})
    with CRMSink(pg_url) as sink:
        with sink.run(**RUN) as run:
            stage = run.create_stage()
            assert stage.name == run.stage_table().name  # derived from the run id
            other = sa.create_engine(sink.url)
            try:
                with other.begin() as conn:  # as a Spark executor would, on its own connection
                    conn.execute(stage.insert(), scores.assign(_part=0).to_dict("records"))
            finally:
                other.dispose()
            res = run.merge_stage(
                stage, n_scored=41, n_valid=40, quarantine=refused, rejected=rejected
            )
        assert (res.rows_read, res.rows_written, res.rows_quarantined) == (42, 40, 2)
        assert res.rows_read == res.rows_written + res.rows_quarantined
        pd.testing.assert_frame_equal(
            _score_values(sink).reset_index(drop=True), scores, check_dtype=False
        )
        assert sorted(sink.read_quarantine(res.run_id)["customer_id"]) == ["c_new", "cx"]
        assert sink.read_runs()["status"].tolist() == ["succeeded"]
        assert stage.name not in _table_names(sink)  # the merge dropped the stage


def test_counts_that_do_not_add_up_write_nothing(sink: CRMSink) -> None:
    with sink.run(**RUN) as run, pytest.raises(CRMError, match="nothing was written"):
        run.counts(10, 0, 10, make_scores(1), {})
    assert sink.read_scores().empty
    assert sink.read_runs()["status"].tolist() == ["failed"]
