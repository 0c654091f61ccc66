"""One rule for turning a cut-off, an ``--as-of`` or an end date into a day.

Every cut-off in clvml is a *day*: a naive :class:`pandas.Timestamp` at midnight, in UTC.
:func:`as_day` is the only place that rule is written; the feature builder, the churn labels,
the impact report, the scoring job, the Spark engine and the CLI all call it, so a value that
one of them accepts is accepted by all of them and a missing or unreadable value fails the
same way everywhere.

Examples
--------
>>> as_day("2024-03-31 17:45", name="cutoff")
Timestamp('2024-03-31 00:00:00')
>>> as_day("2024-03-31T23:30:00-02:00", name="cutoff")  # 01:30 UTC the next day
Timestamp('2024-04-01 00:00:00')
>>> as_day("2024-04-01", name="calibration_end", exclusive=True)  # the day before
Timestamp('2024-03-31 00:00:00')
"""

from __future__ import annotations

import datetime as dt
import numbers

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError

__all__ = ["as_day"]

_EXPECTED = "expected a date such as 2024-03-31, a datetime or a pandas Timestamp"


def as_day(value: object, *, name: str, exclusive: bool = False) -> pd.Timestamp:
    """Turn a date-like value into its day: a naive UTC midnight.

    Parameters
    ----------
    value : str, datetime.date, datetime.datetime, numpy.datetime64, pandas.Timestamp or Period
        The date. A time of day is dropped; a time-zone-aware value is converted to UTC
        first, a naive one is taken as UTC. A period stands for its first instant.
    name : str
        The argument's name as the caller knows it (``"cutoff"``, ``"as_of"``,
        ``"--calibration-end"``), used in the error message.
    exclusive : bool, default False
        When True, ``value`` is an exclusive end (the first instant *not* included, such as
        the generator's ``calibration_end`` midnight) and the day returned is the last day
        before it.

    Returns
    -------
    pandas.Timestamp
        Naive, at midnight, in UTC.

    Raises
    ------
    DataValidationError
        If ``value`` is missing (None, NaN, NaT, an empty string), a number or a boolean, or
        cannot be read as a date. The message names the argument and the value.

    Examples
    --------
    >>> as_day(pd.Timestamp("2024-03-31 08:00", tz="Europe/Madrid"), name="as_of")
    Timestamp('2024-03-31 00:00:00')
    >>> as_day(None, name="cutoff")
    Traceback (most recent call last):
    ...
    clvml.exceptions.DataValidationError: cutoff=None is not a date (expected a date such as \
2024-03-31, a datetime or a pandas Timestamp)
    """
    if isinstance(value, pd.Period):
        value = value.start_time
    if isinstance(value, bool | numbers.Number) and not isinstance(value, np.datetime64):
        # pandas reads a number as nanoseconds since 1970: never what a user meant by a date
        raise _not_a_date(name, value)
    if isinstance(value, str) and not value.strip():
        raise _not_a_date(name, value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:  # OutOfBoundsDatetime is a ValueError
        raise _not_a_date(name, value) from exc
    if ts is pd.NaT or pd.isna(ts):
        raise _not_a_date(name, value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    if exclusive:
        ts = ts - pd.Timedelta(1, "ns")
    return ts.normalize()


def _not_a_date(name: str, value: object) -> DataValidationError:
    return DataValidationError(f"{name}={value!r} is not a date ({_EXPECTED})")
