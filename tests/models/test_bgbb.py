"""BG/BB: published donations figures (Fader, Hardie & Shang 2010 and Hardie's sheets, as
in lifetimes' test suite), parity with lifetimes, gradient, invariants and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.special import betaln, comb
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from clvml.data.datasets import load_donations
from clvml.data.simulate import simulate_beta_geo_beta
from clvml.exceptions import DataValidationError
from clvml.models.btyd.beta_geo_beta import BetaGeoBeta
from clvml.models.btyd.bgbb_math import (
    bgbb_conditional_expected_purchases,
    bgbb_expected_purchases_new,
    bgbb_loglik,
    bgbb_loglik_grad,
    bgbb_probability_alive,
    bgbb_probability_of_purchases,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from lifetimes import BetaGeoBetaBinomFitter

PUBLISHED = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
NAMES = ("alpha", "beta", "gamma", "delta")


@pytest.fixture(scope="module")
def donations() -> pd.DataFrame:
    return load_donations()


@pytest.fixture(scope="module")
def fitted(donations) -> BetaGeoBeta:
    return BetaGeoBeta().fit(donations, weights="weights")


@pytest.fixture(scope="module")
def lifetimes_fit(donations) -> BetaGeoBetaBinomFitter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BetaGeoBetaBinomFitter().fit(
            donations["frequency"], donations["recency"], donations["periods"], donations["weights"]
        )


def _cols(df):
    return (df[c].to_numpy(dtype=float) for c in ("frequency", "recency", "periods"))


# ----------------------------------------------------------------- published numbers
def test_published_parameters_and_loglik(fitted):
    # FHS (2010), 1995 cohort of donors, 6 opportunities: printed to 3 decimals, LL -33225.6
    for name, value in PUBLISHED.items():
        assert round(fitted.params_[name], 3) == value, name
    assert round(fitted.log_likelihood_, 1) == -33225.6
    assert fitted.converged_
    assert fitted.n_customers_ == 11104


def test_table_6_probability_alive_next_period(fitted, donations):
    # FHS (2010) Table 6: P(alive in 2002) for (x, t_x) = (0, 0), (2, 4), (6, 6): 0.11, 0.59, 0.93
    rows = pd.DataFrame({"frequency": [0, 2, 6], "recency": [0, 4, 6], "n_periods": [6, 6, 6]})
    assert_allclose(fitted.probability_alive(rows, future_periods=1), [0.11, 0.59, 0.93], atol=5e-3)


def test_hardie_spreadsheet_totals(fitted, donations):
    # Hardie's BG/BB workbook: conditional expectations over the next 5 periods total 12884.2,
    # and the in-sample fit expects 3454.9 customers with 0 and 1253.1 with 6 repeat donations
    w = donations["weights"].to_numpy()
    total = float((fitted.expected_purchases(donations, 5).to_numpy() * w).sum())
    assert round(total, 1) == 12884.2
    counts = fitted.probability_of_purchases(np.array([0, 6]), 6) * w.sum()
    assert_allclose(counts, [3454.9, 1253.1], atol=0.05)


# ----------------------------------------------------------------- parity with lifetimes
def test_parameters_and_loglik_match_lifetimes(fitted, lifetimes_fit, donations):
    for name in NAMES:
        assert_allclose(fitted.params_[name], lifetimes_fit.params_[name], rtol=1e-4, err_msg=name)
    x, tx, n = _cols(donations)
    theirs = [float(lifetimes_fit.params_[k]) for k in NAMES]
    their_ll = float((bgbb_loglik(theirs, x, tx, n) * donations["weights"]).sum())
    assert fitted.log_likelihood_ >= their_ll - 1e-9


def test_predictions_match_lifetimes_at_same_params(fitted, donations):
    ref = BetaGeoBetaBinomFitter()
    ref.params_ = pd.Series({k: fitted.params_[k] for k in NAMES})
    x, tx, n = _cols(donations)
    p = [fitted.params_[k] for k in NAMES]
    assert_allclose(bgbb_loglik(p, x, tx, n), ref._loglikelihood(p, x, tx, n), rtol=1e-12)
    for t in (1, 5, 10):
        assert_allclose(
            fitted.expected_purchases(donations, t).to_numpy(),
            ref.conditional_expected_number_of_purchases_up_to_time(t, x, tx, n),
            rtol=1e-9,
        )
    for m in (0, 1, 3):
        assert_allclose(
            fitted.probability_alive(donations, future_periods=m).to_numpy(),
            ref.conditional_probability_alive(m, x, tx, n),
            rtol=1e-9,
        )
    ref.data = pd.DataFrame({"frequency": x, "weights": donations["weights"]})
    theirs = ref.expected_number_of_transactions_in_first_n_periods(6)["model"].to_numpy()
    ours = bgbb_probability_of_purchases(p, np.arange(7), 6) * donations["weights"].sum()
    assert_allclose(ours, theirs, rtol=1e-9)


# ----------------------------------------------------------------- math checks
def test_gradient_matches_finite_differences(donations):
    x, tx, n = _cols(donations)
    p = np.array(list(PUBLISHED.values()))
    g = bgbb_loglik_grad(p, x, tx, n)
    for k in range(4):
        h = np.zeros(4)
        h[k] = 1e-6 * p[k]
        num = (bgbb_loglik(p + h, x, tx, n) - bgbb_loglik(p - h, x, tx, n)) / (2 * h[k])
        assert_allclose(g[:, k], num, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("gamma", [0.5, 1.0 - 1e-9, 1.0, 1.0 + 1e-9, 1.0 + 0.01, 3.0])
def test_expectations_equal_direct_sums_and_are_continuous_at_gamma_one(gamma):
    # E[X(n)] = sum_k E[p] P(alive at k): the closed form's 1/(gamma - 1) must not matter
    alpha, beta, delta = 1.2, 0.75, 2.8
    p = (alpha, beta, gamma, delta)
    k = np.arange(1, 51)
    alive = np.exp(betaln(gamma, delta + k) - betaln(gamma, delta))
    direct = alpha / (alpha + beta) * np.cumsum(alive)
    assert_allclose(bgbb_expected_purchases_new(p, k), direct, rtol=1e-10)
    # conditional: sum over the next t opportunities of E[p | data] P(alive at n + j | data)
    x, tx, n = 3.0, 5.0, 6.0
    post = np.exp(
        betaln(alpha + x + 1, beta + n - x)
        - betaln(alpha, beta)
        + betaln(gamma, delta + n + k)
        - betaln(gamma, delta)
        - bgbb_loglik(p, x, tx, n)
    )
    assert_allclose(
        bgbb_conditional_expected_purchases(p, x, tx, n, k), np.cumsum(post), rtol=1e-10
    )


def test_pmf_sums_to_one_with_the_right_mean():
    p = tuple(PUBLISHED.values())
    for n in (1, 6, 40):
        pmf = bgbb_probability_of_purchases(p, np.arange(n + 1), n)
        assert_allclose(pmf.sum(), 1.0, rtol=1e-12)
        assert_allclose(
            (np.arange(n + 1) * pmf).sum(), bgbb_expected_purchases_new(p, n), rtol=1e-10
        )


def test_simulator_matches_the_model():
    p = tuple(PUBLISHED.values())
    sim = simulate_beta_geo_beta(200_000, *p, n_periods=6, random_state=5).summary
    observed = sim.groupby(["frequency", "recency"]).size() / len(sim)
    x = observed.index.get_level_values(0).to_numpy(float)
    tx = observed.index.get_level_values(1).to_numpy(float)
    # L is the probability of one purchase sequence; C(t_x - 1, x - 1) sequences share (x, t_x)
    n_seq = np.where(x > 0, comb(np.maximum(tx - 1, 0), np.maximum(x - 1, 0)), 1.0)
    expected = np.exp(bgbb_loglik(p, x, tx, 6.0)) * n_seq
    assert_allclose(expected.sum(), 1.0, rtol=1e-12)  # every possible (x, t_x) appears
    assert_allclose(observed.to_numpy(), expected, atol=0.004)


def test_impossible_rows_give_minus_inf_and_extremes_are_finite():
    p = tuple(PUBLISHED.values())
    bad = bgbb_loglik(p, [3, 1, 0, 2, 1.5, np.nan], [2, 7, 1, 0, 2, 3], [6, 6, 6, 6, 6, 6])
    assert np.all(bad == -np.inf)
    assert np.all(bgbb_loglik((1.0, -1.0, 1.0, 1.0), [1], [1], [2]) == -np.inf)
    x = np.array([0, 1, 500, 2000, 2000])
    tx = np.array([0, 1, 2000, 2000, 2000])
    n = np.array([1, 2000, 2000, 2000, 5000])
    for params in [(1e-6, 1e-6, 1e-6, 1e-6), (1e6, 1e6, 1e6, 1e6), (1e-4, 1e4, 1.0, 1e-4)]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert np.all(np.isfinite(bgbb_loglik(params, x, tx, n)))
            assert np.all(np.isfinite(bgbb_loglik_grad(params, x, tx, n)))
            pa = bgbb_probability_alive(params, x, tx, n)
            ce = bgbb_conditional_expected_purchases(params, x, tx, n, 10)
        assert np.all((pa >= 0) & (pa <= 1))
        assert np.all(np.isfinite(ce) & (ce >= 0))


pos = st.floats(1e-3, 1e3)


@settings(max_examples=60, deadline=None)
@given(
    params=st.tuples(pos, pos, pos, pos),
    n=st.integers(1, 200),
    data=st.data(),
    t=st.integers(0, 50),
    dt=st.integers(1, 50),
)
def test_invariants(params, n, data, t, dt):
    tx = data.draw(st.integers(0, n))
    x = 0 if tx == 0 else data.draw(st.integers(1, tx))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ll = bgbb_loglik(params, x, tx, n)
        pa = bgbb_probability_alive(params, x, tx, n)
        e1 = bgbb_conditional_expected_purchases(params, x, tx, n, t)
        e2 = bgbb_conditional_expected_purchases(params, x, tx, n, t + dt)
    assert np.isfinite(ll) and ll <= 1e-12
    assert 0.0 <= pa <= 1.0
    assert 0 <= e1 <= e2 <= t + dt


# ----------------------------------------------------------------- estimator behaviour
def test_not_fitted_clone_and_weights(donations):
    model = BetaGeoBeta(penalizer=0.0)
    with pytest.raises(NotFittedError):
        model.expected_purchases(donations, 1)
    assert clone(model).get_params() == model.get_params()
    expanded = donations.loc[donations.index.repeat(donations["weights"])]
    a = BetaGeoBeta().fit(expanded[["frequency", "recency", "periods"]])
    b = BetaGeoBeta().fit(donations, weights="weights")
    for name in NAMES:
        assert_allclose(a.params_[name], b.params_[name], rtol=1e-8)


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        ({"frequency": [-1], "recency": [0], "n_periods": [6]}, "frequency"),
        ({"frequency": [1], "recency": [7], "n_periods": [6]}, "exceed"),
        ({"frequency": [3], "recency": [2], "n_periods": [6]}, "one transaction per"),
        ({"frequency": [1], "recency": [2.5], "n_periods": [6]}, "whole numbers"),
        ({"frequency": [1], "recency": [0], "n_periods": [6]}, "recency"),
        ({"frequency": [np.nan], "recency": [0], "n_periods": [6]}, "NaN"),
        ({"frequency": [], "recency": [], "n_periods": []}, "empty"),
    ],
)
def test_bad_input_is_rejected(frame, match):
    with pytest.raises(DataValidationError, match=match):
        BetaGeoBeta().fit(pd.DataFrame(frame))


def test_fractional_horizon_is_rejected(fitted, donations):
    with pytest.raises(DataValidationError, match="whole numbers"):
        fitted.expected_purchases(donations, 1.5)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_parameter_recovery(seed):
    truth = dict(PUBLISHED)
    sim = simulate_beta_geo_beta(100_000, **truth, n_periods=10, random_state=seed).summary
    model = BetaGeoBeta().fit(sim[["frequency", "recency", "n_periods"]])
    ci = model.confidence_intervals_
    inside = [ci.loc[k, "lower 95%"] <= v <= ci.loc[k, "upper 95%"] for k, v in truth.items()]
    assert sum(inside) >= 3, model.summary
