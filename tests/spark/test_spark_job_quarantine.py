"""The Spark scoring job equals the single-machine job on dirty data.

The property: on the same Parquet folder, :func:`clvml.spark.job.score_job` writes the
score rows of :func:`clvml.pipelines.score.score_customers` (to 1e-10), quarantines the same
multiset of ``(customer_id, reason)`` -- reasons compared without the row label, which
is Spark's row id (see :mod:`clvml.spark.job`) -- and records the same run counts.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from clvml.data.policy import ValidationPolicy
from clvml.exceptions import DataValidationError

pytestmark = pytest.mark.spark

_NUMERIC = {
    "clv",
    "clv_lower",
    "clv_upper",
    "p_active",
    "churn_probability",
    "p_alive_btyd",
    "expected_purchases",
    "expected_avg_spend",
}
DROP = ValidationPolicy(returns="drop", duplicates="drop")
_LABEL = re.compile(r"^(transactions|engagement|customers) row [^:]+: ")
_NOW = re.compile(r"after now \([^)]*\)")  # the two jobs run at different instants


def _same(reason: str) -> str:
    """A reason without the row label and the instant of the run."""
    return _NOW.sub("after now (...)", _LABEL.sub(r"\1 row #: ", reason))


@pytest.fixture(scope="module")
def model_path(logged_model):
    """The pyfunc of ``logged_model`` (tests/spark/conftest.py) as a local folder."""
    return logged_model[2]


def _dirty(world) -> dict[str, pd.DataFrame]:
    """The social-commerce tables with bad rows of every kind the job must quarantine."""
    rng = np.random.default_rng(11)
    tx = world.transactions.copy()
    tx["timestamp"] = tx["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S").astype(object)
    n = len(tx)
    pick = rng.choice(n, 40, replace=False)
    dups = tx.iloc[pick[:6]]  # exact duplicate rows
    refunds = tx.iloc[pick[6:12]].assign(amount=lambda d: -d["amount"])  # negative amounts
    bad = tx.iloc[pick[12:22]].copy()
    bad["timestamp"] = ["not a date", "", "2024-13-45", "2031-01-01 00:00:00"] * 2 + [None] * 2
    no_id = tx.iloc[pick[22:24]].assign(customer_id=None)
    stranger = tx.iloc[pick[24:27]].assign(customer_id="ZZ900")  # buys, not a customer
    late = tx.iloc[[0]].assign(  # a new customer whose only purchase is after as_of
        customer_id="LATE01", timestamp="2025-09-01 10:00:00"
    )
    tx = pd.concat([tx, dups, refunds, bad, no_id, stranger, late], ignore_index=True)
    tx = tx.iloc[rng.permutation(len(tx))].reset_index(drop=True)

    eng = world.engagement.copy()
    ghosts = eng.sample(12, random_state=3).assign(
        customer_id=[f"ZZ{i % 4:03d}" for i in range(12)],
        event_id=lambda d: d["event_id"] + 10_000_000,
    )
    also = eng.sample(2, random_state=4).assign(
        customer_id="ZZ900", event_id=lambda d: d["event_id"] + 20_000_000
    )
    eng = pd.concat([eng, ghosts, also, eng.sample(3, random_state=5)], ignore_index=True)

    cust = world.customers.copy()
    late_customer = cust.iloc[[0]].assign(customer_id="LATE01")
    cust = pd.concat([cust, late_customer], ignore_index=True)
    return {"transactions": tx, "engagement": eng, "customers": cust}


@pytest.fixture(scope="module")
def dirty_folder(world, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dirty")
    for name, frame in _dirty(world).items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def _quarantine(sink) -> Counter:
    q = sink.read_quarantine()
    ids = q["customer_id"].astype(object).where(q["customer_id"].notna(), None)
    return Counter((cid, _same(reason)) for cid, reason in zip(ids, q["reason"], strict=True))


def _rules(entries: Counter) -> Counter:
    out: Counter = Counter()
    for (cid, reason), n in entries.items():
        m = re.search(r"\[(\w+)\]$", reason)
        rule = m.group(1) if m else reason.split(":")[0]
        out[(cid, rule)] += n
    return out


def _assert_same_scores(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    expected = expected.sort_values("customer_id", ignore_index=True)
    got = got.sort_values("customer_id", ignore_index=True)
    assert list(got["customer_id"]) == list(expected["customer_id"])
    for col in expected.columns:
        if col == "customer_id" or col not in got.columns:
            continue
        if col in _NUMERIC:  # nulls (e.g. no interval) must be null in both
            a, b = (pd.to_numeric(f[col]).to_numpy(float) for f in (got, expected))
            assert_allclose(a, b, rtol=1e-10, equal_nan=True, err_msg=col)
        else:
            a, b = (f[col].astype(object).where(f[col].notna(), None) for f in (got, expected))
            assert a.tolist() == b.tolist(), col


def _assert_parity(spark, model_path, data, crm_pd: str, crm_sp: str, **kw) -> None:
    from clvml.pipelines.score import score_customers
    from clvml.scoring.crm import CRMSink
    from clvml.spark.job import score_job

    want = score_customers(model_path, str(data), crm_pd, **kw)
    got = score_job(model_path, str(data), crm_url=crm_sp, spark=spark, **kw)
    assert got.as_of == want.as_of
    assert got.set_aside == want.set_aside
    assert got.input_rows == want.input_rows
    counts = ("rows_read", "rows_written", "rows_quarantined")
    assert [getattr(got.run, c) for c in counts] == [getattr(want.run, c) for c in counts]
    assert got.run.rows_read == got.run.rows_written + got.run.rows_quarantined
    with CRMSink(crm_pd) as a, CRMSink(crm_sp) as b:
        skip = ["run_id", "scored_at"]
        _assert_same_scores(a.read_scores().drop(columns=skip), b.read_scores().drop(columns=skip))
        qa, qb = _quarantine(a), _quarantine(b)
        runs_a, runs_b = a.read_runs(), b.read_runs()
    assert _rules(qb) == _rules(qa)
    assert qb == qa
    assert runs_b["status"].tolist() == ["succeeded"]
    for c in counts:
        assert runs_b[c].tolist() == runs_a[c].tolist()
    return want, qa


def test_dirty_fixture_has_every_kind_of_bad_row(spark, world, model_path, dirty_folder, tmp_path):
    """The parity below covers what it claims: every cause is quarantined by pandas."""
    from clvml.pipelines.score import prepare_inputs

    prep = prepare_inputs(str(dirty_folder), as_of=world.calibration_end, policy=DROP)
    reasons = " ".join(prep.rejected["reason"])
    for rule in (
        "duplicate_row",
        "return",
        "unparseable_timestamp",
        "future_timestamp",
        "missing_timestamp",
        "missing_id",
    ):
        assert f"[{rule}]" in reasons, rule
    assert set(prep.set_aside) == {
        "transactions",
        "engagement",
        "unknown_customer",
        "no_purchase",
    }
    assert "LATE01" in set(prep.rejected["customer_id"])
    assert {"ZZ900", "ZZ000"} <= set(prep.rejected["customer_id"])


@pytest.mark.parametrize(
    ("policies", "default_as_of"),
    [
        (dict(policy=DROP), False),
        (dict(policy=ValidationPolicy(returns="net", duplicates="drop")), True),
    ],
)
def test_spark_job_quarantines_as_the_pandas_job_sqlite(
    spark, world, model_path, dirty_folder, tmp_path, policies, default_as_of
):
    as_of = None if default_as_of else world.calibration_end
    _assert_parity(
        spark,
        model_path,
        dirty_folder,
        f"sqlite:///{tmp_path / 'pd.db'}",
        f"sqlite:///{tmp_path / 'sp.db'}",
        as_of=as_of,
        **policies,
    )


@pytest.mark.postgres
def test_spark_job_quarantines_as_the_pandas_job_postgres(
    spark, world, model_path, dirty_folder, pg_url
):
    """PostgreSQL: executors stage the scores, the driver merges scores and quarantine."""
    import sqlalchemy as sa

    from clvml.scoring.crm import CRMSink

    url = sa.make_url(pg_url)
    table_pd, table_sp = (f"scores_{k}_{uuid.uuid4().hex[:6]}" for k in ("pd", "sp"))
    from clvml.pipelines.score import score_customers
    from clvml.spark.job import score_job

    kw = dict(as_of=world.calibration_end, policy=DROP)
    want = score_customers(model_path, str(dirty_folder), pg_url, table=table_pd, **kw)
    got = score_job(
        model_path, str(dirty_folder), crm_url=pg_url, table=table_sp, spark=spark, **kw
    )
    counts = ("rows_read", "rows_written", "rows_quarantined")
    assert [getattr(got.run, c) for c in counts] == [getattr(want.run, c) for c in counts]
    assert got.run.rows_quarantined > 0
    with CRMSink(url, table=table_pd) as a, CRMSink(url, table=table_sp) as b:
        skip = ["run_id", "scored_at"]
        _assert_same_scores(a.read_scores().drop(columns=skip), b.read_scores().drop(columns=skip))
        qa, qb = _quarantine(a), _quarantine(b)
        runs = b.read_runs()
        with b.connect() as conn:  # the staging table is gone
            names = sa.inspect(conn).get_table_names()
    assert _rules(qb) == _rules(qa)
    assert qb == qa
    assert runs["status"].tolist() == ["succeeded"]
    assert [runs[c].iloc[0] for c in counts] == [getattr(want.run, c) for c in counts]
    assert not [n for n in names if n.startswith("_clvml_stage_")]


def test_spark_job_parquet_writes_the_quarantine_beside(
    spark, world, model_path, dirty_folder, tmp_path
):
    from clvml.pipelines.score import prepare_inputs
    from clvml.spark.job import quarantine_path, score_job

    kw = dict(as_of=world.calibration_end, policy=DROP)
    out = tmp_path / "scores"
    result = score_job(model_path, str(dirty_folder), output=str(out), spark=spark, **kw)
    assert result.run is None
    prep = prepare_inputs(str(dirty_folder), **kw)
    back = pd.read_parquet(quarantine_path(str(out)))
    assert list(back.columns) == ["customer_id", "reason"]

    def entries(frame: pd.DataFrame) -> Counter:
        ids = frame["customer_id"].astype(object).where(frame["customer_id"].notna(), None)
        return Counter((c, _same(r)) for c, r in zip(ids, frame["reason"], strict=True))

    assert entries(back) == entries(prep.rejected)
    scores = pd.read_parquet(out)
    assert len(scores) == len(prep.features)
    assert set(scores["customer_id"]) == set(prep.features.index.astype(str))


def test_spark_job_bad_rows_error_refuses_as_the_pandas_job(
    spark, world, model_path, dirty_folder, tmp_path
):
    from clvml.pipelines.score import score_customers
    from clvml.spark.job import score_job

    kw = dict(as_of=world.calibration_end, policy=DROP, bad_rows="error")
    with pytest.raises(DataValidationError) as want:
        score_customers(model_path, str(dirty_folder), f"sqlite:///{tmp_path / 'a.db'}", **kw)
    with pytest.raises(DataValidationError) as got:
        score_job(
            model_path,
            str(dirty_folder),
            crm_url=f"sqlite:///{tmp_path / 'b.db'}",
            spark=spark,
            **kw,
        )
    assert (got.value.column, got.value.n_rows) == (want.value.column, want.value.n_rows)
    assert got.value.column and got.value.n_rows
    assert "table transactions" in str(got.value)

    # clean rows but unknown customers: refused per row, as pandas does
    tables = _dirty(world)
    clean = tmp_path / "unknown"
    clean.mkdir()
    tables["transactions"] = world.transactions
    tables["customers"] = world.customers
    for name, frame in tables.items():
        frame.to_parquet(clean / f"{name}.parquet", index=False)
    with pytest.raises(DataValidationError) as want:
        score_customers(model_path, str(clean), f"sqlite:///{tmp_path / 'c.db'}", **kw)
    with pytest.raises(DataValidationError) as got:
        score_job(
            model_path, str(clean), crm_url=f"sqlite:///{tmp_path / 'd.db'}", spark=spark, **kw
        )
    assert (got.value.column, got.value.n_rows) == ("customer_id", want.value.n_rows)
    assert want.value.column == "customer_id" and want.value.n_rows == 14


def test_cli_engine_spark_passes_the_bad_row_options(
    spark, world, model_path, dirty_folder, tmp_path, capsys
):
    import clvml.cli.score  # noqa: F401  (registers the command)
    from clvml.cli._app import run
    from clvml.pipelines.score import prepare_inputs
    from clvml.spark.job import quarantine_path

    as_of = str(pd.Timestamp(world.calibration_end).date())
    argv = ["score", "--engine", "spark", "--model", model_path, "--data", str(dirty_folder)]
    argv += ["--as-of", as_of, "--returns", "drop", "--duplicates", "drop"]
    out = tmp_path / "scores"
    assert run([*argv, "--output", str(out)]) == 0
    prep = prepare_inputs(str(dirty_folder), as_of=as_of, policy=DROP)
    assert len(pd.read_parquet(quarantine_path(str(out)))) == len(prep.rejected)
    printed = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert f"{len(prep.rejected):,} quarantined" in printed
    # --bad-rows error refuses the dirty data (a one-line data error, exit code 2)
    assert run([*argv, "--output", str(tmp_path / "b"), "--bad-rows", "error"]) == 2
    assert not (tmp_path / "b").exists()
