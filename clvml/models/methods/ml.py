"""``ml``: gradient-boosted trees with the Poisson deviance on the value in the window.

Fitted directly to the value in the window, zeros included
(:class:`clvml.models.value_regressor.PoissonValueRegressor`), with the BG/NBD outputs
(expected purchases, P(alive), P(purchase), expected spend, CLV) stacked as extra features;
they are computed from data before each frame's cut-off, so the stacking is leakage-free.
The log link keeps predictions positive and the Poisson score equations keep the predicted
total equal to the realised one on the training window. The number of boosting iterations
is chosen by an inner cross-validation on the labelled customers only (``ml_cv``). The
forecast, a total over the window, is multiplied by the mean continuous discount factor
(:func:`clvml.models.engagement_value.mean_discount_factor`).
"""

from __future__ import annotations

from typing import Any

from clvml.models.engagement_value import mean_discount_factor
from clvml.models.methods.base import CLVMethod, FitData, MethodOutput, PredictData
from clvml.models.poisson_value import PoissonValueRegressor

__all__ = ["ML"]


class ML(CLVMethod):
    """Poisson gradient boosting on the customer frame and the stacked BTYD outputs."""

    name = "ml"
    default = True
    supervised = True
    fallback_rank = 2

    def fit(self, model: Any, data: FitData) -> dict[str, Any]:
        assert data.X is not None and data.labels is not None and data.labelled is not None
        use = model.ml_offset
        if use == "auto":
            use = float(data.features["T"].max()) > float(data.labelled["T"].max()) + 1.0
        offset = bool(use and model.stack_btyd)
        revenue = data.labels["revenue"].to_numpy(dtype=float)
        regressor = PoissonValueRegressor(
            max_iter=2 * model.max_iter,
            offset_column="btyd_clv" if offset else None,
            cv=model.ml_cv,
            random_state=model.random_state,
        ).fit(data.X, revenue * float(model.margin))
        return {"value_regressor_": regressor, "ml_offset_": offset}

    def predict(self, model: Any, data: PredictData) -> MethodOutput:
        factor = mean_discount_factor(float(model.horizon_weeks), model.annual_discount_rate)
        return MethodOutput(clv=model.value_regressor_.predict(data.X()) * factor)
