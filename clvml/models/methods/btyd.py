"""``btyd``: BG/NBD + Gamma-Gamma (:func:`clvml.models.btyd.customer_lifetime_value`).

The two models are fitted by the orchestrator on the customer frame at the cut-off (or
handed in, ``CLVModel.fit(btyd=...)``), as every method may read them (the stacked
features of the supervised methods, the hybrid); this method only predicts from them.
"""

from __future__ import annotations

from typing import Any

from clvml.models.hybrid import bgnbd_probability_purchase_if_alive
from clvml.models.methods._btyd import btyd_clv, btyd_output, btyd_parts
from clvml.models.methods.base import CLVMethod, MethodOutput, PredictData

__all__ = ["BTYD"]


class BTYD(CLVMethod):
    """BG/NBD + Gamma-Gamma CLV; P(alive) and P(no purchase in the horizon) of BG/NBD."""

    name = "btyd"
    default = True
    fallback_rank = 0

    def predict(self, model: Any, data: PredictData) -> MethodOutput:
        features, h = data.features, float(model.horizon_weeks)
        bg, gg = model.bgnbd_, model.gamma_gamma_
        parts = btyd_parts(h, bg, gg, features)
        clv = btyd_clv(model, bg, gg, features, data.interval)
        if_alive = bgnbd_probability_purchase_if_alive(
            bg.params_["r"],
            bg.params_["alpha"],
            features["frequency"].to_numpy(dtype=float),
            features["T"].to_numpy(dtype=float),
            h,
        )
        return btyd_output(clv, parts, if_alive, data.interval is not None)
