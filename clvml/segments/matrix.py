"""The value x churn-risk matrix: nine named cells, each with a recommended action."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from clvml.exceptions import DataValidationError
from clvml.segments.names import (
    DEFAULT_CELLS,
    DEFAULT_RISK_THRESHOLDS,
    DEFAULT_VALUE_CUTS,
    LEVELS,
    MatrixCell,
)
from clvml.segments.scheme import SegmentScheme

__all__ = [
    "DEFAULT_CELLS",
    "DEFAULT_RISK_THRESHOLDS",
    "DEFAULT_VALUE_CUTS",
    "LEVELS",
    "MatrixCell",
    "value_risk_matrix",
    "value_risk_table",
]

#: The columns :func:`value_risk_matrix` returns.
MATRIX_COLUMNS = ("value_level", "risk_level", "cell", "segment", "cell_name", "action")


def value_risk_matrix(
    predictions: pd.DataFrame,
    *,
    value_cuts: Sequence[float] = DEFAULT_VALUE_CUTS,
    risk_thresholds: Sequence[float] = DEFAULT_RISK_THRESHOLDS,
    cells: Mapping[tuple[str, str], MatrixCell] | None = None,
    value_col: str = "clv",
) -> pd.DataFrame:
    """Place every customer in the value x churn-risk matrix, ranked among ``predictions``.

    A what-if on a population (:meth:`clvml.segments.SegmentScheme.rank`); scored
    customers' segments are the fitted thresholds of
    :class:`~clvml.segments.SegmentScheme`, stored with the model.

    Value levels are relative (by rank of ``value_col``, ties broken by
    ``customer_id``): the first ``value_cuts[0]`` share of customers is
    ``"high"``, up to ``value_cuts[1]`` ``"medium"``, the rest ``"low"``. Risk
    levels are absolute: ``churn_probability`` (or ``1 - p_active``) below
    ``risk_thresholds[0]`` is ``"low"``, at or above ``risk_thresholds[1]``
    ``"high"``, otherwise ``"medium"``.

    Parameters
    ----------
    predictions : pandas.DataFrame
        Per-customer predictions: ``customer_id``, ``value_col`` and
        ``churn_probability`` or ``p_active``.
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
        (an identifier such as ``"high_value_high_risk"``), ``segment`` (the cell's
        name, also as ``cell_name``) and
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
    scheme = SegmentScheme(
        value_cuts=value_cuts, risk_thresholds=risk_thresholds, cells=cells, value_col=value_col
    )
    return scheme.rank(predictions)[list(MATRIX_COLUMNS)]


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
