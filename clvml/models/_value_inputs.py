"""Inputs of the value regressors: a customer frame, or any 2-D array of numbers.

Both regressors work on pandas frames (string columns are categorical features). Other
2-D inputs (NumPy arrays, lists) are checked as scikit-learn does (finite or NaN numbers,
no sparse or complex data, at least one row and one column) and given the column names
``x0, x1, ...``, so the regressors follow scikit-learn's estimator conventions
(``n_features_in_``, ``feature_names_in_``) and pass its common checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_array, column_or_1d, validate_data

from clvml.exceptions import DataValidationError

__all__ = ["fit_frame", "predict_frame", "value_target"]


def _named(arr: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(arr, columns=[f"x{j}" for j in range(arr.shape[1])])


def _str_columns(X: pd.DataFrame) -> pd.DataFrame:
    """``X`` with its column labels as strings (the regressors find columns by name)."""
    if all(isinstance(c, str) for c in X.columns):
        return X
    return X.rename(columns=str)


def fit_frame(estimator: Any, X: Any) -> pd.DataFrame:
    """``X`` as a frame; sets ``n_features_in_`` (and ``feature_names_in_`` for a frame)."""
    if isinstance(X, pd.DataFrame):
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise DataValidationError(
                f"X has {X.shape[1]} feature(s) (shape={X.shape}) and {X.shape[0]} rows; "
                "a minimum of 1 is required",
                n_rows=X.shape[0],
            )
        validate_data(estimator, X, skip_check_array=True, reset=True)
        return _str_columns(X)
    arr = validate_data(estimator, X, reset=True, dtype="numeric", ensure_all_finite="allow-nan")
    return _named(arr)


def predict_frame(estimator: Any, X: Any) -> pd.DataFrame:
    """``X`` as a frame for prediction: a frame as given (columns found by name), an array
    checked against the number of features seen in ``fit``."""
    if isinstance(X, pd.DataFrame):
        return _str_columns(X)
    arr = validate_data(estimator, X, reset=False, dtype="numeric", ensure_all_finite="allow-nan")
    return _named(arr)


def value_target(y: Any, n_rows: int) -> np.ndarray:
    """``y`` as a 1-D float array with one finite value >= 0 per row of ``X``."""
    if y is None:
        raise ValueError("this regressor requires y to be passed, but the target y is None")
    target = column_or_1d(
        check_array(y, ensure_2d=False, dtype="numeric", ensure_all_finite=False), warn=True
    ).astype(float)
    bad = ~np.isfinite(target) | (target < 0)
    if target.shape != (n_rows,) or bad.any():
        raise DataValidationError(
            "must hold one finite value >= 0 per row of X",
            column="y",
            n_rows=int(bad.sum()) if target.shape == (n_rows,) else n_rows,
            example=float(target[np.flatnonzero(bad)[0]]) if bad.any() else None,
        )
    return target
