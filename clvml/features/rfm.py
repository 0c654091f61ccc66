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
Customer IDs become sorted integer codes (:func:`pandas.factorize`, or a
direct dense map for integer IDs); timestamps become integer period ordinals
straight from ``datetime64`` integers (a floor division for fixed units; a
small day -> period lookup table built by pandas for calendar units, so
Period semantics hold exactly). The (customer, period) pairs are merged by
building a :class:`scipy.sparse.csr_array` (a counting sort in compiled code
that sums duplicate entries); each customer's first and last period, period
count and amounts are then slices of its ``indptr``, ``indices`` and ``data``.
No Python loop runs over customers or rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from clvml.exceptions import DataValidationError

__all__ = [
    "RowsExcludedWarning",
    "calibration_holdout_summary",
    "rfm_summary",
]

_NAT = np.iinfo(np.int64).min
#: numpy unit of each sub-daily pandas period frequency.
_SUBDAILY_UNITS = {
    pd.offsets.Hour: "h",
    pd.offsets.Minute: "m",
    pd.offsets.Second: "s",
    pd.offsets.Milli: "ms",
    pd.offsets.Micro: "us",
    pd.offsets.Nano: "ns",
}
#: Largest day range for which calendar periods are mapped through a lookup table.
_MAX_LUT_DAYS = 1 << 22


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


@dataclass(frozen=True)
class _Customers:
    """Integer codes of the transactions' customers.

    ``codes`` (one per transaction) index ``labels``, or are the integer IDs minus
    ``offset`` when ``labels`` is None; ``order`` lists the codes in the sorted order of
    their labels (None when codes already follow it). Codes need not be dense: a code
    without transactions is simply absent from the summary.
    """

    codes: np.ndarray
    n_codes: int
    labels: pd.Index | None = None
    order: np.ndarray | None = None
    offset: int = 0
    dtype: Any = None
    decode: Callable[[np.ndarray], pd.Index] | None = None

    def rows(self, present: np.ndarray) -> np.ndarray:
        """Codes with ``present`` true, in the sorted order of their labels."""
        if self.order is None:
            return np.flatnonzero(present)
        return self.order[present[self.order]]

    def index(self, rows: np.ndarray, name: str) -> pd.Index:
        if self.decode is not None:
            return self.decode(rows).rename(name)
        if self.labels is None:
            return pd.Index(rows + self.offset, dtype=self.dtype, name=name)
        return self.labels.take(rows).rename(name)


def _missing_ids(n_rows: int, column: str) -> DataValidationError:
    return DataValidationError(
        "are missing (NaN/None); expected a customer ID on every transaction",
        column=column,
        n_rows=n_rows,
    )


def _string_index(arr: pa.Array, like: pd.Series) -> pd.Index:
    """An Arrow string array as an Index of the dtype of ``like``'s IDs."""
    if like.dtype == object:
        # infer the dtype as a groupby does (``str`` under pandas 3), as lifetimes returns
        return pd.Index(arr.to_numpy(zero_copy_only=False))
    return pd.Index(pd.array(arr, dtype=like.dtype))


def _encode_fixed_width(arr: pa.Array, ids: pd.Series) -> _Customers | None:
    """Codes of equal-length string IDs without hashing, or None if they do not qualify.

    The bytes of equal-length strings form an ``n x width`` matrix (a view of the Arrow
    buffer). Reading the positions that vary as digits of a mixed-radix number gives an
    integer key in the lexicographic order of the strings (their UTF-8 bytes, i.e. code
    points). Zero-padded numbers such as ``"C00004217"`` give keys about as dense as the
    customers, which are then used as codes directly; labels are decoded from the keys.
    """
    n = len(arr)
    large = pa.types.is_large_string(arr.type)
    off_type = np.dtype(np.int64 if large else np.int32)
    buffers = arr.buffers()
    offsets = np.frombuffer(
        buffers[1], dtype=off_type, count=n + 1, offset=arr.offset * off_type.itemsize
    )
    width = int(offsets[1] - offsets[0])
    if width == 0 or width > 64 or not (np.diff(offsets) == width).all():
        return None
    data = np.frombuffer(buffers[2], dtype=np.uint8)[offsets[0] : offsets[-1]].reshape(n, width)
    lo = np.array([data[:, k].min() for k in range(width)], dtype=np.int64)
    span = np.array([data[:, k].max() for k in range(width)], dtype=np.int64) - lo + 1
    varying = np.flatnonzero(span > 1)
    n_keys = 1
    for k in varying:
        n_keys *= int(span[k])
    if n_keys > 2**62:
        return None
    key_type = np.dtype(np.int32 if n_keys < 2**30 else np.int64)  # room for key * span + byte
    key: np.ndarray = np.zeros(n, dtype=key_type)
    for k in varying:
        np.multiply(key, span[k], out=key, casting="unsafe")
        np.add(key, data[:, k], out=key, casting="unsafe")
        np.subtract(key, lo[k], out=key, casting="unsafe")

    def labels(keys: np.ndarray) -> pd.Index:
        out = np.repeat(lo.astype(np.uint8)[None, :], len(keys), axis=0)
        rest = keys.astype(np.int64)
        for k in varying[::-1]:
            rest, digit = np.divmod(rest, span[k])
            out[:, k] += digit.astype(np.uint8)
        starts = np.arange(len(keys) + 1, dtype=np.int64) * width
        strings = pa.Array.from_buffers(
            pa.large_string(), len(keys), [None, pa.py_buffer(starts), pa.py_buffer(out)]
        )
        return _string_index(strings, ids)

    if n_keys <= 2 * n + 1_000_000:
        return _Customers(key, n_keys, decode=labels)
    codes, uniques = pd.factorize(key, sort=True)
    return _Customers(codes, len(uniques), decode=lambda rows: labels(uniques[rows]))


def _encode_strings(ids: pd.Series, column: str) -> _Customers | None:
    """Codes of string IDs, or None if the IDs are not strings.

    Equal-length IDs get order-preserving integer keys (:func:`_encode_fixed_width`);
    others go through Arrow's hash kernel, much faster than :func:`pandas.factorize`.
    Labels are sorted by their UTF-8 bytes, i.e. by code point, as Python and pandas
    sort strings.
    """
    is_object = ids.dtype == object
    if not (is_object or isinstance(ids.dtype, (pd.StringDtype, pd.ArrowDtype))):
        return None
    try:
        arr = pa.array(ids, from_pandas=True) if is_object else pa.array(ids)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return None  # mixed or non-string objects: let pandas handle them
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    if arr.null_count:
        raise _missing_ids(arr.null_count, column)
    fixed = _encode_fixed_width(arr, ids)
    if fixed is not None:
        return fixed
    encoded = pc.dictionary_encode(arr)
    order = pc.sort_indices(encoded.dictionary).to_numpy()
    labels = _string_index(encoded.dictionary, ids)
    return _Customers(encoded.indices.to_numpy(), len(labels), labels, order)


def _encode_customers(ids: pd.Series, column: str) -> _Customers:
    """Integer codes of the customer IDs (see :class:`_Customers`)."""
    if isinstance(ids.dtype, np.dtype) and ids.dtype.kind in "iu":
        values = ids.to_numpy()
        lo, hi = int(values.min()), int(values.max())
        if hi - lo <= 2 * len(values) + 1_000_000 and hi < 2**62:
            # Dense integer IDs are their own codes (offset by the smallest).
            idx = np.int32 if hi - lo < np.iinfo(np.int32).max else np.int64
            codes = np.subtract(values, values.dtype.type(lo), dtype=idx, casting="unsafe")
            return _Customers(codes, hi - lo + 1, offset=lo, dtype=ids.dtype)
    else:
        encoded = _encode_strings(ids, column)
        if encoded is not None:
            return encoded
    if ids.dtype == object:
        kind = pd.api.types.infer_dtype(ids, skipna=True)
        if kind.startswith("mixed"):
            raise DataValidationError(
                f"customer IDs mix types ({kind}); expected one type, e.g. all strings",
                column=column,
            )
    codes, uniques = pd.factorize(ids, sort=True)
    missing = codes < 0
    if missing.any():
        raise _missing_ids(int(np.count_nonzero(missing)), column)
    if uniques.dtype == object:  # infer the dtype as a groupby does
        uniques = pd.Index(np.asarray(uniques, dtype=object))
    return _Customers(codes, len(uniques), pd.Index(uniques))


def _as_timestamp(value: Any, datetime_format: str | None, name: str) -> pd.Timestamp:
    if isinstance(value, pd.Period):
        value = value.to_timestamp()
    try:
        ts = pd.to_datetime(value, format=datetime_format)
    except (ValueError, TypeError) as exc:
        raise DataValidationError(f"{name}={value!r} is not a date ({exc})") from exc
    if pd.isna(ts):
        raise DataValidationError(f"{name}={value!r} is not a date")
    return ts


def _datetimes(
    transactions: pd.DataFrame, column: str, datetime_format: str | None
) -> tuple[np.ndarray, Any]:
    """Return the timestamps as a naive datetime64 array (wall time) and their time zone."""
    col = transactions[column]
    is_datetime = isinstance(col.dtype, pd.DatetimeTZDtype) or (
        isinstance(col.dtype, np.dtype) and col.dtype.kind == "M"
    )
    if not is_datetime:
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


def _check_positive(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"{name} must be a positive number, got {value!r}") from exc
    if not np.isfinite(v) or v <= 0:
        raise DataValidationError(f"{name} must be a positive number, got {value!r}")
    return v


# ----------------------------------------------------------------------------- periods


def _period_dtype(freq: str) -> pd.PeriodDtype:
    try:
        return pd.PeriodDtype(freq)
    except (ValueError, TypeError) as exc:
        raise DataValidationError(
            f"freq={freq!r} is not a pandas period frequency ({exc})"
        ) from exc


def _period_ordinals(values: np.ndarray, dtype: pd.PeriodDtype) -> np.ndarray:
    """Pandas period ordinals (``to_period(freq).asi8``) of naive datetime64 values, fast.

    Fixed sub-daily units are a floor division of the datetime64 integers; daily and
    calendar frequencies go through days since the epoch and, unless the frequency is
    ``D``, a lookup table from each day in the data's range to its period, built by
    pandas itself so that anchors (``W-SUN``, ``Q-DEC``, business days, ...) follow
    Period semantics exactly. Anything else falls back to :meth:`DatetimeIndex.to_period`.
    """
    unit, step = np.datetime_data(values.dtype)
    ticks = values.view(np.int64)
    offset = dtype.freq
    tick_len = np.timedelta64(step, unit)  # type: ignore[call-overload]
    subdaily = _SUBDAILY_UNITS.get(type(offset))
    if subdaily is not None:
        if offset.n == 1:
            period_len = np.timedelta64(1, subdaily)  # type: ignore[call-overload]
            if period_len >= tick_len:
                ratio = int(period_len // tick_len)
                return ticks // ratio if ratio > 1 else ticks.copy()
            return ticks * int(tick_len // period_len)
    else:
        # Daily or coarser: the period depends on the date only.
        per_day = int(np.timedelta64(1, "D") // tick_len)
        days = ticks // per_day
        if isinstance(offset, pd.offsets.Day) and offset.n == 1:
            return days
        lo, hi = int(days.min()), int(days.max())
        if hi - lo < _MAX_LUT_DAYS:
            grid = pd.DatetimeIndex(np.arange(lo, hi + 1).astype("datetime64[D]"))
            lut = np.asarray(grid.to_period(offset).asi8)
            return lut[days - lo]
    return np.asarray(pd.DatetimeIndex(values).to_period(offset).asi8)


def _scalar_ordinal(ts: np.datetime64, dtype: pd.PeriodDtype) -> int:
    return int(pd.Period(pd.Timestamp(ts), freq=dtype.freq).ordinal)


# ----------------------------------------------------------------------------- the kernel


def _merge_periods(
    codes: np.ndarray,
    periods: np.ndarray,
    amounts: np.ndarray | None,
    n_codes: int,
) -> tuple[sp.csr_array, int]:
    """Customers x periods matrix, one stored entry per (customer, period) with a purchase.

    The entries of a row are sorted by period and hold the period's summed amount
    (or a flag when ``amounts`` is None); column ``j`` is period ordinal ``p0 + j``.
    Building it is a counting sort in compiled scipy code. Returns the matrix and ``p0``.
    """
    p0 = int(periods.min())
    span = int(periods.max()) - p0 + 1
    big = max(span, n_codes, len(codes)) >= np.iinfo(np.int32).max
    idx = np.int64 if big else np.int32
    cols = np.subtract(periods, p0, dtype=idx, casting="unsafe")
    rows = codes.astype(idx, copy=False)
    # Without amounts only the structure is used: int8 flags may wrap when summed, but
    # the entry is kept either way.
    data = np.ones(len(codes), dtype=np.int8) if amounts is None else amounts
    matrix = sp.csr_array((data, (rows, cols)), shape=(n_codes, span))
    if not matrix.has_canonical_format:  # pragma: no cover - tocsr already sums and sorts
        matrix.sum_duplicates()
    return matrix, p0


def _summarise(
    customers: _Customers,
    codes: np.ndarray,
    periods: np.ndarray,
    amounts: np.ndarray | None,
    end_ordinal: int,
    freq_multiplier: float,
    include_first_transaction: bool,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The summary's rows (codes in output order) and frequency, recency, T, monetary."""
    matrix, p0 = _merge_periods(codes, periods, amounts, customers.n_codes)
    indptr = matrix.indptr
    n_periods = np.diff(indptr)
    present = n_periods > 0
    rows = customers.rows(present)
    starts = indptr[rows]
    first = matrix.indices[starts].astype(np.int64) + p0
    last = matrix.indices[indptr[rows + 1] - 1].astype(np.int64) + p0
    n_periods = n_periods[rows]
    frequency = n_periods if include_first_transaction else n_periods - 1
    out = {
        "frequency": frequency.astype(np.float64),
        "recency": (last - first) / freq_multiplier,
        "T": (end_ordinal - first) / freq_multiplier,
    }
    if amounts is not None:
        data = matrix.data  # the matrix is ours: edit in place
        if not include_first_transaction:
            data[starts] = 0.0
        # per-code totals of the stored entries: segments of the non-empty rows, in order
        totals = np.zeros(customers.n_codes)
        nonempty = np.flatnonzero(present)
        if len(nonempty):
            totals[nonempty] = np.add.reduceat(data, indptr[nonempty])
        with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 for one-period customers
            mean = totals[rows] / frequency
        out["monetary_value"] = np.where(frequency > 0, mean, 0.0)
    return rows, out


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
    freq_multiplier = _check_positive("freq_multiplier", freq_multiplier)
    dtype = _period_dtype(freq)
    customers = _encode_customers(transactions[customer_id_col], customer_id_col)
    codes = customers.codes
    values, tz = _datetimes(transactions, datetime_col, datetime_format)
    amounts = _amounts(transactions, monetary_value_col) if monetary_value_col else None
    periods = _period_ordinals(values, dtype)
    n_after = 0
    if observation_period_end is None:
        end_ordinal = int(periods.max())  # nothing is after the latest transaction
    else:
        end = _wall_time(
            _as_timestamp(observation_period_end, datetime_format, "observation_period_end"), tz
        )
        end_ordinal = _scalar_ordinal(end, dtype)
        keep = periods <= end_ordinal
        n_after = len(keep) - int(np.count_nonzero(keep))
        if n_after == len(keep):
            raise DataValidationError(
                f"all {n_after} transactions are after observation_period_end={pd.Timestamp(end)}",
                column=datetime_col,
                example=pd.Timestamp(values.min()),
            )
        if n_after:
            codes, periods = codes[keep], periods[keep]
            amounts = amounts[keep] if amounts is not None else None
            _report_excluded(n_after, end, "in periods after")

    rows, stats = _summarise(
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
        Last moment of the calibration period (inclusive). Required.
    observation_period_end : date-like, optional
        Last moment of the holdout period (inclusive); defaults to the latest
        transaction. Later transactions are set aside, counted in
        ``attrs["n_rows_after_observation_end"]`` and reported with a
        :class:`RowsExcludedWarning`.
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
    freq_multiplier = _check_positive("freq_multiplier", freq_multiplier)
    dtype = _period_dtype(freq)
    customers = _encode_customers(transactions[customer_id_col], customer_id_col)
    codes = customers.codes
    values, tz = _datetimes(transactions, datetime_col, datetime_format)
    amounts = _amounts(transactions, monetary_value_col) if monetary_value_col else None

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
    cal_ordinal = _scalar_ordinal(cal_end, dtype)
    rows, stats = _summarise(
        customers,
        cal_codes,
        _period_ordinals(cal_values, dtype),
        amounts[in_cal] if amounts is not None else None,
        cal_ordinal,
        freq_multiplier,
        include_first_transaction,
    )

    hold_codes = codes[in_hold]
    n_codes = customers.n_codes
    hold_matrix, _ = _merge_periods(
        hold_codes, _period_ordinals(values[in_hold], dtype), None, n_codes
    )
    hold_periods = np.diff(hold_matrix.indptr)
    result = {f"{k}_cal": v for k, v in stats.items()}
    result["frequency_holdout"] = hold_periods[rows].astype(np.float64)
    if amounts is not None:
        n_tx = np.bincount(hold_codes, minlength=n_codes)[rows]
        spend = np.bincount(hold_codes, weights=amounts[in_hold], minlength=n_codes)[rows]
        with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 without holdout purchases
            result["monetary_value_holdout"] = np.where(n_tx > 0, spend / n_tx, 0.0)
    duration = (_scalar_ordinal(obs_end, dtype) - cal_ordinal) / freq_multiplier
    result["duration_holdout"] = np.full(len(rows), duration)

    summary = pd.DataFrame(result, index=customers.index(rows, customer_id_col))
    summary.attrs["n_rows_after_observation_end"] = n_after
    in_cal_summary = np.zeros(n_codes, dtype=bool)
    in_cal_summary[rows] = True
    summary.attrs["n_customers_holdout_only"] = int(
        np.count_nonzero((hold_periods > 0) & ~in_cal_summary)
    )
    return summary
