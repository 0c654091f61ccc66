"""``past_spend``: the baseline every model must beat, past revenue per week over the horizon.

Each customer's revenue up to the cut-off divided by their age in weeks (at least one),
times the horizon (and the margin and mean discount factor, as for ``ml``): it ranks
customers by their past spending rate. Unsupervised, nothing to fit. It is a baseline
(``baseline = True``): :func:`clvml.evaluation.comparison.compare_methods` reports it as the
``past spend`` reference row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clvml.models.engagement_value import mean_discount_factor
from clvml.models.methods.base import CLVMethod, MethodOutput, PredictData

__all__ = ["PastSpend"]


class PastSpend(CLVMethod):
    """Past revenue per week times the horizon."""

    name = "past_spend"
    baseline = True
    fallback_rank = 9

    def predict(self, model: Any, data: PredictData) -> MethodOutput:
        h = float(model.horizon_weeks)
        T = data.features["T"].to_numpy(dtype=float)
        rate = data.features["total_spend"].to_numpy(dtype=float) * h / np.maximum(T, 1.0)
        factor = mean_discount_factor(h, model.annual_discount_rate)
        return MethodOutput(clv=rate * float(model.margin) * factor)
