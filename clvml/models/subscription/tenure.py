"""Spells at a cut-off from the ``subscriptions`` table: billings made, cancellations, censoring.

A subscription of billing ``period`` ``month`` (or ``year``) is billed at ``start`` and
then every calendar month (year) after it, the day clipped to the month's end (a
subscription started on 31 January renews on 28/29 February). At a cut-off day
``as_of``:

* a spell cancelled by ``as_of`` (``end <= as_of``) paid ``ceil(periods(start, end))``
  billings (at least 1): cancelling on a renewal date means that renewal was not paid.
  It is a cancelled spell of ``duration`` = that number, the period in which it ended;
* a spell still active (no ``end``, or an ``end`` after ``as_of``) has made
  ``n = floor(periods(start, as_of)) + 1`` billings: it is censored at ``duration = n - 1``
  (it survived ``n - 1`` renewals) and its *tenure* is ``n`` (the periods active, about to
  decide on renewal ``n``; the ``n`` of the DERL formulas);
* a spell starting after ``as_of`` is not there yet and is left out.

``periods(a, b)`` counts calendar periods with fractions: whole periods from ``a``, plus
the fraction of the next one. Everything is vectorised over spells.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError

__all__ = ["PERIODS_PER_YEAR", "billings_between", "spells_at"]

#: Billing periods per year, by the contract's ``period`` values.
PERIODS_PER_YEAR: dict[str, int] = {"month": 12, "year": 1}


def _add_months(start: pd.Series, k: np.ndarray) -> pd.Series:
    """``start`` plus ``k`` calendar months, the day clipped to the target month's length."""
    month = start.to_numpy(dtype="datetime64[M]") + k.astype("timedelta64[M]")
    first = month.astype("datetime64[D]")
    next_first = (month + np.timedelta64(1, "M")).astype("datetime64[D]")
    length = (next_first - first).astype(int)
    day = np.minimum(start.dt.day.to_numpy(), length) - 1
    time_of_day = (start - start.dt.normalize()).to_numpy()
    out = first + day.astype("timedelta64[D]")
    return pd.Series(out.astype("datetime64[ns]") + time_of_day, index=start.index)


def _whole_months(start: pd.Series, when: pd.Series) -> np.ndarray:
    """Largest ``k`` with ``start + k months <= when`` (negative when ``when < start``)."""
    k0 = (when.dt.year - start.dt.year).to_numpy() * 12 + (
        when.dt.month - start.dt.month
    ).to_numpy()
    over = (_add_months(start, k0) > when).to_numpy()
    return k0 - over


def billings_between(
    start: pd.Series, when: pd.Series, period: pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """Whole billing periods from ``start`` to ``when`` and whether ``when`` is exactly on a
    billing date, per row (``period`` ``month`` or ``year``)."""
    start = pd.to_datetime(start)
    when = pd.to_datetime(when)
    yearly = (period.astype(str).str.lower() == "year").to_numpy()
    months = _whole_months(start, when)
    whole = np.where(yearly, np.floor_divide(months, 12), months)
    on_date = (_add_months(start, np.where(yearly, whole * 12, whole)) == when).to_numpy()
    return whole, on_date


def spells_at(subscriptions: pd.DataFrame, as_of: object) -> pd.DataFrame:
    """The spells known on ``as_of`` (see the module docstring).

    Parameters
    ----------
    subscriptions : pandas.DataFrame
        The validated ``subscriptions`` table (``customer_id``, ``start``, optional
        ``end``, ``period``, optional ``plan``, ``price_per_period``).
    as_of : date-like
        The cut-off day (inclusive).

    Returns
    -------
    pandas.DataFrame
        The subscriptions started by ``as_of`` with their columns plus ``duration``,
        ``censored`` (active on ``as_of``) and ``tenure`` (billings made; for active spells
        the ``n`` of the DERL formulas).

    Raises
    ------
    DataValidationError
        A required column is missing, or a ``period`` is neither month nor year.

    Examples
    --------
    >>> subs = pd.DataFrame({"customer_id": ["a", "b", "c"],
    ...                      "start": pd.to_datetime(["2024-01-31", "2024-01-15", "2024-05-01"]),
    ...                      "end": pd.to_datetime([None, "2024-03-15", None]),
    ...                      "period": ["month", "month", "month"]})
    >>> # a: billed 31 Jan, 29 Feb, 31 Mar, 30 Apr; b: cancelled on its third billing date
    >>> spells_at(subs, "2024-04-30")[["customer_id", "duration", "censored", "tenure"]]
      customer_id  duration  censored  tenure
    0           a         3      True       4
    1           b         2     False       2
    """
    for col in ("customer_id", "start", "period"):
        if col not in subscriptions.columns:
            raise DataValidationError("is missing from the subscriptions", column=col)
    day = pd.Timestamp(as_of)
    if day.tz is not None:
        day = day.tz_convert(None)
    day = day.normalize() + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)  # inclusive
    period = subscriptions["period"].astype(str).str.lower()
    unknown = ~period.isin(list(PERIODS_PER_YEAR))
    if unknown.any():
        raise DataValidationError(
            "must be month or year",
            column="period",
            n_rows=int(unknown.sum()),
            example=str(subscriptions.loc[unknown, "period"].iloc[0]),
        )
    start = pd.to_datetime(subscriptions["start"])
    started = (start <= day).to_numpy()
    frame = subscriptions.loc[started].copy()
    start, period = start[started], period[started]
    end = (
        pd.to_datetime(frame["end"])
        if "end" in frame.columns
        else pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    )
    cancelled = (end <= day).fillna(False).to_numpy(dtype=bool)
    cut = pd.Series(day, index=frame.index)
    whole_now, _ = billings_between(start, cut, period)
    whole_end, on_date = billings_between(start, end.where(cancelled, cut), period)
    paid_by_end = np.maximum(np.where(on_date, whole_end, whole_end + 1), 1)
    tenure = np.where(cancelled, paid_by_end, whole_now + 1)
    frame["duration"] = np.where(cancelled, paid_by_end, whole_now).astype(np.int64)
    frame["censored"] = ~cancelled
    frame["tenure"] = tenure.astype(np.int64)
    return frame.reset_index(drop=True)
