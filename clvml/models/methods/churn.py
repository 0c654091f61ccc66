"""``churn``: the churn classifier shared by the methods that read its probability.

Not a CLV method (it predicts no value) but a shared part
(:data:`clvml.models.methods.registry.PARTS`): ``closed_form`` and ``hybrid`` (and through
them ``blend``) declare it in their ``needs``. Its output is the classifier's probability of
no purchase in the horizon (:func:`clvml.models.churn.make_churn_classifier`), trained on
the supervised design of the labelled customers.

**Stacked with label-free models that age (issue #14).** On a time split the classifier
learns on an earlier window whose customers are younger than the ones it scores, and trees
do not extrapolate in age: on CDNOW (training window 1997-07 to 1997-12) the one-time buyers,
40-52 weeks old when scored but 14-26 weeks old in training, churned 0.922 where it predicted
0.89. When the stacked BG/NBD features are present, the final probability is a logistic
second stage (:func:`clvml.models.churn.fit_offset_stack`, ``churn_stack_``) on the
logit of the classifier's out-of-fold booster score, the logit of Pareto/NBD's P(no purchase
in the horizon) and the logit of BG/NBD's, each BTYD model fitted at the customers' own
cut-off (training customers: the training cut-off; scored customers: the cut-off,
``churn_pareto_nbd_``). The BTYD models age correctly by construction; the regression
learns how much of each to trust on the training window.

**Level under ageing.** The stack is calibrated on the training window's churn rate. BG/NBD
models the ageing, so the fit measures BG/NBD's own level error on the training window (the
logit of the realised churn rate minus the logit of BG/NBD's mean churn probability there,
BG/NBD fitted at the training cut-off), and moves the probabilities by one logit shift
(``churn_shift_``, chosen at fit time on the customers at the cut-off, so it does not depend
on how the customers are later split into chunks) such that their mean over the customers
at the cut-off equals BG/NBD's mean there corrected by that error. The ranking is
unchanged; with customer folds (same window) the shift is close to 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from clvml.exceptions import ClvmlError
from clvml.models.churn import (
    fit_offset_stack,
    level_shift,
    make_churn_classifier,
    predict_churn,
    predict_offset_stack,
    shift_probability,
)
from clvml.models.methods.base import CLVMethod, FitData, MethodOutput, PredictData, SkipMethod

__all__ = ["ChurnClassifier"]

_RFM = ["frequency", "recency", "T"]


class ChurnClassifier(CLVMethod):
    """Calibrated gradient-boosted P(no purchase in the horizon)."""

    name = "churn"
    supervised = True

    def fit(self, model: Any, data: FitData) -> dict[str, Any]:
        assert data.X is not None and data.labels is not None
        churned = data.labels["churned"].to_numpy(dtype=float)
        if churned.min() == churned.max():
            raise SkipMethod("the churn labels have a single class")
        clf = make_churn_classifier(
            list(data.X.columns), random_state=model.random_state, max_iter=model.max_iter
        )
        clf.fit(data.X, churned)
        fitted: dict[str, Any] = {"churn_classifier_": clf, "churn_stack_": None}
        fitted.update(_stack(model, data, clf, churned))
        X_now = model.supervised_frame(data.features)
        raw = _raw(model, fitted, clf, X_now, data.features)
        fitted["churn_shift_"] = _level(model, data, X_now, raw, churned)
        return fitted

    def predict(self, model: Any, data: PredictData) -> MethodOutput:
        attrs = {k: getattr(model, k, None) for k in ("churn_stack_", "churn_pareto_nbd_")}
        raw = _raw(model, attrs, model.churn_classifier_, data.X(), data.features)
        churn = shift_probability(raw, getattr(model, "churn_shift_", 0.0))
        return MethodOutput(clv=churn * float("nan"), churn_probability=churn)


def _pnbd_churn(pn: Any, frame: pd.DataFrame, horizon: float) -> np.ndarray:
    q = pn.conditional_probability_of_purchases(frame[_RFM], 0, horizon)
    return np.clip(np.asarray(q, dtype=float), 0.0, 1.0)


def _fit_pnbd(model: Any, frame: pd.DataFrame) -> Any:
    from clvml.models.btyd import ParetoNBD

    return ParetoNBD(penalizer=model.penalizer).fit(frame[_RFM])


def _stack(model: Any, data: FitData, clf: Any, churned: np.ndarray) -> dict[str, Any]:
    """``churn_stack_`` and ``churn_pareto_nbd_`` (empty without the stacked BG/NBD features,
    or when a Pareto/NBD cannot be fitted: the calibrated classifier alone is used)."""
    assert data.X is not None and data.labelled is not None
    if "btyd_p_purchase" not in data.X.columns:
        return {}
    h = float(model.horizon_weeks)
    try:
        pn_then = _fit_pnbd(model, data.labelled)
        pn_now = _fit_pnbd(model, data.features)
    except (ClvmlError, ValueError):
        return {}
    offsets = [
        _pnbd_churn(pn_then, data.labelled, h),
        1.0 - data.X["btyd_p_purchase"].to_numpy(dtype=float),
    ]
    stack = fit_offset_stack(clf, data.X, churned, offsets)
    return {"churn_stack_": stack, "churn_pareto_nbd_": pn_now}


def _raw(
    model: Any, attrs: dict[str, Any], clf: Any, X: pd.DataFrame, features: pd.DataFrame
) -> np.ndarray:
    """P(churn) before the level shift: the stack when fitted, else the classifier's."""
    stack, pn = attrs.get("churn_stack_"), attrs.get("churn_pareto_nbd_")
    if stack is None or pn is None:
        return predict_churn(clf, X).to_numpy()
    offsets = [
        _pnbd_churn(pn, features, float(model.horizon_weeks)),
        1.0 - X["btyd_p_purchase"].to_numpy(dtype=float),
    ]
    return predict_offset_stack(clf, stack, X, offsets)


def _level(
    model: Any, data: FitData, X_now: pd.DataFrame, raw_now: np.ndarray, churned: np.ndarray
) -> float:
    """The logit shift of the module notes (0 without the stacked BG/NBD features)."""
    assert data.X is not None
    if "btyd_p_purchase" not in data.X.columns:
        return 0.0
    btyd_then = 1.0 - data.X["btyd_p_purchase"].to_numpy(dtype=float)
    btyd_now = 1.0 - X_now["btyd_p_purchase"].to_numpy(dtype=float)

    def mean_logit(p: np.ndarray) -> float:
        return float(logit(np.clip(p.mean(), 1e-9, 1 - 1e-9)))

    error = mean_logit(churned) - mean_logit(btyd_then)
    target = float(expit(mean_logit(btyd_now) + error))
    return level_shift(raw_now, target)
