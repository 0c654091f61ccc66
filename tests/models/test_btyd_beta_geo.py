"""BG/NBD and MBG/NBD estimators: published CDNOW figures, parity with lifetimes, the
fitting machinery (compression, weights, penalizer, errors) and sklearn conventions."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from clvml.data.datasets import load_cdnow_summary
from clvml.exceptions import ConvergenceWarning, DataValidationError
from clvml.models.btyd import BetaGeo, ModifiedBetaGeo

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from lifetimes import BetaGeoFitter, ModifiedBetaGeoFitter

PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


@pytest.fixture(scope="module")
def bg(cdnow_summary) -> BetaGeo:
    return BetaGeo().fit(cdnow_summary)


def test_published_cdnow_parameters_and_loglik(bg):
    # FHL (2005), CDNOW 1/10 sample, 39-week calibration: printed to 3 decimals
    for name, value in PUBLISHED.items():
        assert round(bg.params_[name], 3) == value, name
    assert round(bg.log_likelihood_, 1) == -9582.4
    assert bg.converged_
    assert bg.n_customers_ == 2357


def test_hardie_worked_example():
    # x = 2, t_x = 30.43, T = 38.86: 1.226 expected purchases in the next 39 weeks
    model = BetaGeo()
    model.params_ = dict(PUBLISHED)
    one = pd.DataFrame({"frequency": [2], "recency": [30.43], "T": [38.86]})
    assert round(float(model.expected_purchases(one, 39).iloc[0]), 3) == 1.226


@pytest.mark.parametrize(
    ("ours", "theirs"), [(BetaGeo, BetaGeoFitter), (ModifiedBetaGeo, ModifiedBetaGeoFitter)]
)
def test_parity_with_lifetimes(cdnow_summary, ours, theirs):
    model = ours().fit(cdnow_summary)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = theirs().fit(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])
    names = list(model._param_names)
    assert_allclose([model.params_[p] for p in names], ref.params_[names].to_numpy(), rtol=1e-4)
    # same standard errors (both: inverse observed information)
    assert_allclose(model.standard_errors_[names], ref.standard_errors_[names], rtol=1e-3)
    # predictions evaluated at the same parameters
    ref.params_[names] = [model.params_[p] for p in names]
    f, r, T = cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"]
    for t in (1.0, 39.0, 520.0):
        assert_allclose(
            model.expected_purchases(cdnow_summary, t).to_numpy(),
            ref.conditional_expected_number_of_purchases_up_to_time(t, f, r, T),
            rtol=1e-6,
        )
    assert_allclose(
        model.probability_alive(cdnow_summary).to_numpy(),
        ref.conditional_probability_alive(f, r, T),
        rtol=1e-6,
        atol=1e-12,
    )
    ts = np.array([0.5, 10.0, 100.0])
    assert_allclose(
        model.expected_purchases_new_customer(ts),
        ref.expected_number_of_purchases_up_to_time(ts),
        rtol=1e-6,
    )
    for n in (0, 1, 2, 7):
        assert_allclose(
            model.probability_of_purchases(n, 39.0),
            ref.probability_of_n_purchases_up_to_time(39.0, n),
            rtol=1e-6,
        )


def test_compressed_with_weights_equals_uncompressed(cdnow_summary):
    full = BetaGeo().fit(cdnow_summary)
    counts = cdnow_summary.groupby(["frequency", "recency", "T"]).size().rename("w").reset_index()
    compressed = BetaGeo().fit(counts, weights="w")
    assert compressed.n_distinct_ == len(counts) == full.n_distinct_
    assert compressed.n_customers_ == full.n_customers_
    assert_allclose(list(compressed.params_.values()), list(full.params_.values()), rtol=1e-6)
    assert_allclose(compressed.log_likelihood_, full.log_likelihood_, rtol=1e-10)
    assert_allclose(compressed.covariance_, full.covariance_, rtol=1e-4)


def test_duplicated_data_doubles_loglik_and_shrinks_errors(cdnow_summary):
    once = BetaGeo().fit(cdnow_summary)
    twice = BetaGeo().fit(cdnow_summary, weights=np.full(len(cdnow_summary), 2.0))
    assert_allclose(list(twice.params_.values()), list(once.params_.values()), rtol=1e-6)
    assert_allclose(twice.log_likelihood_, 2 * once.log_likelihood_, rtol=1e-10)
    assert_allclose(twice.standard_errors_, once.standard_errors_ / np.sqrt(2), rtol=1e-4)


def test_arrays_and_mappings_give_the_same_fit(cdnow_summary, bg):
    arr = cdnow_summary[["frequency", "recency", "T"]].to_numpy()
    from_array = BetaGeo().fit(arr)
    from_dict = BetaGeo().fit(
        {c: cdnow_summary[c].to_numpy() for c in ("frequency", "recency", "T")}
    )
    for m in (from_array, from_dict):
        assert_allclose(list(m.params_.values()), list(bg.params_.values()), rtol=1e-8)
    out = bg.expected_purchases(arr, 10)
    assert isinstance(out, np.ndarray) and out.shape == (len(cdnow_summary),)
    series = bg.expected_purchases(cdnow_summary, 10)
    assert series.index.equals(cdnow_summary.index)
    assert_allclose(out, series.to_numpy())


def test_penalizer_shrinks_parameters(cdnow_summary, bg):
    pen = BetaGeo(penalizer=0.1).fit(cdnow_summary)
    norm = lambda m: sum(v**2 for k, v in m.params_.items() if k != "alpha")  # noqa: E731
    # alpha is penalised on the rescaled time axis: compare alpha / max(T)
    scaled = lambda m: norm(m) + (m.params_["alpha"] / cdnow_summary["T"].max()) ** 2  # noqa: E731
    assert scaled(pen) < scaled(bg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = BetaGeoFitter(penalizer_coef=0.1).fit(
            cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"]
        )
    assert_allclose(list(pen.params_.values()), ref.params_.to_numpy(), rtol=1e-4)


def test_summary_aic_bic_and_intervals(bg):
    summary = bg.summary
    assert list(summary.columns) == ["coef", "se(coef)", "lower 95%", "upper 95%"]
    assert list(summary.index) == ["r", "alpha", "a", "b"]
    assert np.all(summary["lower 95%"] < summary["coef"])
    assert np.all(summary["coef"] < summary["upper 95%"])
    assert_allclose(bg.aic_, 8 - 2 * bg.log_likelihood_)
    assert_allclose(bg.bic_, 4 * np.log(2357) - 2 * bg.log_likelihood_)
    cov = bg.covariance_.to_numpy()
    assert_allclose(cov, cov.T)
    assert np.all(np.linalg.eigvalsh(cov) > 0)


def test_sklearn_conventions(bg):
    model = BetaGeo(penalizer=0.01, max_iter=50)
    assert model.get_params() == {"penalizer": 0.01, "initial_params": None, "max_iter": 50}
    copy = clone(bg)
    assert not hasattr(copy, "params_")
    assert copy.get_params() == bg.get_params()
    assert "BetaGeo(" in repr(model)
    with pytest.raises(NotFittedError, match="not fitted"):
        BetaGeo().probability_alive(pd.DataFrame({"frequency": [1], "recency": [1], "T": [2]}))
    assert not any(isinstance(v, pd.DataFrame) and len(v) > 10 for v in vars(bg).values())


def test_initial_params_are_used(cdnow_summary, bg):
    started = BetaGeo(initial_params={"r": 0.2, "alpha": 4.0, "a": 0.8, "b": 2.0}).fit(
        cdnow_summary
    )
    assert_allclose(list(started.params_.values()), list(bg.params_.values()), rtol=1e-5)
    with pytest.raises(ValueError, match="initial_params lacks"):
        BetaGeo(initial_params={"r": 1.0}).fit(cdnow_summary)


BAD_INPUTS = [
    ({"frequency": [-1, 2], "recency": [0, 3], "T": [5, 5]}, "frequency.*negative"),
    ({"frequency": [1, 2], "recency": [6, 3], "T": [5, 5]}, "recency.*exceed"),
    ({"frequency": [1, 2], "recency": [0, 3], "T": [5, 5]}, "recency.*(is|are) 0 while"),
    ({"frequency": [np.nan, 2], "recency": [0, 3], "T": [5, 5]}, "frequency.*NaN"),
    ({"frequency": [1.5, 2], "recency": [1, 3], "T": [5, 5]}, "frequency.*whole"),
    ({"frequency": [], "recency": [], "T": []}, "empty"),
    ({"frequency": [1], "recency": [1]}, "'T'.*missing"),
]


#: rows no customer can produce: refused by fit, answered by the formulas in predictions
#: (a frequency/recency grid holds them; lifetimes answers them too)
GRID_ONLY = {"recency.*(is|are) 0 while"}


@pytest.mark.parametrize(("data", "match"), BAD_INPUTS)
def test_bad_input_is_rejected_with_a_named_column(bg, data, match):
    frame = pd.DataFrame(data)
    with pytest.raises(DataValidationError, match=match):
        BetaGeo().fit(frame)
    if match in GRID_ONLY:
        assert np.isfinite(np.asarray(bg.expected_purchases(frame, 10))).all()
        return
    with pytest.raises(DataValidationError, match=match):
        bg.expected_purchases(frame, 10)


def test_errors_count_every_row_not_distinct_rows(bg):
    frame = pd.DataFrame({"frequency": [-1] * 5 + [1], "recency": [0] * 5 + [1], "T": [5] * 6})
    with pytest.raises(DataValidationError, match="5 rows"):
        bg.probability_alive(frame)


def test_bad_horizon_and_weights(bg, cdnow_summary):
    with pytest.raises(DataValidationError, match="'t'"):
        bg.expected_purchases(cdnow_summary, -1)
    with pytest.raises(DataValidationError, match="weights"):
        BetaGeo().fit(cdnow_summary, weights=np.full(len(cdnow_summary), -1.0))
    with pytest.raises(DataValidationError, match="weights"):
        BetaGeo().fit(cdnow_summary, weights=np.ones(3))
    with pytest.raises(DataValidationError, match="'x'"):
        bg.probability_of_purchases(1.5, 10)


def test_extreme_legal_customers_predict_finite(bg):
    frame = pd.DataFrame(
        {"frequency": [10_000, 0, 1, 10_000], "recency": [9_999, 0, 1e-6, 10_000], "T": [1e4] * 4}
    )
    for model in (bg, ModifiedBetaGeo().fit(load_cdnow_summary())):
        e = model.expected_purchases(frame, 52)
        p = model.probability_alive(frame)
        assert np.all(np.isfinite(e)) and np.all(e >= 0)
        assert np.all((p >= 0) & (p <= 1))
    # four customers cannot identify four parameters: the fit says so, but stays finite
    with pytest.warns(ConvergenceWarning):
        fit = BetaGeo().fit(frame)
    assert np.all(np.isfinite(list(fit.params_.values())))


def test_predictions_evaluate_each_distinct_row_once(bg, cdnow_summary, monkeypatch):
    seen = []
    original = BetaGeo._expected_purchases

    def spy(params, x, t_x, T, t):
        seen.append(len(x))
        return original(params, x, t_x, T, t)

    monkeypatch.setattr(BetaGeo, "_expected_purchases", staticmethod(spy))
    big = pd.concat([cdnow_summary] * 20, ignore_index=True)
    bg.expected_purchases(big, 10)
    assert seen == [cdnow_summary.drop_duplicates().shape[0]]


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    low=st.floats(min_value=0.0, max_value=0.5),
    extra=st.floats(min_value=1e-3, max_value=2.0),
    model=st.sampled_from([BetaGeo, ModifiedBetaGeo]),
)
def test_property_penalty_shrinks_with_the_penalizer(cdnow_summary, low, extra, model):
    # at penalised optima the penalty sum(params**2) (time rescaled: max(T) = 1) is
    # non-increasing in the penalizer: (l2 - l1) * (g(theta2) - g(theta1)) <= 0
    scale = cdnow_summary["T"].max()

    def penalty(m):
        p = dict(m.params_)
        p["alpha"] /= scale
        return sum(v**2 for v in p.values())

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        weak = model(penalizer=low).fit(cdnow_summary)
        strong = model(penalizer=low + extra).fit(cdnow_summary)
    assert penalty(strong) <= penalty(weak) * (1 + 1e-6)
