"""Covariate sBG / BdW: exact reduction to the plain models, gradient, standard errors,
recovery of planted coefficients, placebo, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from clvml.exceptions import DataValidationError
from clvml.models.btyd.covariate_design import CovariateWarning
from clvml.models.subscription import (
    BetaDiscreteWeibull,
    ShiftedBetaGeometric,
    likelihood_ratio_test,
)
from clvml.models.subscription.bdw_math import bdw_loglik
from clvml.models.subscription.covariates import (
    BetaDiscreteWeibullCovariates,
    ShiftedBetaGeometricCovariates,
    covariate_loglik,
)
from clvml.models.subscription.sbg_math import sbg_loglik

GAMMA_ALPHA = {"paid": 0.5, "referral": -0.4, "care": 0.3, "social": 0.0}
GAMMA_BETA = {"paid": 0.0, "referral": 0.3, "care": 0.0, "social": 0.4}


def _world(
    seed: int, n: int = 40_000, horizon: int = 24, c: float = 1.0, effects: bool = True
) -> pd.DataFrame:
    """Spells with acquisition channel (paid / referral vs organic), care contacts and
    social engagement acting on alpha and beta; churn shape ``c`` (1: sBG)."""
    rng = np.random.default_rng(seed)
    channel = rng.integers(0, 3, n)
    x = pd.DataFrame(
        {
            "paid": (channel == 1).astype(float),
            "referral": (channel == 2).astype(float),
            "care": rng.poisson(1.0, n).clip(0, 4).astype(float),
            "social": rng.integers(0, 2, n).astype(float),
        }
    )
    ga = np.array([GAMMA_ALPHA[k] for k in x]) * effects
    gb = np.array([GAMMA_BETA[k] for k in x]) * effects
    theta = rng.beta(0.9 * np.exp(x.to_numpy() @ ga), 2.5 * np.exp(x.to_numpy() @ gb))
    # T = first t with (1 - theta) ** (t ** c) < u (discrete Weibull)
    u = rng.random(n)
    t = np.ceil((np.log(u) / np.log1p(-theta)) ** (1.0 / c)).clip(1)
    return x.assign(duration=np.minimum(t, horizon).astype(int), censored=t > horizon)


def _rows(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = rng.integers(1, 30, n).astype(float)
    cens = rng.random(n) < 0.4
    return rng.normal(size=(n, 3)), t, cens


@pytest.mark.parametrize("base", [(0.704, 1.182), (0.668, 3.806), (5.0, 0.3)])
def test_zero_coefficients_give_the_plain_sbg_likelihood(base: tuple[float, float]) -> None:
    x, t, cens = _rows()
    got = covariate_loglik("sbg", np.array(base), np.zeros((2, 3)), x, t, cens)
    np.testing.assert_allclose(got, sbg_loglik(np.array(base), t, cens), rtol=1e-10, atol=0)


@pytest.mark.parametrize("base", [(0.8, 2.0, 0.6), (1.5, 4.0, 1.4)])
def test_zero_coefficients_give_the_plain_bdw_likelihood(
    base: tuple[float, float, float],
) -> None:
    x, t, cens = _rows()
    got = covariate_loglik("bdw", np.array(base), np.zeros((2, 3)), x, t, cens)
    np.testing.assert_allclose(got, bdw_loglik(np.array(base), t, cens), rtol=1e-10, atol=0)


@pytest.mark.parametrize(
    ("cov_model", "plain_model"),
    [
        (ShiftedBetaGeometricCovariates, ShiftedBetaGeometric),
        (BetaDiscreteWeibullCovariates, BetaDiscreteWeibull),
    ],
)
def test_fitted_model_at_zero_coefficients_predicts_as_the_plain_model(
    cov_model: type, plain_model: type
) -> None:
    spells = _world(3, n=5_000)
    plain = plain_model().fit(spells)
    m = cov_model().fit(spells)
    nb = len(plain.params_)
    m.internal_params_ = np.r_[[plain.params_[k] for k in plain.params_], np.zeros(8)]
    assert m.internal_params_.size == nb + 8
    n = spells["duration"].to_numpy() + 1
    np.testing.assert_allclose(
        m.renewal_probability(spells, n), plain.renewal_probability(n), rtol=1e-10
    )
    np.testing.assert_allclose(
        m.discounted_expected_residual_lifetime(spells, n, 0.01),
        plain.discounted_expected_residual_lifetime(n, 0.01),
        rtol=1e-10,
    )
    assert m.log_likelihood(spells) == pytest.approx(plain.log_likelihood(spells), rel=1e-10)
    # the fit itself is at least as good as the plain model it nests
    assert m.log_likelihood_ >= plain.log_likelihood_ - 1e-6


@pytest.mark.parametrize("model", [ShiftedBetaGeometricCovariates, BetaDiscreteWeibullCovariates])
def test_analytic_gradient_matches_finite_differences(model: type) -> None:
    x, t, cens = _rows(300, seed=4)
    m = model(penalizer=0.01)
    nb = len(m._base_names)
    free = np.ones(nb + 6, dtype=bool)
    free[nb + 1] = False  # one coefficient not linked
    w = np.full(t.size, 1.0 / t.size)
    fg = m._objective(x, t, cens, w, free)
    theta = np.random.default_rng(1).normal(scale=0.3, size=int(free.sum()))
    num = np.array(
        [(fg(theta + 1e-6 * e)[0] - fg(theta - 1e-6 * e)[0]) / 2e-6 for e in np.eye(theta.size)]
    )
    np.testing.assert_allclose(fg(theta)[1], num, rtol=1e-5, atol=1e-8)


def test_standard_errors_are_the_inverse_information_of_the_reported_parameters() -> None:
    spells = _world(5, n=4_000)
    m = ShiftedBetaGeometricCovariates(covariates=["paid", "care"]).fit(spells)
    names = list(m.params_)
    p0 = np.array([m.params_[k] for k in names])
    x = spells[["paid", "care"]].to_numpy()
    t, cens = spells["duration"].to_numpy(float), spells["censored"].to_numpy(bool)

    def nll(p: np.ndarray) -> float:
        gamma = np.array([p[2:4], p[4:6]])
        return -float(covariate_loglik("sbg", p[:2], gamma, x, t, cens).sum())

    k = p0.size
    h = 1e-4 * np.maximum(np.abs(p0), 0.1)
    hess = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            hess[i, j] = (
                nll(p0 + ei + ej) - nll(p0 + ei - ej) - nll(p0 - ei + ej) + nll(p0 - ei - ej)
            ) / (4 * h[i] * h[j])
    se = np.sqrt(np.diag(np.linalg.inv(hess)))
    np.testing.assert_allclose(m.standard_errors_[names].to_numpy(), se, rtol=2e-3)
    assert list(m.summary.columns) == ["coef", "se(coef)", "z", "p", "lower 95%", "upper 95%"]


@pytest.mark.parametrize("seed", [11, 12])
def test_planted_coefficients_are_recovered(seed: int) -> None:
    spells = _world(seed)
    m = ShiftedBetaGeometricCovariates().fit(spells)
    assert m.converged_
    assert m.n_distinct_ < 1_000  # compressed: channel x care x social x (duration, censored)
    truth = {f"alpha:{k}": v for k, v in GAMMA_ALPHA.items()}
    truth |= {f"beta:{k}": v for k, v in GAMMA_BETA.items()}
    truth |= {"alpha": 0.9, "beta": 2.5}
    for name, true in truth.items():
        z = (m.params_[name] - true) / m.standard_errors_[name]
        assert abs(z) < 4.0, (name, m.params_[name], true)


def test_bdw_covariates_recover_duration_dependence_and_coefficients() -> None:
    spells = _world(21, c=0.7)
    m = BetaDiscreteWeibullCovariates().fit(spells)
    lo, hi = m.confidence_intervals_.loc["c"]
    assert lo < 0.7 < hi
    plain = ShiftedBetaGeometricCovariates().fit(spells)
    lr = likelihood_ratio_test(plain, m)
    assert lr["df"] == 1 and lr["p_value"] < 1e-6
    for k, v in GAMMA_ALPHA.items():
        assert abs(m.params_[f"alpha:{k}"] - v) < 4 * m.standard_errors_[f"alpha:{k}"]


def test_placebo_covariates_are_not_significant_and_planted_ones_are() -> None:
    spells = _world(31, n=20_000, effects=False)
    spells["noise"] = np.random.default_rng(0).normal(size=len(spells))
    plain = ShiftedBetaGeometric().fit(spells)
    m = ShiftedBetaGeometricCovariates().fit(spells)
    lr = likelihood_ratio_test(plain, m)
    assert lr["df"] == 10 and lr["p_value"] > 0.01
    planted = _world(31, n=20_000)
    lr_planted = likelihood_ratio_test(
        ShiftedBetaGeometric().fit(planted), ShiftedBetaGeometricCovariates().fit(planted)
    )
    assert lr_planted["p_value"] < 1e-6


def test_covariates_move_predictions_the_planted_way() -> None:
    spells = _world(41, n=20_000)
    m = ShiftedBetaGeometricCovariates().fit(spells)
    organic = pd.DataFrame({"paid": [0.0], "referral": [0.0], "care": [0.0], "social": [0.0]})
    paid = organic.assign(paid=1.0)  # planted: alpha up -> more churn
    social = organic.assign(social=1.0)  # planted: beta up -> less churn
    r = {
        k: float(m.renewal_probability(f, 3)[0])
        for k, f in (("o", organic), ("p", paid), ("s", social))
    }
    assert r["p"] < r["o"] < r["s"]
    clv = m.customer_lifetime_value(social, 3, 0.01, price=10.0, margin=0.5)
    derl = m.discounted_expected_residual_lifetime(social, 3, 0.01)
    np.testing.assert_allclose(clv, derl * 5.0, rtol=1e-15)
    params = m.customer_params(paid)
    assert params.loc[0, "alpha"] == pytest.approx(
        m.params_["alpha"] * np.exp(m.params_["alpha:paid"]), rel=1e-10
    )


def test_one_sided_links_and_clone() -> None:
    spells = _world(51, n=5_000)
    m = ShiftedBetaGeometricCovariates(covariates={"alpha": ["paid"], "beta": ["social"]})
    assert clone(m).get_params() == m.get_params()
    m.fit(spells)
    assert sorted(m.params_) == ["alpha", "alpha:paid", "beta", "beta:social"]


def test_bad_covariates_are_refused_in_one_line() -> None:
    spells = _world(61, n=500)
    with pytest.raises(DataValidationError, match="column 'missing'") as err:
        ShiftedBetaGeometricCovariates(covariates=["missing"]).fit(spells)
    assert "\n" not in str(err.value)
    bad = spells.assign(care=spells["care"].where(spells.index % 7 != 0))
    with pytest.raises(DataValidationError, match="column 'care': 72 rows are NaN") as err:
        ShiftedBetaGeometricCovariates(covariates=["care"]).fit(bad)
    with pytest.raises(DataValidationError, match=r"column 'plan'.*not numeric"):
        ShiftedBetaGeometricCovariates(covariates=["plan"]).fit(spells.assign(plan="gold"))
    with pytest.raises(ValueError, match="not a covariate"):
        ShiftedBetaGeometricCovariates(covariates=["duration"]).fit(spells)
    with pytest.warns(CovariateWarning, match="constant"):
        m = ShiftedBetaGeometricCovariates().fit(spells.assign(flat=1.0))
    assert "alpha:flat" not in m.params_
    m = ShiftedBetaGeometricCovariates(covariates=["care"]).fit(spells)
    with pytest.raises(DataValidationError, match="column 'care'"):
        m.renewal_probability(spells.drop(columns="care"), 2)
    with pytest.raises(ValueError, match="whole numbers >= 1"):
        m.renewal_probability(spells, 0)


def test_covariate_tests_find_the_planted_covariates_and_not_the_noise() -> None:
    spells = _world(71, n=10_000)
    spells["noise"] = np.random.default_rng(1).normal(size=len(spells))
    m = ShiftedBetaGeometricCovariates().fit(spells)
    tests = m.covariate_tests(spells)
    assert list(tests.index) == ["paid", "referral", "care", "social", "noise"]
    assert (tests["df"] == 2).all()
    assert (tests.loc[["paid", "referral", "care", "social"], "p_value"] < 1e-4).all()
    assert tests.loc["noise", "p_value"] > 0.01
    # the statistic is twice the log-likelihood the covariate adds: refit by hand
    without = ShiftedBetaGeometricCovariates(covariates=["paid", "referral", "care", "social"])
    without.fit(spells)
    stat = 2 * (m.log_likelihood_ - without.log_likelihood_)
    assert tests.loc["noise", "statistic"] == pytest.approx(max(stat, 0.0), abs=1e-6)
