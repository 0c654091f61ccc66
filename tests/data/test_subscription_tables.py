"""Tenure of subscription spells, cohort survival tables and compressed rows (issue #19)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from clvml.data.subscriptions import (
    add_periods,
    cohort_survival,
    compress_spells,
    periods_reached,
    subscription_spells,
    survival_wide,
)
from clvml.data.validation import validate_subscriptions
from clvml.exceptions import DataValidationError
from clvml.models.subscription import ShiftedBetaGeometric, survival_to_spells

#: Fader & Hardie (2007), customers active at the start of years 1-8 of 1,000.
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]


def _cohort(survivors: list[int], start: str, prefix: str) -> pd.DataFrame:
    """One cohort starting on one day with yearly periods, losing the counts given."""
    s = np.asarray(survivors)
    lost = s[:-1] - s[1:]
    t0 = pd.Timestamp(start)
    ends = [
        t0 + pd.DateOffset(years=t - 1, days=100) for t, k in enumerate(lost, 1) for _ in range(k)
    ]
    ends += [pd.NaT] * int(s[-1])
    n = len(ends)
    return pd.DataFrame(
        {
            "customer_id": [f"{prefix}{i}" for i in range(n)],
            "start": [t0] * n,
            "end": ends,
            "period": "year",
            "plan": prefix,
        }
    )


def test_calendar_anniversaries_clip_to_month_end() -> None:
    start = pd.Series(pd.to_datetime(["2024-01-31 09:30", "2023-03-15 00:00", "2024-02-29 00:00"]))
    got = add_periods(start, [1, 13, 1], ["month", "month", "year"])
    assert got.astype(str).tolist() == [
        "2024-02-29 09:30:00",
        "2024-04-15 00:00:00",
        "2025-02-28 00:00:00",
    ]


@pytest.mark.parametrize(
    ("start", "until", "period", "inclusive", "strict"),
    [
        ("2024-01-15", "2024-01-15", "month", 0, 0),
        ("2024-01-15", "2024-02-14", "month", 0, 0),
        ("2024-01-15", "2024-02-15", "month", 1, 0),  # renewal day itself
        ("2024-01-15", "2024-02-16", "month", 1, 1),
        ("2024-01-31", "2024-02-29", "month", 1, 0),  # clipped anniversary
        ("2024-01-31", "2024-03-30", "month", 1, 1),
        ("2024-01-31", "2024-03-31", "month", 2, 1),
        ("2023-03-15", "2024-03-14", "year", 0, 0),
        ("2023-03-15", "2025-03-15", "year", 2, 1),
        ("2023-03-15 10:00", "2023-04-15 09:00", "month", 0, 0),  # time of day counts
    ],
)
def test_renewals_reached(start: str, until: str, period: str, inclusive: int, strict: int) -> None:
    s, u = pd.Series([pd.Timestamp(start)]), pd.Series([pd.Timestamp(until)])
    assert periods_reached(s, u, period, strict=False).tolist() == [inclusive]
    assert periods_reached(s, u, period, strict=True).tolist() == [strict]


def test_renewals_match_a_loop_over_dates() -> None:
    rng = np.random.default_rng(3)
    n = 400
    start = pd.Series(pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), "D"))
    until = start + pd.to_timedelta(rng.integers(0, 1200, n), "D")
    period = np.where(rng.random(n) < 0.3, "year", "month")
    fast = periods_reached(start, until, period, strict=True)
    slow = []
    for s, u, p in zip(start, until, period, strict=True):
        j = 0
        step = pd.DateOffset(years=1) if p == "year" else pd.DateOffset(months=1)
        while s + step * (j + 1) < u:  # DateOffset clips to month end, as add_periods does
            j += 1
        slow.append(j)
    assert fast.tolist() == slow


def test_spell_durations_by_hand() -> None:
    subs = validate_subscriptions(
        pd.DataFrame(
            {
                "customer_id": ["a", "b", "c", "d", "e", "a", "f"],
                "start": ["2024-01-31", "2024-01-10", "2024-02-01", "2024-05-01", "2024-06-01",
                          "2024-04-01", "2024-03-20"],
                "end": ["2024-03-30", None, "2024-02-01", "2024-05-20", None, None,
                        "2024-05-01"],
                "period": ["month"] * 7,
            }
        ),
        now="2024-12-31",
    )  # fmt: skip
    table = subscription_spells(subs, as_of="2024-05-10")
    got = table.spells.set_index("customer_id")[["duration", "censored", "cohort"]]
    # a: renewals 29 Feb (before 30 Mar) -> cancelled in period 2; b: renewed 10 Feb, Mar,
    # Apr, May (10 May = as_of) -> 4 periods survived; c: ended the day it started -> 1;
    # d: ends after as_of -> active on as_of, 0 renewals; e: starts after as_of -> out;
    # a's comeback -> left out (first spells only); f: renewed 20 Apr, cancelled 1 May in
    # period 2, which runs to 20 May: its renewals are not seen yet -> active, 1 survived
    assert got.to_dict("index") == {
        "a": {"duration": 2, "censored": False, "cohort": "2024-01"},
        "b": {"duration": 4, "censored": True, "cohort": "2024-01"},
        "c": {"duration": 1, "censored": False, "cohort": "2024-02"},
        "d": {"duration": 0, "censored": True, "cohort": "2024-05"},
        "f": {"duration": 1, "censored": True, "cohort": "2024-03"},
    }
    assert (table.n_not_started, table.n_later_spells) == (1, 1)
    every = subscription_spells(subs, as_of="2024-05-10", spells="all").spells
    assert len(every) == 6  # a's comeback (1 Apr, one renewal by 10 May) is a spell of its own
    assert every.set_index("start").loc["2024-04-01", ["duration", "censored"]].tolist() == [
        1,
        True,
    ]


def test_cohort_table_by_hand_with_censoring() -> None:
    # one cohort of 6: cancelled in periods 1, 1, 2, 3; active having survived 1 and 3
    spells = pd.DataFrame(
        {
            "cohort": "x",
            "duration": [1, 1, 2, 3, 1, 3],
            "censored": [False, False, False, False, True, True],
        }
    )
    got = cohort_survival(spells)
    # t=1: 6 active, 2 lost, 0 censored -> r = 4/6
    # t=2: 4 active (all but the two lost), lost 1, censored 1 (active one of d=1) -> r=1-1/3
    # t=3: 2 active, lost 1, 0 censored -> r = 1/2
    # t=4: 1 active (the censored d=3), 1 censored, nothing known -> r NaN
    assert got["t"].tolist() == [1, 2, 3, 4]
    assert got["active"].tolist() == [6, 4, 2, 1]
    assert got["lost"].tolist() == [2, 1, 1, 0]
    assert got["censored"].tolist() == [0, 1, 0, 1]
    assert got["customers"].tolist() == [6] * 4
    assert_allclose(got["retention"].to_numpy()[:3], [4 / 6, 2 / 3, 1 / 2])
    assert np.isnan(got["retention"].iloc[3])
    assert_allclose(got["survival"], [4 / 6, 4 / 9, 2 / 9, 2 / 9])


def test_published_cohorts_round_trip_and_refit() -> None:
    subs = pd.concat(
        [_cohort(REGULAR, "2000-01-01", "regular"), _cohort(HIGH_END, "2000-01-01", "high")]
    )
    subs = validate_subscriptions(subs.reset_index(drop=True), now="2010-01-01")
    table = subscription_spells(subs, as_of="2007-01-01", cohort="year")
    curves = cohort_survival(table, by=["plan"])
    wide = survival_wide(curves)
    assert wide.loc["regular"].tolist() == REGULAR
    assert wide.loc["high"].tolist() == HIGH_END
    # the compressed rows are the published survival counts' spells, exactly
    rows = compress_spells(table.spells, by=["plan"])
    regular = rows[rows["plan"] == "regular"].drop(columns="plan").reset_index(drop=True)
    pd.testing.assert_frame_equal(regular, survival_to_spells(REGULAR), check_dtype=False)
    fit = ShiftedBetaGeometric().fit(regular)
    assert round(fit.params_["alpha"], 3) == 0.704 and round(fit.params_["beta"], 3) == 1.182
    # survival without censoring before t equals active(t + 1) / cohort size
    reg = curves[curves["plan"] == "regular"]
    assert_allclose(reg["survival"].to_numpy()[:7], np.asarray(REGULAR[1:]) / 1000)


def test_staggered_starts_are_censored_not_counted_lost() -> None:
    # two cohorts of monthly subscribers with geometric churn; the later months of the
    # newer customers are unseen: KM survival stays close to the truth, naive counts do not
    rng = np.random.default_rng(7)
    n = 20_000
    start = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 365, n), "D")
    life = rng.geometric(0.1, n)  # periods paid
    end = add_periods(pd.Series(start), life - 1, "month") + pd.Timedelta(days=3)
    subs = pd.DataFrame({"customer_id": np.arange(n).astype(str), "start": start, "end": end,
                         "period": "month"})  # fmt: skip
    table = subscription_spells(subs, as_of="2023-01-01", cohort="year")
    curves = cohort_survival(table, by=())
    s = curves["survival"].to_numpy()[:6]
    assert_allclose(s, 0.9 ** np.arange(1, 7), atol=0.01)


def test_segments_and_mixed_periods_never_pool() -> None:
    spells = pd.DataFrame(
        {
            "duration": [1, 2, 1, 2],
            "censored": [False, True, False, False],
            "period": ["month", "month", "year", "year"],
            "plan": ["a", "a", "a", "a"],
        }
    )
    got = cohort_survival(spells, by=["plan"])
    assert got.groupby("period")["customers"].first().to_dict() == {"month": 2, "year": 2}
    assert len(compress_spells(spells)) == 4


def test_bad_arguments_are_one_line_errors() -> None:
    spells = pd.DataFrame({"duration": [1], "censored": [False]})
    with pytest.raises(DataValidationError, match="column 'segment': is not a column"):
        cohort_survival(spells, by=["segment"])
    subs = pd.DataFrame({"customer_id": ["a"], "start": ["2024-01-01"], "period": ["month"]})
    with pytest.raises(DataValidationError, match="cohort='week'"):
        subscription_spells(subs, cohort="week")
    with pytest.raises(DataValidationError, match="column 'period': 1 row is not one of"):
        add_periods(pd.Series(pd.to_datetime(["2024-01-01"])), 1, ["week"])


def test_the_table_of_compressed_rows_is_the_table_of_the_spells() -> None:
    rng = np.random.default_rng(4)
    n = 5_000
    spells = pd.DataFrame(
        {
            "plan": rng.choice(["a", "b"], n),
            "duration": rng.integers(0, 12, n),
            "censored": rng.random(n) < 0.4,
        }
    )
    spells.loc[~spells["censored"] & (spells["duration"] == 0), "duration"] = 1
    direct = cohort_survival(spells, by=["plan"])
    compressed = cohort_survival(compress_spells(spells, by=["plan"]), by=["plan"])
    pd.testing.assert_frame_equal(direct, compressed)
    sizes = direct.groupby("plan")["customers"].first()
    assert sizes.to_dict() == spells["plan"].value_counts().astype(float).to_dict()
