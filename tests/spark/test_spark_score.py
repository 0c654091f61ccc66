"""Spark scoring equals pandas scoring; the Spark CRM write equals the pandas sink's table."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark_scores(spark, world, logged_model):
    from clvml.spark.features import customer_features
    from clvml.spark.score import score_customers

    _, _, uri = logged_model
    feats = customer_features(
        spark.createDataFrame(world.transactions),
        spark.createDataFrame(world.engagement),
        spark.createDataFrame(world.customers),
        cutoff=world.calibration_end,
    )
    return score_customers(feats, uri).toPandas()


def test_spark_scores_equal_pandas_scores(logged_model, spark_scores):
    from clvml.models.model_input import predict_frame

    model, features, _ = logged_model
    expected = predict_frame(model, features).set_index("customer_id").sort_index()
    got = spark_scores.set_index("customer_id").sort_index()
    assert got.index.equals(expected.index)
    assert list(got.columns) == list(expected.columns)
    for col in expected.columns:
        if expected[col].dtype.kind == "f":
            assert_allclose(got[col].to_numpy(float), expected[col].to_numpy(float), rtol=1e-10)
        else:
            assert (got[col].astype(str) == expected[col].astype(str)).all(), col


def test_spark_parquet_write_round_trips(spark, spark_scores, tmp_path):
    from clvml.spark.score import write_parquet

    write_parquet(spark.createDataFrame(spark_scores), str(tmp_path / "scores"))
    back = pd.read_parquet(tmp_path / "scores").sort_values("customer_id", ignore_index=True)
    exp = spark_scores.sort_values("customer_id", ignore_index=True)
    assert_allclose(back["clv"].to_numpy(), exp["clv"].to_numpy(), rtol=0)


@pytest.mark.postgres
@pytest.mark.postgres
def test_spark_crm_write_equals_pandas_sink(spark, spark_scores, pg_url):
    import sqlalchemy as sa

    from clvml.scoring.crm import CRMSink
    from clvml.spark.score import write_crm

    scores = spark_scores[
        [
            c
            for c in spark_scores.columns
            if c
            in ("customer_id", "clv", "p_active", "expected_purchases", "segment", "value_tier")
        ]
    ].copy()
    # rows the sink must quarantine: a duplicated id, a negative CLV, a missing id
    bad = pd.DataFrame(
        {"customer_id": [scores["customer_id"].iloc[0], "neg", None], "clv": [1.0, -5.0, 2.0]}
    )
    scores = pd.concat([scores, bad], ignore_index=True)
    suffix = uuid.uuid4().hex[:8]
    kw = dict(model_name="clvml", model_version="1", as_of="2026-11-23")
    with (
        CRMSink(pg_url, table=f"scores_pd_{suffix}") as pd_sink,
        CRMSink(pg_url, table=f"scores_sp_{suffix}") as sp_sink,
    ):
        try:
            expected = pd_sink.write(scores, **kw)
            result = write_crm(spark.createDataFrame(scores), sp_sink, partitions=3, **kw)
            a = pd_sink.read_scores().drop(columns=["run_id", "scored_at"])
            b = sp_sink.read_scores().drop(columns=["run_id", "scored_at"])
            pd.testing.assert_frame_equal(a, b)
            qa = pd_sink.read_quarantine()[["row_number", "customer_id", "reason"]]
            qb = sp_sink.read_quarantine()[["row_number", "customer_id", "reason"]]
            sort = ["row_number"]
            pd.testing.assert_frame_equal(
                qa.sort_values(sort, ignore_index=True), qb.sort_values(sort, ignore_index=True)
            )
            assert (result.rows_read, result.rows_written, result.rows_quarantined) == (
                expected.rows_read,
                expected.rows_written,
                expected.rows_quarantined,
            )
            runs = sp_sink.read_runs()
            assert runs["status"].tolist() == ["succeeded"]
            with sp_sink.connect() as conn:  # the staging table is gone
                names = sa.inspect(conn).get_table_names()
            assert not [n for n in names if n.startswith("_clvml_stage_")]
            assert len(b) == len(np.unique(b["customer_id"]))
        finally:
            with pd_sink.connect() as conn, conn.begin():
                for s in (pd_sink, sp_sink):
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {s.table}, {s.table}_quarantine")
                    conn.exec_driver_sql(
                        "DELETE FROM clvml_score_runs WHERE table_name = %(t)s", {"t": s.table}
                    )


@pytest.mark.postgres
def test_spark_crm_merge_crash_keeps_previous_scores(spark, spark_scores, pg_url, monkeypatch):
    """A crash inside the Spark run's merge transaction leaves the previous scores whole."""
    import sqlalchemy as sa

    from clvml.scoring.crm import CRMSink, ScoreRun
    from clvml.spark.score import write_crm

    scores = spark_scores[["customer_id", "clv"]].copy()
    kw = dict(model_name="clvml", as_of="2026-11-23", partitions=2)
    with CRMSink(pg_url, table="scores_crash") as sink:
        write_crm(spark.createDataFrame(scores), sink, model_version="1", **kw)
        before = sink.read_scores()

        def crash(self: ScoreRun) -> None:  # staged and upserted, not committed
            raise RuntimeError("power cut")

        monkeypatch.setattr(ScoreRun, "_before_commit", crash)
        doubled = spark.createDataFrame(scores.assign(clv=scores["clv"] * 2 + 1))
        with pytest.raises(RuntimeError, match="power cut"):
            write_crm(doubled, sink, model_version="2", **kw)
        pd.testing.assert_frame_equal(sink.read_scores(), before)
        runs = sink.read_runs().set_index("model_version")
        assert runs.loc["1", "status"] == "succeeded" and runs.loc["2", "status"] == "failed"
        with sink.connect() as conn:  # the upsert and the stage drop were rolled back
            names = sa.inspect(conn).get_table_names()
        assert [n for n in names if n.startswith("_clvml_stage_")]


def test_spark_score_job_writes_the_pandas_scores(spark, world, logged_model, tmp_path):
    from clvml.models.model_input import predict_frame
    from clvml.scoring.crm import CRMSink
    from clvml.spark.job import score_job

    model, features, uri = logged_model
    data = tmp_path / "data"
    data.mkdir()
    for name in ("transactions", "engagement", "customers"):
        getattr(world, name).to_parquet(data / f"{name}.parquet", index=False)
    crm = f"sqlite:///{tmp_path / 'crm.db'}"
    result = score_job(uri, str(data), crm_url=crm, as_of=world.calibration_end, spark=spark)
    expected = predict_frame(model, features).sort_values("customer_id", ignore_index=True)
    with CRMSink(crm) as sink:
        got = sink.read_scores()
    assert result.run.rows_written == len(expected) == len(got)
    assert_allclose(got["clv"].to_numpy(), expected["clv"].to_numpy(), rtol=1e-10)
    assert (got["customer_id"] == expected["customer_id"]).all()
    out = score_job(
        uri, str(data), output=str(tmp_path / "scores"), spark=spark, as_of=world.calibration_end
    )
    back = pd.read_parquet(out.output).sort_values("customer_id", ignore_index=True)
    assert_allclose(back["clv"].to_numpy(), expected["clv"].to_numpy(), rtol=1e-10)


def test_cli_score_engine_spark_writes_the_pandas_scores(spark, world, logged_model, tmp_path):
    import clvml.cli.score  # noqa: F401  (registers the command)
    from clvml.cli._app import run
    from clvml.models.model_input import predict_frame

    model, features, uri = logged_model
    data = tmp_path / "data"
    data.mkdir()
    for name in ("transactions", "engagement", "customers"):
        getattr(world, name).to_parquet(data / f"{name}.parquet", index=False)
    out = tmp_path / "scores"
    as_of = str(pd.Timestamp(world.calibration_end).date())
    argv = ["score", "--engine", "spark", "--model", uri, "--data", str(data)]
    assert run([*argv, "--output", str(out), "--as-of", as_of]) == 0
    expected = predict_frame(model, features).sort_values("customer_id", ignore_index=True)
    back = pd.read_parquet(out).sort_values("customer_id", ignore_index=True)
    assert_allclose(back["clv"].to_numpy(), expected["clv"].to_numpy(), rtol=1e-10)
    # --output belongs to the Spark engine; the local engine refuses it with a usage error
    assert run(["score", "--model", uri, "--data", str(data), "--output", str(out)]) == 2
