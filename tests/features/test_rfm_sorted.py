"""RFM summaries of sparse IDs by one sort of packed keys (clvml.features._rfm_sorted).

Random 64-bit integer IDs and canonical UUID strings skip the hash table: rows are grouped
by sorting ``[bucket | period | row]`` keys. The oracle is the hashing path of the same
module (``encode_customers`` + ``summarise``, itself tested against lifetimes in
test_rfm.py), forced by switching the sort off; results must be identical bit for bit,
including the exact monetary sums. Shared buckets (two IDs in one bucket), the mixed
buckets of crowded IDs and the fallback when the keys do not fit are all forced here.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifetimes.utils import summary_data_from_transaction_data
from numpy.testing import assert_array_equal

from clvml.features import _rfm_sorted
from clvml.features import rfm as rfm_module
from clvml.features._rfm_sorted import sparse_ids, uuid_halves
from clvml.features.exact_sum import exact_segment_sums
from clvml.features.rfm import RowsExcludedWarning, rfm_summary


def _log(make_ids, seed: int = 3, n_customers: int = 300) -> pd.DataFrame:
    """Seeded log with same-day repeats, single purchasers and rows in random order."""
    rng = np.random.default_rng(seed)
    n_tx = rng.choice([1, 1, 2, 3, 5, 12], size=n_customers)
    cust = np.repeat(np.arange(n_customers), n_tx)
    dup = rng.random(len(cust)) < 0.2  # same-day (usually) purchases
    cust = np.concatenate([cust, cust[dup]])
    birth = rng.integers(0, 300 * 86400, n_customers)
    seconds = birth[cust] + rng.integers(0, 200 * 86400, len(cust)) * (rng.random(len(cust)) < 0.8)
    ts = np.datetime64("2023-01-01T00:00:00", "s") + seconds.astype("timedelta64[s]")
    order = rng.permutation(len(cust))
    ids = make_ids(n_customers, rng)
    return pd.DataFrame(
        {
            "customer_id": ids.take(cust[order]).reset_index(drop=True),
            "timestamp": ts[order],
            "amount": np.round(rng.gamma(2.0, 15.0, len(cust)), 2)[order],
        }
    )


def _random_ints(n: int, rng: np.random.Generator) -> pd.Series:
    return pd.Series(rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64))


def _snowflakes(n: int, rng: np.random.Generator) -> pd.Series:
    # time-based IDs: a millisecond clock (three years) in the top bits, a sequence
    # number below; customers created in bursts crowd into few order-preserving buckets
    bursts = 1_600_000_000_000 + rng.integers(0, 10**11, 20)
    ms = np.sort(bursts[np.arange(n) % 20])
    return pd.Series((ms << 22) + np.arange(n), dtype=np.int64)


def _uuids(upper: bool = False):
    def make(n: int, rng: np.random.Generator) -> pd.Series:
        out = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n)]
        return pd.Series([u.upper() for u in out] if upper else out, dtype="str")

    return make


def _hashing_path(monkeypatch, log: pd.DataFrame, **kwargs) -> pd.DataFrame:
    with monkeypatch.context() as m:
        m.setattr(rfm_module, "sparse_ids", lambda ids: None)
        return rfm_summary(log, **kwargs)


ID_KINDS = {
    "int64-random": _random_ints,
    "int64-snowflake": _snowflakes,
    "uint64-random": lambda n, rng: pd.Series(rng.integers(0, 2**64 - 1, n, dtype=np.uint64)),
    "uuid": _uuids(),
    "uuid-upper": _uuids(upper=True),
    "uuid-object": lambda n, rng: _uuids()(n, rng).astype(object),
}


@pytest.mark.parametrize("kind", list(ID_KINDS))
@pytest.mark.parametrize(
    "kwargs",
    [
        {"monetary_value_col": "amount"},
        {"monetary_value_col": "amount", "include_first_transaction": True},
        {"freq": "W", "freq_multiplier": 2},
        {"monetary_value_col": "amount", "observation_period_end": "2023-06-30", "freq": "h"},
    ],
)
def test_sorted_path_equals_the_hashing_path(monkeypatch, kind, kwargs):
    log = _log(ID_KINDS[kind])
    assert sparse_ids(log["customer_id"]) is not None  # the sort path is taken
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RowsExcludedWarning)
        expected = _hashing_path(monkeypatch, log, **kwargs)
        actual = rfm_summary(log, **kwargs)
    pd.testing.assert_frame_equal(actual, expected, check_exact=True)
    assert actual.attrs == expected.attrs
    assert actual.index.is_monotonic_increasing


@pytest.mark.parametrize("kind", ["int64-random", "uuid"])
def test_sorted_path_matches_lifetimes(kind):
    log = _log(ID_KINDS[kind], seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = summary_data_from_transaction_data(
            log, "customer_id", "timestamp", "amount", freq="D"
        )
    actual = rfm_summary(log, monetary_value_col="amount")
    exact = ["frequency", "recency", "T"]
    pd.testing.assert_frame_equal(expected[exact], actual[exact], check_exact=True)
    pd.testing.assert_frame_equal(
        expected[["monetary_value"]], actual[["monetary_value"]], check_exact=False, rtol=1e-12
    )


def test_crowded_ids_use_mixed_buckets(monkeypatch):
    # snowflake IDs crowd the order-preserving buckets: the sample check switches to the
    # mixed buckets, whose runs are not in ID order, so the labels are sorted afterwards
    choices: list[bool] = []
    spread = _rfm_sorted._buckets_spread

    def spied(values, b):
        choices.append(spread(values, b))
        return choices[-1]

    monkeypatch.setattr(_rfm_sorted, "_buckets_spread", spied)
    log = _log(_snowflakes, n_customers=2000)
    actual = rfm_summary(log, monetary_value_col="amount")
    assert choices == [False]
    pd.testing.assert_frame_equal(
        actual, _hashing_path(monkeypatch, log, monetary_value_col="amount"), check_exact=True
    )
    log = _log(_random_ints, n_customers=2000)
    rfm_summary(log, monetary_value_col="amount")
    assert choices == [False, True]


@pytest.mark.parametrize("bits", [1, 4, 12])
@pytest.mark.parametrize("kind", ["int64-random", "uuid", "int64-snowflake"])
def test_shared_buckets_never_merge_customers(monkeypatch, bits, kind):
    # with a handful of bucket bits nearly every bucket holds several IDs: they are told
    # apart by the IDs themselves and their rows re-sorted, with the same summary
    log = _log(ID_KINDS[kind], seed=5)
    expected = _hashing_path(monkeypatch, log, monetary_value_col="amount")
    monkeypatch.setattr(_rfm_sorted, "_MIN_BUCKET_BITS", 1)
    monkeypatch.setattr(_rfm_sorted, "bucket_bits", lambda n, span: bits)
    actual = rfm_summary(log, monetary_value_col="amount")
    pd.testing.assert_frame_equal(actual, expected, check_exact=True)


def test_ids_narrower_than_the_bucket_are_not_gathered(monkeypatch):
    # IDs spanning fewer values than there are buckets: the bucket is the ID's offset,
    # nothing can share a bucket and the IDs are never compared
    log = _log(lambda n, rng: pd.Series(np.sort(rng.choice(10**8, n, replace=False))))
    ids = sparse_ids(log["customer_id"])
    assert ids is not None and ids.width <= 30
    expected = _hashing_path(monkeypatch, log, monetary_value_col="amount")

    class Untouchable:
        def __getitem__(self, rows):
            pytest.fail("the IDs were gathered")

    monkeypatch.setattr(
        rfm_module,
        "sparse_ids",
        lambda ids: dataclasses.replace(sparse_ids(ids), idents=(Untouchable(),)),
    )
    pd.testing.assert_frame_equal(
        rfm_summary(log, monetary_value_col="amount"), expected, check_exact=True
    )


def test_keys_too_wide_fall_back_to_hashing(monkeypatch):
    log = _log(_random_ints)
    expected = _hashing_path(monkeypatch, log, monetary_value_col="amount")
    monkeypatch.setattr(_rfm_sorted, "_MIN_BUCKET_BITS", 65)
    calls: list[int] = []
    encode = rfm_module.encode_customers
    monkeypatch.setattr(rfm_module, "encode_customers", lambda *a: calls.append(1) or encode(*a))
    actual = rfm_summary(log, monetary_value_col="amount")
    assert calls == [1]
    pd.testing.assert_frame_equal(actual, expected, check_exact=True)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s: s.replace("a", "A", 1).replace("b", "B", 1), id="mixed-case"),
        pytest.param(lambda s: s[:3] + "g" + s[4:], id="not-hex"),
        pytest.param(lambda s: s[:8] + "x" + s[9:], id="no-dash"),
        pytest.param(lambda s: s[:1] + "-" + s[2:8] + "0" + s[9:], id="dash-moved"),
        pytest.param(lambda s: s[:35] + "é", id="not-ascii"),
    ],
)
def test_uuid_halves_refuse_non_canonical_strings(monkeypatch, change):
    # anything but canonical 8-4-4-4-12 hex of one case could make two strings share
    # halves: such columns are hashed as strings, with the summary of lifetimes
    log = _log(_uuids(), seed=9)
    ids = log["customer_id"].astype(object)
    ids.iloc[len(ids) // 2] = change(ids.iloc[len(ids) // 2])
    log["customer_id"] = ids.astype("str")
    assert sparse_ids(log["customer_id"]) is None
    pd.testing.assert_frame_equal(
        rfm_summary(log, monetary_value_col="amount"),
        _hashing_path(monkeypatch, log, monetary_value_col="amount"),
        check_exact=True,
    )


def test_uuid_halves_are_the_uuid_integer():
    rng = np.random.default_rng(1)
    uuids = [uuid.UUID(bytes=rng.bytes(16)) for _ in range(70_000)]  # over one block
    for text in ([str(u) for u in uuids], [str(u).upper() for u in uuids]):
        data = np.frombuffer("".join(text).encode(), dtype=np.uint8).reshape(-1, 36)
        halves = uuid_halves(data)
        assert halves is not None
        expected = np.array([[u.int >> 64, u.int & (2**64 - 1)] for u in uuids], dtype=np.uint64)
        assert_array_equal(np.column_stack(halves), expected)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1),
        min_size=1,
        max_size=8,
    )
)
def test_exact_segment_sums_equal_fsum(runs):
    values = np.array([v for run in runs for v in run])
    with np.errstate(over="ignore"):
        if not np.isfinite(np.abs(values).sum()):  # sums past the float64 range overflow
            return
    starts = np.cumsum([0] + [len(r) for r in runs[:-1]])
    got = exact_segment_sums(values.copy(), starts, max(len(r) for r in runs))
    assert_array_equal(got, [math.fsum(r) for r in runs])
