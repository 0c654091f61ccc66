"""The Spark score job refuses what the pandas job refuses, before damage (issues 15 and 16).

The job lock is taken before the model is loaded or the data read; a wrong ``--as-of`` and
a jump of the score distribution are refused unless ``--force``; ``--dry-run`` writes
nothing and plans what the pandas dry run plans; ``--columns`` and ``--timestamp-format``
read the user's own layout.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from numpy.testing import assert_allclose

import clvml.cli.score  # noqa: F401  (registers the command)
from clvml.cli._app import run as cli_run
from clvml.scoring.crm import CRMSink

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def data(world, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("refusals") / "data"
    folder.mkdir()
    for name in ("transactions", "engagement", "customers"):
        getattr(world, name).to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def _as_of(world) -> str:
    return str(pd.Timestamp(world.calibration_end).date())


def test_a_losing_concurrent_job_fails_before_loading_the_model_or_reading_data(
    spark, data: Path, logged_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import clvml.spark.job as job
    import clvml.tracking.scoring_model as scoring_model
    from clvml.scoring.errors import CRMLockError

    monkeypatch.setattr(
        scoring_model, "load_scoring_model", lambda *a, **k: pytest.fail("model loaded")
    )
    monkeypatch.setattr(job, "read_tables", lambda *a, **k: pytest.fail("data read"))
    crm = f"sqlite:///{tmp_path / 'crm.db'}"
    with (
        CRMSink(crm) as running,
        running.hold_lock(),
        pytest.raises(CRMLockError, match="another scoring job"),
    ):
        job.score_job(logged_model[2], str(data), crm_url=crm, spark=spark)


def test_as_of_after_the_data_is_refused_unless_forced(
    spark, data: Path, logged_model, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crm = f"sqlite:///{tmp_path / 'crm.db'}"
    argv = ["score", "--engine", "spark", "--model", logged_model[2], "--data", str(data)]
    argv += ["--crm-url", crm, "--as-of", "2099-01-01"]
    capsys.readouterr()
    assert cli_run(argv) == 2
    err = capsys.readouterr().err
    assert "ScoreRefusedError" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert not Path(crm.removeprefix("sqlite:///")).exists() or CRMSink(crm).read_runs().empty
    assert cli_run([*argv, "--force"]) == 0
    assert "--force" in capsys.readouterr().out
    with CRMSink(crm) as sink:
        assert sink.read_runs()["status"].tolist() == ["succeeded"]


def test_distribution_jump_is_refused_and_dry_run_plans_as_the_pandas_job(
    spark, world, data: Path, logged_model, tmp_path: Path
) -> None:
    from clvml.pipelines.score import score_customers
    from clvml.pipelines.score_checks import ScoreRefusedError
    from clvml.spark.job import score_job

    uri = logged_model[2]
    crm = f"sqlite:///{tmp_path / 'crm.db'}"
    # the table holds scores 100x the model's (as if a wrong model had been served)
    first = score_customers(uri, data, crm, as_of=_as_of(world))
    with CRMSink(crm) as sink:
        before = sink.read_scores()
    from clvml.scoring.schema import SCORE_COLUMNS

    inflated = before[[c for c in before.columns if c in SCORE_COLUMNS]]
    inflated = inflated.assign(clv=inflated["clv"] * 100)
    with CRMSink(crm) as sink:
        sink.write(inflated, model_name="x", model_version="1", as_of=first.as_of)
        table = sink.read_scores()
    # the dry run writes nothing and plans what the pandas dry run plans
    plan = score_job(uri, str(data), crm_url=crm, as_of=_as_of(world), dry_run=True, spark=spark)
    local = score_customers(uri, data, crm, as_of=_as_of(world), dry_run=True)
    assert plan.plan.describe() == local.plan.describe()
    assert plan.plan.updated == len(before) and plan.plan.inserted == 0
    assert_allclose(plan.plan.new.mean_clv, local.plan.new.mean_clv, rtol=1e-10)
    assert plan.overridden == local.overridden and plan.overridden  # the jump, reported
    with CRMSink(crm) as sink:
        pd.testing.assert_frame_equal(sink.read_scores(), table)
    with pytest.raises(ScoreRefusedError, match="mean CLV would move"):
        score_job(uri, str(data), crm_url=crm, as_of=_as_of(world), spark=spark)
    with CRMSink(crm) as sink:
        pd.testing.assert_frame_equal(sink.read_scores(), table)
        assert sorted(sink.read_attempts()["status"]) == ["failed", "succeeded", "succeeded"]
    forced = score_job(uri, str(data), crm_url=crm, as_of=_as_of(world), force=True, spark=spark)
    assert forced.overridden and forced.run.rows_written == len(before)
    with CRMSink(crm) as sink:
        assert_allclose(sink.read_scores()["clv"].to_numpy(), before["clv"].to_numpy(), rtol=1e-10)


def test_own_column_names_and_day_first_dates_on_spark(
    spark, world, data: Path, logged_model, tmp_path: Path
) -> None:
    own = tmp_path / "own"
    own.mkdir()
    tx = world.transactions.rename(columns={"customer_id": "cust", "amount": "total"})
    tx["timestamp"] = pd.to_datetime(tx["timestamp"]).dt.strftime("%d/%m/%Y %H:%M:%S")
    tx = tx.rename(columns={"timestamp": "order_date"})
    tx.to_parquet(own / "transactions.parquet", index=False)
    eng = world.engagement.rename(columns={"customer_id": "cust"})
    eng["timestamp"] = pd.to_datetime(eng["timestamp"]).dt.strftime("%d/%m/%Y %H:%M:%S")
    eng.to_parquet(own / "engagement.parquet", index=False)
    world.customers.rename(columns={"customer_id": "cust"}).to_parquet(
        own / "customers.parquet", index=False
    )
    base = ["score", "--engine", "spark", "--model", logged_model[2], "--as-of", _as_of(world)]
    ref, mine = tmp_path / "ref", tmp_path / "mine"
    assert cli_run([*base, "--data", str(data), "--output", str(ref)]) == 0
    flags = [
        "--columns",
        "customer_id=cust,transactions.timestamp=order_date,amount=total",
        "--timestamp-format",
        "%d/%m/%Y %H:%M:%S",
    ]
    assert cli_run([*base, "--data", str(own), "--output", str(mine), *flags]) == 0
    a = pd.read_parquet(ref).sort_values("customer_id", ignore_index=True)
    b = pd.read_parquet(mine).sort_values("customer_id", ignore_index=True)
    assert len(a) == len(b) > 0 and (a["customer_id"] == b["customer_id"]).all()
    assert_allclose(b["clv"].to_numpy(), a["clv"].to_numpy(), rtol=1e-10)
