"""The names of the segments: tier labels, matrix levels and cells, and their default cuts.

This is the one place where a segment gets its name and recommended action. The
rules that place customers (fitted thresholds in :class:`clvml.segments.SegmentScheme`,
or ranks within a population in :func:`clvml.segments.value_tiers` and
:func:`clvml.segments.value_risk_matrix`) produce integer codes; :func:`tier_series`
and :func:`matrix_frame` turn codes into the labelled columns every caller shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError

__all__ = [
    "DEFAULT_CELLS",
    "DEFAULT_RISK_THRESHOLDS",
    "DEFAULT_TIER_CUTS",
    "DEFAULT_TIER_LABELS",
    "DEFAULT_VALUE_CUTS",
    "LEVELS",
    "MatrixCell",
    "cell_table",
    "matrix_frame",
    "risk_codes",
    "tier_series",
]

#: Cumulative shares of customers closing each tier but the last.
DEFAULT_TIER_CUTS: tuple[float, ...] = (0.01, 0.10, 0.50)
#: Tier names, best first; one more than the cut points.
DEFAULT_TIER_LABELS: tuple[str, ...] = ("top 1%", "top 10%", "next 40%", "rest")
#: Levels of both axes, from high to low.
LEVELS: tuple[str, str, str] = ("high", "medium", "low")
#: Value axis: the top 20% of customers by CLV are high value, the next 30% medium.
DEFAULT_VALUE_CUTS: tuple[float, float] = (0.20, 0.50)
#: Risk axis: churn probability below 0.3 is low risk, from 0.6 on high risk.
DEFAULT_RISK_THRESHOLDS: tuple[float, float] = (0.30, 0.60)


@dataclass(frozen=True)
class MatrixCell:
    """A cell of the value x risk matrix: a short name and the recommended action."""

    name: str
    action: str


#: Default cell names and actions, keyed by (value level, risk level).
DEFAULT_CELLS: dict[tuple[str, str], MatrixCell] = {
    ("high", "high"): MatrixCell(
        "Save now",
        "Retention outreach by the social care team: personal contact, resolve open issues, "
        "tailored offer",
    ),
    ("high", "medium"): MatrixCell(
        "Watch closely",
        "Proactive check-in by the care team; monitor engagement and sentiment",
    ),
    ("high", "low"): MatrixCell(
        "Champions", "Loyalty and referral programme: early access, referral rewards, reviews"
    ),
    ("medium", "high"): MatrixCell(
        "Win back", "Targeted win-back campaign with a moderate incentive"
    ),
    ("medium", "medium"): MatrixCell(
        "Nurture", "Personalised recommendations and cross-sell in regular campaigns"
    ),
    ("medium", "low"): MatrixCell("Grow", "Upsell and cross-sell; invite to the loyalty programme"),
    ("low", "high"): MatrixCell(
        "Let go gently", "Low-cost automation only: automated win-back email, no paid incentive"
    ),
    ("low", "medium"): MatrixCell(
        "Automate", "Low-cost automated nurture: email and app notifications"
    ),
    ("low", "low"): MatrixCell(
        "Develop cheaply", "Low-cost automation: onboarding and self-help content, test upsell"
    ),
}

#: The nine (value, risk) keys in matrix order: high value / high risk first.
MATRIX_KEYS: tuple[tuple[str, str], ...] = tuple((a, b) for a in LEVELS for b in LEVELS)


def cell_table(
    cells: Mapping[tuple[str, str], MatrixCell] | None,
) -> dict[tuple[str, str], MatrixCell]:
    """:data:`DEFAULT_CELLS` with ``cells`` replacing some or all of them (keys checked)."""
    table = dict(DEFAULT_CELLS)
    if cells is not None:
        unknown = [k for k in cells if k not in DEFAULT_CELLS]
        if unknown:
            raise DataValidationError(
                f"unknown matrix cells {unknown!r}: keys are (value, risk) with levels {LEVELS}"
            )
        table.update(cells)
    return table


def check_risk_thresholds(thresholds: Sequence[float]) -> np.ndarray:
    """Two increasing churn probabilities in (0, 1], as an array."""
    t = np.asarray(thresholds, dtype=float)
    if t.shape != (2,) or not (0 < t[0] < t[1] <= 1):
        raise DataValidationError(
            f"risk_thresholds must be two increasing probabilities in (0, 1], got "
            f"{list(thresholds)!r}"
        )
    return t


def risk_codes(p: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Risk level codes: 0 = high (``p >= t[1]``), 1 = medium, 2 = low (``p < t[0]``)."""
    t = check_risk_thresholds(thresholds)
    return 2 - np.searchsorted(t, p, side="right")


def check_labels(cuts: Sequence[float], labels: Sequence[str]) -> list[str]:
    """``labels`` as a list, checked to be ``len(cuts) + 1`` distinct names."""
    out = [str(x) for x in labels]
    if len(out) != len(cuts) + 1 or len(set(out)) != len(out):
        raise DataValidationError(
            f"need {len(cuts) + 1} distinct labels for {len(cuts)} cut points, got {list(labels)!r}"
        )
    return out


def tier_series(codes: np.ndarray, index: pd.Index, labels: Sequence[str]) -> pd.Series:
    """The ``value_tier`` column from tier codes (0 = best): an ordered categorical."""
    tiers = pd.Categorical.from_codes(codes, categories=list(labels), ordered=True)
    return pd.Series(tiers, index=index, name="value_tier")


def matrix_frame(
    value_code: np.ndarray,
    risk_code: np.ndarray,
    index: pd.Index,
    cells: Mapping[tuple[str, str], MatrixCell] | None = None,
) -> pd.DataFrame:
    """The matrix columns from value and risk level codes (0 = high, 1 = medium, 2 = low).

    Returns ``value_level``, ``risk_level`` (ordered categoricals high > medium > low),
    ``cell`` (e.g. ``"high_value_high_risk"``), ``segment`` and its synonym
    ``cell_name`` (the cell's name), and ``action``; the last four are categoricals
    whose categories run in matrix order.
    """
    table = cell_table(cells)
    flat = np.asarray(value_code) * 3 + np.asarray(risk_code)

    def categorical(per_cell: list[str]) -> pd.Categorical:
        # categories in matrix order (best cell first), built from codes: no per-row strings
        categories = list(dict.fromkeys(per_cell))
        code_of_cell = np.array([categories.index(x) for x in per_cell])
        return pd.Categorical.from_codes(code_of_cell[flat], categories=categories)

    names = categorical([table[k].name for k in MATRIX_KEYS])
    levels = list(LEVELS)
    return pd.DataFrame(
        {
            "value_level": pd.Categorical.from_codes(value_code, categories=levels, ordered=True),
            "risk_level": pd.Categorical.from_codes(risk_code, categories=levels, ordered=True),
            "cell": categorical([f"{a}_value_{b}_risk" for a, b in MATRIX_KEYS]),
            "segment": names,
            "cell_name": names,
            "action": categorical([table[k].action for k in MATRIX_KEYS]),
        },
        index=index,
    )
