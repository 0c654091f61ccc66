"""BTYD and Gamma-Gamma fits on Spark-compressed summaries equal the pandas fits."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from clvml.exceptions import DataValidationError
from clvml.features import rfm as prfm
from clvml.features.rfm import RowsExcludedWarning
from clvml.models.btyd import BetaGeo, GammaGamma, ParetoNBD

pytestmark = pytest.mark.spark

KW = dict(
    freq="D", freq_multiplier=7, observation_period_end="1997-09-30", monetary_value_col="amount"
)


@pytest.fixture(scope="module")
def summaries(spark):
    from clvml.data.datasets import load_cdnow_master
    from clvml.spark.rfm import rfm_summary

    tx = load_cdnow_master()[["customer_id", "timestamp", "amount"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RowsExcludedWarning)
        return prfm.rfm_summary(tx, **KW), rfm_summary(spark.createDataFrame(tx), **KW)


def test_spark_compressed_table_counts_every_customer(summaries):
    from clvml.spark.fit import compress_summary

    pandas_summary, spark_summary = summaries
    table = compress_summary(spark_summary)
    assert table["weight"].sum() == len(pandas_summary)
    distinct = pandas_summary[["frequency", "recency", "T"]].drop_duplicates()
    assert len(table) == len(distinct) < len(pandas_summary) / 2


@pytest.mark.parametrize("model", [BetaGeo, ParetoNBD])
def test_spark_btyd_fit_equals_pandas_fit(summaries, model):
    from clvml.spark.fit import fit_btyd

    pandas_summary, spark_summary = summaries
    expected = model().fit(pandas_summary)
    got = fit_btyd(model(), spark_summary)
    for name, value in expected.params_.items():
        assert_allclose(got.params_[name], value, rtol=1e-6, err_msg=name)
    assert_allclose(got.log_likelihood_, expected.log_likelihood_, rtol=1e-12)
    assert got.n_customers_ == expected.n_customers_ == len(pandas_summary)


def test_spark_time_resolution_leaves_grid_values_unchanged(summaries):
    from clvml.spark.fit import compress_summary

    _, spark_summary = summaries
    exact = compress_summary(spark_summary)
    rounded = compress_summary(spark_summary, time_resolution=7)
    assert_allclose(rounded.to_numpy(), exact.to_numpy(), rtol=0, atol=0)
    coarse = compress_summary(spark_summary, time_resolution=1)  # whole weeks
    assert len(coarse) < len(exact) and coarse["weight"].sum() == exact["weight"].sum()


def test_spark_gamma_gamma_fit_equals_pandas_fit(summaries):
    from pyspark.sql import functions as F

    from clvml.spark.fit import fit_gamma_gamma

    pandas_summary, spark_summary = summaries
    # CDNOW has one repeat buyer whose repeat purchases cost 0: no Gamma-Gamma spend
    positive = pandas_summary[pandas_summary["monetary_value"] > 0]
    expected = GammaGamma().fit(positive)
    got = fit_gamma_gamma(GammaGamma(), spark_summary.where(F.col("monetary_value") > 0))
    for name, value in expected.params_.items():
        assert_allclose(got.params_[name], value, rtol=1e-6, err_msg=name)
    assert got.n_customers_ == expected.n_customers_ == (positive["frequency"] > 0).sum()


def test_spark_compress_refuses_too_many_rows(summaries):
    from clvml.spark.fit import compress_summary, sample_to_pandas

    _, spark_summary = summaries
    with pytest.raises(DataValidationError, match="more than 100 distinct"):
        compress_summary(spark_summary, max_rows=100)
    sample = sample_to_pandas(spark_summary, 500, seed=1)
    assert len(sample) <= 500 and sample.index.is_unique and np.isfinite(sample["T"]).all()
