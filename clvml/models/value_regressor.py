"""A direct machine-learning model of future customer value (two-part, ZILN in spirit).

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

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import xlogy
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.utils.validation import check_is_fitted

from clvml.exceptions import DataValidationError

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
    classifier_ : CalibratedClassifierCV
        P(V > 0 | z).
    regressor_ : HistGradientBoostingRegressor
        E[V | V > 0, z] (Poisson deviance, log link).
    spend_columns_ : ndarray of int
        Positions of the features the spend part uses (those with a value among buyers).
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
        X : pandas.DataFrame
            Customer features at the start of the window.
        y : array-like
            Value realised in the window (>= 0).

        Returns
        -------
        self
        """
        if not isinstance(X, pd.DataFrame):
            raise DataValidationError(f"expected a pandas DataFrame, got {type(X).__name__}")
        target = np.asarray(y, dtype=float).ravel()
        if target.shape != (len(X),):
            raise DataValidationError(f"y has {target.size} values for {len(X)} rows of X")
        bad = ~np.isfinite(target) | (target < 0)
        if bad.any():
            raise DataValidationError(
                "is NaN, infinite or negative; expected a value >= 0",
                column="y",
                n_rows=int(bad.sum()),
                example=float(target[np.flatnonzero(bad)[0]]),
            )
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
        if positive.sum() < 10 or (~positive).sum() < 10:
            raise DataValidationError(
                f"needs at least 10 customers with and 10 without value; got {int(positive.sum())} "
                f"and {int((~positive).sum())}",
                column="y",
            )
        kw = self._hgb_kwargs()
        clf = HistGradientBoostingClassifier(categorical_features=cat_mask, **kw)
        self.classifier_ = CalibratedClassifierCV(clf, method="isotonic", cv=3).fit(Z, positive)
        # a column with no value among the buyers carries nothing for the spend part (and
        # HistGradientBoosting cannot bin it): the spend part leaves it out
        self.spend_columns_ = np.flatnonzero(~np.isnan(Z[positive]).all(axis=0))
        reg = HistGradientBoostingRegressor(
            loss="poisson", categorical_features=cat_mask[self.spend_columns_], **kw
        )
        self.regressor_ = reg.fit(Z[positive][:, self.spend_columns_], target[positive])
        self.features_ = columns
        self.categories_ = categories
        self.n_train_ = len(X)
        self.n_positive_ = int(positive.sum())
        return self

    def predict_proba_positive(self, X: pd.DataFrame) -> np.ndarray:
        """P(V > 0) for each row of ``X``."""
        check_is_fitted(self, "regressor_")
        return self.classifier_.predict_proba(self._matrix(X))[:, 1]

    def predict_conditional(self, X: pd.DataFrame) -> np.ndarray:
        """E[V | V > 0] for each row of ``X``."""
        check_is_fitted(self, "regressor_")
        return self.regressor_.predict(self._matrix(X)[:, self.spend_columns_])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Expected value in the window: P(V > 0) x E[V | V > 0]."""
        Z = self._matrix(X)
        spend = self.regressor_.predict(Z[:, self.spend_columns_])
        return self.classifier_.predict_proba(Z)[:, 1] * spend

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "regressor_")
        missing = [c for c in self.features_ if c not in X.columns]
        if missing:
            raise DataValidationError(
                f"missing from X ({len(missing)} feature columns missing)", column=missing[0]
            )
        return _design(X, self.features_, self.categories_)


def _all_nan_numeric(col: pd.Series) -> bool:
    if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        return False
    return not np.isfinite(pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)).any()


#: Monotone shape of the value in some features (+1 never decreasing, -1 never increasing):
#: more purchases, more spend and a higher BTYD forecast never lower a customer's value;
#: a longer time since the last purchase never raises it.
VALUE_MONOTONICITY: dict[str, int] = {
    "frequency": 1,
    "n_purchases": 1,
    "total_spend": 1,
    "recency": 1,
    "weeks_since_last_purchase": -1,
    "btyd_expected_purchases": 1,
    "btyd_p_alive": 1,
    "btyd_p_purchase": 1,
    "btyd_clv": 1,
}


class PoissonValueRegressor(RegressorMixin, BaseEstimator):
    """Gradient-boosted trees with the Poisson deviance on a non-negative value (zeros included).

    ``E[V | z] = exp(f(z))`` with ``f`` a sum of trees fitted to the Poisson deviance.
    The deviance is proper for any non-negative target (not only counts), its score
    equations with an intercept preserve the total of the training window, and one
    model ranks buyers and non-buyers together. String columns are categorical
    features (native categorical splits; unseen levels are missing values).

    Parameters
    ----------
    max_iter : int, default 600
        Boosting iterations.
    learning_rate : float, default 0.02
    max_leaf_nodes : int, default 7
    min_samples_leaf : int, default 100
        Shallow trees with large leaves and slow learning: heavy-tailed values make
        small leaves overfit.
    l2_regularization : float, default 1.0
    monotonic : mapping of str to int, optional
        Monotone constraints by column (+1, -1), default :data:`VALUE_MONOTONICITY`
        without an offset and none with one, since the correction of a baseline that
        already grows with those features need not (columns absent from ``X`` are
        ignored; pass ``{}`` for none). Shape constraints from domain knowledge
        regularise the trees where the heavy-tailed values are noisy.
    offset_column : str, optional
        A column of ``X`` holding a baseline prediction :math:`b(z) > 0` of the value
        (e.g. ``"btyd_clv"``); the trees then learn a multiplicative correction,
        :math:`E[V \\mid z] = b(z)\\,e^{f(z)}`, fitted as a Poisson model of
        :math:`V / b` with weights :math:`b` (the same deviance as a log-link offset).
        Where the training customers do not cover the customers scored (e.g. older
        customers than any in an earlier training window), the correction stays
        bounded while the baseline carries the extrapolation.
    cv : int, optional
        When given (>= 2), the number of boosting iterations is chosen by ``cv``-fold
        cross-validation *on the training rows passed to* ``fit``: for every
        candidate (multiples of ``max_iter / 24`` up to ``max_iter``), the mean Poisson
        deviance of the held-out inner folds (staged predictions of one fit per fold);
        the model is then refitted on all training rows with the best number
        (``n_iter_``). Nothing outside ``X`` and ``y`` is read, so with customer
        cross-fitting the evaluated fold never informs the choice. ``None`` (default)
        uses ``max_iter``.
    random_state : int, default 0

    Attributes
    ----------
    features_ : list of str
        Columns used: those of ``X`` with at least one finite value in ``fit``.
    categories_ : dict
        Levels of the string columns seen in ``fit``.
    regressor_ : HistGradientBoostingRegressor
    n_iter_ : int
        Boosting iterations of ``regressor_``.
    cv_deviance_ : pandas.Series or None
        Mean inner-fold Poisson deviance per candidate number of iterations (with ``cv``).
    """

    def __init__(
        self,
        max_iter: int = 600,
        learning_rate: float = 0.02,
        max_leaf_nodes: int = 7,
        min_samples_leaf: int = 100,
        l2_regularization: float = 1.0,
        monotonic: Mapping[str, int] | None = None,
        offset_column: str | None = None,
        cv: int | None = None,
        random_state: int = 0,
    ) -> None:
        self.monotonic = monotonic
        self.offset_column = offset_column
        self.cv = cv
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.features_ if c not in X.columns]
        if missing:
            raise DataValidationError("is missing from X", column=missing[0], n_rows=len(X))
        out = np.empty((len(X), len(self.features_)))
        for j, c in enumerate(self.features_):
            if c in self.categories_:
                codes = pd.Categorical(X[c].astype(str), categories=self.categories_[c]).codes
                out[:, j] = np.where(codes >= 0, codes, np.nan)
            else:
                out[:, j] = pd.to_numeric(X[c], errors="coerce").to_numpy(dtype=float)
        return out

    def fit(self, X: pd.DataFrame, y: Any) -> PoissonValueRegressor:
        """Fit on customer features ``X`` and the value ``y`` (>= 0) in the window."""
        if not isinstance(X, pd.DataFrame):
            raise DataValidationError(f"expected a pandas DataFrame, got {type(X).__name__}")
        target = np.asarray(y, dtype=float).ravel()
        bad = ~np.isfinite(target) | (target < 0)
        if target.shape != (len(X),) or bad.any():
            raise DataValidationError(
                "must hold one finite value >= 0 per row of X",
                column="y",
                n_rows=int(bad.sum()) if target.shape == (len(X),) else len(X),
            )
        if not (target > 0).any():
            raise DataValidationError("is 0 for every customer: nothing to learn", column="y")
        # a column without any value carries nothing (and the binning cannot cut it)
        self.features_ = [
            str(c) for c in X.columns if X[c].notna().any() and not _all_nan_numeric(X[c])
        ]
        self.categories_ = {
            c: sorted(X[c].astype(str).unique().tolist())
            for c in self.features_
            if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))
        }
        mask = np.array([c in self.categories_ for c in self.features_])
        default = {} if self.offset_column is not None else VALUE_MONOTONICITY
        shape = default if self.monotonic is None else self.monotonic
        base = self._offset(X)
        Z = self._matrix(X)
        # with an offset b: a Poisson model of V / b with weights b (same deviance)
        z_target = target if base is None else target / base
        weight = None if base is None else base

        monotone = np.array(
            [0 if c in self.categories_ else int(shape.get(c, 0)) for c in self.features_]
        )

        def regressor(n_iter: int, keep: np.ndarray | None = None) -> HistGradientBoostingRegressor:
            """The booster on the columns ``keep`` (default all)."""
            cols = np.ones(len(self.features_), dtype=bool) if keep is None else keep
            return HistGradientBoostingRegressor(
                loss="poisson",
                max_iter=n_iter,
                learning_rate=self.learning_rate,
                max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=self.min_samples_leaf,
                l2_regularization=self.l2_regularization,
                categorical_features=mask[cols] if mask[cols].any() else None,
                monotonic_cst=monotone[cols].tolist(),
                early_stopping=False,
                random_state=self.random_state,
            )

        n_iter = int(self.max_iter)
        self.cv_deviance_: pd.Series | None = None
        if self.cv is not None:
            self.cv_deviance_ = self._inner_cv(regressor, Z, z_target, weight)
            n_iter = int(self.cv_deviance_.idxmin())
        self.regressor_ = regressor(n_iter).fit(Z, z_target, sample_weight=weight)
        self.n_iter_ = n_iter
        return self

    def _inner_cv(
        self,
        regressor: Any,
        Z: np.ndarray,
        target: np.ndarray,
        weight: np.ndarray | None,
    ) -> pd.Series:
        """Mean held-out Poisson deviance per candidate number of iterations."""
        k = int(self.cv)  # type: ignore[arg-type]
        if k < 2 or k > len(Z):
            raise ValueError(f"cv must be between 2 and the number of rows, got {self.cv!r}")
        n_max = int(self.max_iter)
        step = max(1, round(n_max / 24))
        grid = np.unique(np.append(np.arange(step, n_max + 1, step), n_max))
        fold = np.random.default_rng(self.random_state).permutation(len(Z)) % k
        w = np.ones(len(Z)) if weight is None else weight
        dev = np.zeros(n_max)
        for j in range(k):
            test = fold == j
            # a column without any value in this inner training part is left out of it
            keep = ~np.isnan(Z[~test]).all(axis=0)
            model = regressor(n_max, keep).fit(
                Z[~test][:, keep],
                target[~test],
                sample_weight=None if weight is None else w[~test],
            )
            y, wt = target[test], w[test]
            for i, mu in enumerate(model.staged_predict(Z[test][:, keep])):
                # weighted Poisson deviance 2 w (y log(y / mu) - y + mu), mu > 0
                dev[i] += 2.0 * float(np.sum(wt * (xlogy(y, y) - xlogy(y, mu) - y + mu))) / k
        return pd.Series(dev[grid - 1], index=pd.Index(grid, name="n_iter"), name="deviance")

    def _offset(self, X: pd.DataFrame) -> np.ndarray | None:
        if self.offset_column is None:
            return None
        if self.offset_column not in X.columns:
            raise DataValidationError("is missing from X", column=self.offset_column)
        base = pd.to_numeric(X[self.offset_column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(base) | (base < 0)
        if bad.any():
            raise DataValidationError(
                "must be a finite baseline >= 0", column=self.offset_column, n_rows=int(bad.sum())
            )
        return np.maximum(base, 1e-9)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Expected value in the window."""
        check_is_fitted(self, "regressor_")
        pred = self.regressor_.predict(self._matrix(X))
        base = self._offset(X)
        return pred if base is None else base * pred
