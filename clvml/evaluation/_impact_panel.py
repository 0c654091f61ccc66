"""The per-customer panel behind the social-care impact report (private).

:func:`build_panel` checks the three tables, fixes the customers in scope and
derives, per customer, what the seven parts of
:func:`clvml.evaluation.social_impact.social_impact_report` compare: arm,
eligibility, care engagement, the at-risk flag, holdout retention and revenue,
and the pre-contact spending rate; plus the event subsets (contacts, replies,
self-help views, scored inbound texts) the event-level parts read. Every
aggregation is a vectorised group-by over the whole log.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from clvml.data.dates import as_day
from clvml.exceptions import DataValidationError
from clvml.features.sentiment import NEGATIVE_THRESHOLD, sentiment_scores

__all__ = ["Panel", "build_panel", "by_customer", "next_within"]

#: Inbound kinds whose text is scored (besides the contact kinds).
VOICE_KINDS: tuple[str, ...] = (
    "mention",
    "review",
    "comment",
    "direct_message",
    "share",
    "retweet",
)
_WEEK = np.timedelta64(7 * 86_400 * 10**9, "ns")


@dataclass
class Panel:
    """Customers in scope (sorted ``ids``) and aligned per-customer arrays."""

    ids: pd.Index
    has_control: bool
    control: np.ndarray
    eligible: np.ndarray
    first_contact: np.ndarray  # datetime64[ns], NaT when not eligible
    engaged: np.ndarray
    resolved: np.ndarray
    at_risk: np.ndarray
    retained: np.ndarray
    revenue: np.ndarray
    value: np.ndarray
    value_name: str
    pre_rate: np.ndarray  # repeat spend per week before the first contact; NaN if not eligible
    hold_days: int
    cal_end: pd.Timestamp
    hold_end: pd.Timestamp
    replies: pd.DataFrame  # outbound care replies before the cut-off
    views: pd.DataFrame  # self-help views before the cut-off
    contacts_all: pd.DataFrame  # inbound contacts, whole log
    voice: pd.DataFrame  # inbound contact and voice events before the cut-off, column ``_s``
    at_risk_rule: str
    notes: list[str] = field(default_factory=list)

    @property
    def treated(self) -> np.ndarray:
        """The treated arm: every customer not in the control group."""
        return ~self.control


def require(frame: object, name: str, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` if it is a DataFrame with ``columns``, else a DataValidationError."""
    if not isinstance(frame, pd.DataFrame):
        raise DataValidationError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"is missing from {name}; the impact report needs {', '.join(columns)}",
            column=missing[0],
        )
    return frame


def _timestamps(frame: pd.DataFrame, name: str) -> np.ndarray:
    ts = frame["timestamp"]
    if not pd.api.types.is_datetime64_any_dtype(ts):
        raise DataValidationError(
            f"must hold datetimes in {name} (validate the table first)",
            column="timestamp",
            n_rows=len(frame),
        )
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return np.asarray(ts.to_numpy(dtype="datetime64[ns]"))


def _sentiment(events: pd.DataFrame) -> np.ndarray:
    """Sentiment of each event: a ``sentiment`` column if present, else the text scored."""
    if "sentiment" in events.columns:
        return events["sentiment"].to_numpy(dtype=float, na_value=np.nan)
    if "text" not in events.columns or events.empty:
        return np.full(len(events), np.nan)
    lang = events["language"] if "language" in events.columns else None
    return sentiment_scores(events["text"], lang)


def by_customer(ids: pd.Index, keys: pd.Series, values: np.ndarray, how: str) -> np.ndarray:
    """Aggregate ``values`` by the customer ids ``keys`` onto ``ids`` (``how``: sum, min, any).

    Customers without rows get 0 (sum), NaN/NaT (min) or False (any).
    """
    s = pd.Series(values, index=pd.Index(np.asarray(keys, dtype=object).astype(str), dtype="str"))
    if how == "any":
        g = s.astype(bool).groupby(level=0).any()
        return np.array(g.reindex(ids, fill_value=False).to_numpy(dtype=bool))
    g = getattr(s.groupby(level=0), how)()
    if how == "min" and np.issubdtype(s.dtype, np.datetime64):
        return np.array(g.reindex(ids).to_numpy(dtype="datetime64[ns]"))
    fill = 0.0 if how == "sum" else np.nan
    return np.array(g.reindex(ids, fill_value=fill).to_numpy(dtype=float))


def next_within(
    first: pd.DataFrame, then: pd.DataFrame, window: pd.Timedelta, *, strict: bool
) -> np.ndarray:
    """For each row of ``first``, does ``then`` have a row of the same customer after it
    (strictly after, or from the same instant when ``strict`` is False) within ``window``?"""
    if first.empty:
        return np.zeros(0, dtype=bool)
    if then.empty:
        return np.zeros(len(first), dtype=bool)

    def frame(events: pd.DataFrame) -> pd.DataFrame:
        t = events["timestamp"].to_numpy(dtype="datetime64[ns]")
        cid = events["customer_id"].to_numpy(dtype=object).astype(str)
        return pd.DataFrame({"customer_id": cid, "t": t})

    left = frame(first).assign(pos=np.arange(len(first))).sort_values("t", kind="stable")
    right = frame(then)
    right = right.assign(t_next=right["t"]).sort_values("t", kind="stable")
    hit = pd.merge_asof(
        left,
        right,
        on="t",
        by="customer_id",
        direction="forward",
        allow_exact_matches=not strict,
        tolerance=window,
    )
    out = np.zeros(len(first), dtype=bool)
    out[hit["pos"].to_numpy()] = hit["t_next"].notna().to_numpy()
    return out


def _scope(
    t_id: pd.Series, pre: np.ndarray, customers: pd.DataFrame, notes: list[str]
) -> tuple[pd.Index, pd.DataFrame]:
    """Customers with a purchase before the cut-off that the customers table knows."""
    buyers = pd.Index(pd.unique(t_id[pre]), dtype="str")
    cu = customers.assign(customer_id=customers["customer_id"].astype(str))
    dup = cu["customer_id"].duplicated()
    if dup.any():
        raise DataValidationError(
            "repeats customer ids; each customer must appear once in customers",
            column="customer_id",
            n_rows=int(dup.sum()),
            example=cu.loc[dup, "customer_id"].iloc[0],
        )
    known = buyers.isin(cu["customer_id"])
    if not known.all():
        notes.append(
            f"{int((~known).sum())} customers with purchases before the cut-off are missing "
            "from the customers table; set aside (their arm is unknown)"
        )
    n_idle = int((~cu["customer_id"].isin(buyers)).sum())
    if n_idle:
        notes.append(
            f"{n_idle} customers of the customers table had no purchase on or before the "
            "cut-off; set aside"
        )
    ids = buyers[known].sort_values()
    if ids.empty:
        raise DataValidationError(
            "no customer of the customers table bought on or before the cut-off",
            column="customer_id",
            n_rows=len(cu),
        )
    return ids, cu.set_index("customer_id").reindex(ids)


def _control(cust: pd.DataFrame, has_control: bool) -> np.ndarray:
    if not has_control:
        return np.zeros(len(cust), dtype=bool)
    raw = cust["control_group"]
    try:
        flags = raw.astype("boolean")
    except (TypeError, ValueError) as exc:
        raise DataValidationError(
            "must be boolean (True: randomised to get no care replies)", column="control_group"
        ) from exc
    if flags.isna().any():
        raise DataValidationError(
            "has missing values; each customer must be in the control group or not",
            column="control_group",
            n_rows=int(flags.isna().sum()),
            example=str(cust.index[flags.isna().to_numpy()][0]),
        )
    return np.asarray(flags.to_numpy(dtype=bool))


def _value(clv: pd.Series | None, ids: pd.Index, revenue: np.ndarray) -> tuple[np.ndarray, str]:
    if clv is None:
        return revenue, "mean_holdout_revenue"
    if not isinstance(clv, pd.Series):
        raise DataValidationError(f"clv must be a pandas Series, got {type(clv).__name__}")
    v = pd.to_numeric(clv.set_axis(clv.index.astype(str)), errors="coerce").reindex(ids)
    bad = ~np.isfinite(v.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        raise DataValidationError(
            "has no finite value for some customers in scope (index clv by customer_id)",
            column="clv",
            n_rows=int(bad.sum()),
            example=str(ids[bad][0]),
        )
    return v.to_numpy(dtype=float), "mean_clv"


def build_panel(
    transactions: pd.DataFrame,
    engagement: pd.DataFrame,
    customers: pd.DataFrame,
    *,
    cutoff: object,
    horizon_weeks: float,
    clv: pd.Series | None,
    at_risk: pd.Series | None,
    contact_kinds: Sequence[str],
    reply_kinds: Sequence[str],
    require_control: bool,
) -> Panel:
    """Check the tables and build the per-customer panel (see the module docstring)."""
    if not (math.isfinite(horizon_weeks) and horizon_weeks > 0):
        raise DataValidationError(f"horizon_weeks must be > 0, got {horizon_weeks}")
    hold_days = round(7.0 * float(horizon_weeks))
    if hold_days < 1:
        raise DataValidationError(f"horizon_weeks={horizon_weeks} is shorter than one day")
    tx = require(transactions, "transactions", ("customer_id", "timestamp", "amount"))
    ev = require(
        engagement, "engagement", ("customer_id", "timestamp", "channel", "kind", "direction")
    )
    cu = require(customers, "customers", ("customer_id",))
    has_control = "control_group" in cu.columns
    if not has_control and require_control:
        raise DataValidationError(
            "is missing from customers: the causal estimate of social care compares customers "
            "the care team answers with a randomised control group it does not answer; add a "
            "boolean control_group column, or ask for the descriptive metrics only "
            "(require_control=False, --descriptive-only)",
            column="control_group",
        )
    day = as_day(cutoff, name="cutoff")
    cal_end = day + pd.Timedelta(days=1)
    hold_end = cal_end + pd.Timedelta(days=hold_days)
    lo, hi = cal_end.to_datetime64(), hold_end.to_datetime64()
    notes: list[str] = []

    t_ts = _timestamps(tx, "transactions")
    t_id = tx["customer_id"].astype(str)
    amount = tx["amount"].to_numpy(dtype=float)
    pre = t_ts < lo
    if not pre.any():
        raise DataValidationError(
            f"has no purchase on or before the cut-off {day.date()}",
            column="timestamp",
            n_rows=len(tx),
        )
    if not (t_ts >= lo).any():
        notes.append(
            f"no purchase after the cut-off {day.date()}: the holdout is empty (data end "
            "too early?), so every customer counts as lost"
        )
    ids, cust = _scope(t_id, pre, cu, notes)
    control = _control(cust, has_control)

    in_scope = t_id.isin(ids).to_numpy()
    hold = in_scope & (t_ts >= lo) & (t_ts < hi)
    revenue = by_customer(ids, t_id[hold], amount[hold], "sum")
    retained = by_customer(ids, t_id[hold], np.ones(int(hold.sum()), bool), "any")
    value, value_name = _value(clv, ids, revenue)

    e_ts = _timestamps(ev, "engagement")
    ev = ev.assign(
        customer_id=ev["customer_id"].astype(str),
        kind=ev["kind"].astype(str).str.lower(),
        direction=ev["direction"].astype(str).str.lower(),
        channel=ev["channel"].astype(str).str.lower(),
        timestamp=e_ts,
    )
    ev = ev[ev["customer_id"].isin(ids).to_numpy()]
    inbound_all = ev["direction"].to_numpy() == "inbound"
    contacts_all = ev[inbound_all & ev["kind"].isin(contact_kinds).to_numpy()]
    before = ev[ev["timestamp"].to_numpy(dtype="datetime64[ns]") < lo]
    kind = before["kind"].to_numpy()
    inbound = before["direction"].to_numpy() == "inbound"
    contacts = before[inbound & np.isin(kind, list(contact_kinds))]
    replies = before[(before["direction"].to_numpy() == "outbound") & np.isin(kind, reply_kinds)]
    views = before[inbound & (kind == "self_help_view")]

    first_contact = by_customer(
        ids, contacts["customer_id"], contacts["timestamp"].to_numpy(dtype="datetime64[ns]"), "min"
    )
    eligible = ~np.isnat(first_contact)
    if not eligible.any():
        notes.append(
            f"no customer contacted the care team ({', '.join(contact_kinds)}) before the "
            "cut-off: the causal and cross-sell contrasts are undefined (NaN)"
        )
    treated = ~control
    engaged = by_customer(ids, replies["customer_id"], np.ones(len(replies), bool), "any")
    n_ctl = int((engaged & control).sum())
    if n_ctl:
        notes.append(
            f"{n_ctl} control customers got care replies: the control group was not kept "
            "unanswered, so the intention-to-treat contrast understates the effect"
        )
    engaged &= treated
    res = (
        replies["resolved"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        if "resolved" in replies.columns
        else np.zeros(len(replies), bool)
    )
    resolved = by_customer(ids, replies["customer_id"], res, "any") & treated

    # inbound texts that matter, scored once
    voice = before[inbound & np.isin(kind, list({*contact_kinds, *VOICE_KINDS}))]
    voice = voice.assign(_s=_sentiment(voice))

    if at_risk is not None:
        if not isinstance(at_risk, pd.Series):
            raise DataValidationError(
                f"at_risk must be a boolean pandas Series, got {type(at_risk).__name__}"
            )
        flags = at_risk.set_axis(at_risk.index.astype(str)).reindex(ids).astype("boolean")
        risk = flags.fillna(False).to_numpy(dtype=bool)
        rule = "given by the caller"
    else:
        firsts = voice[voice["kind"].isin(contact_kinds).to_numpy()].sort_values(
            "timestamp", kind="stable"
        )
        firsts = firsts[~firsts["customer_id"].duplicated()]
        neg = (firsts["kind"].to_numpy() == "complaint") | (
            firsts["_s"].to_numpy() <= NEGATIVE_THRESHOLD
        )
        risk = by_customer(ids, firsts["customer_id"], neg, "any")
        rule = "first contact a complaint or of negative sentiment"
    risk &= eligible

    # repeat spend per week from the first purchase to the first contact (at least a week)
    first_buy = by_customer(ids, t_id[pre & in_scope], t_ts[pre & in_scope], "min")
    fc = pd.Series(first_contact, index=ids)
    fb = pd.Series(first_buy, index=ids)
    m = pre & in_scope
    c_pre, t_pre, a_pre = t_id[m], t_ts[m], amount[m]
    keep = (t_pre < fc.reindex(c_pre).to_numpy()) & (
        t_pre >= fb.reindex(c_pre).to_numpy() + np.timedelta64(1, "D")
    )
    pre_spend = by_customer(ids, c_pre[keep], a_pre[keep], "sum")
    with np.errstate(invalid="ignore"):  # NaT - t is NaN for customers never in contact
        pre_weeks = np.maximum((first_contact - first_buy) / _WEEK, 1.0)
    pre_rate = np.where(eligible, pre_spend / np.where(eligible, pre_weeks, 1.0), np.nan)

    return Panel(
        ids=ids,
        has_control=has_control,
        control=control,
        eligible=eligible,
        first_contact=first_contact,
        engaged=engaged,
        resolved=resolved,
        at_risk=risk,
        retained=retained,
        revenue=revenue,
        value=value,
        value_name=value_name,
        pre_rate=pre_rate,
        hold_days=hold_days,
        cal_end=cal_end,
        hold_end=hold_end,
        replies=replies,
        views=views,
        contacts_all=contacts_all,
        voice=voice,
        at_risk_rule=rule,
        notes=notes,
    )
