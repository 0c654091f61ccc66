"""Parsers for one column of each contract kind (private to :mod:`clvml.data`).

Each parser takes the column as read and returns the normalised column plus a
list of :class:`Problem` (a rule name, a boolean row mask and a message). The
parsers never raise on bad values and never drop rows; the validation engine
decides what a problem means under the caller's policies.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from clvml.data.contracts import MAX_AMOUNT, MAX_ID_LENGTH, MAX_TEXT_LENGTH
from clvml.exceptions import DataValidationError

__all__ = [
    "Problem",
    "parse_amounts",
    "parse_categories",
    "parse_counts",
    "parse_flags",
    "parse_ids",
    "parse_texts",
    "parse_timestamps",
    "resolve_now",
    "resolve_tz",
]

#: Resolution of every validated timestamp column: covers years 1-9999 and
#: is what pandas >= 3 gives for parsed strings.
TIMESTAMP_DTYPE = "datetime64[us]"

# A time of day followed by a UTC offset or "Z": "10:00Z", "10:00:00.5+01:00", "T1000-0500".
_OFFSET_RE = re.compile(
    r"[T\s]\d{2}(?::?\d{2}){0,2}(?:[.,]\d+)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)\s*$"
)

_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})


@dataclass
class Problem:
    """Rows of one column that break a rule.

    ``row_level`` is False for problems of the column as a whole (e.g. mixed
    time zones), which cannot be fixed by setting rows aside. ``note`` marks rows
    kept with an adjusted value (reported as ``adjusted``, never set aside).
    """

    rule: str
    mask: np.ndarray
    message: str
    row_level: bool = True
    #: A note, not a problem: the rows are kept, adjusted (e.g. a text cut short).
    note: bool = False


def _text(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Values as stripped strings (NA where missing) and the mask of missing values.

    Missing means NA, or text that is empty after stripping white space.
    """
    na = s.isna().to_numpy()
    text = s.astype("str")
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        text = text.str.strip()
        miss = na | (text == "").to_numpy(dtype=bool, na_value=False)
    else:
        miss = na.copy()
    return text.where(~miss), miss


def mixed_time_zones_message(n_offset: int, n_naive: int) -> str:
    """The message of ``mixed_time_zones``: counts of values with and without an offset."""
    return (
        f"mix {n_offset} values with a UTC offset and {n_naive} without; "
        "give every value an offset, or none and pass --tz (tz= in Python)"
    )


def resolve_tz(tz: str) -> str:
    """Check that ``tz`` names an IANA time zone and return it."""
    if tz.upper() == "UTC":
        return "UTC"
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise DataValidationError(
            f"tz={tz!r} is not an IANA time zone name (e.g. 'UTC', 'Europe/Madrid')"
        ) from exc
    return tz


def resolve_now(now: object, tz: str) -> pd.Timestamp:
    """The instant after which timestamps are in the future, as naive UTC.

    ``None`` means the current time; a naive value is read in ``tz`` like the data.
    """
    if now is None:
        return pd.Timestamp.now(tz="UTC").tz_localize(None)
    try:
        ts = pd.Timestamp(now)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(
            f"now={now!r} is not a date or timestamp (use e.g. '2024-01-31')"
        ) from exc
    if ts is pd.NaT:
        raise DataValidationError(f"now={now!r} is not a date or timestamp (use e.g. '2024-01-31')")
    if ts.tzinfo is None:
        ts = ts.tz_localize(tz)
    return ts.tz_convert("UTC").tz_localize(None)


def parse_ids(s: pd.Series) -> tuple[pd.Series, list[Problem]]:
    """Identifiers as strings; whole floats (from a column with gaps) lose their ``.0``.

    A float of 2**53 or more is no exact identifier (many integers share it): those
    rows are ``invalid_id``. Ids longer than :data:`MAX_ID_LENGTH` are ``id_too_long``.
    """
    problems: list[Problem] = []
    inexact = np.zeros(len(s), dtype=bool)
    if pd.api.types.is_float_dtype(s.dtype):
        v = s.to_numpy(dtype=float, na_value=np.nan)
        finite = np.isfinite(v)
        whole = finite & (v == np.round(v))
        if (whole | np.isnan(v)).all():  # integers with gaps: no inf, no fraction
            inexact = whole & (np.abs(v) >= 2.0**53)
            ints = pd.Series(np.where(inexact, np.nan, v), index=s.index).astype("Int64")
            s = ints.astype(object).where(~inexact, s.astype(object))
            msg = "are floats of 2**53 or more, too large to be exact ids; store ids as text"
            problems.append(Problem("invalid_id", inexact, msg))
    elif pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("str"), [
            Problem("invalid_id", np.ones(len(s), bool), "are True/False; expected identifiers")
        ]
    out, miss = _text(s)
    long = (out.str.len() > MAX_ID_LENGTH).to_numpy(dtype=bool, na_value=False)
    msg = "are missing; every row needs a customer id"
    problems.append(Problem("missing_id", miss & ~inexact, msg))
    problems.append(
        Problem(
            "id_too_long",
            long,
            f"are longer than {MAX_ID_LENGTH} characters; expected an identifier",
        )
    )
    return out.astype("str"), problems


def parse_timestamps(s: pd.Series, *, tz: str, fmt: str | None) -> tuple[pd.Series, list[Problem]]:
    """Timestamps as naive UTC ``datetime64[us]``.

    Time-zone-aware values (and strings with a UTC offset) are converted to
    UTC; naive values are read as local time in ``tz`` and then converted.
    Mixing values with and without an offset in one column is a problem, as
    are local times that do not exist or are ambiguous in ``tz`` (DST changes).
    """
    n = len(s)
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        miss = s.isna().to_numpy(copy=True)
        problems = [Problem("missing_timestamp", miss, "are missing")]
        if getattr(s.dtype, "tz", None) is not None:
            out = s.dt.tz_convert("UTC").dt.tz_localize(None).astype(TIMESTAMP_DTYPE)
            return out, problems
        out, nonexistent = _localise(s, tz)
        problems.append(_nonexistent_problem(nonexistent, tz))
        return out, problems
    if fmt and pd.api.types.is_integer_dtype(s.dtype):
        # digits-only dates (19970101) read from a file as integers: read them with the format
        s = s.astype("Int64").astype("string").astype(object)
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        msg = (
            f"are numbers ({s.dtype}), not timestamps; expected ISO 8601 text or datetimes "
            "(convert epoch numbers with pandas.to_datetime(..., unit='s') first)"
        )
        empty = pd.Series(pd.NaT, index=s.index, dtype=TIMESTAMP_DTYPE)
        return empty, [Problem("not_a_timestamp", ~s.isna().to_numpy(), msg)]
    if s.dtype == object:  # datetime objects and strings, possibly mixed
        s = s.map(lambda v: v.isoformat() if isinstance(v, datetime | date) else v)
    text, miss = _text(s)
    has_offset = text.str.contains(_OFFSET_RE, na=False).to_numpy(dtype=bool)
    naive = ~has_offset & ~miss
    problems = [Problem("missing_timestamp", miss, "are missing")]
    if has_offset.any() and naive.any():
        minority = has_offset if has_offset.sum() <= naive.sum() else naive
        problems.append(
            Problem(
                "mixed_time_zones",
                minority,
                mixed_time_zones_message(int(has_offset.sum()), int(naive.sum())),
                row_level=False,
            )
        )
    kw = {"format": fmt or "ISO8601", "errors": "coerce"}
    values = np.full(n, np.datetime64("NaT"), dtype=TIMESTAMP_DTYPE)
    nonexistent = np.zeros(n, bool)
    if has_offset.any():
        aware = pd.to_datetime(text[has_offset], utc=True, **kw)
        values[has_offset] = aware.dt.tz_localize(None).astype(TIMESTAMP_DTYPE).to_numpy()
    if naive.any():
        parsed = pd.to_datetime(text[naive], **kw)
        local, bad_local = _localise(parsed, tz)
        values[naive] = local.to_numpy()
        nonexistent[naive] = bad_local
    problems.append(_nonexistent_problem(nonexistent, tz))
    unparseable = ~miss & np.isnat(values) & ~nonexistent
    expected = (
        f"format {fmt!r}"
        if fmt
        else "ISO 8601 (e.g. '2024-01-31 14:05:00+01:00'); for another layout pass "
        "--timestamp-format (e.g. --timestamp-format %d/%m/%Y)"
    )
    problems.append(Problem("unparseable_timestamp", unparseable, f"cannot be read as {expected}"))
    return pd.Series(values, index=s.index), problems


def _localise(ts: pd.Series, tz: str) -> tuple[pd.Series, np.ndarray]:
    """Naive local times in ``tz`` to naive UTC; also the mask of DST gaps and overlaps."""
    if tz == "UTC":
        return ts.astype(TIMESTAMP_DTYPE), np.zeros(len(ts), bool)
    local = ts.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    bad = local.isna().to_numpy() & ~ts.isna().to_numpy()
    return local.dt.tz_convert("UTC").dt.tz_localize(None).astype(TIMESTAMP_DTYPE), bad


def _nonexistent_problem(mask: np.ndarray, tz: str) -> Problem:
    return Problem(
        "nonexistent_local_time",
        mask,
        f"do not exist or are ambiguous in time zone {tz} (a daylight-saving change); "
        "give these values a UTC offset",
    )


def _numbers(s: pd.Series, *, required: bool) -> tuple[np.ndarray, np.ndarray, list[Problem]]:
    """Values as float64 (NaN where missing or unreadable), the missing mask, the problems."""
    if pd.api.types.is_bool_dtype(s.dtype):
        values, miss = np.full(len(s), np.nan), s.isna().to_numpy()
    elif pd.api.types.is_numeric_dtype(s.dtype):
        values, miss = s.to_numpy(dtype=float, na_value=np.nan), s.isna().to_numpy()
    else:
        text, miss = _text(s)
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    problems = []
    if required:
        problems.append(Problem("missing_value", miss, "are missing; expected a number"))
    bad = ~miss & ~np.isfinite(values)
    problems.append(Problem("not_numeric", bad, "are not finite numbers"))
    return values, miss, problems


def parse_amounts(s: pd.Series, *, required: bool) -> tuple[pd.Series, list[Problem]]:
    """Money as finite float64 of at most :data:`MAX_AMOUNT` in absolute value.

    The sign is checked by the caller's policy. Larger amounts (``1e308``) are
    ``amount_out_of_range``: their sums would overflow to infinity.
    """
    values, _, problems = _numbers(s, required=required)
    with np.errstate(invalid="ignore"):
        huge = np.isfinite(values) & (np.abs(values) > MAX_AMOUNT)
    problems.append(
        Problem(
            "amount_out_of_range",
            huge,
            f"are larger than {MAX_AMOUNT:.0e} in absolute value; expected a money amount",
        )
    )
    return pd.Series(values, index=s.index, dtype="float64"), problems


def parse_counts(s: pd.Series, *, required: bool) -> tuple[pd.Series, list[Problem]]:
    """Whole numbers in [0, 2**63) as int64 (nullable Int64 when an optional column has gaps)."""
    v, _, problems = _numbers(s, required=required)
    ok = np.isfinite(v)
    whole = ok & (v == np.round(v))
    huge = whole & (v >= 2.0**63)  # int64 cannot hold them (``reach = 1e30``)
    problems.append(Problem("not_whole", ok & ~whole, "are not whole numbers"))
    problems.append(Problem("negative_count", ok & (v < 0), "are negative; expected counts >= 0"))
    problems.append(
        Problem("count_out_of_range", huge, "are 2**63 or more; expected counts below 2**63")
    )
    good = whole & (v >= 0) & ~huge
    out = pd.Series(np.where(good, v, np.nan), index=s.index).astype("Int64")
    if not out.isna().any():
        out = out.astype("int64")
    return out, problems


def parse_categories(
    s: pd.Series, *, allowed: tuple[str, ...], required: bool
) -> tuple[pd.Series, list[Problem]]:
    """Lower-cased, stripped labels, checked against ``allowed``."""
    text, miss = _text(s)
    out = text.str.lower()
    unknown = ~miss & ~out.isin(allowed).to_numpy(dtype=bool)
    problems = []
    if required:
        problems.append(Problem("missing_value", miss, "are missing"))
    problems.append(Problem("unknown_category", unknown, f"are not one of {', '.join(allowed)}"))
    return out.astype("str"), problems


def parse_texts(s: pd.Series, *, required: bool) -> tuple[pd.Series, list[Problem]]:
    """Text as ``str``; for required columns, empty means missing.

    Texts longer than :data:`MAX_TEXT_LENGTH` characters are cut to that length
    (``text_truncated``, a note: the rows are kept, adjusted and counted).
    """
    problems = []
    if required:
        text, miss = _text(s)
        out = text.astype("str")
        problems.append(Problem("missing_value", miss, "are missing"))
    else:
        out = s.astype("str").where(s.notna())
    long = (out.str.len() > MAX_TEXT_LENGTH).to_numpy(dtype=bool, na_value=False)
    if long.any():
        out = out.where(~long, out.str.slice(0, MAX_TEXT_LENGTH))
        msg = (
            f"are longer than {MAX_TEXT_LENGTH:,} characters; only their first "
            f"{MAX_TEXT_LENGTH:,} are used"
        )
        problems.append(Problem("text_truncated", long, msg, note=True))
    return out, problems


def parse_flags(s: pd.Series, *, required: bool) -> tuple[pd.Series, list[Problem]]:
    """Booleans from bool, 0/1 or true/false/yes/no text (bool, or ``boolean`` with gaps)."""
    if pd.api.types.is_bool_dtype(s.dtype) and not s.isna().any():
        return s.astype(bool), []
    text, miss = _text(s)
    text = text.str.lower()
    is_true = text.isin(_TRUE).to_numpy(dtype=bool)  # Python and numpy bools read as "true"
    is_false = text.isin(_FALSE).to_numpy(dtype=bool)
    bad = ~miss & ~is_true & ~is_false
    values = pd.array(is_true, dtype="boolean")
    values[miss | bad] = pd.NA
    out = pd.Series(values, index=s.index)
    problems = [Problem("not_a_flag", bad, "are not true/false (or 1/0, yes/no)")]
    if required:
        problems.insert(0, Problem("missing_value", miss, "are missing"))
    if not out.isna().any():
        out = out.astype(bool)
    return out, problems
