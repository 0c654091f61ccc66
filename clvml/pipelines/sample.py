"""The customer sample of a large training run: one rule for both engines.

Above ``sample_customers`` customers, a training run's driver-side steps (method
comparison, supervised parts, holdout evaluation) see a reproducible hash sample of the
customers with all their rows, while the BTYD models of the served model are fitted on
every customer (docs/scaling.md). The rule, shared by the Spark engine
(:func:`clvml.spark.train.sample_customers`, Spark's ``xxhash64``) and the local engine
(:func:`sample_mask`, the same hash in numpy, so both engines keep the same customers):

    keep a customer when ``pmod(xxhash64(customer_id, seed), 10^6) < sample_threshold(n, k)``,
    ``sample_threshold(n, k) = floor(10^6 * k / n)`` (every customer when ``n <= k``).

``xxhash64(customer_id, seed)`` is Spark SQL's ``xxhash64`` of two columns: XXH64 of the
UTF-8 bytes of the id with Spark's seed 42, whose value (a signed 64-bit integer) seeds the
hash of the integer ``seed`` (as a 32-bit int below 2**31, else as a 64-bit long). It
depends on the ids only, not on row order or partitions: a Bernoulli sample of rate
``threshold / 10^6``, so its size is ``k`` up to a binomial standard deviation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["SAMPLE_GRID", "SPARK_HASH_SEED", "sample_mask", "sample_threshold", "xxhash64"]

#: Resolution of the hash sample (rates are multiples of 1 / SAMPLE_GRID).
SAMPLE_GRID = 1_000_000
#: The seed Spark's ``xxhash64`` starts from.
SPARK_HASH_SEED = 42

_P1 = np.uint64(11400714785074694791)
_P2 = np.uint64(14029467366897019727)
_P3 = np.uint64(1609587929392839161)
_P4 = np.uint64(9650029242287828579)
_P5 = np.uint64(2870177450012600261)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def _fmix(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * _P2
    h = h ^ (h >> np.uint64(29))
    h = h * _P3
    return h ^ (h >> np.uint64(32))


def _round(acc: np.ndarray, lane: np.ndarray) -> np.ndarray:
    return _rotl(acc + lane * _P2, 31) * _P1


def _words(block: np.ndarray, start: int, width: int) -> np.ndarray:
    """Little-endian unsigned words of ``width`` bytes at byte ``start`` of every row."""
    part = np.ascontiguousarray(block[:, start : start + width])
    return part.view(f"<u{width}").ravel().astype(np.uint64)


def _xxh64_rows(block: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """XXH64 of each row of the uint8 matrix ``block`` (rows of one length) with ``seed``."""
    n, length = block.shape
    pos = 0
    if length >= 32:
        v1, v2, v3, v4 = seed + _P1 + _P2, seed + _P2, seed.copy(), seed - _P1
        while pos + 32 <= length:
            v1 = _round(v1, _words(block, pos, 8))
            v2 = _round(v2, _words(block, pos + 8, 8))
            v3 = _round(v3, _words(block, pos + 16, 8))
            v4 = _round(v4, _words(block, pos + 24, 8))
            pos += 32
        h = _rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)
        for v in (v1, v2, v3, v4):
            h = (h ^ _round(np.zeros(n, dtype=np.uint64), v)) * _P1 + _P4
    else:
        h = seed + _P5
    h = h + np.uint64(length)
    while pos + 8 <= length:
        h = h ^ _round(np.zeros(n, dtype=np.uint64), _words(block, pos, 8))
        h = _rotl(h, 27) * _P1 + _P4
        pos += 8
    if pos + 4 <= length:
        h = h ^ (_words(block, pos, 4) * _P1)
        h = _rotl(h, 23) * _P2 + _P3
        pos += 4
    while pos < length:
        h = h ^ (block[:, pos].astype(np.uint64) * _P5)
        h = _rotl(h, 11) * _P1
        pos += 1
    return _fmix(h)


def _hash_int(value: int, seed: np.ndarray) -> np.ndarray:
    """Spark's ``XXH64.hashInt`` (a 32-bit int) or ``hashLong`` (above 2**31 - 1) of ``value``."""
    if -(2**31) <= value < 2**31:
        h = seed + _P5 + np.uint64(4)
        h = h ^ (np.uint64(value & 0xFFFFFFFF) * _P1)
        return _fmix(_rotl(h, 23) * _P2 + _P3)
    h = seed + _P5 + np.uint64(8)
    k = np.full(len(seed), np.uint64(value & 0xFFFFFFFFFFFFFFFF))
    h = h ^ _round(np.zeros(len(seed), dtype=np.uint64), k)
    return _fmix(_rotl(h, 27) * _P1 + _P4)


def xxhash64(ids: pd.Series | np.ndarray | list[str], seed: int) -> np.ndarray:
    """Spark SQL's ``xxhash64(id, seed)`` of each string id, as signed 64-bit integers.

    Parameters
    ----------
    ids : sequence of str
        Customer ids (hashed as their UTF-8 bytes).
    seed : int
        The second column of Spark's ``xxhash64`` (an integer literal).

    Returns
    -------
    numpy.ndarray of int64

    Examples
    --------
    >>> int(xxhash64(["c1"], 0)[0]) == int(xxhash64(["c1"], 0)[0])
    True
    """
    raw = pd.Series(np.asarray(ids, dtype=object)).astype(str).str.encode("utf-8")
    lengths = raw.str.len().to_numpy(dtype=np.int64)
    out = np.empty(len(raw), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for length in np.unique(lengths):  # one vectorised pass per id length
            rows = np.flatnonzero(lengths == length)
            joined = b"".join(raw.iloc[rows].tolist())
            block = np.frombuffer(joined, dtype=np.uint8).reshape(len(rows), int(length))
            first = _xxh64_rows(block, np.full(len(rows), np.uint64(SPARK_HASH_SEED)))
            out[rows] = _hash_int(int(seed), first)
    return out.view(np.int64)


def sample_threshold(n_total: int, max_customers: int) -> int | None:
    """Buckets (of :data:`SAMPLE_GRID`) kept for a sample of ``max_customers`` of ``n_total``.

    None when every customer is kept (``n_total <= max_customers``).
    """
    if n_total <= max_customers:
        return None
    return int(SAMPLE_GRID * max_customers / n_total)


def sample_mask(ids: pd.Series | np.ndarray, max_customers: int, *, seed: int = 0) -> np.ndarray:
    """Which of the distinct customer ``ids`` the sample keeps (see the module notes).

    Parameters
    ----------
    ids : sequence of str
        Distinct customer ids.
    max_customers : int
        Target size; every customer is kept when there are no more.
    seed : int, default 0
        Seed of the hash: another seed, another sample.

    Returns
    -------
    numpy.ndarray of bool
        Aligned with ``ids``.
    """
    threshold = sample_threshold(len(ids), int(max_customers))
    if threshold is None:
        return np.ones(len(ids), dtype=bool)
    return np.asarray(xxhash64(ids, seed) % SAMPLE_GRID < threshold)
