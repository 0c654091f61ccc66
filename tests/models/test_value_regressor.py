"""Two-part value regressor: planted signal, total preserved, bad input."""

import numpy as np
import pandas as pd
import pytest

from clvml.exceptions import DataValidationError
from clvml.models.value_regressor import TwoPartValueRegressor


def world(n, seed):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {"x": rng.normal(size=n), "noise": rng.normal(size=n), "channel": rng.choice(["a", "b"], n)}
    )
    p = 1 / (1 + np.exp(-(X["x"] - 0.5)))
    mean = np.exp(3 + 0.5 * X["x"] + 0.5 * (X["channel"] == "b"))
    y = np.where(rng.random(n) < p, rng.gamma(2.0, mean / 2.0), 0.0)
    truth = p * mean
    return X, y, truth


def test_recovers_planted_value_and_total():
    X, y, _ = world(6000, 0)
    Xt, _, truth = world(6000, 1)
    m = TwoPartValueRegressor(max_iter=100).fit(X, y)
    pred = m.predict(Xt)
    # ranking close to the truth's, and the total within a few percent of the expected total
    assert np.corrcoef(pred, truth)[0, 1] > 0.9
    assert pred.sum() / truth.sum() == pytest.approx(1.0, abs=0.06)
    assert set(m.categories_) == {"channel"}


def test_bad_input():
    X, y, _ = world(200, 0)
    with pytest.raises(DataValidationError, match="'y': 1 row"):
        TwoPartValueRegressor().fit(X, np.r_[y[:-1], -1.0])
    with pytest.raises(DataValidationError, match="missing from X"):
        TwoPartValueRegressor(features=["x", "nope"]).fit(X, y)
    m = TwoPartValueRegressor(max_iter=10).fit(X, y)
    with pytest.raises(DataValidationError, match="'noise'"):
        m.predict(X.drop(columns="noise"))


def test_feature_without_values_among_buyers_is_left_to_the_classifier():
    X, y, _ = world(600, 2)
    X["only_non_buyers"] = np.where(y > 0, np.nan, 1.0)
    m = TwoPartValueRegressor(max_iter=20).fit(X, y)
    assert "only_non_buyers" in m.features_
    assert m.features_.index("only_non_buyers") not in m.spend_columns_
    assert np.isfinite(m.predict(X)).all()
