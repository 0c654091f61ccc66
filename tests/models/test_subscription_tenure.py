"""Spells at a cut-off from the subscriptions table: hand cases and a brute-force calendar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvml.exceptions import DataValidationError
from clvml.models.subscription.tenure import spells_at


def _subs(rows: list[tuple[str, str | None, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(len(rows))],
            "start": pd.to_datetime([r[0] for r in rows]),
            "end": pd.to_datetime([r[1] for r in rows]),
            "period": [r[2] for r in rows],
        }
    )


def test_hand_cases() -> None:
    subs = _subs(
        [
            ("2024-01-15", None, "month"),  # billed 15 Jan..15 Jun: 6 billings, active
            ("2024-01-15", "2024-03-15", "month"),  # cancelled on its 3rd billing date: paid 2
            ("2024-01-15", "2024-03-14", "month"),  # cancelled during period 2: paid 2
            ("2024-01-15", "2024-03-16", "month"),  # the 3rd billing was paid: period 3
            ("2024-01-15", "2024-01-15", "month"),  # cancelled at once: still paid 1
            ("2022-06-30", None, "year"),  # billed 30 Jun 2022 and 2023 (2024 to come): active
            ("2024-05-20", "2024-07-01", "month"),  # ends after the cut-off: active
            ("2024-07-01", None, "month"),  # starts after the cut-off: left out
            ("2024-06-18", None, "month"),  # started on the cut-off day: 1 billing
        ]
    )
    out = spells_at(subs, "2024-06-18")
    assert out["customer_id"].tolist() == [f"c{i}" for i in (0, 1, 2, 3, 4, 5, 6, 8)]
    assert out["duration"].tolist() == [5, 2, 2, 3, 1, 1, 0, 0]
    assert out["censored"].tolist() == [True, False, False, False, False, True, True, True]
    assert out["tenure"].tolist() == [6, 2, 2, 3, 1, 2, 1, 1]


def test_month_ends_are_clipped() -> None:
    subs = _subs([("2023-01-31", None, "month"), ("2024-02-29", None, "year")])
    # 31 Jan 2023 -> 28 Feb, 31 Mar, 30 Apr: on 30 Apr the 4th billing is made
    assert spells_at(subs, "2023-04-30")["tenure"].tolist() == [4]
    assert spells_at(subs, "2023-04-29")["tenure"].tolist() == [3]
    # 25 months after 31 Jan 2023 is 28 Feb 2025; 29 Feb 2024 yearly -> 28 Feb 2025
    assert spells_at(subs, "2025-02-28")["tenure"].tolist() == [26, 2]


def test_matches_a_brute_force_calendar() -> None:
    rng = np.random.default_rng(0)
    n = 300
    start = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), unit="D")
    length = pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    end = pd.Series(start + length).where(rng.random(n) < 0.6)
    period = np.where(rng.random(n) < 0.8, "month", "year")
    subs = pd.DataFrame(
        {"customer_id": np.arange(n).astype(str), "start": start, "end": end, "period": period}
    )
    as_of = pd.Timestamp("2023-06-30")
    got = spells_at(subs, as_of).set_index("customer_id")
    for row in subs.itertuples():
        if row.start > as_of:
            assert row.customer_id not in got.index
            continue
        step = pd.DateOffset(months=1 if row.period == "month" else 12)
        bills, k = [], 0
        while row.start + k * step <= as_of:
            bills.append(row.start + k * step)
            k += 1
        cancelled = pd.notna(row.end) and row.end <= as_of
        if cancelled:
            paid = max(1, sum(b < row.end for b in bills))
            expected = (paid, False)
        else:
            expected = (len(bills) - 1, True)
        g = got.loc[row.customer_id]
        assert (g["duration"], g["censored"]) == expected, row


def test_bad_period_and_missing_column_are_refused() -> None:
    subs = _subs([("2024-01-15", None, "week")])
    with pytest.raises(DataValidationError, match="column 'period': 1 row must be month or year"):
        spells_at(subs, "2024-06-30")
    with pytest.raises(DataValidationError, match="column 'start'"):
        spells_at(subs.drop(columns="start"), "2024-06-30")
