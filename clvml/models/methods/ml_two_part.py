"""``ml_two_part``: P(value > 0) x E[value | value > 0], the ZILN-style alternative to ``ml``.

:class:`clvml.models.value_regressor.TwoPartValueRegressor` on the same features as ``ml``.
"""

from __future__ import annotations

from typing import Any

from clvml.models.engagement_value import mean_discount_factor
from clvml.models.methods.base import CLVMethod, FitData, MethodOutput, PredictData, SkipMethod
from clvml.models.value_regressor import TwoPartValueRegressor

__all__ = ["MLTwoPart"]


class MLTwoPart(CLVMethod):
    """Two-part gradient boosting: calibrated P(buys) times the Poisson spend of buyers."""

    name = "ml_two_part"
    supervised = True
    fallback_rank = 4

    def fit(self, model: Any, data: FitData) -> dict[str, Any]:
        assert data.X is not None and data.labels is not None
        revenue = data.labels["revenue"].to_numpy(dtype=float)
        try:
            regressor = TwoPartValueRegressor(
                features=list(data.X.columns),
                max_iter=model.max_iter,
                random_state=model.random_state,
            ).fit(data.X, revenue * float(model.margin))
        except ValueError as exc:  # DataValidationError, or a degenerate column
            raise SkipMethod(f"value regressor not fitted: {exc}") from exc
        return {"two_part_regressor_": regressor}

    def predict(self, model: Any, data: PredictData) -> MethodOutput:
        factor = mean_discount_factor(float(model.horizon_weeks), model.annual_discount_rate)
        return MethodOutput(clv=model.two_part_regressor_.predict(data.X()) * factor)
