"""Value regressors: planted signal, total preserved, bad input, scikit-learn conventions."""

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from clvml.exceptions import DataValidationError
from clvml.models.value_regressor import PoissonValueRegressor, TwoPartValueRegressor


def planted_value_data(n, seed):
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
    X, y, _ = planted_value_data(6000, 0)
    Xt, _, truth = planted_value_data(6000, 1)
    m = TwoPartValueRegressor(max_iter=100).fit(X, y)
    pred = m.predict(Xt)
    # ranking close to the truth's, and the total within a few percent of the expected total
    assert np.corrcoef(pred, truth)[0, 1] > 0.9
    assert pred.sum() / truth.sum() == pytest.approx(1.0, abs=0.06)
    assert set(m.categories_) == {"channel"}


def test_bad_input():
    X, y, _ = planted_value_data(200, 0)
    with pytest.raises(DataValidationError, match="'y': 1 row"):
        TwoPartValueRegressor().fit(X, np.r_[y[:-1], -1.0])
    with pytest.raises(DataValidationError, match="missing from X"):
        TwoPartValueRegressor(features=["x", "nope"]).fit(X, y)
    m = TwoPartValueRegressor(max_iter=10).fit(X, y)
    with pytest.raises(DataValidationError, match="'noise'"):
        m.predict(X.drop(columns="noise"))


def test_feature_without_values_among_buyers_is_left_to_the_classifier():
    X, y, _ = planted_value_data(600, 2)
    X["only_non_buyers"] = np.where(y > 0, np.nan, 1.0)
    m = TwoPartValueRegressor(max_iter=20).fit(X, y)
    assert "only_non_buyers" in m.features_
    assert m.features_.index("only_non_buyers") not in m.spend_columns_
    assert np.isfinite(m.predict(X)).all()


# --------------------------------------------------------------------------- scikit-learn checks
# Small-data settings: the common checks fit on a few dozen rows, where the defaults (large
# leaves, slow learning) would predict a constant. The tags declare what the regressors need
# and allow: missing values (native to the trees) and a target >= 0 (a value).
@parametrize_with_checks(
    [
        PoissonValueRegressor(max_iter=100, learning_rate=0.2, min_samples_leaf=2),
        TwoPartValueRegressor(max_iter=50),
    ]
)
def test_value_regressors_pass_the_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("cls", [PoissonValueRegressor, TwoPartValueRegressor])
def test_value_regressor_tags_and_array_input(cls):
    tags = cls().__sklearn_tags__()
    assert tags.input_tags.allow_nan and tags.target_tags.positive_only
    X, y, _ = planted_value_data(400, 3)
    Xn = X[["x", "noise"]]
    a = cls(max_iter=20).fit(Xn, y)
    b = cls(max_iter=20).fit(Xn.to_numpy(), y)  # an array: columns x0, x1
    assert a.n_features_in_ == b.n_features_in_ == 2
    assert list(a.feature_names_in_) == ["x", "noise"] and not hasattr(b, "feature_names_in_")
    np.testing.assert_allclose(a.predict(Xn), b.predict(Xn.to_numpy()))


def test_two_part_without_non_buyers_predicts_everyone_buys():
    X, y, _ = planted_value_data(400, 4)
    m = TwoPartValueRegressor(max_iter=20).fit(X, y + 1.0)
    assert m.classifier_ is None
    np.testing.assert_array_equal(m.predict_proba_positive(X), 1.0)
    with pytest.raises(DataValidationError, match="nothing to learn"):
        TwoPartValueRegressor().fit(X, np.zeros(len(X)))
    with pytest.raises(DataValidationError, match="at least 10"):
        TwoPartValueRegressor().fit(X, np.where(np.arange(len(X)) < 5, 0.0, 1.0))
