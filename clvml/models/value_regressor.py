"""Direct machine-learning models of future customer value: two-part and Poisson boosting.

:class:`PoissonValueRegressor` (:mod:`clvml.models.poisson_value`) models the value with
one Poisson-deviance booster, zeros included; :class:`TwoPartValueRegressor` (here) in two
parts, ZILN in spirit.

Most customers spend nothing in a future window, and those who spend have a
long right tail. Following the zero-inflated idea of Wang, Liu & Miao (2019,
"A Deep Probabilistic Model for Customer Lifetime Value Prediction"), the value
``V`` in the window is modelled in two parts,

.. math::

    E[V \\mid z] = P(V > 0 \\mid z) \\; E[V \\mid V > 0, z],

with gradient-boosted trees for each part: a classifier with calibrated
probabilities (isotonic, cross-validated) and a regressor with the Poisson
deviance on the buyers' value (a log link keeps predictions positive, and with
an intercept the Poisson score equations preserve the total, where the gamma
deviance would match ``sum(y / mu)`` instead and under-predict the total of a
heavy-tailed spend). Its predictions are in the money of the window it was trained on,
so it must be trained on a window of the same length as the one it predicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

from clvml.exceptions import DataValidationError
from clvml.models._boosting import MissingSafeBoostingClassifier
from clvml.models._value_inputs import fit_frame, predict_frame, value_target
from clvml.models.cv_folds import CustomerFolds
from clvml.models.poisson_value import VALUE_MONOTONICITY, PoissonValueRegressor

__all__ = ["VALUE_MONOTONICITY", "PoissonValueRegressor", "TwoPartValueRegressor"]


def _design(
    X: pd.DataFrame, columns: Sequence[str], categories: dict[str, list[str]]
) -> np.ndarray:
    """Numeric design matrix; categorical columns become integer codes (unknown -> NaN)."""
    out = np.empty((len(X), len(columns)), dtype=float)
    for j, c in enumerate(columns):
        if c in categories:
            codes = pd.Categorical(X[c].astype(str), categories=categories[c]).codes.astype(float)
            codes[codes < 0] = np.nan
            out[:, j] = codes
        else:
            out[:, j] = pd.to_numeric(X[c], errors="coerce").to_numpy(dtype=float)
    return out


class TwoPartValueRegressor(RegressorMixin, BaseEstimator):
    """Predict a customer's value in a future window: P(buys) x E[value | buys].

    Parameters
    ----------
    features : sequence of str, optional
        Columns of ``X`` to use; default every column.
    max_iter : int, default 300
        Boosting iterations of each part.
    learning_rate : float, default 0.05
        Learning rate of each part.
    max_leaf_nodes : int, default 15
        Tree size of each part.
    random_state : int, default 0
        Seed of both parts and of the calibration folds.

    Attributes
    ----------
    features_ : list of str
        Columns used, in order.
    categories_ : dict
        Levels of the non-numeric columns seen in ``fit``.
    classifier_ : CalibratedClassifierCV or None
        P(V > 0 | z); None when every training customer had value (P = 1).
    regressor_ : HistGradientBoostingRegressor
        E[V | V > 0, z] (Poisson deviance, log link).
    spend_columns_ : ndarray of int
        Positions of the features the spend part uses (those with a value among buyers).
    n_iter_ : int
        Boosting iterations of the spend part.
    n_train_, n_positive_ : int
        Training rows and rows with positive value.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.normal(size=2000)})
    >>> y = np.where(rng.random(2000) < 1 / (1 + np.exp(-X["x"])), rng.gamma(2, 10, 2000), 0.0)
    >>> m = TwoPartValueRegressor(max_iter=50).fit(X, y)
    >>> bool(m.predict(pd.DataFrame({"x": [2.0]}))[0] > m.predict(pd.DataFrame({"x": [-2.0]}))[0])
    True
    """

    def __init__(
        self,
        features: Sequence[str] | None = None,
        max_iter: int = 300,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        random_state: int = 0,
    ) -> None:
        self.features = features
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.random_state = random_state

    def _hgb_kwargs(self) -> dict[str, Any]:
        return {
            "max_iter": self.max_iter,
            "learning_rate": self.learning_rate,
            "max_leaf_nodes": self.max_leaf_nodes,
            "random_state": self.random_state,
            "early_stopping": False,
        }

    def fit(self, X: pd.DataFrame, y: Any) -> TwoPartValueRegressor:
        """Fit both parts on a labelled window.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Customer features at the start of the window (arrays: columns ``x0, x1, ...``).
        y : array-like
            Value realised in the window (>= 0).

        Returns
        -------
        self
        """
        X = fit_frame(self, X)
        target = value_target(y, len(X))
        columns = list(self.features) if self.features is not None else [str(c) for c in X.columns]
        missing = [c for c in columns if c not in X.columns]
        if missing:
            raise DataValidationError("missing from X", column=missing[0])
        categories = {
            c: sorted(X[c].astype(str).unique().tolist())
            for c in columns
            if not pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])
        }
        Z = _design(X, columns, categories)
        cat_mask = np.array([c in categories for c in columns])
        positive = target > 0
        n_pos, n_zero = int(positive.sum()), int((~positive).sum())
        if n_pos == 0:
            raise DataValidationError("is 0 for every customer: nothing to learn", column="y")
        if n_pos < 10 or 0 < n_zero < 10:
            raise DataValidationError(
                f"needs at least 10 customers with value, and none or at least 10 without; got "
                f"{n_pos} and {n_zero} (n_samples={len(X)})",
                column="y",
            )
        kw = self._hgb_kwargs()
        # every training customer bought: P(V > 0) = 1, no classifier to fit
        self.classifier_: CalibratedClassifierCV | None = None
        if n_zero:
            clf = MissingSafeBoostingClassifier(categorical_features=cat_mask, **kw)
            folds = CustomerFolds(3, random_state=self.random_state)
            cal = CalibratedClassifierCV(clf, method="isotonic", cv=folds)
            self.classifier_ = cal.fit(Z, positive)
        # a column with no value among the buyers carries nothing for the spend part (and
        # HistGradientBoosting cannot bin it): the spend part leaves it out
        self.spend_columns_ = np.flatnonzero(~np.isnan(Z[positive]).all(axis=0))
        reg = HistGradientBoostingRegressor(
            loss="poisson", categorical_features=cat_mask[self.spend_columns_], **kw
        )
        self.regressor_ = reg.fit(Z[positive][:, self.spend_columns_], target[positive])
        self.features_ = columns
        self.categories_ = categories
        self.n_iter_ = int(self.regressor_.n_iter_)
        self.n_train_ = len(X)
        self.n_positive_ = int(positive.sum())
        return self

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values are native to the trees
        tags.target_tags.positive_only = True  # a value >= 0
        return tags

    def predict_proba_positive(self, X: pd.DataFrame) -> np.ndarray:
        """P(V > 0) for each row of ``X``."""
        check_is_fitted(self, "regressor_")
        return self._p_positive(self._matrix(X))

    def _p_positive(self, Z: np.ndarray) -> np.ndarray:
        if self.classifier_ is None:
            return np.ones(len(Z))
        return self.classifier_.predict_proba(Z)[:, 1]

    def predict_conditional(self, X: pd.DataFrame) -> np.ndarray:
        """E[V | V > 0] for each row of ``X``."""
        check_is_fitted(self, "regressor_")
        return self.regressor_.predict(self._matrix(X)[:, self.spend_columns_])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Expected value in the window: P(V > 0) x E[V | V > 0]."""
        check_is_fitted(self, "regressor_")
        Z = self._matrix(X)
        spend = self.regressor_.predict(Z[:, self.spend_columns_])
        return self._p_positive(Z) * spend

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "regressor_")
        X = predict_frame(self, X)
        missing = [c for c in self.features_ if c not in X.columns]
        if missing:
            raise DataValidationError(
                f"missing from X ({len(missing)} feature columns missing)", column=missing[0]
            )
        return _design(X, self.features_, self.categories_)
