"""The Spark report merge works on structured rule outcomes (no Spark needed).

``clvml.spark._merge._merge`` combines the per-bucket reports that the Spark validation's
buckets produce with ``check_table``. Here the buckets are split by hand in pandas: the
merged report must equal the report of the whole table, and the refund total of
``return_unmatched`` must come from the outcomes' ``total`` field, not from message text.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from clvml.data.contracts import CONTRACTS
from clvml.data.policy import ValidationPolicy
from clvml.data.validation import check_table
from clvml.spark._merge import _merge

NOW = "2024-06-30"
POLICY = ValidationPolicy(returns="net", duplicates="drop", invalid="drop", now=NOW)


def _tx() -> pd.DataFrame:
    rows = [
        ("a", "2024-01-02", 10.0), ("a", "2024-01-02", -4.0),  # netted, reduced
        ("b", "2024-01-03", -7.25),  # unmatched: 7.25
        ("c", "2024-01-04", 3.0), ("c", "2024-01-04", 3.0),  # duplicate
        ("d", "2024-01-05", -1.10), ("d", "2024-01-06", 2.0),  # unmatched: 1.10
        ("e", "2024-01-07", -2.20),  # unmatched: 2.20
        (None, "2024-01-08", 1.0),  # missing id
        ("f", "2099-01-01", 1.0),  # future
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"])


def _payload(bucket: int, frame: pd.DataFrame) -> dict:
    _, report = check_table(frame, "transactions", POLICY)
    return {
        "bucket": bucket,
        "rows_read": report.rows_read,
        "rows_kept": report.rows_kept,
        "outcomes": [
            tuple(getattr(o, f.name) for f in dataclasses.fields(o)) for o in report.outcomes
        ],
        "offsets": {},
    }


def _buckets(tx: pd.DataFrame) -> list[dict]:
    ids = tx["customer_id"]
    parts = [ids.isin(["a", "b"]), ids.isin(["c", "d"]), ids.isin(["e", "f"]) | ids.isna()]
    return [_payload(b, tx[mask]) for b, mask in enumerate(parts)]


def test_merged_buckets_equal_the_whole_table() -> None:
    tx = _tx()
    _, want = check_table(tx, "transactions", POLICY)
    got = _merge(CONTRACTS["transactions"], _buckets(tx), None)
    assert (got.rows_read, got.rows_kept) == (want.rows_read, want.rows_kept)
    key = [(o.rule, o.column, o.n_rows, o.action) for o in got.outcomes]
    assert key == [(o.rule, o.column, o.n_rows, o.action) for o in want.outcomes]
    unmatched = next(o for o in got.outcomes if o.rule == "return_unmatched")
    assert unmatched.total == pytest.approx(7.25 + 1.10 + 2.20)
    assert unmatched.message == next(
        o.message for o in want.outcomes if o.rule == "return_unmatched"
    )
    assert "10.55 in refunds left unnetted" in unmatched.message


def test_the_merge_reads_totals_not_messages() -> None:
    """Bucket messages that say nothing about the total do not change the merged total."""
    payloads = _buckets(_tx())
    for p in payloads:
        p["outcomes"] = [
            (*o[:4], "a message with no number (1,000.00 in refunds left unnetted)", *o[5:])
            if o[0] == "return_unmatched"
            else o
            for o in p["outcomes"]
        ]
    got = _merge(CONTRACTS["transactions"], payloads, None)
    unmatched = next(o for o in got.outcomes if o.rule == "return_unmatched")
    assert unmatched.total == pytest.approx(10.55)
    assert "10.55 in refunds left unnetted" in unmatched.message


def test_outcomes_carry_the_total_they_state() -> None:
    _, report = check_table(_tx(), "transactions", POLICY)
    totals = {o.rule: o.total for o in report.outcomes}
    assert totals["return_unmatched"] == pytest.approx(10.55)
    assert all(t is None for rule, t in totals.items() if rule != "return_unmatched")
