"""Kernels of the RFM summaries: customer codes, period ordinals, the period merge.

Private to :mod:`clvml.features.rfm`; see its documentation for the conventions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from clvml.exceptions import DataValidationError
from clvml.features.exact_sum import exact_group_sums

__all__ = [
    "Customers",
    "byte_matrix",
    "dense_int_ids",
    "encode_customers",
    "mean_or_zero",
    "merge_periods",
    "period_dtype",
    "period_ordinals",
    "scalar_ordinal",
    "string_index",
    "summarise",
    "summary_columns",
]

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
#: Largest key space of the fixed-width string path (keys are int64, with room for one digit).
_MAX_KEYS = 2**62
#: Rows read first to see whether the fixed-width key space can fit at all.
_PROBE_ROWS = 4096
#: Rows per block when checking hashed fixed-width IDs against their code's first row.
_VERIFY_ROWS = 1 << 20

# ----------------------------------------------------------------------------- customer codes


@dataclass(frozen=True)
class Customers:
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


def string_index(arr: pa.Array, like: pd.Series) -> pd.Index:
    """An Arrow string array as an Index of the dtype of ``like``'s IDs."""
    if like.dtype == object:
        # infer the dtype as a groupby does (``str`` under pandas 3), as lifetimes returns
        return pd.Index(arr.to_numpy(zero_copy_only=False))
    return pd.Index(pd.array(arr, dtype=like.dtype))


def byte_matrix(arr: pa.Array) -> np.ndarray | None:
    """The ``n x width`` bytes of equal-length strings (a view of the Arrow buffer), or None."""
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
    return np.frombuffer(buffers[2], dtype=np.uint8)[offsets[0] : offsets[-1]].reshape(n, width)


def _encode_fixed_width(data: np.ndarray, ids: pd.Series) -> Customers | None:
    """Codes of equal-length string IDs without hashing, or None if they do not qualify.

    ``data`` is the ``n x width`` matrix of their bytes (:func:`byte_matrix`). Reading
    the positions that vary as digits of a mixed-radix number gives an
    integer key in the lexicographic order of the strings (their UTF-8 bytes, i.e. code
    points). Zero-padded numbers such as ``"C00004217"`` give keys about as dense as the
    customers, which are then used as codes directly; labels are decoded from the keys.
    """
    n, width = data.shape
    # Early exit: the spans of the first rows are lower bounds of the whole column's, so a
    # key space already too large there (random IDs, UUIDs) is too large overall.
    probe = data[:_PROBE_ROWS]
    if _key_space(probe.max(axis=0).astype(np.int64) - probe.min(axis=0) + 1) > _MAX_KEYS:
        return None
    lo = np.empty(width, dtype=np.int64)
    span = np.empty(width, dtype=np.int64)
    for j in range(width):
        column = data[:, j]
        lo[j] = column.min()
        span[j] = int(column.max()) - int(lo[j]) + 1
        if _key_space(span[: j + 1]) > _MAX_KEYS:  # stop reading as soon as it cannot fit
            return None
    varying = np.flatnonzero(span > 1)
    n_keys = _key_space(span)
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
        return string_index(strings, ids)

    if n_keys <= 2 * n + 1_000_000:
        return Customers(key, n_keys, decode=labels)
    codes, uniques = pd.factorize(key, sort=True)
    return Customers(codes, len(uniques), decode=lambda rows: labels(uniques[rows]))


def _word_hash(words: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of 32-bit words (multiply-xorshift per word)."""
    h = np.full(len(words), 0x9E3779B97F4A7C15, dtype=np.uint64)
    for j in range(words.shape[1]):
        h ^= words[:, j]
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(29)
    return h


def _encode_by_words(arr: pa.Array, data: np.ndarray, ids: pd.Series) -> Customers | None:
    """Codes of equal-length string IDs from a 64-bit hash of their bytes, verified exactly.

    For IDs whose key space is too large for :func:`_encode_fixed_width` (UUIDs): the
    bytes are read as 32-bit words (``width`` a multiple of 4), mixed into one 64-bit
    hash per row in a few vectorised passes, and the hashes are dictionary-encoded
    (an integer hash table; 10M UUIDs: 2.0 s CPU instead of 2.7 s). Every row's
    bytes are then compared with those of one row of its code, so a hash
    collision cannot merge two customers: it returns None (the caller hashes the
    strings themselves). Codes follow the order of first appearance, as Arrow's.
    """
    n, width = data.shape
    if width % 4:
        return None
    encoded = pc.dictionary_encode(pa.array(_word_hash(data.view(np.uint32)).view(np.int64)))
    codes = encoded.indices.to_numpy()
    n_codes = len(encoded.dictionary)
    last = np.empty(n_codes, dtype=np.int64)  # a row of each code: its last
    last[codes] = np.arange(n, dtype=np.int64)
    rows = data.view(np.dtype((np.void, width))).ravel()  # one item per ID: fast gathers
    for start in range(0, n, _VERIFY_ROWS):
        block = slice(start, start + _VERIFY_ROWS)
        seen = rows[last[codes[block]]].view(np.uint8).reshape(-1, width)
        if not np.array_equal(seen, data[block]):
            return None  # two IDs share a hash: hash the strings instead
    dictionary = arr.take(pa.array(last))
    order = pc.sort_indices(dictionary).to_numpy()
    return Customers(codes, n_codes, string_index(dictionary, ids), order)


def _key_space(span: np.ndarray) -> int:
    """Number of mixed-radix keys of digits with these spans (exact Python integer)."""
    n_keys = 1
    for s in span.tolist():
        n_keys *= s
    return n_keys


def _encode_strings(ids: pd.Series, column: str) -> Customers | None:
    """Codes of string IDs, or None if the IDs are not strings.

    Equal-length IDs get order-preserving integer keys (:func:`_encode_fixed_width`)
    or, when their key space is too large, a verified hash of their bytes
    (:func:`_encode_by_words`); others go through Arrow's hash kernel, much faster
    than :func:`pandas.factorize`.
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
    data = byte_matrix(arr)
    if data is not None:
        fixed = _encode_fixed_width(data, ids)
        if fixed is None:
            fixed = _encode_by_words(arr, data, ids)
        if fixed is not None:
            return fixed
    encoded = pc.dictionary_encode(arr)
    order = pc.sort_indices(encoded.dictionary).to_numpy()
    labels = string_index(encoded.dictionary, ids)
    return Customers(encoded.indices.to_numpy(), len(labels), labels, order)


def dense_int_ids(values: np.ndarray) -> bool:
    """Whether integer IDs are dense enough to be their own codes (minus the smallest)."""
    lo, hi = int(values.min()), int(values.max())
    return hi - lo <= 2 * len(values) + 1_000_000 and hi < 2**62


def encode_customers(ids: pd.Series, column: str) -> Customers:
    """Integer codes of the customer IDs (see :class:`Customers`)."""
    if isinstance(ids.dtype, np.dtype) and ids.dtype.kind in "iu":
        values = ids.to_numpy()
        lo, hi = int(values.min()), int(values.max())
        if dense_int_ids(values):
            # Dense integer IDs are their own codes (offset by the smallest).
            idx = np.int32 if hi - lo < np.iinfo(np.int32).max else np.int64
            codes = np.subtract(values, values.dtype.type(lo), dtype=idx, casting="unsafe")
            return Customers(codes, hi - lo + 1, offset=lo, dtype=ids.dtype)
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
    if isinstance(ids.dtype, np.dtype) and ids.dtype.kind in "iu":
        # Sparse integer IDs: hash in order of appearance (Arrow's hash kernel, ~25% faster
        # than pandas.factorize at 10M rows, int32 codes), then sort only the distinct IDs.
        encoded = pc.dictionary_encode(pa.array(ids.to_numpy()))
        codes, uniques = encoded.indices.to_numpy(), encoded.dictionary.to_numpy()
        order = np.argsort(uniques, kind="stable")
        return Customers(codes, len(uniques), pd.Index(uniques, dtype=ids.dtype), order)
    codes, uniques = pd.factorize(ids, sort=True)
    missing = codes < 0
    if missing.any():
        raise _missing_ids(int(np.count_nonzero(missing)), column)
    if uniques.dtype == object:  # infer the dtype as a groupby does
        uniques = pd.Index(np.asarray(uniques, dtype=object))
    return Customers(codes, len(uniques), pd.Index(uniques))


# ----------------------------------------------------------------------------- periods


def period_dtype(freq: str) -> pd.PeriodDtype:
    try:
        return pd.PeriodDtype(freq)
    except (ValueError, TypeError) as exc:
        raise DataValidationError(
            f"freq={freq!r} is not a pandas period frequency ({exc})"
        ) from exc


def period_ordinals(values: np.ndarray, dtype: pd.PeriodDtype) -> np.ndarray:
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


def scalar_ordinal(ts: np.datetime64, dtype: pd.PeriodDtype) -> int:
    return int(pd.Period(pd.Timestamp(ts), freq=dtype.freq).ordinal)


# ----------------------------------------------------------------------------- the kernel


def merge_periods(
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


def summary_columns(
    n_periods: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    spend: np.ndarray | None,
    end_ordinal: int,
    freq_multiplier: float,
    include_first_transaction: bool,
) -> dict[str, np.ndarray]:
    """frequency, recency, T (and monetary_value) from per-customer aggregates.

    The one definition of the summary's columns, used by the pandas kernel and applied by
    :mod:`clvml.spark.rfm` to the aggregates Spark computes: ``n_periods`` periods with a
    purchase, ``first``/``last`` period ordinals and ``spend``, the exact sum of the
    amounts counted (of the repeat periods unless ``include_first_transaction``).
    """
    n_periods = np.asarray(n_periods, dtype=np.int64)
    first = np.asarray(first, dtype=np.int64)
    frequency = n_periods if include_first_transaction else n_periods - 1
    out = {
        "frequency": frequency.astype(np.float64),
        "recency": (np.asarray(last, dtype=np.int64) - first) / freq_multiplier,
        "T": (end_ordinal - first) / freq_multiplier,
    }
    if spend is not None:
        out["monetary_value"] = mean_or_zero(spend, frequency)
    return out


def mean_or_zero(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``total / count``, 0 where ``count`` is 0 (a mean spend without purchases)."""
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 where count is 0
        mean = np.asarray(total, dtype=np.float64) / count
    return np.where(np.asarray(count) > 0, mean, 0.0)


def summarise(
    customers: Customers,
    codes: np.ndarray,
    periods: np.ndarray,
    amounts: np.ndarray | None,
    end_ordinal: int,
    freq_multiplier: float,
    include_first_transaction: bool,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The summary's rows (codes in output order) and frequency, recency, T, monetary.

    Amounts are summed exactly per customer (:func:`~clvml.features.exact_sum.
    exact_group_sums`), so the result does not depend on the order of the rows.
    """
    matrix, p0 = merge_periods(codes, periods, None, customers.n_codes)
    indptr = matrix.indptr
    n_periods = np.diff(indptr)
    present = n_periods > 0
    rows = customers.rows(present)
    first = matrix.indices[indptr[rows]].astype(np.int64) + p0
    last = matrix.indices[indptr[rows + 1] - 1].astype(np.int64) + p0
    spend = None
    if amounts is not None:
        if not include_first_transaction:
            # the first period's purchases do not count: zero them (exact sums ignore zeros)
            first_by_code = np.zeros(customers.n_codes, dtype=np.int64)
            first_by_code[rows] = first
            amounts = np.where(periods > first_by_code[codes], amounts, 0.0)
        spend = exact_group_sums(codes, amounts, customers.n_codes)[rows]
    out = summary_columns(
        n_periods[rows], first, last, spend, end_ordinal, freq_multiplier, include_first_transaction
    )
    return rows, out
