"""``churn``: the churn classifier shared by the methods that read its probability.

Not a CLV method (it predicts no value) but a shared part
(:data:`clvml.models.methods.registry.PARTS`): ``closed_form`` and ``hybrid`` (and through
them ``blend``) declare it in their ``needs``. Its output is the classifier's probability of
no purchase in the horizon (:func:`clvml.models.churn.make_churn_classifier`), trained on
the supervised design of the labelled customers.
"""

from __future__ import annotations

from typing import Any

from clvml.models.churn import make_churn_classifier, predict_churn
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
        return {"churn_classifier_": clf.fit(data.X, churned)}

    def predict(self, model: Any, data: PredictData) -> MethodOutput:
        churn = predict_churn(model.churn_classifier_, data.X()).to_numpy()
        return MethodOutput(clv=churn * float("nan"), churn_probability=churn)
