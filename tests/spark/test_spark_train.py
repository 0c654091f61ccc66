"""``clvml train --engine spark``: the same run as the local engine, BTYD on every customer.

The shipped ``data/social`` folder (5,000 customers, Parquet tables) is trained with both
engines. With every customer on the driver the two runs must agree; with a sample, the
BTYD parts must still be the fits on every customer while the rest sees the sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

pytestmark = pytest.mark.spark


def _folder():
    from clvml.data.datasets import data_path

    return data_path("social/metadata.json").parent


#: the last calibration day of data/social (its metadata.json's exclusive midnight, minus a day)
CUTOFF = "2025-06-29"


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    from clvml.pipelines.train import train

    where = tmp_path_factory.mktemp("local")
    return train(data=str(_folder()), workdir=where, tracking_uri=f"sqlite:///{where}/m.db")


@pytest.fixture(scope="module")
def spark_run(spark, tmp_path_factory):
    """The Spark engine reading the same tables from the Spark catalog (global temp views)."""
    from clvml.spark.io import read_tables
    from clvml.spark.train import train

    for name, frame in read_tables(spark, str(_folder())).items():
        frame.createOrReplaceGlobalTempView(name)
    where = tmp_path_factory.mktemp("spark")
    return train(
        data="table:global_temp",
        calibration_end=CUTOFF,
        workdir=where,
        tracking_uri=f"sqlite:///{where}/m.db",
        sample_customers=10_000,
        spark=spark,
    )


def _run(result):
    import mlflow

    return mlflow.MlflowClient(result.tracking_uri).get_run(result.run_id).data


def test_spark_train_equals_the_local_train_when_every_customer_fits(local_run, spark_run):
    assert local_run.calibration_end == CUTOFF  # the local run read it from metadata.json
    # the BTYD fits: Spark's compressed summaries vs pandas' own rows (same likelihood)
    for name, value in local_run.model.btyd_params_.items():
        assert_allclose(spark_run.model.btyd_params_[name], value, rtol=1e-6, err_msg=name)
    # everything downstream: the comparison of every method and the served model
    assert list(spark_run.comparison.index) == list(local_run.comparison.index)
    assert list(spark_run.comparison.columns) == list(local_run.comparison.columns)
    assert_allclose(
        spark_run.comparison.to_numpy(float), local_run.comparison.to_numpy(float), rtol=1e-5
    )
    assert spark_run.holdout.keys() == local_run.holdout.keys()
    for name, value in local_run.holdout.items():
        assert_allclose(spark_run.holdout[name], value, rtol=1e-6, err_msg=name)
    assert spark_run.model.methods_ == local_run.model.methods_
    assert (spark_run.calibration_end, spark_run.holdout_end) == (
        local_run.calibration_end,
        local_run.holdout_end,
    )
    data = _run(spark_run)
    assert data.params["engine"] == "spark" and _run(local_run).params["engine"] == "local"
    assert data.params["data.source"] == "table:global_temp"
    assert data.params["spark.sampled"] == "false"
    assert data.metrics["data.customers_total"] == data.metrics["data.customers_sampled"] == 5000
    # the validation counts are the local engine's (read = kept on this clean data)
    local = _run(local_run).metrics
    for table in ("transactions", "engagement", "customers"):
        for what in ("rows_read", "rows_kept", "rows_set_aside"):
            key = f"data.{table}.{what}"
            assert data.metrics[key] == local[key], key
    assert spark_run.decision is not None and spark_run.decision.promoted


def test_cli_train_engine_spark_on_a_sample_validates_and_keeps_btyd_on_every_customer(
    spark, local_run, tmp_path
):
    import mlflow

    import clvml.cli.train  # noqa: F401  (registers the command)
    from clvml.cli._app import run

    # the shipped data plus 40 repeated purchases and 25 refunds, which the config's
    # policies set aside: what is left is the shipped data again
    data = tmp_path / "data"
    data.mkdir()
    for name in ("engagement", "customers"):
        pd.read_parquet(_folder() / f"{name}.parquet").to_parquet(data / f"{name}.parquet")
    tx = pd.read_parquet(_folder() / "transactions.parquet")
    rng = np.random.default_rng(5)
    refunds = tx.iloc[rng.choice(len(tx), 25, replace=False)].assign(amount=lambda d: -d["amount"])
    dirty = pd.concat([tx, tx.iloc[rng.choice(len(tx), 40, replace=False)], refunds])
    dirty.sample(frac=1.0, random_state=1).to_parquet(data / "transactions.parquet", index=False)
    (data / "metadata.json").write_text((_folder() / "metadata.json").read_text())
    config = tmp_path / "train.toml"
    config.write_text('[data]\nduplicates = "drop"\nreturns = "drop"\n')
    uri = f"sqlite:///{tmp_path}/m.db"
    argv = ["train", "--engine", "spark", "--data", str(data), "--tracking-uri", uri]
    assert run([*argv, "--config", str(config), "--sample-customers", "2000"]) == 0
    client = mlflow.MlflowClient(uri)
    (found,) = client.search_runs(
        [client.get_experiment_by_name("clvml").experiment_id],
        filter_string="tags.`clvml.step` = 'train'",
    )
    params, metrics = found.data.params, found.data.metrics
    assert params["engine"] == "spark" and params["spark.sampled"] == "true"
    assert metrics["data.customers_total"] == 5000
    assert metrics["data.transactions.rows_read"] == len(dirty)
    assert metrics["data.transactions.rows_set_aside"] == 65
    assert metrics["data.transactions.rows_kept"] == len(tx)
    # a hash sample of rate 0.4: 2,000 +- 35 (one binomial sd); 6 sd either side
    assert 1790 <= metrics["data.customers_sampled"] <= 2210
    # the MLflow inputs are the sample the driver read, named as such
    inputs = {d.dataset.name for d in found.inputs.dataset_inputs}
    assert {"transactions_sample", "customers_sample", "customer_features"} <= inputs
    assert metrics["data.customers_at_cutoff"] < 0.5 * 5000
    # the served BG/NBD and Gamma-Gamma are still the fits on all 5,000 customers
    fitted = {k: v for k, v in metrics.items() if k.startswith("param.")}
    assert fitted, "no BTYD parameters were logged"
    for name, value in local_run.model.btyd_params_.items():
        key = next(k for k in fitted if k.endswith(f".{name}") and "covariates" not in k)
        assert_allclose(fitted[key], value, rtol=1e-6, err_msg=key)


def test_sample_customers_is_reproducible_and_of_the_asked_size(spark):
    from pyspark.sql import functions as F

    from clvml.spark.train import sample_customers

    ids = spark.range(100_000).select(F.col("id").cast("string").alias("customer_id"))
    a, n = sample_customers(ids.repartition(7), 20_000, seed=3)
    b, _ = sample_customers(ids.repartition(2), 20_000, seed=3)
    c, _ = sample_customers(ids, 20_000, seed=4)
    got_a = set(a.toPandas()["customer_id"])
    assert n == 100_000
    assert got_a == set(b.toPandas()["customer_id"])  # partitioning does not matter
    assert got_a != set(c.toPandas()["customer_id"])  # the seed does
    # Bernoulli(0.2) over 100,000 IDs: sd 126; 6 sd either side
    assert abs(len(got_a) - 20_000) < 760
    everyone, n_all = sample_customers(ids, 100_000)
    assert n_all == everyone.count() == 100_000


def test_spark_engine_refuses_a_database_source_in_one_line(spark, tmp_path):
    import clvml.cli.train  # noqa: F401
    from clvml.cli._app import run

    uri = f"sqlite:///{tmp_path}/m.db"
    argv = ["train", "--engine", "spark", "--data", f"sqlite:///{tmp_path}/shop.db"]
    assert run([*argv, "--tracking-uri", uri]) == 2
    # --sample-customers belongs to the Spark engine
    assert run(["train", "--sample-customers", "500", "--tracking-uri", uri]) == 2


def test_btyd_fitter_matches_clvmodel_own_fit_on_cdnow(spark):
    from clvml.data.datasets import load_cdnow_master
    from clvml.features.dataset import customer_features
    from clvml.models.composite import CLVModel
    from clvml.spark.train import btyd_fitter

    tx = load_cdnow_master()
    cutoff = pd.Timestamp("1997-09-30")
    X = customer_features(tx, cutoff=cutoff)
    own = CLVModel(methods=("btyd",), interval=None).fit(X)
    sdf = spark.createDataFrame(tx.assign(customer_id=tx["customer_id"].astype(str)))
    bg, gg = btyd_fitter(sdf)(cutoff)
    for name, value in own.btyd_params_.items():
        got = {**bg.params_, **gg.params_}[name]
        assert_allclose(got, value, rtol=1e-6, err_msg=name)
    # the driver received distinct rows, not customers
    assert bg.n_distinct_ < 0.5 * bg.n_customers_
    assert np.isclose(bg.n_customers_, len(X))


def test_btyd_fitter_rounding_to_whole_weeks_compresses_and_keeps_the_fit_close(spark):
    from clvml.data.datasets import load_cdnow_master
    from clvml.spark.train import btyd_fitter

    tx = load_cdnow_master()
    sdf = spark.createDataFrame(tx.assign(customer_id=tx["customer_id"].astype(str)))
    cutoff = pd.Timestamp("1997-09-30")
    exact_bg, exact_gg = btyd_fitter(sdf)(cutoff)
    # 7 steps per week is the summary's own grid (days): nothing moves, bit for bit
    same_bg, _ = btyd_fitter(sdf, time_resolution=7)(cutoff)
    assert same_bg.n_distinct_ == exact_bg.n_distinct_
    assert same_bg.params_ == exact_bg.params_
    weeks_bg, cents_gg = btyd_fitter(sdf, time_resolution=1, monetary_decimals=0)(cutoff)
    assert weeks_bg.n_distinct_ < 0.5 * exact_bg.n_distinct_
    assert cents_gg.n_distinct_ < exact_gg.n_distinct_
    assert weeks_bg.n_customers_ == exact_bg.n_customers_
    # half a week at most on recency and T, a dollar at most on the mean spend
    for name, value in exact_bg.params_.items():
        assert_allclose(weeks_bg.params_[name], value, rtol=0.05, err_msg=name)
    for name, value in exact_gg.params_.items():
        assert_allclose(cents_gg.params_[name], value, rtol=0.05, err_msg=name)


def test_read_tables_from_a_folder_uri_the_catalog_and_refusals(spark, tmp_path):
    from clvml.exceptions import DataValidationError
    from clvml.spark.io import read_tables

    local = read_tables(spark, str(_folder()))
    assert set(local) == {"transactions", "engagement", "customers"}
    # a file-system URI is read as remote storage: the absent optional tables are skipped
    only = tmp_path / "only"
    only.mkdir()
    pd.read_parquet(_folder() / "transactions.parquet").to_parquet(
        only / "transactions.parquet", coerce_timestamps="us", allow_truncated_timestamps=True
    )
    remote = read_tables(spark, only.as_uri())
    assert set(remote) == {"transactions"}
    assert remote["transactions"].count() == local["transactions"].count()
    local["customers"].createOrReplaceGlobalTempView("customers")
    local["transactions"].createOrReplaceGlobalTempView("transactions")
    catalog = read_tables(spark, "table:global_temp")
    assert catalog["customers"].count() == local["customers"].count()
    with pytest.raises(DataValidationError, match="letters, digits and underscores"):
        read_tables(spark, "table:global_temp; DROP TABLE x")
    with pytest.raises(DataValidationError, match="no transactions table in nowhere"):
        read_tables(spark, "table:nowhere")
    with pytest.raises(DataValidationError, match="not a database URL"):
        read_tables(spark, "postgresql://crm@db/shop")
    with pytest.raises(DataValidationError, match=r"no transactions\.parquet"):
        read_tables(spark, (tmp_path / "empty").as_uri())
