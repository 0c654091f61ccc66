r"""Subscription spells as tenure: spells, cohort survival tables, the models' compressed rows.

A validated ``subscriptions`` table (:func:`clvml.data.validation.validate_subscriptions`)
holds one row per spell: ``start``, ``end`` (``NaT`` while active) and a billing
``period`` (``month`` or ``year``). Tenure is counted in that period, on calendar
anniversaries of ``start``: a spell starting on 31 January renews on 28 (29) February,
31 March, ... (a day the month lacks is its last day).

Tenure as of a day ``as_of``
----------------------------
A spell pays its first period at ``start`` and renewal :math:`j \ge 1` at
:math:`s_j = start + j` periods, if it is still active then.

*Cancelled* (``end <= as_of``)
    ``duration`` = the period in which it was cancelled = 1 + the renewals strictly
    before ``end``, :math:`1 + \#\{j \ge 1 : s_j < end\}` (an end on the start day is
    a one-period spell). ``censored`` is False.
    Only when that period is over on ``as_of`` (:math:`s_{duration} \le as\_of`).
*Active* (no ``end``, ``end > as_of``, or cancelled in the period still running)
    ``duration`` = the renewals seen, :math:`\#\{j \ge 1 : s_j \le as\_of\}`: the
    customer is known to have survived that many periods (0 in the first period).
    ``censored`` is True. A cancellation during the period running on ``as_of`` counts
    as active: the renewals of that period are not seen yet, so counting its
    cancellations but not its renewals would overstate churn (the outcome of a period
    is known for everyone, or for no one, once it is over).
*Not started* (``start > as_of``)
    Left out, and counted (:attr:`SpellTable.n_not_started`).

This is the convention of :mod:`clvml.models.subscription.spells`: a cancelled spell of
duration ``d`` was active at the start of periods ``1..d``; a censored one at the start
of periods ``1..d+1``.

Cohort survival tables
----------------------
:func:`cohort_survival` counts, for each group (acquisition cohort, plan, channel, any
column) and each period of tenure ``t``: ``active`` (known active at the start of
``t``), ``lost`` (cancelled during ``t``), ``censored`` (active at the start of ``t``
and still active on ``as_of``: their outcome of period ``t`` is not known yet), the
retention of period ``t`` among those whose outcome is known,
:math:`r_t = 1 - lost_t / (active_t - censored_t)`, and the survival
:math:`S(t) = \prod_{k \le t} r_k` (Kaplan-Meier; the share of the group still
active at the start of ``t + 1``). When no one is censored before ``t`` (a cohort that
started on one day), :math:`S(t)` is exactly ``active`` at ``t + 1`` over the cohort
size, Fader & Hardie's table. :func:`compress_spells` turns spells into the
``(duration, censored, weight)`` rows the models fit on.

Examples
--------
>>> import pandas as pd
>>> subs = pd.DataFrame({
...     "customer_id": ["a", "b", "c"],
...     "start": pd.to_datetime(["2024-01-31", "2024-01-10", "2024-02-01"]),
...     "end": pd.to_datetime(["2024-03-30", None, "2024-02-01"]),
...     "period": ["month", "month", "month"]})
>>> spells = subscription_spells(subs, as_of="2024-05-10").spells
>>> spells[["customer_id", "duration", "censored"]]
  customer_id  duration  censored
0           a         2     False
1           b         4      True
2           c         1     False
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clvml.data.contracts import PERIODS
from clvml.exceptions import DataValidationError

__all__ = [
    "SpellTable",
    "add_periods",
    "cohort_survival",
    "compress_spells",
    "periods_reached",
    "subscription_spells",
    "survival_wide",
]

#: How ``cohort=`` labels a spell's acquisition cohort: the period of its start.
COHORT_FREQS: dict[str, str] = {"month": "M", "quarter": "Q", "year": "Y"}


def _ts(values: object) -> pd.Series:
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    return pd.to_datetime(s).astype("datetime64[us]")


def add_periods(start: object, n: object, period: str | Sequence[str] | pd.Series) -> pd.Series:
    """``start`` plus ``n`` calendar months or years, a missing day clipped to month end.

    Parameters
    ----------
    start : array-like of datetime
        The anchors (time of day kept).
    n : int or array-like of int
        Periods to add (>= 0).
    period : {"month", "year"} or array-like of them
        One period for all rows, or one per row.

    Returns
    -------
    pandas.Series
        ``datetime64[us]``, on the index of ``start`` when it is a Series.

    Examples
    --------
    >>> add_periods(pd.Series(pd.to_datetime(["2024-01-31", "2024-02-29"])), [1, 1],
    ...             ["month", "year"]).dt.date.tolist()
    [datetime.date(2024, 2, 29), datetime.date(2025, 2, 28)]
    """
    s = _ts(start)
    k = np.broadcast_to(np.asarray(n, dtype=np.int64), (len(s),))
    months = _months_per_period(period, len(s))
    total = s.dt.year.to_numpy(np.int64) * 12 + s.dt.month.to_numpy(np.int64) - 1 + k * months
    year, month = total // 12, total % 12 + 1
    first = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": 1}))
    day = np.minimum(s.dt.day.to_numpy(np.int64), first.dt.days_in_month.to_numpy(np.int64))
    time_of_day = (s - s.dt.normalize()).to_numpy()
    out = first.to_numpy().astype("datetime64[us]") + (day - 1) * np.timedelta64(1, "D")
    return pd.Series(out + time_of_day, index=s.index, dtype="datetime64[us]")


def _months_per_period(period: str | Sequence[str] | pd.Series, n: int) -> np.ndarray:
    p = pd.Series([period] * n) if isinstance(period, str) else pd.Series(np.asarray(period))
    bad = ~p.isin(PERIODS).to_numpy()
    if bad.any():
        raise DataValidationError(
            f"are not one of {', '.join(PERIODS)}",
            column="period",
            n_rows=int(bad.sum()),
            example=p[bad].iloc[0],
        )
    return np.where(p.to_numpy() == "year", 12, 1).astype(np.int64)


def periods_reached(
    start: object, until: object, period: str | Sequence[str] | pd.Series, *, strict: bool
) -> np.ndarray:
    """Renewals ``j >= 1`` with ``start + j periods <= until`` (``< until`` when ``strict``).

    ``until`` must not be before ``start``. Vectorised: the calendar months between the
    two give the count, corrected by one when the anniversary in ``until``'s month (or
    year) falls after it.
    """
    s, u = _ts(start).reset_index(drop=True), _ts(until).reset_index(drop=True)
    months = _months_per_period(period, len(s))
    gap = (u.dt.year - s.dt.year).to_numpy(np.int64) * 12 + (u.dt.month - s.dt.month).to_numpy(
        np.int64
    )
    m = gap // months
    anniversary = add_periods(s, m, np.where(months == 12, "year", "month")).to_numpy()
    after = anniversary >= u.to_numpy() if strict else anniversary > u.to_numpy()
    return np.maximum(m - after.astype(np.int64), 0)


@dataclass
class SpellTable:
    """Spells as tenure on one day (see the module docstring).

    Attributes
    ----------
    spells : pandas.DataFrame
        The input's columns plus ``cohort`` (the period of ``start``), ``duration``
        (int64) and ``censored`` (bool), one row per spell used.
    as_of : pandas.Timestamp
        The day the tenure is counted on.
    n_not_started : int
        Spells starting after ``as_of``, left out.
    n_later_spells : int
        Spells left out because the customer had an earlier one (``spells="first"``).
    """

    spells: pd.DataFrame
    as_of: pd.Timestamp
    n_not_started: int = 0
    n_later_spells: int = 0


def subscription_spells(
    subscriptions: pd.DataFrame,
    as_of: object = None,
    *,
    spells: str = "first",
    cohort: str = "month",
) -> SpellTable:
    """Each spell's tenure (``duration``, ``censored``) as of ``as_of``.

    Parameters
    ----------
    subscriptions : pandas.DataFrame
        A validated subscriptions table (``customer_id``, ``start``, ``period``,
        optional ``end``).
    as_of : date-like, optional
        The day tenure is counted on; cancellations after it are not known yet.
        Default: the latest ``start`` or ``end`` in the table.
    spells : {"first", "all"}, default "first"
        ``"first"``: each customer's first spell only (their acquisition; a comeback
        is not a new customer of a cohort), the others counted in ``n_later_spells``;
        ``"all"``: every spell, each from its own start.
    cohort : {"month", "quarter", "year"}, default "month"
        The calendar period of ``start`` that labels a spell's acquisition cohort.

    Returns
    -------
    SpellTable

    Raises
    ------
    DataValidationError
        A required column is missing, an unknown ``spells`` or ``cohort``.
    """
    for col in ("customer_id", "start", "period"):
        if col not in subscriptions.columns:
            raise DataValidationError("is missing from the subscriptions", column=col)
    if spells not in ("first", "all"):
        raise DataValidationError(f"spells={spells!r}; expected first or all")
    if cohort not in COHORT_FREQS:
        raise DataValidationError(f"cohort={cohort!r}; expected one of {', '.join(COHORT_FREQS)}")
    frame = subscriptions.copy()
    frame["start"] = _ts(frame["start"])
    end = _ts(frame["end"]) if "end" in frame.columns else pd.Series(pd.NaT, index=frame.index)
    frame["end"] = end.astype("datetime64[us]")
    if as_of is None:
        last = pd.concat([frame["start"], frame["end"]]).max()
        as_of = pd.Timestamp(last)
    day = pd.Timestamp(as_of)
    n_later = 0
    if spells == "first":
        first = frame.sort_values(["customer_id", "start"], kind="stable")
        later = first.duplicated("customer_id", keep="first")
        n_later = int(later.sum())
        frame = frame.loc[first.index[~later.to_numpy()]].sort_index()
    started = (frame["start"] <= day).to_numpy()
    n_not_started = int((~started).sum())
    frame = frame[started]
    ended = frame["end"].notna().to_numpy() & (frame["end"] <= day).to_numpy()
    cancelled = ended.copy()
    duration = np.zeros(len(frame), dtype=np.int64)
    if ended.any():
        sub = frame[ended]
        d = 1 + periods_reached(sub["start"], sub["end"], sub["period"], strict=True)
        # a cancellation in a period not over on as_of: its renewals are not seen yet either
        open_period = (add_periods(sub["start"], d, sub["period"]) > day).to_numpy()
        idx = np.flatnonzero(ended)
        cancelled[idx[open_period]] = False
        duration[idx] = np.where(open_period, d - 1, d)
    if (~ended).any():
        sub = frame[~ended]
        until = pd.Series(day, index=sub.index)
        duration[~ended] = periods_reached(sub["start"], until, sub["period"], strict=False)
    frame["cohort"] = frame["start"].dt.to_period(COHORT_FREQS[cohort]).astype(str)
    frame["duration"] = duration
    frame["censored"] = ~cancelled
    return SpellTable(frame, day, n_not_started, n_later)


def _group_keys(spells: pd.DataFrame, by: Sequence[str]) -> list[str]:
    keys = list(by)
    missing = [c for c in keys if c not in spells.columns]
    if missing:
        raise DataValidationError(
            f"is not a column of the spells (columns: {', '.join(map(str, spells.columns))})",
            column=missing[0],
        )
    if "period" in spells.columns and "period" not in keys and spells["period"].nunique() > 1:
        keys.append("period")  # months and years are different clocks: never pooled
    return keys


def compress_spells(spells: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Distinct ``(duration, censored)`` rows with ``weight`` = how many spells each stands for.

    The form :meth:`ShiftedBetaGeometric.fit <clvml.models.subscription.ShiftedBetaGeometric.fit>`
    and the other retention models fit on; ``by`` keeps groups apart (one fit per group).
    Spells of different billing periods are never pooled (``period`` is added to ``by``).

    Examples
    --------
    >>> s = pd.DataFrame({"duration": [1, 1, 3, 3, 2], "censored": [False, False, True, True,
    ...                   False]})
    >>> compress_spells(s)
       duration  censored  weight
    0         1     False     2.0
    1         2     False     1.0
    2         3      True     2.0
    """
    keys = [*_group_keys(spells, by), "duration", "censored"]
    w = spells["weight"] if "weight" in spells.columns else pd.Series(1.0, index=spells.index)
    out = (
        spells.assign(weight=w.astype(float))
        .groupby(keys, sort=True, observed=True)["weight"]
        .sum()
        .reset_index()
    )
    return out


def cohort_survival(
    spells: pd.DataFrame | SpellTable, by: Sequence[str] = ("cohort",)
) -> pd.DataFrame:
    """Per group and period of tenure: active, lost, censored, retention and survival.

    Parameters
    ----------
    spells : pandas.DataFrame or SpellTable
        Spells with ``duration`` and ``censored`` (from :func:`subscription_spells`), and
        the ``by`` columns.
    by : sequence of str, default ("cohort",)
        Group columns: ``cohort``, ``plan``, a column merged from the customers table
        (``acquisition_channel``), ...; ``()`` for one table of everyone. ``period`` is
        added when the spells mix months and years.

    Returns
    -------
    pandas.DataFrame
        One row per group and tenure ``t = 1 .. T`` (``T``: the last period anyone of the
        group was seen active at the start of): the ``by`` columns, ``t``, ``customers``
        (the group's size), ``active``, ``lost``, ``censored``, ``retention`` (NaN when
        no outcome of period ``t`` is known) and ``survival`` (the Kaplan-Meier share
        still active at the start of ``t + 1``). See the module docstring.
    """
    frame = spells.spells if isinstance(spells, SpellTable) else spells
    keys = _group_keys(frame, by)
    c = compress_spells(frame, keys)
    d, cens, w = c["duration"].to_numpy(), c["censored"].to_numpy(bool), c["weight"].to_numpy()
    # tenure at which each row leaves the table: cancelled in d; censored at the start of d+1
    last = np.where(cens, d + 1, d)
    grp = (
        c.groupby(keys, sort=True, observed=True).ngroup().to_numpy()
        if keys
        else np.zeros(len(c), dtype=np.int64)
    )
    n_groups = int(grp.max()) + 1 if len(c) else 0
    horizon = np.zeros(n_groups, dtype=np.int64)
    np.maximum.at(horizon, grp, last)
    offsets = np.r_[0, np.cumsum(horizon)]
    size = int(offsets[-1])

    def per_cell(t: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = np.zeros(size + 1)  # +1: a slot for t beyond a group's horizon (never used)
        idx = offsets[grp[mask]] + t[mask] - 1
        np.add.at(out, idx, w[mask])
        return out[:size]

    leaving = per_cell(last, np.ones(len(c), dtype=bool))
    lost = per_cell(d, ~cens)
    censored = per_cell(d + 1, cens)
    # active at the start of t = everyone of the group leaving at t or later
    group_of_cell = np.repeat(np.arange(n_groups), horizon)
    rev_cum = np.zeros(size)
    for_cum = pd.Series(leaving[::-1]).groupby(group_of_cell[::-1]).cumsum().to_numpy()
    rev_cum[:] = for_cum[::-1]
    active = rev_cum
    known = active - censored
    with np.errstate(invalid="ignore", divide="ignore"):
        retention = np.where(known > 0, 1.0 - lost / np.where(known > 0, known, 1.0), np.nan)
    log_r = np.log(np.where(np.isnan(retention), 1.0, np.maximum(retention, 1e-300)))
    log_r[retention == 0] = -np.inf
    survival = np.exp(pd.Series(log_r).groupby(group_of_cell).cumsum().to_numpy())
    tenure = np.arange(size) - offsets[group_of_cell] + 1
    out = pd.DataFrame({"t": tenure})
    if keys:
        labels = c.groupby(keys, sort=True, observed=True).size().reset_index()[keys]
        out = pd.concat([labels.iloc[group_of_cell].reset_index(drop=True), out], axis=1)
    out["customers"] = active[offsets[group_of_cell]]
    out["active"] = active
    out["lost"] = lost
    out["censored"] = censored
    out["retention"] = retention
    out["survival"] = survival
    return out


def survival_wide(table: pd.DataFrame, value: str = "active") -> pd.DataFrame:
    """The long :func:`cohort_survival` table as one row per group, one column per tenure.

    ``value="active"`` gives the customers active at the start of each period (the form
    of Fader & Hardie's tables); ``"survival"`` or ``"retention"`` the curves.
    """
    keys = [
        c
        for c in table.columns
        if c not in ("t", "customers", "active", "lost", "censored", "retention", "survival")
    ]
    if not keys:
        return table.set_index("t")[[value]].T.reset_index(drop=True)
    return table.pivot_table(index=keys, columns="t", values=value, observed=True, dropna=False)
