"""The label-free BTYD baselines beside ``btyd``: Pareto/NBD, and spend from all purchases.

* ``pareto_nbd``: Pareto/NBD (:class:`~clvml.models.btyd.ParetoNBD`) + Gamma-Gamma;
* ``btyd_all_spend``: BG/NBD + the Gamma-Gamma fitted on *all* purchases, the first
  purchase's spend included (:mod:`clvml.models.btyd.gamma_gamma_all`), so a one-time
  buyer is not predicted the population mean;
* ``pareto_nbd_all_spend``: Pareto/NBD + the Gamma-Gamma on all purchases.

All three are unsupervised (they read only the history before the cut-off) and share the
fitted models: the Pareto/NBD (``pareto_nbd_``) and the all-purchases Gamma-Gamma
(``gamma_gamma_all_``) are fitted once per ``fit`` by the first method that needs them;
BG/NBD and the standard Gamma-Gamma are the orchestrator's (``bgnbd_``,
``gamma_gamma_``). The Pareto/NBD rows give P(alive), expected purchases and the
probability of no purchase in the horizon, P(Y(t) = 0 | x, t_x, T), in closed form
(:mod:`clvml.models.btyd.pareto_nbd_conditional`), as the BG/NBD rows do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clvml.exceptions import ClvmlError
from clvml.models.hybrid import bgnbd_probability_purchase_if_alive
from clvml.models.methods._btyd import btyd_clv, btyd_output, btyd_parts
from clvml.models.methods.base import CLVMethod, FitData, MethodOutput, PredictData, SkipMethod
from clvml.models.spend import all_purchases_spend_frame

__all__ = ["BTYDAllSpend", "ParetoNBDAllSpend", "ParetoNBDGammaGamma"]


def _pareto_nbd(model: Any, features: pd.DataFrame) -> dict[str, Any]:
    """``pareto_nbd_`` of this fit (fitted now unless a sibling method already did)."""
    fitted = getattr(model, "pareto_nbd_", None)
    if fitted is not None:
        return {"pareto_nbd_": fitted}
    from clvml.models.btyd import ParetoNBD

    try:
        pn = ParetoNBD(penalizer=model.penalizer).fit(features[["frequency", "recency", "T"]])
    except (ClvmlError, ValueError) as exc:
        raise SkipMethod(f"Pareto/NBD failed to fit: {exc}") from exc
    return {"pareto_nbd_": pn}


def _spend_all(model: Any, features: pd.DataFrame) -> dict[str, Any]:
    """``gamma_gamma_all_`` of this fit (fitted now unless a sibling method already did)."""
    fitted = getattr(model, "gamma_gamma_all_", None)
    if fitted is not None:
        return {"gamma_gamma_all_": fitted}
    from clvml.models.btyd.gamma_gamma_all import GammaGammaAllPurchases

    frame = all_purchases_spend_frame(features[["n_purchases", "mean_spend"]])
    try:
        gg = GammaGammaAllPurchases(penalizer=model.penalizer).fit(frame)
    except (ClvmlError, ValueError) as exc:
        raise SkipMethod(f"Gamma-Gamma on all purchases failed to fit: {exc}") from exc
    return {"gamma_gamma_all_": gg}


def _pareto_output(
    model: Any, data: PredictData, spend_model: Any, frame: pd.DataFrame
) -> MethodOutput:
    h, pn = float(model.horizon_weeks), model.pareto_nbd_
    parts = btyd_parts(h, pn, spend_model, frame)
    clv = btyd_clv(model, pn, spend_model, frame, data.interval)
    nan = np.full(len(frame), np.nan)
    interval = data.interval is not None
    no_purchase = pn.conditional_probability_of_purchases(
        frame[["frequency", "recency", "T"]], 0, h
    )
    return MethodOutput(
        clv=clv["clv"].to_numpy(),
        clv_lower=clv["clv_lower"].to_numpy() if interval else nan,
        clv_upper=clv["clv_upper"].to_numpy() if interval else nan,
        p_alive=parts["p_alive"],
        churn_probability=np.clip(np.asarray(no_purchase, dtype=float), 0.0, 1.0),
        expected_purchases=parts["purchases"],
        expected_spend=parts["spend"],
    )


class ParetoNBDGammaGamma(CLVMethod):
    """Pareto/NBD + Gamma-Gamma CLV and the Pareto/NBD P(alive)."""

    name = "pareto_nbd"
    fallback_rank = 6

    def fit(self, model: Any, data: FitData) -> dict[str, Any]:
        return _pareto_nbd(model, data.features)

    def predict(self, model: Any, data: PredictData) -> MethodOutput:
        return _pareto_output(model, data, model.gamma_gamma_, data.features)


class BTYDAllSpend(CLVMethod):
    """BG/NBD + Gamma-Gamma on all purchases (the first purchase's spend counted)."""

    name = "btyd_all_spend"
    fallback_rank = 6

    def fit(self, model: Any, data: FitData) -> dict[str, Any]:
        return _spend_all(model, data.features)

    def predict(self, model: Any, data: PredictData) -> MethodOutput:
        features, h = data.features, float(model.horizon_weeks)
        bg, gg = model.bgnbd_, model.gamma_gamma_all_
        frame = all_purchases_spend_frame(features)
        parts = btyd_parts(h, bg, gg, frame)
        clv = btyd_clv(model, bg, gg, frame, data.interval)
        if_alive = bgnbd_probability_purchase_if_alive(
            bg.params_["r"],
            bg.params_["alpha"],
            features["frequency"].to_numpy(dtype=float),
            features["T"].to_numpy(dtype=float),
            h,
        )
        return btyd_output(clv, parts, if_alive, data.interval is not None)


class ParetoNBDAllSpend(CLVMethod):
    """Pareto/NBD + Gamma-Gamma on all purchases."""

    name = "pareto_nbd_all_spend"
    fallback_rank = 6

    def fit(self, model: Any, data: FitData) -> dict[str, Any]:
        return {**_pareto_nbd(model, data.features), **_spend_all(model, data.features)}

    def predict(self, model: Any, data: PredictData) -> MethodOutput:
        frame = all_purchases_spend_frame(data.features)
        return _pareto_output(model, data, model.gamma_gamma_all_, frame)
