r"""The social-care impact report: seven measures of what social care does for retention.

:func:`social_impact_report` reads the three input tables (transactions,
engagement events, customers), splits time at a cut-off day and measures, in
the holdout window after it, what customers who dealt with the social care
team did, against those who did not and against the randomised control group
the care team never answers. The report (``docs/social_impact.md``) has seven
parts; every figure comes with a confidence interval where it is an estimate.

Definitions (all events strictly before midnight at the end of the cut-off day
count as *before the cut-off*; the holdout is the following
``round(7 * horizon_weeks)`` days):

* **Customers**: everyone with a purchase on or before the cut-off (and in the
  customers table, when it is given; others are set aside and counted).
* **Arm**: ``control_group`` of the customers table (randomised; the care team
  does not answer them); everyone else is in the *treated arm*.
* **Contact**: an inbound event of a ``contact_kinds`` kind (default complaint
  and direct message). **Eligible**: at least one contact before the cut-off.
  Eligibility depends only on the customer's first contact, which precedes any
  care reply, so it is defined identically in both arms and is not affected by
  the care itself: the randomised comparison within the eligible is unbiased.
* **Engaged with social care**: received an outbound care reply (``reply_kinds``)
  before the cut-off. Only treated-arm customers can be engaged.
* **Retained**: at least one purchase in the holdout; **revenue**: its sum.

The seven parts:

1. ``retention_by_group``: retention (Wilson interval) and mean holdout
   revenue, or mean ``clv`` when given (Student-t interval) of engaged,
   not-engaged (treated arm) and control customers.
2. ``causal_itt``: the intention-to-treat effect, treated arm minus control
   among the eligible, on retention (Newcombe interval) and revenue (Welch
   interval), beside the naive engaged-vs-not difference over all customers,
   which mixes the effect with who seeks care (selection bias).
3. ``cost_savings``: care contacts handled (outbound replies) per channel,
   their cost at ``cost_per_contact`` and the saving against handling the same
   contacts on ``baseline_channel`` (phone); plus self-help deflection valued
   at the mean cost of a handled contact.
4. ``self_help``: share of customers viewing self-help, views per customer, and
   the deflection rate: the share of views not followed by a contact of the
   same customer within ``deflection_days``.
5. ``saves``: at-risk customers (first contact a complaint or of negative
   sentiment, or the ``at_risk`` the caller passes) who got a care reply and
   were retained, and the retention of the at-risk in the treated arm against
   the at-risk in control, with the incremental saves that difference implies.
6. ``praise_advocacy``: complainers who later wrote a positive message within
   ``praise_days`` (complaints turned into praise), treated arm vs control
   among complainers; advocacy (shares and retweets that are not negative,
   positive mentions, reviews and comments) and its reach, by arm.
7. ``cross_sell``: revenue beyond the customer's own pre-contact spending
   rate, as a difference-in-differences of spend per week, treated arm minus
   control among the eligible:

   .. math::

       \mathrm{DiD} = \overline{(y^{post} - y^{pre})}_{treated}
                    - \overline{(y^{post} - y^{pre})}_{control},

   :math:`y^{pre}` the spend per week from the first purchase to the first
   contact (at least one week), :math:`y^{post}` the holdout spend per week;
   the incremental revenue is :math:`\mathrm{DiD} \times H \times n_{treated}`.
   The data have no product categories, so this is incremental spend of any
   kind, what the seed calls cross-sell.

Examples
--------
>>> from clvml.data.synthetic import load_social_commerce
>>> ds = load_social_commerce()
>>> cutoff = ds.calibration_end - pd.Timedelta(days=1)
>>> rep = social_impact_report(ds.transactions, ds.engagement, ds.customers,
...                            cutoff=cutoff, horizon_weeks=52)
>>> sorted(rep.table["metric"].unique())[:3]
['causal_itt', 'cost_savings', 'cross_sell']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from clvml.data.dates import as_day
from clvml.evaluation._impact_panel import Panel, build_panel, by_customer, next_within
from clvml.evaluation._impact_stats import mean_ci, newcombe_diff, welch_diff, wilson
from clvml.exceptions import DataValidationError
from clvml.features.sentiment import NEGATIVE_THRESHOLD, POSITIVE_THRESHOLD

__all__ = [
    "DEFAULT_CONTACT_COSTS",
    "SOCIAL_CHANNELS",
    "SocialImpactReport",
    "social_impact_report",
]

#: Channels priced by the ``"social"`` key of ``cost_per_contact`` unless named themselves.
SOCIAL_CHANNELS: tuple[str, ...] = ("twitter", "facebook", "instagram", "linkedin")
#: Default cost of handling one care contact, per channel (``social`` = every social channel).
DEFAULT_CONTACT_COSTS: dict[str, float] = {"phone": 6.0, "email": 2.5, "social": 1.0}
_ADVOCACY_SHARE_KINDS = ("share", "retweet")  # advocacy unless their text is negative
_ADVOCACY_VOICE_KINDS = ("mention", "review", "comment")  # advocacy when their text is positive
_PRAISE_KINDS = ("mention", "review", "comment", "direct_message")
_COLUMNS = ["metric", "group", "statistic", "estimate", "ci_low", "ci_high", "n", "method"]


@dataclass
class SocialImpactReport:
    """The seven measures of social-care impact (see :mod:`clvml.evaluation.social_impact`).

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy, one row per figure: ``metric`` (``retention_by_group``,
        ``causal_itt``, ``cost_savings``, ``self_help``, ``saves``,
        ``praise_advocacy``, ``cross_sell``), ``group``, ``statistic``,
        ``estimate``, ``ci_low``, ``ci_high`` (NaN for counts, sums and
        shares given as facts), ``n`` (customers, contacts or views behind the
        figure) and ``method`` of the interval (``wilson``, ``newcombe``,
        ``student_t``, ``welch``).
    customers : pandas.DataFrame
        Per customer in scope, indexed by ``customer_id``: ``control``,
        ``eligible``, ``first_contact``, ``engaged``, ``resolved``,
        ``at_risk``, ``retained``, ``revenue``, ``value``, ``turned_praise``,
        ``advocacy_posts``, ``advocacy_reach``, ``pre_rate``, ``post_rate``
        (spend per week).
    parameters : dict
        The settings used (cut-off, holdout, costs, windows, confidence, counts).
    notes : list of str
        Customers set aside and other facts a reader needs.
    """

    table: pd.DataFrame
    customers: pd.DataFrame = field(repr=False)
    parameters: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def get(self, metric: str, group: str, statistic: str) -> pd.Series:
        """The row of :attr:`table` for one figure.

        Raises
        ------
        KeyError
            If the report has no such figure.
        """
        t = self.table
        hit = t[(t["metric"] == metric) & (t["group"] == group) & (t["statistic"] == statistic)]
        if hit.empty:
            raise KeyError(f"no figure {metric}/{group}/{statistic} in the report")
        return hit.iloc[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form: ``parameters``, ``notes`` and ``metrics`` (rows, NaN as None)."""
        rows = [
            {k: _plain(v) for k, v in rec.items()} for rec in self.table.to_dict(orient="records")
        ]
        return {"parameters": dict(self.parameters), "notes": list(self.notes), "metrics": rows}


def _plain(v: object) -> object:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


class _Rows:
    """Collects the tidy rows of the report."""

    def __init__(self, confidence: float) -> None:
        self.rows: list[dict[str, Any]] = []
        self.confidence = confidence

    def add(
        self,
        metric: str,
        group: str,
        statistic: str,
        est: tuple[float, float, float] | float,
        n: int,
        method: str = "",
    ) -> None:
        e, lo, hi = est if isinstance(est, tuple) else (float(est), np.nan, np.nan)
        values = (metric, group, statistic, float(e), float(lo), float(hi), int(n), method)
        self.rows.append(dict(zip(_COLUMNS, values, strict=True)))

    def proportion(self, metric: str, group: str, statistic: str, mask: np.ndarray) -> None:
        k, n = int(mask.sum()), int(mask.size)
        self.add(metric, group, statistic, wilson(k, n, self.confidence), n, "wilson")

    def mean(self, metric: str, group: str, statistic: str, x: np.ndarray) -> None:
        self.add(metric, group, statistic, mean_ci(x, self.confidence), x.size, "student_t")

    def diff_prop(
        self, metric: str, group: str, statistic: str, a: np.ndarray, b: np.ndarray
    ) -> None:
        ci = newcombe_diff(int(a.sum()), a.size, int(b.sum()), b.size, self.confidence)
        self.add(metric, group, statistic, ci, a.size + b.size, "newcombe")

    def diff_mean(
        self, metric: str, group: str, statistic: str, a: np.ndarray, b: np.ndarray
    ) -> None:
        ci = welch_diff(a, b, self.confidence)
        self.add(metric, group, statistic, ci, a.size + b.size, "welch")

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=_COLUMNS).astype({"n": "int64"})


def _costs(cost_per_contact: Mapping[str, float] | None) -> dict[str, float]:
    """:data:`DEFAULT_CONTACT_COSTS` overridden key by key by ``cost_per_contact``."""
    costs = dict(DEFAULT_CONTACT_COSTS)
    for key, value in (cost_per_contact or {}).items():
        try:
            v = float(value)
        except (TypeError, ValueError) as exc:
            raise DataValidationError(
                f"cost_per_contact[{key!r}] = {value!r} is not a number"
            ) from exc
        if not (math.isfinite(v) and v >= 0):
            raise DataValidationError(
                f"cost_per_contact[{key!r}] = {value!r}; expected a finite cost >= 0"
            )
        costs[str(key).strip().lower()] = v
    return costs


def _channel_cost(channel: str, costs: Mapping[str, float]) -> float:
    """Cost of one contact on ``channel``: its own key, else ``social`` for social channels."""
    if channel in costs:
        return costs[channel]
    if channel in SOCIAL_CHANNELS and "social" in costs:
        return costs["social"]
    return float("nan")


# --- the seven parts ----------------------------------------------------------------------


def _retention(p: Panel, rows: _Rows) -> None:
    groups = {"engaged": p.engaged, "not_engaged": p.treated & ~p.engaged}
    if p.has_control:
        groups["control"] = p.control
    for g, mask in groups.items():
        rows.proportion("retention_by_group", g, "retention", p.retained[mask])
        rows.mean("retention_by_group", g, p.value_name, p.value[mask])


def _causal(p: Panel, rows: _Rows) -> None:
    m = "causal_itt"
    if p.has_control:
        t_el, c_el = p.eligible & p.treated, p.eligible & p.control
        rows.proportion(m, "treated_eligible", "retention", p.retained[t_el])
        rows.proportion(m, "control_eligible", "retention", p.retained[c_el])
        rows.diff_prop(
            m, "treated_minus_control", "retention_diff", p.retained[t_el], p.retained[c_el]
        )
        rows.diff_mean(m, "treated_minus_control", "revenue_diff", p.revenue[t_el], p.revenue[c_el])
        if p.value_name == "mean_clv":
            rows.diff_mean(m, "treated_minus_control", "clv_diff", p.value[t_el], p.value[c_el])
        n_t = int(t_el.sum())
        rows.add(
            m, "treated_eligible", "share_engaged", p.engaged[t_el].mean() if n_t else np.nan, n_t
        )
        rows.add(
            m, "treated_eligible", "share_resolved", p.resolved[t_el].mean() if n_t else np.nan, n_t
        )
    e = p.engaged
    rows.diff_prop(m, "naive_engaged_minus_not", "retention_diff", p.retained[e], p.retained[~e])
    rows.diff_mean(m, "naive_engaged_minus_not", "revenue_diff", p.revenue[e], p.revenue[~e])


def _cost_and_self_help(
    p: Panel, rows: _Rows, costs: dict[str, float], baseline: str, deflection_days: float
) -> list[str]:
    base = _channel_cost(baseline, costs)
    if math.isnan(base):
        raise DataValidationError(
            f"cost_per_contact has no cost for the baseline channel {baseline!r}"
        )
    m = "cost_savings"
    handled = p.replies.groupby("channel", sort=True).size()
    total = n_priced = 0.0
    unpriced = []
    for ch, n_ch in handled.items():
        c, n_ch = _channel_cost(str(ch), costs), int(n_ch)
        rows.add(m, str(ch), "contacts_handled", n_ch, n_ch)
        rows.add(m, str(ch), "cost", c * n_ch, n_ch)
        rows.add(m, str(ch), f"saving_vs_{baseline}", (base - c) * n_ch, n_ch)
        if math.isnan(c):
            unpriced.append(f"{ch} ({n_ch})")
        else:
            total += c * n_ch
            n_priced += n_ch
    n = int(n_priced)
    rows.add(m, "all", "contacts_handled", n, n)
    rows.add(m, "all", "cost", total, n)
    rows.add(m, "all", f"cost_if_{baseline}", base * n, n)
    rows.add(m, "all", f"saving_vs_{baseline}", base * n - total, n)
    mean_cost = total / n if n else float("nan")

    views = p.views
    deflected = ~next_within(
        views, p.contacts_all, pd.Timedelta(days=deflection_days), strict=False
    )
    rows.add(m, "self_help", "deflected_views", int(deflected.sum()), len(views))
    rows.add(m, "self_help", "saving_from_deflection", deflected.sum() * mean_cost, len(views))

    m = "self_help"
    n_views = by_customer(p.ids, views["customer_id"], np.ones(len(views)), "sum")
    rows.proportion(m, "all", "share_customers_using", n_views > 0)
    rows.mean(m, "all", "views_per_customer", n_views)
    rows.mean(m, "users", "views_per_user", n_views[n_views > 0])
    rows.proportion(m, "all", "deflection_rate", deflected)
    if unpriced:
        return [
            "handled contacts on channels without a cost are left out of the cost totals: "
            + ", ".join(unpriced)
        ]
    return []


def _saves(p: Panel, rows: _Rows) -> None:
    m = "saves"
    risk = p.at_risk
    rows.add(m, "treated_at_risk", "saves", int((risk & p.engaged & p.retained).sum()),
             int((risk & p.engaged).sum()))  # fmt: skip
    if not p.has_control:
        return
    a, b = p.retained[risk & p.treated], p.retained[risk & p.control]
    rows.proportion(m, "treated_at_risk", "retention", a)
    rows.proportion(m, "control_at_risk", "retention", b)
    rows.diff_prop(m, "treated_minus_control", "retention_diff", a, b)
    d, lo, hi = newcombe_diff(int(a.sum()), a.size, int(b.sum()), b.size, rows.confidence)
    k = a.size
    rows.add(m, "treated_at_risk", "incremental_saves", (d * k, lo * k, hi * k), k, "newcombe")


def _praise_advocacy(p: Panel, rows: _Rows, praise_days: float) -> dict[str, np.ndarray]:
    m = "praise_advocacy"
    voice = p.voice
    kinds, s = voice["kind"].to_numpy(), voice["_s"].to_numpy(dtype=float)
    complaints = voice[kinds == "complaint"]
    positive = voice[np.isin(kinds, _PRAISE_KINDS) & (s >= POSITIVE_THRESHOLD)]
    turned_c = next_within(complaints, positive, pd.Timedelta(days=praise_days), strict=True)
    turned = by_customer(p.ids, complaints["customer_id"], turned_c, "any")
    complainer = by_customer(
        p.ids, complaints["customer_id"], np.ones(len(complaints), bool), "any"
    )
    a = turned[complainer & p.treated]
    rows.proportion(m, "treated_complainers", "turned_praise", a)
    if p.has_control:
        b = turned[complainer & p.control]
        rows.proportion(m, "control_complainers", "turned_praise", b)
        rows.diff_prop(m, "treated_minus_control", "turned_praise_diff", a, b)

    adv = (np.isin(kinds, _ADVOCACY_SHARE_KINDS) & ~(s <= NEGATIVE_THRESHOLD)) | (
        np.isin(kinds, _ADVOCACY_VOICE_KINDS) & (s >= POSITIVE_THRESHOLD)
    )
    adv_ev = voice[adv]
    reach = (
        pd.to_numeric(adv_ev["reach"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
        if "reach" in adv_ev.columns
        else np.zeros(len(adv_ev))
    )
    posts = by_customer(p.ids, adv_ev["customer_id"], np.ones(len(adv_ev)), "sum")
    reach_c = by_customer(p.ids, adv_ev["customer_id"], reach, "sum")
    n = p.ids.size
    rows.add(m, "all", "advocacy_posts", posts.sum(), n)
    rows.add(m, "all", "advocacy_reach", reach_c.sum(), n)
    rows.proportion(m, "all", "share_advocates", posts > 0)
    if p.has_control:
        t_el, c_el = p.eligible & p.treated, p.eligible & p.control
        rows.mean(m, "treated_eligible", "advocacy_reach_per_customer", reach_c[t_el])
        rows.mean(m, "control_eligible", "advocacy_reach_per_customer", reach_c[c_el])
        rows.diff_mean(
            m, "treated_minus_control", "advocacy_reach_diff", reach_c[t_el], reach_c[c_el]
        )
        rows.diff_mean(m, "treated_minus_control", "advocacy_posts_diff", posts[t_el], posts[c_el])
    return {"turned_praise": turned, "advocacy_posts": posts, "advocacy_reach": reach_c}


def _cross_sell(p: Panel, rows: _Rows) -> np.ndarray:
    """Spend per week after the cut-off minus before the first contact; DiD and CUPED vs control."""
    m = "cross_sell"
    weeks = p.hold_days / 7.0
    post = p.revenue / weeks
    delta = post - p.pre_rate
    t_el, c_el = p.eligible & p.treated, p.eligible & p.control
    rows.mean(m, "treated_eligible", "spend_per_week_change", delta[t_el])
    if not p.has_control:
        return post
    rows.mean(m, "control_eligible", "spend_per_week_change", delta[c_el])
    rows.diff_mean(m, "treated_minus_control", "did_spend_per_week", delta[t_el], delta[c_el])
    # CUPED / ANCOVA: y - theta (x - mean x), theta the pooled least-squares slope of y on x
    both = t_el | c_el
    x, y = p.pre_rate[both], post[both]
    theta = 0.0
    if x.size > 2 and np.var(x) > 0:
        theta = float(np.cov(x, y)[0, 1] / np.var(x, ddof=1))
    adj = post - theta * (p.pre_rate - (x.mean() if x.size else 0.0))
    d, lo, hi = welch_diff(adj[t_el], adj[c_el], rows.confidence)
    n_both, n_t = int(both.sum()), int(t_el.sum())
    rows.add(m, "treated_minus_control", "adjusted_spend_per_week", (d, lo, hi), n_both, "welch")
    rows.add(m, "all_eligible", "theta", theta, n_both)
    k = weeks * n_t
    rows.add(m, "treated_eligible", "incremental_revenue", (d * k, lo * k, hi * k), n_t, "welch")
    return post


def social_impact_report(
    transactions: pd.DataFrame,
    engagement: pd.DataFrame,
    customers: pd.DataFrame,
    *,
    cutoff: object,
    horizon_weeks: float,
    cost_per_contact: Mapping[str, float] | None = None,
    clv: pd.Series | None = None,
    at_risk: pd.Series | None = None,
    contact_kinds: Sequence[str] = ("complaint", "direct_message"),
    reply_kinds: Sequence[str] = ("reply",),
    baseline_channel: str = "phone",
    deflection_days: float = 7.0,
    praise_days: float = 30.0,
    confidence: float = 0.95,
    require_control: bool = True,
) -> SocialImpactReport:
    """Measure the impact of social care on retention, cost, advocacy and revenue.

    Parameters
    ----------
    transactions : pandas.DataFrame
        ``customer_id``, ``timestamp``, ``amount`` (validated; see
        :func:`clvml.data.validation.validate_transactions`).
    engagement : pandas.DataFrame
        ``customer_id``, ``timestamp``, ``channel``, ``kind``, ``direction``;
        optional ``text`` and ``language`` (or a precomputed ``sentiment`` in
        [-1, 1]), ``reach``, ``resolved``.
    customers : pandas.DataFrame
        ``customer_id`` and ``control_group`` (bool: randomised group the care
        team does not answer).
    cutoff : date-like
        Last day of the calibration period, inclusive.
    horizon_weeks : float
        Length of the holdout after the cut-off (``round(7 * horizon_weeks)`` days).
    cost_per_contact : mapping, optional
        Cost of handling one contact per channel, overriding
        :data:`DEFAULT_CONTACT_COSTS` (phone 6.0, email 2.5, social 1.0) key by
        key; the key ``social`` prices every social channel not named.
        Channels without a cost are listed with a NaN cost and left out of the
        totals (said in the notes).
    clv : pandas.Series, optional
        A value per customer (indexed by ``customer_id``) compared in parts 1
        and 2 beside the realised holdout revenue, e.g. a model's CLV.
    at_risk : pandas.Series, optional
        Boolean per customer replacing the at-risk rule of part 5. It must be
        known before the customer's first contact (e.g. a churn score from an
        earlier cut-off), or the comparison with control is biased.
    contact_kinds : sequence of str, default ("complaint", "direct_message")
        Inbound kinds that are care contacts (eligibility, deflection).
    reply_kinds : sequence of str, default ("reply",)
        Outbound kinds that are care-team replies (engagement, handled contacts).
    baseline_channel : str, default "phone"
        The channel contacts would otherwise go through, for the cost saving.
    deflection_days : float, default 7
        A self-help view is a deflection if the customer makes no contact
        within this many days after it.
    praise_days : float, default 30
        A complaint is turned into praise if a positive message follows
        within this many days (both before the cut-off).
    confidence : float, default 0.95
        Level of every interval.
    require_control : bool, default True
        Without a ``control_group`` column, raise: the causal estimate needs a
        randomised control group. With False, report the descriptive figures
        only (every treated-minus-control contrast is left out; a note says so).

    Returns
    -------
    SocialImpactReport

    Raises
    ------
    DataValidationError
        Missing columns, no control group (unless ``require_control=False``),
        a bad cut-off, horizon, cost, window or confidence, or no customer with
        a purchase before the cut-off.
    """
    if not 0.0 < confidence < 1.0:
        raise DataValidationError(f"confidence must be in (0, 1), got {confidence}")
    for name, days in (("deflection_days", deflection_days), ("praise_days", praise_days)):
        if not (math.isfinite(days) and days > 0):
            raise DataValidationError(f"{name} must be > 0, got {days}")
    costs = _costs(cost_per_contact)
    baseline = str(baseline_channel).strip().lower()
    if math.isnan(_channel_cost(baseline, costs)):
        raise DataValidationError(
            f"cost_per_contact has no cost for the baseline channel {baseline!r}"
        )
    p = build_panel(
        transactions,
        engagement,
        customers,
        cutoff=cutoff,
        horizon_weeks=horizon_weeks,
        clv=clv,
        at_risk=at_risk,
        contact_kinds=tuple(contact_kinds),
        reply_kinds=tuple(reply_kinds),
        require_control=require_control,
    )
    rows = _Rows(confidence)
    notes = list(p.notes)
    _retention(p, rows)
    _causal(p, rows)
    notes += _cost_and_self_help(p, rows, costs, baseline, deflection_days)
    _saves(p, rows)
    extra = _praise_advocacy(p, rows, praise_days)
    post_rate = _cross_sell(p, rows)
    if not p.has_control:
        notes.append(
            "no control_group column: descriptive figures only; the causal contrasts need a "
            "randomised control group"
        )
    per_customer = pd.DataFrame(
        {
            "control": p.control,
            "eligible": p.eligible,
            "first_contact": p.first_contact,
            "engaged": p.engaged,
            "resolved": p.resolved,
            "at_risk": p.at_risk,
            "retained": p.retained,
            "revenue": p.revenue,
            "value": p.value,
            **extra,
            "pre_rate": p.pre_rate,
            "post_rate": post_rate,
        },
        index=pd.Index(p.ids, name="customer_id"),
    )
    parameters = {
        "cutoff": str(as_day(cutoff, name="cutoff").date()),
        "holdout_start": str(p.cal_end.date()),
        "holdout_end": str((p.hold_end - pd.Timedelta(days=1)).date()),
        "horizon_weeks": float(horizon_weeks),
        "n_customers": int(p.ids.size),
        "n_eligible": int(p.eligible.sum()),
        "n_control": int(p.control.sum()),
        "has_control": bool(p.has_control),
        "cost_per_contact": costs,
        "baseline_channel": baseline,
        "contact_kinds": list(contact_kinds),
        "reply_kinds": list(reply_kinds),
        "deflection_days": float(deflection_days),
        "praise_days": float(praise_days),
        "confidence": float(confidence),
        "value": "clv" if clv is not None else "holdout_revenue",
        "at_risk": p.at_risk_rule,
    }
    return SocialImpactReport(rows.frame(), per_customer, parameters, notes)
