"""Pareto/NBD: published CDNOW figures, parity with lifetimes, an independent quadrature
oracle for the likelihood integral, numerical stability, invariants and bad input."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import integrate
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from clvml.data.simulate import simulate_pareto_nbd
from clvml.exceptions import DataValidationError
from clvml.models.btyd.pareto_nbd import ParetoNBD
from clvml.models.btyd.pareto_nbd_integral import _log_integral_quadrature
from clvml.models.btyd.pareto_nbd_math import (
    pareto_nbd_conditional_expected_purchases,
    pareto_nbd_expected_purchases_new,
    pareto_nbd_log_integral,
    pareto_nbd_loglik,
    pareto_nbd_probability_alive,
    pareto_nbd_probability_of_purchases,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from lifetimes import ParetoNBDFitter

PUBLISHED = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
NAMES = ("r", "alpha", "s", "beta")


@pytest.fixture(scope="module")
def fitted(cdnow_summary) -> ParetoNBD:
    return ParetoNBD().fit(cdnow_summary)


@pytest.fixture(scope="module")
def lifetimes_fit(cdnow_summary) -> ParetoNBDFitter:
    np.random.seed(0)  # noqa: NPY002 - lifetimes draws its starting point from the global RNG
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ParetoNBDFitter().fit(
            cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"], tol=1e-8
        )


def _lifetimes_at(params: dict) -> ParetoNBDFitter:
    ref = ParetoNBDFitter()
    ref.params_ = pd.Series({k: params[k] for k in NAMES})
    return ref


# ----------------------------------------------------------------- published numbers
def test_published_cdnow_parameters_and_loglik(fitted):
    # Fader & Hardie's Pareto/NBD estimates on the CDNOW sample, printed to 3 decimals.
    for name in ("r", "alpha", "s"):
        assert round(fitted.params_[name], 3) == PUBLISHED[name], name
    # beta is the flattest direction of the likelihood (se about 6); the maximum found
    # here and by lifetimes (see the parity test) is 11.668, one unit in the last
    # printed digit below the published 11.669.
    assert abs(fitted.params_["beta"] - PUBLISHED["beta"]) < 2e-3
    assert round(fitted.log_likelihood_, 1) == -9595.0
    assert fitted.converged_
    assert fitted.n_customers_ == 2357


def test_loglik_at_published_parameters(cdnow_summary):
    ll = pareto_nbd_loglik(
        tuple(PUBLISHED.values()),
        cdnow_summary["frequency"],
        cdnow_summary["recency"],
        cdnow_summary["T"],
    )
    assert round(float(ll.sum()), 1) == -9595.0


def test_r_btyd_walkthrough_conditional_expectation(fitted):
    # BTYD (R) walkthrough: x = 26, t_x = 30.86, T = 31 gives 25.46 purchases in 52 weeks.
    one = pd.DataFrame({"frequency": [26], "recency": [30.86], "T": [31.0]})
    assert abs(float(fitted.expected_purchases(one, 52).iloc[0]) - 25.46) < 0.01


# ----------------------------------------------------------------- parity with lifetimes
def test_parameters_and_loglik_match_lifetimes(fitted, lifetimes_fit, cdnow_summary):
    theirs = {k: float(lifetimes_fit.params_[k]) for k in NAMES}
    for name in NAMES:
        assert_allclose(fitted.params_[name], theirs[name], rtol=1e-4, err_msg=name)
    their_ll = pareto_nbd_loglik(
        [theirs[k] for k in NAMES],
        cdnow_summary["frequency"],
        cdnow_summary["recency"],
        cdnow_summary["T"],
    ).sum()
    assert fitted.log_likelihood_ >= their_ll - 1e-9


def test_loglik_matches_lifetimes_per_row(cdnow_summary):
    p = tuple(PUBLISHED.values())
    x, tx, T = (cdnow_summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    theirs = ParetoNBDFitter._conditional_log_likelihood(p, x, tx, T)
    assert_allclose(pareto_nbd_loglik(p, x, tx, T), theirs, rtol=1e-12)


def test_predictions_match_lifetimes_at_same_params(fitted, cdnow_summary):
    ref = _lifetimes_at(fitted.params_)
    x, tx, T = (cdnow_summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    for t in (1.0, 39.0, 100.0):
        assert_allclose(
            fitted.expected_purchases(cdnow_summary, t).to_numpy(),
            ref.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T),
            rtol=1e-9,
        )
    assert_allclose(
        fitted.probability_alive(cdnow_summary).to_numpy(),
        ref.conditional_probability_alive(x, tx, T),
        rtol=1e-9,
    )
    ts = np.linspace(0, 100, 11)
    assert_allclose(
        fitted.expected_purchases_new_customer(ts),
        ref.expected_number_of_purchases_up_to_time(ts),
        rtol=1e-9,
    )


# ----------------------------------------------------------------- the integral, two ways
def _quad_log_integral(params, x, t_x, T):
    """Independent oracle: adaptive quadrature of the integral in tau, split near t_x."""
    r, alpha, s, beta = params

    def log_f(tau):
        return -(r + x) * np.log(alpha + tau) - (s + 1) * np.log(beta + tau)

    f0 = log_f(t_x)
    edges = t_x + (T - t_x) * np.concatenate([[0.0], np.logspace(-14, 0, 120)])
    total = 0.0
    with warnings.catch_warnings():
        # QUADPACK's own error estimate is pessimistic on the steep x = 10,000 cases
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        for lo, hi in itertools.pairwise(edges):
            total += integrate.quad(
                lambda u: np.exp(log_f(u) - f0), lo, hi, epsabs=0, epsrel=1e-13, limit=500
            )[0]
    return np.log(total) + f0


CASES = [
    # (r, alpha, s, beta), x, t_x, T: both branches, alpha == beta, extremes
    ((0.553, 10.578, 0.606, 11.669), 2, 30.43, 38.86),
    ((0.553, 11.669, 0.606, 10.578), 2, 30.43, 38.86),
    ((0.5, 3.0, 0.7, 3.0), 5, 10.0, 40.0),
    ((0.1, 0.05, 0.1, 10.0), 0, 0.0, 57.0),  # alpha << beta: z near 1
    ((12.0, 36.9, 0.08, 0.028), 0, 0.0, 264.0),  # alpha >> beta: z near 1
    ((0.95, 1.08, 18.3, 72.0), 10_000, 0.33, 0.34),
    ((2.7, 85.5, 50.1, 0.0073), 1000, 0.21, 0.214),
    ((0.3, 1e-3, 2.0, 1e3), 3, 1.0, 10_000.0),
]


@pytest.mark.parametrize(("params", "x", "t_x", "T"), CASES)
def test_log_integral_matches_adaptive_quadrature(params, x, t_x, T):
    ours = pareto_nbd_log_integral(params, x, t_x, T)
    assert_allclose(ours, _quad_log_integral(params, x, t_x, T), rtol=1e-9, atol=1e-9)


def test_hypergeometric_path_agrees_with_quadrature_path():
    rng = np.random.default_rng(3)
    params = np.exp(rng.uniform(-3, 3, size=(300, 4)))
    x = rng.choice([0, 1, 3, 20, 500], size=300).astype(float)
    T = np.exp(rng.uniform(-1, 6, size=300))
    t_x = np.where(x > 0, T * rng.uniform(0.01, 0.9, size=300), 0.0)
    # scipy's hyp2f1 is used up to z = 0.85 (it loses ~1e-6 beyond 0.9): cover that range
    assert np.mean(np.abs(params[:, 1] - params[:, 3]) / params[:, [1, 3]].max(1) > 0.5) > 0.3
    for p, xi, ti, Ti in zip(params, x, t_x, T, strict=True):
        r, alpha, s, beta = p
        m, d = max(alpha, beta), abs(alpha - beta)
        e = s + 1 if alpha >= beta else r + xi
        quad = _log_integral_quadrature(
            np.array([r + s + xi]),
            np.array([e]),
            np.array([d / (m + ti)]),
            np.array([(min(alpha, beta) + ti) / (m + ti)]),
            np.array([m + ti]),
            np.array([m + Ti]),
        )[0]
        assert_allclose(pareto_nbd_log_integral(p, xi, ti, Ti), quad, rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------- stability
EXTREME_PARAMS = [
    (0.553, 10.578, 0.606, 11.669),
    (1e-6, 1e-6, 1e-6, 1e-6),
    (1e6, 1e6, 1e6, 1e6),
    (1e-6, 1e6, 1e-6, 1e-6),
    (1e-4, 1e-4, 50.0, 1e5),
    (5.0, 2.0, 5.0, 2.0),  # alpha == beta
    (50.0, 1e-3, 0.01, 1e4),
    (0.01, 1e4, 50.0, 1e-3),
]
EXTREME_ROWS = (
    np.array([0, 0, 1, 10_000, 10_000, 10_000, 3, 1]),
    np.array([0, 0, 1e-9, 1e-3, 10_000, 9_999.999, 10_000, 1.0]),
    np.array([1e-9, 10_000, 10_000, 10_000, 10_000, 10_000, 10_000, 1.0]),
)


@pytest.mark.parametrize("params", EXTREME_PARAMS)
def test_finite_everything_on_extreme_inputs(params):
    x, tx, T = EXTREME_ROWS
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ll = pareto_nbd_loglik(params, x, tx, T)
        pa = pareto_nbd_probability_alive(params, x, tx, T)
        ce = pareto_nbd_conditional_expected_purchases(params, x, tx, T, 52.0)
        new = pareto_nbd_expected_purchases_new(params, np.array([0.0, 1.0, 1e4]))
    assert np.all(np.isfinite(ll))  # a density in t_x: may exceed 0
    assert np.all((pa >= 0) & (pa <= 1))
    assert np.all(np.isfinite(ce) & (ce >= 0))
    assert np.all(np.isfinite(new) & (new >= 0))


def test_lifetimes_overflow_case_is_finite():
    # lifetimes' own regression case for overflow in the hypergeometric term
    params = (10.465, 7.98565181e-03, 3.0516, 2.820)
    ll = pareto_nbd_loglik(params, [400.0, 500.0, 500.0], [5.0, 1.0, 4.0], [6.0, 37.0, 37.0])
    assert np.all(np.isfinite(ll))


def test_near_alpha_equals_beta_is_continuous():
    base = pareto_nbd_loglik((0.5, 3.0, 0.7, 3.0), 5, 10.0, 40.0)
    for eps in (1e-12, 1e-8, -1e-8, -1e-12):
        assert_allclose(
            pareto_nbd_loglik((0.5, 3.0 + eps, 0.7, 3.0), 5, 10.0, 40.0), base, atol=1e-7
        )


def test_impossible_rows_and_parameters_give_minus_inf_not_nan():
    p = tuple(PUBLISHED.values())
    ll = pareto_nbd_loglik(
        p, [-1, 1.5, 2, 2, np.nan, 0], [0, 1, 5, 0, 1, 0], [10, 10, 4, 10, 10, -1]
    )
    assert np.all(ll == -np.inf)
    # T = 0 (first purchase at the end of the data) is possible: probability 1
    assert pareto_nbd_loglik(p, [0], [0], [0])[0] == 0.0
    assert np.all(pareto_nbd_loglik((0.5, -1.0, 0.5, 1.0), [1, 2], [1, 2], [3, 3]) == -np.inf)
    assert np.all(pareto_nbd_loglik((0.5, np.nan, 0.5, 1.0), [1], [1], [3]) == -np.inf)


# ----------------------------------------------------------------- P(X(t) = x)
@pytest.mark.parametrize(
    # light enough tails that 1000 counts hold all but 1e-9 of the mass at t <= 100
    "params",
    [(0.553, 10.578, 0.606, 11.669), (0.2, 2.0, 0.02, 50.0), (3.0, 10.0, 0.5, 20.0)],
)
@pytest.mark.parametrize("t", [0.5, 100.0])
def test_pmf_sums_to_one_and_has_the_right_mean(params, t):
    n = np.arange(0, 1000)
    pmf = pareto_nbd_probability_of_purchases(params, n, t)
    assert np.all(pmf >= 0)
    assert_allclose(pmf.sum(), 1.0, atol=1e-9)
    assert_allclose((n * pmf).sum(), pareto_nbd_expected_purchases_new(params, t), rtol=1e-8)


def test_pmf_matches_simulation():
    p = tuple(PUBLISHED.values())
    sim = simulate_pareto_nbd(200_000, *p, T=39.0, random_state=11).summary
    observed = np.bincount(sim["frequency"], minlength=5)[:5] / len(sim)
    expected = pareto_nbd_probability_of_purchases(p, np.arange(5), 39.0)
    # binomial standard error of a proportion from 200k draws is at most 0.0011
    assert_allclose(observed, expected, atol=0.005)


# ----------------------------------------------------------------- invariants (hypothesis)
pos = st.floats(1e-3, 1e3)


@settings(max_examples=60, deadline=None)
@given(
    params=st.tuples(pos, pos, pos, pos),
    x=st.integers(0, 20_000),
    frac=st.floats(0.0, 1.0),
    T=st.floats(1e-2, 2e4),
    t1=st.floats(0.0, 1e3),
    dt=st.floats(1e-3, 1e3),
)
def test_invariants(params, x, frac, T, t1, dt):
    t_x = 0.0 if x == 0 else max(frac * T, 1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ll = pareto_nbd_loglik(params, x, t_x, T)
        pa = pareto_nbd_probability_alive(params, x, t_x, T)
        e1 = pareto_nbd_conditional_expected_purchases(params, x, t_x, T, t1)
        e2 = pareto_nbd_conditional_expected_purchases(params, x, t_x, T, t1 + dt)
        n1 = pareto_nbd_expected_purchases_new(params, t1)
        n2 = pareto_nbd_expected_purchases_new(params, t1 + dt)
    assert np.isfinite(ll)
    assert 0.0 <= pa <= 1.0
    assert np.isfinite(e1) and np.isfinite(e2) and 0 <= e1 <= e2
    assert 0 <= n1 <= n2


# ----------------------------------------------------------------- estimator behaviour
def test_not_fitted_and_clone():
    model = ParetoNBD(penalizer=0.01)
    with pytest.raises(NotFittedError):
        model.probability_alive(pd.DataFrame({"frequency": [1], "recency": [1.0], "T": [2.0]}))
    assert clone(model).get_params() == model.get_params()


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        ({"frequency": [-1, 2], "recency": [0.0, 3.0], "T": [5.0, 5.0]}, "frequency"),
        ({"frequency": [1, 2], "recency": [6.0, 3.0], "T": [5.0, 5.0]}, "exceed T"),
        ({"frequency": [1, 2], "recency": [0.0, 3.0], "T": [5.0, 5.0]}, "recency"),
        ({"frequency": [np.nan, 2], "recency": [0.0, 3.0], "T": [5.0, 5.0]}, "NaN"),
        ({"frequency": [], "recency": [], "T": []}, "empty"),
    ],
)
def test_bad_input_is_rejected(frame, match):
    with pytest.raises(DataValidationError, match=match):
        ParetoNBD().fit(pd.DataFrame(frame))


def test_weights_equal_repeated_rows(cdnow_summary):
    head = cdnow_summary.iloc[:150]
    counts = np.arange(150) % 3 + 1
    expanded = head.loc[head.index.repeat(counts)]
    a = ParetoNBD().fit(head, weights=counts)
    b = ParetoNBD().fit(expanded)
    for name in NAMES:
        assert_allclose(a.params_[name], b.params_[name], rtol=1e-6)
    assert_allclose(a.log_likelihood_, b.log_likelihood_, rtol=1e-10)


def test_probability_of_purchases_method(fitted):
    direct = pareto_nbd_probability_of_purchases(
        [fitted.params_[k] for k in NAMES], np.arange(4), 39.0
    )
    assert_allclose(fitted.probability_of_purchases(np.arange(4), 39.0), direct, rtol=1e-12)


# ----------------------------------------------------------------- recovery (slow)
@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_parameter_recovery(seed):
    truth = {"r": 0.8, "alpha": 8.0, "s": 0.7, "beta": 12.0}
    rng = np.random.default_rng(seed)
    T = np.round(rng.uniform(20, 60, size=100_000), 1)
    sim = simulate_pareto_nbd(100_000, **truth, T=T, random_state=rng).summary
    model = ParetoNBD().fit(sim[["frequency", "recency", "T"]])
    ci = model.confidence_intervals_
    inside = [ci.loc[k, "lower 95%"] <= v <= ci.loc[k, "upper 95%"] for k, v in truth.items()]
    # each interval covers with probability 0.95: at most one miss per seed is expected
    assert sum(inside) >= 3, model.summary


def test_recency_a_rounding_error_below_age_is_finite_without_warnings():
    # found by hypothesis: t_x = (1 - 1e-16) T makes G(T) = G(t_x) in floating point
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ll = pareto_nbd_loglik((1.0, 1.0, 1.0, 1.0), 1, 0.9999999999999999, 1.0)
    assert np.isfinite(ll)
    assert_allclose(ll, pareto_nbd_loglik((1.0, 1.0, 1.0, 1.0), 1, 1.0, 1.0), rtol=1e-9)
