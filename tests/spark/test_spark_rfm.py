"""Spark RFM and calibration/holdout summaries equal the pandas ones."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from clvml.exceptions import DataValidationError
from clvml.features import rfm as prfm
from clvml.features.rfm import RowsExcludedWarning

pytestmark = pytest.mark.spark


def _same(spark_frame, expected: pd.DataFrame) -> None:
    got = spark_frame.toPandas().set_index(expected.index.name).sort_index()
    assert_array_equal(got.index.to_numpy(), expected.index.to_numpy())
    assert list(got.columns) == list(expected.columns)
    for col in expected.columns:
        # money is summed exactly in both engines: bit for bit, not merely close
        assert_array_equal(got[col].to_numpy(), expected[col].to_numpy(), err_msg=col)


@pytest.fixture(scope="module")
def cdnow_in_spark(spark, cdnow_transactions):
    """The CDNOW transaction log in pandas and as a Spark DataFrame."""
    tx = cdnow_transactions[["customer_id", "timestamp", "amount"]]
    return tx, spark.createDataFrame(tx)


@pytest.fixture(scope="module")
def generated(spark):
    rng = np.random.default_rng(7)
    n = 4000
    tx = pd.DataFrame(
        {
            "customer_id": pd.array(rng.integers(0, 500, n).astype(str), dtype="str"),
            "timestamp": pd.Timestamp("2023-01-01")
            + pd.to_timedelta(rng.integers(0, 400 * 24 * 3600, n), unit="s"),
            "amount": np.round(rng.gamma(2.0, 20.0, n), 2),
        }
    )
    return tx, spark.createDataFrame(tx)


@pytest.mark.parametrize(
    "kw",
    [
        dict(freq="D", freq_multiplier=7, observation_period_end="1997-09-30"),
        dict(freq="W"),
        dict(freq="D", include_first_transaction=True),
    ],
)
def test_spark_rfm_equals_pandas_on_cdnow(cdnow_in_spark, kw):
    from clvml.spark.rfm import rfm_summary

    tx, sdf = cdnow_in_spark
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RowsExcludedWarning)
        expected = prfm.rfm_summary(tx, monetary_value_col="amount", **kw)
        got = rfm_summary(sdf, monetary_value_col="amount", **kw)
    _same(got, expected)


def test_spark_rfm_reports_rows_after_the_end(cdnow_in_spark):
    from clvml.spark.rfm import rfm_summary

    _, sdf = cdnow_in_spark
    with pytest.warns(RowsExcludedWarning, match=r"^\d+ transactions in periods after"):
        rfm_summary(sdf, observation_period_end="1997-09-30")


def test_spark_calibration_holdout_equals_pandas_on_cdnow(cdnow_in_spark):
    from clvml.spark.rfm import calibration_holdout_summary

    tx, sdf = cdnow_in_spark
    kw = dict(
        calibration_period_end="1997-09-30",
        observation_period_end="1998-06-30",
        freq="D",
        freq_multiplier=7,
        monetary_value_col="amount",
    )
    expected = prfm.calibration_holdout_summary(tx, **kw)
    _same(calibration_holdout_summary(sdf, **kw), expected)


@pytest.mark.parametrize("freq", ["D", "W", "W-WED", "h"])
def test_spark_summaries_equal_pandas_on_generated_data(generated, freq):
    from clvml.spark.rfm import calibration_holdout_summary, rfm_summary

    tx, sdf = generated
    _same(
        rfm_summary(sdf, monetary_value_col="amount", freq=freq, freq_multiplier=2),
        prfm.rfm_summary(tx, monetary_value_col="amount", freq=freq, freq_multiplier=2),
    )
    kw = dict(calibration_period_end="2023-10-01 12:00", freq=freq, monetary_value_col="amount")
    _same(calibration_holdout_summary(sdf, **kw), prfm.calibration_holdout_summary(tx, **kw))


def test_spark_summaries_do_not_depend_on_the_partitioning(spark):
    """Shuffled rows in 7 partitions, amounts with more decimals than cents and refunds."""
    from pyspark.sql import functions as F

    from clvml.spark.rfm import calibration_holdout_summary, rfm_summary

    rng = np.random.default_rng(3)
    n = 6000
    amount = np.where(
        rng.random(n) < 0.5, np.round(rng.gamma(2.0, 20.0, n), 2), rng.gamma(2.0, 20.0, n)
    )
    tx = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 300, n),
            "timestamp": pd.Timestamp("2023-01-01")
            + pd.to_timedelta(rng.integers(0, 400 * 24 * 3600, n), unit="s"),
            "amount": np.where(rng.random(n) < 0.05, -amount, amount),
        }
    )
    sdf = spark.createDataFrame(tx).orderBy(F.rand(seed=1)).repartition(7)
    kw = dict(monetary_value_col="amount", freq="D")
    _same(rfm_summary(sdf, **kw), prfm.rfm_summary(tx, **kw))
    _same(
        rfm_summary(sdf, include_first_transaction=True, **kw),
        prfm.rfm_summary(tx, include_first_transaction=True, **kw),
    )
    kw["calibration_period_end"] = "2023-10-01"
    _same(calibration_holdout_summary(sdf, **kw), prfm.calibration_holdout_summary(tx, **kw))


def test_spark_rfm_refuses_bad_input(spark, generated):
    from clvml.spark.rfm import calibration_holdout_summary, rfm_summary

    tx, sdf = generated
    with pytest.raises(DataValidationError, match="not supported by the Spark path"):
        rfm_summary(sdf, freq="M")
    with pytest.raises(DataValidationError, match="freq_multiplier"):
        rfm_summary(sdf, freq_multiplier=0)
    with pytest.raises(DataValidationError, match="calibration_period_end is required"):
        calibration_holdout_summary(sdf)
    broken = tx.head(10).copy()
    broken.loc[[2, 5], "amount"] = np.nan
    with pytest.raises(DataValidationError, match=r"amount.*2 rows"):
        rfm_summary(spark.createDataFrame(broken), monetary_value_col="amount")
    with pytest.raises(DataValidationError, match="customer"):
        rfm_summary(sdf, customer_id_col="customer")
