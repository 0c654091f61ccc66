"""Gradient-boosted churn classifier with calibrated probabilities.

:func:`make_churn_classifier` returns a plain scikit-learn
:class:`~sklearn.pipeline.Pipeline` (composition, no custom estimator class):

1. ``features``: a :class:`~sklearn.compose.ColumnTransformer` that selects the
   numeric feature columns of the customer frame (see
   :func:`clvml.features.dataset.customer_features`) and the categorical ones
   (string columns such as ``acquisition_channel``), casting the latter to the
   pandas ``category`` dtype; output is a pandas frame.
2. ``classifier``: :class:`~sklearn.calibration.CalibratedClassifierCV` around
   a :class:`~sklearn.ensemble.HistGradientBoostingClassifier`, which handles
   the category columns natively (``categorical_features="from_dtype"``: one
   split may send any subset of channels left; unseen channels are treated as
   missing) and missing values natively (customers without engagement events).

**Class imbalance** is handled with ``class_weight="balanced"`` in the
boosting model: each class gets total weight ``n / 2``, so the minority class
(churners in a young customer base, or stayers in an old one) shapes the
splits as much as the majority. Balanced weights move the predicted
probabilities towards 0.5, i.e. away from the real base rate; the calibration
step fixes this. ``CalibratedClassifierCV`` fits the weighted booster on
``cv - 1`` folds (shuffled, :mod:`clvml.models.cv_folds`) and an unweighted
calibration map (isotonic regression or Platt's sigmoid) on the held-out fold, and
averages the ``cv`` calibrated models, so ``predict_proba`` estimates the churn
probability at the observed base rate. Sample weights would do the same job; the
class weight keeps the pipeline self-contained (``fit(X, y)`` with nothing else to pass).

The output of interest is ``pipeline.predict_proba(X)[:, 1]``, the probability
that a customer churns (see :mod:`clvml.models.churn_labels` for the label)
within the horizon the model was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from clvml.exceptions import DataValidationError
from clvml.models._boosting import MissingSafeBoostingClassifier
from clvml.models.cv_folds import CustomerFolds

__all__ = [
    "DEFAULT_HGB_PARAMS",
    "FeatureSelector",
    "OffsetStack",
    "fit_offset_stack",
    "level_shift",
    "make_churn_classifier",
    "predict_churn",
    "predict_offset_stack",
    "shift_probability",
]

#: Boosting settings used unless overridden: shallow trees, slow learning and
#: early stopping on a seeded 10% validation split guard small frames from overfitting.
DEFAULT_HGB_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "max_iter": 300,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "early_stopping": True,
    "validation_fraction": 0.1,
    "n_iter_no_change": 20,
}


@dataclass(frozen=True)
class FeatureSelector:
    """Column selector of a customer frame: the numeric or the categorical features.

    Used as the ``columns`` of a ``ColumnTransformer`` branch. With
    ``features=None`` every column qualifies; otherwise only the listed ones,
    which must all be present (a missing column raises, naming it).

    Parameters
    ----------
    features : tuple of str, optional
        Columns the model may use.
    kind : {"numeric", "categorical"}
        Numeric (number and boolean dtypes) or categorical (string, object,
        category dtypes) columns.
    """

    features: tuple[str, ...] | None
    kind: Literal["numeric", "categorical"]

    def __call__(self, X: pd.DataFrame) -> list[str]:
        if self.features is not None:
            missing = [c for c in self.features if c not in X.columns]
            if missing:
                raise DataValidationError(
                    f"the customer frame lacks the feature columns {missing}",
                    column=missing[0],
                    n_rows=len(X),
                )
            X = X[list(self.features)]
        cols = []
        for name, dtype in X.dtypes.items():
            numeric = pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
            if numeric == (self.kind == "numeric"):
                cols.append(str(name))
        return cols


def _as_category(X: pd.DataFrame) -> pd.DataFrame:
    """Cast to the pandas category dtype (values, not codes, are what the booster encodes)."""
    return X.astype("string").astype("category")


def make_churn_classifier(
    features: Sequence[str] | None = None,
    *,
    calibration: Literal["isotonic", "sigmoid"] | None = "isotonic",
    cv: int = 3,
    class_weight: Literal["balanced"] | dict[Any, float] | None = "balanced",
    random_state: int = 0,
    **hgb_params: Any,
) -> Pipeline:
    """Build the churn classifier pipeline (unfitted).

    Parameters
    ----------
    features : sequence of str, optional
        Feature columns of the customer frame to use; default all (numeric
        columns and the string columns such as ``acquisition_channel``). Pass
        the columns of :func:`clvml.features.dataset.feature_groups` groups for
        an ablation.
    calibration : {"isotonic", "sigmoid"} or None, default "isotonic"
        Calibration map fitted by ``CalibratedClassifierCV``. Isotonic is
        non-parametric and needs a few hundred customers per fold; sigmoid
        (Platt) suits small frames. ``None`` returns the bare boosting model,
        whose probabilities are distorted by ``class_weight``: use it only to
        show what calibration fixes.
    cv : int, default 3
        Folds of ``CalibratedClassifierCV``: stratified, in a seeded random order and
        grouped by customer when a customer has several rows
        (:class:`clvml.models.cv_folds.CustomerFolds`), so the calibration does not
        depend on the row order; the prediction averages the ``cv`` calibrated models.
    class_weight : "balanced", dict or None, default "balanced"
        Passed to the booster (see the module notes on imbalance).
    random_state : int, default 0
        Seed of the booster (early-stopping split); the pipeline is deterministic.
    **hgb_params
        Further ``HistGradientBoostingClassifier`` parameters, overriding
        :data:`DEFAULT_HGB_PARAMS`.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``features`` and ``classifier``; ``predict_proba(X)[:, 1]`` is
        P(churn).

    Examples
    --------
    >>> import pandas as pd
    >>> from clvml.data.synthetic import generate_social_commerce
    >>> from clvml.models.churn_labels import time_split_training_frames
    >>> world = generate_social_commerce(2000, random_state=3)
    >>> X, y, X_new, y_new = time_split_training_frames(
    ...     world.transactions, world.engagement, world.customers,
    ...     cutoff=world.calibration_end - pd.Timedelta(days=1), horizon_weeks=26)
    >>> model = make_churn_classifier().fit(X, y)
    >>> p = model.predict_proba(X_new)[:, 1]
    >>> bool(((p >= 0) & (p <= 1)).all())
    True
    """
    if calibration not in ("isotonic", "sigmoid", None):
        raise ValueError(f"calibration must be 'isotonic', 'sigmoid' or None, got {calibration!r}")
    if cv < 2:
        raise ValueError(f"cv must be >= 2, got {cv}")
    cols = tuple(str(c) for c in features) if features is not None else None
    if cols is not None and not cols:
        raise ValueError("features is empty; pass None for all columns")
    select = ColumnTransformer(
        [
            ("numeric", "passthrough", FeatureSelector(cols, "numeric")),
            (
                "categorical",
                FunctionTransformer(_as_category, feature_names_out="one-to-one"),
                FeatureSelector(cols, "categorical"),
            ),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    params = {**DEFAULT_HGB_PARAMS, **hgb_params}
    booster = MissingSafeBoostingClassifier(
        categorical_features="from_dtype",
        class_weight=class_weight,
        random_state=random_state,
        **params,
    )
    classifier = (
        booster
        if calibration is None
        else CalibratedClassifierCV(
            booster,
            method=calibration,
            cv=CustomerFolds(cv, random_state=random_state),
            ensemble=True,
        )
    )
    return Pipeline([("features", select), ("classifier", classifier)])


def predict_churn(model: Pipeline, X: pd.DataFrame) -> pd.Series:
    """P(churn) of each customer of the frame ``X`` as a Series named ``churn_probability``.

    Parameters
    ----------
    model : Pipeline
        A fitted pipeline from :func:`make_churn_classifier` (or any fitted
        binary classifier whose positive class is 1 = churned).
    X : pandas.DataFrame
        Customer frame indexed by ``customer_id``.
    """
    classes = list(getattr(model, "classes_", [0, 1]))
    if len(classes) != 2 or 1 not in [int(c) for c in classes]:
        raise DataValidationError(
            f"the model was fitted on classes {classes}; expected churned = 0/1"
        )
    col = [int(c) for c in classes].index(1)
    p = np.asarray(model.predict_proba(X), dtype=float)[:, col]
    return pd.Series(p, index=X.index, name="churn_probability")


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
    return np.log(q) - np.log1p(-q)


def shift_probability(p: np.ndarray, shift: float) -> np.ndarray:
    """Probabilities ``p`` moved by ``shift`` on the logit scale (order kept; 0 and 1 stay)."""
    p = np.asarray(p, dtype=float)
    moved = 1.0 / (1.0 + np.exp(-(_logit(p) + shift)))
    return np.where((p <= 0) | (p >= 1), p, moved)


def level_shift(p: np.ndarray, target_mean: float) -> float:
    """The logit shift that moves the mean of the probabilities ``p`` to ``target_mean``.

    The mean of :func:`shift_probability` increases with the shift, so the root is found by
    bisection on the logit scale (a few dozen vectorised evaluations).

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([0.2, 0.5, 0.7])
    >>> s = level_shift(p, 0.6)
    >>> round(float(shift_probability(p, s).mean()), 6)
    0.6
    """
    p = np.asarray(p, dtype=float)
    free = (p > 0) & (p < 1)
    if not free.any() or not 0 < target_mean < 1:
        return 0.0
    lo, hi = -30.0, 30.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if shift_probability(p, mid).mean() < target_mean:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-10:
            break
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class OffsetStack:
    """A logistic second stage on the classifier's out-of-fold score and label-free logits.

    ``logit P(churn) = intercept + coef[0] * logit(booster) + coef[1:] . logit(offsets)``,
    applied to each calibration member's booster and averaged over the members (as
    ``CalibratedClassifierCV`` averages its calibrated members).

    Attributes
    ----------
    intercept : float
        Intercept of the logistic regression.
    coef : tuple of float
        Coefficient of the booster's logit, then of each offset's logit.
    """

    intercept: float
    coef: tuple[float, ...]


def _offset_logit(p: np.ndarray) -> np.ndarray:
    """Logit of a label-free probability, clipped to [1e-6, 1 - 1e-6] (no infinite offsets)."""
    q = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(q) - np.log1p(-q)


def _members(model: Pipeline) -> list[Any]:
    classifier = model.named_steps["classifier"]
    members = getattr(classifier, "calibrated_classifiers_", None)
    if not isinstance(classifier, CalibratedClassifierCV) or not members:
        raise ValueError("the offset stack needs a fitted make_churn_classifier with calibration")
    return [m.estimator for m in members]


def _positive(estimator: Any, Z: pd.DataFrame) -> np.ndarray:
    col = [int(c) for c in estimator.classes_].index(1)
    return np.asarray(estimator.predict_proba(Z), dtype=float)[:, col]


def fit_offset_stack(
    model: Pipeline, X: pd.DataFrame, y: np.ndarray, offsets: Sequence[np.ndarray]
) -> OffsetStack:
    """Fit the :class:`OffsetStack` of a fitted classifier on its own training rows.

    Each row's booster score is out of fold: it comes from the calibration member whose
    booster did not see the row (the folds of :class:`clvml.models.cv_folds.CustomerFolds`
    are recomputed with the pipeline's seed, so they are the ones ``fit`` used). The
    offsets are probabilities of churn from label-free models that age correctly by
    construction (a BTYD model's P(no purchase in the horizon) at each customer's own
    cut-off): trees do not extrapolate beyond the ages seen in training, the offsets do,
    and the logistic regression learns how much of each to trust.

    Parameters
    ----------
    model : Pipeline
        Fitted :func:`make_churn_classifier` pipeline (with calibration).
    X : pandas.DataFrame
        The rows it was fitted on, in the same order.
    y : ndarray
        Their 0/1 churn labels.
    offsets : sequence of ndarray
        Label-free probabilities of churn of the same rows.

    Returns
    -------
    OffsetStack
    """
    y = np.asarray(y, dtype=float)
    members = _members(model)
    classifier = model.named_steps["classifier"]
    Z = model.named_steps["features"].transform(X)
    folds = list(classifier.cv.split(Z, y))
    if len(folds) != len(members):
        raise ValueError(f"{len(folds)} folds for {len(members)} calibration members")
    score = np.zeros(len(X))
    for member, (_, test) in zip(members, folds, strict=True):
        score[test] = _logit(_positive(member, Z.iloc[test]))
    design = np.column_stack([score, *[_offset_logit(o) for o in offsets]])
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(design, y)
    return OffsetStack(float(lr.intercept_[0]), tuple(float(c) for c in lr.coef_[0]))


def predict_offset_stack(
    model: Pipeline, stack: OffsetStack, X: pd.DataFrame, offsets: Sequence[np.ndarray]
) -> np.ndarray:
    """P(churn) of the rows ``X`` under the :class:`OffsetStack` ``stack`` (see there)."""
    Z = model.named_steps["features"].transform(X)
    coef = np.asarray(stack.coef, dtype=float)
    fixed = stack.intercept + sum(
        (c * _offset_logit(o) for c, o in zip(coef[1:], offsets, strict=True)), np.zeros(len(X))
    )
    members = _members(model)
    p = np.zeros(len(X))
    for member in members:
        p += 1.0 / (1.0 + np.exp(-(fixed + coef[0] * _logit(_positive(member, Z)))))
    return p / len(members)
