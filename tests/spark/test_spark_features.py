"""Spark engagement features and the Spark customer frame equal the pandas ones."""

from __future__ import annotations

import pandas as pd
import pytest
from numpy.testing import assert_array_equal

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def world_in_spark(spark, make_world):
    """A generated world (300 customers) and its tables as Spark DataFrames."""
    data = make_world(300, random_state=1)
    frames = {
        name: spark.createDataFrame(getattr(data, name))
        for name in ("transactions", "engagement", "customers")
    }
    return data, frames


def _assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert got.index.equals(expected.index)
    assert set(got.columns) == set(expected.columns)
    for col in expected.columns:
        e, g = expected[col], got[col]
        if e.dtype.kind == "f":  # one definition, exact money: identical, not merely close
            assert_array_equal(g.to_numpy(float), e.to_numpy(float), err_msg=col)
        else:
            assert (g.astype(str) == e.astype(str)).all(), col


def test_spark_engagement_features_equal_pandas(world_in_spark):
    from clvml.features.engagement import EngagementFeatures
    from clvml.spark.features import engagement_features

    data, frames = world_in_spark
    cut = data.calibration_end
    expected = EngagementFeatures(cutoff=cut).fit(data.engagement).transform(data.engagement)
    got = engagement_features(frames["engagement"], cutoff=cut, n_buckets=3)
    got = got.toPandas().set_index("customer_id").sort_index()
    assert expected["n_texts"].sum() > 100  # the sentiment path is exercised
    _assert_same(got[list(expected.columns)], expected)


def test_spark_engagement_features_for_given_customers(world_in_spark):
    from clvml.features.engagement import EngagementFeatures
    from clvml.spark.features import engagement_features

    data, frames = world_in_spark
    cut = pd.Timestamp("2024-06-01")  # early: many customers have no event yet
    customers = data.customers[["customer_id", "acquisition_date"]]
    expected = (
        EngagementFeatures(cutoff=cut)
        .fit(data.engagement)
        .transform(data.engagement, customers=customers)
    )
    got = engagement_features(frames["engagement"], cutoff=cut, customers=frames["customers"])
    got = got.toPandas().set_index("customer_id").sort_index()
    expected = expected.sort_index()
    assert (expected["n_events"] == 0).sum() > 10
    _assert_same(got[list(expected.columns)], expected)


def test_spark_customer_frame_equals_pandas(world_in_spark):
    from clvml.features.dataset import customer_features as pandas_frame
    from clvml.spark.features import customer_features

    data, frames = world_in_spark
    expected = pandas_frame(
        data.transactions, data.engagement, data.customers, cutoff=data.calibration_end
    )
    got = customer_features(
        frames["transactions"],
        frames["engagement"],
        frames["customers"],
        cutoff=data.calibration_end,
    )
    got = got.toPandas().set_index("customer_id").sort_index()
    assert list(got.columns) == list(expected.columns)
    _assert_same(got, expected)
