"""SubscriptionModel: the subscription methods per billing period, champion, predictions,
new-customer value and LTV:CAC by acquisition channel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvml.exceptions import DataValidationError
from clvml.models.methods.subscription import SUBSCRIPTION_METHODS, SubscriptionModel
from clvml.models.subscription import ShiftedBetaGeometric
from clvml.segments.ltv_cac import ltv_cac_by_channel

#: Planted: paid-search subscribers churn more (alpha up), referrals less (beta up).
CHANNEL_ALPHA = {"organic": 0.0, "paid_search": 0.7, "referral": 0.0}
CHANNEL_BETA = {"organic": 0.0, "paid_search": 0.0, "referral": 0.6}


def _spells(seed: int = 0, n: int = 12_000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    channel = rng.choice(list(CHANNEL_ALPHA), n, p=[0.5, 0.3, 0.2])
    yearly = rng.random(n) < 0.25
    a = 0.8 * np.exp(pd.Series(channel).map(CHANNEL_ALPHA).to_numpy()) * np.where(yearly, 0.5, 1)
    b = 2.5 * np.exp(pd.Series(channel).map(CHANNEL_BETA).to_numpy())
    t = rng.geometric(rng.beta(a, b))
    horizon = np.where(yearly, 5, 30)
    return pd.DataFrame(
        {
            "duration": np.minimum(t, horizon),
            "censored": t > horizon,
            "period": np.where(yearly, "year", "month"),
            "acquisition_channel": channel,
            "price_per_period": np.where(yearly, 100.0, 10.0),
        }
    )


@pytest.fixture(scope="module")
def fitted() -> tuple[SubscriptionModel, pd.DataFrame]:
    spells = _spells()
    model = SubscriptionModel(covariates=["acquisition_channel"], margin=0.6).fit(spells)
    return model, spells


def test_each_method_is_fitted_per_billing_period(fitted: tuple) -> None:
    model, _ = fitted
    assert sorted(model.models_) == sorted(
        (m, p) for m in SUBSCRIPTION_METHODS for p in ("month", "year")
    )
    assert model.periods_ == ["month", "year"]
    assert model.levels_ == {"acquisition_channel": ["organic", "paid_search", "referral"]}
    # the planted channel effects are found (per unit of the 0/1 column vs organic)
    m = model.models_[("sbg_covariates", "month")]
    assert m.params_["alpha:acquisition_channel=paid_search"] == pytest.approx(0.7, abs=0.25)
    assert m.params_["beta:acquisition_channel=referral"] == pytest.approx(0.6, abs=0.25)
    # the champion has the lowest BIC; with planted channel effects it uses covariates
    assert model.champion_ == min(model.bic_, key=model.bic_.get)
    assert SUBSCRIPTION_METHODS[model.champion_].uses_covariates
    assert set(model.lr_tests_) == {"month", "year"}


def test_predictions_are_the_fitted_models_own(fitted: tuple) -> None:
    model, spells = fitted
    pred = model.predict(spells)
    active = spells["censored"].to_numpy()
    monthly = (spells["period"] == "month").to_numpy()
    # an independent sBG on the monthly spells alone
    plain = ShiftedBetaGeometric().fit(spells.loc[monthly])
    n = spells["duration"].to_numpy() + 1
    d = 1.1 ** (1 / 12) - 1
    rows = active & monthly
    expected = plain.discounted_expected_residual_lifetime(n[rows], d) * 10.0 * 0.6
    np.testing.assert_allclose(pred.loc[rows, "clv_sbg"], expected, rtol=1e-8)
    # champion columns, cancelled spells, bounds
    assert (pred["clv"] == pred[f"clv_{model.champion_}"]).all()
    assert (pred.loc[~active, ["p_renew", "derl", "clv"]] == 0).all().all()
    assert (pred.loc[~active, "churn_probability"] == 1).all()
    price = spells["price_per_period"].to_numpy()
    np.testing.assert_allclose(pred["clv"], pred["derl"] * price * 0.6, rtol=1e-12)
    assert pred.loc[active, "p_renew"].between(0, 1).all()
    np.testing.assert_allclose(pred["churn_probability"] + pred["p_renew"], np.where(active, 1, 1))
    assert (pred.loc[active, "tenure"] == n[active]).all()


def test_expected_renewals_per_method(fitted: tuple) -> None:
    model, spells = fitted
    out = model.expected_renewals(spells, 6)
    active = spells["censored"].to_numpy()
    assert (out.loc[~active] == 0).all().all()
    assert out.loc[active, "renewals"].between(0, 6).all()
    monthly = (spells["period"] == "month").to_numpy()
    plain = model.models_[("sbg", "month")]
    rows = active & monthly
    n = spells["duration"].to_numpy()[rows] + 1
    np.testing.assert_allclose(out.loc[rows, "renewals_sbg"], plain.expected_renewals(n, 6))


def test_new_customer_value_is_del_times_price_and_ranks_channels(fitted: tuple) -> None:
    model, spells = fitted
    plain = SubscriptionModel(methods=("sbg",)).fit(spells)
    monthly = spells.loc[spells["period"] == "month"].head(3)
    d = 1.1 ** (1 / 12) - 1
    del_closed = plain.models_[("sbg", "month")].discounted_expected_lifetime(d)
    np.testing.assert_allclose(plain.new_customer_value(monthly), del_closed * 10.0, rtol=1e-9)
    # LTV:CAC by acquisition channel from the covariate champion: planted churn order
    customers = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(len(spells))],
            "acquisition_channel": spells["acquisition_channel"],
            "acquisition_cost": 20.0,
            "period": spells["period"],
            "price_per_period": spells["price_per_period"],
        }
    )
    customers["ltv"] = model.new_customer_value(customers)
    table = ltv_cac_by_channel(customers, value_col="ltv")
    assert table.index.tolist() == ["referral", "organic", "paid_search"]
    total = customers.groupby("acquisition_channel")["ltv"].sum() / (
        20.0 * customers.groupby("acquisition_channel").size()
    )
    np.testing.assert_allclose(table["ltv_cac"], total[table.index], rtol=1e-12)


def test_bad_input_is_refused_in_one_line(fitted: tuple) -> None:
    model, spells = fitted
    new = spells.head(3).assign(acquisition_channel=["organic", "tv", "tv"])
    with pytest.raises(DataValidationError, match="column 'acquisition_channel': 2 rows") as err:
        model.predict(new)
    assert "\n" not in str(err.value)
    with pytest.raises(DataValidationError, match="column 'price_per_period'"):
        model.predict(spells.head(3).assign(price_per_period=[1.0, np.nan, -1.0]))
    with pytest.raises(DataValidationError, match="column 'period'"):
        model.predict(spells.head(2).assign(period="week"))
    with pytest.raises(ValueError, match="unknown subscription method"):
        SubscriptionModel(methods=("sbg", "nope")).fit(spells)
    with pytest.raises(DataValidationError, match="no spells"):
        SubscriptionModel().fit(spells.head(0))
    only = SubscriptionModel().fit(spells.loc[spells["period"] == "month"])
    assert only.skipped_ == {
        "sbg_covariates": "no covariates given",
        "bdw_covariates": "no covariates given",
    }
    with pytest.raises(DataValidationError, match="not fitted on"):
        only.predict(spells.loc[spells["period"] == "year"].head(2))


def test_subscription_methods_have_their_home_in_the_method_registry() -> None:
    from clvml.models.methods import registry

    assert registry.SUBSCRIPTION_METHODS is SUBSCRIPTION_METHODS
    assert list(SUBSCRIPTION_METHODS) == ["sbg", "bdw", "sbg_covariates", "bdw_covariates"]
    # one name, one method: no clash with the purchase-frame methods
    assert not set(SUBSCRIPTION_METHODS) & set(registry.REGISTRY)
