"""Validation of clvml's inputs against their data contracts.

One public function per kind of input: :func:`validate_transactions`,
:func:`validate_engagement`, :func:`validate_customers`,
:func:`validate_subscriptions` and :func:`validate_rfm_summary`. Each returns a
cleaned frame or raises :class:`clvml.exceptions.DataValidationError` naming the
column, the number of failing rows, why, and an example.

The cleaned frame has the contract's dtypes (``customer_id`` as ``str``,
timestamps as naive UTC ``datetime64[us]``, amounts as ``float64``; see
:mod:`clvml.data.contracts`), keeps columns the contract does not know and the
original index labels of the rows it keeps. Rows are only ever removed under
an explicit policy, and then counted in a :class:`~clvml.data.report.ValidationReport`
(``return_report=True``), never silently.

Policies
--------
returns : {"error", "drop", "net"}, transactions only
    A row with a negative amount is a return or refund. ``"error"`` (default)
    refuses them; ``"drop"`` sets them aside; ``"net"`` subtracts each
    customer's refunds of a UTC calendar day from that customer's purchases of
    the same day, latest purchase first: purchases brought to 0 are set aside,
    partly refunded ones are kept with the reduced amount, refund rows are set
    aside, and refunds with no same-day purchase left to absorb them are set
    aside as unmatched.
duplicates : {"error", "drop", "keep"}
    Rows identical in every column after normalisation. ``"error"`` (default)
    refuses them; ``"drop"`` keeps the first and sets the others aside;
    ``"keep"`` keeps them (e.g. CDNOW, where identical same-day purchases are
    separate orders) and notes them in the report.
invalid : {"error", "drop"}
    Rows breaking a row-level rule (missing id, unparseable or future
    timestamp, non-numeric or negative value, unknown category). ``"error"``
    (default) refuses them; ``"drop"`` sets them aside. Problems of a whole
    column (missing column, mixed time zones) and duplicate customer ids are
    always errors.

Time zones
----------
Every timestamp ends up time-zone naive in UTC. Time-zone-aware values and
strings carrying a UTC offset (``Z``, ``+01:00``) are converted to UTC, so
offsets may differ between rows (daylight saving). Naive values are read as
local time in ``tz`` (default ``"UTC"``) and converted; local times that do not
exist or are ambiguous in ``tz`` are errors. A text column mixing values with
and without an offset is an error (the naive ones cannot be placed). Timestamps
after ``now`` (default: the current time) are errors.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Literal, Unpack, overload

import numpy as np
import pandas as pd

from clvml.data._engine import run_rules
from clvml.data.contracts import CONTRACTS
from clvml.data.policy import (
    Duplicates,
    Invalid,
    PolicyKeywords,
    Returns,
    ValidationPolicy,
    resolve_policy,
)
from clvml.data.report import ValidationReport
from clvml.exceptions import DataValidationError

__all__ = [
    "Duplicates",
    "Invalid",
    "Returns",
    "ValidationPolicy",
    "check_table",
    "validate_customers",
    "validate_engagement",
    "validate_rfm_summary",
    "validate_subscriptions",
    "validate_transactions",
]


def check_table(
    data: pd.DataFrame,
    table: str,
    policy: ValidationPolicy | None = None,
    *,
    source: str | None = None,
    plans: Collection[str] | None = None,
    **keywords: Unpack[PolicyKeywords],
) -> tuple[pd.DataFrame | None, ValidationReport]:
    """Check ``data`` against the contract ``table`` and report every rule that fails.

    Unlike the ``validate_*`` functions, which stop at the first error, this
    runs every rule and never raises for bad data; it is what ``clvml
    validate`` prints.

    Parameters
    ----------
    data : pandas.DataFrame
        The table as read.
    table : {"transactions", "engagement", "customers", "subscriptions"}
        Which contract to check against.
    policy : ValidationPolicy, optional
        What to do with rows that break a rule (default: refuse them; see
        :class:`~clvml.data.policy.ValidationPolicy`; ``returns`` only applies to
        transactions).
    source : str, optional
        Where the data came from, recorded in the report.
    plans : collection of str, optional
        Subscriptions only: the known plans (see :func:`validate_subscriptions`).
    **keywords
        Fields of the policy, as a convenience (``returns="net"``, ...): they build the
        policy, or replace those fields of ``policy``.

    Returns
    -------
    frame : pandas.DataFrame or None
        The cleaned frame, or None when the report has errors.
    report : ValidationReport
        Rows read and kept and every rule that fired, with counts and examples.

    Examples
    --------
    >>> import pandas as pd
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", None], "amount": [5.0, -5.0, 1.0],
    ...                    "timestamp": ["2024-01-02", "2024-01-02", "2024-01-03"]})
    >>> frame, report = check_table(tx, "transactions", returns="net", now="2024-02-01")
    >>> for o in report.outcomes:
    ...     print(o.rule, o.n_rows, o.action)
    missing_id 1 error
    return_netted 1 set aside
    purchase_refunded 1 set aside
    """
    if table not in CONTRACTS:
        raise ValueError(f"table={table!r}; expected one of {', '.join(CONTRACTS)}")
    policy = resolve_policy(policy, **keywords)
    return run_rules(table, data, policy, collect=True, source=source, plans=plans)


_COMMON_PARAMS = """policy : ValidationPolicy, optional
        What to do with rows that break a rule, and how to read time: ``returns``
        (negative amounts; transactions only), ``duplicates`` (rows identical to an
        earlier row), ``invalid`` (rows breaking a row-level
        rule), ``now`` (timestamps after it are errors), ``tz`` (time zone of naive
        timestamps), ``timestamp_format``; see :class:`~clvml.data.policy.ValidationPolicy`
        and the module docstring. Default: refuse every bad row, ``tz="UTC"``, now.
    return_report : bool, default False
        Also return the :class:`~clvml.data.report.ValidationReport`.
    **keywords
        The policy's fields as keywords, a convenience (``duplicates="keep"``, ...): they
        build the policy, or replace those fields of ``policy``."""


def _public(
    table: str,
    data: pd.DataFrame,
    policy: ValidationPolicy | None,
    keywords: PolicyKeywords,
    return_report: bool,
    plans: Collection[str] | None = None,
) -> Any:
    resolved = resolve_policy(policy, **keywords)
    frame, report = run_rules(table, data, resolved, collect=False, plans=plans)
    assert frame is not None  # in raising mode an error never returns
    return (frame, report) if return_report else frame


@overload
def validate_transactions(
    data: pd.DataFrame,
    policy: ValidationPolicy | None = ...,
    *,
    return_report: Literal[False] = ...,
    **keywords: Unpack[PolicyKeywords],
) -> pd.DataFrame: ...
@overload
def validate_transactions(
    data: pd.DataFrame,
    policy: ValidationPolicy | None = ...,
    *,
    return_report: Literal[True],
    **keywords: Unpack[PolicyKeywords],
) -> tuple[pd.DataFrame, ValidationReport]: ...
def validate_transactions(
    data: pd.DataFrame,
    policy: ValidationPolicy | None = None,
    *,
    return_report: bool = False,
    **keywords: Unpack[PolicyKeywords],
) -> pd.DataFrame | tuple[pd.DataFrame, ValidationReport]:
    """Check a transaction log against the transactions contract.

    Parameters
    ----------
    data : pandas.DataFrame
        Columns ``customer_id``, ``timestamp``, ``amount``; optional
        ``order_id``, ``quantity``; other columns pass through.
    {common}

    Returns
    -------
    pandas.DataFrame or (pandas.DataFrame, ValidationReport)
        The cleaned transactions (and the report when ``return_report``).

    Raises
    ------
    DataValidationError
        At the first rule broken: empty input, missing column, missing id,
        missing, unparseable or future timestamp, mixed time zones, missing or
        non-numeric amount, negative amount (``returns="error"``), duplicate
        row (``duplicates="error"``), non-integer or negative quantity.

    Examples
    --------
    >>> from clvml.data.datasets import load_cdnow_sample
    >>> policy = ValidationPolicy(duplicates="keep")  # CDNOW: same-day orders repeat
    >>> tx, report = validate_transactions(load_cdnow_sample(), policy, return_report=True)
    >>> report.rows_read, report.rows_kept, report.outcomes[0].n_rows
    (6919, 6919, 21)
    """
    return _public("transactions", data, policy, keywords, return_report)


validate_transactions.__doc__ = (validate_transactions.__doc__ or "").replace(
    "{common}", _COMMON_PARAMS
)


@overload
def validate_engagement(
    data: pd.DataFrame,
    policy: ValidationPolicy | None = ...,
    *,
    return_report: Literal[False] = ...,
    **keywords: Unpack[PolicyKeywords],
) -> pd.DataFrame: ...
@overload
def validate_engagement(
    data: pd.DataFrame,
    policy: ValidationPolicy | None = ...,
    *,
    return_report: Literal[True],
    **keywords: Unpack[PolicyKeywords],
) -> tuple[pd.DataFrame, ValidationReport]: ...
def validate_engagement(
    data: pd.DataFrame,
    policy: ValidationPolicy | None = None,
    *,
    return_report: bool = False,
    **keywords: Unpack[PolicyKeywords],
) -> pd.DataFrame | tuple[pd.DataFrame, ValidationReport]:
    """Check engagement events against the engagement contract.

    Parameters
    ----------
    data : pandas.DataFrame
        Columns ``customer_id``, ``timestamp``, ``channel``, ``kind``,
        ``direction``; optional ``text``, ``language``, ``reach``,
        ``resolved``. Categories are compared lower-cased and stripped.
    {common}

    Returns
    -------
    pandas.DataFrame or (pandas.DataFrame, ValidationReport)
        The cleaned events (and the report when ``return_report``).

    Raises
    ------
    DataValidationError
        At the first rule broken: empty input, missing column, missing id,
        bad timestamp, unknown channel, kind, direction or language, negative
        or fractional reach, a ``resolved`` value that is not true/false,
        duplicate row (``duplicates="error"``).
    """
    return _public("engagement", data, policy, keywords, return_report)


@overload
def validate_customers(
    data: pd.DataFrame,
    policy: ValidationPolicy | None = ...,
    *,
    return_report: Literal[False] = ...,
    **keywords: Unpack[PolicyKeywords],
) -> pd.DataFrame: ...
@overload
def validate_customers(
    data: pd.DataFrame,
    policy: ValidationPolicy | None = ...,
    *,
    return_report: Literal[True],
    **keywords: Unpack[PolicyKeywords],
) -> tuple[pd.DataFrame, ValidationReport]: ...
def validate_customers(
    data: pd.DataFrame,
    policy: ValidationPolicy | None = None,
    *,
    return_report: bool = False,
    **keywords: Unpack[PolicyKeywords],
) -> pd.DataFrame | tuple[pd.DataFrame, ValidationReport]:
    """Check the customer table against the customers contract.

    Parameters
    ----------
    data : pandas.DataFrame
        Columns ``customer_id`` (unique), ``acquisition_date``,
        ``acquisition_channel``, ``acquisition_cost`` (>= 0); optional
        ``segment``, ``control_group``.
    {common}

    Returns
    -------
    pandas.DataFrame or (pandas.DataFrame, ValidationReport)
        The cleaned customers (and the report when ``return_report``).

    Raises
    ------
    DataValidationError
        At the first rule broken: empty input, missing column, missing id,
        bad acquisition date, missing channel, missing, non-numeric or negative
        acquisition cost, a ``control_group`` value that is not true/false,
        duplicate row (``duplicates="error"``), duplicate customer id.
    """
    return _public("customers", data, policy, keywords, return_report)


@overload
def validate_subscriptions(
    data: pd.DataFrame,
    policy: ValidationPolicy | None = ...,
    *,
    plans: Collection[str] | None = ...,
    return_report: Literal[False] = ...,
    **keywords: Unpack[PolicyKeywords],
) -> pd.DataFrame: ...
@overload
def validate_subscriptions(
    data: pd.DataFrame,
    policy: ValidationPolicy | None = ...,
    *,
    plans: Collection[str] | None = ...,
    return_report: Literal[True],
    **keywords: Unpack[PolicyKeywords],
) -> tuple[pd.DataFrame, ValidationReport]: ...
def validate_subscriptions(
    data: pd.DataFrame,
    policy: ValidationPolicy | None = None,
    *,
    plans: Collection[str] | None = None,
    return_report: bool = False,
    **keywords: Unpack[PolicyKeywords],
) -> pd.DataFrame | tuple[pd.DataFrame, ValidationReport]:
    """Check subscription spells against the subscriptions contract.

    Parameters
    ----------
    data : pandas.DataFrame
        Columns ``customer_id``, ``start``, ``period`` (``month`` or ``year``);
        optional ``end`` (empty while the subscription is active), ``plan``,
        ``price_per_period`` (>= 0). A customer may have several spells (cancelled,
        then back), which must not overlap.
    plans : collection of str, optional
        The known plans: a row whose ``plan`` is another name breaks ``unknown_plan``
        (refused, or set aside under ``invalid="drop"``). Default: any plan name is
        accepted; an empty ``plan`` is always accepted (the column is optional).
    {common}

    Returns
    -------
    pandas.DataFrame or (pandas.DataFrame, ValidationReport)
        The cleaned spells (and the report when ``return_report``): ``start`` and
        ``end`` as naive UTC ``datetime64[us]`` (``NaT`` while active), ``period``
        lower-cased.

    Raises
    ------
    DataValidationError
        At the first rule broken: empty input, missing column, missing id,
        missing or unparseable start, unparseable end, a start or end after now,
        an end before its start (``end_before_start``), an unknown period, a
        negative or non-numeric price, an unknown plan, a spell starting before an
        earlier spell of the same customer has ended (``overlapping_spells``),
        duplicate row (``duplicates="error"``). Under ``invalid="drop"`` the
        row-level ones set the rows aside, counted in the report.

    Examples
    --------
    >>> import pandas as pd
    >>> subs = pd.DataFrame({"customer_id": ["a", "b"], "start": ["2024-01-05", "2024-02-01"],
    ...                      "end": ["2024-03-20", None], "period": ["month", "Month"]})
    >>> validate_subscriptions(subs, now="2024-06-30")[["end", "period"]]
             end period
    0 2024-03-20  month
    1        NaT  month
    >>> bad = subs.assign(end=["2023-12-01", None])
    >>> validate_subscriptions(bad, now="2024-06-30")
    Traceback (most recent call last):
    ...
    clvml.exceptions.DataValidationError: column 'end': 1 row is before start (e.g. '2023-12-01')
    """
    return _public("subscriptions", data, policy, keywords, return_report, plans)


for _f in (validate_engagement, validate_customers, validate_subscriptions):
    _f.__doc__ = (_f.__doc__ or "").replace("{common}", _COMMON_PARAMS)


# --- RFM summaries ---


def _first(values: np.ndarray, mask: np.ndarray) -> object:
    """Return the first value of ``values`` where ``mask`` holds, as a Python scalar."""
    v = values[np.flatnonzero(mask)[0]]
    return v.item() if hasattr(v, "item") else v


def _check(mask: np.ndarray, values: np.ndarray, column: str, message: str) -> None:
    """Raise a DataValidationError when any element of ``mask`` is True."""
    n = int(np.count_nonzero(mask))
    if n:
        raise DataValidationError(message, column=column, n_rows=n, example=_first(values, mask))


def validate_rfm_summary(
    data: pd.DataFrame,
    columns: Sequence[str] = ("frequency", "recency", "T"),
    *,
    monetary_col: str | None = None,
    allow_zero_age: bool = False,
    allow_impossible: bool = False,
) -> pd.DataFrame:
    """Check an RFM summary (one row per customer) for the BTYD models.

    Parameters
    ----------
    data : pandas.DataFrame
        Frame with ``frequency`` (repeat purchases, integer >= 0), ``recency``
        (time of the last purchase since the first, >= 0) and ``T`` (age of the
        customer, >= recency), in one time unit.
    columns : sequence of str, default ("frequency", "recency", "T")
        Names of those three columns in ``data``.
    monetary_col : str, optional
        Also check this column of mean spend per repeat purchase (finite, > 0
        where frequency > 0).
    allow_zero_age : bool, default False
        Accept ``T = 0`` (a customer whose first purchase is at the end of the data;
        the BTYD likelihoods give such a row probability 1, so it adds nothing to a fit).
    allow_impossible : bool, default False
        Accept rows no customer can produce but a prediction grid may hold: frequency 0
        with recency > 0, and frequency > 0 with recency 0 (the models' formulas are
        defined there, and lifetimes answers them). Never for fitting.

    Returns
    -------
    pandas.DataFrame
        The same rows with the checked columns as float64.

    Raises
    ------
    DataValidationError
        Empty input, missing columns, NaN or infinite values, negative
        frequency or recency, non-integer frequency, recency > T, or
        frequency > 0 with recency 0 (a repeat purchase needs time to pass).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"frequency": [2, 0], "recency": [30.43, 0.0], "T": [38.86, 38.86]})
    >>> validate_rfm_summary(df).shape
    (2, 3)
    """
    if not isinstance(data, pd.DataFrame):
        raise DataValidationError(f"expected a pandas DataFrame, got {type(data).__name__}")
    if len(data) == 0:
        raise DataValidationError("the RFM summary is empty: expected at least one customer")
    f_col, r_col, t_col = columns
    wanted = [f_col, r_col, t_col] + ([monetary_col] if monetary_col else [])
    missing = [c for c in wanted if c not in data.columns]
    if missing:
        raise DataValidationError(
            f"missing from the RFM summary (has {list(map(str, data.columns))})",
            column=missing[0],
        )
    out = data.copy()
    for col in wanted:
        try:
            values = pd.to_numeric(out[col], errors="coerce").to_numpy(dtype=float)
        except (TypeError, ValueError) as exc:  # pragma: no cover - to_numeric coerces
            raise DataValidationError(f"expected numbers ({exc})", column=col) from exc
        bad = ~np.isfinite(values)
        _check(
            bad,
            out[col].to_numpy(),
            col,
            "are NaN, infinite or not numeric; expected finite numbers",
        )
        out[col] = values
    f = out[f_col].to_numpy()
    r = out[r_col].to_numpy()
    T = out[t_col].to_numpy()
    _check(f < 0, f, f_col, "are negative; expected repeat-purchase counts >= 0")
    _check(f != np.round(f), f, f_col, "are not whole numbers; expected repeat-purchase counts")
    _check(r < 0, r, r_col, "are negative; expected time since first purchase >= 0")
    if allow_zero_age:
        _check(T < 0, T, t_col, "are negative; expected customer age >= 0")
    else:
        _check(T <= 0, T, t_col, "are <= 0; expected customer age > 0")
    _check(r > T * (1 + 1e-12), r, r_col, f"exceed {t_col}; expected recency <= T")
    if not allow_impossible:
        _check(
            (f > 0) & (r == 0),
            r,
            r_col,
            f"are 0 while {f_col} > 0; a repeat purchase needs recency > 0",
        )
        _check(
            (f == 0) & (r > 0),
            r,
            r_col,
            f"are > 0 while {f_col} == 0; expected recency 0 without repeats",
        )
    if monetary_col:
        m = out[monetary_col].to_numpy()
        _check((f > 0) & (m <= 0), m, monetary_col, "are <= 0 for customers with repeat purchases")
    return out
