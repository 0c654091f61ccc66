"""The inputs of :func:`~clvml.models.closed_form.closed_form_clv`, read through ``clvml.data``.

The transactions and customers tables are checked by the data layer's
:func:`~clvml.data.validation.validate_transactions` and
:func:`~clvml.data.validation.validate_customers` (the one owner of those contracts);
this module only adds what the closed form itself needs: the user's column names, the
segment column, the link between the two tables (every buyer is a known customer, no
purchase before acquisition) and the calendar periods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clvml.data.validation import validate_customers, validate_transactions
from clvml.exceptions import DataValidationError

__all__ = ["ALL", "Universe", "ordinals", "period_freq", "read_universe", "to_cutoff"]

#: The segment label when no segment column is given.
ALL = "all"

#: Nominal periods per year of the period aliases (to turn an annual rate into one per period).
PERIODS_PER_YEAR: dict[str, float] = {"D": 365.25, "W": 365.25 / 7, "M": 12.0, "Q": 4.0, "Y": 1.0}


@dataclass(frozen=True)
class Universe:
    """Customers and purchases as period ordinals and codes.

    ``ids`` are the customers (sorted ids without a customers table, its order with
    one); ``codes`` give each transaction's customer; ``tx_p`` / ``acq_p`` the period
    ordinals of the transactions and acquisitions; ``cac`` the acquisition costs (NaN
    when unknown) and ``segments`` the segment of every customer.
    """

    ids: np.ndarray
    codes: np.ndarray
    tx_p: np.ndarray
    amount: np.ndarray
    acq_p: np.ndarray
    cac: np.ndarray
    segments: np.ndarray


def period_freq(period: str) -> str:
    """``period`` after checking it is a single pandas period alias (``"M"``, not ``"2M"``)."""
    try:
        n = pd.Period("2000-01-01", freq=period).freq.n
    except (ValueError, TypeError) as exc:
        raise DataValidationError(
            f"period must be a pandas period alias such as 'W', 'M', 'Q' or 'Y': {exc}"
        ) from None
    if n != 1:
        raise DataValidationError(f"period must be a single period ('M', not '2M'), got {period!r}")
    return period


def periods_per_year(period: str) -> float:
    """Nominal number of ``period`` in a year (D, W, M, Q, Y and their anchored forms)."""
    base = pd.Period("2000-01-01", freq=period).freqstr.split("-")[0].upper().rstrip("E")
    if base not in PERIODS_PER_YEAR:
        raise DataValidationError(
            f"an annual discount rate needs a period of D, W, M, Q or Y, got {period!r}; "
            "pass the rate per period instead"
        )
    return PERIODS_PER_YEAR[base]


def ordinals(ts: pd.Series, period: str) -> np.ndarray:
    """Period ordinals of naive timestamps."""
    return np.asarray(ts.dt.to_period(period).array.asi8, dtype=np.int64)


def to_cutoff(value: object) -> pd.Timestamp:
    """A cut-off date as a naive UTC timestamp (clvml's ``cutoff``: the last day seen)."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise DataValidationError(f"cannot be read as a date: {exc}", column="cutoff") from None
    if ts is pd.NaT:
        raise DataValidationError("is missing (NaT)", column="cutoff")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def _checked(
    validate: Callable[[pd.DataFrame], Any], frame: pd.DataFrame, names: dict[str, str]
) -> pd.DataFrame:
    """Run a data-layer validator on ``frame`` and name the caller's columns in its errors."""
    try:
        out: pd.DataFrame = validate(frame)
        return out
    except DataValidationError as err:
        if err.column not in names:
            raise
        raise DataValidationError(
            err.reason, column=names[err.column], n_rows=err.n_rows, example=err.example
        ) from None


def read_transactions(
    transactions: object, id_col: str, time_col: str, amount_col: str
) -> pd.DataFrame:
    """The transactions contract (``customer_id``, ``timestamp``, ``amount``) checked.

    Identical rows are kept (separate orders, as in CDNOW); everything else breaking
    the contract raises a :class:`~clvml.exceptions.DataValidationError` naming the
    caller's column.
    """
    if not isinstance(transactions, pd.DataFrame):
        raise DataValidationError(
            f"transactions: expected a pandas DataFrame, got {type(transactions).__name__}"
        )
    contract = {id_col: "customer_id", time_col: "timestamp", amount_col: "amount"}
    present = [c for c in contract if c in transactions.columns]
    frame = transactions[present].rename(columns=contract)
    back = {v: k for k, v in contract.items()}
    return _checked(lambda f: validate_transactions(f, duplicates="keep"), frame, back)


def _read_customers(customers: object, segment_col: str | None) -> tuple[pd.DataFrame, bool]:
    """The customers table checked by the data layer, and whether it holds costs."""
    if not isinstance(customers, pd.DataFrame):
        raise DataValidationError(
            f"customers: expected a pandas DataFrame, got {type(customers).__name__}"
        )
    required = ["customer_id", "acquisition_date"] + ([segment_col] if segment_col else [])
    missing = [c for c in required if c not in customers.columns]
    if missing:
        raise DataValidationError(
            f"customers lacks required column(s) {missing}; has {list(customers.columns)}",
            column=missing[0],
        )
    has_cost = "acquisition_cost" in customers.columns
    # the closed form uses ids, dates and costs: the channel the contract also asks for is
    # not read here, so a placeholder stands in for it
    frame = pd.DataFrame(
        {
            "customer_id": customers["customer_id"],
            "acquisition_date": customers["acquisition_date"],
            "acquisition_channel": "-",
            "acquisition_cost": customers["acquisition_cost"] if has_cost else 0.0,
        }
    )
    checked = _checked(lambda f: validate_customers(f, duplicates="keep"), frame, {})
    return checked, has_cost


def read_universe(
    transactions: object,
    customers: object | None,
    *,
    period: str,
    segment_col: str | None,
    acquisition_cost: float | None,
    columns: tuple[str, str, str],
) -> Universe:
    """Customers, their acquisition periods, costs and segments, and the coded purchases."""
    id_col, time_col, _ = columns
    tx = read_transactions(transactions, *columns)
    tx_ids = tx["customer_id"].to_numpy(dtype=str)
    tx_p = ordinals(tx["timestamp"], period)
    amount = tx["amount"].to_numpy(dtype=float)
    default_cac = np.nan if acquisition_cost is None else float(acquisition_cost)
    if customers is None:
        codes, uniq = pd.factorize(tx_ids)
        # sort the (few) distinct ids rather than all the rows
        order = np.argsort(np.asarray(uniq, dtype=str), kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        codes, ids = rank[codes], np.asarray(uniq)[order]
        acq_p = np.full(len(ids), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(acq_p, codes, tx_p)
        cac = np.full(len(ids), default_cac)
        return Universe(ids, codes, tx_p, amount, acq_p, cac, np.full(len(ids), ALL, dtype=object))

    cust, has_cost = _read_customers(customers, segment_col)
    index = pd.Index(cust["customer_id"].to_numpy(dtype=str))
    codes = index.get_indexer(tx_ids)
    unknown = codes < 0
    if unknown.any():
        raise DataValidationError(
            "transactions of customers missing from the customers table",
            column=id_col,
            n_rows=int(unknown.sum()),
            example=tx_ids[unknown][0],
        )
    acq_p = ordinals(cust["acquisition_date"], period)
    early = tx_p < acq_p[codes]
    if early.any():
        raise DataValidationError(
            "purchases dated in a period before the customer's acquisition_date",
            column=time_col,
            n_rows=int(early.sum()),
            example=tx_ids[early][0],
        )
    if has_cost:
        cac = cust["acquisition_cost"].to_numpy(dtype=float)
    else:
        cac = np.full(len(index), default_cac)
    segments = np.full(len(index), ALL, dtype=object)
    if segment_col is not None:
        seg_series = customers[segment_col]  # type: ignore[index]
        nan = seg_series.isna()
        if nan.any():
            raise DataValidationError(
                "missing segment values", column=segment_col, n_rows=int(nan.sum())
            )
        segments = seg_series.to_numpy(dtype=object)
    return Universe(np.asarray(index), codes, tx_p, amount, acq_p, cac, segments)
