"""The weighted-binning shim gives scikit-learn's own bin edges, sorting each feature once."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.ensemble._hist_gradient_boosting import binning
from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper

from clvml.models import _binning
from clvml.models._binning import batched_weighted_binning


def _data(seed: int, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [
            rng.normal(size=n),  # continuous: > 255 distinct values, the percentile path
            rng.gamma(0.5, 3.0, n).round(1),  # heavy ties
            rng.integers(0, 40, n).astype(float),  # few distinct values: midpoints
            np.where(rng.random(n) < 0.3, np.nan, rng.exponential(size=n)),  # missing
        ]
    )
    w = rng.exponential(size=n)
    w[rng.random(n) < 0.05] = 0.0  # zero weights are dropped before the percentiles
    return X, w


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_bins", [256, 64])
def test_bin_edges_are_scikit_learns(seed, n_bins):
    X, w = _data(seed)
    expected = _BinMapper(n_bins=n_bins).fit(X, sample_weight=w).bin_thresholds_
    with batched_weighted_binning():
        actual = _BinMapper(n_bins=n_bins).fit(X, sample_weight=w).bin_thresholds_
    for e, a in zip(expected, actual, strict=True):
        np.testing.assert_array_equal(a, e)
    assert binning._weighted_percentile.__module__ == "sklearn.utils.stats"  # restored


def test_each_feature_is_sorted_once(monkeypatch):
    X, w = _data(3)
    calls: list[str] = []
    real = binning._weighted_percentile
    grid = _binning._averaged_inverted_cdf

    def counted(*args, **kwargs):
        calls.append("scikit-learn")
        return real(*args, **kwargs)

    def counted_grid(*args, **kwargs):
        calls.append("grid")
        return grid(*args, **kwargs)

    monkeypatch.setattr(binning, "_weighted_percentile", counted)
    monkeypatch.setattr(_binning, "_averaged_inverted_cdf", counted_grid)
    _BinMapper().fit(X, sample_weight=w)
    # the normal and exponential features need percentiles (the others have < 255 values):
    # one call, hence one sort, per percentile
    assert calls == ["scikit-learn"] * 2 * 254
    calls.clear()
    with batched_weighted_binning():
        _BinMapper().fit(X, sample_weight=w)
    assert calls == ["grid"] * 2  # one sort per feature


def test_fitted_boosters_are_identical():
    X, w = _data(4)
    y = (X[:, 0] + np.nan_to_num(X[:, 3]) > 0.8).astype(int)
    spend = np.exp(X[:, 0]) * 10
    clf = dict(class_weight="balanced", max_iter=30, random_state=0)
    expected_p = HistGradientBoostingClassifier(**clf).fit(X, y).predict_proba(X)
    reg = dict(loss="poisson", max_iter=30, random_state=0)
    expected_v = HistGradientBoostingRegressor(**reg).fit(X, spend, sample_weight=w).predict(X)
    with batched_weighted_binning(), batched_weighted_binning():  # re-entrant
        actual_p = HistGradientBoostingClassifier(**clf).fit(X, y).predict_proba(X)
        actual_v = HistGradientBoostingRegressor(**reg).fit(X, spend, sample_weight=w).predict(X)
    np.testing.assert_array_equal(actual_p, expected_p)
    np.testing.assert_array_equal(actual_v, expected_v)
