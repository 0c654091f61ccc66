"""Rows at the edge of the BTYD models: customers of age 0, prediction-grid rows no
customer can produce, one horizon per customer, and the Pareto/NBD conditional PMF
checked against a brute-force sum over the purchase and dropout rates (issue #18)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.special import gammainc, gammaln, logsumexp
from scipy.stats import gamma as gamma_dist

from clvml.exceptions import DataValidationError
from clvml.features.rfm import rfm_summary
from clvml.models.btyd import BetaGeo, ModifiedBetaGeo, ParetoNBD
from clvml.models.btyd.pareto_nbd_conditional import (
    pareto_nbd_conditional_probability_of_purchases,
)
from clvml.models.btyd.pareto_nbd_math import (
    pareto_nbd_conditional_expected_purchases,
    pareto_nbd_probability_of_purchases,
)
from clvml.models.btyd.plot_data import cumulative_transactions_data

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from lifetimes import BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter

MODELS = [
    (BetaGeo, BetaGeoFitter),
    (ModifiedBetaGeo, ModifiedBetaGeoFitter),
    (ParetoNBD, ParetoNBDFitter),
]
PNBD_PUBLISHED = (0.553, 10.578, 0.606, 11.669)  # Fader & Hardie's CDNOW estimates


@pytest.fixture(scope="module")
def fitted(cdnow_summary):
    return {cls: cls().fit(cdnow_summary) for cls, _ in MODELS}


def _age_zero(n: int) -> pd.DataFrame:
    return pd.DataFrame({"frequency": [0.0] * n, "recency": [0.0] * n, "T": [0.0] * n})


# ------------------------------------------------------------------------------- T = 0
@pytest.mark.parametrize(("cls", "_ref"), MODELS)
def test_age_zero_rows_add_nothing_to_the_fit(cls, _ref, cdnow_summary, fitted):
    # 23 customers whose first purchase falls on the calibration end
    with_new = pd.concat([cdnow_summary, _age_zero(23)], ignore_index=True)
    model = cls().fit(with_new)
    base = fitted[cls]
    assert model.n_customers_ == len(cdnow_summary) + 23
    assert_allclose(model.log_likelihood_, base.log_likelihood_, rtol=1e-9)
    for name, value in base.params_.items():
        assert_allclose(model.params_[name], value, rtol=1e-4)
    # their likelihood is 1 (to rounding)
    zeros = np.zeros(3)
    params = np.array(list(base.params_.values()))
    assert_allclose(type(model)._loglik(params, *[zeros] * 3), 0.0, atol=1e-14)


@pytest.mark.parametrize(("cls", "_ref"), MODELS)
def test_age_zero_prediction_is_the_new_customer_expectation(cls, _ref, fitted):
    model = fitted[cls]
    rows = _age_zero(2)
    for t in (1.0, 39.0, 78.0):
        assert_allclose(
            np.asarray(model.expected_purchases(rows, t)),
            model.expected_purchases_new_customer(t),
            rtol=1e-12,
        )
    alive = np.asarray(model.probability_alive(rows))
    if cls is ModifiedBetaGeo:  # MBG/NBD lets a customer drop out at her first purchase
        p = model.params_
        assert_allclose(alive, p["b"] / (p["a"] + p["b"]), rtol=1e-12)
    else:
        assert_allclose(alive, 1.0)


def test_negative_age_is_still_refused(fitted):
    frame = pd.DataFrame({"frequency": [0.0, 0.0], "recency": [0.0, 0.0], "T": [-1.0, 5.0]})
    with pytest.raises(DataValidationError, match=r"column 'T': 1 row"):
        BetaGeo().fit(frame)
    with pytest.raises(DataValidationError, match=r"column 'T': 1 row"):
        fitted[BetaGeo].probability_alive(frame)


# ------------------------------------------------------------------ prediction grids
def _grid(max_freq: int, max_rec: int, age: float) -> pd.DataFrame:
    rec, freq = np.meshgrid(np.arange(max_rec + 1.0), np.arange(max_freq + 1.0), indexing="ij")
    return pd.DataFrame({"frequency": freq.ravel(), "recency": rec.ravel(), "T": age})


@pytest.mark.parametrize(("cls", "ref_cls"), MODELS)
def test_full_grid_is_answered_as_lifetimes_answers_it(cls, ref_cls, fitted):
    # every cell, including frequency 0 with recency > 0 and frequency > 0 with recency 0
    model = fitted[cls]
    ref = ref_cls()
    ref.params_ = pd.Series(model.params_)
    grid = _grid(30, 39, 39.0)
    f, r, T = (grid[c].to_numpy() for c in ("frequency", "recency", "T"))
    alive = np.asarray(model.probability_alive(grid))
    assert np.isfinite(alive).all()
    assert_allclose(alive, np.asarray(ref.conditional_probability_alive(f, r, T)), rtol=1e-9)
    expected = np.asarray(model.expected_purchases(grid, 1.0))
    theirs = np.asarray(ref.conditional_expected_number_of_purchases_up_to_time(1.0, f, r, T))
    assert_allclose(expected, theirs, rtol=1e-9)


@pytest.mark.parametrize(("cls", "_ref"), MODELS)
def test_fit_still_refuses_rows_no_customer_can_produce(cls, _ref):
    bad = [
        ({"frequency": [2, 1], "recency": [3.0, 0.0], "T": [5.0, 5.0]}, "(is|are) 0 while"),
        ({"frequency": [2, 0], "recency": [3.0, 2.0], "T": [5.0, 5.0]}, "(is|are) > 0 while"),
    ]
    for frame, match in bad:
        with pytest.raises(DataValidationError, match=rf"column 'recency': 1 row {match}"):
            cls().fit(pd.DataFrame(frame))


# -------------------------------------------------------------------- array horizons
@pytest.mark.parametrize(("cls", "_ref"), MODELS)
def test_one_horizon_per_customer_equals_one_call_per_horizon(cls, _ref, fitted, cdnow_summary):
    model = fitted[cls]
    data = cdnow_summary.iloc[:300]
    t = np.resize([1.0, 10.0, 39.0, 52.0, 0.0], len(data))
    got = model.expected_purchases(data, t)
    assert isinstance(got, pd.Series) and got.index.equals(data.index)
    for horizon in np.unique(t):
        rows = t == horizon
        assert_allclose(
            got[rows], np.asarray(model.expected_purchases(data, horizon))[rows], rtol=1e-13
        )
    with pytest.raises(DataValidationError, match=r"column 't'.*one per customer \(300\)"):
        model.expected_purchases(data, t[:10])


# --------------------------------------------------------- Pareto/NBD conditional PMF
def _brute_force_conditional_pmf(params, n_max, t, x, t_x, T, size=700):
    """P(Y(t) = n | x, t_x, T) summed over a dense grid of (lambda, mu).

    For given rates: gone before T -> no purchase; alive at T and through the window ->
    Poisson(lambda t); alive at T, leaving after tau ~ Exp(mu) inside the window ->
    Poisson(lambda tau), i.e. mu / (lambda + mu) (lambda / (lambda + mu))^n times the
    regularised lower incomplete gamma P(n + 1, (lambda + mu) t). The history's
    likelihood weighs each grid cell; trapezoids in log-rate against the gamma priors.
    """
    r, alpha, s, beta = params
    u = np.linspace(-60.0, 6.0, size)  # the priors put mass ~ rate^shape near 0
    lam, mu = np.meshgrid(np.exp(u), np.exp(u), indexing="ij")
    log_prior = (
        gamma_dist.logpdf(lam, r, scale=1 / alpha)
        + np.log(lam)  # d lambda = lambda du
        + gamma_dist.logpdf(mu, s, scale=1 / beta)
        + np.log(mu)
    )
    rate = lam + mu
    log_alive = x * np.log(lam) - rate * T
    with np.errstate(divide="ignore"):
        log_gone = (
            x * np.log(lam)
            + np.log(mu)
            - np.log(rate)
            + np.log(-np.expm1(-rate * (T - t_x)))
            - rate * t_x
        )
    log_w = log_prior + np.logaddexp(log_alive, log_gone)
    norm = logsumexp(log_w)
    gone_share = np.exp(logsumexp(log_prior + log_gone) - norm)
    out = []
    for n in range(n_max + 1):
        stays = np.exp(-rate * t + n * np.log(lam * t) - gammaln(n + 1))
        leaves = mu / rate * np.exp(n * (np.log(lam) - np.log(rate))) * gammainc(n + 1, rate * t)
        p = np.sum(np.exp(log_prior + log_alive - norm) * (stays + leaves))
        out.append(p + (gone_share if n == 0 else 0.0))
    return np.array(out)


@pytest.mark.parametrize(
    ("x", "t_x", "T", "t"),
    [(0, 0.0, 20.0, 10.0), (2, 30.43, 38.86, 39.0), (26, 30.86, 31.0, 52.0), (5, 3.0, 36.0, 8.0)],
)
def test_conditional_pmf_matches_a_brute_force_sum_over_the_rates(x, t_x, T, t):
    n = np.arange(8)
    ours = pareto_nbd_conditional_probability_of_purchases(PNBD_PUBLISHED, n, t, x, t_x, T)
    brute = _brute_force_conditional_pmf(PNBD_PUBLISHED, 7, t, x, t_x, T)
    assert_allclose(ours, brute, rtol=1e-5, atol=1e-9)


def test_conditional_pmf_sums_to_one_has_the_conditional_mean_and_starts_unconditional():
    n = np.arange(400)
    for x, t_x, T, t in [(26, 30.86, 31.0, 52.0), (0, 0.0, 38.0, 5.0), (3, 1.0, 38.0, 100.0)]:
        pmf = pareto_nbd_conditional_probability_of_purchases(PNBD_PUBLISHED, n, t, x, t_x, T)
        assert np.all(pmf >= 0)
        assert_allclose(pmf.sum(), 1.0, atol=1e-10)
        mean = pareto_nbd_conditional_expected_purchases(PNBD_PUBLISHED, x, t_x, T, t)
        assert_allclose(n @ pmf, mean, rtol=1e-8)
    # 25.46: the BTYD package's walkthrough value of E[Y(52) | 26, 30.86, 31]
    assert_allclose(
        n
        @ pareto_nbd_conditional_probability_of_purchases(PNBD_PUBLISHED, n, 52.0, 26, 30.86, 31.0),
        25.46,
        atol=0.005,
    )
    # a customer of age 0 has the new customer's P(X(t) = n); a window of 0 holds nothing
    assert_allclose(
        pareto_nbd_conditional_probability_of_purchases(PNBD_PUBLISHED, n[:20], 7.0, 0, 0, 0),
        pareto_nbd_probability_of_purchases(PNBD_PUBLISHED, n[:20], 7.0),
        rtol=1e-12,
    )
    at_zero = pareto_nbd_conditional_probability_of_purchases(PNBD_PUBLISHED, n[:3], 0.0, 2, 5, 9)
    assert at_zero.tolist() == [1.0, 0.0, 0.0]


def test_conditional_pmf_is_a_probability_on_a_wide_grid_of_histories():
    # grid rows included (frequency 0 with recency > 0 and the reverse), windows of 0;
    # before clipping, 144 of these 2,400 cells of customers almost surely gone gave
    # P(Y = 0) = 1 + 2e-16
    x, t_x, age, t, n = np.meshgrid(
        np.arange(0, 100, 21.0), np.arange(0, 100, 7.0), np.arange(0, 100, 33.0),
        np.arange(0, 100, 30.0), np.arange(2.0), indexing="ij",
    )  # fmt: skip
    p = pareto_nbd_conditional_probability_of_purchases(
        PNBD_PUBLISHED, n.ravel(), t.ravel(), x.ravel(), t_x.ravel(), (t_x + age).ravel()
    )
    assert np.all((p >= 0) & (p <= 1))


def test_conditional_pmf_method_on_the_estimator(fitted, cdnow_summary):
    model = fitted[ParetoNBD]
    data = cdnow_summary.iloc[:200]
    got = model.conditional_probability_of_purchases(data, 1, 10.0)
    assert isinstance(got, pd.Series) and got.index.equals(data.index)
    direct = pareto_nbd_conditional_probability_of_purchases(
        list(model.params_.values()), 1, 10.0, *(data[c] for c in ("frequency", "recency", "T"))
    )
    assert_allclose(got, direct, rtol=1e-13)
    with pytest.raises(DataValidationError, match="column 'n'"):
        model.conditional_probability_of_purchases(data, 1.5, 10.0)


# ----------------------------------------------------------- integer YYYYMMDD dates
def test_integer_dates_are_parsed_with_the_format_or_refused(fitted):
    log = pd.DataFrame(
        {"id": [1, 1, 2, 2, 3], "date": [19970101, 19970108, 19970102, 19970103, 19970105]}
    )
    summary = rfm_summary(
        log, "id", "date", datetime_format="%Y%m%d", observation_period_end=19970110
    )
    assert summary["frequency"].tolist() == [1.0, 1.0, 0.0]
    assert summary["T"].tolist() == [9.0, 8.0, 5.0]
    with pytest.raises(DataValidationError, match=r"column 'date': 5 rows are numbers, not dates"):
        rfm_summary(log, "id", "date")
    model = fitted[BetaGeo]
    cum = cumulative_transactions_data(
        model, log, 9, datetime_col="date", customer_id_col="id", datetime_format="%Y%m%d"
    )
    assert str(cum.index[0]) == "1997-01-01" and len(cum) == 10
    assert cum["actual"].iloc[-1] == 2.0  # the repeat purchases of customers 1 and 2
    with pytest.raises(DataValidationError, match="are numbers, not dates"):
        cumulative_transactions_data(model, log, 9, datetime_col="date", customer_id_col="id")
