"""The value x churn-risk matrix: nine named cells, each with a recommended action."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError
from clvml.segments._validation import rank_bins, rank_order, validate_predictions

__all__ = [
    "DEFAULT_CELLS",
    "DEFAULT_RISK_THRESHOLDS",
    "DEFAULT_VALUE_CUTS",
    "LEVELS",
    "MatrixCell",
    "value_risk_matrix",
    "value_risk_table",
]

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


def _risk_levels(p: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    t = np.asarray(thresholds, dtype=float)
    if t.shape != (2,) or not (0 < t[0] < t[1] <= 1):
        raise DataValidationError(
            f"risk_thresholds must be two increasing probabilities in (0, 1], got "
            f"{list(thresholds)!r}"
        )
    # 0 = high risk (p >= t[1]), 1 = medium, 2 = low (p < t[0])
    return 2 - np.searchsorted(t, p, side="right")


def value_risk_matrix(
    predictions: pd.DataFrame,
    *,
    value_cuts: Sequence[float] = DEFAULT_VALUE_CUTS,
    risk_thresholds: Sequence[float] = DEFAULT_RISK_THRESHOLDS,
    cells: Mapping[tuple[str, str], MatrixCell] | None = None,
    value_col: str = "clv",
) -> pd.DataFrame:
    """Place every customer in the value x churn-risk matrix.

    Value levels are relative (by rank of ``value_col``, ties broken by
    ``customer_id``): the first ``value_cuts[0]`` share of customers is
    ``"high"``, up to ``value_cuts[1]`` ``"medium"``, the rest ``"low"``. Risk
    levels are absolute: ``churn_probability`` (or ``1 - p_alive``) below
    ``risk_thresholds[0]`` is ``"low"``, at or above ``risk_thresholds[1]``
    ``"high"``, otherwise ``"medium"``.

    Parameters
    ----------
    predictions : pandas.DataFrame
        Per-customer predictions: ``customer_id``, ``value_col`` and
        ``churn_probability`` or ``p_alive``.
    value_cuts : (float, float), default (0.2, 0.5)
        Cumulative customer shares closing the high and medium value levels.
    risk_thresholds : (float, float), default (0.3, 0.6)
        Churn probabilities opening the medium and high risk levels.
    cells : mapping, optional
        Replacement :class:`MatrixCell` for some or all ``(value, risk)``
        keys; the others keep :data:`DEFAULT_CELLS`.
    value_col : str, default "clv"

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (input order): ``value_level``,
        ``risk_level`` (ordered categoricals high > medium > low), ``cell``
        (an identifier such as ``"high_value_high_risk"``), ``cell_name`` and
        ``action`` (categoricals whose categories run in matrix order, from
        high value / high risk to low value / low risk).

    Examples
    --------
    >>> import pandas as pd
    >>> preds = pd.DataFrame({"customer_id": ["a", "b", "c", "d"],
    ...                       "clv": [900.0, 300.0, 10.0, 5.0],
    ...                       "churn_probability": [0.8, 0.4, 0.1, 0.7]})
    >>> value_risk_matrix(preds, value_cuts=(0.25, 0.5))["cell_name"].tolist()
    ['Save now', 'Nurture', 'Develop cheaply', 'Let go gently']
    """
    df = validate_predictions(predictions, value_col=value_col, require_risk=True)
    ids = df["customer_id"].to_numpy(dtype=str)
    return matrix_from_rank(
        rank_order(ids, df[value_col].to_numpy()),
        df["churn_probability"].to_numpy(),
        pd.Index(ids, name="customer_id"),
        value_cuts=value_cuts,
        risk_thresholds=risk_thresholds,
        cells=cells,
    )


def matrix_from_rank(
    position: np.ndarray,
    churn_probability: np.ndarray,
    index: pd.Index,
    *,
    value_cuts: Sequence[float] = DEFAULT_VALUE_CUTS,
    risk_thresholds: Sequence[float] = DEFAULT_RISK_THRESHOLDS,
    cells: Mapping[tuple[str, str], MatrixCell] | None = None,
) -> pd.DataFrame:
    """The matrix from value rank positions (0 = best), for callers that already validated."""
    if len(value_cuts) != 2:
        raise DataValidationError(f"value_cuts must hold two shares, got {list(value_cuts)!r}")
    table = dict(DEFAULT_CELLS)
    if cells is not None:
        unknown = [k for k in cells if k not in DEFAULT_CELLS]
        if unknown:
            raise DataValidationError(
                f"unknown matrix cells {unknown!r}: keys are (value, risk) with levels {LEVELS}"
            )
        table.update(cells)
    v = rank_bins(position, value_cuts)
    r = _risk_levels(churn_probability, risk_thresholds)
    keys = [(a, b) for a in LEVELS for b in LEVELS]
    flat = v * 3 + r

    def categorical(per_cell: list[str]) -> pd.Categorical:
        # categories in matrix order (best cell first), built from codes: no per-row strings
        categories = list(dict.fromkeys(per_cell))
        code_of_cell = np.array([categories.index(x) for x in per_cell])
        return pd.Categorical.from_codes(code_of_cell[flat], categories=categories)

    return pd.DataFrame(
        {
            "value_level": pd.Categorical.from_codes(v, categories=list(LEVELS), ordered=True),
            "risk_level": pd.Categorical.from_codes(r, categories=list(LEVELS), ordered=True),
            "cell": categorical([f"{a}_value_{b}_risk" for a, b in keys]),
            "cell_name": categorical([table[k].name for k in keys]),
            "action": categorical([table[k].action for k in keys]),
        },
        index=index,
    )


def value_risk_table(matrix: pd.DataFrame, values: pd.Series | None = None) -> pd.DataFrame:
    """The 3 x 3 matrix as a table: customer counts (or summed ``values``) per cell.

    Parameters
    ----------
    matrix : pandas.DataFrame
        Output of :func:`value_risk_matrix`.
    values : pandas.Series, optional
        Per-customer amounts (e.g. CLV) indexed by ``customer_id`` to sum
        instead of counting customers.

    Returns
    -------
    pandas.DataFrame
        Rows: value level (high, medium, low); columns: risk level; every
        cell present (0 when empty).
    """
    for col in ("value_level", "risk_level"):
        if col not in matrix.columns:
            raise DataValidationError("expected the output of value_risk_matrix", column=col)
    if values is None:
        data = pd.Series(1, index=matrix.index)
    else:
        data = values.reindex(matrix.index)
        if data.isna().any():
            raise DataValidationError(
                "values missing for customers of the matrix",
                column=str(values.name),
                n_rows=int(data.isna().sum()),
            )
    out = data.groupby([matrix["value_level"], matrix["risk_level"]], observed=False).sum()
    table = out.unstack("risk_level").reindex(index=list(LEVELS), columns=list(LEVELS))
    table.index.name, table.columns.name = "value", "risk"
    return table.fillna(0)
