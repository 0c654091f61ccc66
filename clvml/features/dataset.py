"""One row per customer: the features every CLV method reads, and the holdout truth.

A *customer frame* is what the models and the MLflow model take as input:
indexed by ``customer_id``, it holds the RFM summary of the purchases up to a
cut-off (in weeks, the BTYD convention), the engagement and sentiment features
of the events before it, and the static attributes of the customers table. The
*targets* are what happened after the cut-off. Keeping the two apart in time is
what makes an evaluation honest: a supervised model trains on an earlier
cut-off whose targets are already known, and is judged on a later one.

Cut-off convention: ``cutoff`` is the last *day* of the calibration period,
inclusive (as ``calibration_period_end`` in lifetimes); purchases on that day
count, and engagement events before midnight at its end count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from sklearn.base import clone

from clvml.data.dates import as_day
from clvml.data.membership import isin
from clvml.exceptions import DataValidationError
from clvml.features.engagement import EngagementFeatures
from clvml.features.rfm import CUSTOMER_RFM_COLUMNS, customer_rfm_columns, rfm_summary

__all__ = [
    "RFM_FEATURES",
    "CustomerDataset",
    "build_customer_dataset",
    "customer_features",
    "feature_groups",
    "holdout_targets",
]

#: Columns computed from the transactions alone (time unit: weeks), defined once by
#: :func:`clvml.features.rfm.customer_rfm_columns` for every engine.
RFM_FEATURES: tuple[str, ...] = CUSTOMER_RFM_COLUMNS
#: Static attributes taken from the customers table when present.
STATIC_FEATURES: tuple[str, ...] = ("acquisition_cost", "control_group", "acquisition_channel")
_SENTIMENT_PREFIXES = ("sentiment_", "advocacy_", "complaints_turned_praise", "health_score")


def feature_groups(columns: pd.Index | list[str]) -> dict[str, list[str]]:
    """Split feature columns into the ablation groups rfm, engagement, sentiment and static.

    ``sentiment`` holds every column derived from the customers' texts
    (sentiment statistics, advocacy — positive shares weighted by reach —,
    complaints turned into praise and the health score, which mixes sentiment
    in); ``engagement`` holds the remaining event counts, rates and care-team
    measures, which do not read any text.

    Examples
    --------
    >>> feature_groups(["frequency", "n_events", "sentiment_mean", "acquisition_cost"])["sentiment"]
    ['sentiment_mean']
    """
    cols = [str(c) for c in columns]
    rfm = [c for c in cols if c in RFM_FEATURES]
    static = [c for c in cols if c in STATIC_FEATURES]
    sentiment = [
        c
        for c in cols
        if c not in rfm
        and c not in static
        and (c.startswith(_SENTIMENT_PREFIXES) or "sentiment" in c)
    ]
    engagement = [c for c in cols if c not in rfm and c not in static and c not in sentiment]
    return {"rfm": rfm, "engagement": engagement, "sentiment": sentiment, "static": static}


def customer_features(
    transactions: pd.DataFrame,
    engagement: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
    *,
    cutoff: object,
    engagement_transformer: EngagementFeatures | None = None,
) -> pd.DataFrame:
    """Build the customer frame as of ``cutoff`` (inclusive day).

    Parameters
    ----------
    transactions : pandas.DataFrame
        Validated transactions (``customer_id``, ``timestamp``, ``amount``).
    engagement : pandas.DataFrame, optional
        Validated engagement events; adds the features of
        :class:`~clvml.features.engagement.EngagementFeatures`.
    customers : pandas.DataFrame, optional
        Customers table; adds ``acquisition_cost``, ``control_group`` (0/1) and
        ``acquisition_channel`` (string) when present.
    cutoff : date-like
        Last day of the observation window, inclusive.
    engagement_transformer : EngagementFeatures, optional
        A configured transformer; a clone of it is fitted, with its ``cutoff``
        overridden (the caller's is left as it is).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (string), one row per customer with at least
        one purchase up to the cut-off; columns :data:`RFM_FEATURES`, then
        engagement features, then static ones. ``attrs`` records ``cutoff`` and
        ``n_customers_without_purchase`` (customers in ``customers`` set aside
        because they had not bought yet).
    """
    day = as_day(cutoff, name="cutoff")
    tx = transactions
    ids = tx["customer_id"].astype(str)
    if not isinstance(tx["customer_id"].dtype, pd.StringDtype) or not ids.equals(tx["customer_id"]):
        tx = tx.assign(customer_id=ids)
    before = tx.loc[tx["timestamp"] < day + pd.Timedelta(days=1)]
    if before.empty:
        raise DataValidationError(
            f"no purchases on or before the cut-off {day.date()}",
            column="timestamp",
            n_rows=len(tx),
        )
    kw = dict(
        customer_id_col="customer_id",
        datetime_col="timestamp",
        monetary_value_col="amount",
        observation_period_end=day,
        freq="D",
        freq_multiplier=7,
    )
    rep = rfm_summary(before, **kw)
    allp = rfm_summary(before, include_first_transaction=True, **kw)
    out = pd.DataFrame(customer_rfm_columns(rep, allp), index=rep.index)
    out.index = out.index.astype(str).rename("customer_id")
    out.attrs = {}

    if engagement is not None:
        eng = engagement.assign(customer_id=engagement["customer_id"].astype(str))
        # a clone: the caller's transformer is never fitted nor re-configured
        transformer = clone(engagement_transformer or EngagementFeatures())
        transformer = transformer.set_params(cutoff=day + pd.Timedelta(days=1))
        cust_arg: object = out.index
        if customers is not None and "acquisition_date" in customers.columns:
            cust_arg = (
                customers.assign(customer_id=customers["customer_id"].astype(str))
                .set_index("customer_id")
                .reindex(out.index)
                .reset_index()
            )
        feats = transformer.fit(eng).transform(eng, customers=cust_arg)
        out = out.join(feats, how="left")

    n_without = 0
    if customers is not None:
        cust = customers.assign(customer_id=customers["customer_id"].astype(str)).set_index(
            "customer_id"
        )
        n_without = int((~isin(cust.index, out.index)).sum())
        if "acquisition_cost" in cust.columns:
            out["acquisition_cost"] = cust["acquisition_cost"].reindex(out.index).astype(float)
        if "control_group" in cust.columns:
            out["control_group"] = (
                cust["control_group"]
                .reindex(out.index)
                .astype("boolean")
                .fillna(False)
                .astype(float)
            )
        if "acquisition_channel" in cust.columns:
            out["acquisition_channel"] = (
                cust["acquisition_channel"].reindex(out.index).astype(str).fillna("unknown")
            )
    out.attrs = {"cutoff": str(day.date()), "n_customers_without_purchase": n_without}
    return out


def holdout_targets(
    transactions: pd.DataFrame, index: pd.Index, *, start: object, end: object
) -> pd.DataFrame:
    """What each customer of ``index`` did after ``start`` up to ``end`` (both days, inclusive end).

    Returns
    -------
    pandas.DataFrame
        ``revenue`` (sum of amounts), ``purchases`` (distinct purchase days),
        ``churned`` (1.0 when no purchase), indexed like ``index``.
    """
    lo = as_day(start, name="start") + pd.Timedelta(days=1)
    hi = as_day(end, name="end") + pd.Timedelta(days=1)
    if hi <= lo:
        raise DataValidationError(f"the holdout end {end} is not after its start {start}")
    ts = transactions["timestamp"]
    sub = transactions.loc[(ts >= lo) & (ts < hi), ["customer_id", "timestamp", "amount"]]
    cid = sub["customer_id"].astype(str)
    revenue = sub["amount"].groupby(cid).sum()
    days = sub["timestamp"].dt.normalize()
    purchases = pd.Series(1, index=pd.MultiIndex.from_arrays([cid, days])).groupby(level=0).size()
    out = pd.DataFrame(index=pd.Index(index, name="customer_id"))
    out["revenue"] = revenue.reindex(out.index).fillna(0.0).astype(float)
    out["purchases"] = purchases.reindex(out.index).fillna(0).astype(float)
    out["churned"] = (out["purchases"] == 0).astype(float)
    out.attrs = {
        "start": str(lo.date()),
        "end": str((hi - pd.Timedelta(days=1)).date()),
        "weeks": (hi - lo) / pd.Timedelta(weeks=1),
    }
    return out


@dataclass
class CustomerDataset:
    """Features as of a cut-off and the targets of the window after it.

    Attributes
    ----------
    features : pandas.DataFrame
        The customer frame (see :func:`customer_features`).
    targets : pandas.DataFrame
        ``revenue``, ``purchases``, ``churned`` in the holdout window, same index.
    cutoff, holdout_end : pandas.Timestamp
        The window: features up to ``cutoff`` (inclusive), targets after it up to
        ``holdout_end`` (inclusive).
    """

    features: pd.DataFrame
    targets: pd.DataFrame
    cutoff: pd.Timestamp
    holdout_end: pd.Timestamp

    @property
    def horizon_weeks(self) -> float:
        """Length of the holdout window in weeks."""
        return float((self.holdout_end - self.cutoff) / pd.Timedelta(weeks=1))


def build_customer_dataset(
    transactions: pd.DataFrame,
    engagement: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
    *,
    cutoff: object,
    holdout_end: object,
    frames: Any = None,
) -> CustomerDataset:
    """Features up to ``cutoff`` and holdout targets up to ``holdout_end``.

    ``frames`` (a :class:`clvml.features.frames.FrameBuilder` on the same tables) builds
    the features, or returns them when it already built that cut-off.

    Examples
    --------
    >>> from clvml.data.datasets import load_cdnow_master
    >>> ds = build_customer_dataset(load_cdnow_master(), cutoff="1997-09-30",
    ...                             holdout_end="1998-06-30")
    >>> len(ds.features), round(ds.horizon_weeks)
    (23570, 39)
    """
    c, h = as_day(cutoff, name="cutoff"), as_day(holdout_end, name="holdout_end")
    if h <= c:
        raise DataValidationError(f"holdout_end {h.date()} must be after the cut-off {c.date()}")
    last = transactions["timestamp"].max()
    if pd.notna(last) and last < h:
        # the data stop before the requested holdout end: the targets would be short
        weeks = (h - last) / pd.Timedelta(weeks=1)
        if weeks > 1:
            raise DataValidationError(
                f"the transactions end on {last.date()}, {weeks:.1f} weeks before holdout_end "
                f"{h.date()}; shorten the holdout",
                column="timestamp",
            )
    if frames is not None:
        features = frames.at(c).frame
    else:
        features = customer_features(transactions, engagement, customers, cutoff=c)
    targets = holdout_targets(transactions, features.index, start=c, end=h)
    return CustomerDataset(features=features, targets=targets, cutoff=c, holdout_end=h)
