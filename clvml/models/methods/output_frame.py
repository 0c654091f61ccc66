"""The prediction frame of :class:`clvml.models.clv_model.CLVModel`, from its methods' outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from clvml.models.engagement_value import ENGAGEMENT_VALUE_COLUMNS, engagement_value
from clvml.models.methods.base import OUTPUT_FIELDS, MethodOutput

__all__ = ["CHURN_SOURCES", "assemble_frame"]

#: Sources of the frame's ``churn_probability`` column, first fitted first: the churn
#: classifier when fitted, else BG/NBD.
CHURN_SOURCES: tuple[str, ...] = ("churn", "btyd")
#: Output columns before the per-method ``clv_<method>`` columns -> MethodOutput fields.
_CHAMPION_COLUMNS = {
    ("expected_avg_spend" if f == "expected_spend" else f): f for f in OUTPUT_FIELDS
}


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

    A field the champion does not output (NaN record) is BG/NBD + Gamma-Gamma's;
    ``churn_probability`` is the first of :data:`CHURN_SOURCES` that was fitted;
    ``methods`` are the fitted methods in registry order.
    """
    champ, base = outputs[champion], outputs["btyd"]
    cols: dict[str, Any] = {}
    for col, field in _CHAMPION_COLUMNS.items():
        cols[col] = getattr(champ if champ.has(field) else base, field)
    source = next(s for s in CHURN_SOURCES if s in outputs)
    cols["churn_probability"] = outputs[source].churn_probability
    if all(c in features.columns for c in ENGAGEMENT_VALUE_COLUMNS):
        cols["engagement_value"] = engagement_value(
            features,
            horizon_weeks,
            cols["p_alive"],
            value_per_point=value_per_point,
            annual_discount_rate=annual_discount_rate,
        ).to_numpy()
    else:
        cols["engagement_value"] = np.full(len(features), np.nan)
    out = pd.DataFrame(cols, index=pd.Index(features.index.astype(str), name="customer_id"))
    for m in methods:
        out[f"clv_{m}"] = outputs[m].clv
    return out
