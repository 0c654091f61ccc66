"""The RFM kernel for sparse customer IDs: one sort of packed 64-bit keys, no hashing.

Private to :mod:`clvml.features.rfm`. Customer IDs whose values are too sparse to be
their own codes (random 64-bit integers, UUIDs) would otherwise be dictionary-encoded
(a hash table of the distinct IDs, random memory access on every row) before the
(customer, period) pairs are merged by a counting sort (random access again) and the
first period's amounts masked out (a gather) and summed (scatter-adds). Here each row
becomes one ``uint64``::

    [ bucket of the ID : b bits ][ period - p0 : p bits ][ row number : r bits ]

and ``numpy.sort`` (vectorised, several times faster than an ``argsort``) orders them.
After the sort every customer's rows are one run, ordered by period, and every
per-customer quantity is a sequential pass: run starts, first and last period,
distinct periods, and the exact monetary sums (:func:`clvml.features.exact_sum.
exact_segment_sums`) of the amounts gathered once through the row numbers.

The bucket is the top ``b`` bits of the ID's offset from the smallest ID (integers) or
of a UUID's first 64 bits: it preserves the IDs' order, so the runs come out sorted by
ID and the labels need no sort. IDs that crowd into few buckets (a sample of them
shares buckets: sequential, time-based or snowflake IDs) are bucketed by the top bits
of a bijective mix instead (:func:`mix64`) and their labels sorted afterwards.

Two IDs can share a bucket (random IDs, ``b`` = 30, a million customers: about 0.1%
of them): the IDs are gathered in sorted order and compared with their neighbours,
so a shared bucket never merges two customers; the rows of shared buckets (few) are
re-sorted by (bucket, ID, period, row) with :func:`numpy.lexsort`. When the bucket
holds the whole offset (IDs spanning fewer than ``2**b`` values) nothing can be
shared and the IDs are not even gathered. Results are those of the hashing path
(:func:`clvml.features._rfm_kernels.encode_customers` and
:func:`~clvml.features._rfm_kernels.summarise`) bit for bit. When the three fields do
not fit in 64 bits with at least ``_MIN_BUCKET_BITS`` for the bucket, the caller
falls back to that path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from clvml.features._rfm_kernels import byte_matrix, dense_int_ids, string_index
from clvml.features.exact_sum import exact_segment_sums

__all__ = [
    "SortedSummary",
    "SparseIds",
    "bucket_bits",
    "mix64",
    "sorted_summary",
    "sparse_ids",
    "uuid_halves",
]

#: Fewest bucket bits worth sorting on: below this, shared buckets would be common.
_MIN_BUCKET_BITS = 20
#: Rows drawn to see whether order-preserving buckets separate the IDs.
_SAMPLE = 1 << 16


def mix64(values: np.ndarray) -> np.ndarray:
    """A bijective mix of 64-bit integers: the product with an odd constant (mod 2**64).

    The top bits of the product depend on every input bit (Fibonacci hashing), so they
    spread clustered IDs (sequential, snowflake-like, multiples of a power of two)
    evenly over the buckets. Only the speed depends on it: shared buckets are resolved
    exactly.
    """
    return values.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)


def _buckets_spread(spread: np.ndarray, b: int) -> bool:
    """Whether the top ``b`` bits of ``spread`` separate the IDs of a sample (fixed seed).

    At most 1% of a sample's distinct values may share a bucket; else the IDs crowd
    (time-based, sequential) and would make long shared runs.
    """
    rng = np.random.default_rng(0)
    sample = np.unique(spread[rng.integers(0, len(spread), _SAMPLE)])
    buckets = np.unique(sample >> np.uint64(64 - b))
    return len(buckets) >= 0.99 * len(sample)


def bucket_bits(n_rows: int, period_span: int) -> int:
    """Bits left for the bucket next to the period and the row number (may be < 0)."""
    return 64 - max(int(n_rows - 1).bit_length(), 1) - max(int(period_span - 1).bit_length(), 1)


@dataclass(frozen=True)
class SortedSummary:
    """Per-customer aggregates in the order of the sorted runs (not yet label order).

    ``rows`` holds one original row number per customer (its first row in sorted
    order), from which the caller takes the customer's label.
    """

    rows: np.ndarray
    n_periods: np.ndarray
    first: np.ndarray
    last: np.ndarray
    spend: np.ndarray | None
    #: the runs are in the sorted order of the IDs (order-preserving buckets)
    by_id: bool


def _rows_of_buckets(group: np.ndarray, buckets: np.ndarray) -> np.ndarray:
    """Sorted positions of every row in ``buckets`` (``group`` is sorted)."""
    lo = np.searchsorted(group, buckets, side="left")
    hi = np.searchsorted(group, buckets, side="right")
    lengths = hi - lo
    # concatenated aranges lo[k]..hi[k]: few rows, so a repeat is cheap here
    return np.repeat(lo - np.r_[0, np.cumsum(lengths)[:-1]], lengths) + np.arange(lengths.sum())


def sorted_summary(
    ids: SparseIds,
    periods: np.ndarray,
    amounts: np.ndarray | None,
    include_first_transaction: bool,
) -> SortedSummary | None:
    """Group rows by customer through one sort of packed keys (see the module docs).

    Parameters
    ----------
    ids : SparseIds
        The rows' IDs; ``ids.spread`` is overwritten (scratch space).
    periods : numpy.ndarray
        int64 period ordinal of each row; overwritten too.
    amounts : numpy.ndarray or None
        float64 amounts (summed exactly), or None.
    include_first_transaction : bool
        Whether the first period's amounts count.

    Returns
    -------
    SortedSummary or None
        None (inputs untouched) when the keys do not fit in 64 bits.
    """
    n = len(periods)
    p0 = int(periods.min())
    span = int(periods.max()) - p0 + 1
    b = bucket_bits(n, span)
    if b < _MIN_BUCKET_BITS:
        return None
    # Arrays of n elements are few and reused in place: each fresh one costs page faults.
    r_bits = max(int(n - 1).bit_length(), 1)
    idents = ids.idents if ids.width > b else ()  # a bucket holding the whole offset is exact
    by_id = _buckets_spread(ids.spread, b)
    key = ids.spread if by_id else mix64(ids.spread)
    key &= np.uint64(((1 << b) - 1) << (64 - b))
    periods -= p0
    periods <<= r_bits
    key |= periods.view(np.uint64)
    key |= np.arange(n, dtype=np.uint64)
    key.sort()
    perm = (key & np.uint64((1 << r_bits) - 1)).view(np.int64)
    group = key >> np.uint64(64 - b)
    period = key
    period <<= np.uint64(b)
    period >>= np.uint64(b + r_bits)  # the middle field
    del key
    # the first ID array is gathered into the periods buffer (done with)
    sorted_idents = [
        np.take(ident, perm, out=periods.view(ident.dtype))
        if k == 0 and ident.dtype.itemsize == 8
        else ident[perm]
        for k, ident in enumerate(idents)
    ]
    del periods
    new_group = group[1:] != group[:-1]
    new_customer = new_group.copy()
    for s in sorted_idents:
        new_customer |= s[1:] != s[:-1]
    shared = new_customer & ~new_group  # an ID change inside a bucket
    if shared.any():
        # every row of a bucket holding two IDs: re-sort them by (bucket, ID, period, row)
        rows = _rows_of_buckets(group, np.unique(group[1:][shared]))
        keys = (perm[rows], period[rows], *(s[rows] for s in sorted_idents[::-1]), group[rows])
        order = rows[np.lexsort(keys)]
        perm[rows] = perm[order]
        period[rows] = period[order]
        for s in sorted_idents:
            s[rows] = s[order]
        new_customer = new_group
        for s in sorted_idents:
            new_customer |= s[1:] != s[:-1]
    del new_group, shared, sorted_idents
    new_customer = np.r_[True, new_customer]
    starts = np.flatnonzero(new_customer)
    ends = np.r_[starts[1:], n]
    first = period[starts].view(np.int64)
    last = period[ends - 1].view(np.int64)
    new_period = new_customer.copy()
    np.not_equal(period[1:], period[:-1], out=new_period[1:], where=~new_customer[1:])
    # period runs numbered 1, 2, ... in sorted order (into the period buffer, done with)
    runs = np.cumsum(new_period, dtype=np.int64, out=period.view(np.int64))
    del period
    n_periods = np.diff(np.r_[0, runs[ends - 1]])
    customer_rows = perm[starts]
    spend = None
    if amounts is not None:
        values = np.take(amounts, perm, out=group.view(np.float64))
        del group
        if not include_first_transaction:
            # the first period's purchases do not count: zero them (exact sums ignore
            # zeros); a row is in it when its period run is its customer's first run
            runs -= 1
            values[new_customer[new_period][runs]] = 0.0
        del runs
        spend = exact_segment_sums(
            values, starts, int((ends - starts).max()), scratch=perm.view(np.float64)
        )
    return SortedSummary(customer_rows, n_periods, first + p0, last + p0, spend, by_id)


# ----------------------------------------------------------------------------- sparse IDs


@dataclass(frozen=True)
class SparseIds:
    """IDs for :func:`sorted_summary`.

    ``spread`` (uint64) orders the rows as their IDs, with the IDs' differences in its
    top bits: for integers the offset from the smallest ID shifted left to fill 64 bits,
    for UUIDs their first 64 bits; ``width`` bits of it vary (the top ones). ``idents``
    identify an ID exactly (the integers; a UUID's two halves), ``labels`` gives the
    Index of the IDs at some row numbers and ``order`` their sorted order.
    """

    spread: np.ndarray
    width: int
    idents: tuple[np.ndarray, ...]
    order: Callable[[np.ndarray], np.ndarray]
    labels: Callable[[np.ndarray], pd.Index]

    def take(self, keep: np.ndarray) -> SparseIds:
        """The same IDs restricted to the rows where ``keep`` is true."""
        rows = np.flatnonzero(keep)
        return SparseIds(
            self.spread[rows],
            self.width,
            tuple(x[rows] for x in self.idents),
            lambda r: self.order(rows[r]),
            lambda r: self.labels(rows[r]),
        )


#: Positions of the dashes and of the 32 hex digits in a canonical UUID string.
_DASHES = np.array([8, 13, 18, 23])
_HEX = np.setdiff1d(np.arange(36), _DASHES)
_UUID_BLOCK = 1 << 16


def _hex_table(letters: bytes) -> np.ndarray:
    table = np.full(256, 255, dtype=np.uint8)
    table[np.frombuffer(b"0123456789", dtype=np.uint8)] = np.arange(10)
    table[np.frombuffer(letters, dtype=np.uint8)] = np.arange(10, 16)
    return table


_LOWER, _UPPER = _hex_table(b"abcdef"), _hex_table(b"ABCDEF")


def uuid_halves(data: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The 128 bits of canonical UUID strings as two uint64 halves, or None.

    ``data`` is the ``n x 36`` byte matrix of the strings. Every row must be
    ``8-4-4-4-12`` hex digits, all lower case or all upper case (one case for the whole
    column): the halves then identify the string exactly and compare in its sort order.
    Read in blocks that stay in cache.
    """
    n, width = data.shape
    if width != 36 or n == 0:
        return None
    upper = np.isin(data[0], np.frombuffer(b"ABCDEF", dtype=np.uint8)).any()
    table = _UPPER if upper else _LOWER
    hi = np.empty(n, dtype=np.uint64)
    lo = np.empty(n, dtype=np.uint64)
    for start in range(0, n, _UUID_BLOCK):
        block = data[start : start + _UUID_BLOCK]
        if not (block[:, _DASHES] == ord("-")).all():
            return None
        digits = table[block[:, _HEX]]
        if (digits > 15).any():
            return None
        packed = (digits[:, 0::2] << 4) | digits[:, 1::2]
        words = np.ascontiguousarray(packed).view(">u8")
        hi[start : start + len(block)] = words[:, 0]
        lo[start : start + len(block)] = words[:, 1]
    return hi, lo


def sparse_ids(ids: pd.Series) -> SparseIds | None:
    """:class:`SparseIds` of sparse 64-bit integer IDs or canonical UUID strings, else None.

    Integer IDs dense enough to be their own codes, other strings and anything else
    (None) keep the paths of :func:`clvml.features._rfm_kernels.encode_customers`.
    """
    if isinstance(ids.dtype, np.dtype) and ids.dtype.kind in "iu":
        values = ids.to_numpy()
        if len(values) == 0 or ids.dtype.itemsize != 8 or dense_int_ids(values):
            return None
        dtype = ids.dtype
        lo = values.min()
        width = (int(values.max()) - int(lo)).bit_length()
        spread = values.view(np.uint64) - np.asarray(lo).view(np.uint64)
        spread <<= np.uint64(64 - width)

        def int_order(rows: np.ndarray) -> np.ndarray:
            return np.argsort(values[rows])  # distinct values: stability is moot

        def int_labels(rows: np.ndarray) -> pd.Index:
            return pd.Index(values[rows], dtype=dtype)

        return SparseIds(spread, width, (values,), int_order, int_labels)
    is_object = ids.dtype == object
    if not (is_object or isinstance(ids.dtype, (pd.StringDtype, pd.ArrowDtype))):
        return None
    first = ids.iloc[0] if len(ids) else None
    if not (isinstance(first, str) and len(first) == 36 and first[8] == first[23] == "-"):
        return None  # not UUIDs: do not convert the column twice
    try:
        arr = pa.array(ids, from_pandas=True) if is_object else pa.array(ids)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    if arr.null_count:
        return None
    data = byte_matrix(arr)
    halves = None if data is None else uuid_halves(data)
    if halves is None:
        return None
    hi, lo_half = halves

    def uuid_order(rows: np.ndarray) -> np.ndarray:
        return np.lexsort((lo_half[rows], hi[rows]))

    def uuid_labels(rows: np.ndarray) -> pd.Index:
        return string_index(arr.take(pa.array(rows)), ids)

    return SparseIds(hi.copy(), 64, (hi, lo_half), uuid_order, uuid_labels)
