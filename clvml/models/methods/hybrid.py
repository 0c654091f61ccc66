"""``hybrid``: BG/NBD purchases with the alive probability implied by the churn classifier.

BG/NBD's expected purchases with the alive probability implied by the churn classifier
(:mod:`clvml.models.hybrid`: a probability combination, exact BG/NBD when the classifier
agrees with it), times Gamma-Gamma spend.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clvml.models.hybrid import bgnbd_probability_purchase_if_alive, hybrid_probability_alive
from clvml.models.methods.base import CLVMethod, MethodOutput, PredictData

__all__ = ["Hybrid"]


class Hybrid(CLVMethod):
    """BG/NBD + Gamma-Gamma rescaled by the classifier's alive probability."""

    name = "hybrid"
    default = True
    supervised = True
    needs = ("btyd", "churn")
    fallback_rank = 1

    def predict(self, model: Any, data: PredictData) -> MethodOutput:
        btyd, churn = data.outputs["btyd"], data.outputs["churn"].churn_probability
        bg, features = model.bgnbd_, data.features
        if_alive = bgnbd_probability_purchase_if_alive(
            bg.params_["r"],
            bg.params_["alpha"],
            features["frequency"].to_numpy(dtype=float),
            features["T"].to_numpy(dtype=float),
            float(model.horizon_weeks),
        )
        p_hyb = hybrid_probability_alive(1.0 - churn, if_alive)
        p_alive = btyd.p_alive
        ratio = np.divide(p_hyb, p_alive, out=np.zeros_like(p_hyb), where=p_alive > 0)
        return MethodOutput(
            clv=btyd.clv * ratio,
            clv_lower=btyd.clv_lower * ratio,
            clv_upper=btyd.clv_upper * ratio,
            p_alive=p_hyb,
            churn_probability=churn,
            expected_purchases=btyd.expected_purchases * ratio,
            expected_spend=btyd.expected_spend,
        )
