"""The customer frame and holdout targets: hand-checked values, no leakage, CDNOW counts."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from clvml.data.datasets import load_cdnow_master
from clvml.exceptions import DataValidationError
from clvml.features.dataset import (
    build_customer_dataset,
    customer_features,
    feature_groups,
    holdout_targets,
)


@pytest.fixture(scope="module")
def world(make_world):
    return make_world(800, random_state=3)


def tiny():
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "a", "b"],
            "timestamp": pd.to_datetime(
                ["2024-01-01", "2024-01-01", "2024-01-15", "2024-01-08", "2024-02-05", "2024-02-20"]
            ),
            "amount": [10.0, 5.0, 20.0, 7.0, 30.0, 4.0],
        }
    )


def test_hand_checked_features_and_targets():
    tx = tiny()
    f = customer_features(tx, cutoff="2024-01-31")
    # a: days 2024-01-01 (15 = 10 + 5 merged) and 2024-01-15 (20); T = 30 days
    assert_allclose(f.loc["a", ["frequency", "recency", "T"]], [1, 14 / 7, 30 / 7])
    assert_allclose(f.loc["a", ["monetary_value", "n_purchases", "total_spend"]], [20, 2, 35])
    assert_allclose(f.loc["b", ["frequency", "recency", "T", "total_spend"]], [0, 0, 23 / 7, 7])
    t = holdout_targets(tx, f.index, start="2024-01-31", end="2024-02-29")
    assert_allclose(t.loc["a"], [30, 1, 0])
    assert_allclose(t.loc["b"], [4, 1, 0])
    t2 = holdout_targets(tx, f.index, start="2024-01-31", end="2024-02-10")
    assert_allclose(t2.loc["b"], [0, 0, 1])


def test_no_holdout_event_changes_any_feature(world):
    cut = world.calibration_end - pd.Timedelta(days=1)
    base = customer_features(world.transactions, world.engagement, world.customers, cutoff=cut)
    late_tx = world.transactions.loc[world.transactions["timestamp"] >= world.calibration_end]
    late_ev = world.engagement.loc[world.engagement["timestamp"] >= world.calibration_end]
    assert len(late_tx) and len(late_ev)
    # drop every later row, and separately perturb them: the features must not move
    early = customer_features(
        world.transactions.drop(late_tx.index),
        world.engagement.drop(late_ev.index),
        world.customers,
        cutoff=cut,
    )
    pd.testing.assert_frame_equal(base, early)
    tx2 = world.transactions.copy()
    tx2.loc[late_tx.index, "amount"] *= 100
    ev2 = world.engagement.copy()
    ev2.loc[late_ev.index, "kind"] = "complaint"
    ev2.loc[late_ev.index, "direction"] = "inbound"
    perturbed = customer_features(tx2, ev2, world.customers, cutoff=cut)
    pd.testing.assert_frame_equal(base, perturbed)


def test_groups_partition_columns(world):
    cut = world.calibration_end - pd.Timedelta(days=1)
    f = customer_features(world.transactions, world.engagement, world.customers, cutoff=cut)
    groups = feature_groups(f.columns)
    flat = [c for cols in groups.values() for c in cols]
    assert sorted(flat) == sorted(f.columns) and len(flat) == len(set(flat))
    assert all("sentiment" not in c for c in groups["engagement"])
    assert "sentiment_mean" in groups["sentiment"] and "frequency" in groups["rfm"]


def test_cdnow_counts():
    ds = build_customer_dataset(load_cdnow_master(), cutoff="1997-09-30", holdout_end="1998-06-30")
    assert len(ds.features) == 23570
    assert ds.horizon_weeks == pytest.approx(39.0)
    tx = load_cdnow_master()
    late = tx["timestamp"] > "1997-09-30"
    assert_allclose(ds.targets["revenue"].sum(), tx.loc[late, "amount"].sum())
    assert np.all(ds.targets["churned"] == (ds.targets["purchases"] == 0))


def test_bad_windows():
    with pytest.raises(DataValidationError, match="after the cut-off"):
        build_customer_dataset(tiny(), cutoff="2024-02-01", holdout_end="2024-01-01")
    with pytest.raises(DataValidationError, match="shorten the holdout"):
        build_customer_dataset(tiny(), cutoff="2024-01-31", holdout_end="2024-12-31")
    with pytest.raises(DataValidationError, match="no purchases"):
        customer_features(tiny(), cutoff="2023-01-01")
