"""``ml_anchored``: a learned correction of the label-free model the training window prefers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvml.evaluation.metrics import normalized_gini
from clvml.features.dataset import customer_features, holdout_targets
from clvml.models.clv_model import CLVModel
from clvml.models.methods.ml_anchored import ANCHORS, ranking_gini

FAST = {"max_iter": 30, "n_draws": 30, "interval": None}


@pytest.fixture(scope="module")
def fitted(cdnow_sample_transactions):
    tx = cdnow_sample_transactions
    c, c0 = pd.Timestamp("1997-12-31"), pd.Timestamp("1997-07-03")
    feats = customer_features(tx, cutoff=c)
    labelled = customer_features(tx, cutoff=c0)
    labels = holdout_targets(tx, labelled.index, start=c0, end=c)
    model = CLVModel(horizon_weeks=26, methods=("ml_anchored",), champion="ml_anchored", **FAST)
    return model.fit(feats, labelled, labels), feats, labelled, labels


def test_ranking_gini_is_the_evaluation_gini():
    rng = np.random.default_rng(3)
    y = rng.gamma(0.3, 50.0, 2000) * (rng.random(2000) < 0.4)
    p = y + rng.normal(0, 30, 2000)
    ties = np.round(p, -1)  # many tied predictions
    for pred in (p, ties, -p, np.full(2000, 1.0)):
        assert ranking_gini(y, pred) == pytest.approx(normalized_gini(y, pred), abs=1e-12)
    assert ranking_gini(y, y) == pytest.approx(1.0)
    assert np.isnan(ranking_gini(np.ones(5), np.arange(5.0)))


def test_the_anchor_is_the_label_free_model_that_ranks_the_training_window_best(fitted):
    model, _, labelled, labels = fitted
    assert model.champion_ == "ml_anchored" and model.methods_ == ["ml_anchored"]
    assert model.anchor_ in ANCHORS and set(model.anchor_gini_) == set(ANCHORS)
    assert model.anchor_gini_[model.anchor_] == max(model.anchor_gini_.values())
    # the recorded Ginis are those of the candidates refitted at the training cut-off
    lf = CLVModel(horizon_weeks=26, methods=ANCHORS, **FAST).fit(labelled)
    outs = lf.predict_outputs(labelled)
    revenue = labels["revenue"].to_numpy(dtype=float)
    for name in ANCHORS:
        expected = normalized_gini(revenue, outs[name].clv)
        assert model.anchor_gini_[name] == pytest.approx(expected, abs=1e-9)


def test_level_is_the_anchor_total_and_the_ranking_is_its_own(fitted):
    model, feats, _, _ = fitted
    outs = model.predict_outputs(feats)
    ours, anchor = outs["ml_anchored"].clv, outs[model.anchor_].clv
    assert ours.sum() == pytest.approx(anchor.sum(), rel=1e-9)
    assert (ours > 0).all() and np.isfinite(ours).all()
    # a multiplicative correction of the anchor, not a rescaled copy of it
    ratio = ours / anchor
    assert ratio.std() > 0.01
    rank = np.corrcoef(np.argsort(np.argsort(ours)), np.argsort(np.argsort(anchor)))[0, 1]
    assert 0.5 < rank < 0.9999


def test_a_customer_prediction_does_not_depend_on_who_else_is_scored(fitted):
    model, feats, _, _ = fitted
    full = model.predict(feats)["clv"]
    part = model.predict(feats.iloc[::7])["clv"]
    np.testing.assert_allclose(part.to_numpy(), full.iloc[::7].to_numpy(), rtol=1e-12)


def test_a_planted_multiplicative_effect_is_recovered_on_top_of_the_anchor(
    cdnow_sample_transactions,
):
    """Planted ground truth: the training revenue is the label-free CLV times exp(signal)
    (gamma noise of mean 1); the correction of the older, scored customers follows the
    signal, which no label-free model reads."""
    tx = cdnow_sample_transactions
    c, c0 = pd.Timestamp("1997-12-31"), pd.Timestamp("1997-07-03")
    feats = customer_features(tx, cutoff=c)
    labelled = customer_features(tx, cutoff=c0)
    rng = np.random.default_rng(5)
    signal = pd.Series(rng.normal(0.0, 0.5, len(feats)), index=feats.index)
    feats = feats.assign(signal=signal)
    labelled = labelled.assign(signal=signal.reindex(labelled.index))
    base = CLVModel(horizon_weeks=26, methods=("btyd_all_spend",), interval=None).fit(labelled)
    clv = base.predict_outputs(labelled)["btyd_all_spend"].clv
    noise = rng.gamma(2.0, 0.5, len(labelled))
    revenue = clv * np.exp(labelled["signal"].to_numpy()) * noise
    labels = holdout_targets(tx, labelled.index, start=c0, end=c).assign(revenue=revenue)
    model = CLVModel(
        horizon_weeks=26, methods=("ml_anchored",), champion="ml_anchored", interval=None
    ).fit(feats, labelled, labels)
    outs = model.predict_outputs(feats)
    correction = np.log(outs["ml_anchored"].clv / outs[model.anchor_].clv)
    assert np.corrcoef(correction, feats["signal"])[0, 1] > 0.9
