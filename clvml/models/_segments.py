"""Value tiers and segments of the CLV model's output (to move to :mod:`clvml.segments`).

Thresholds are fixed at fit time from the fitted customers' predictions, so that scoring
in chunks gives the same tiers.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from clvml.segments.matrix import DEFAULT_CELLS, DEFAULT_RISK_THRESHOLDS, DEFAULT_VALUE_CUTS, LEVELS
from clvml.segments.tiers import DEFAULT_TIER_CUTS, DEFAULT_TIER_LABELS

__all__ = ["add_segments", "segment_thresholds"]


def segment_thresholds(clv: np.ndarray) -> dict[str, np.ndarray]:
    """``tier_thresholds_`` and ``value_level_thresholds_`` from the fitted customers' CLV."""
    ranked = np.sort(np.asarray(clv, dtype=float))[::-1]
    n = ranked.size

    def cut(shares: tuple[float, ...]) -> np.ndarray:
        return np.array([ranked[min(n - 1, max(0, math.ceil(c * n) - 1))] for c in shares])

    return {
        "tier_thresholds_": cut(tuple(DEFAULT_TIER_CUTS)),
        "value_level_thresholds_": cut(tuple(DEFAULT_VALUE_CUTS)),
    }


def add_segments(
    out: pd.DataFrame, tier_thresholds: np.ndarray, value_level_thresholds: np.ndarray
) -> pd.DataFrame:
    """Insert ``value_tier`` and ``segment`` after ``engagement_value``."""
    clv = out["clv"].to_numpy()
    # tier j holds customers whose CLV reaches threshold j but not threshold j-1
    tier_code = len(DEFAULT_TIER_CUTS) - np.searchsorted(tier_thresholds[::-1], clv, side="right")
    tiers = pd.Categorical.from_codes(tier_code, categories=list(DEFAULT_TIER_LABELS), ordered=True)
    at = list(out.columns).index("engagement_value") + 1
    out.insert(at, "value_tier", tiers)
    value_code = len(DEFAULT_VALUE_CUTS) - np.searchsorted(
        value_level_thresholds[::-1], clv, side="right"
    )
    t = np.asarray(DEFAULT_RISK_THRESHOLDS, dtype=float)
    risk_code = 2 - np.searchsorted(t, out["churn_probability"].to_numpy(), side="right")
    names = [DEFAULT_CELLS[(a, b)].name for a in LEVELS for b in LEVELS]
    categories = list(dict.fromkeys(names))
    code_of = np.array([categories.index(nm) for nm in names])
    out.insert(
        at + 1,
        "segment",
        pd.Categorical.from_codes(code_of[value_code * 3 + risk_code], categories=categories),
    )
    return out
