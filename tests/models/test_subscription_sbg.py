"""The shifted-beta-geometric model against Fader & Hardie (2007, 2010), brute force and
simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import betaln
from sklearn.base import clone

from clvml.exceptions import DataValidationError
from clvml.models.subscription import ShiftedBetaGeometric, survival_to_spells
from clvml.models.subscription.sbg_math import sbg_loglik

# Fader & Hardie (2007), "How to Project Customer Retention", Table 1 (per 1,000 customers)
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]


def test_published_estimates_regular_and_high_end() -> None:
    regular = ShiftedBetaGeometric().fit_survival(REGULAR)
    high = ShiftedBetaGeometric().fit_survival(HIGH_END)
    assert regular.converged_ and high.converged_
    assert round(regular.params_["alpha"], 3) == 0.704
    assert round(regular.params_["beta"], 3) == 1.182
    assert round(high.params_["alpha"], 3) == 0.668
    assert round(high.params_["beta"], 3) == 3.806


def test_published_projection_high_end_years_8_to_12() -> None:
    high = ShiftedBetaGeometric().fit_survival(HIGH_END)
    projected = np.rint(1000 * high.survival(np.arange(8, 13)))
    np.testing.assert_array_equal(projected, [460, 436, 414, 395, 378])


def test_log_likelihood_is_the_direct_sum_over_the_cohort() -> None:
    # independent: the cohort likelihood written out from the survival function
    m = ShiftedBetaGeometric().fit_survival(REGULAR)
    a, b = m.params_["alpha"], m.params_["beta"]
    s = np.exp(betaln(a, b + np.arange(8)) - betaln(a, b))
    n = np.asarray(REGULAR, dtype=float)
    direct = (n[:-1] - n[1:]) @ np.log(s[:-1] - s[1:]) + n[-1] * np.log(s[-1])
    assert m.log_likelihood_ == pytest.approx(direct, rel=1e-12)
    assert m.n_customers_ == 1000 and m.n_distinct_ == 8


def test_individual_spells_give_the_same_fit_as_the_counts() -> None:
    agg = survival_to_spells(REGULAR)
    rows = agg.loc[agg.index.repeat(agg["weight"].astype(int))].drop(columns="weight")
    rows = rows.sample(frac=1.0, random_state=0).reset_index(drop=True)
    by_row = ShiftedBetaGeometric().fit(rows)
    by_count = ShiftedBetaGeometric().fit_survival(REGULAR)
    assert by_row.n_distinct_ == 8 and by_row.n_customers_ == 1000
    for p in ("alpha", "beta"):
        assert by_row.params_[p] == pytest.approx(by_count.params_[p], rel=1e-8)


def test_retention_curve_is_the_ratio_of_survivals_and_rises() -> None:
    m = ShiftedBetaGeometric().fit_survival(REGULAR)
    t = np.arange(1, 30)
    np.testing.assert_allclose(m.retention(t), m.survival(t) / m.survival(t - 1), rtol=1e-12)
    assert np.all(np.diff(m.retention(t)) > 0)  # the churn-prone leave first


def test_expected_lifetime_matches_the_sum_of_survival() -> None:
    m = ShiftedBetaGeometric().fit_survival(REGULAR)
    m.params_ = {"alpha": 3.0, "beta": 5.0}
    brute = m.survival(np.arange(0, 200_000)).sum()
    assert m.expected_lifetime() == pytest.approx(brute, rel=1e-4)
    m.params_ = {"alpha": 0.7, "beta": 1.2}
    assert m.expected_lifetime() == np.inf


@pytest.mark.parametrize("d", [0.05, 0.1, 0.3])
@pytest.mark.parametrize("cohort", [REGULAR, HIGH_END])
def test_del_and_derl_closed_forms_match_brute_force_discounted_sums(
    cohort: list[int], d: float
) -> None:
    m = ShiftedBetaGeometric().fit_survival(cohort)
    t = np.arange(0, 5000)
    s = m.survival(t)
    z = 1.0 / (1.0 + d)
    assert m.discounted_expected_lifetime(d) == pytest.approx(np.sum(s * z**t), rel=1e-9)
    ns = np.array([1, 2, 5, 12])
    brute = [np.sum(s[n:] / s[n - 1] * z ** (t[n:] - n)) for n in ns]
    np.testing.assert_allclose(m.discounted_expected_residual_lifetime(ns, d), brute, rtol=1e-9)
    # DERL grows with tenure (survivors are the loyal ones)
    assert np.all(np.diff(m.discounted_expected_residual_lifetime(ns, d)) > 0)


def test_clv_is_derl_times_margin_times_price() -> None:
    m = ShiftedBetaGeometric().fit_survival(HIGH_END)
    derl = m.discounted_expected_residual_lifetime([1, 4], 0.1)
    clv = m.customer_lifetime_value([1, 4], 0.1, price=30.0, margin=0.4)
    np.testing.assert_allclose(clv, derl * 30.0 * 0.4, rtol=1e-15)


def test_standard_errors_are_the_inverse_information_in_natural_parameters() -> None:
    m = ShiftedBetaGeometric().fit_survival(HIGH_END)
    spells = survival_to_spells(HIGH_END)
    cols = (spells["duration"].to_numpy(float), spells["censored"].to_numpy(bool))
    w = spells["weight"].to_numpy()
    p0 = np.array([m.params_["alpha"], m.params_["beta"]])

    def nll(p: np.ndarray) -> float:
        return -float(w @ sbg_loglik(p, *cols))

    h = 1e-4 * p0
    hess = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            ei, ej = np.eye(2)[i] * h[i], np.eye(2)[j] * h[j]
            hess[i, j] = (
                nll(p0 + ei + ej) - nll(p0 + ei - ej) - nll(p0 - ei + ej) + nll(p0 - ei - ej)
            ) / (4 * h[i] * h[j])
    se = np.sqrt(np.diag(np.linalg.inv(hess)))
    np.testing.assert_allclose(m.standard_errors_.to_numpy(), se, rtol=1e-3)
    assert list(m.summary.columns) == ["coef", "se(coef)", "lower 95%", "upper 95%"]


@pytest.mark.parametrize(("alpha", "beta", "seed"), [(0.7, 1.2, 1), (2.0, 6.0, 2), (0.5, 3.8, 3)])
def test_parameter_recovery_on_simulated_spells(alpha: float, beta: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, horizon = 20_000, 12
    theta = rng.beta(alpha, beta, n)
    t = rng.geometric(theta)  # period of cancellation, >= 1
    spells = pd.DataFrame({"duration": np.minimum(t, horizon), "censored": t > horizon})
    m = ShiftedBetaGeometric().fit(spells)
    assert m.n_distinct_ <= 2 * horizon + 1
    for name, true in (("alpha", alpha), ("beta", beta)):
        lo, hi = m.confidence_intervals_.loc[name]
        assert lo < true < hi, (name, true, lo, hi)


def test_get_params_and_clone() -> None:
    m = ShiftedBetaGeometric(penalizer=0.01, max_iter=50)
    assert m.get_params() == {"penalizer": 0.01, "max_iter": 50}
    c = clone(m)
    assert c.get_params() == m.get_params() and not hasattr(c, "params_")
    assert m.fit_survival(REGULAR) is m


@pytest.mark.parametrize(
    ("survivors", "match"),
    [
        ([1000, 631, -5], "negative"),
        ([1000, 631, 700, 500], "must not increase"),
        ([0, 0, 0], "cohort is empty"),
        ([], "needs the cohort size"),
        ([1000, float("nan")], "finite"),
    ],
)
def test_bad_survival_counts_are_refused_in_one_line(survivors: list[float], match: str) -> None:
    with pytest.raises(DataValidationError, match=match) as err:
        ShiftedBetaGeometric().fit_survival(survivors)
    assert isinstance(err.value, ValueError)
    assert "survivors" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("spells", "match"),
    [
        (pd.DataFrame({"duration": [], "censored": []}), "no spells"),
        (pd.DataFrame({"duration": [1, -2], "censored": [False, True]}), "column 'duration'"),
        (pd.DataFrame({"duration": [0, 3], "censored": [False, True]}), "cancelled spell"),
        (pd.DataFrame({"duration": [1.5, 3], "censored": [False, True]}), "whole periods"),
        (pd.DataFrame({"duration": [1, 3]}), "column 'censored'"),
        (pd.DataFrame({"duration": [1, 3], "censored": [False, "x"]}), "True/False"),
        (pd.DataFrame({"duration": [1], "censored": [False], "weight": [-1.0]}), "weight"),
    ],
)
def test_bad_spells_are_refused_in_one_line(spells: pd.DataFrame, match: str) -> None:
    with pytest.raises(DataValidationError, match=match) as err:
        ShiftedBetaGeometric().fit(spells)
    assert "\n" not in str(err.value)


def test_bad_discount_rate_and_tenure_are_refused() -> None:
    m = ShiftedBetaGeometric().fit_survival(REGULAR)
    with pytest.raises(ValueError, match="discount_rate"):
        m.discounted_expected_lifetime(0.0)
    with pytest.raises(ValueError, match="n "):
        m.discounted_expected_residual_lifetime(0, 0.1)


@pytest.mark.parametrize(("a", "b"), [(1.0, 1e12), (3.0, 7e10), (1.0, np.exp(25.0))])
def test_derl_is_finite_where_the_hypergeometric_function_fails(a: float, b: float) -> None:
    # churn probabilities ~ a / b ~ 0: the residual lifetime is the annuity 1 / (1 - z);
    # scipy's 2F1 returns NaN/inf at such parameters and the series sum takes over
    from clvml.models.subscription.sbg_math import sbg_derl

    d = 0.008
    got = sbg_derl(a, b, np.array([1.0, 5.0]), d)
    np.testing.assert_allclose(got, (1 + d) / d, rtol=1e-6)
