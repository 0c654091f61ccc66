"""RFM summaries: from a transaction log to one row per customer.

:func:`rfm_summary` and :func:`calibration_holdout_summary` are drop-in,
vectorised replacements of lifetimes' ``summary_data_from_transaction_data``
and ``calibration_and_holdout_data``: same keyword arguments (in the same
positional order), same columns, same index and the same conventions, so a
lifetimes user switches by changing one import. The defaults follow clvml's
transactions contract (``customer_id``, ``timestamp``, ``amount``).

Conventions (those of lifetimes and the BTYD literature)
--------------------------------------------------------
* Time is cut into periods of ``freq`` with pandas' :class:`pandas.Period`
  semantics (``"W"`` is ``"W-SUN"``: weeks run Monday to Sunday). All
  purchases of a customer in one period are merged into one transaction whose
  amount is their sum.
* ``frequency`` is the number of periods with a purchase after the first
  one (or including it with ``include_first_transaction=True``).
* ``recency`` is the number of periods from the first to the last purchase,
  ``T`` from the first purchase to the period of ``observation_period_end``,
  both divided by ``freq_multiplier`` (e.g. ``freq="D", freq_multiplier=7``
  gives weeks measured in days). They are differences of period ordinals, which
  for the fixed-length units lifetimes supports (``D``, ``W``, ``h``, ``s``,
  ``ms``, ...) equals lifetimes' ``(start - start) / timedelta64(1, freq)``;
  calendar units lifetimes rejects (``M``, ``Q``, ``Y``, ``W-MON``, ...) count
  whole periods.
* ``monetary_value`` is the mean amount of the repeat periods (0 without repeat
  purchases); with ``include_first_transaction=True`` the mean of all periods.
* In the holdout period ``frequency_holdout`` counts periods with a purchase,
  ``monetary_value_holdout`` is the mean amount of the holdout *transactions*
  (not merged by period, as in lifetimes), and ``duration_holdout`` is the
  number of periods from the calibration end to the observation end, divided
  by ``freq_multiplier``. Customers without a calibration purchase are not in
  the calibration/holdout summary.

Rows set aside
--------------
Transactions after ``observation_period_end`` (in a later period for
:func:`rfm_summary`; later in time for the holdout) are excluded, as in
lifetimes, but never silently: they are counted in the result's
``attrs["n_rows_after_observation_end"]`` and reported with a
:class:`RowsExcludedWarning`. The number of customers whose first purchase is
in the holdout period (and who are therefore not in the summary) is in
``attrs["n_customers_holdout_only"]``. Unlike lifetimes, which drops or zeroes
them, missing customer IDs, unparseable or missing timestamps and missing or
non-numeric amounts raise :class:`~clvml.exceptions.DataValidationError`.

Implementation
--------------
Sparse IDs (64-bit integers too spread out to be their own codes, canonical UUID
strings) in :func:`rfm_summary` are not hashed at all: each row becomes one ``uint64``
``[bucket of the ID | period | row number]``, one ``numpy.sort`` groups every customer's
rows by period, and everything per customer is a sequential pass over the sorted keys
(:mod:`clvml.features._rfm_sorted`; two IDs sharing a bucket are told apart exactly).
Otherwise customer IDs become integer codes without sorting the rows: integer IDs are
their own codes (minus the smallest); equal-length strings (zero-padded numbers and the
like) become order-preserving mixed-radix integers read straight from the Arrow buffer;
other strings go through Arrow's hash kernel and only the distinct IDs are sorted;
anything else through :func:`pandas.factorize`. Timestamps become integer period
ordinals straight from the ``datetime64`` integers (a floor division for fixed units; a
small day -> period lookup table built by pandas for calendar units, so Period semantics
hold exactly). The (customer, period) pairs are merged by building a
:class:`scipy.sparse.csr_array` (a counting sort in compiled code that sums duplicate
entries); each customer's first and last period and period count are then slices of its
``indptr`` and ``indices``. Amounts are summed exactly per customer
(:func:`clvml.features.exact_sum.exact_group_sums`, the correctly rounded sum, as
:func:`math.fsum`), so the monetary columns do not depend on the row order and equal the
Spark path's bit for bit. No Python loop runs over customers or rows.
``benchmarks/bench_rfm.py`` times it against lifetimes.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError
from clvml.features._rfm_kernels import (
    encode_customers,
    mean_or_zero,
    merge_periods,
    period_dtype,
    period_ordinals,
    scalar_ordinal,
    summarise,
    summary_columns,
)
from clvml.features._rfm_sorted import SparseIds, sorted_summary, sparse_ids
from clvml.features.exact_sum import exact_group_sums

__all__ = [
    "CUSTOMER_RFM_COLUMNS",
    "RowsExcludedWarning",
    "calibration_holdout_summary",
    "customer_rfm_columns",
    "mean_or_zero",
    "rfm_summary",
    "summary_columns",
]

_NAT = np.iinfo(np.int64).min


#: Columns of :func:`customer_rfm_columns` (time unit: that of the summaries).
CUSTOMER_RFM_COLUMNS: tuple[str, ...] = (
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "n_purchases",
    "total_spend",
    "mean_spend",
    "weeks_since_last_purchase",
)


class RowsExcludedWarning(UserWarning):
    """Transactions were set aside (e.g. after the observation end); the message counts them."""


# ----------------------------------------------------------------------------- input handling


def _require_columns(transactions: Any, columns: list[str]) -> None:
    if not isinstance(transactions, pd.DataFrame):
        raise DataValidationError(
            f"expected the transactions as a pandas DataFrame, got {type(transactions).__name__}"
        )
    for col in columns:
        if col not in transactions.columns:
            raise DataValidationError(
                f"missing from the transactions (columns: {list(map(str, transactions.columns))})",
                column=col,
            )
    if len(transactions) == 0:
        raise DataValidationError("the transactions are empty: expected at least one row")


def _as_timestamp(value: Any, datetime_format: str | None, name: str) -> pd.Timestamp:
    if isinstance(value, pd.Period):
        value = value.to_timestamp()
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if datetime_format is None:
            raise DataValidationError(
                f"{name}={value!r} is a number, not a date; pass datetime_format "
                "(e.g. '%Y%m%d') to read numbers such as 19970930 as dates"
            )
        value = str(int(value)) if float(value).is_integer() else str(value)
    try:
        ts = pd.to_datetime(value, format=datetime_format)
    except (ValueError, TypeError) as exc:
        raise DataValidationError(f"{name}={value!r} is not a date ({exc})") from exc
    if pd.isna(ts):
        raise DataValidationError(f"{name}={value!r} is not a date")
    return ts


def numbers_as_text(col: pd.Series, datetime_format: str | None, column: str) -> pd.Series:
    """A numeric date column (``19970930``) as text for ``datetime_format``, or an error.

    pandas reads numbers as nanoseconds since 1970 without a format, a silent wrong
    answer for dates written as YYYYMMDD; with a format it parses numbers only under a
    deprecation. Numbers are therefore read with an explicit format only, as text.
    """
    if not (pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col)):
        return col
    if datetime_format is None:
        first = col.dropna()
        raise DataValidationError(
            "are numbers, not dates; pass datetime_format (e.g. '%Y%m%d') to read "
            "numbers such as 19970930 as dates",
            column=column,
            n_rows=len(first),
            example=first.iloc[0].item() if len(first) else None,
        )
    values = col.to_numpy(dtype=float)
    whole = np.isfinite(values) & (values == np.floor(values))
    out = col.astype(object).where(col.notna(), None)
    out[whole] = values[whole].astype(np.int64).astype(str)
    return out


def _datetimes(
    transactions: pd.DataFrame, column: str, datetime_format: str | None
) -> tuple[np.ndarray, Any]:
    """Return the timestamps as a naive datetime64 array (wall time) and their time zone."""
    col = transactions[column]
    is_datetime = isinstance(col.dtype, pd.DatetimeTZDtype) or (
        isinstance(col.dtype, np.dtype) and col.dtype.kind == "M"
    )
    if not is_datetime:
        col = numbers_as_text(col, datetime_format, column)
        try:
            parsed = pd.to_datetime(col, format=datetime_format, errors="coerce")
        except (ValueError, TypeError) as exc:
            raise DataValidationError(f"cannot be read as dates ({exc})", column=column) from exc
        bad = parsed.isna().to_numpy() & col.notna().to_numpy()
        if bad.any():
            raise DataValidationError(
                "cannot be parsed as timestamps"
                + (f" with format {datetime_format!r}" if datetime_format else ""),
                column=column,
                n_rows=int(np.count_nonzero(bad)),
                example=col[bad].iloc[0],
            )
        col = parsed
    tz = getattr(col.dtype, "tz", None)
    if tz is not None:
        col = col.dt.tz_localize(None)  # periods follow the local wall clock, as to_period does
    values = col.to_numpy()
    if values.dtype.kind != "M":  # pragma: no cover - defensive
        raise DataValidationError("expected timestamps", column=column)
    missing = values.view(np.int64) == _NAT
    if missing.any():
        raise DataValidationError(
            "are missing (NaT); expected a timestamp on every transaction",
            column=column,
            n_rows=int(np.count_nonzero(missing)),
        )
    return values, tz


def _wall_time(ts: pd.Timestamp, tz: Any) -> np.datetime64:
    """A timestamp as naive wall time in the transactions' time zone."""
    if tz is not None:
        ts = ts.tz_convert(tz) if ts.tzinfo is not None else ts
        ts = ts.tz_localize(None)
    elif ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return ts.to_datetime64()


def _amounts(transactions: pd.DataFrame, column: str) -> np.ndarray:
    col = transactions[column]
    try:
        values = col.to_numpy(dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise DataValidationError(
            f"are not numeric ({exc}); expected amounts", column=column
        ) from exc
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataValidationError(
            "are missing, infinite or not numeric; expected finite amounts",
            column=column,
            n_rows=int(np.count_nonzero(bad)),
            example=col.iloc[int(np.flatnonzero(bad)[0])],
        )
    return values


def _read_log(
    transactions: pd.DataFrame,
    customer_id_col: str,
    datetime_col: str,
    datetime_format: str | None,
    monetary_value_col: str | None,
    freq: str,
    freq_multiplier: Any,
    encode: bool = True,
) -> tuple[float, pd.PeriodDtype, Any, np.ndarray, Any, np.ndarray | None]:
    """The checked multiplier, period dtype, encoded customers (None unless ``encode``),
    wall-time stamps, their time zone and the amounts (``None`` without
    ``monetary_value_col``) of a log."""
    multiplier = _check_positive("freq_multiplier", freq_multiplier)
    dtype = period_dtype(freq)
    customers = encode_customers(transactions[customer_id_col], customer_id_col) if encode else None
    values, tz = _datetimes(transactions, datetime_col, datetime_format)
    amounts = _amounts(transactions, monetary_value_col) if monetary_value_col else None
    return multiplier, dtype, customers, values, tz, amounts


def _check_positive(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"{name} must be a positive number, got {value!r}") from exc
    if not np.isfinite(v) or v <= 0:
        raise DataValidationError(f"{name} must be a positive number, got {value!r}")
    return v


def _report_excluded(n_rows: int, end: np.datetime64, what: str) -> None:
    if n_rows:
        warnings.warn(
            f"{n_rows} transaction{'s' if n_rows != 1 else ''} {what} "
            f"observation_period_end={pd.Timestamp(end)} set aside; the count is in "
            "the result's attrs['n_rows_after_observation_end']",
            RowsExcludedWarning,
            stacklevel=3,
        )


# ----------------------------------------------------------------------------- public API


def customer_rfm_columns(repeat: Any, every: Any) -> dict[str, np.ndarray]:
    """The RFM block of the customer frame from two summaries of the same customers.

    The one definition of these columns, used by :func:`clvml.features.dataset.
    customer_features` and applied by :func:`clvml.spark.features.customer_features` to
    the summaries Spark computes, so the engines cannot drift apart.

    Parameters
    ----------
    repeat : mapping of arrays
        ``frequency``, ``recency``, ``T``, ``monetary_value`` of a summary without the
        first purchase (the BTYD convention), e.g. a :func:`rfm_summary` frame.
    every : mapping of arrays
        ``frequency`` and ``monetary_value`` of the summary of the same customers, in the
        same order, with ``include_first_transaction=True``.

    Returns
    -------
    dict of numpy.ndarray
        float64 columns :data:`CUSTOMER_RFM_COLUMNS`: the repeat summary, ``n_purchases``
        (purchase periods), ``total_spend`` (``mean_spend * n_purchases``),
        ``mean_spend`` (mean spend per purchase period) and
        ``weeks_since_last_purchase`` (``T - recency``).
    """

    def col(frame: Any, name: str) -> np.ndarray:
        return np.asarray(frame[name], dtype=np.float64)

    out = {c: col(repeat, c) for c in ("frequency", "recency", "T", "monetary_value")}
    n_all, mean_all = col(every, "frequency"), col(every, "monetary_value")
    out["n_purchases"] = n_all
    out["total_spend"] = mean_all * n_all
    out["mean_spend"] = mean_all
    out["weeks_since_last_purchase"] = out["T"] - out["recency"]
    return out


def rfm_summary(
    transactions: pd.DataFrame,
    customer_id_col: str = "customer_id",
    datetime_col: str = "timestamp",
    monetary_value_col: str | None = None,
    datetime_format: str | None = None,
    observation_period_end: Any = None,
    freq: str = "D",
    freq_multiplier: float = 1,
    include_first_transaction: bool = False,
) -> pd.DataFrame:
    """Summarise a transaction log into frequency, recency, T (and monetary value).

    A vectorised, drop-in replacement of lifetimes'
    ``summary_data_from_transaction_data`` (same arguments in the same order,
    same output); see the module documentation for the conventions.

    Parameters
    ----------
    transactions : pandas.DataFrame
        One row per purchase.
    customer_id_col : str, default "customer_id"
        Column of customer IDs (any sortable type; no missing values).
    datetime_col : str, default "timestamp"
        Column of purchase times (datetime64, or strings parsed with
        ``datetime_format``). Time-zone aware times are cut into periods by
        their local wall clock, as :meth:`pandas.Series.dt.to_period` does.
    monetary_value_col : str, optional
        Column of purchase amounts (e.g. ``"amount"``); adds ``monetary_value``.
    datetime_format : str, optional
        :func:`pandas.to_datetime` format for string timestamps and end dates.
    observation_period_end : date-like, optional
        End of the observation; defaults to the latest transaction. Transactions
        in a later period are set aside, counted in
        ``attrs["n_rows_after_observation_end"]`` and reported with a
        :class:`RowsExcludedWarning`.
    freq : str, default "D"
        Period length, a pandas period frequency (``"D"``, ``"W"``, ``"M"``,
        ``"h"``, ...). Purchases of a customer in one period are merged.
    freq_multiplier : float, default 1
        Divides recency and T, e.g. ``freq="D", freq_multiplier=7`` for weeks
        measured to the day.
    include_first_transaction : bool, default False
        Count the first purchase period in ``frequency`` and ``monetary_value``
        (keep False for the BTYD models).

    Returns
    -------
    pandas.DataFrame
        Indexed by customer ID (named ``customer_id_col``, sorted), float columns
        ``frequency``, ``recency``, ``T`` and, with ``monetary_value_col``,
        ``monetary_value`` (mean amount of the repeat periods, 0 without repeats).

    Raises
    ------
    DataValidationError
        Not a data frame, empty input, a missing column, missing customer IDs,
        missing or unparseable timestamps, missing or non-numeric amounts, an
        unknown ``freq``, ``freq_multiplier <= 0``, or no transaction up to
        ``observation_period_end``.

    Examples
    --------
    The published 39-week CDNOW calibration summary (Fader, Hardie & Lee 2005):

    >>> import warnings
    >>> from clvml.data.datasets import load_cdnow_sample
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", RowsExcludedWarning)
    ...     rfm = rfm_summary(load_cdnow_sample(), monetary_value_col="amount",
    ...                       observation_period_end="1997-09-30", freq_multiplier=7)
    >>> len(rfm), int((rfm["frequency"] > 0).sum())
    (2357, 946)
    >>> rfm.attrs["n_rows_after_observation_end"]
    1959
    """
    columns = [customer_id_col, datetime_col] + ([monetary_value_col] if monetary_value_col else [])
    _require_columns(transactions, columns)
    sparse = sparse_ids(transactions[customer_id_col])
    freq_multiplier, dtype, customers, values, tz, amounts = _read_log(
        transactions,
        customer_id_col,
        datetime_col,
        datetime_format,
        monetary_value_col,
        freq,
        freq_multiplier,
        encode=sparse is None,
    )
    periods = period_ordinals(values, dtype)
    n_after = 0
    if observation_period_end is None:
        end_ordinal = int(periods.max())  # nothing is after the latest transaction
    else:
        end = _wall_time(
            _as_timestamp(observation_period_end, datetime_format, "observation_period_end"), tz
        )
        end_ordinal = scalar_ordinal(end, dtype)
        keep = periods <= end_ordinal
        n_after = len(keep) - int(np.count_nonzero(keep))
        if n_after == len(keep):
            raise DataValidationError(
                f"all {n_after} transactions are after observation_period_end={pd.Timestamp(end)}",
                column=datetime_col,
                example=pd.Timestamp(values.min()),
            )
        if n_after:
            periods = periods[keep]
            amounts = amounts[keep] if amounts is not None else None
            if sparse is not None:
                sparse = sparse.take(keep)
            _report_excluded(n_after, end, "in periods after")

    summary = None
    if sparse is not None:
        summary = _sorted_summary(
            sparse,
            periods,
            amounts,
            end_ordinal,
            freq_multiplier,
            include_first_transaction,
            customer_id_col,
        )
        if summary is None:  # keys too wide for one sort: hash the IDs after all
            customers = encode_customers(transactions[customer_id_col], customer_id_col)
    if summary is None:
        codes = customers.codes if n_after == 0 else customers.codes[keep]
        rows, stats = summarise(
            customers,
            codes,
            periods,
            amounts,
            end_ordinal,
            freq_multiplier,
            include_first_transaction,
        )
        summary = pd.DataFrame(stats, index=customers.index(rows, customer_id_col))
    summary.attrs["n_rows_after_observation_end"] = n_after
    return summary


def _sorted_summary(
    ids: SparseIds,
    periods: np.ndarray,
    amounts: np.ndarray | None,
    end_ordinal: int,
    freq_multiplier: float,
    include_first_transaction: bool,
    name: str,
) -> pd.DataFrame | None:
    """The summary of sparse IDs by one sort (:mod:`clvml.features._rfm_sorted`), or None."""
    found = sorted_summary(ids, periods, amounts, include_first_transaction)
    if found is None:
        return None
    order = slice(None) if found.by_id else ids.order(found.rows)
    stats = summary_columns(
        found.n_periods[order],
        found.first[order],
        found.last[order],
        found.spend[order] if found.spend is not None else None,
        end_ordinal,
        freq_multiplier,
        include_first_transaction,
    )
    return pd.DataFrame(stats, index=ids.labels(found.rows[order]).rename(name))


def calibration_holdout_summary(
    transactions: pd.DataFrame,
    customer_id_col: str = "customer_id",
    datetime_col: str = "timestamp",
    calibration_period_end: Any = None,
    observation_period_end: Any = None,
    freq: str = "D",
    freq_multiplier: float = 1,
    datetime_format: str | None = None,
    monetary_value_col: str | None = None,
    include_first_transaction: bool = False,
) -> pd.DataFrame:
    """RFM summary of a calibration period and purchases in the following holdout period.

    A vectorised, drop-in replacement of lifetimes' ``calibration_and_holdout_data``
    (same arguments in the same order, same output); see the module documentation
    for the conventions.

    Parameters
    ----------
    transactions : pandas.DataFrame
        One row per purchase.
    customer_id_col, datetime_col : str
        As in :func:`rfm_summary`.
    calibration_period_end : date-like
        Last moment of the calibration period (inclusive). Required; it defaults to
        None only so that the arguments keep lifetimes' positional order.
    observation_period_end : date-like, optional
        Last moment of the holdout period (inclusive); defaults to the latest
        transaction (lifetimes takes the ``max`` of the raw column, which differs only
        for string timestamps that do not sort chronologically). Later transactions
        are set aside, counted in ``attrs["n_rows_after_observation_end"]`` and
        reported with a :class:`RowsExcludedWarning`.
    freq, freq_multiplier, datetime_format, monetary_value_col, include_first_transaction
        As in :func:`rfm_summary` (``include_first_transaction`` applies to the
        calibration columns).

    Returns
    -------
    pandas.DataFrame
        Indexed by customer ID (customers with a calibration purchase, sorted), float
        columns ``frequency_cal``, ``recency_cal``, ``T_cal``, [``monetary_value_cal``],
        ``frequency_holdout``, [``monetary_value_holdout``], ``duration_holdout``.
        ``attrs`` holds ``n_rows_after_observation_end`` and
        ``n_customers_holdout_only`` (customers first seen in the holdout period).

    Raises
    ------
    DataValidationError
        As :func:`rfm_summary`, and a missing or late ``calibration_period_end``
        (not before ``observation_period_end``), or no transaction in either period.

    Examples
    --------
    >>> from clvml.data.datasets import load_cdnow_sample
    >>> cal = calibration_holdout_summary(load_cdnow_sample(), calibration_period_end="1997-09-30",
    ...                                   observation_period_end="1998-06-30", freq="W")
    >>> list(cal.columns)
    ['frequency_cal', 'recency_cal', 'T_cal', 'frequency_holdout', 'duration_holdout']
    >>> len(cal), float(cal["duration_holdout"].iloc[0])
    (2357, 39.0)
    """
    columns = [customer_id_col, datetime_col] + ([monetary_value_col] if monetary_value_col else [])
    _require_columns(transactions, columns)
    if calibration_period_end is None:
        raise DataValidationError(
            "calibration_period_end is required (end of the calibration period)"
        )
    freq_multiplier, dtype, customers, values, tz, amounts = _read_log(
        transactions,
        customer_id_col,
        datetime_col,
        datetime_format,
        monetary_value_col,
        freq,
        freq_multiplier,
    )
    codes = customers.codes

    cal_end = _wall_time(
        _as_timestamp(calibration_period_end, datetime_format, "calibration_period_end"), tz
    )
    if observation_period_end is None:
        obs_end = values.max()
    else:
        obs_end = _wall_time(
            _as_timestamp(observation_period_end, datetime_format, "observation_period_end"), tz
        )
    if cal_end >= obs_end:
        raise DataValidationError(
            f"calibration_period_end={pd.Timestamp(cal_end)} must be before "
            f"observation_period_end={pd.Timestamp(obs_end)}: the holdout period would be empty"
        )

    in_cal = values <= cal_end
    n_cal = int(np.count_nonzero(in_cal))
    if n_cal == 0:
        raise DataValidationError(
            f"no transaction on or before calibration_period_end={pd.Timestamp(cal_end)}",
            column=datetime_col,
            example=pd.Timestamp(values.min()),
        )
    after = values > obs_end
    n_after = int(np.count_nonzero(after))
    in_hold = ~(in_cal | after)
    n_hold = len(values) - n_cal - n_after
    if n_hold == 0:
        raise DataValidationError(
            f"no transaction between calibration_period_end={pd.Timestamp(cal_end)} and "
            f"observation_period_end={pd.Timestamp(obs_end)}: the holdout period is empty",
            column=datetime_col,
        )
    _report_excluded(n_after, obs_end, "after")

    cal_values = values[in_cal]
    cal_codes = codes[in_cal]
    cal_ordinal = scalar_ordinal(cal_end, dtype)
    rows, stats = summarise(
        customers,
        cal_codes,
        period_ordinals(cal_values, dtype),
        amounts[in_cal] if amounts is not None else None,
        cal_ordinal,
        freq_multiplier,
        include_first_transaction,
    )

    hold_codes = codes[in_hold]
    n_codes = customers.n_codes
    hold_matrix, _ = merge_periods(
        hold_codes, period_ordinals(values[in_hold], dtype), None, n_codes
    )
    hold_periods = np.diff(hold_matrix.indptr)
    result = {f"{k}_cal": v for k, v in stats.items()}
    result["frequency_holdout"] = hold_periods[rows].astype(np.float64)
    if amounts is not None:
        n_tx = np.bincount(hold_codes, minlength=n_codes)[rows]
        spend = exact_group_sums(hold_codes, amounts[in_hold], n_codes)[rows]
        result["monetary_value_holdout"] = mean_or_zero(spend, n_tx)
    duration = (scalar_ordinal(obs_end, dtype) - cal_ordinal) / freq_multiplier
    result["duration_holdout"] = np.full(len(rows), duration)

    summary = pd.DataFrame(result, index=customers.index(rows, customer_id_col))
    summary.attrs["n_rows_after_observation_end"] = n_after
    in_cal_summary = np.zeros(n_codes, dtype=bool)
    in_cal_summary[rows] = True
    summary.attrs["n_customers_holdout_only"] = int(
        np.count_nonzero((hold_periods > 0) & ~in_cal_summary)
    )
    return summary
