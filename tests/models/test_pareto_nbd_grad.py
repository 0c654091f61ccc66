"""Pareto/NBD optimiser kernel: value against the high-precision path, analytic gradient
against finite differences of that path, the weighted sums, and the ridge check."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from clvml.exceptions import ConvergenceWarning
from clvml.models.btyd.pareto_nbd import ParetoNBD
from clvml.models.btyd.pareto_nbd_grad import pareto_nbd_loglik_and_grad, weighted_pareto_nbd
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
