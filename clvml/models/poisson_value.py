"""Gradient-boosted trees with the Poisson deviance on a non-negative value (zeros included).

See :class:`PoissonValueRegressor`; imported by :mod:`clvml.models.value_regressor`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import xlogy
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

from clvml.exceptions import DataValidationError
from clvml.models._value_inputs import fit_frame, predict_frame, value_target

__all__ = ["VALUE_MONOTONICITY", "PoissonValueRegressor"]


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

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values are native to the trees
        tags.target_tags.positive_only = True  # a value >= 0
        return tags

    def fit(self, X: pd.DataFrame, y: Any) -> PoissonValueRegressor:
        """Fit on customer features ``X`` and the value ``y`` (>= 0) in the window.

        ``X`` is a customer frame or a 2-D array (columns ``x0, x1, ...``).
        """
        X = fit_frame(self, X)
        target = value_target(y, len(X))
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
        X = predict_frame(self, X)
        pred = self.regressor_.predict(self._matrix(X))
        base = self._offset(X)
        return pred if base is None else base * pred
