"""One date rule (clvml.data.dates.as_day) and the cut-off / as-of entry points using it.

The impact report's cut-off is covered by tests/evaluation/test_social_impact.py.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

from clvml.data.dates import as_day
from clvml.exceptions import DataValidationError

MIDNIGHT = pd.Timestamp("2024-03-31")


@pytest.mark.parametrize(
    "value",
    [
        "2024-03-31",
        "2024-03-31 23:59:59.999",
        dt.date(2024, 3, 31),
        dt.datetime(2024, 3, 31, 12, 30),
        np.datetime64("2024-03-31T06:00"),
        pd.Timestamp("2024-03-31 18:00"),
        pd.Timestamp("2024-03-31 23:30", tz="UTC"),
        pd.Timestamp("2024-04-01 01:30", tz="Europe/Madrid"),  # 23:30 UTC the day before
        "2024-03-31T20:00:00-03:00",  # 23:00 UTC
        pd.Period("2024-03-31", freq="D"),
    ],
)
def test_same_day_whatever_the_spelling(value: object) -> None:
    day = as_day(value, name="cutoff")
    assert day == MIDNIGHT
    assert day.tzinfo is None
    assert day == day.normalize()


def test_aware_values_are_converted_to_utc_before_dropping_the_time() -> None:
    # 23:30 in New York is 04:30 UTC the next day
    assert as_day("2024-03-31T23:30:00-04:00", name="as_of") == pd.Timestamp("2024-04-01")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-04-01", "2024-03-31"),  # exclusive midnight: the day before is the last day
        ("2024-04-01 00:00:00.000001", "2024-04-01"),  # an instant inside a day keeps it
        (pd.Timestamp("2024-04-01 02:00", tz="Europe/Madrid"), "2024-03-31"),  # 00:00 UTC
    ],
)
def test_exclusive_end(value: object, expected: str) -> None:
    assert as_day(value, name="calibration_end", exclusive=True) == pd.Timestamp(expected)


@pytest.mark.parametrize(
    "value",
    [None, pd.NaT, np.nan, float("nan"), "", "   ", "NaT", "not a day", "2024-13-45", 20240331,
     True, np.datetime64("NaT")],
)  # fmt: skip
def test_missing_or_unreadable_values_name_the_argument_and_the_value(value: object) -> None:
    with pytest.raises(DataValidationError, match=r"^as_of=.* is not a date \(expected") as err:
        as_day(value, name="as_of")
    assert repr(value) in str(err.value)
    assert isinstance(err.value, ValueError)


def test_name_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        as_day("2024-03-31", "cutoff")  # type: ignore[misc]


# ---------------------------------------------------------------- every entry point, one rule
def _tx() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "timestamp": pd.to_datetime(["2024-01-02", "2024-02-10", "2024-01-05"]),
            "amount": [10.0, 20.0, 5.0],
        }
    )


def _entry_points() -> dict[str, object]:
    from clvml.features.dataset import build_customer_dataset, customer_features, holdout_targets
    from clvml.models.churn_labels import churn_labels, time_split_training_frames
    from clvml.pipelines.score_inputs import _as_of
    from clvml.scoring.crm import _to_date

    tx = _tx()
    idx = pd.Index(["a", "b"], name="customer_id")
    return {
        "customer_features": lambda v: customer_features(tx, cutoff=v),
        "build_customer_dataset": lambda v: build_customer_dataset(
            tx, cutoff=v, holdout_end="2024-03-01"
        ),
        "holdout_targets": lambda v: holdout_targets(tx, idx, start=v, end="2024-03-01"),
        "churn_labels": lambda v: churn_labels(tx, idx, start="2024-01-01", end=v),
        "time_split_training_frames": lambda v: time_split_training_frames(
            tx, cutoff=v, horizon_weeks=4
        ),
        "scoring as_of": lambda v: _as_of(v, tx),
        "CRM run as_of": lambda v: _to_date(v),
    }


@pytest.mark.parametrize("entry", list(_entry_points()))
@pytest.mark.parametrize("value", ["NaT", "someday", pd.NaT])
def test_every_entry_point_rejects_a_bad_date_the_same_way(entry: str, value: object) -> None:
    call = _entry_points()[entry]
    with pytest.raises(DataValidationError, match=rf"={re.escape(repr(value))} is not a date"):
        call(value)  # type: ignore[operator]


def test_scoring_as_of_defaults_to_the_day_of_the_last_transaction() -> None:
    from clvml.pipelines.score_inputs import _as_of

    tx = _tx()
    tx.loc[1, "timestamp"] = pd.Timestamp("2024-02-10 17:45")
    assert _as_of(None, tx) == pd.Timestamp("2024-02-10")
    assert _as_of("2024-02-10T23:00:00-05:00", tx) == pd.Timestamp("2024-02-11")
