"""``ml_level``: ML ranking on the label-free stack at the label-free model's level."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvml.features.dataset import customer_features, holdout_targets
from clvml.models.clv_model import CLVModel

FAST = {"max_iter": 30, "n_draws": 30, "interval": None}


@pytest.fixture(scope="module")
def fitted(cdnow_sample_transactions):
    tx = cdnow_sample_transactions
    c, c0 = pd.Timestamp("1997-12-31"), pd.Timestamp("1997-07-03")
    feats = customer_features(tx, cutoff=c)
    labelled = customer_features(tx, cutoff=c0)
    labels = holdout_targets(tx, labelled.index, start=c0, end=c)
    model = CLVModel(horizon_weeks=26, methods=("ml_level",), champion="ml_level", **FAST)
    return model.fit(feats, labelled, labels), feats


def test_level_is_the_label_free_total_and_the_ranking_is_the_trees(fitted):
    model, feats = fitted
    assert model.champion_ == "ml_level" and model.methods_ == ["ml_level"]
    outs = model.predict_outputs(feats)
    ours, lf = outs["ml_level"].clv, outs["pareto_nbd_all_spend"].clv
    assert ours.sum() == pytest.approx(lf.sum(), rel=1e-9)
    assert (ours > 0).all() and np.isfinite(ours).all()
    # a ranking of its own, not a rescaled copy of the label-free one
    assert np.corrcoef(np.argsort(np.argsort(ours)), np.argsort(np.argsort(lf)))[0, 1] < 0.999


def test_a_customer_prediction_does_not_depend_on_who_else_is_scored(fitted):
    model, feats = fitted
    full = model.predict(feats)["clv"]
    part = model.predict(feats.iloc[::7])["clv"]
    np.testing.assert_allclose(part.to_numpy(), full.iloc[::7].to_numpy(), rtol=1e-12)
