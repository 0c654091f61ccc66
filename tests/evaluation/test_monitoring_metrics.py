"""Monitoring numbers with planted truth: PSI, unseen categories, pro-rated accuracy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from clvml.evaluation.classification import churn_metrics
from clvml.evaluation.metrics import normalized_gini
from clvml.evaluation.monitoring import (
    feature_drift,
    population_stability_index,
    prediction_accuracy,
    unseen_share,
)
from clvml.exceptions import DataValidationError
from clvml.features.dataset import customer_features


def test_psi_by_hand():
    # reference shares (.5, .5), current (.25, .75): (.25-.5)ln(.5) + (.75-.5)ln(1.5)
    expected = -0.25 * np.log(0.5) + 0.25 * np.log(1.5)
    assert_allclose(population_stability_index(list("aabb"), list("abbb")), expected, rtol=1e-3)
    assert population_stability_index(np.arange(100.0), np.arange(100.0)) == pytest.approx(0.0)


def test_psi_is_near_zero_on_the_same_distribution_and_large_on_a_shifted_one(make_world):
    """Two worlds of the same generator (other seeds) vs one whose spend is tripled."""
    a, b = make_world(3000, 11), make_world(3000, 12)
    cut = "2025-06-30"
    fa = customer_features(a.transactions, cutoff=cut)
    fb = customer_features(b.transactions, cutoff=cut)
    tx = b.transactions.copy()
    tx["amount"] *= 3.0
    fs = customer_features(tx, cutoff=cut)
    cols = ["frequency", "recency", "T", "monetary_value", "total_spend"]
    same = feature_drift(fa, fb, cols).set_index("feature")["psi"]
    moved = feature_drift(fa, fs, cols).set_index("feature")["psi"]
    assert (same < 0.02).all(), same.to_dict()
    assert moved["monetary_value"] > 1.0 and moved["total_spend"] > 1.0
    # tripling spend does not touch the purchase timing
    assert_allclose(moved[["frequency", "recency", "T"]], same[["frequency", "recency", "T"]])


def test_unseen_categories_are_counted_exactly():
    ref = pd.Series(["web", "app", "store", None])
    cur = pd.Series(["web", "tiktok", "tiktok", "app", None, "store", "radio", "web"])
    assert unseen_share(ref, cur) == pytest.approx(3 / 7)  # missing values are not counted
    d = feature_drift(pd.DataFrame({"ch": ref}), pd.DataFrame({"ch": cur}))
    assert d.loc[0, "kind"] == "categorical" and d.loc[0, "unseen_share"] == pytest.approx(3 / 7)
    assert d.loc[0, "psi"] > 0.25


def _planted(n: int = 2000, seed: int = 0):
    rng = np.random.default_rng(seed)
    clv = rng.gamma(1.5, 100.0, n)
    tiers = np.where(clv > np.quantile(clv, 0.8), "top", "rest")
    churn = rng.uniform(0.05, 0.95, n)
    ids = pd.Index([f"c{i}" for i in range(n)], name="customer_id")
    pred = pd.DataFrame(
        {
            "clv": clv,
            "expected_purchases": clv / 50,
            "churn_probability": churn,
            "value_tier": tiers,
        },
        index=ids,
    )
    bought = rng.uniform(size=n) > churn
    purchases = np.where(bought, rng.poisson(3, n) + 1, 0).astype(float)
    revenue = np.where(bought, clv * rng.lognormal(-0.7, 0.5, n), 0.0)
    real = pd.DataFrame({"revenue": revenue, "purchases": purchases}, index=ids)
    return pred, real


def test_accuracy_is_the_direct_computation_pro_rated():
    pred, real = _planted()
    acc = prediction_accuracy(pred, real, elapsed_weeks=13, horizon_weeks=52).set_index("scope")
    f = 13 / 52
    o = acc.loc["overall"]
    assert_allclose(o["normalized_gini"], normalized_gini(real["revenue"], pred["clv"]))
    assert_allclose(o["total_bias"], (pred["clv"] * f).sum() / real["revenue"].sum() - 1)
    assert_allclose(
        o["purchases_bias"], (pred["expected_purchases"] * f).sum() / real["purchases"].sum() - 1
    )
    assert_allclose(o["churn_rate_so_far"], (real["purchases"] == 0).mean())
    assert np.isnan(o["churn_ece"]) and np.isnan(o["churn_brier"])  # horizon not over
    top = pred["value_tier"] == "top"
    assert acc.loc["tier:top", "n_customers"] == top.sum()
    assert_allclose(
        acc.loc["tier:top", "total_bias"],
        (pred.loc[top, "clv"] * f).sum() / real.loc[top, "revenue"].sum() - 1,
    )


def test_churn_calibration_once_the_horizon_has_elapsed():
    pred, real = _planted()
    acc = prediction_accuracy(pred, real, elapsed_weeks=60, horizon_weeks=52)
    o = acc.set_index("scope").loc["overall"]
    m = churn_metrics((real["purchases"] == 0).astype(float), pred["churn_probability"])
    assert_allclose([o["churn_ece"], o["churn_brier"]], [m["ece"], m["brier"]])
    assert o["fraction"] == 1.0  # never pro-rated beyond the horizon
    assert_allclose(o["total_bias"], pred["clv"].sum() / real["revenue"].sum() - 1)
    # planted: churn probabilities are the true ones, so they are well calibrated
    assert o["churn_ece"] < 0.05


def test_accuracy_refuses_customers_without_realised_values():
    pred, real = _planted(50)
    with pytest.raises(DataValidationError, match="customer_id"):
        prediction_accuracy(pred, real.iloc[:-3], elapsed_weeks=10, horizon_weeks=52)
    with pytest.raises(DataValidationError, match="elapsed"):
        prediction_accuracy(pred, real, elapsed_weeks=0, horizon_weeks=52)
