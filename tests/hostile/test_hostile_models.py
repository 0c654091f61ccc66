"""Hostile fits (issue #15): the CLV interval never hangs or runs on wild draws.

When the covariance of the parameters cannot be sampled (every repeat buyer with
recency = T gives a Hessian that is not positive definite: the interval ran 262 s and
gave NaN), the interval is absent with the reason; a customer whose draws are not finite
gets no bounds and a warning naming the count; a mean spend of 1e300 is refused.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvml.exceptions import ConvergenceWarning, DataValidationError
from clvml.models.btyd import BetaGeo, GammaGamma
from clvml.models.btyd.base import MAX_LOG_SD
from clvml.models.btyd.clv import customer_lifetime_value
from clvml.models.btyd.gamma_gamma_math import gamma_gamma_expected_average_spend


@pytest.fixture(scope="module")
def fitted(cdnow_summary_with_spend):
    data = cdnow_summary_with_spend
    return BetaGeo().fit(data), GammaGamma().fit(data[data["frequency"] > 0]), data


def _clv(bg, gg, data, **kw):
    return customer_lifetime_value(bg, gg, data, period="W", random_state=0, n_draws=50, **kw)


def test_repeat_buyers_all_at_recency_t_give_no_interval_and_the_reason() -> None:
    rng = np.random.default_rng(0)
    n = 300
    T = rng.uniform(20, 50, n)
    f = rng.integers(0, 5, n).astype(float)
    data = pd.DataFrame(
        {"frequency": f, "recency": np.where(f > 0, T, 0.0), "T": T,
         "monetary_value": np.where(f > 0, rng.gamma(2, 10, n), 0.0)}
    )  # fmt: skip
    with pytest.warns(ConvergenceWarning):
        bg = BetaGeo().fit(data)
    gg = GammaGamma().fit(data[data["frequency"] > 0])
    assert "not positive semi-definite" in bg.covariance_problem()
    with pytest.warns(ConvergenceWarning, match="no CLV interval: BetaGeo: the covariance"):
        out = _clv(bg, gg, data)
    assert np.isfinite(out["clv"]).all()
    assert out[["clv_lower", "clv_upper"]].isna().all().all()
    assert "not positive semi-definite" in out.attrs["interval_note"]


@pytest.mark.parametrize(
    ("cov", "says"),
    [
        (np.diag([0.01, 0.01, -5.0, 0.01]), "not positive semi-definite"),
        (np.diag([0.01, 0.01, (MAX_LOG_SD + 1) ** 2, 0.01]), "standard error is 4 on the log"),
        (np.full((4, 4), np.nan), "not finite"),
    ],
)
def test_unusable_covariances_are_named(fitted, cov, says) -> None:
    _bg, gg, data = fitted
    bad = BetaGeo().fit(data.head(2000))
    bad.log_params_covariance_ = cov
    assert says in bad.covariance_problem()
    with pytest.warns(ConvergenceWarning, match=says):
        out = _clv(bad, gg, data.head(50))
    assert out["clv_lower"].isna().all()


@pytest.mark.parametrize("method", ["delta", "bootstrap"])
def test_a_usable_covariance_still_gives_finite_intervals(fitted, method) -> None:
    bg, gg, data = fitted
    assert bg.covariance_problem() is None and gg.covariance_problem() is None
    out = _clv(bg, gg, data.head(200), interval_method=method)
    assert np.isfinite(out.to_numpy()).all() and "interval_note" not in out.attrs
    assert (out["clv_lower"] <= out["clv"]).all() and (out["clv"] <= out["clv_upper"]).all()


class _OverflowingSpend(GammaGamma):
    """Gamma-Gamma whose spend overflows for one customer in the draws with a large p."""

    @staticmethod
    def _expected_average_spend(params, x, m):  # type: ignore[override]
        out = np.asarray(gamma_gamma_expected_average_spend(params, x, m), dtype=float)
        return np.where((m == 777.0) & (params[0] > _OverflowingSpend.p_hat), np.inf, out)


@pytest.mark.parametrize(
    ("method", "says"),
    [
        ("bootstrap", "no CLV interval for 1 customer: fewer than 90%"),
        ("delta", "no CLV interval for 1 customer: the CLV is not finite under a small change"),
    ],
)
def test_a_customer_with_non_finite_draws_gets_no_bounds_and_a_counted_warning(
    fitted, method, says
) -> None:
    bg, _gg, data = fitted
    data = data.head(200).copy()
    first_buyer = int(np.flatnonzero(data["frequency"].to_numpy() > 0)[0])
    data.iloc[first_buyer, data.columns.get_loc("monetary_value")] = 777.0
    spend = _OverflowingSpend().fit(data[data["frequency"] > 0])
    _OverflowingSpend.p_hat = float(spend._params_array()[0])
    with pytest.warns(ConvergenceWarning, match=says):
        out = _clv(bg, spend, data, interval_method=method)
    bounds = out[["clv_lower", "clv_upper"]]
    assert bounds.iloc[first_buyer].isna().all()
    assert np.isfinite(bounds.drop(index=data.index[first_buyer]).to_numpy()).all()
    assert out.attrs["interval_note"].startswith("no CLV interval for 1 customer")


def test_a_mean_spend_of_1e300_is_refused_not_an_infinite_clv(fitted) -> None:
    bg, gg, data = fitted
    spoiled = data.head(100).copy()
    buyer = spoiled.index[spoiled["frequency"] > 0][0]
    spoiled.loc[buyer, "monetary_value"] = 1e300
    with pytest.raises(DataValidationError, match="column 'monetary_value': 1 row is larger"):
        GammaGamma().fit(spoiled[spoiled["frequency"] > 0])
    with pytest.raises(DataValidationError, match="monetary_value"):
        _clv(bg, gg, spoiled)
