r"""``closed_form``: the marketing formula with the churn classifier's retention.

:math:`m\,\bar v f \sum_{t=1}^{K} q^t`, :math:`q = r_i/(1+d)`, per customer
(:func:`clvml.models.closed_form.expected_lifetime`, the first period excluded as the
customer must be retained into it): :math:`\bar v` the customer's mean spend per purchase,
:math:`f` their purchases per period of observed tenure (``n_purchases / (T / period + 1)``,
the acquisition period included), :math:`K = H / \text{period}` periods of
``closed_form_period_weeks`` (a month by default) and the per-period retention from the
churn classifier, :math:`r_i = (1 - \hat P(\text{churn in } H))^{\text{period} / H}`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clvml.models.closed_form import expected_lifetime
from clvml.models.methods.base import CLVMethod, MethodOutput, PredictData

__all__ = ["ClosedForm", "closed_form_value"]


def closed_form_value(model: Any, features: pd.DataFrame, churn: np.ndarray) -> np.ndarray:
    """The closed-form CLV of each customer given their P(churn in the horizon)."""
    h = float(model.horizon_weeks)
    period = float(model.closed_form_period_weeks)
    k = max(1, round(h / period))
    retention = np.clip(1.0 - churn, 0.0, 1.0) ** (period / h)
    d = max((1.0 + model.annual_discount_rate) ** (period / 52.0) - 1.0, 0.0)
    # sum_{t=1}^{K} q^t = q * L_{d,K}: the customer must be retained into each period
    lifetime = retention / (1.0 + d) * expected_lifetime(retention, max_periods=k, discount_rate=d)
    tenure_periods = features["T"].to_numpy(dtype=float) / period + 1.0
    rate = features["n_purchases"].to_numpy(dtype=float) / tenure_periods
    value = np.maximum(features["mean_spend"].to_numpy(dtype=float), 0.0)
    return float(model.margin) * value * rate * lifetime


class ClosedForm(CLVMethod):
    """Mean spend x purchase rate x discounted expected lifetime from the classifier."""

    name = "closed_form"
    default = True
    supervised = True
    needs = ("churn",)
    fallback_rank = 7

    def predict(self, model: Any, data: PredictData) -> MethodOutput:
        churn = data.outputs["churn"].churn_probability
        return MethodOutput(
            clv=closed_form_value(model, data.features, churn), churn_probability=churn
        )
