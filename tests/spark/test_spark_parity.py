"""One customer, one answer: ``clvml score --engine spark`` writes the local job's scores.

On a 20,000-customer generated world, every score column the Spark job writes to the CRM
is identical (``==`` for floats, not close; equal strings) to what the local job writes
for the same model, data and as-of date. Before the monetary sums were exact, the two
engines added amounts in different orders, ``total_spend`` differed in the last bit for
thousands of customers and a churn probability moved across a split of the classifier.
"""

from __future__ import annotations

import pandas as pd
import pytest
from numpy.testing import assert_array_equal

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def big_world():
    from clvml.data.synthetic import generate_social_commerce

    return generate_social_commerce(20_000, random_state=7)


@pytest.fixture(scope="module")
def churn_model(tmp_path_factory):
    """BG/NBD + Gamma-Gamma and the ML methods (a gradient-boosted churn classifier),
    fitted on another, smaller world and logged as a pyfunc to a local folder."""
    import mlflow

    from clvml.data.synthetic import generate_social_commerce
    from clvml.features.dataset import customer_features
    from clvml.models.composite import fit_clv_model
    from clvml.tracking.pyfunc import log_clv_model
    from clvml.tracking.store import point_mlflow_at

    w = generate_social_commerce(3000, random_state=11)
    tables = (w.transactions, w.engagement, w.customers)
    model = fit_clv_model(
        *tables,
        cutoff=w.calibration_end,
        horizon_weeks=26,
        methods=("btyd", "ml"),
        interval=None,
        max_iter=40,
    )
    features = customer_features(*tables, cutoff=w.calibration_end)
    root = tmp_path_factory.mktemp("mlflow_parity")
    previous = mlflow.get_tracking_uri()
    point_mlflow_at(f"sqlite:///{root}/mlflow.db")
    try:
        exp = mlflow.create_experiment("parity", (root / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=exp):
            info = log_clv_model(model, features)
        local = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(root / "model"))
    finally:
        point_mlflow_at(previous)
    from clvml.tracking.integrity import write_manifest

    write_manifest(local)  # the digests clvml export records: a folder is checked before loading
    return local


def test_spark_and_local_jobs_write_identical_scores(spark, big_world, churn_model, tmp_path):
    import clvml.cli.score  # noqa: F401  (registers the command)
    from clvml.cli._app import run
    from clvml.scoring.crm import CRMSink

    data = tmp_path / "data"
    data.mkdir()
    for name in ("transactions", "engagement", "customers"):
        getattr(big_world, name).to_parquet(data / f"{name}.parquet", index=False)
    as_of = str(pd.Timestamp(big_world.calibration_end).date())
    argv = ["score", "--model", churn_model, "--data", str(data), "--as-of", as_of]
    local, remote = f"sqlite:///{tmp_path / 'local.db'}", f"sqlite:///{tmp_path / 'spark.db'}"
    assert run([*argv, "--crm-url", local]) == 0
    assert run([*argv, "--engine", "spark", "--crm-url", remote]) == 0
    with CRMSink(local) as a, CRMSink(remote) as b:
        skip = ["run_id", "scored_at"]
        want = a.read_scores().drop(columns=skip).sort_values("customer_id", ignore_index=True)
        got = b.read_scores().drop(columns=skip).sort_values("customer_id", ignore_index=True)
    assert len(want) > 15_000
    assert list(got.columns) == list(want.columns)
    assert want["churn_probability"].nunique() > 100  # the classifier's output is scored
    for col in want.columns:
        if pd.api.types.is_float_dtype(want[col]):
            assert_array_equal(got[col].to_numpy(float), want[col].to_numpy(float), err_msg=col)
        else:
            a, b = (f[col].astype(object).where(f[col].notna(), None) for f in (got, want))
            assert a.tolist() == b.tolist(), col
