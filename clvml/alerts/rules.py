"""Alert rules: which customers a scoring run flags to the care, retention and marketing teams.

:func:`evaluate_rules` compares a run's scores with the previous run's (both as the score
history stores them, :mod:`clvml.scoring.history`) and reads the engagement events since
the previous run. Four rules, each switched off by setting its threshold to None:

``churn_rise`` (team ``retention``)
    A customer in a top value tier (now or at the previous run) whose churn probability
    rose by more than ``churn_rise`` since the previous run.
``tier_drop`` (team ``marketing``)
    A customer whose value tier at the previous run was one of ``tier_drop_from`` and is
    now a lower tier (``tier_order`` ranks them, best first).
``unanswered_negative`` (team ``care``)
    A customer who, since the previous run (or in the last ``lookback_days`` days when
    there is none), sent an inbound ``complaint`` or a message whose sentiment is at most
    ``negative_below``, with no outbound event to them after it up to the as-of day. The
    evidence names the messages by id (the ``message_id`` column when the data have one,
    else a hash of customer, time, channel and kind), never by their text.
``low_health``  (team ``retention``)
    A customer whose health score fell below ``health_below``: it was at or above at the
    previous run, or the customer is new since then. A first run (no previous run) raises
    none: a level is not a change.

Each alert carries the evidence (before/after values), the owning team and the suggested
action of the customer's cell of the value x risk matrix (:mod:`clvml.segments.matrix`).
All comparisons are vectorised over customers; Python touches only the alerts raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from clvml.data.membership import isin
from clvml.exceptions import DataValidationError
from clvml.segments.names import DEFAULT_CELLS, DEFAULT_TIER_LABELS

__all__ = ["DEFAULT_TEAMS", "RULES", "TEAMS", "AlertRules", "evaluate_rules", "message_ids"]

#: The rules, in the order alerts are listed.
RULES: tuple[str, ...] = ("churn_rise", "tier_drop", "unanswered_negative", "low_health")
#: The teams an alert can go to.
TEAMS: tuple[str, ...] = ("care", "retention", "marketing")
#: Owning team of each rule, unless the config says otherwise.
DEFAULT_TEAMS: dict[str, str] = {
    "churn_rise": "retention",
    "tier_drop": "marketing",
    "unanswered_negative": "care",
    "low_health": "retention",
}
_OUT = ["customer_id", "rule", "team", "evidence", "segment", "suggested_action"]
#: Message ids listed in one alert's evidence (the count says how many there were).
MAX_MESSAGE_IDS = 10


@dataclass(frozen=True)
class AlertRules:
    """Thresholds of the alert rules (``[alerts]`` of the config, docs/monitoring.md).

    Parameters
    ----------
    churn_rise : float or None, default 0.15
        Rise of the churn probability (absolute, 0-1) that flags a top-tier customer.
    top_tiers : tuple of str, default ("top 1%", "top 10%")
        Value tiers watched by ``churn_rise``.
    tier_drop_from : tuple of str or None, default ("top 1%", "top 10%")
        Tiers whose loss raises ``tier_drop``; None switches the rule off.
    tier_order : tuple of str, default the value tiers, best first
    negative_below : float or None, default -0.05
        Compound sentiment (-1 to 1) at or below which an inbound message is negative
        (-0.05 is VADER's threshold); complaints always count.
    lookback_days : int, default 7
        Window of ``unanswered_negative`` when there is no previous run.
    health_below : float or None, default 30
        Health score (0-100) under which ``low_health`` fires.
    teams : mapping, default :data:`DEFAULT_TEAMS`
        Owning team per rule (one of :data:`TEAMS`).
    """

    churn_rise: float | None = 0.15
    top_tiers: tuple[str, ...] = DEFAULT_TIER_LABELS[:2]
    tier_drop_from: tuple[str, ...] | None = DEFAULT_TIER_LABELS[:2]
    tier_order: tuple[str, ...] = DEFAULT_TIER_LABELS
    negative_below: float | None = -0.05
    lookback_days: int = 7
    health_below: float | None = 30.0
    teams: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TEAMS))

    def __post_init__(self) -> None:
        checks = (
            ("churn_rise", self.churn_rise, 0.0, 1.0),
            ("negative_below", self.negative_below, -1.0, 1.0),
            ("health_below", self.health_below, 0.0, 100.0),
        )
        for name, value, low, high in checks:
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DataValidationError(f"alerts {name} must be a number or none", example=value)
            if not low <= float(value) <= high:
                raise DataValidationError(
                    f"alerts {name} must be between {low:g} and {high:g}", example=value
                )
        if isinstance(self.lookback_days, bool) or not isinstance(self.lookback_days, int):
            raise DataValidationError("alerts lookback_days must be an integer")
        if self.lookback_days < 1:
            raise DataValidationError(
                "alerts lookback_days must be >= 1", example=self.lookback_days
            )
        teams = {**DEFAULT_TEAMS, **dict(self.teams)}
        for rule, team in teams.items():
            if rule not in RULES:
                raise DataValidationError(
                    f"alerts.teams: unknown rule {rule!r} (rules: {', '.join(RULES)})"
                )
            if team not in TEAMS:
                raise DataValidationError(
                    f"alerts.teams: rule {rule!r} has unknown team {team!r} "
                    f"(teams: {', '.join(TEAMS)})"
                )
        object.__setattr__(self, "teams", teams)


def message_ids(events: pd.DataFrame) -> pd.Series:
    """The id of each engagement event: its ``message_id`` if given, else a stable hash.

    The hash covers customer, timestamp, channel and kind (never the text), so the same
    event gets the same id in every run.
    """
    derived = pd.util.hash_pandas_object(
        events[["customer_id", "timestamp", "channel", "kind"]].astype(str), index=False
    )
    ids = pd.Series([f"m-{v:016x}" for v in derived.to_numpy()], index=events.index, dtype=object)
    if "message_id" in events.columns:
        given = events["message_id"]
        ids = given.where(given.notna(), ids).astype(str)
    return ids


def _num(v: object) -> float | None:
    if v is None:
        return None
    f = float(v)  # type: ignore[arg-type]
    return None if np.isnan(f) else round(f, 6)


def _str(v: object) -> str | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


def _churn_rise(j: pd.DataFrame, rules: AlertRules) -> pd.DataFrame:
    assert rules.churn_rise is not None
    top = j["value_tier"].isin(rules.top_tiers) | j["value_tier_prev"].isin(rules.top_tiers)
    rise = j["churn_probability"] - j["churn_probability_prev"]
    hit = j[top & (rise > rules.churn_rise)]
    ev = [
        {
            "churn_probability": {"before": _num(b), "after": _num(a)},
            "rise": _num(a - b),
            "threshold": rules.churn_rise,
            "value_tier": {"before": _str(tb), "after": _str(ta)},
        }
        for b, a, tb, ta in zip(
            hit["churn_probability_prev"],
            hit["churn_probability"],
            hit["value_tier_prev"],
            hit["value_tier"],
            strict=True,
        )
    ]
    return pd.DataFrame({"customer_id": hit.index, "evidence": ev})


def _tier_drop(j: pd.DataFrame, rules: AlertRules) -> pd.DataFrame:
    assert rules.tier_drop_from is not None
    rank = {t: i for i, t in enumerate(rules.tier_order)}
    new = j["value_tier"].map(rank).astype(float)
    old = j["value_tier_prev"].map(rank).astype(float)
    hit = j[j["value_tier_prev"].isin(rules.tier_drop_from) & (new > old)]
    ev = [
        {
            "value_tier": {"before": _str(tb), "after": _str(ta)},
            "clv": {"before": _num(cb), "after": _num(ca)},
        }
        for tb, ta, cb, ca in zip(
            hit["value_tier_prev"], hit["value_tier"], hit["clv_prev"], hit["clv"], strict=True
        )
    ]
    return pd.DataFrame({"customer_id": hit.index, "evidence": ev})


def _low_health(cur: pd.DataFrame, prev: pd.DataFrame, rules: AlertRules) -> pd.DataFrame:
    assert rules.health_below is not None
    if prev.empty:  # a first run: nothing fell, every low score is a level, not a change
        return pd.DataFrame({"customer_id": [], "evidence": []})
    before = prev["health_score"].reindex(cur.index)
    now = cur["health_score"]
    crossed = (now < rules.health_below) & ~(before < rules.health_below)  # NaN before: new
    hit = cur.index[crossed.to_numpy()]
    ev = [
        {"health_score": {"before": _num(b), "after": _num(a)}, "threshold": rules.health_below}
        for b, a in zip(before.loc[hit], now.loc[hit], strict=True)
    ]
    return pd.DataFrame({"customer_id": hit, "evidence": ev})


def _unanswered(
    events: pd.DataFrame, rules: AlertRules, since: pd.Timestamp, as_of: pd.Timestamp
) -> pd.DataFrame:
    assert rules.negative_below is not None
    end = as_of + pd.Timedelta(days=1)  # the as-of day is included
    ts = pd.to_datetime(events["timestamp"], utc=True).dt.tz_localize(None)
    events = events.assign(_ts=ts.to_numpy())[(ts < end).to_numpy()]
    inbound = events[
        (events["direction"] == "inbound") & (events["_ts"] >= since + pd.Timedelta(days=1))
    ]
    complaint = inbound["kind"] == "complaint"
    sentiment = pd.Series(np.nan, index=inbound.index)
    if "text" in inbound.columns:
        has_text = inbound["text"].notna() & ~complaint
        if has_text.any():
            from clvml.features.sentiment import sentiment_scores

            part = inbound[has_text]
            lang = part["language"] if "language" in part.columns else None
            sentiment.loc[part.index] = sentiment_scores(part["text"], lang)
    negative = inbound[(complaint | (sentiment <= rules.negative_below)).to_numpy()]
    if negative.empty:
        return pd.DataFrame({"customer_id": [], "evidence": []})
    last_out = (
        events[events["direction"] == "outbound"]
        .groupby(events["customer_id"].astype(str))["_ts"]
        .max()
    )
    answered_at = negative["customer_id"].astype(str).map(last_out)
    open_ = negative[~(answered_at > negative["_ts"]).to_numpy()]
    if open_.empty:
        return pd.DataFrame({"customer_id": [], "evidence": []})
    open_ = open_.assign(
        _id=message_ids(open_),
        _sent=sentiment.reindex(open_.index),
        _cid=open_["customer_id"].astype(str),
    ).sort_values(["_cid", "_ts"])
    out = []
    for cid, grp in open_.groupby("_cid", sort=True):
        sent = grp["_sent"].min()
        out.append(
            {
                "customer_id": cid,
                "evidence": {
                    "message_ids": grp["_id"].head(MAX_MESSAGE_IDS).tolist(),
                    "messages": len(grp),
                    "first_at": grp["_ts"].iloc[0].isoformat(),
                    "channels": sorted(set(grp["channel"].astype(str))),
                    "complaints": int((grp["kind"] == "complaint").sum()),
                    "lowest_sentiment": _num(sent),
                    "since": since.date().isoformat(),
                },
            }
        )
    return pd.DataFrame(out)


def _matrix(cur: pd.DataFrame) -> pd.DataFrame | None:
    """The value x risk matrix over the run's customers (None without the columns)."""
    from clvml.segments.matrix import value_risk_matrix

    risk = "churn_probability" if cur["churn_probability"].notna().any() else "p_active"
    preds = cur[["clv", risk]].dropna()
    if preds.empty:
        return None
    return value_risk_matrix(preds.rename_axis("customer_id").reset_index())


def _actions(cur: pd.DataFrame, ids: pd.Index) -> tuple[list[Any], list[Any]]:
    """Segment and suggested action of customers ``ids`` (repeats allowed).

    The action of the customer's segment when it is a cell of the default matrix; else
    the cell the customer falls in when the run's customers are ranked in the matrix.
    """
    by_name = {c.name: c.action for c in DEFAULT_CELLS.values()}
    uniq = pd.Index(ids.unique())
    seg = cur["segment"].astype(object).reindex(uniq)
    act = seg.map(by_name).astype(object)
    missing = uniq[act.isna().to_numpy() & isin(uniq, cur.index)]
    if len(missing):
        m = _matrix(cur)
        if m is not None:
            known = missing[isin(missing, m.index)]
            act.loc[known] = m.loc[known, "action"].astype(str).to_numpy()
            no_seg = known[seg.loc[known].isna().to_numpy()]
            seg.loc[no_seg] = m.loc[no_seg, "segment"].astype(str).to_numpy()
    return [_str(v) for v in seg.reindex(ids)], [_str(v) for v in act.reindex(ids)]


def evaluate_rules(
    current: pd.DataFrame,
    previous: pd.DataFrame | None,
    *,
    as_of: object,
    since: object | None = None,
    engagement: pd.DataFrame | None = None,
    rules: AlertRules | None = None,
) -> pd.DataFrame:
    """The alerts of a run: one row per (customer, rule) that fires.

    Parameters
    ----------
    current, previous : pandas.DataFrame
        The run's and the previous run's scores as the history stores them
        (``customer_id``, ``clv``, ``value_tier``, ``segment``, ``churn_probability``,
        ``p_active``, ``health_score``); ``previous`` None or empty for a first run.
    as_of : date-like
        The run's as-of day (engagement after it is ignored).
    since : date-like, optional
        The previous run's as-of day: messages after it count. Default ``as_of`` minus
        ``rules.lookback_days``.
    engagement : pandas.DataFrame, optional
        Validated engagement events (``customer_id``, ``timestamp``, ``channel``,
        ``kind``, ``direction``, optional ``text``, ``language``, ``message_id``).
    rules : AlertRules, optional

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``rule``, ``team``, ``evidence`` (dict), ``segment``,
        ``suggested_action``; sorted by rule, then customer.
    """
    rules = rules or AlertRules()
    day = pd.Timestamp(as_of).normalize()
    since_day = (
        day - pd.Timedelta(days=rules.lookback_days)
        if since is None
        else pd.Timestamp(since).normalize()
    )
    cols = ["clv", "value_tier", "segment", "churn_probability", "p_active", "health_score"]
    cur = current.assign(customer_id=current["customer_id"].astype(str)).set_index("customer_id")
    cur = cur.reindex(columns=cols)
    if previous is None or previous.empty:
        prev = pd.DataFrame(columns=cols, index=pd.Index([], dtype=object, name="customer_id"))
    else:
        prev = previous.assign(customer_id=previous["customer_id"].astype(str))
        prev = prev.set_index("customer_id").reindex(columns=cols)
    for frame in (cur, prev):
        for c in ("clv", "churn_probability", "p_active", "health_score"):
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    joined = cur.join(prev, how="inner", suffixes=("", "_prev"))
    parts: dict[str, pd.DataFrame] = {}
    if rules.churn_rise is not None:
        parts["churn_rise"] = _churn_rise(joined, rules)
    if rules.tier_drop_from is not None:
        parts["tier_drop"] = _tier_drop(joined, rules)
    if rules.negative_below is not None and engagement is not None and len(engagement):
        parts["unanswered_negative"] = _unanswered(engagement, rules, since_day, day)
    if rules.health_below is not None:
        parts["low_health"] = _low_health(cur, prev, rules)
    frames = [p.assign(rule=r) for r, p in parts.items() if len(p)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _OUT})
    out = pd.concat(frames, ignore_index=True)
    out["customer_id"] = out["customer_id"].astype(str)
    out["team"] = out["rule"].map(rules.teams)
    out["_order"] = out["rule"].map({r: i for i, r in enumerate(RULES)})
    out = out.sort_values(["_order", "customer_id"], kind="stable").reset_index(drop=True)
    out["segment"], out["suggested_action"] = _actions(cur, pd.Index(out["customer_id"]))
    return out[_OUT]
