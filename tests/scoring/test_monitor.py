"""clvml monitor: a world scored at an earlier as-of, then judged with the later data.

A real clvml CLV model (BG/NBD + Gamma-Gamma through ``CLVModel``) is fitted on 600
customers of data/social at 2025-06-30 and saved as clvml exports it. ``clvml score``
writes its scores as of 2025-09-30; ``clvml monitor`` then reads the data through
2026-06-28 (39 of the 52 weeks elapsed). Planted truth: the Gini and total bias it
stores equal a direct computation from the CRM scores and the purchases after the as-of
day; the drift PSI is small when nothing changed and large when spend was tripled after the
training cut-off; a tight threshold marks the champion degraded (exit code 3).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from numpy.testing import assert_allclose
from threadpoolctl import threadpool_limits

import clvml.cli.monitor  # noqa: F401  (registers the command)
from clvml.cli._app import run as cli_run
from clvml.evaluation.metrics import normalized_gini
from clvml.features.dataset import customer_features
from clvml.pipelines.monitor import MonitorThresholds, latest_monitoring, monitor_model
from clvml.pipelines.score import score_customers
from clvml.scoring.crm import CRMSink

N_CUSTOMERS = 600
CUTOFF = "2025-06-30"
SCORED = "2025-09-30"
HORIZON = 52


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    with threadpool_limits(1, user_api="openmp"):
        yield


def _save_model(model, features: pd.DataFrame, path: Path) -> Path:
    """Save a fitted CLVModel as clvml logs and exports it (models from code, digests)."""
    import mlflow

    from clvml.segments import SegmentScheme
    from clvml.tracking.integrity import write_manifest
    from clvml.tracking.pyfunc import (
        ARTIFACT_KEY,
        MODEL_CODE,
        SCHEME_KEY,
        input_example,
        model_signature,
    )

    pkl = path.parent / f"{path.name}.pkl"
    pkl.write_bytes(pickle.dumps(model, protocol=5))
    scheme = SegmentScheme().fit(model.predict(features))
    js = path.parent / f"{path.name}_{SCHEME_KEY}.json"
    js.write_text(json.dumps(scheme.to_dict()))
    mlflow.pyfunc.save_model(
        str(path),
        python_model=str(MODEL_CODE),
        artifacts={ARTIFACT_KEY: str(pkl), SCHEME_KEY: str(js)},
        signature=model_signature(model, features, scheme),
        input_example=input_example(model, features),
        pip_requirements=["clvml"],
    )
    write_manifest(path)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    """(data folder, model folder, validated frames)."""
    from clvml.data.synthetic import load_social_commerce
    from clvml.data.validation import (
        validate_customers,
        validate_engagement,
        validate_transactions,
    )
    from clvml.models.composite import CLVModel

    data = load_social_commerce()
    folder = tmp_path_factory.mktemp("monitor") / "data"
    folder.mkdir()
    ids = set(data.customers["customer_id"].iloc[:N_CUSTOMERS])
    frames = {}
    for name in ("transactions", "engagement", "customers"):
        frame = getattr(data, name)
        frames[name] = frame.loc[frame["customer_id"].isin(ids)].reset_index(drop=True)
        frames[name].to_parquet(folder / f"{name}.parquet")
    tx = validate_transactions(frames["transactions"])
    eng = validate_engagement(frames["engagement"])
    cust = validate_customers(frames["customers"])
    X = customer_features(tx, eng, cust, cutoff=CUTOFF)
    with threadpool_limits(1, user_api="openmp"):
        model = CLVModel(horizon_weeks=HORIZON, methods=("btyd",), interval=None).fit(
            X, training_window={"cutoff": CUTOFF}
        )
    path = _save_model(model, X, tmp_path_factory.mktemp("models") / "clvml")
    return folder, path, frames


def _scored_crm(world, url: str, workdir: Path) -> str:
    folder, path, _ = world
    score_customers(str(path), folder, url, as_of=SCORED, workdir=workdir)
    return url


def _direct(url: str, frames) -> tuple[float, float, float, float]:
    """Gini and total bias computed by hand from the CRM scores and the later purchases."""
    scores = CRMSink(url).read_scores().set_index("customer_id")
    tx = frames["transactions"]
    start, end = pd.Timestamp(SCORED) + pd.Timedelta(days=1), tx["timestamp"].max()
    later = tx[(tx["timestamp"] >= start) & (tx["timestamp"] <= end)]
    revenue = later.groupby("customer_id")["amount"].sum().reindex(scores.index, fill_value=0.0)
    through = end.normalize()
    elapsed = (through - pd.Timestamp(SCORED)) / pd.Timedelta(weeks=1)
    predicted = scores["clv"] * elapsed / HORIZON
    gini = normalized_gini(revenue.to_numpy(), predicted.to_numpy())
    bias = predicted.sum() / revenue.sum() - 1
    top = scores["value_tier"] == scores["value_tier"].iloc[0]
    tier_bias = predicted[top].sum() / revenue[top].sum() - 1
    return gini, bias, elapsed, tier_bias


def _check_against_direct(url: str, world, result) -> None:
    _, _, frames = world
    gini, bias, elapsed, tier_bias = _direct(url, frames)
    acc = result.accuracy
    overall = acc[acc["scope"] == "overall"].iloc[0]
    assert overall["scored_as_of"] == pd.Timestamp(SCORED).date()
    assert_allclose(overall["elapsed_weeks"], elapsed, rtol=1e-12)
    assert 30 < elapsed < HORIZON  # a partly elapsed horizon: pro-rated
    assert_allclose(overall["normalized_gini"], gini, rtol=1e-9)
    assert_allclose(overall["total_bias"], bias, rtol=1e-9, atol=1e-12)
    assert np.isnan(overall["churn_ece"])  # churn is only known once the horizon elapsed
    tier = CRMSink(url).read_scores()["value_tier"].iloc[0]
    row = acc[acc["scope"] == f"tier:{tier}"].iloc[0]
    assert_allclose(row["total_bias"], tier_bias, rtol=1e-9, atol=1e-12)
    # the table holds the same numbers
    stored = latest_monitoring(url)
    g = stored[(stored["kind"] == "accuracy") & (stored["scope"] == "overall")]
    g = g.set_index("metric")["value"]
    assert_allclose(g["normalized_gini"], gini, rtol=1e-9)
    assert_allclose(g["total_bias"], bias, rtol=1e-9, atol=1e-12)
    assert "customer_id" not in stored.columns


def test_monitor_equals_a_direct_computation_sqlite(world, tmp_path):
    url = _scored_crm(world, f"sqlite:///{tmp_path / 'crm.db'}", tmp_path)
    folder, path, _ = world
    result = monitor_model(url, folder, model_uri=str(path), log_to_mlflow=False)
    _check_against_direct(url, world, result)
    # the same world a year on: spend per purchase is not reported as drifted (its PSI, ~0.1,
    # comes from the customers who made their first repeat purchase since: fewer zeros)
    psi = result.drift.set_index("feature")["psi"]
    assert psi["monetary_value"] < 0.25
    assert result.rows["monitor_id"].nunique() == 1


@pytest.mark.postgres
def test_monitor_equals_a_direct_computation_postgres(world, tmp_path, pg_url):
    url = _scored_crm(world, pg_url, tmp_path)
    folder, path, _ = world
    result = monitor_model(url, folder, model_uri=str(path), log_to_mlflow=False)
    _check_against_direct(url, world, result)
    again = monitor_model(
        url, folder, model_uri=str(path), log_to_mlflow=False, monitor_id=result.monitor_id
    )
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        n = conn.exec_driver_sql("SELECT COUNT(*) FROM model_monitoring").scalar_one()
    engine.dispose()
    assert n == len(again.rows)  # the same monitor id again replaces its rows


def test_shifted_spend_drifts_and_tight_thresholds_degrade(world, tmp_path):
    url = _scored_crm(world, f"sqlite:///{tmp_path / 'crm.db'}", tmp_path)
    folder, path, frames = world
    shifted = tmp_path / "shifted"
    shifted.mkdir()
    for name, frame in frames.items():
        frame = frame.copy()
        if name == "transactions":
            late = frame["timestamp"] > pd.Timestamp(CUTOFF) + pd.Timedelta(days=1)
            frame.loc[late, "amount"] *= 3.0
        frame.to_parquet(shifted / f"{name}.parquet")
    base = monitor_model(url, folder, model_uri=str(path), log_to_mlflow=False)
    moved = monitor_model(url, shifted, model_uri=str(path), log_to_mlflow=False)
    p0 = base.drift.set_index("feature")["psi"]
    p1 = moved.drift.set_index("feature")["psi"]
    assert p1["monetary_value"] > 0.25 > p0["monetary_value"]
    assert bool(moved.drift.set_index("feature").loc["monetary_value", "drifted"])
    # tripled spend: realised revenue ~3x, so the old predictions are ~-65% biased
    bias = moved.accuracy.set_index("scope").loc["overall", "total_bias"]
    assert bias < -0.5
    assert moved.degraded and any("total bias" in r for r in moved.reasons)
    status = latest_monitoring(url)
    status = status[status["kind"] == "status"].iloc[0]
    assert status["value"] == 1.0 and "total bias" in status["note"]


def test_cli_monitor_logs_a_linked_mlflow_run_and_says_retrain(world, tmp_path, capsys):
    import mlflow

    url = _scored_crm(world, f"sqlite:///{tmp_path / 'crm.db'}", tmp_path)
    folder, path, _ = world
    store = f"sqlite:///{tmp_path / 'mlruns.db'}"
    args = ["monitor", "--crm-url", url, "--data", str(folder), "--model", str(path)]
    code = cli_run([*args, "--tracking-uri", store, "--max-bias", "1000"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "healthy" in out and "Gini" in out
    code = cli_run([*args, "--tracking-uri", store, "--min-gini", "0.99"])
    out = capsys.readouterr().out
    assert code == 3, out
    assert "DEGRADED" in out and "Retrain" in out
    mlflow.set_tracking_uri(store)
    runs = mlflow.search_runs(experiment_names=["clvml-monitoring"], output_format="list")
    assert len(runs) == 2
    tags = {r.data.tags["clvml.degraded"] for r in runs}
    assert tags == {"true", "false"}
    for r in runs:
        assert r.data.tags["clvml.monitored_model_version"].endswith(path.name) or r.data.tags[
            "clvml.monitored_model_version"
        ].startswith("sha256-")
        assert "accuracy.overall.normalized_gini" in r.data.metrics


def test_monitor_refuses_a_table_without_runs(world, tmp_path):
    folder, path, _ = world
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    code = cli_run(["monitor", "--crm-url", url, "--data", str(folder), "--model", str(path)])
    assert code == 2


def test_recent_runs_wait(world, tmp_path):
    url = _scored_crm(world, f"sqlite:///{tmp_path / 'crm.db'}", tmp_path)
    folder, path, _ = world
    result = monitor_model(
        url,
        folder,
        model_uri=str(path),
        log_to_mlflow=False,
        thresholds=MonitorThresholds(min_elapsed_weeks=60),
    )
    assert result.accuracy.empty and not result.degraded
    assert any("weeks old" in w for w in result.warnings)


def test_report_shows_last_quarters_predictions(world, tmp_path):
    from clvml.pipelines.report import load_report_inputs
    from clvml.reporting.report import build_report

    url = _scored_crm(world, f"sqlite:///{tmp_path / 'crm.db'}", tmp_path)
    folder, path, frames = world
    # the data end one quarter after the scoring day: the section judges that quarter
    tx = frames["transactions"]
    through = "2025-12-30"
    result = monitor_model(url, folder, model_uri=str(path), log_to_mlflow=False, as_of=through)
    overall = result.accuracy.set_index("scope").loc["overall"]
    assert_allclose(overall["elapsed_weeks"], 13.0)
    inputs = load_report_inputs(crm_url=url)
    html = build_report(inputs)
    assert "How good were last quarter&#x27;s predictions?" in html or (
        "How good were last quarter's predictions?" in html
    )
    assert f"{overall['normalized_gini']:.3f}" in html
    assert "2025-09-30" in html and through in html
    later = tx[(tx["timestamp"] > "2025-10-01") & (tx["timestamp"] < "2025-12-31")]
    assert_allclose(overall["realised_total"], later["amount"].sum())
    es = build_report(inputs, lang="es")
    assert "previsiones del último trimestre" in es


def test_thresholds_from_a_config_file_and_the_command_line(world, tmp_path, capsys):
    from clvml.pipelines.config import ConfigError
    from clvml.pipelines.monitor import load_thresholds

    cfg = tmp_path / "monitor.toml"
    cfg.write_text("[monitor]\nmax_abs_bias = 1000\nmin_gini = 0.99\nmax_psi = 0.5\n")
    t = load_thresholds(cfg)
    assert (t.max_abs_bias, t.min_gini, t.max_psi, t.max_gini_drop) == (1000.0, 0.99, 0.5, 0.10)
    url = _scored_crm(world, f"sqlite:///{tmp_path / 'crm.db'}", tmp_path)
    folder, path, _ = world
    args = ["monitor", "--crm-url", url, "--data", str(folder), "--model", str(path)]
    # the file's Gini floor degrades; the command line's floor wins over it
    assert cli_run([*args, "--no-mlflow", "--config", str(cfg)]) == 3
    assert "below the floor 0.99" in capsys.readouterr().out
    assert cli_run([*args, "--no-mlflow", "--config", str(cfg), "--min-gini", "0"]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[monitor]\nmax_bias = 0.2\n")
    with pytest.raises(ConfigError, match=r"unknown key monitor\.max_bias"):
        load_thresholds(bad)
    assert cli_run([*args, "--no-mlflow", "--config", str(bad)]) == 2


def test_every_run_in_the_score_history_is_judged(world, tmp_path):
    """Two runs a quarter apart: the earlier one is judged from customer_score_history,
    though the score table now holds the later run's scores."""
    folder, path, frames = world
    url = _scored_crm(world, f"sqlite:///{tmp_path / 'crm.db'}", tmp_path)
    earlier = CRMSink(url).read_scores().set_index("customer_id")
    score_customers(str(path), folder, url, as_of="2025-12-31", workdir=tmp_path)
    result = monitor_model(url, folder, model_uri=str(path), log_to_mlflow=False)
    overall = result.accuracy[result.accuracy["scope"] == "overall"].set_index("scored_as_of")
    assert sorted(map(str, overall.index)) == ["2025-09-30", "2025-12-31"]
    assert "no customer_score_history" not in " ".join(result.warnings)
    # the earlier run's numbers are those of its own scores, not the table's current ones
    tx = frames["transactions"]
    later = tx[tx["timestamp"] >= pd.Timestamp(SCORED) + pd.Timedelta(days=1)]
    revenue = later.groupby("customer_id")["amount"].sum().reindex(earlier.index, fill_value=0.0)
    first = overall.loc[pd.Timestamp(SCORED).date()]
    assert_allclose(
        first["normalized_gini"], normalized_gini(revenue.to_numpy(), earlier["clv"].to_numpy())
    )
    assert_allclose(first["predicted_total"], earlier["clv"].sum() * first["fraction"])
