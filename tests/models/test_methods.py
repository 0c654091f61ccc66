"""The CLV method registry: one protocol, one output record, one registry; re-fit hygiene."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from clvml.features.dataset import customer_features, holdout_targets
from clvml.features.engagement import EngagementFeatures
from clvml.features.frames import FrameBuilder
from clvml.models import training
from clvml.models.clv_model import CLVModel
from clvml.models.hybrid import bgnbd_probability_purchase_if_alive
from clvml.models.methods import (
    BASELINES,
    CHAMPION_ORDER,
    DEFAULT_METHODS,
    METHODS,
    REGISTRY,
    SUPERVISED_METHODS,
    CLVMethod,
    FitData,
    MethodOutput,
    PredictData,
    fit_btyd,
)

FAST = {"max_iter": 30, "n_draws": 30, "interval": None}


@pytest.fixture(scope="module")
def world_frames(make_world):
    """A generated world and its customer frames: (world, features, labelled, labels)."""
    w = make_world(1000, random_state=11)
    c = w.calibration_end - pd.Timedelta(days=1)
    c0 = c - pd.Timedelta(weeks=52)
    feats = customer_features(w.transactions, w.engagement, w.customers, cutoff=c)
    labelled = customer_features(w.transactions, w.engagement, w.customers, cutoff=c0)
    labels = holdout_targets(w.transactions, labelled.index, start=c0, end=c)
    return w, feats, labelled, labels


def test_the_registry_is_the_one_source_of_the_method_lists():
    assert tuple(REGISTRY) == METHODS
    assert METHODS == (
        "closed_form", "btyd", "btyd_covariates", "pareto_nbd", "btyd_all_spend",
        "pareto_nbd_all_spend", "hybrid", "ml", "ml_two_part", "blend", "ml_level", "ml_anchored",
        "past_spend",
    )  # fmt: skip
    assert DEFAULT_METHODS == ("closed_form", "btyd", "btyd_covariates", "hybrid", "ml")
    assert {
        "closed_form", "hybrid", "ml", "ml_two_part", "blend", "ml_level", "ml_anchored"
    } == SUPERVISED_METHODS  # fmt: skip
    assert BASELINES == ("past_spend",)
    # the champion fallback order of the former composite, baselines last
    assert CHAMPION_ORDER == (
        "btyd", "hybrid", "ml", "blend", "ml_two_part", "ml_level", "ml_anchored",
        "btyd_covariates", "pareto_nbd", "btyd_all_spend", "pareto_nbd_all_spend", "closed_form",
        "past_spend",
    )  # fmt: skip
    for name, cls in REGISTRY.items():
        assert cls.name == name and issubclass(cls, CLVMethod)


def test_method_output_is_nan_where_a_method_has_no_such_output():
    o = MethodOutput(clv=[1.0, 2.0], p_alive=[0.5, 0.9])
    assert o.has("clv") and o.has("p_alive") and not o.has("churn_probability")
    assert np.isnan(o.clv_lower).all() and np.isnan(o.expected_spend).all()
    with pytest.raises(ValueError, match="shape"):
        MethodOutput(clv=[1.0, 2.0], p_alive=[0.5])


class _TwiceBTYD(CLVMethod):
    """A toy method for the test only: twice BG/NBD + Gamma-Gamma, from a fitted factor."""

    name = "twice_btyd"
    needs = ("btyd",)
    fallback_rank = 50

    def fit(self, model: Any, data: FitData) -> dict[str, Any]:
        return {"toy_factor_": 2.0, "toy_customers_": len(data.features)}

    def predict(self, model: Any, data: PredictData) -> MethodOutput:
        return MethodOutput(clv=model.toy_factor_ * data.outputs["btyd"].clv)


def test_a_new_method_is_one_class_and_one_registry_line(world_frames):
    _, feats, _, _ = world_frames

    class ToyCLVModel(CLVModel):
        registry: ClassVar[dict] = {**REGISTRY, "twice_btyd": _TwiceBTYD}  # test-local copy

    m = ToyCLVModel(methods=("twice_btyd",), champion="twice_btyd", **FAST).fit(feats)
    assert m.methods_ == ["twice_btyd"] and m.champion_ == "twice_btyd"
    assert m.toy_factor_ == 2.0 and m.toy_customers_ == len(feats)
    out = m.predict(feats)
    btyd = CLVModel(methods=("btyd",), **FAST).fit(feats).predict(feats)
    np.testing.assert_allclose(out["clv_twice_btyd"], 2 * btyd["clv_btyd"], rtol=1e-12)
    np.testing.assert_allclose(out["clv"], out["clv_twice_btyd"])
    # the champion has no P(alive) of its own: BG/NBD's fills in
    np.testing.assert_allclose(out["p_alive_btyd"], btyd["p_alive_btyd"])
    # the package registry is untouched
    assert "twice_btyd" not in REGISTRY
    with pytest.raises(ValueError, match="methods"):
        CLVModel(methods=("twice_btyd",)).fit(feats)


def test_each_method_reports_its_own_churn_probability(world_frames):
    _, feats, labelled, labels = world_frames
    methods = ("closed_form", "btyd", "hybrid", "ml", "blend", "past_spend")
    m = CLVModel(methods=methods, **FAST).fit(feats, labelled, labels)
    outs = m.predict_outputs(feats)
    pred = m.predict(feats)
    # the classifier's, for the methods built on it; the frame's column is the served
    # method's own when it has one (issue #14 point 7), else the classifier's
    clf = outs["churn"].churn_probability
    np.testing.assert_array_equal(outs["closed_form"].churn_probability, clf)
    np.testing.assert_array_equal(outs["hybrid"].churn_probability, clf)
    champ = outs[m.champion_]
    served = champ.churn_probability if champ.has("churn_probability") else clf
    np.testing.assert_array_equal(pred["churn_probability"].to_numpy(), served)
    np.testing.assert_allclose(pred["p_active"].to_numpy(), 1.0 - served, rtol=0, atol=0)
    # BG/NBD's P(no purchase in H) = 1 - P(alive) P(purchase | alive)
    bg = m.bgnbd_
    x, T = feats["frequency"].to_numpy(float), np.maximum(feats["T"].to_numpy(float), 1 / 7)
    q = bgnbd_probability_purchase_if_alive(bg.params_["r"], bg.params_["alpha"], x, T, 52.0)
    p_alive = bg.probability_alive(feats.assign(T=T)).to_numpy()
    np.testing.assert_allclose(outs["btyd"].churn_probability, 1 - p_alive * q, rtol=1e-12)
    for name in ("ml", "blend", "past_spend"):
        assert not outs[name].has("churn_probability")
    for name in methods:
        np.testing.assert_array_equal(outs[name].clv, pred[f"clv_{name}"].to_numpy())
    # past spend: revenue per week of age (at least one) times the horizon
    expected = feats["total_spend"] * 52 / np.maximum(feats["T"], 1.0)
    np.testing.assert_allclose(pred["clv_past_spend"], expected.to_numpy(), rtol=1e-12)


def test_a_refit_with_other_methods_keeps_nothing_of_the_previous_fit(world_frames):
    _, feats, labelled, labels = world_frames
    window = {"cutoff": "x"}
    m = CLVModel(methods=("btyd", "btyd_covariates", "ml", "blend"), **FAST)
    m.fit(feats, labelled, labels, training_window=window)
    before = {k for k in vars(m) if k.endswith("_")}
    assert {"n_labelled_", "ml_offset_", "value_regressor_", "blend_scale_"} <= before
    assert {"bgnbd_covariates_", "training_window_"} <= before
    m.set_params(methods=("btyd",)).fit(feats)
    fresh = CLVModel(methods=("btyd",), **FAST).fit(feats)
    after = {k for k in vars(m) if k.endswith("_")}
    assert after == {k for k in vars(fresh) if k.endswith("_")}
    assert not after & {"n_labelled_", "ml_offset_", "value_regressor_", "blend_scale_"}
    assert m.training_window_ is None


def test_fit_clv_model_sets_fitted_attributes_only_inside_fit(world_frames, monkeypatch):
    w = world_frames[0]
    c = w.calibration_end - pd.Timedelta(days=1)
    seen: dict[str, Any] = {}

    class Recording(CLVModel):
        def fit(self, *args: Any, **kwargs: Any) -> Recording:
            super().fit(*args, **kwargs)
            seen.update(vars(self))
            return self

    monkeypatch.setattr(training, "CLVModel", Recording)
    early = w.transactions["timestamp"].min() + pd.Timedelta(weeks=30)
    m = training.fit_clv_model(w.transactions, cutoff=early, methods=("btyd", "ml"), **FAST)
    assert vars(m).keys() == seen.keys()
    assert all(vars(m)[k] is v for k, v in seen.items())
    # 30 weeks of history, a 52-week horizon: no earlier window (the short-history rule)
    assert "shorter than the 364-day horizon" in m.skipped_methods_["ml"]
    assert "label-free methods only" in m.skipped_methods_["ml"]
    assert m.training_window_["cutoff"] == str(pd.Timestamp(early).date())
    del c


def test_callers_models_and_transformers_are_never_mutated(world_frames):
    w, feats, _, _ = world_frames
    bg, gg = fit_btyd(feats.assign(T=feats["T"].clip(lower=1 / 7)))
    state = ({**vars(bg)}, {**vars(gg)})
    CLVModel(methods=("btyd",), **FAST).fit(feats, btyd=(bg, gg))
    assert vars(bg).keys() == state[0].keys() and vars(gg).keys() == state[1].keys()
    assert all(vars(bg)[k] is v for k, v in state[0].items())
    assert all(vars(gg)[k] is v for k, v in state[1].items())
    transformer = EngagementFeatures(windows=(30,))
    params = transformer.get_params()
    c = w.calibration_end - pd.Timedelta(days=1)
    out = customer_features(
        w.transactions, w.engagement, cutoff=c, engagement_transformer=transformer
    )
    assert "n_events_30d" in out.columns or len(out.columns) > 8
    assert transformer.get_params() == params
    assert not [k for k in vars(transformer) if k.endswith("_")]


def test_a_customer_frame_fits_and_predicts_like_its_dataframe(world_frames):
    w, feats, labelled, labels = world_frames
    c = w.calibration_end - pd.Timedelta(days=1)
    frames = FrameBuilder(w.transactions, w.engagement, w.customers)
    at_c, at_c0 = frames.at(c), frames.at(c - pd.Timedelta(weeks=52))
    pd.testing.assert_frame_equal(at_c.frame, feats)
    pd.testing.assert_frame_equal(at_c0.frame, labelled)
    kw = {"methods": ("btyd", "hybrid", "ml"), **FAST}
    a = CLVModel(**kw).fit(feats, labelled, labels).predict(feats)
    b = CLVModel(**kw).fit(at_c, at_c0, labels).predict(at_c)
    pd.testing.assert_frame_equal(a, b)
