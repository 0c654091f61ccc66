"""Histogram boosting that accepts a feature with no value in its training rows.

scikit-learn 1.9's binning fails on a feature that is missing in every training row
("window shape cannot be larger than input array shape"). On small data a sparse feature
(e.g. a recent-sentiment average most customers lack) is all missing inside one fold of the
calibration's cross-validation, which ended ``clvml train`` with a traceback. Such a column
carries no information for the fold: it is set to a constant before fitting, so no split
uses it and predictions do not depend on its values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

__all__ = ["MissingSafeBoostingClassifier", "fill_all_missing"]


def fill_all_missing(X: Any) -> Any:
    """``X`` with every float column that has no value in any row set to 0.0 (a copy if any)."""
    if isinstance(X, pd.DataFrame):
        empty = [
            c for c in X.columns if pd.api.types.is_float_dtype(X[c]) and not X[c].notna().any()
        ]
        if not empty:
            return X
        X = X.copy()
        X[empty] = 0.0
        return X
    arr = np.asarray(X)
    if arr.ndim != 2 or arr.dtype.kind != "f" or len(arr) == 0:
        return X
    empty_cols = np.isnan(arr).all(axis=0)
    if not empty_cols.any():
        return X
    arr = arr.copy()
    arr[:, empty_cols] = 0.0
    return arr


class MissingSafeBoostingClassifier(HistGradientBoostingClassifier):
    """:class:`~sklearn.ensemble.HistGradientBoostingClassifier` whose ``fit`` accepts
    features missing in every training row (see the module docstring)."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **kwargs: Any) -> Any:
        return super().fit(fill_all_missing(X), y, sample_weight=sample_weight, **kwargs)
