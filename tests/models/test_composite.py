"""CLVModel: every CLV method side by side; hybrid identities, discounting, segments, skips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvml.exceptions import DataValidationError
from clvml.features.dataset import customer_features, holdout_targets
from clvml.models.btyd import BetaGeo
from clvml.models.composite import CLVModel, PoissonValueRegressor
from clvml.models.engagement_value import engagement_value, mean_discount_factor
from clvml.models.hybrid import (
    bgnbd_probability_purchase,
    bgnbd_probability_purchase_if_alive,
    hybrid_probability_alive,
)
from clvml.models.methods import fit_btyd
from clvml.segments import SegmentScheme

FAST = {"max_iter": 40, "n_draws": 40}


@pytest.fixture(scope="module")
def world_frames(make_world):
    """The customer frames of a generated world: (features, labelled features, labels)."""
    w = make_world(1500, random_state=11)
    c = w.calibration_end - pd.Timedelta(days=1)
    c0 = c - pd.Timedelta(weeks=52)
    feats = customer_features(w.transactions, w.engagement, w.customers, cutoff=c)
    labelled = customer_features(w.transactions, w.engagement, w.customers, cutoff=c0)
    labels = holdout_targets(w.transactions, labelled.index, start=c0, end=c)
    return feats, labelled, labels


@pytest.fixture(scope="module")
def fitted(world_frames):
    feats, labelled, labels = world_frames
    model = CLVModel(methods=("closed_form", "btyd", "btyd_covariates", "hybrid", "ml"), **FAST)
    return model.fit(feats, labelled, labels)


# --------------------------------------------------------------------------- hybrid math


def _simulate_bgnbd(n, r, alpha, a, b, T, H, seed):
    """Repeat purchases in (0, T], alive at T, any purchase in (T, T + H] (BG/NBD process)."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    t = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    x = np.zeros(n)
    buys_later = np.zeros(n, dtype=bool)
    alive_at_T = np.ones(n, dtype=bool)
    for _ in range(400):
        if not alive.any():
            break
        t = t + rng.exponential(1 / lam)
        in_cal = alive & (t <= T)
        x += in_cal
        later = alive & (t > T) & (t <= T + H)
        buys_later |= later
        alive &= t <= T  # past T we only need the first purchase after T
        died = in_cal & (rng.random(n) < p)
        alive_at_T &= ~died
        alive &= ~died
    return x, alive_at_T, buys_later


@pytest.mark.parametrize("x_obs", [0, 2])
def test_probability_of_purchase_if_alive_matches_simulation(x_obs):
    r, alpha, a, b, T, H = 0.8, 6.0, 1.2, 3.0, 20.0, 15.0
    x, alive_at_T, buys = _simulate_bgnbd(400_000, r, alpha, a, b, T, H, seed=x_obs)
    keep = (x == x_obs) & alive_at_T
    empirical = buys[keep].mean()
    formula = float(bgnbd_probability_purchase_if_alive(r, alpha, x_obs, T, H))
    se = np.sqrt(formula * (1 - formula) / keep.sum())
    assert keep.sum() > 2000
    assert abs(empirical - formula) < 4 * se


@settings(max_examples=200, deadline=None)
@given(
    p_buy=st.floats(0, 1),
    r=st.floats(0.05, 5),
    alpha=st.floats(0.1, 50),
    x=st.integers(0, 30),
    T=st.floats(0.1, 100),
    H=st.floats(0.1, 100),
)
def test_hybrid_alive_is_a_probability_consistent_with_the_classifier(p_buy, r, alpha, x, T, H):
    q = float(bgnbd_probability_purchase_if_alive(r, alpha, x, T, H))
    p_alive = float(hybrid_probability_alive(p_buy, q))
    assert 0.0 <= p_alive <= 1.0
    if p_buy <= q:
        # the hybrid's own P(purchase) is the classifier's: the factorisation holds
        np.testing.assert_allclose(p_alive * q, p_buy, rtol=1e-9, atol=1e-15)
    else:
        assert p_alive == 1.0


@settings(max_examples=100, deadline=None)
@given(
    p_alive=st.floats(1e-6, 1),
    r=st.floats(0.05, 5),
    alpha=st.floats(0.1, 50),
    x=st.integers(0, 30),
    T=st.floats(0.1, 100),
    H=st.floats(0.1, 100),
)
def test_hybrid_with_bgnbds_own_purchase_probability_returns_its_alive_probability(
    p_alive, r, alpha, x, T, H
):
    p_buy = bgnbd_probability_purchase(p_alive, r, alpha, x, T, H)
    q = bgnbd_probability_purchase_if_alive(r, alpha, x, T, H)
    np.testing.assert_allclose(hybrid_probability_alive(p_buy, q), p_alive, rtol=1e-9)


class _BGNBDAsClassifier:
    """A 'churn classifier' that answers BG/NBD's own P(no purchase in H)."""

    classes_ = np.array([0.0, 1.0])

    def __init__(self, bg: BetaGeo, horizon: float) -> None:
        self.bg, self.h = bg, horizon

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        T = np.maximum(X["T"].to_numpy(dtype=float), 1 / 7)
        frame = X.assign(T=T)
        p_alive = self.bg.probability_alive(frame).to_numpy()
        r, alpha = self.bg.params_["r"], self.bg.params_["alpha"]
        p_buy = bgnbd_probability_purchase(p_alive, r, alpha, X["frequency"], T, self.h)
        return np.column_stack([p_buy, 1 - p_buy])


def test_hybrid_reproduces_btyd_when_the_classifier_is_bgnbd(world_frames, fitted):
    feats = world_frames[0]
    model = CLVModel(**{**fitted.get_params()}).fit(feats, *world_frames[1:])
    model.churn_classifier_ = _BGNBDAsClassifier(model.bgnbd_, 52.0)
    model.churn_shift_ = 0.0  # the level shift belongs to the replaced classifier
    model.churn_stack_ = None  # and so does the offset stack (issue #14 point 4)
    out = model.predict(feats)
    np.testing.assert_allclose(out["clv_hybrid"], out["clv_btyd"], rtol=1e-9)


# --------------------------------------------------------------------------- CLVModel


def test_predict_contract_and_fitted_attributes(world_frames, fitted):
    feats = world_frames[0]
    out = fitted.predict(feats)
    expected = [
        "clv", "clv_lower", "clv_upper", "p_active", "churn_probability", "p_alive_btyd",
            "expected_purchases",
        "expected_avg_spend", "engagement_value",
    ]  # fmt: skip
    assert list(out.columns[: len(expected)]) == expected
    # tiers and segments are the segment scheme's, not the model's
    assert not {"value_tier", "segment"} & set(out.columns)
    assert not [k for k in vars(fitted) if "threshold" in k]
    assert set(fitted.methods_) == {"closed_form", "btyd", "btyd_covariates", "hybrid", "ml"}
    for m in fitted.methods_:
        assert np.isfinite(out[f"clv_{m}"]).all() and (out[f"clv_{m}"] >= 0).all()
    assert fitted.champion_ == "btyd"
    np.testing.assert_allclose(out["clv"], out["clv_btyd"])
    assert (out["clv_lower"] <= out["clv"] + 1e-9).all() and (out["clv"] <= out["clv_upper"]).all()
    assert out["p_alive_btyd"].between(0, 1).all() and out["churn_probability"].between(0, 1).all()
    np.testing.assert_allclose(out["p_active"], 1.0 - out["churn_probability"], rtol=0, atol=0)
    assert out.index.name == "customer_id" and out.index.equals(feats.index.astype(str))
    assert set(fitted.feature_columns_) <= set(feats.columns)
    assert {"r", "alpha", "a", "b", "p", "q", "v"} <= set(fitted.btyd_params_)
    # undiscounted BTYD CLV = expected purchases x expected spend
    np.testing.assert_allclose(
        out["clv_btyd"], out["expected_purchases"] * out["expected_avg_spend"], rtol=1e-9
    )


def test_chunked_scoring_gives_the_same_tiers_and_segments(world_frames, fitted):
    feats = world_frames[0]
    # the scheme is fitted on the training customers' predictions, as the pipeline does
    scheme = SegmentScheme().fit(fitted.predict(feats))
    whole = scheme.assign(fitted.predict(feats))
    chunks = [fitted.predict(feats.iloc[:400]), fitted.predict(feats.iloc[400:])]
    parts = pd.concat([scheme.assign(c) for c in chunks])
    pd.testing.assert_frame_equal(whole, parts)
    # tiers on the fitted customers follow the rank shares (1%, 10%, 50%), up to ties
    share = whole["value_tier"].value_counts(normalize=True, sort=False)
    assert share["top 1%"] == pytest.approx(0.01, abs=0.005)
    assert share[["top 1%", "top 10%"]].sum() == pytest.approx(0.10, abs=0.01)
    assert whole["segment"].notna().all()


def test_methods_without_inputs_are_skipped_with_reasons(world_frames):
    feats = world_frames[0]
    rfm_only = feats[["frequency", "recency", "T", "monetary_value", "n_purchases",
                      "total_spend", "mean_spend", "weeks_since_last_purchase"]]  # fmt: skip
    model = CLVModel(**FAST).fit(rfm_only)
    assert model.methods_ == ["btyd"]
    assert set(model.skipped_methods_) == {"closed_form", "btyd_covariates", "hybrid", "ml"}
    assert "engagement" in model.skipped_methods_["btyd_covariates"]
    assert "labelled" in model.skipped_methods_["ml"]
    out = model.predict(rfm_only)
    assert out["engagement_value"].isna().all()
    with pytest.raises(DataValidationError, match="'T'"):
        model.predict(rfm_only.drop(columns="T"))


def test_labels_of_another_horizon_are_refused(world_frames):
    feats, labelled, labels = world_frames
    short = labels.copy()
    short.attrs = {**labels.attrs, "weeks": 26.0}
    with pytest.raises(DataValidationError, match=r"26\.00 weeks"):
        CLVModel(**FAST).fit(feats, labelled, short)


def test_discounting_matches_weekly_end_of_week_discounting(world_frames):
    feats = world_frames[0].iloc[:300]
    d = 0.10
    model = CLVModel(methods=("btyd",), annual_discount_rate=d, margin=0.4, interval=None)
    out = model.fit(world_frames[0]).predict(feats)
    bg = model.bgnbd_
    cumulative = np.column_stack(
        [np.zeros(len(feats))]
        + [bg.expected_purchases(feats, t=k).to_numpy() for k in range(1, 53)]
    )
    weekly = np.diff(cumulative, axis=1) / (1 + d) ** (np.arange(1, 53) / 52)
    spend = model.predict(feats)["expected_avg_spend"].to_numpy()
    np.testing.assert_allclose(out["clv_btyd"], 0.4 * spend * weekly.sum(axis=1), rtol=1e-9)
    undiscounted = CLVModel(methods=("btyd",), margin=0.4, interval=None).fit(world_frames[0])
    assert (out["clv_btyd"] < undiscounted.predict(feats)["clv_btyd"]).all()


def test_zero_spend_repeat_buyers_get_the_population_mean(world_frames):
    feats = world_frames[0].copy()
    ids = feats.index[feats["frequency"] > 2][:5]
    feats.loc[ids, "monetary_value"] = 0.0
    model = CLVModel(methods=("btyd",), interval=None).fit(feats)
    out = model.predict(feats)
    np.testing.assert_allclose(
        out.loc[ids, "expected_avg_spend"], model.gamma_gamma_.population_mean_spend, rtol=1e-12
    )


def test_unknown_method_and_bad_frame():
    with pytest.raises(ValueError, match="methods"):
        CLVModel(methods=("nope",)).fit(pd.DataFrame({"frequency": [1.0]}))
    with pytest.raises(DataValidationError, match="recency"):
        CLVModel().fit(pd.DataFrame({"frequency": [1.0]}))


# --------------------------------------------------------------------------- ML and engagement


def test_poisson_regressor_recovers_planted_rates_and_offset_keeps_the_baseline():
    rng = np.random.default_rng(0)
    n = 6000
    X = pd.DataFrame({"z": rng.normal(size=n), "noise": rng.normal(size=n)})
    mean = np.exp(1.0 + 0.8 * X["z"].to_numpy())
    y = rng.poisson(mean) * 10.0
    m = PoissonValueRegressor(max_iter=200, learning_rate=0.1, min_samples_leaf=50).fit(X, y)
    Xt = pd.DataFrame({"z": rng.normal(size=n), "noise": rng.normal(size=n)})
    truth = 10 * np.exp(1.0 + 0.8 * Xt["z"].to_numpy())
    assert np.corrcoef(np.log(m.predict(Xt)), np.log(truth))[0, 1] > 0.95
    assert m.predict(X).sum() == pytest.approx(y.sum(), rel=0.01)
    # with the true mean as offset there is nothing left to learn: predictions stay on it
    Xo = X.assign(base=10 * mean)
    mo = PoissonValueRegressor(max_iter=100, offset_column="base").fit(Xo, y)
    ratio = mo.predict(Xo) / Xo["base"].to_numpy()
    assert np.abs(np.log(ratio)).max() < 0.15


def test_engagement_value_formula():
    f = pd.DataFrame(
        {"advocacy_score": [0.0, 2.0, 4.0, np.nan], "tenure_weeks": [10.0, 20.0, 20.0, 5.0]}
    )
    ev = engagement_value(f, 52, p_alive=np.array([1.0, 1.0, 0.5, 1.0]))
    np.testing.assert_allclose(ev, [0.0, 2.0 / 20 * 52, 4.0 / 20 * 52 * 0.5, 0.0])
    d = mean_discount_factor(52, 0.2)
    rho = np.log(1.2)
    assert d == pytest.approx((1 - np.exp(-rho)) / rho)
    with pytest.raises(DataValidationError, match="advocacy_score"):
        engagement_value(f.drop(columns="advocacy_score"), 52)


def test_engagement_value_ranks_planted_advocates(world_frames, fitted, make_world):
    feats = world_frames[0]
    out = fitted.predict(feats)
    w = make_world(1500, random_state=11)
    advocacy = w.truth.set_index("customer_id")["advocacy"].reindex(out.index)
    rho = pd.Series(out["engagement_value"]).corr(advocacy, method="spearman")
    assert rho > 0.2


def test_fit_clv_model_trains_supervised_parts_on_an_earlier_window(make_world):
    w = make_world(900, random_state=3)
    c = w.calibration_end - pd.Timedelta(days=1)
    tables = (w.transactions, w.engagement, w.customers)
    from clvml.models.composite import fit_clv_model

    m = fit_clv_model(*tables, cutoff=c, methods=("btyd", "ml"), **FAST)
    assert m.methods_ == ["btyd", "ml"]
    assert m.training_window_["train_cutoff"] == str((c - pd.Timedelta(weeks=52)).date())
    assert m.training_window_["label_end"] == str(c.date())
    none = fit_clv_model(*tables, cutoff=c, supervised=None, methods=("btyd", "ml"), **FAST)
    assert none.methods_ == ["btyd"]
    early = w.transactions["timestamp"].min() + pd.Timedelta(weeks=30)
    m = fit_clv_model(*tables, cutoff=early, methods=("btyd", "ml"), **FAST)
    # 30 weeks of history, a 52-week horizon: no earlier window (the short-history rule)
    assert "shorter than the 364-day horizon" in m.skipped_methods_["ml"]
    assert "label-free methods only" in m.skipped_methods_["ml"]
    with pytest.raises(DataValidationError, match="needs transactions up to"):
        fit_clv_model(*tables, cutoff=c, supervised="customers", horizon_weeks=60, **FAST)


def test_blend_is_the_rescaled_geometric_mean_of_ml_and_closed_form(world_frames):
    feats, labelled, labels = world_frames
    methods = ("closed_form", "ml", "blend")
    m = CLVModel(methods=methods, **FAST).fit(feats, labelled, labels)
    assert m.methods_ == ["closed_form", "ml", "blend"]
    out = m.predict(feats)
    pooled = np.sqrt(out["clv_ml"] * out["clv_closed_form"]).to_numpy()
    np.testing.assert_allclose(out["clv_blend"].to_numpy(), m.blend_scale_ * pooled, rtol=1e-12)
    # its level is ml's: over the customers at the cut-off the totals agree
    assert out["clv_blend"].sum() == pytest.approx(out["clv_ml"].sum(), rel=1e-9)
    assert not np.allclose(out["clv_blend"], out["clv_ml"])
    # blend alone fits the two models it pools, without reporting them
    alone = CLVModel(methods=("blend",), champion="blend", **FAST).fit(feats, labelled, labels)
    assert alone.methods_ == ["blend"] and alone.champion_ == "blend"
    np.testing.assert_allclose(alone.predict(feats)["clv"], out["clv_blend"], rtol=1e-9)


def test_poisson_regressor_inner_cv_stops_early_on_noise_and_late_on_signal():
    rng = np.random.default_rng(1)
    n = 3000
    X = pd.DataFrame({"z": rng.normal(size=n), "noise": rng.normal(size=n)})
    kw = {"max_iter": 240, "learning_rate": 0.2, "min_samples_leaf": 5, "max_leaf_nodes": 31}
    noise = rng.gamma(0.3, 50.0, n)  # value independent of X: boosting only overfits
    m = PoissonValueRegressor(cv=3, monotonic={}, **kw).fit(X, noise)
    assert list(m.cv_deviance_.index) == list(range(10, 241, 10))
    assert m.n_iter_ == m.regressor_.n_iter_ == int(m.cv_deviance_.idxmin())
    assert m.n_iter_ <= 30
    signal = rng.poisson(np.exp(0.5 + 1.2 * np.sin(2 * X["z"].to_numpy()))) * 1.0
    s = PoissonValueRegressor(cv=3, monotonic={}, **{**kw, "learning_rate": 0.02}).fit(X, signal)
    assert s.n_iter_ >= 120
    # without cv the regressor boosts max_iter times
    assert PoissonValueRegressor(max_iter=50).fit(X, signal).n_iter_ == 50
    with pytest.raises(ValueError, match="cv must be"):
        PoissonValueRegressor(cv=1).fit(X, signal)


def test_btyd_fitter_replaces_both_btyd_fits_and_changes_nothing_else(make_world):
    """The Spark engine's hook: prefitted BTYD models (e.g. on every customer) are used
    as they are, for the served parts and the stacked features of the training window."""
    from clvml.models.composite import fit_clv_model

    w = make_world(900, random_state=3)
    c = w.calibration_end - pd.Timedelta(days=1)
    tables = (w.transactions, w.engagement, w.customers)
    kw = dict(cutoff=c, methods=("btyd", "hybrid", "ml"), interval=None, **FAST)
    own = fit_clv_model(*tables, **kw)
    days: list[pd.Timestamp] = []

    def same_fits(day):  # what the model fits itself, handed in from outside
        days.append(day)
        X = customer_features(*tables, cutoff=day)
        return fit_btyd(X.assign(T=X["T"].clip(lower=1 / 7)))

    given = fit_clv_model(*tables, btyd_fitter=same_fits, **kw)
    assert days == [c, c - pd.Timedelta(weeks=52)]
    X = customer_features(*tables, cutoff=c)
    pd.testing.assert_frame_equal(given.predict(X), own.predict(X))

    other = fit_btyd(X.iloc[: len(X) // 2])  # another, valid fit
    shifted = fit_clv_model(*tables, btyd_fitter=lambda day: other, **kw)
    assert shifted.bgnbd_ is other[0] and shifted.gamma_gamma_ is other[1]
    assert shifted.btyd_params_ == {**other[0].params_, **other[1].params_}
    with pytest.raises(ValueError, match="must be a \\(BetaGeo, GammaGamma\\) pair"):
        CLVModel().fit(X, btyd=(other[1], other[0]))
    with pytest.raises(ValueError, match="must be fitted"):
        CLVModel().fit(X, btyd=(BetaGeo(), other[1]))
