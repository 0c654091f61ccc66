"""The beta-discrete-Weibull model: nesting of sBG at c = 1, gradient, recovery, LR test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import betaln

from clvml.models.subscription import (
    BetaDiscreteWeibull,
    ShiftedBetaGeometric,
    likelihood_ratio_test,
)
from clvml.models.subscription.bdw_math import bdw_loglik, bdw_loglik_grad
from clvml.models.subscription.sbg_math import sbg_loglik

REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]


def _rows() -> tuple[np.ndarray, np.ndarray]:
    t = np.r_[np.arange(1, 60), np.arange(0, 60)].astype(float)
    return t, np.r_[np.zeros(59, bool), np.ones(60, bool)]


@pytest.mark.parametrize(("a", "b"), [(0.704, 1.182), (0.668, 3.806), (5.0, 0.3)])
def test_c_equal_one_reproduces_the_sbg_likelihood(a: float, b: float) -> None:
    t, cens = _rows()
    np.testing.assert_allclose(
        bdw_loglik(np.array([a, b, 1.0]), t, cens),
        sbg_loglik(np.array([a, b]), t, cens),
        rtol=1e-11,
    )


def test_likelihood_is_a_difference_of_beta_function_survivals() -> None:
    a, b, c = 0.8, 2.0, 0.6
    t, cens = _rows()
    s = lambda x: np.exp(betaln(a, b + x**c) - betaln(a, b))  # noqa: E731
    with np.errstate(divide="ignore"):  # the unused branch of censored t = 0 is log(0)
        direct = np.where(cens, np.log(s(t)), np.log(s(np.maximum(t - 1, 0)) - s(t)))
    np.testing.assert_allclose(bdw_loglik(np.array([a, b, c]), t, cens), direct, rtol=1e-9)


def test_analytic_gradient_matches_finite_differences() -> None:
    p = np.array([0.8, 2.0, 0.6])
    t, cens = _rows()
    h = 1e-6
    num = np.column_stack(
        [
            (bdw_loglik(p + h * e, t, cens) - bdw_loglik(p - h * e, t, cens)) / (2 * h)
            for e in np.eye(3)
        ]
    )
    np.testing.assert_allclose(bdw_loglik_grad(p, t, cens), num, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("cohort", [REGULAR, HIGH_END])
def test_bdw_fits_at_least_as_well_as_the_sbg_it_nests(cohort: list[int]) -> None:
    sbg = ShiftedBetaGeometric().fit_survival(cohort)
    bdw = BetaDiscreteWeibull().fit_survival(cohort)
    assert bdw.converged_
    assert bdw.log_likelihood_ >= sbg.log_likelihood_ - 1e-9
    assert bdw.aic_ == pytest.approx(6 - 2 * bdw.log_likelihood_)
    t = np.arange(1, 10)
    np.testing.assert_allclose(bdw.retention(t), bdw.survival(t) / bdw.survival(t - 1))


def _simulate(alpha: float, beta: float, c: float, n: int, horizon: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    theta = rng.beta(alpha, beta, n)
    # S(t | theta) = (1 - theta) ** (t ** c): T > t iff x > t ** c, x = log U / log(1 - theta)
    x = np.log(rng.uniform(size=n)) / np.log1p(-theta)
    t = np.maximum(np.ceil(x ** (1.0 / c)), 1.0)
    return pd.DataFrame({"duration": np.minimum(t, horizon), "censored": t > horizon})


def test_recovery_and_lr_test_detect_planted_duration_dependence() -> None:
    spells = _simulate(1.5, 3.0, 0.6, 20_000, 12, seed=7)
    bdw = BetaDiscreteWeibull().fit(spells)
    for name, true in (("alpha", 1.5), ("beta", 3.0), ("c", 0.6)):
        lo, hi = bdw.confidence_intervals_.loc[name]
        assert lo < true < hi, (name, true, lo, hi)
    test = likelihood_ratio_test(ShiftedBetaGeometric().fit(spells), bdw)
    assert test["df"] == 1 and test["p_value"] < 1e-6


def test_lr_test_placebo_on_sbg_data() -> None:
    spells = _simulate(0.9, 2.5, 1.0, 20_000, 12, seed=11)
    bdw = BetaDiscreteWeibull().fit(spells)
    lo, hi = bdw.confidence_intervals_.loc["c"]
    assert lo < 1.0 < hi
    assert likelihood_ratio_test(ShiftedBetaGeometric().fit(spells), bdw)["p_value"] > 0.01


def test_lr_test_refuses_models_fitted_on_different_data() -> None:
    with pytest.raises(ValueError, match="different data"):
        likelihood_ratio_test(
            ShiftedBetaGeometric().fit_survival(REGULAR),
            BetaDiscreteWeibull().fit_survival([500, 300, 200, 150, 120]),
        )


@pytest.mark.parametrize("d", [0.01, 0.1, 0.3])
@pytest.mark.parametrize(("a", "b", "c"), [(0.8, 2.0, 0.6), (1.5, 4.0, 1.4), (0.668, 3.806, 1.0)])
def test_del_and_derl_match_brute_force_discounted_sums(
    a: float, b: float, c: float, d: float
) -> None:
    m = BetaDiscreteWeibull()
    m.params_ = {"alpha": a, "beta": b, "c": c}
    t = np.arange(0, 20_000)
    s = np.exp(betaln(a, b + t.astype(float) ** c) - betaln(a, b))
    z = 1.0 / (1.0 + d)
    assert m.discounted_expected_lifetime(d) == pytest.approx(np.sum(s * z**t), rel=1e-9)
    ns = np.array([1, 2, 5, 12, 40])
    brute = [np.sum(s[n:] / s[n - 1] * z ** (t[n:] - n)) for n in ns]
    np.testing.assert_allclose(m.discounted_expected_residual_lifetime(ns, d), brute, rtol=1e-9)
    clv = m.customer_lifetime_value(ns, d, price=20.0, margin=0.5)
    np.testing.assert_allclose(clv, np.asarray(brute) * 10.0, rtol=1e-9)


@pytest.mark.parametrize("cohort", [REGULAR, HIGH_END])
def test_derl_at_c_one_is_the_sbg_closed_form(cohort: list[int]) -> None:
    sbg = ShiftedBetaGeometric().fit_survival(cohort)
    bdw = BetaDiscreteWeibull()
    bdw.params_ = {**sbg.params_, "c": 1.0}
    ns = np.arange(1, 30)
    np.testing.assert_allclose(
        bdw.discounted_expected_residual_lifetime(ns, 0.1),
        sbg.discounted_expected_residual_lifetime(ns, 0.1),
        rtol=1e-10,
    )
    assert bdw.discounted_expected_lifetime(0.1) == pytest.approx(
        sbg.discounted_expected_lifetime(0.1), rel=1e-10
    )
    np.testing.assert_allclose(bdw.renewal_probability(ns), sbg.renewal_probability(ns), rtol=1e-12)


@pytest.mark.parametrize("model", [ShiftedBetaGeometric, BetaDiscreteWeibull])
def test_renewal_probability_is_the_share_of_survivors_renewing(model: type) -> None:
    m = model().fit_survival(HIGH_END)
    ns = np.arange(1, 8)
    expected = m.survival(ns) / m.survival(ns - 1)
    np.testing.assert_allclose(m.renewal_probability(ns), expected, rtol=1e-12)
    # the first renewal is E[1 - theta] = beta / (alpha + beta) in both models
    a, b = m.params_["alpha"], m.params_["beta"]
    assert m.renewal_probability(1) == pytest.approx(b / (a + b), rel=1e-12)
    with pytest.raises(ValueError, match="whole numbers >= 1") as err:
        m.renewal_probability([1, 0])
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="n \\(periods active\\)"):
        m.discounted_expected_residual_lifetime([2.5], 0.1)
    with pytest.raises(ValueError, match="discount_rate"):
        m.discounted_expected_lifetime(-1.0)


def test_bdw_derl_with_duration_dependence_differs_from_sbg_in_the_right_direction() -> None:
    # c < 1: an individual's churn falls with tenure, so a long-tenured customer's
    # residual lifetime is longer than the sBG (c = 1) with the same alpha, beta gives
    m = BetaDiscreteWeibull()
    m.params_ = {"alpha": 1.2, "beta": 2.0, "c": 0.6}
    m1 = BetaDiscreteWeibull()
    m1.params_ = {"alpha": 1.2, "beta": 2.0, "c": 1.0}
    assert np.all(
        m.discounted_expected_residual_lifetime([5, 10], 0.05)
        > m1.discounted_expected_residual_lifetime([5, 10], 0.05)
    )


@pytest.mark.parametrize("model", [ShiftedBetaGeometric, BetaDiscreteWeibull])
def test_expected_renewals_are_the_truncated_sum_of_conditional_survival(model: type) -> None:
    m = model().fit_survival(REGULAR)
    ns = np.array([1, 3, 7, 7])
    horizon = np.array([12, 5, 0, 30])
    s = m.survival(np.arange(0, 60))
    brute = [s[n : n + h].sum() / s[n - 1] for n, h in zip(ns, horizon, strict=True)]
    np.testing.assert_allclose(m.expected_renewals(ns, horizon), brute, rtol=1e-12)
    # a new customer's cohort: expected billings after the first = sum of S(1..H)
    assert m.expected_renewals(1, 7) == pytest.approx(s[1:8].sum(), rel=1e-12)
    with pytest.raises(ValueError, match="horizon"):
        m.expected_renewals(2, -1)
