"""Compress once per frame: ``model.prepare(summary)`` and every prediction on it.

A :class:`PreparedSummary` is validated and compressed (distinct rows + inverse index) once
per model class; every prediction accepts it in place of the summary. The oracle is the
same prediction on the summary itself: results must be identical (the same formulas on the
same distinct rows), on whole-week ages (heavily repeated rows), ages in days/7 and
continuous times (large inputs that are not compressed at all), for every model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from clvml.exceptions import DataValidationError
from clvml.models.btyd import (
    BetaGeo,
    BetaGeoBetaBinom,
    BetaGeoCovariates,
    GammaGamma,
    ModifiedBetaGeo,
    ParetoNBD,
    PreparedSummary,
    customer_lifetime_value,
)
from clvml.models.btyd import rows as rows_module

CDNOW = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def _histories(n: int, resolution: str, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    T = rng.uniform(1, 52, n)
    x = rng.poisson(1.5, n).astype(float)
    t_x = np.where(x > 0, rng.uniform(0, 1, n) * T, 0.0)
    if resolution == "week":
        T, t_x = np.ceil(T), np.floor(t_x)
    elif resolution == "day":
        T, t_x = np.round(T * 7) / 7, np.round(t_x * 7) / 7
    t_x = np.where(x > 0, np.maximum(np.minimum(t_x, T), 1 / 7), 0.0)
    spend = np.where(x > 0, np.round(rng.gamma(3.0, 12.0, n), 2), 0.0)
    return pd.DataFrame(
        {"frequency": x, "recency": t_x, "T": T, "monetary_value": spend},
        index=pd.Index(rng.permutation(n) + 10_000, name="customer_id"),
    )


def _fitted(model, **params):
    model.params_ = dict(params)
    return model


@pytest.fixture(scope="module")
def cdnow_models(cdnow_summary_with_spend):
    data = cdnow_summary_with_spend
    spend = data[data["frequency"] > 0]
    return data, BetaGeo().fit(data), ParetoNBD().fit(data), GammaGamma().fit(spend)


MODELS = {
    "bgnbd": _fitted(BetaGeo(), **CDNOW),
    "mbgnbd": _fitted(ModifiedBetaGeo(), **CDNOW),
    "pareto": _fitted(ParetoNBD(), r=0.55, alpha=10.6, s=0.61, beta=11.7),
}


@pytest.mark.parametrize("resolution", ["week", "day", "continuous"])
@pytest.mark.parametrize(
    ("name", "n"),
    # above 200k rows continuous times are not compressed at all (inverse = arange)
    [("bgnbd", 3_000), ("mbgnbd", 3_000), ("pareto", 400), ("bgnbd", 210_000)],
)
def test_predictions_on_a_prepared_summary_are_identical(name, n, resolution):
    model = MODELS[name]
    data = _histories(n, resolution)
    rfm = data[["frequency", "recency", "T"]]
    prepared = model.prepare(rfm)
    for predict in (
        lambda d: model.probability_alive(d),
        lambda d: model.expected_purchases(d, 12.0),
        lambda d: model.expected_purchases(d, np.linspace(1.0, 30.0, n)),
    ):
        pd.testing.assert_series_equal(predict(prepared), predict(rfm), check_exact=True)
    if isinstance(model, ParetoNBD):
        for k in (0, 2):
            pd.testing.assert_series_equal(
                model.conditional_probability_of_purchases(prepared, k, 26.0),
                model.conditional_probability_of_purchases(rfm, k, 26.0),
                check_exact=True,
            )


def test_each_model_class_compresses_a_prepared_summary_once(monkeypatch, cdnow_models):
    data, bg, pn, gg = cdnow_models
    calls: list[tuple[str, ...]] = []
    validated = rows_module.validated_rows

    def counted(frame, columns, *args, **kwargs):
        calls.append(columns)
        return validated(frame, columns, *args, **kwargs)

    monkeypatch.setattr("clvml.models.btyd.base.validated_rows", counted)
    prepared = bg.prepare(data)
    assert calls == [("frequency", "recency", "T")]
    bg.probability_alive(prepared)
    bg.expected_purchases(prepared, 10.0)
    clv = customer_lifetime_value(bg, gg, prepared, period="W")
    gg.expected_average_spend(prepared)
    bg.expected_purchases(prepared, 20.0)
    pn.probability_alive(prepared)
    pn.conditional_probability_of_purchases(prepared, 0, 10.0)
    assert calls == [
        ("frequency", "recency", "T"),  # BetaGeo, once
        ("frequency", "monetary_value"),  # GammaGamma, once
        ("frequency", "recency", "T"),  # ParetoNBD, once
    ]
    pd.testing.assert_frame_equal(
        clv, customer_lifetime_value(bg, gg, data, period="W"), check_exact=True
    )
    assert repr(prepared) == "PreparedSummary(2357 rows, 3 compressed readings)"


@pytest.mark.parametrize("interval_method", ["delta", "bootstrap"])
def test_clv_on_a_prepared_summary_is_identical(cdnow_models, interval_method):
    data, bg, pn, gg = cdnow_models
    for tx in (bg, pn):
        kwargs = {"period": "W", "interval_method": interval_method, "random_state": 3}
        if interval_method == "bootstrap":
            kwargs["n_draws"] = 4
        pd.testing.assert_frame_equal(
            customer_lifetime_value(tx, gg, tx.prepare(data), **kwargs),
            customer_lifetime_value(tx, gg, data, **kwargs),
            check_exact=True,
        )


def test_prepared_arrays_give_arrays(cdnow_models):
    data, bg, _, _ = cdnow_models
    arr = data[["frequency", "recency", "T"]].to_numpy()
    prepared = bg.prepare(arr)
    out = bg.probability_alive(prepared)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, bg.probability_alive(arr))
    assert len(prepared) == len(arr)
    assert prepared.index.equals(pd.RangeIndex(len(arr)))
    assert PreparedSummary(prepared).data is arr  # preparing twice wraps the summary once


def test_discrete_and_covariate_models_accept_a_prepared_summary(cdnow_models):
    rng = np.random.default_rng(0)
    n_opp = rng.integers(1, 12, 3000).astype(float)
    x = np.floor(rng.uniform(0, 1, 3000) * (n_opp + 1))
    t_x = np.where(x > 0, np.maximum(x, np.floor(rng.uniform(0, 1, 3000) * (n_opp + 1))), 0)
    discrete = pd.DataFrame({"frequency": x, "recency": np.minimum(t_x, n_opp), "n_periods": n_opp})
    bgbb = _fitted(BetaGeoBetaBinom(), alpha=1.2, beta=0.75, gamma=0.66, delta=2.78)
    prepared = bgbb.prepare(discrete)
    pd.testing.assert_series_equal(
        bgbb.probability_alive(prepared, future_periods=1),
        bgbb.probability_alive(discrete, future_periods=1),
        check_exact=True,
    )
    data = cdnow_models[0].assign(flag=(np.arange(len(cdnow_models[0])) % 3 == 0).astype(float))
    bgc = BetaGeoCovariates(covariates=["flag"]).fit(data)
    pd.testing.assert_series_equal(
        bgc.probability_alive(PreparedSummary(data)), bgc.probability_alive(data), check_exact=True
    )


def test_prepare_checks_the_fit_and_the_data(cdnow_models):
    data, bg, _, _ = cdnow_models
    with pytest.raises(NotFittedError):
        BetaGeo().prepare(data)
    bad = data.assign(recency=data["T"] + 1.0)
    with pytest.raises(DataValidationError, match="recency"):
        bg.prepare(bad)
