r"""``blend``: the equal-weight geometric mean of ``ml`` and ``closed_form``, at ``ml``'s level.

.. math::

    \hat V^{\text{blend}}_i = k \sqrt{\hat V^{\text{ml}}_i \, \hat V^{\text{cf}}_i},
    \qquad k = \frac{\sum_{j \in L} \hat V^{\text{ml}}_j}
                     {\sum_{j \in L} \sqrt{\hat V^{\text{ml}}_j \hat V^{\text{cf}}_j}},

:math:`L` the customers of the frame at the cut-off passed to ``fit`` (their features only,
no label). Its ranking comes from both models (log-linear pooling of two multiplicative
forecasts that err differently: the trees on the stacked BTYD outputs, the formula on the
customer's own spend rate and the classifier's retention); its level from ``ml``, whose
total is calibrated (the closed form's is not: it ignores the decay of purchasing among the
retained). The weight 1/2 is fixed, not tuned. ``k`` is a single number fixed in ``fit``,
so a customer's prediction does not depend on who else is scored. Requested alone, it fits
the two methods it pools without reporting them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clvml.models.methods.base import CLVMethod, FitData, MethodOutput, PredictData, SkipMethod

__all__ = ["Blend"]


class Blend(CLVMethod):
    """Rescaled geometric mean of ``ml`` and ``closed_form``."""

    name = "blend"
    supervised = True
    needs = ("ml", "closed_form")
    fallback_rank = 3

    def fit(self, model: Any, data: FitData) -> dict[str, Any]:
        # the level of the blend: ml's total over the customers at the cut-off (their
        # features only; an earlier training window's customers are younger, so a
        # ratio fitted there would not carry over)
        ml, cf = data.predict("ml").clv, data.predict("closed_form").clv
        pooled = np.sqrt(ml * cf).sum()
        if not pooled > 0:
            raise SkipMethod("the closed form predicts no value for any customer")
        return {"blend_scale_": float(ml.sum() / pooled)}

    def predict(self, model: Any, data: PredictData) -> MethodOutput:
        ml, cf = data.outputs["ml"].clv, data.outputs["closed_form"].clv
        return MethodOutput(clv=model.blend_scale_ * np.sqrt(ml * cf))
