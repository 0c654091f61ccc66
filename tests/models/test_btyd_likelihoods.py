"""Likelihoods and prediction formulas of BG/NBD, MBG/NBD and Gamma-Gamma: gradients,
impossible data, extreme inputs and property tests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from clvml.models.btyd.beta_geo import (
    bgnbd_conditional_expected_purchases,
    bgnbd_expected_purchases_new,
    bgnbd_probability_alive,
    bgnbd_probability_of_purchases,
)
from clvml.models.btyd.bgnbd_kernels import weighted_bgnbd_hessian, weighted_mbgnbd_hessian
from clvml.models.btyd.gamma_gamma import gamma_gamma_expected_average_spend
from clvml.models.btyd.likelihoods import (
    bgnbd_loglik,
    bgnbd_loglik_grad,
    gamma_gamma_loglik,
    gamma_gamma_loglik_grad,
    mbgnbd_loglik,
    mbgnbd_loglik_grad,
    weighted_bgnbd,
    weighted_gamma_gamma,
    weighted_mbgnbd,
)
from clvml.models.btyd.modified_beta_geo import (
    mbgnbd_conditional_expected_purchases,
    mbgnbd_expected_purchases_new,
    mbgnbd_probability_alive,
    mbgnbd_probability_of_purchases,
)

BG_PUBLISHED = np.array([0.243, 4.414, 0.793, 2.426])
GG_PUBLISHED = np.array([6.25, 3.74, 15.44])

# a spread of legal histories, including x = 0, t_x = T and a very long observation
X = np.array([0, 0, 1, 2, 5, 30, 200, 10_000], dtype=float)
TX = np.array([0, 0, 0.5, 30.43, 10.0, 38.0, 399.0, 9_999.0])
T = np.array([1.0, 38.86, 38.86, 38.86, 12.0, 38.0, 400.0, 10_000.0])

PARAMS = [
    BG_PUBLISHED,
    np.array([0.525, 6.18, 0.891, 1.614]),
    np.array([2.0, 0.3, 3.0, 0.5]),
    np.array([1e-6, 1e6, 1e-6, 1e6]),  # near the bounds
    np.array([1e6, 1e-6, 1e6, 1e-6]),
]


def _fd_grad(f, params, *cols, h=1e-4):
    """Five-point central differences (error O(h^4)), relative step per parameter."""
    out = []
    for j in range(len(params)):
        e = np.zeros(len(params))
        e[j] = h * params[j]
        num = -f(params + 2 * e, *cols) + 8 * f(params + e, *cols)
        num += -8 * f(params - e, *cols) + f(params - 2 * e, *cols)
        out.append(num / (12 * e[j]))
    return np.stack(out, axis=-1)


@pytest.mark.parametrize("params", PARAMS[:3])
@pytest.mark.parametrize(
    ("loglik", "grad"), [(bgnbd_loglik, bgnbd_loglik_grad), (mbgnbd_loglik, mbgnbd_loglik_grad)]
)
def test_counting_gradients_match_finite_differences(loglik, grad, params):
    analytic = grad(params, X, TX, T)
    numeric = _fd_grad(loglik, params, X, TX, T)
    assert analytic.shape == (len(X), 4)
    assert_allclose(analytic, numeric, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("params", [GG_PUBLISHED, np.array([0.5, 1.2, 3.0])])
def test_gamma_gamma_gradient_matches_finite_differences(params):
    x = np.array([1, 2, 5, 40, 10_000], dtype=float)
    m = np.array([3.0, 35.2, 0.01, 1e4, 12.0])
    assert_allclose(
        gamma_gamma_loglik_grad(params, x, m),
        _fd_grad(gamma_gamma_loglik, params, x, m),
        rtol=2e-5,
        atol=1e-6,
    )


def test_bgnbd_loglik_matches_hand_computation():
    # Hardie's note 004: for x = 0 the likelihood is (alpha / (alpha + T))^r
    r, alpha = BG_PUBLISHED[:2]
    ll = bgnbd_loglik(BG_PUBLISHED, 0, 0, 38.86)
    assert_allclose(ll, r * np.log(alpha / (alpha + 38.86)), rtol=1e-12)


@pytest.mark.parametrize("loglik", [bgnbd_loglik, mbgnbd_loglik])
def test_impossible_rows_give_minus_inf_not_nan(loglik):
    x = np.array([-1, 1.5, 2, 2, np.nan, 1])
    t_x = np.array([0, 1, 5, -1, 1, 1])
    T_ = np.array([5, 5, 4, 5, 5, np.inf])
    ll = loglik(BG_PUBLISHED, x, t_x, T_)
    assert np.all(ll == -np.inf)
    assert np.all(loglik(np.array([-1.0, 1, 1, 1]), X, TX, T) == -np.inf)
    assert np.all(loglik(np.array([np.nan, 1, 1, 1]), X, TX, T) == -np.inf)


def test_gamma_gamma_impossible_rows():
    ll = gamma_gamma_loglik(GG_PUBLISHED, np.array([0, 1, 2, 1.5]), np.array([5, 0, -1, 3]))
    assert np.all(ll == -np.inf)
    grad = gamma_gamma_loglik_grad(GG_PUBLISHED, np.array([0, 1]), np.array([5, 0]))
    assert np.all(grad == 0)


@pytest.mark.parametrize("params", PARAMS)
def test_extreme_legal_inputs_are_finite(params):
    for ll, g in ((bgnbd_loglik, bgnbd_loglik_grad), (mbgnbd_loglik, mbgnbd_loglik_grad)):
        assert np.all(np.isfinite(ll(params, X, TX, T)))
        assert np.all(np.isfinite(g(params, X, TX, T)))
    for fn in (bgnbd_conditional_expected_purchases, mbgnbd_conditional_expected_purchases):
        values = fn(params, X, TX, T, 52.0)
        assert np.all(np.isfinite(values)) and np.all(values >= 0)
    for fn in (bgnbd_probability_alive, mbgnbd_probability_alive):
        p = fn(params, X, TX, T)
        assert np.all((p >= 0) & (p <= 1))
    for fn in (bgnbd_expected_purchases_new, mbgnbd_expected_purchases_new):
        assert np.all(np.isfinite(fn(params, np.array([0.0, 1.0, 1e4]))))
    for fn in (bgnbd_probability_of_purchases, mbgnbd_probability_of_purchases):
        assert np.all(np.isfinite(fn(params, np.array([0, 1, 10_000]), 100.0)))


def test_gamma_gamma_extreme_inputs_are_finite():
    for params in (GG_PUBLISHED, np.array([1e-6, 1e6, 1e-6]), np.array([1e6, 1.5, 1e6])):
        x = np.array([1, 10_000], dtype=float)
        m = np.array([1e-6, 1e6])
        assert np.all(np.isfinite(gamma_gamma_loglik(params, x, m)))
        assert np.all(np.isfinite(gamma_gamma_loglik_grad(params, x, m)))
        assert np.all(np.isfinite(gamma_gamma_expected_average_spend(params, x, m)))


def test_probability_of_purchases_sums_to_one():
    n = np.arange(0, 3000)
    for fn, params in (
        (bgnbd_probability_of_purchases, BG_PUBLISHED),
        (mbgnbd_probability_of_purchases, BG_PUBLISHED),
    ):
        probs = fn(params, n, 39.0)
        assert np.all(probs >= 0)
        assert_allclose(probs.sum(), 1.0, atol=1e-6)
        # its mean is the unconditional expectation, eq. (9)
        exp_new = (
            bgnbd_expected_purchases_new
            if fn is bgnbd_probability_of_purchases
            else mbgnbd_expected_purchases_new
        )
        assert_allclose((n * probs).sum(), exp_new(params, 39.0), rtol=1e-5)


def test_new_customer_expectation_is_conditional_at_birth():
    # a new customer is one with x = 0, t_x = 0 observed for T -> 0 (BG/NBD eq. 9 vs 10)
    for params in PARAMS[:3]:
        assert_allclose(
            bgnbd_conditional_expected_purchases(params, 0.0, 0.0, 1e-12, 20.0),
            bgnbd_expected_purchases_new(params, 20.0),
            rtol=1e-8,
        )


positive = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)


@st.composite
def histories(draw):
    T_ = draw(st.floats(min_value=1e-3, max_value=1e4))
    x = draw(st.integers(min_value=0, max_value=20_000))
    t_x = 0.0 if x == 0 else draw(st.floats(min_value=1e-6, max_value=1.0)) * T_
    return float(x), t_x, T_


@settings(max_examples=300, deadline=None)
@given(
    params=st.tuples(positive, positive, positive, positive),
    hist=histories(),
    t=st.floats(min_value=0, max_value=1e4),
)
def test_property_finite_and_bounded(params, hist, t):
    p = np.array(params)
    x, t_x, T_ = hist
    for ll, g, exp_fn, alive_fn in (
        (
            bgnbd_loglik,
            bgnbd_loglik_grad,
            bgnbd_conditional_expected_purchases,
            bgnbd_probability_alive,
        ),
        (
            mbgnbd_loglik,
            mbgnbd_loglik_grad,
            mbgnbd_conditional_expected_purchases,
            mbgnbd_probability_alive,
        ),
    ):
        assert np.all(np.isfinite(ll(p, x, t_x, T_)))
        assert np.all(np.isfinite(g(p, x, t_x, T_)))
        alive = alive_fn(p, x, t_x, T_)
        assert np.all((alive >= 0) & (alive <= 1))
        e1 = exp_fn(p, x, t_x, T_, t)
        e2 = exp_fn(p, x, t_x, T_, t + 1.0)
        assert np.all(np.isfinite(e1)) and np.all(e1 >= 0)
        # non-decreasing in t, up to the formulas' accuracy (about 1e-6 relative where
        # the quadrature fallback of alive_expectation takes over)
        assert np.all(e2 >= e1 * (1 - 1e-6))


@settings(max_examples=200, deadline=None)
@given(
    params=st.tuples(positive, positive, positive),
    x=st.integers(min_value=1, max_value=10_000),
    m=st.floats(min_value=1e-4, max_value=1e6),
)
def test_property_gamma_gamma_finite(params, x, m):
    p = np.array(params)
    assert np.all(np.isfinite(gamma_gamma_loglik(p, x, m)))
    assert np.all(np.isfinite(gamma_gamma_loglik_grad(p, x, m)))
    spend = gamma_gamma_expected_average_spend(p, x, m)
    assert np.all(spend > 0)


@pytest.mark.parametrize(
    ("kernel", "loglik", "grad"),
    [
        (weighted_bgnbd, bgnbd_loglik, bgnbd_loglik_grad),
        (weighted_mbgnbd, mbgnbd_loglik, mbgnbd_loglik_grad),
    ],
)
@pytest.mark.parametrize("params", PARAMS)
def test_fitting_kernels_equal_weighted_row_sums(kernel, loglik, grad, params):
    w = np.linspace(0.5, 3.0, len(X))
    value, g = kernel(params, w, X, TX, T)
    assert_allclose(value, w @ loglik(params, X, TX, T), rtol=1e-12)
    assert_allclose(g, w @ grad(params, X, TX, T), rtol=1e-10, atol=1e-10)


def test_gamma_gamma_kernel_equals_weighted_row_sums():
    x = np.array([1, 2, 5, 40, 10_000], dtype=float)
    m = np.array([3.0, 35.2, 0.01, 1e4, 12.0])
    w = np.array([1.0, 2.0, 3.0, 0.5, 1.0])
    for params in (GG_PUBLISHED, np.array([0.5, 1.2, 3.0])):
        value, g = weighted_gamma_gamma(params, w, x, m)
        assert_allclose(value, w @ gamma_gamma_loglik(params, x, m), rtol=1e-12)
        assert_allclose(g, w @ gamma_gamma_loglik_grad(params, x, m), rtol=1e-10)


@pytest.mark.parametrize(
    ("kernel", "hess_kernel"),
    [(weighted_bgnbd, weighted_bgnbd_hessian), (weighted_mbgnbd, weighted_mbgnbd_hessian)],
)
@pytest.mark.parametrize(
    "params", [(0.243, 0.113, 0.793, 2.426), (2.5, 0.7, 0.05, 40.0), (0.05, 3.0, 4.0, 0.3)]
)
def test_exact_hessian_equals_differences_of_the_gradient(kernel, hess_kernel, params):
    # the fitting kernels' exact Hessians (Newton polish and covariance) against central
    # differences of their analytic gradient, which is itself tested against the per-row one
    rng = np.random.default_rng(11)
    n = 3_000
    T = rng.uniform(0.01, 1.0, n)
    x = rng.choice([0, 0, 1, 2, 7, 40], size=n).astype(float)
    t_x = np.where(x > 0, T * rng.uniform(0.0, 1.0, n), 0.0)
    w = rng.integers(1, 5, n).astype(float)
    p = np.asarray(params)
    H = hess_kernel(p, w, x, t_x, T)
    fd = np.empty((4, 4))
    for j in range(4):
        h = 1e-6 * p[j]
        e = np.zeros(4)
        e[j] = h
        fd[:, j] = (kernel(p + e, w, x, t_x, T)[1] - kernel(p - e, w, x, t_x, T)[1]) / (2 * h)
    assert_allclose(H, H.T, rtol=1e-12)
    assert_allclose(H, fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())
