"""Boosting on features that are missing in every training row of a fold."""

from __future__ import annotations

import numpy as np
import pandas as pd

from clvml.models._boosting import MissingSafeBoostingClassifier, fill_all_missing
from clvml.models.churn import make_churn_classifier


def _frame(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    sparse = np.full(n, np.nan)
    sparse[:4] = rng.normal(size=4)  # a feature only 4 customers have
    X = pd.DataFrame({"x": x, "sparse": sparse, "never": np.nan})
    y = (x + rng.normal(scale=0.5, size=n) > 0).astype(int)
    return X, y


def test_a_feature_missing_in_every_row_is_accepted() -> None:
    """scikit-learn 1.9 alone fails here ("window shape cannot be larger than input ...")."""
    X, y = _frame()
    safe = MissingSafeBoostingClassifier(max_iter=5).fit(X[["x", "never"]], y)
    assert safe.predict_proba(X[["x", "never"]]).shape == (len(X), 2)


def test_churn_classifier_fits_when_a_fold_has_no_value_of_a_feature() -> None:
    X, y = _frame()
    model = make_churn_classifier(random_state=0).fit(X, y)
    p = model.predict_proba(X)[:, 1]
    assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
    # the all-missing column gets no split: its values at prediction time change nothing
    filled = X.assign(never=np.random.default_rng(1).normal(size=len(X)))
    np.testing.assert_array_equal(model.predict_proba(filled)[:, 1], p)


def test_fill_all_missing_touches_only_columns_without_any_value() -> None:
    X, _ = _frame(20)
    out = fill_all_missing(X)
    assert (out["never"] == 0.0).all()
    pd.testing.assert_series_equal(out["sparse"], X["sparse"])
    assert X["never"].isna().all()  # the caller's frame is not changed
    arr = X.to_numpy()
    out_arr = fill_all_missing(arr)
    assert (out_arr[:, 2] == 0.0).all() and np.isnan(arr[:, 2]).all()
    assert np.array_equal(out_arr[:, :2], arr[:, :2], equal_nan=True)
    full = X[["x"]]
    assert fill_all_missing(full) is full
