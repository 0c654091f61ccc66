"""Checks for the per-customer prediction frames the segment tools work on."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError

__all__ = ["validate_predictions"]


def _numeric(df: pd.DataFrame, column: str) -> np.ndarray:
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataValidationError(
            "must be finite numbers",
            column=column,
            n_rows=int(bad.sum()),
            example=raw[bad].iloc[0],
        )
    return values


def validate_predictions(
    predictions: pd.DataFrame,
    *,
    value_col: str = "clv",
    require_risk: bool = True,
    numeric: Sequence[str] = (),
) -> pd.DataFrame:
    """Check a frame of per-customer predictions and return a clean copy.

    Parameters
    ----------
    predictions : pandas.DataFrame
        One row per customer: ``customer_id`` (a column, or the index when it
        is named ``customer_id``), the predicted value ``value_col`` and, for
        the risk tools, ``churn_probability``, ``p_active`` or (files written before
        ``p_active``) ``p_alive``.
    value_col : str, default "clv"
        Column of predicted customer value (finite).
    require_risk : bool, default True
        Require a churn risk: ``churn_probability`` in [0, 1], or ``p_active`` (or
        ``p_alive``) in [0, 1] from which ``churn_probability = 1 - p_active`` is derived.
    numeric : sequence of str
        Further columns that must be present and finite.

    Returns
    -------
    pandas.DataFrame
        A copy with a string ``customer_id`` column, a float ``value_col`` and,
        when available, float ``churn_probability`` and ``p_active`` (its
        complement, the probability of at least one purchase in the horizon); index
        reset.

    Raises
    ------
    DataValidationError
        Not a frame, empty, missing columns, missing or duplicated customer
        ids, non-finite values, probabilities outside [0, 1].
    """
    if not isinstance(predictions, pd.DataFrame):
        raise DataValidationError(
            f"predictions: expected a pandas DataFrame, got {type(predictions).__name__}"
        )
    if len(predictions) == 0:
        raise DataValidationError("predictions are empty: expected at least one customer")
    df = predictions.copy()
    if "customer_id" not in df.columns:
        if df.index.name != "customer_id":
            raise DataValidationError(
                "predictions need a customer_id column (or an index named customer_id)",
                column="customer_id",
            )
        df = df.reset_index()
    else:
        df = df.reset_index(drop=True)
    ids = df["customer_id"]
    if ids.isna().any():
        raise DataValidationError(
            "missing customer ids", column="customer_id", n_rows=int(ids.isna().sum())
        )
    df["customer_id"] = ids.astype(str)
    dup = df["customer_id"].duplicated()
    if dup.any():
        raise DataValidationError(
            "duplicated customer ids: expected one row per customer",
            column="customer_id",
            n_rows=int(dup.sum()),
            example=df.loc[dup, "customer_id"].iloc[0],
        )
    for col in (value_col, *numeric):
        if col not in df.columns:
            raise DataValidationError(
                f"missing column; predictions have {list(df.columns)}", column=col
            )
        df[col] = _numeric(df, col)
    risk_col = next(
        (c for c in ("churn_probability", "p_active", "p_alive") if c in df.columns), None
    )
    if risk_col is None:
        if require_risk:
            raise DataValidationError(
                "a churn risk is needed: add churn_probability or p_active",
                column="churn_probability",
            )
        return df
    p = _numeric(df, risk_col)
    bad = (p < 0) | (p > 1)
    if bad.any():
        raise DataValidationError(
            "probabilities must lie in [0, 1]",
            column=risk_col,
            n_rows=int(bad.sum()),
            example=float(p[bad][0]),
        )
    df["churn_probability"] = p if risk_col == "churn_probability" else 1.0 - p
    df["p_active"] = 1.0 - df["churn_probability"]
    return df


def rank_order(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Positions (0 = best) by descending value, ties broken by ascending customer id."""
    order = np.lexsort((ids, -values))
    position = np.empty(len(values), dtype=np.int64)
    position[order] = np.arange(len(values))
    return position


def cut_sizes(n: int, cuts: Sequence[float]) -> np.ndarray:
    """Customers inside each cumulative share of ``n``: ``ceil(cut_j * n)`` (checked cuts)."""
    cuts_a = np.asarray(cuts, dtype=float)
    if (
        cuts_a.ndim != 1
        or len(cuts_a) == 0
        or not np.all(np.isfinite(cuts_a))
        or np.any(cuts_a <= 0)
        or np.any(cuts_a > 1)
        or np.any(np.diff(cuts_a) <= 0)
    ):
        raise DataValidationError(
            f"cut points must be increasing shares in (0, 1], got {list(cuts)!r}"
        )
    # round first so that e.g. 0.01 * 300 = 3.0000000000000004 gives 3, not 4
    return np.ceil(np.round(cuts_a * n, 9)).astype(np.int64)


def rank_bins(position: np.ndarray, cuts: Sequence[float]) -> np.ndarray:
    """Bin index 0..len(cuts) of each rank position; bin j holds positions < ceil(cut_j * n)."""
    return np.searchsorted(cut_sizes(len(position), cuts), position, side="right")
