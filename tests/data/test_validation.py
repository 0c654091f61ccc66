"""Validation of the three input tables against their data contracts."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvml.data.contracts import CHANNELS, CONTRACTS, DIRECTIONS, KINDS, LANGUAGES
from clvml.data.datasets import load_cdnow_sample
from clvml.data.validation import (
    check_table,
    validate_customers,
    validate_engagement,
    validate_transactions,
)
from clvml.exceptions import DataValidationError

NOW = "2024-12-31"


def tx(**overrides: list) -> pd.DataFrame:
    """Four valid transactions; keyword arguments replace whole columns."""
    data = {
        "customer_id": ["a", "a", "b", "c"],
        "timestamp": ["2024-01-02 10:00", "2024-02-03 11:30", "2024-01-05", "2024-03-01"],
        "amount": [10.0, 20.5, 3.0, 0.0],
    }
    data.update(overrides)
    return pd.DataFrame(data)


def events(**overrides: list) -> pd.DataFrame:
    data = {
        "customer_id": ["a", "a", "b"],
        "timestamp": ["2024-01-02T10:00Z", "2024-01-02T11:00Z", "2024-01-03T09:00Z"],
        "channel": ["twitter", "twitter", "email"],
        "kind": ["complaint", "reply", "email_open"],
        "direction": ["inbound", "outbound", "inbound"],
    }
    data.update(overrides)
    return pd.DataFrame(data)


def customers(**overrides: list) -> pd.DataFrame:
    data = {
        "customer_id": ["a", "b", "c"],
        "acquisition_date": ["2023-12-01", "2023-12-15", "2024-01-01"],
        "acquisition_channel": ["paid_search", "referral", "organic"],
        "acquisition_cost": [12.5, 5.0, 0.0],
    }
    data.update(overrides)
    return pd.DataFrame(data)


# --- transactions: a valid frame is normalised -----------------------------------------


def test_valid_transactions_are_normalised() -> None:
    raw = tx(customer_id=[1, 1, 2, 3]).set_axis([10, 11, 12, 13]).assign(store=["x"] * 4)
    out = validate_transactions(raw, now=NOW)
    assert out["customer_id"].tolist() == ["1", "1", "2", "3"]
    assert pd.api.types.is_string_dtype(out["customer_id"])
    assert out["timestamp"].dtype == "datetime64[us]"
    assert out["amount"].dtype == "float64"
    assert out.index.tolist() == [10, 11, 12, 13]
    assert out["store"].tolist() == ["x"] * 4  # unknown columns pass through
    assert out["timestamp"].iloc[1] == pd.Timestamp("2024-02-03 11:30")


def test_float_ids_from_a_column_with_gaps_keep_integer_text() -> None:
    out = validate_transactions(tx(customer_id=[1.0, 1.0, 20.0, 3.0]), now=NOW)
    assert out["customer_id"].tolist() == ["1", "1", "20", "3"]


def test_aware_timestamps_become_naive_utc_and_offsets_may_differ() -> None:
    stamps = ["2024-01-02T10:00+01:00", "2024-07-02T10:00+02:00", "2024-01-05T00:30Z", None]
    out = validate_transactions(tx(timestamp=[*stamps[:3], "2024-03-01T00:00-05:00"]), now=NOW)
    expected = ["2024-01-02 09:00", "2024-07-02 08:00", "2024-01-05 00:30", "2024-03-01 05:00"]
    assert out["timestamp"].tolist() == [pd.Timestamp(t) for t in expected]
    aware = pd.to_datetime(["2024-01-02 10:00"] * 4).tz_localize("Asia/Tokyo")
    out = validate_transactions(tx(timestamp=aware), now=NOW)
    assert out["timestamp"].iloc[0] == pd.Timestamp("2024-01-02 01:00")
    assert out["timestamp"].dt.tz is None


def test_naive_timestamps_are_read_in_tz() -> None:
    out = validate_transactions(tx(), now=NOW, tz="Europe/Madrid")
    assert out["timestamp"].iloc[0] == pd.Timestamp("2024-01-02 09:00")


def test_cdnow_sample_validates_with_its_same_day_duplicates_kept() -> None:
    raw = load_cdnow_sample()
    out, report = validate_transactions(raw, duplicates="keep", return_report=True)
    assert (report.rows_read, report.rows_kept, len(out)) == (6919, 6919, 6919)
    assert [(o.rule, o.n_rows, o.action) for o in report.outcomes] == [
        ("duplicate_row", 21, "kept")
    ]
    assert int(raw.duplicated().sum()) == 21  # independent count


# --- transactions: each bad input gets its own error ------------------------------------


def test_missing_column() -> None:
    with pytest.raises(DataValidationError, match=r"column 'amount': is missing from transactions"):
        validate_transactions(tx().drop(columns="amount"), now=NOW)


def test_missing_column_names_a_near_miss() -> None:
    with pytest.raises(DataValidationError, match=r"column 'amount'.*found 'Amount': rename it"):
        validate_transactions(tx().rename(columns={"amount": "Amount"}), now=NOW)


def test_repeated_column() -> None:
    raw = pd.concat([tx(), tx()[["amount"]]], axis=1)
    with pytest.raises(
        DataValidationError, match=r"column 'amount': appears 2 times in transactions"
    ):
        validate_transactions(raw, now=NOW)


def test_empty_input() -> None:
    with pytest.raises(DataValidationError, match=r"0 rows the transactions table is empty"):
        validate_transactions(tx().iloc[:0], now=NOW)


def test_not_a_frame() -> None:
    with pytest.raises(DataValidationError, match="expected a pandas DataFrame"):
        validate_transactions([1, 2, 3], now=NOW)  # type: ignore[arg-type]


def test_nan_ids() -> None:
    with pytest.raises(DataValidationError, match=r"column 'customer_id': 2 rows are missing"):
        validate_transactions(tx(customer_id=["a", None, np.nan, "c"]), now=NOW)


def test_blank_ids_count_as_missing() -> None:
    with pytest.raises(DataValidationError, match=r"column 'customer_id': 1 row is missing"):
        validate_transactions(tx(customer_id=["a", "  ", "b", "c"]), now=NOW)


def test_unparseable_timestamps() -> None:
    stamps = ["2024-01-02", "yesterday", "2024-13-45", "2024-03-01"]
    with pytest.raises(
        DataValidationError,
        match=r"column 'timestamp': 2 rows cannot be read as ISO 8601.*'yesterday'",
    ):
        validate_transactions(tx(timestamp=stamps), now=NOW)


def test_timestamp_format_option_reads_other_layouts() -> None:
    stamps = ["02/01/2024", "03/02/2024", "05/01/2024", "01/03/2024"]
    out = validate_transactions(tx(timestamp=stamps), now=NOW, timestamp_format="%d/%m/%Y")
    assert out["timestamp"].iloc[1] == pd.Timestamp("2024-02-03")


def test_missing_timestamps() -> None:
    with pytest.raises(DataValidationError, match=r"column 'timestamp': 1 row is missing"):
        validate_transactions(tx(timestamp=["2024-01-02", None, "2024-01-05", "2024-03-01"]))


def test_future_timestamps() -> None:
    stamps = ["2024-01-02", "2025-01-01 00:00:01", "2031-01-05", "2024-12-31"]
    with pytest.raises(
        DataValidationError, match=r"column 'timestamp': 2 rows are after now \(2024-12-31"
    ):
        validate_transactions(tx(timestamp=stamps), now=NOW)


def test_future_uses_the_current_time_by_default() -> None:
    with pytest.raises(DataValidationError, match=r"column 'timestamp': 1 row is after now"):
        validate_transactions(
            tx(timestamp=["2024-01-02", "2999-01-01", "2024-01-05", "2024-03-01"])
        )


def test_mixed_time_zones() -> None:
    stamps = [
        "2024-01-02T10:00+01:00",
        "2024-01-03 10:00",
        "2024-01-05T10:00Z",
        "2024-01-06T10:00Z",
    ]
    with pytest.raises(
        DataValidationError,
        match=r"column 'timestamp': 1 row mixes 3 values with a UTC offset and 1 without",
    ):
        validate_transactions(tx(timestamp=stamps), now=NOW)


def test_mixed_aware_and_naive_datetime_objects() -> None:
    stamps = [
        pd.Timestamp("2024-01-02 10:00", tz="UTC"),
        pd.Timestamp("2024-01-03 10:00"),
        pd.Timestamp("2024-01-04 10:00"),
        pd.Timestamp("2024-01-05 10:00"),
    ]
    raw = tx(timestamp=pd.Series(stamps, dtype=object))
    with pytest.raises(DataValidationError, match=r"column 'timestamp': 1 row mixes 1 values"):
        validate_transactions(raw, now=NOW)


def test_local_times_skipped_by_daylight_saving() -> None:
    stamps = ["2024-03-31 02:30", "2024-03-31 01:30", "2024-03-31 03:30", "2024-04-01"]
    with pytest.raises(
        DataValidationError,
        match=r"column 'timestamp': 1 row does not exist or is ambiguous in time zone "
        r"Europe/Madrid",
    ):
        validate_transactions(tx(timestamp=stamps), now=NOW, tz="Europe/Madrid")


def test_epoch_numbers_are_not_timestamps() -> None:
    with pytest.raises(DataValidationError, match=r"column 'timestamp': 4 rows are numbers"):
        validate_transactions(tx(timestamp=[1704189600, 1704189601, 1704189602, 1704189603]))


def test_non_numeric_amounts() -> None:
    with pytest.raises(
        DataValidationError, match=r"column 'amount': 2 rows are not finite numbers \(e.g. '\$5'\)"
    ):
        validate_transactions(tx(amount=["10", "$5", "3.5", "1,5"]), now=NOW)


def test_infinite_amounts() -> None:
    with pytest.raises(DataValidationError, match=r"column 'amount': 1 row is not finite"):
        validate_transactions(tx(amount=[10.0, np.inf, 3.0, 1.0]), now=NOW)


def test_missing_amounts() -> None:
    with pytest.raises(DataValidationError, match=r"column 'amount': 1 row is missing"):
        validate_transactions(tx(amount=[10.0, None, 3.0, 1.0]), now=NOW)


def test_negative_amounts_need_a_policy() -> None:
    with pytest.raises(
        DataValidationError,
        match=r"column 'amount': 2 rows are negative \(returns or refunds\); choose a policy",
    ):
        validate_transactions(tx(amount=[10.0, -2.0, -3.0, 1.0]), now=NOW)


def test_exact_duplicate_rows() -> None:
    raw = pd.concat([tx(), tx().iloc[[0, 0, 2]]], ignore_index=True)
    with pytest.raises(DataValidationError, match=r"3 rows are exact duplicates of an earlier row"):
        validate_transactions(raw, now=NOW)


def test_duplicates_are_compared_after_normalisation() -> None:
    raw = tx(
        timestamp=[
            "2024-01-02T10:00Z",
            "2024-01-02T11:00+01:00",
            "2024-01-05T00:00Z",
            "2024-03-01T00:00Z",
        ]
    )
    raw["amount"] = 1.0
    raw["customer_id"] = "a"
    with pytest.raises(DataValidationError, match=r"1 row is exact duplicates"):
        validate_transactions(raw, now=NOW)


def test_negative_quantity() -> None:
    with pytest.raises(DataValidationError, match=r"column 'quantity': 1 row is negative"):
        validate_transactions(tx(quantity=[1, -2, 1, 3]), now=NOW)


def test_fractional_quantity() -> None:
    with pytest.raises(DataValidationError, match=r"column 'quantity': 1 row is not whole"):
        validate_transactions(tx(quantity=[1, 2.5, 1, 3]), now=NOW)


def test_quantity_with_gaps_is_nullable_integer() -> None:
    out = validate_transactions(tx(quantity=[1, None, 2, 3], order_id=[7, None, 9, 10]), now=NOW)
    assert out["quantity"].dtype == "Int64"
    assert out["order_id"].tolist()[0] == "7"


# --- transactions: policies that set rows aside are counted -----------------------------


def test_duplicates_drop_sets_aside_and_counts() -> None:
    raw = pd.concat([tx(), tx().iloc[[0, 0, 2]]], ignore_index=True)
    out, report = validate_transactions(raw, now=NOW, duplicates="drop", return_report=True)
    assert len(out) == 4 and report.rows_kept == 4
    assert report.rows_set_aside == 3
    assert report.rows_read == report.rows_kept + report.rows_set_aside
    assert report.set_aside.index.tolist() == [4, 5, 6]
    assert set(report.set_aside["rule"]) == {"duplicate_row"}


def test_returns_drop_sets_aside_and_counts() -> None:
    out, report = validate_transactions(
        tx(amount=[10.0, -2.0, -3.0, 1.0]), now=NOW, returns="drop", return_report=True
    )
    assert out["amount"].tolist() == [10.0, 1.0]
    assert (report.rows_read, report.rows_kept, report.rows_set_aside) == (4, 2, 2)
    assert report.outcomes[0].rule == "return" and report.outcomes[0].example == -2.0


def test_returns_net_against_same_day_purchases() -> None:
    raw = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "c", "c", "d", "d"],
            "timestamp": [
                "2024-01-02 09:00",  # a: 10, reduced to 8
                "2024-01-02 12:00",  # a: 5, cancelled (latest first)
                "2024-01-02 15:00",  # a: refund of 7, netted
                "2024-01-03 09:00",  # a: next day, untouched
                "2024-01-02 10:00",  # b: refund with no purchase that day
                "2024-01-04 10:00",  # c: 4 ...
                "2024-01-04 18:00",  # c: ... refunded in full
                "2024-01-05 10:00",  # d: 2 ...
                "2024-01-05 11:00",  # d: ... refund of 5 exceeds it
            ],
            "amount": [10.0, 5.0, -7.0, 6.0, -3.0, 4.0, -4.0, 2.0, -5.0],
        }
    )
    out, report = validate_transactions(raw, now=NOW, returns="net", return_report=True)
    assert out.index.tolist() == [0, 3]
    assert out["amount"].tolist() == [8.0, 6.0]
    counts = {o.rule: (o.n_rows, o.action) for o in report.outcomes}
    assert counts == {
        "return_netted": (2, "set aside"),
        "return_unmatched": (2, "set aside"),
        "purchase_refunded": (3, "set aside"),
        "purchase_reduced": (1, "adjusted"),
    }
    assert report.rows_read == report.rows_kept + report.rows_set_aside == 9
    assert "6.00 in refunds left unnetted" in next(
        o.message for o in report.outcomes if o.rule == "return_unmatched"
    )


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from("abc"),
            st.integers(0, 3),  # day
            st.integers(0, 23),  # hour
            st.integers(-20, 30).map(float),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_returns_net_conserves_money_and_counts(rows: list[tuple[str, int, int, float]]) -> None:
    raw = pd.DataFrame(rows, columns=["customer_id", "day", "hour", "amount"])
    raw["timestamp"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(
        raw["day"] * 24 + raw["hour"], unit="h"
    )
    raw["order_id"] = [str(i) for i in range(len(raw))]  # rows are distinct orders
    frame, report = check_table(raw, "transactions", returns="net", now=NOW)
    assert report.rows_read == report.rows_kept + report.rows_set_aside
    if frame is None:  # everything was refunded
        assert [o.rule for o in report.errors] == ["no_rows_left"]
        return
    assert (frame["amount"] >= 0).all()
    # Independent expectation: per customer-day, max(purchases - refunds, 0) where refunds exist.
    g = raw.groupby(["customer_id", "day"])["amount"]
    buys = g.apply(lambda a: a[a >= 0].sum())
    refunds = g.apply(lambda a: -a[a < 0].sum())
    expected = np.where(refunds > 0, np.maximum(buys - refunds, 0.0), buys).sum()
    np.testing.assert_allclose(frame["amount"].sum(), expected, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", " b ", None, "", 7]),
            st.sampled_from(
                ["2024-01-02", "2024-01-02 10:00", "2030-01-01", "soon", None, "2024-02-30"]
            ),
            st.sampled_from([1.0, 0.0, -2.5, "3", "x", None, float("inf")]),
        ),
        min_size=1,
        max_size=25,
    ),
    st.sampled_from(["error", "drop", "net"]),
    st.sampled_from(["drop", "keep"]),
)
def test_set_aside_counts_add_up_and_kept_rows_are_clean(
    rows: list[tuple], returns: str, duplicates: str
) -> None:
    raw = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"], dtype=object)
    frame, report = check_table(
        raw, "transactions", returns=returns, duplicates=duplicates, invalid="drop", now=NOW
    )
    assert report.rows_read == len(raw)
    assert report.rows_read == report.rows_kept + report.rows_set_aside
    assert len(report.set_aside) == report.rows_set_aside
    if frame is None:
        assert returns == "error" or [o.rule for o in report.errors] == ["no_rows_left"]
        return
    assert len(frame) == report.rows_kept
    assert frame["customer_id"].str.strip().ne("").all() and frame["customer_id"].notna().all()
    assert frame["timestamp"].notna().all()
    assert frame["timestamp"].max() <= pd.Timestamp(NOW)
    assert np.isfinite(frame["amount"]).all() and (frame["amount"] >= 0).all()
    assert set(frame.index).isdisjoint(report.set_aside.index)


def test_invalid_drop_sets_aside_bad_rows_and_counts() -> None:
    raw = tx(customer_id=["a", None, "b", "c"], amount=[10.0, 1.0, "x", 2.0])
    out, report = validate_transactions(raw, now=NOW, invalid="drop", return_report=True)
    assert out.index.tolist() == [0, 3]
    assert [(o.rule, o.column, o.n_rows) for o in report.outcomes] == [
        ("missing_id", "customer_id", 1),
        ("not_numeric", "amount", 1),
    ]
    assert report.rows_read == report.rows_kept + report.rows_set_aside


def test_invalid_drop_cannot_fix_mixed_time_zones() -> None:
    stamps = ["2024-01-02T10:00Z", "2024-01-03 10:00", "2024-01-05T10:00Z", "2024-01-06T10:00Z"]
    with pytest.raises(DataValidationError, match=r"column 'timestamp': 1 row mixes"):
        validate_transactions(tx(timestamp=stamps), now=NOW, invalid="drop")


def test_nothing_left_after_setting_rows_aside() -> None:
    with pytest.raises(DataValidationError, match=r"4 rows of 4 set aside; no transactions left"):
        validate_transactions(tx(amount=[-1.0] * 4), now=NOW, returns="drop")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"returns": "ignore"}, r"returns='ignore'; expected one of error, drop, net"),
        ({"duplicates": "first"}, r"duplicates='first'; expected one of error, drop, keep"),
        ({"tz": "Mars/Olympus"}, r"tz='Mars/Olympus' is not an IANA time zone"),
        ({"now": "not a date"}, r"now='not a date' is not a date"),
    ],
)
def test_bad_options_are_value_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_transactions(tx(), **kwargs)


# --- check_table collects everything --------------------------------------------------


def test_check_table_collects_every_rule_and_counts_add_up() -> None:
    raw = pd.DataFrame(
        {
            "customer_id": ["a", None, "b", "b", "c", "c"],
            "timestamp": [
                "2024-01-02",
                "2024-01-03",
                "bad",
                "2024-01-04",
                "2030-01-01",
                "2024-01-04",
            ],
            "amount": [1.0, 2.0, 3.0, -4.0, 5.0, 6.0],
        }
    )
    frame, report = check_table(raw, "transactions", now=NOW, returns="drop")
    assert frame is None and not report.ok
    assert [(o.rule, o.n_rows, o.action) for o in report.outcomes] == [
        ("missing_id", 1, "error"),
        ("unparseable_timestamp", 1, "error"),
        ("future_timestamp", 1, "error"),
        ("return", 1, "set aside"),
    ]
    assert report.rows_read == report.rows_kept + report.rows_set_aside == 6
    with pytest.raises(
        DataValidationError,
        match=r"column 'customer_id': 1 row is missing.*\(table transactions; 2 more rules fail"
        r".*\(e.g. 'row 1'\)",
    ):
        report.raise_for_errors()


def test_check_table_stops_after_structural_errors() -> None:
    frame, report = check_table(pd.DataFrame({"x": [1]}), "customers")
    assert frame is None
    assert [o.column for o in report.errors] == [
        "customer_id",
        "acquisition_date",
        "acquisition_channel",
        "acquisition_cost",
    ]


# --- engagement --------------------------------------------------------------------------


def test_valid_engagement_is_normalised() -> None:
    raw = events(
        channel=[" Twitter", "TWITTER", "email"],
        language=["en", None, "es"],
        reach=[120, None, 3],
        resolved=[None, "yes", None],
        text=["late again", "sorry!", None],
    )
    out = validate_engagement(raw, now=NOW)
    assert out["channel"].tolist() == ["twitter", "twitter", "email"]
    assert out["reach"].dtype == "Int64"
    assert out["resolved"].dtype == "boolean" and out["resolved"].iloc[1]
    assert out["timestamp"].iloc[0] == pd.Timestamp("2024-01-02 10:00")


@pytest.mark.parametrize(
    ("column", "values", "bad"),
    [
        ("channel", ["twitter", "fax", "pigeon"], "fax"),
        ("kind", ["complaint", "applause", "reply"], "applause"),
        ("direction", ["inbound", "sideways", "inbound"], "sideways"),
        ("language", ["en", "fr", "es"], "fr"),
    ],
)
def test_unknown_category_values(column: str, values: list[str], bad: str) -> None:
    n = sum(v not in CONTRACTS["engagement"].column(column).allowed for v in values)
    with pytest.raises(
        DataValidationError, match=rf"column '{column}': {n} (row is|rows are) not one of .*'{bad}'"
    ):
        validate_engagement(events(**{column: values}), now=NOW)


def test_missing_channel() -> None:
    with pytest.raises(DataValidationError, match=r"column 'channel': 1 row is missing"):
        validate_engagement(events(channel=["twitter", None, "email"]), now=NOW)


def test_negative_reach() -> None:
    with pytest.raises(DataValidationError, match=r"column 'reach': 1 row is negative"):
        validate_engagement(events(reach=[10, -1, None]), now=NOW)


@pytest.mark.parametrize(
    "values",
    [
        [True, False, None],
        pd.Series([True, False, None], dtype="boolean"),
        [1.0, 0.0, np.nan],
        [" Yes", "n", ""],
        ["TRUE", "f", None],
    ],
)
def test_resolved_flags_are_read_from_common_spellings(values: list) -> None:
    out = validate_engagement(events(resolved=values), now=NOW)
    assert out["resolved"].dtype == "boolean"
    assert out["resolved"].tolist()[:2] == [True, False] and out["resolved"].isna().tolist()[2]


def test_resolved_not_a_flag() -> None:
    with pytest.raises(DataValidationError, match=r"column 'resolved': 1 row is not true/false"):
        validate_engagement(events(resolved=[None, "maybe", None]), now=NOW)


def test_duplicate_events() -> None:
    raw = pd.concat([events(), events().iloc[[1]]], ignore_index=True)
    with pytest.raises(DataValidationError, match=r"1 row is exact duplicates"):
        validate_engagement(raw, now=NOW)


def test_future_events() -> None:
    stamps = ["2024-01-02T10:00Z", "2025-01-02T11:00Z", "2024-01-03T09:00Z"]
    with pytest.raises(DataValidationError, match=r"column 'timestamp': 1 row is after now"):
        validate_engagement(events(timestamp=stamps), now=NOW)


# --- customers -----------------------------------------------------------------------------


def test_valid_customers_are_normalised() -> None:
    out = validate_customers(customers(control_group=["true", "0", "No"], segment=["x", None, "y"]))
    assert out["control_group"].tolist() == [True, False, False]
    assert out["control_group"].dtype == bool
    assert out["acquisition_date"].dtype == "datetime64[us]"


def test_duplicate_customer_ids() -> None:
    with pytest.raises(
        DataValidationError,
        match=r"column 'customer_id': 2 rows share a customer id with another row.*\(e.g. 'a'\)",
    ):
        validate_customers(customers(customer_id=["a", "b", "a"]), now=NOW)


def test_duplicate_customer_rows_dropped_then_ids_are_unique() -> None:
    raw = pd.concat([customers(), customers().iloc[[0]]], ignore_index=True)
    out, report = validate_customers(raw, now=NOW, duplicates="drop", return_report=True)
    assert out["customer_id"].is_unique and report.rows_set_aside == 1


def test_negative_acquisition_cost() -> None:
    with pytest.raises(
        DataValidationError, match=r"column 'acquisition_cost': 1 row is negative.*-5.0"
    ):
        validate_customers(customers(acquisition_cost=[12.5, -5.0, 0.0]), now=NOW)


def test_missing_acquisition_channel() -> None:
    with pytest.raises(
        DataValidationError, match=r"column 'acquisition_channel': 1 row is missing"
    ):
        validate_customers(customers(acquisition_channel=["paid", "", "organic"]), now=NOW)


def test_future_acquisition_date() -> None:
    with pytest.raises(DataValidationError, match=r"column 'acquisition_date': 1 row is after now"):
        validate_customers(
            customers(acquisition_date=["2023-12-01", "2026-01-01", "2024-01-01"]), now=NOW
        )


def test_control_group_not_a_flag() -> None:
    with pytest.raises(
        DataValidationError, match=r"column 'control_group': 1 row is not true/false"
    ):
        validate_customers(customers(control_group=[True, "perhaps", False]), now=NOW)


# --- the documentation matches the contracts ---------------------------------------------


def test_docs_describe_every_column_and_allowed_value() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "data_contracts.md").read_text()
    for contract in CONTRACTS.values():
        for column in contract.columns:
            assert re.search(rf"`{column.name}`", doc), column.name
    for value in (*CHANNELS, *KINDS, *DIRECTIONS, *LANGUAGES):
        assert f"`{value}`" in doc, value
