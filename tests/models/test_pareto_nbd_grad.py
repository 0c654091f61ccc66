"""Pareto/NBD optimiser kernel: value against the high-precision path, analytic gradient
against finite differences of that path, the exact Hessian against finite differences of
the gradient, the weighted sums, Newton fits against the L-BFGS-B path, and the ridge check."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from clvml.exceptions import ConvergenceWarning
from clvml.models.btyd import base
from clvml.models.btyd.optimise import hessian, minimise
from clvml.models.btyd.pareto_nbd import ParetoNBD
from clvml.models.btyd.pareto_nbd_grad import (
    pareto_nbd_loglik_and_grad,
    pareto_nbd_loglik_grad_hessian,
    weighted_pareto_nbd,
    weighted_pareto_nbd_full,
    weighted_pareto_nbd_value,
)
from clvml.models.btyd.pareto_nbd_math import pareto_nbd_loglik


def _rows(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = rng.choice([0, 1, 3, 20, 500, 10_000], size=n).astype(float)
    T = np.exp(rng.uniform(-3, 1, n))
    t_x = np.where(x > 0, T * rng.uniform(1e-4, 1.0, n), 0.0)
    t_x[::7] = np.where(x[::7] > 0, T[::7], 0.0)  # last purchase at T: the integral is 0
    return x, t_x, T


def test_value_equals_the_high_precision_likelihood():
    rng = np.random.default_rng(3)
    worst = 0.0
    for _ in range(400):
        # parameters over 11 orders of magnitude: both branches, z near 1, ridges
        params = np.exp(rng.uniform(-5, 6, 4))
        x, t_x, T = _rows(rng, 25)
        ours = pareto_nbd_loglik_and_grad(params, x, t_x, T)[0]
        exact = pareto_nbd_loglik(params, x, t_x, T)
        worst = max(worst, float(np.max(np.abs(ours - exact) / np.maximum(1, np.abs(exact)))))
    assert worst < 1e-10


@pytest.mark.parametrize(
    "params",
    [
        (0.553, 10.578 / 39, 0.606, 11.669 / 39),  # CDNOW, rescaled to max(T) = 1
        (0.55, 0.2, 189.0, 150.0),  # dropout ridge: beta >> alpha, s large
        (12.8, 7.4, 12.4, 0.047),  # alpha >> beta
        (1.56, 0.148, 1.42, 34.0),
    ],
)
def test_gradient_equals_finite_differences_of_the_likelihood(params):
    rng = np.random.default_rng(5)
    params = np.asarray(params)
    x, t_x, T = _rows(rng, 60)
    grad = pareto_nbd_loglik_and_grad(params, x, t_x, T)[1]
    h = 1e-3  # fourth order: truncation ~1e-12; smaller steps drown in the rounding of
    # log-likelihoods of order 1e5 (the x = 10,000 rows)
    for j in range(4):

        def f(d, j=j):
            p = params.copy()
            p[j] *= np.exp(d)
            return pareto_nbd_loglik(p, x, t_x, T)

        # fourth-order central difference in log(param_j)
        fd = (-f(2 * h) + 8 * f(h) - 8 * f(-h) + f(-2 * h)) / (12 * h)
        assert_allclose(grad[:, j] * params[j], fd, rtol=1e-6, atol=1e-6, err_msg=str(j))


def test_weighted_kernel_is_the_weighted_sum_of_rows():
    rng = np.random.default_rng(7)
    x, t_x, T = _rows(rng, 200)
    w = rng.integers(1, 9, size=200).astype(float)
    params = np.array([0.6, 0.3, 0.8, 0.4])
    ll, grad = pareto_nbd_loglik_and_grad(params, x, t_x, T)
    value, wgrad = weighted_pareto_nbd(params, w, x, t_x, T)
    assert_allclose(value, w @ ll, rtol=1e-12)
    assert_allclose(wgrad, w @ grad, rtol=1e-11)


def _simulate(n: int, s: float, beta: float, seed: int) -> pd.DataFrame:
    """Pareto/NBD customers with ages in days (as weeks), recency rounded up to a day."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(0.55, 1 / 10.6, n)
    mu = rng.gamma(s, 1 / beta, n)
    T = rng.integers(1, 365, n) / 7.0
    observed = np.minimum(rng.exponential(1 / mu), T)
    x = rng.poisson(lam * observed).astype(float)
    t_x = np.where(x > 0, observed * rng.beta(np.maximum(x, 1), 1), 0.0)
    t_x = np.where(x > 0, np.clip(np.ceil(t_x * 7) / 7, 1 / 7, T), 0.0)
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": T})


def test_ridge_is_detected_and_the_mean_dropout_rate_recovered():
    # every customer's dropout rate is close to 1/40 per week (s = 40): s and beta on a ridge
    with warnings.catch_warnings():
        # on a ridge the Hessian may be singular: that warning is the base's, tested there
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = ParetoNBD().fit(_simulate(8_000, s=40.0, beta=1600.0, seed=1))
    assert model.identification_ is not None
    assert model.identification_.startswith("s and beta are not separately identified")
    assert "r and alpha" not in model.identification_
    assert model.summary.attrs["identification"] == model.identification_
    rate = model.params_["s"] / model.params_["beta"]
    assert abs(rate / (1 / 40) - 1) < 0.15


def test_well_identified_data_raise_no_ridge(cdnow_summary):
    model = ParetoNBD().fit(cdnow_summary)
    assert model.identification_ is None
    assert model.summary.attrs["identification"] is None


# ------------------------------------------------------------ exact Hessian and Newton
HESSIAN_PARAMS = [
    (0.553, 10.578 / 39, 0.606, 11.669 / 39),  # CDNOW, rescaled to max(T) = 1
    (0.55, 0.2, 189.0, 150.0),  # dropout ridge: beta >> alpha, s large
    (12.8, 7.4, 12.4, 0.047),  # alpha >> beta
    (1.56, 0.148, 1.42, 34.0),
    (0.5, 0.3, 0.7, 0.3000001),  # alpha = beta to rounding: no singularity
]


@pytest.mark.parametrize("params", HESSIAN_PARAMS)
def test_hessian_equals_finite_differences_of_the_analytic_gradient(params):
    rng = np.random.default_rng(11)
    params = np.asarray(params)
    x, t_x, T = _rows(rng, 60)
    _, G, H = pareto_nbd_loglik_grad_hessian(params, x, t_x, T)
    assert_allclose(H, np.swapaxes(H, 1, 2), rtol=0, atol=0)
    h = 1e-3  # truncation ~1e-12; smaller steps drown in rounding on the x = 10,000 rows
    for j in range(4):

        def g(d, j=j):
            p = params.copy()
            p[j] *= np.exp(d)
            return pareto_nbd_loglik_and_grad(p, x, t_x, T)[1] * p

        # d(p_i G_i) / d log(p_j) = p_i p_j H_ij + [i = j] p_i G_i, by a 4th-order difference
        fd = (-g(2 * h) + 8 * g(h) - 8 * g(-h) + g(-2 * h)) / (12 * h)
        ours = H[:, :, j] * params[None, :] * params[j]
        ours[:, j] += G[:, j] * params[j]
        # relative to each column's scale (entries span 1e-12 .. 1e4 across rows)
        scale = np.abs(fd).max(axis=0)
        assert np.all(np.abs(ours - fd) <= 1e-6 * scale + 1e-9), j


def test_one_pass_kernel_is_the_weighted_sum_of_rows():
    rng = np.random.default_rng(13)
    x, t_x, T = _rows(rng, 200)
    w = rng.integers(1, 9, size=200).astype(float)
    params = np.array([0.6, 0.3, 0.8, 0.4])
    ll, grad, hess = pareto_nbd_loglik_grad_hessian(params, x, t_x, T)
    value, wgrad, whess = weighted_pareto_nbd_full(params, w, x, t_x, T)
    assert_allclose(value, w @ ll, rtol=1e-12)
    assert_allclose(wgrad, w @ grad, rtol=1e-11)
    assert_allclose(whess, np.einsum("n,nij->ij", w, hess), rtol=1e-11)
    # the value and gradient are the L-BFGS-B kernel's (to rounding: the means are merged
    # panel by panel there)
    v2, g2 = weighted_pareto_nbd(params, w, x, t_x, T)
    assert_allclose(value, v2, rtol=1e-14)
    assert_allclose(wgrad, g2, rtol=1e-12)
    # and the value alone (the ridge check's) is the same sum
    assert_allclose(weighted_pareto_nbd_value(params, w, x, t_x, T), v2, rtol=1e-14)


def _simulate_shape(n: int, shape: str, seed: int) -> pd.DataFrame:
    """CDNOW-like Pareto/NBD customers with ages up to a year, at a time resolution."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(0.553, 1 / 10.578, n)
    mu = rng.gamma(0.606, 1 / 11.669, n)
    T = rng.uniform(1 / 7, 52, n)
    observed = np.minimum(rng.exponential(1 / mu), T)
    x = rng.poisson(lam * observed).astype(float)
    t_x = np.where(x > 0, observed * rng.beta(np.maximum(x, 1), 1), 0.0)
    per = {"week": 1.0, "day": 7.0, "continuous": 0.0}[shape]
    if per:
        T = np.ceil(T * per) / per
        t_x = np.where(x > 0, np.clip(np.ceil(t_x * per) / per, 1 / per, T), 0.0)
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": T})


def _lbfgsb_fit(model: ParetoNBD, data: pd.DataFrame) -> tuple[np.ndarray, float]:
    """The previous optimiser: L-BFGS-B from ones, then Newton polish on the FD Hessian."""
    problem = model._prepare_fit(data, None)
    fg = model._fit_objective(problem)
    theta = minimise(fg, np.zeros(4), max_iter=2000, owner="old", analytic=True)[0]
    params = np.exp(theta) * model._param_scale(model._param_names, problem.scale)
    return params, float(problem.counts @ pareto_nbd_loglik(params, *problem.columns))


@pytest.mark.parametrize(
    ("shape", "n"), [("week", 4000), ("day", 3000), ("continuous", 1500), ("cdnow", 0)]
)
def test_newton_fit_equals_the_lbfgsb_fit(shape, n, cdnow_summary):
    data = cdnow_summary if shape == "cdnow" else _simulate_shape(n, shape, seed=2)
    model = ParetoNBD().fit(data)
    assert model.converged_
    assert model.n_iter_ <= 15  # Newton: a handful of one-pass iterations, not ~25 + 8
    old, old_ll = _lbfgsb_fit(ParetoNBD(), data)
    assert_allclose(model._params_array(), old, rtol=2e-6)
    assert_allclose(model.log_likelihood_, old_ll, rtol=1e-9)


def test_standard_errors_equal_those_of_the_finite_difference_hessian(cdnow_summary):
    model = ParetoNBD().fit(cdnow_summary)
    problem = model._prepare_fit(cdnow_summary, None)
    fg = model._fit_objective(problem)
    theta = np.log(model._params_array() / model._param_scale(model._param_names, problem.scale))
    fd = hessian(fg, theta, analytic=True) * model.n_customers_
    assert_allclose(model.log_params_covariance_, np.linalg.inv(fd), rtol=1e-5)


def test_warm_start_on_a_sample_then_newton_on_many_distinct_rows(monkeypatch):
    # more than twice the warm start's sample of distinct rows (20,000 in use; 1,000 here to
    # keep the test fast): Newton on the sample, then on all rows
    monkeypatch.setattr(base, "_WARM_START_ROWS", 1_000)
    calls = []
    original = base.BTYDModel._warm_start
    monkeypatch.setattr(base.BTYDModel, "_warm_start", lambda *a: calls.append(1) or original(*a))
    data = _simulate_shape(2_500, "continuous", seed=4)
    model = ParetoNBD().fit(data)
    assert calls and model.converged_ and model.n_distinct_ > 1_000
    old, old_ll = _lbfgsb_fit(ParetoNBD(), data)
    assert_allclose(model._params_array(), old, rtol=2e-6)
    assert_allclose(model.log_likelihood_, old_ll, rtol=1e-9)


def test_ridge_statistic_from_the_kernel_equals_the_high_precision_one():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = ParetoNBD().fit(_simulate(8_000, s=40.0, beta=1600.0, seed=1))
    problem = model._prepare_fit(_simulate(8_000, s=40.0, beta=1600.0, seed=1), None)
    params = model._params_array()
    for i in (0, 2):
        limit = params.copy()
        limit[i] = max(1e6, 10 * params[i])
        limit[i + 1] = limit[i] * params[i + 1] / params[i]
        exact = float(problem.counts @ pareto_nbd_loglik(limit, *problem.columns))
        fast = weighted_pareto_nbd_value(limit, problem.counts, *problem.columns)
        # ~1e-9 relative on a total of ~3e4; the statistic is compared with 2.71
        assert abs(fast - exact) < 1e-3


def test_newton_failure_falls_back_to_lbfgsb_and_warns(cdnow_summary):
    # one iteration is not enough for Newton: L-BFGS-B with max_iter=1 stops early
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        model = ParetoNBD(max_iter=1).fit(cdnow_summary)
    assert not model.converged_
