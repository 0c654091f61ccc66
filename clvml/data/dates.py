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
import re

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError

__all__ = ["ISO_FORM", "as_day", "iso_date"]

#: What a date on the command line or in the config must look like.
ISO_FORM = "an ISO 8601 date YYYY-MM-DD (e.g. 2024-06-30), optionally with a time THH:MM[:SS]"
_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?"
)

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


def iso_date(value: str, *, name: str) -> str:
    """Check that a date typed by a user (a flag, a config value) is ISO 8601; return it.

    ``01/06/2024`` could be the 1st of June or the 6th of January, so anything but the ISO
    form is refused rather than guessed.

    Raises
    ------
    DataValidationError
        Naming the option and the expected form.

    Examples
    --------
    >>> iso_date("2024-06-30", name="--as-of")
    '2024-06-30'
    >>> iso_date("30/06/2024", name="--as-of")
    Traceback (most recent call last):
    ...
    clvml.exceptions.DataValidationError: --as-of='30/06/2024' is not a date in the expected \
form: an ISO 8601 date YYYY-MM-DD (e.g. 2024-06-30), optionally with a time THH:MM[:SS]
    """
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not _ISO.fullmatch(text):
        raise DataValidationError(
            f"{name}={value!r} is not a date in the expected form: {ISO_FORM}"
        )
    as_day(text, name=name)  # a real calendar day (no 2024-02-30)
    return text
