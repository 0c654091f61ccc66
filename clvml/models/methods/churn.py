"""``churn``: the churn classifier shared by the methods that read its probability.

Not a CLV method (it predicts no value) but a shared part
(:data:`clvml.models.methods.registry.PARTS`): ``closed_form`` and ``hybrid`` (and through
them ``blend``) declare it in their ``needs``. Its output is the classifier's probability of
no purchase in the horizon (:func:`clvml.models.churn.make_churn_classifier`), trained on
the supervised design of the labelled customers.

**Level under ageing.** On a time split the classifier learns on an earlier window, whose
customers are younger than the ones it scores: on CDNOW (training window 1997-07 to
1997-12) it predicted a mean churn of 0.72 where 0.77 of the scored customers churned in
1998-H1 (expected calibration error 0.049), because trees do not extrapolate in age.
BG/NBD does model the ageing. So, when the stacked BG/NBD features are present, the fit
measures BG/NBD's own level error on the training window (the logit of the realised churn
rate minus the logit of BG/NBD's mean churn probability there, BG/NBD fitted at the training
cut-off), and moves the classifier's probabilities by one logit shift (``churn_shift_``,
chosen at fit time on the customers at the cut-off, so it does not depend on how the
customers are later split into chunks) such that their mean over the customers at the
cut-off equals BG/NBD's mean there corrected by that error. The ranking is unchanged; with
customer folds (same window) the shift is close to 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, logit

from clvml.models.churn import level_shift, make_churn_classifier, predict_churn, shift_probability
from clvml.models.methods.base import CLVMethod, FitData, MethodOutput, PredictData, SkipMethod

__all__ = ["ChurnClassifier"]


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
        return {"churn_classifier_": clf, "churn_shift_": _level(model, data, clf, churned)}

    def predict(self, model: Any, data: PredictData) -> MethodOutput:
        raw = predict_churn(model.churn_classifier_, data.X()).to_numpy()
        churn = shift_probability(raw, getattr(model, "churn_shift_", 0.0))
        return MethodOutput(clv=churn * float("nan"), churn_probability=churn)


def _level(model: Any, data: FitData, clf: Any, churned: np.ndarray) -> float:
    """The logit shift of the module notes (0 without the stacked BG/NBD features)."""
    assert data.X is not None
    if "btyd_p_purchase" not in data.X.columns:
        return 0.0
    X_now = model.supervised_frame(data.features)
    btyd_then = 1.0 - data.X["btyd_p_purchase"].to_numpy(dtype=float)
    btyd_now = 1.0 - X_now["btyd_p_purchase"].to_numpy(dtype=float)

    def mean_logit(p: np.ndarray) -> float:
        return float(logit(np.clip(p.mean(), 1e-9, 1 - 1e-9)))

    error = mean_logit(churned) - mean_logit(btyd_then)
    target = float(expit(mean_logit(btyd_now) + error))
    return level_shift(predict_churn(clf, X_now).to_numpy(), target)
