"""The prediction frame of :class:`clvml.models.clv_model.CLVModel`, from its methods' outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from clvml.models.engagement_value import ENGAGEMENT_VALUE_COLUMNS, engagement_value
from clvml.models.methods.base import MethodOutput

__all__ = ["ACTIVITY_COLUMNS", "BTYD_ALIVE_SOURCES", "CHURN_SOURCES", "assemble_frame"]

#: Sources of the frame's ``churn_probability`` column when the champion gives none, first
#: fitted first: the churn classifier when fitted, else BG/NBD.
CHURN_SOURCES: tuple[str, ...] = ("churn", "btyd")
#: Methods whose ``p_alive`` is a BTYD model's own P(alive at the cut-off); for any other
#: champion the frame's ``p_alive_btyd`` is BG/NBD's.
BTYD_ALIVE_SOURCES: frozenset[str] = frozenset(
    {"btyd", "btyd_covariates", "btyd_all_spend", "pareto_nbd", "pareto_nbd_all_spend"}
)
#: The activity columns of the frame, in order: the one notion shown to marketers, its
#: complement, and the raw BTYD P(alive) under its own name.
ACTIVITY_COLUMNS: tuple[str, ...] = ("p_active", "churn_probability", "p_alive_btyd")


def assemble_frame(
    features: pd.DataFrame,
    outputs: Mapping[str, MethodOutput],
    *,
    champion: str,
    methods: Sequence[str],
    horizon_weeks: float,
    value_per_point: float,
    annual_discount_rate: float,
) -> pd.DataFrame:
    """One row per customer: the champion's outputs, the engagement value, ``clv_<method>``.

    ``p_active`` is the probability of at least one purchase in the horizon, the
    complement of ``churn_probability`` (the churn label's event: no purchase in the
    horizon). Both come from the champion when it gives a churn probability (the BTYD
    methods: the closed form P(X(t) = 0 | history)), else from the first of
    :data:`CHURN_SOURCES` that was fitted. ``p_alive_btyd`` is the raw BTYD P(alive at
    the cut-off) (the champion's when it is a BTYD model, else BG/NBD's): BG/NBD gives
    1.0 to every one-time buyer by assumption, so it is kept under its own name and not
    shown as the activity. A field the champion does not output (NaN record) is BG/NBD
    + Gamma-Gamma's; ``methods`` are the fitted methods in registry order.
    """
    champ, base = outputs[champion], outputs["btyd"]

    def pick(field: str) -> np.ndarray:
        return getattr(champ if champ.has(field) else base, field)

    if champ.has("churn_probability"):
        churn = champ.churn_probability
    else:
        churn = outputs[next(s for s in CHURN_SOURCES if s in outputs)].churn_probability
    churn = np.clip(np.asarray(churn, dtype=float), 0.0, 1.0)
    raw_alive = (champ if champion in BTYD_ALIVE_SOURCES else base).p_alive
    cols: dict[str, Any] = {
        "clv": champ.clv,
        "clv_lower": pick("clv_lower"),
        "clv_upper": pick("clv_upper"),
        "p_active": 1.0 - churn,
        "churn_probability": churn,
        "p_alive_btyd": raw_alive,
        "expected_purchases": pick("expected_purchases"),
        "expected_avg_spend": pick("expected_spend"),
    }
    if all(c in features.columns for c in ENGAGEMENT_VALUE_COLUMNS):
        cols["engagement_value"] = engagement_value(
            features,
            horizon_weeks,
            pick("p_alive"),
            value_per_point=value_per_point,
            annual_discount_rate=annual_discount_rate,
        ).to_numpy()
    else:
        cols["engagement_value"] = np.full(len(features), np.nan)
    out = pd.DataFrame(cols, index=pd.Index(features.index.astype(str), name="customer_id"))
    for m in methods:
        out[f"clv_{m}"] = outputs[m].clv
    return out
