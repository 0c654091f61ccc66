"""Training end to end on a slice of data/social: runs, metrics, inputs, model, gate, export."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from clvml.data.io import load_folder
from clvml.data.validation import validate_customers, validate_engagement, validate_transactions
from clvml.features.dataset import customer_features
from clvml.models.model_input import predict_frame, to_model_input
from clvml.pipelines.train import train
from clvml.tracking.pyfunc import scheme_of, served_frame
from clvml.tracking.runlog import content_digest


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def runs(small_social, fast_config, store):
    """The same config trained twice into one store (the second run meets the first's model)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="openmp"):
        first = train(fast_config, data=str(small_social), workdir=store)
        second = train(fast_config, data=str(small_social), workdir=store)
    return first, second


@pytest.fixture(scope="module")
def tables(small_social):
    raw = load_folder(small_social)
    return {
        "transactions": validate_transactions(raw["transactions"]),
        "engagement": validate_engagement(raw["engagement"]),
        "customers": validate_customers(raw["customers"]),
    }


@pytest.fixture(scope="module")
def features(tables, runs):
    return customer_features(
        tables["transactions"],
        tables["engagement"],
        tables["customers"],
        cutoff=runs[0].calibration_end,
    )


def _client(result):
    import mlflow

    mlflow.set_tracking_uri(result.tracking_uri)
    return mlflow.MlflowClient(tracking_uri=result.tracking_uri, registry_uri=result.tracking_uri)


def test_same_seed_gives_identical_metrics_and_params(runs):
    first, second = runs
    client = _client(first)
    a, b = client.get_run(first.run_id).data, client.get_run(second.run_id).data
    # the gate differs (the second run meets a champion), and so do the seconds and memory
    # the steps took (a measurement, not a result of the seed)
    measured = ("gate.", "time.", "peak_rss_mib")
    not_gate = lambda m: {k: v for k, v in m.items() if not k.startswith(measured)}  # noqa: E731
    assert not_gate(a.metrics) == not_gate(b.metrics)
    assert len(not_gate(a.metrics)) > 40
    # other engineers may commit between the two runs: the commit is not a setting
    a.params.pop("git_commit"), b.params.pop("git_commit")
    assert a.params == b.params
    pd.testing.assert_frame_equal(first.comparison, second.comparison)
    for cid in ("comparison", "method btyd"):
        assert (
            client.get_run(first.child_run_ids[cid]).data.metrics
            == client.get_run(second.child_run_ids[cid]).data.metrics
        )


def test_time_split_and_run_layout(runs):
    first, _ = runs
    # data/social: calibration ends at midnight 2025-06-30 (exclusive), holdout 52 weeks
    assert (first.calibration_end, first.holdout_end) == ("2025-06-29", "2026-06-28")
    client = _client(first)
    run = client.get_run(first.run_id)
    m, p, tags = run.data.metrics, run.data.params, run.data.tags
    assert run.info.run_name.startswith("train clvml: btyd of 2 methods @ 2025-06-29 +52w seed 3")
    # every comparison metric per method, under <metric>.<method>
    for method in ("btyd", "hybrid", "past_spend"):
        for metric in ("normalized_gini", "spearman", "top_decile_capture", "mae", "total_bias"):
            assert f"{metric}.{method}" in m
    for metric in ("roc_auc", "pr_auc", "brier"):
        assert f"{metric}.btyd" in m and f"{metric}.hybrid" in m
    assert m["normalized_gini.btyd"] == first.comparison.loc["btyd", "normalized_gini"]
    # the served model's own holdout metrics; its clv is the btyd method's
    assert m["holdout.normalized_gini"] == pytest.approx(m["normalized_gini.btyd"], abs=1e-12)
    # fitted BTYD parameters with standard errors
    for par in ("r", "alpha", "a", "b"):
        assert m[f"param.bgnbd.{par}"] > 0 and m[f"param_se.bgnbd.{par}"] > 0
    for par in ("p", "q", "v"):
        assert m[f"param.gamma_gamma.{par}"] > 0 and m[f"param_se.gamma_gamma.{par}"] > 0
    assert m["data.transactions.rows_read"] == m["data.transactions.rows_kept"]
    # every step timed in the run, and the peak memory
    for step in ("validate", "features", "compare methods", "fit model", "log model"):
        key = "time." + step.replace(" ", "_")
        assert m[key] == pytest.approx(first.timings[step]) and m[key] > 0
    assert m["time.total"] == pytest.approx(sum(first.timings.values()))
    assert 50 < m["peak_rss_mib"] < 64 * 1024
    assert m["data.customers_at_cutoff"] > 500
    # params: config and versions; tags: version and commit (this is a git checkout)
    assert p["window.horizon_weeks"] == "52" and p["model.champion"] == "btyd"
    assert p["resolved.calibration_end"] == "2025-06-29"
    assert tags["clvml.version"] == p["clvml_version"]
    assert len(tags["mlflow.source.git.commit"]) == 40
    # nested runs: the comparison, and one run per method under it
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{first.run_id}'"
    )
    assert [c.info.run_id for c in children] == [first.child_run_ids["comparison"]]
    methods = client.search_runs(
        [run.info.experiment_id],
        f"tags.mlflow.parentRunId = '{first.child_run_ids['comparison']}'",
    )
    names = sorted(r.info.run_name for r in methods)
    assert names == ["method btyd", "method hybrid", "method past_spend"]
    btyd = client.get_run(first.child_run_ids["method btyd"]).data.metrics
    assert btyd["normalized_gini"] == m["normalized_gini.btyd"]


def test_artifacts_plots_and_inputs(runs, tables):
    import mlflow

    first, _ = runs
    client = _client(first)
    files = {
        f.path
        for d in ("plots/diagnostics", "plots/evaluation", "params", "validation", "evaluation")
        for f in client.list_artifacts(first.run_id, d)
    }
    for name in (
        "plots/diagnostics/period_transactions.png",
        "plots/diagnostics/probability_alive_matrix.png",
        "plots/evaluation/churn_calibration.png",
        "plots/evaluation/decile_chart.png",
        "plots/evaluation/gain_chart.png",
        "plots/diagnostics/spend_fit.png",
        "params/bgnbd.csv",
        "validation/validation_transactions.csv",
        "evaluation/served_model_deciles.csv",
    ):
        assert name in files
    assert {f.path for f in client.list_artifacts(first.child_run_ids["comparison"])} >= {
        "comparison.csv",
        "deciles.csv",
    }
    comparison_plots = client.list_artifacts(first.child_run_ids["comparison"], "plots")
    assert {f.path for f in comparison_plots} >= {"plots/gain_curves.png", "plots/deciles_btyd.png"}
    assert first.skipped_plots == {}
    inputs = mlflow.get_run(first.run_id).inputs.dataset_inputs
    by_name = {i.dataset.name: i.dataset for i in inputs}
    assert set(by_name) == {"transactions", "engagement", "customers", "customer_features"}
    for name in ("transactions", "engagement", "customers"):
        assert by_name[name].digest == content_digest(tables[name])
        profile = json.loads(by_name[name].profile)
        assert profile["num_rows"] == len(tables[name])
    assert by_name["transactions"].digest != content_digest(tables["transactions"].iloc[:-1])


def test_same_seed_does_not_take_the_alias(runs):
    first, second = runs
    assert first.decision.promoted and first.decision.champion_version is None
    assert not second.decision.promoted
    assert second.decision.champion_version == first.registered_version
    # the champion was re-scored on this holdout: same model, same number
    assert second.decision.champion_value == pytest.approx(second.decision.new_value, abs=1e-12)
    client = _client(first)
    tags = client.get_run(second.run_id).data.tags
    assert tags["gate.promoted"] == "false"
    assert tags["gate.champion_value_source"] == "re-scored on this holdout"
    alias = client.get_model_version_by_alias("clvml", "champion")
    assert str(alias.version) == first.registered_version
    v2 = client.get_model_version("clvml", second.registered_version)
    assert v2.tags["role"] == "challenger"


def test_pyfunc_reloads_in_a_fresh_process(runs, features, tmp_path):
    first, _ = runs
    x = to_model_input(features)
    x.to_parquet(tmp_path / "x.parquet")
    code = (
        "import sys, mlflow, pandas as pd\n"
        "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "model.predict(pd.read_parquet(sys.argv[2])).to_parquet(sys.argv[3])\n"
    )
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": first.tracking_uri,
        "OMP_NUM_THREADS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            first.model_uri,
            str(tmp_path / "x.parquet"),
            str(tmp_path / "y.parquet"),
        ],
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
    )
    got = pd.read_parquet(tmp_path / "y.parquet")
    import mlflow

    # the served frame: the estimator's predictions labelled by the stored segment scheme
    scheme = scheme_of(mlflow.pyfunc.load_model(first.model_uri))
    want = served_frame(first.model, scheme, features)
    assert list(got.columns) == list(want.columns)
    assert got["customer_id"].tolist() == want["customer_id"].tolist()
    for c in want.columns[1:]:
        if not pd.api.types.is_numeric_dtype(want[c]):
            assert got[c].tolist() == want[c].tolist(), c
        else:
            assert_allclose(got[c].to_numpy(), want[c].to_numpy(), rtol=0, atol=0, err_msg=c)
    for c in (
        "clv",
        "clv_lower",
        "clv_upper",
        "p_active",
        "churn_probability",
        "p_alive_btyd",
        "expected_purchases",
        "expected_avg_spend",
        "segment",
    ):
        assert c in got.columns
    assert np.isfinite(got["clv"]).all() and (got["p_active"].between(0, 1)).all()


def test_pyfunc_signature_and_frame_indexed_by_customer_id(runs, features):
    import mlflow

    first, _ = runs
    model = mlflow.pyfunc.load_model(first.model_uri)
    schema = {c.name: (c.type.name, c.required) for c in model.metadata.get_input_schema().inputs}
    assert schema.pop("customer_id") == ("string", False)
    assert schema.pop("acquisition_channel") == ("string", True)
    assert set(schema.values()) == {("double", True)}
    # the input example carries made-up ids only
    example = model.input_example
    assert example["customer_id"].str.startswith("example-").all()
    # a frame indexed by customer_id (no column) scores the same
    indexed = to_model_input(features.head(30)).set_index("customer_id")
    out = model.predict(indexed)
    assert out["customer_id"].tolist() == features.index[:30].tolist()
    assert_allclose(out["clv"], predict_frame(first.model, features.head(30))["clv"], rtol=0)


def test_export_champion_scores_without_the_store(runs, features, tmp_path):
    import mlflow

    from clvml.tracking.export import export_model

    first, _ = runs
    out = tmp_path / "models" / "clvml"
    result = export_model("models:/clvml@champion", out, tracking_uri=first.tracking_uri)
    assert (result.version, result.run_id) == (first.registered_version, first.run_id)
    provenance = json.loads((out / "export.json").read_text())
    assert provenance["version"] == first.registered_version
    assert provenance["metrics"]["holdout.normalized_gini"] == first.holdout["normalized_gini"]
    mlflow.set_tracking_uri("sqlite:///" + str(tmp_path / "elsewhere.db"))  # not the store
    got = mlflow.pyfunc.load_model(str(out)).predict(to_model_input(features.head(50)))
    assert_allclose(got["clv"], predict_frame(first.model, features.head(50))["clv"], rtol=0)
    # exporting again replaces the folder in one piece
    export_model("models:/clvml@champion", out, tracking_uri=first.tracking_uri)
    assert sorted(p.name for p in out.parent.iterdir()) == ["clvml"]


def test_export_unknown_alias_is_a_clear_error(runs, tmp_path):
    from clvml.tracking.export import ModelExportError, export_model

    with pytest.raises(ModelExportError, match="models:/clvml@nope: not found"):
        export_model("models:/clvml@nope", tmp_path / "m", tracking_uri=runs[0].tracking_uri)
    assert not (tmp_path / "m").exists()
