"""RFM summaries: parity with lifetimes, the published CDNOW summary, Period semantics, bad input.

lifetimes (``summary_data_from_transaction_data``, ``calibration_and_holdout_data``) is the
independent oracle. Frames are compared with ``assert_frame_equal`` including dtypes, with one
documented exception: lifetimes returns ``frequency_holdout`` as int64 when every calibration
customer bought in the holdout (no NaN was filled) and float64 otherwise; clvml always returns
float64, so that column is cast before comparing. Monetary values are compared to rtol 1e-12
(period amounts are summed in a different order); everything else exactly.
"""

from __future__ import annotations

import functools
import uuid
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data

from clvml.data.datasets import (
    CDNOW_CALIBRATION_END,
    CDNOW_OBSERVATION_END,
    load_cdnow_master,
    load_cdnow_sample,
    load_cdnow_summary,
)
from clvml.exceptions import DataValidationError
from clvml.features import _rfm_kernels
from clvml.features import rfm as rfm_module
from clvml.features._rfm_kernels import period_ordinals
from clvml.features.rfm import (
    RowsExcludedWarning,
    calibration_holdout_summary,
    rfm_summary,
)

# ----------------------------------------------------------------------------- helpers


def _lifetimes(func, *args, **kwargs) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifetimes' own pandas deprecation noise
        return func(*args, **kwargs)


def _quiet(func, *args, **kwargs) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RowsExcludedWarning)
        return func(*args, **kwargs)


def _assert_same(expected: pd.DataFrame, actual: pd.DataFrame) -> None:
    expected = expected.copy()
    if "frequency_holdout" in expected:
        expected["frequency_holdout"] = expected["frequency_holdout"].astype(np.float64)
    money = [c for c in expected.columns if c.startswith("monetary_value")]
    exact = [c for c in expected.columns if c not in money]
    assert list(actual.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(expected[exact], actual[exact], check_exact=True)
    pd.testing.assert_frame_equal(expected[money], actual[money], check_exact=False, rtol=1e-12)


def _generated_log(seed: int = 7, n_customers: int = 400) -> pd.DataFrame:
    """Seeded log: single purchasers, same-day and same-week repeats, times of day, cents."""
    rng = np.random.default_rng(seed)
    n_tx = rng.choice([1, 1, 1, 2, 3, 5, 12], size=n_customers)
    cust = np.repeat(np.arange(n_customers), n_tx)
    start = np.datetime64("2023-01-01T00:00:00", "s")
    birth = rng.integers(0, 300 * 86400, n_customers)
    offset = birth[cust] + rng.integers(0, 120 * 86400, len(cust)) * (rng.random(len(cust)) < 0.8)
    ts = start + offset.astype("timedelta64[s]")
    # duplicate a fifth of the rows a few hours later: same-day (usually) purchases
    dup = rng.random(len(cust)) < 0.2
    cust = np.concatenate([cust, cust[dup]])
    ts = np.concatenate(
        [ts, ts[dup] + rng.integers(0, 6 * 3600, dup.sum()).astype("timedelta64[s]")]
    )
    amount = np.round(rng.gamma(2.0, 15.0, len(cust)), 2)
    order = rng.permutation(len(cust))
    return pd.DataFrame(
        {
            "customer_id": pd.Series([f"cust-{i:04d}" for i in cust[order]], dtype="str"),
            "timestamp": ts[order],
            "amount": amount[order],
        }
    )


# ----------------------------------------------------------------------------- parity on CDNOW


@pytest.mark.parametrize("freq", ["D", "W"])
@pytest.mark.parametrize("monetary", [None, "amount"])
@pytest.mark.parametrize("observation_end", [None, CDNOW_CALIBRATION_END])
def test_rfm_matches_lifetimes_on_cdnow_sample(
    cdnow_sample_transactions, freq, monetary, observation_end
):
    kwargs = dict(monetary_value_col=monetary, observation_period_end=observation_end, freq=freq)
    expected = _lifetimes(
        summary_data_from_transaction_data,
        cdnow_sample_transactions,
        "customer_id",
        "timestamp",
        **kwargs,
    )
    actual = _quiet(rfm_summary, cdnow_sample_transactions, "customer_id", "timestamp", **kwargs)
    _assert_same(expected, actual)


@pytest.mark.parametrize("freq", ["D", "W"])
@pytest.mark.parametrize("monetary", [None, "amount"])
def test_rfm_matches_lifetimes_on_cdnow_master(cdnow_transactions, freq, monetary):
    expected = _lifetimes(
        summary_data_from_transaction_data,
        cdnow_transactions,
        customer_id_col="customer_id",
        datetime_col="timestamp",
        monetary_value_col=monetary,
        freq=freq,
    )
    actual = rfm_summary(cdnow_transactions, monetary_value_col=monetary, freq=freq)
    _assert_same(expected, actual)


@pytest.mark.parametrize("include_first", [False, True])
def test_rfm_include_first_transaction_and_multiplier_match_lifetimes(
    cdnow_sample_transactions, include_first
):
    kwargs = dict(
        monetary_value_col="amount",
        freq="D",
        freq_multiplier=7,
        include_first_transaction=include_first,
    )
    expected = _lifetimes(
        summary_data_from_transaction_data,
        cdnow_sample_transactions,
        "customer_id",
        "timestamp",
        **kwargs,
    )
    _assert_same(expected, rfm_summary(cdnow_sample_transactions, **kwargs))


@functools.cache
def _lifetimes_cdnow_calibration(data: str, freq: str) -> pd.DataFrame:
    """lifetimes' calibration/holdout summary of CDNOW, computed once per data set and freq.

    lifetimes 0.11.3 fails on pandas 3 without a monetary column ("No objects to
    concatenate" in its holdout ``agg(lambda r: 1)``), so its monetary run is the oracle
    for both cases: the other columns do not depend on the amounts.
    """
    df = load_cdnow_sample() if data == "sample" else load_cdnow_master()
    return _lifetimes(
        calibration_and_holdout_data,
        df,
        "customer_id",
        "timestamp",
        calibration_period_end=CDNOW_CALIBRATION_END,
        observation_period_end=CDNOW_OBSERVATION_END,
        freq=freq,
        monetary_value_col="amount",
    )


#: The CDNOW transaction-log fixtures (tests/conftest.py) by parameter id.
CDNOW_LOGS = {"sample": "cdnow_sample_transactions", "master": "cdnow_transactions"}


@pytest.mark.parametrize("data", ["sample", "master"])
@pytest.mark.parametrize("freq", ["D", "W"])
@pytest.mark.parametrize("monetary", [None, "amount"])
def test_calibration_holdout_matches_lifetimes_on_cdnow(request, data, freq, monetary):
    df = request.getfixturevalue(CDNOW_LOGS[data])
    expected = _lifetimes_cdnow_calibration(data, freq)
    if monetary is None:
        expected = expected.drop(columns=["monetary_value_cal", "monetary_value_holdout"])
    actual = calibration_holdout_summary(
        df,
        "customer_id",
        "timestamp",
        calibration_period_end=CDNOW_CALIBRATION_END,
        observation_period_end=CDNOW_OBSERVATION_END,
        freq=freq,
        monetary_value_col=monetary,
    )
    _assert_same(expected, actual)
    assert actual.attrs["n_rows_after_observation_end"] == 0
    assert actual.attrs["n_customers_holdout_only"] == 0  # CDNOW's cohort starts in 1997-Q1


def test_calibration_holdout_with_early_observation_end_reports_rows(cdnow_sample_transactions):
    kwargs = dict(
        calibration_period_end="1997-06-30",
        observation_period_end="1997-12-31",
        freq="D",
        freq_multiplier=7,
        monetary_value_col="amount",
        include_first_transaction=True,
    )
    expected = _lifetimes(
        calibration_and_holdout_data,
        cdnow_sample_transactions,
        "customer_id",
        "timestamp",
        **kwargs,
    )
    n_after = int((cdnow_sample_transactions["timestamp"] > pd.Timestamp("1997-12-31")).sum())
    with pytest.warns(RowsExcludedWarning, match=f"{n_after} transactions after"):
        actual = calibration_holdout_summary(cdnow_sample_transactions, **kwargs)
    _assert_same(expected, actual)
    assert actual.attrs["n_rows_after_observation_end"] == n_after > 0


# ---------------------------------------------------------------- the published summary


@pytest.mark.parametrize("via", ["rfm_summary", "calibration_holdout_summary"])
def test_reproduces_published_cdnow_summary(cdnow_sample_transactions, via):
    """Fader, Hardie & Lee (2005): 2,357 customers, 946 repeaters, 39-week calibration.

    The published ID is the sample's own customer number (``master_id``, 1..2357);
    recency and T are printed in weeks to 2 decimals, zbar in dollars to 2 decimals, so
    they agree to half a unit of the last printed digit.
    """
    common = dict(freq="D", freq_multiplier=7, monetary_value_col="amount")
    if via == "rfm_summary":
        ours = _quiet(
            rfm_summary,
            cdnow_sample_transactions,
            "master_id",
            observation_period_end=CDNOW_CALIBRATION_END,
            **common,
        )
    else:
        cal = calibration_holdout_summary(
            cdnow_sample_transactions,
            "master_id",
            calibration_period_end=CDNOW_CALIBRATION_END,
            observation_period_end=CDNOW_OBSERVATION_END,
            **common,
        )
        ours = cal[["frequency_cal", "recency_cal", "T_cal", "monetary_value_cal"]]
        ours.columns = ["frequency", "recency", "T", "monetary_value"]
    ours.index = ours.index.astype(int)
    published = load_cdnow_summary(with_spend=True)
    plain = load_cdnow_summary()
    assert len(ours) == 2357
    assert int((ours["frequency"] > 0).sum()) == 946
    np.testing.assert_array_equal(ours.index, published.index)
    np.testing.assert_array_equal(ours["frequency"], published["frequency"])
    np.testing.assert_array_equal(ours["frequency"], plain["frequency"])
    half_cent = 0.005 + 1e-9
    for col in ["recency", "T", "monetary_value"]:
        np.testing.assert_allclose(ours[col], published[col], rtol=0, atol=half_cent)
    for col in ["recency", "T"]:
        np.testing.assert_allclose(ours[col], plain[col], rtol=0, atol=half_cent)


# ----------------------------------------------------------------------------- generated logs


@pytest.mark.parametrize("freq", ["D", "W", "h"])
@pytest.mark.parametrize("include_first", [False, True])
def test_rfm_matches_lifetimes_on_generated_log(freq, include_first):
    log = _generated_log()
    assert log.duplicated(["customer_id"]).any()
    for end in [None, "2023-07-15 13:00"]:
        kwargs = dict(
            monetary_value_col="amount",
            observation_period_end=end,
            freq=freq,
            include_first_transaction=include_first,
        )
        expected = _lifetimes(
            summary_data_from_transaction_data, log, "customer_id", "timestamp", **kwargs
        )
        actual = _quiet(rfm_summary, log, **kwargs)
        _assert_same(expected, actual)
    # the log has single purchasers and same-day repeats that must be merged
    assert (actual["frequency"] == int(include_first)).any()
    days = log["timestamp"].dt.floor("D")
    assert log.assign(d=days).duplicated(["customer_id", "d"]).any()


@pytest.mark.parametrize("freq", ["D", "W"])
def test_calibration_holdout_matches_lifetimes_on_generated_log(freq):
    log = _generated_log(seed=11)
    kwargs = dict(
        calibration_period_end="2023-06-01 12:00",
        observation_period_end="2023-11-01",
        freq=freq,
        monetary_value_col="amount",
    )
    expected = _lifetimes(calibration_and_holdout_data, log, "customer_id", "timestamp", **kwargs)
    actual = _quiet(calibration_holdout_summary, log, **kwargs)
    _assert_same(expected, actual)
    ts = log["timestamp"]
    cal_end, obs_end = pd.Timestamp("2023-06-01 12:00"), pd.Timestamp("2023-11-01")
    n_new = len(
        set(log.loc[(ts > cal_end) & (ts <= obs_end), "customer_id"])
        - set(log.loc[ts <= cal_end, "customer_id"])
    )
    assert actual.attrs["n_customers_holdout_only"] == n_new > 0


@pytest.mark.parametrize(
    "make_ids",
    [
        pytest.param(lambda c: c.astype(np.int64), id="int64-dense"),
        pytest.param(lambda c: c.astype(np.int64) * 10**12 - 5, id="int64-sparse"),
        pytest.param(lambda c: c.astype(np.uint32) + 7, id="uint32"),
        pytest.param(lambda c: pd.Series([f"é{i}" for i in c], dtype=object), id="object"),
        pytest.param(lambda c: pd.Series([f"{i}" for i in c], dtype="string[pyarrow]"), id="arrow"),
        pytest.param(lambda c: pd.Series([f"{i}" for i in c], dtype="string[python]"), id="py-str"),
        pytest.param(lambda c: c.astype(np.float64) / 4, id="float"),
        pytest.param(lambda c: pd.Categorical([f"k{i}" for i in c]), id="categorical"),
        # equal-length strings: dense keys, sparse keys (factorised), too wide (hashed)
        pytest.param(lambda c: pd.Series([f"C{i:07d}" for i in c], dtype="str"), id="fixed"),
        pytest.param(
            lambda c: pd.Series([f"é{i * 7919:011d}" for i in c], dtype="str"), id="fixed-sparse"
        ),
        pytest.param(
            lambda c: pd.Series([f"{(i * 2654435761) ** 3:040x}" for i in c], dtype="str"),
            id="fixed-wide",
        ),
        # real-world ids: random 64-bit integers (hashed, then the distinct ids sorted), UUIDs
        pytest.param(
            lambda c: pd.Series(
                np.random.default_rng(5).integers(-(2**63), 2**63 - 1, c.max() + 1)[c]
            ),
            id="int64-random",
        ),
        pytest.param(
            lambda c: pd.Series(
                [
                    str(uuid.UUID(int=int(i) * 0x9E3779B97F4A7C15F39CC0605CEDC835 % 2**128))
                    for i in c
                ],
                dtype="str",
            ),
            id="uuid",
        ),
    ],
)
def test_customer_id_types_match_lifetimes(make_ids):
    log = _generated_log(seed=3, n_customers=150)
    codes = pd.factorize(log["customer_id"])[0]
    log["customer_id"] = make_ids(codes)
    expected = _lifetimes(
        summary_data_from_transaction_data, log, "customer_id", "timestamp", "amount"
    )
    actual = rfm_summary(log, monetary_value_col="amount")
    _assert_same(expected, actual)
    assert actual.index.dtype == expected.index.dtype


@pytest.mark.parametrize("probe_rows", [1, 4096])
def test_uuid_ids_leave_the_fixed_width_path_early(monkeypatch, probe_rows):
    # UUIDs' key space is far too large for the fixed-width path: it gives up after the
    # probe rows, or after the first columns whose spans overflow it (not all 36 columns),
    # and the IDs are hashed instead, with the same summary as lifetimes. (rfm_summary
    # reads canonical UUIDs by sorting, tests/features/test_rfm_sorted.py; the hashing
    # path, which calibration_holdout_summary and that path's fallback take, is forced.)
    monkeypatch.setattr(rfm_module, "sparse_ids", lambda ids: None)
    monkeypatch.setattr(_rfm_kernels, "_PROBE_ROWS", probe_rows)
    spans_checked: list[int] = []
    key_space = _rfm_kernels._key_space

    def counted(span):
        spans_checked.append(len(span))
        return key_space(span)

    monkeypatch.setattr(_rfm_kernels, "_key_space", counted)
    log = _generated_log(seed=4, n_customers=80)
    codes = pd.factorize(log["customer_id"])[0]
    rng = np.random.default_rng(11)
    ids = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(codes.max() + 1)]
    log["customer_id"] = pd.Series(ids, dtype="str").take(codes).reset_index(drop=True)
    expected = _lifetimes(
        summary_data_from_transaction_data, log, "customer_id", "timestamp", "amount"
    )
    actual = rfm_summary(log, monetary_value_col="amount")
    _assert_same(expected, actual)
    assert spans_checked[0] == 36  # the probe
    assert len(spans_checked) == (1 if probe_rows > len(log) else 1 + max(spans_checked[1:]))
    assert max(spans_checked[1:], default=0) < 20


@pytest.mark.parametrize("collide", [False, True])
def test_hashed_fixed_width_ids_are_verified_exactly(monkeypatch, collide):
    # UUIDs are coded by a 64-bit hash of their bytes; a hash shared by two IDs must not
    # merge two customers: every row is checked against its code's row and, on a
    # collision, the strings themselves are hashed (same summary as lifetimes either way).
    # The hashing path is forced, as in the test above.
    monkeypatch.setattr(rfm_module, "sparse_ids", lambda ids: None)
    word_hash = _rfm_kernels._word_hash
    calls: list[int] = []

    def spied(words):
        calls.append(len(words))
        h = word_hash(words)
        return h % np.uint64(7) if collide else h  # 7 hash values for ~60 customers

    monkeypatch.setattr(_rfm_kernels, "_word_hash", spied)
    by_words = _rfm_kernels._encode_by_words
    results: list[object] = []
    monkeypatch.setattr(
        _rfm_kernels,
        "_encode_by_words",
        lambda *a: results.append(by_words(*a)) or results[-1],
    )
    log = _generated_log(seed=6, n_customers=60)
    codes = pd.factorize(log["customer_id"])[0]
    rng = np.random.default_rng(12)
    ids = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(codes.max() + 1)]
    log["customer_id"] = pd.Series(ids, dtype="str").take(codes).reset_index(drop=True)
    expected = _lifetimes(
        summary_data_from_transaction_data, log, "customer_id", "timestamp", "amount"
    )
    _assert_same(expected, rfm_summary(log, monetary_value_col="amount"))
    assert calls == [len(log)]
    assert (results[0] is None) == collide


def test_string_timestamps_with_format_match_lifetimes(cdnow_sample_transactions):
    log = cdnow_sample_transactions.assign(
        timestamp=cdnow_sample_transactions["timestamp"].dt.strftime("%d/%m/%Y")
    )
    kwargs = dict(datetime_format="%d/%m/%Y", observation_period_end="30/09/1997", freq="W")
    expected = _lifetimes(
        summary_data_from_transaction_data, log, "customer_id", "timestamp", **kwargs
    )
    _assert_same(expected, _quiet(rfm_summary, log, **kwargs))


def test_timezone_aware_timestamps_use_local_wall_clock():
    log = _generated_log(seed=5, n_customers=60)
    aware = log.assign(timestamp=log["timestamp"].dt.tz_localize("America/New_York"))
    expected = _quiet(rfm_summary, log, freq="D", observation_period_end="2023-08-01 10:00")
    end = pd.Timestamp("2023-08-01 10:00", tz="America/New_York").tz_convert("UTC")
    with pytest.warns(RowsExcludedWarning):
        actual = rfm_summary(aware, freq="D", observation_period_end=end)
    pd.testing.assert_frame_equal(expected, actual)


# ---------------------------------------------------------------- hypothesis vs lifetimes


@st.composite
def small_logs(draw):
    n = draw(st.integers(1, 25))
    cust = draw(st.lists(st.sampled_from(["a", "b", "c", "d", "zz"]), min_size=n, max_size=n))
    minutes = draw(st.lists(st.integers(0, 60 * 24 * 40), min_size=n, max_size=n))
    cents = draw(st.lists(st.integers(1, 50_000), min_size=n, max_size=n))
    ts = np.datetime64("2024-02-20T00:00", "m") + np.asarray(minutes).astype("timedelta64[m]")
    return pd.DataFrame(
        {
            "customer_id": cust,
            "timestamp": ts.astype("datetime64[us]"),
            "amount": np.asarray(cents) / 100,
        }
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log=small_logs(),
    freq=st.sampled_from(["D", "W", "h"]),
    end_minute=st.none() | st.integers(0, 60 * 24 * 40),
    include_first=st.booleans(),
    multiplier=st.sampled_from([1, 7]),
)
def test_rfm_property_matches_lifetimes(log, freq, end_minute, include_first, multiplier):
    end = None
    if end_minute is not None:
        end = pd.Timestamp("2024-02-20") + pd.Timedelta(minutes=end_minute)
    kwargs = dict(
        monetary_value_col="amount",
        observation_period_end=end,
        freq=freq,
        freq_multiplier=multiplier,
        include_first_transaction=include_first,
    )
    ends = log["timestamp"].dt.to_period(freq)
    if end is not None and (ends > end.to_period(freq)).all():
        with pytest.raises(DataValidationError, match=r"all .* after observation_period_end"):
            _quiet(rfm_summary, log, **kwargs)
        return
    expected = _lifetimes(
        summary_data_from_transaction_data, log, "customer_id", "timestamp", **kwargs
    )
    actual = _quiet(rfm_summary, log, **kwargs)
    _assert_same(expected, actual)
    assert (actual["recency"] <= actual["T"]).all()
    assert ((actual["frequency"] > 0) | (actual["recency"] == 0)).all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log=small_logs(),
    freq=st.sampled_from(["D", "W", "h"]),
    cal_minute=st.integers(0, 60 * 24 * 40),
    hold_minutes=st.integers(1, 60 * 24 * 20),
)
def test_calibration_holdout_property_matches_lifetimes(log, freq, cal_minute, hold_minutes):
    cal = pd.Timestamp("2024-02-20") + pd.Timedelta(minutes=cal_minute)
    obs = cal + pd.Timedelta(minutes=hold_minutes)
    kwargs = dict(
        calibration_period_end=cal,
        observation_period_end=obs,
        freq=freq,
        monetary_value_col="amount",
    )
    ts = log["timestamp"]
    if not (ts <= cal).any() or not ((ts > cal) & (ts <= obs)).any():
        with pytest.raises(DataValidationError, match="no transaction"):
            _quiet(calibration_holdout_summary, log, **kwargs)
        return
    expected = _lifetimes(calibration_and_holdout_data, log, "customer_id", "timestamp", **kwargs)
    actual = _quiet(calibration_holdout_summary, log, **kwargs)
    _assert_same(expected, actual)


# ----------------------------------------------------------------------------- Period semantics


@pytest.mark.parametrize(
    "freq", ["D", "W", "W-MON", "W-WED", "M", "Q", "Q-NOV", "Y", "2D", "h", "min", "s", "3h"]
)
@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_period_ordinals_equal_pandas_to_period(freq, unit):
    rng = np.random.default_rng(0)
    seconds = rng.integers(-40 * 365 * 86400, 60 * 365 * 86400, 5000)  # 1930 .. 2030
    values = np.asarray(seconds.astype("datetime64[s]"), dtype=f"datetime64[{unit}]")
    values = values + rng.integers(0, 1000, 5000).astype(f"timedelta64[{unit}]")
    expected = pd.DatetimeIndex(values).to_period(freq).asi8
    np.testing.assert_array_equal(period_ordinals(values, pd.PeriodDtype(freq)), expected)


def test_monthly_summary_counts_calendar_months():
    log = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b"],
            "timestamp": pd.to_datetime(
                ["2024-01-31", "2024-02-01", "2024-02-29", "2024-05-02", "2024-03-15"]
            ),
            "amount": [10.0, 5.0, 7.0, 30.0, 4.0],
        }
    )
    out = rfm_summary(
        log, monetary_value_col="amount", freq="M", observation_period_end="2024-06-30"
    )
    # a: months Jan, Feb (5 + 7 merged), May -> 2 repeat periods, mean (12 + 30) / 2
    assert out.loc["a"].tolist() == [2.0, 4.0, 5.0, 21.0]
    assert out.loc["b"].tolist() == [0.0, 0.0, 3.0, 0.0]


# ----------------------------------------------------------------------------- bad input


def _log() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-03"]),
            "amount": [1.0, 2.0, 3.0],
        }
    )


@pytest.mark.parametrize(
    ("change", "kwargs", "match"),
    [
        (lambda d: d.drop(columns="timestamp"), {}, "column 'timestamp': missing"),
        (lambda d: d, {"customer_id_col": "user"}, "column 'user': missing"),
        (lambda d: d, {"monetary_value_col": "spend"}, "column 'spend': missing"),
        (lambda d: d.iloc[:0], {}, "transactions are empty"),
        (lambda d: d.assign(customer_id=["a", None, "b"]), {}, "'customer_id': 1 row is missing"),
        (
            lambda d: d.assign(customer_id=pd.Series(["a", None, None], dtype="str")),
            {},
            "'customer_id': 2 rows are missing",
        ),
        (lambda d: d.assign(customer_id=[1.0, np.nan, 2.0]), {}, "'customer_id': 1 row is miss"),
        (
            lambda d: d.assign(customer_id=["a", 1, "b"]),
            {},
            "'customer_id': customer IDs mix types",
        ),
        (
            lambda d: d.assign(timestamp=["2024-01-01", "yesterday", "2024-01-03"]),
            {},
            "'timestamp': 1 row cannot be parsed as timestamps.*'yesterday'",
        ),
        (
            lambda d: d.assign(timestamp=pd.to_datetime(["2024-01-01", None, "2024-01-03"])),
            {},
            "'timestamp': 1 row is missing",
        ),
        (
            lambda d: d.assign(amount=[1.0, np.nan, 3.0]),
            {"monetary_value_col": "amount"},
            "'amount': 1 row is missing, infinite or not numeric",
        ),
        (
            lambda d: d.assign(amount=["1", "x", "3"]),
            {"monetary_value_col": "amount"},
            "'amount': are not numeric",
        ),
        (lambda d: d, {"freq": "fortnight"}, "freq='fortnight' is not a pandas period"),
        (lambda d: d, {"freq_multiplier": 0}, "freq_multiplier must be a positive number"),
        (lambda d: d, {"observation_period_end": "soon"}, "observation_period_end='soon'"),
        (
            lambda d: d,
            {"observation_period_end": "2023-12-01"},
            "'timestamp': all 3 transactions are after observation_period_end",
        ),
    ],
)
def test_rfm_bad_input_raises(change, kwargs, match):
    with pytest.raises(DataValidationError, match=match):
        rfm_summary(change(_log()), **kwargs)


def test_rfm_rejects_non_frame():
    with pytest.raises(
        DataValidationError, match="expected the transactions as a pandas DataFrame"
    ):
        rfm_summary([("a", "2024-01-01")])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "calibration_period_end is required"),
        (
            {"calibration_period_end": "2024-01-05", "observation_period_end": "2024-01-04"},
            "must be before observation_period_end",
        ),
        (
            {"calibration_period_end": "2024-01-05", "observation_period_end": "2024-01-05"},
            "must be before observation_period_end",
        ),
        ({"calibration_period_end": "2023-12-01"}, "no transaction on or before calibration"),
        (
            {"calibration_period_end": "2024-01-05", "observation_period_end": "2024-03-01"},
            "the holdout period is empty",
        ),
    ],
)
def test_calibration_holdout_bad_input_raises(kwargs, match):
    with pytest.raises(DataValidationError, match=match):
        calibration_holdout_summary(_log(), **kwargs)


def test_rows_after_observation_end_are_counted_and_reported():
    log = _log()
    with pytest.warns(RowsExcludedWarning, match="1 transaction in periods after"):
        out = rfm_summary(log, observation_period_end="2024-01-04")
    assert out.attrs["n_rows_after_observation_end"] == 1
    assert out.loc["a"].tolist() == [0.0, 0.0, 3.0]
    # the same-period row stays: periods, not timestamps, are compared (as in lifetimes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same_day = rfm_summary(log, observation_period_end="2024-01-05 00:00")
    assert same_day.attrs["n_rows_after_observation_end"] == 0


def test_errors_are_value_errors():
    with pytest.raises(ValueError, match="missing"):
        rfm_summary(_log().drop(columns="customer_id"))


@pytest.mark.slow
def test_benchmark_script_agrees_with_lifetimes():
    """benchmarks/bench_rfm.py at a small size: both implementations run and agree."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_rfm.py"
    done = subprocess.run(
        [sys.executable, str(script), "--sizes", "20k", "--repeat", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(" yes") == 2
