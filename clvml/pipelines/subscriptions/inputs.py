"""Reading a subscription source: the validated tables, the spells known on a day with
their first-period engagement covariates, and the fitted subscription model
(:mod:`clvml.pipelines.subscriptions`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clvml.data.policy import ValidationPolicy
from clvml.exceptions import DataValidationError

#: Registered model name of the subscription models (``clvml train`` on subscriptions).
SUBSCRIPTION_MODEL_NAME = "clvml_subscriptions"
#: Covariates taken when present and not constant: the subscription's plan, the customer's
#: acquisition channel, and the care contacts, social and owned-channel engagement and
#: message sentiment of the spell's first billing period (:func:`first_period_engagement`).
COVARIATES: tuple[str, ...] = (
    "plan",
    "acquisition_channel",
    "care_contacts",
    "care_replied",
    "social_engagement",
    "owned_engagement",
    "sentiment",
    "sentiment_missing",
)
#: Inbound interaction kinds counted as social engagement (``social_engagement``).
SOCIAL_KINDS: tuple[str, ...] = (
    "reply",
    "mention",
    "like",
    "share",
    "retweet",
    "comment",
    "direct_message",
    "review",
)
#: Inbound interaction kinds on the brand's own channels (``owned_engagement``).
OWNED_KINDS: tuple[str, ...] = ("email_open", "email_click", "site_visit", "self_help_view")


def is_subscription_source(data: str | os.PathLike[str]) -> bool:
    """Whether ``data`` is a folder (or database) with ``subscriptions`` and no ``transactions``."""
    from clvml.data.io import is_database_url

    if is_database_url(data):
        import sqlalchemy as sa

        engine = sa.create_engine(str(data))
        try:
            names = set(sa.inspect(engine).get_table_names())
        except sa.exc.SQLAlchemyError:
            return False
        finally:
            engine.dispose()
        return "subscriptions" in names and "transactions" not in names
    path = Path(data)
    if not path.is_dir():
        return False
    stems = {p.name.lower().split(".")[0] for p in path.iterdir() if p.is_file()}
    return "subscriptions" in stems and "transactions" not in stems


@dataclass
class SubscriptionTables:
    """The validated subscriptions (and customers, when present) of a data source."""

    subscriptions: pd.DataFrame
    customers: pd.DataFrame | None
    last_day: pd.Timestamp
    engagement: pd.DataFrame | None = None


def load_subscriptions(
    data: str | os.PathLike[str],
    *,
    policy: ValidationPolicy | None = None,
    columns: Mapping[str, str] | None = None,
) -> SubscriptionTables:
    """Read and validate ``subscriptions`` (and ``customers``, ``engagement``) from a folder
    or database."""
    from clvml.data.io import is_database_url, load_tables
    from clvml.data.validation import (
        validate_customers,
        validate_engagement,
        validate_subscriptions,
    )

    if not is_database_url(data) and not Path(data).exists():
        raise FileNotFoundError(f"{data}: no such data folder or file (--data)")
    found = load_tables(data, columns=columns, require="subscriptions")
    subs = validate_subscriptions(found["subscriptions"], policy)
    if subs.empty:
        raise DataValidationError("no subscriptions to model (0 valid rows)", column="start")
    cust = validate_customers(found["customers"], policy) if "customers" in found else None
    eng = validate_engagement(found["engagement"], policy) if "engagement" in found else None
    last = pd.concat([subs["start"], subs["end"]]).max()
    return SubscriptionTables(subs, cust, pd.Timestamp(last).normalize(), eng)


def spell_frame(tables: SubscriptionTables, as_of: pd.Timestamp) -> pd.DataFrame:
    """Every spell known on ``as_of`` (:func:`clvml.data.subscriptions.subscription_spells`,
    each spell from its own start) with the customer's acquisition channel and cost and the
    first period's engagement covariates (:func:`first_period_engagement`) when those tables
    are there. The engagement rows of customers without profiling consent
    (``consent_profiling`` False or missing in a customers table that has the column) are
    dropped first, as on the transaction path (:mod:`clvml.pipelines.consent`): those
    customers get the covariates of a customer without events."""
    from clvml.data.subscriptions import subscription_spells
    from clvml.pipelines.consent import no_profiling_ids

    table = subscription_spells(tables.subscriptions, as_of=as_of, spells="all")
    spells = table.spells.reset_index(drop=True)
    if tables.customers is not None and "acquisition_channel" in tables.customers:
        extra = [c for c in ("acquisition_channel", "acquisition_cost") if c in tables.customers]
        cust = tables.customers.drop_duplicates("customer_id").set_index("customer_id")[extra]
        spells = spells.join(cust, on="customer_id")
    if tables.engagement is not None and not tables.engagement.empty:
        eng = tables.engagement
        refused = no_profiling_ids(tables.customers)
        if len(refused):
            eng = eng[~eng["customer_id"].astype(str).isin(set(refused)).to_numpy()]
        spells = spells.join(first_period_engagement(spells, eng, as_of))
    return spells


def _first_period_rows(
    spells: pd.DataFrame, engagement: pd.DataFrame, as_of: pd.Timestamp, columns: list[str]
) -> pd.DataFrame:
    """The engagement rows inside each spell's first billing period (cut at ``as_of``), with
    the spell's index in ``spell``."""
    from clvml.data.subscriptions import add_periods

    lo = spells["start"]
    hi = add_periods(lo, 1, spells["period"]).clip(upper=as_of + pd.Timedelta(days=1))
    windows = (
        pd.DataFrame(
            {
                "customer_id": spells["customer_id"].to_numpy(),
                "lo": lo.to_numpy(),
                "hi": hi.to_numpy(),
            },
            index=spells.index,
        )
        .rename_axis("spell")
        .reset_index()
    )
    keep = ["customer_id", "timestamp", *[c for c in columns if c in engagement.columns]]
    rows = windows.merge(engagement[keep], on="customer_id", how="inner")
    inside = (rows["timestamp"] >= rows["lo"]) & (rows["timestamp"] < rows["hi"])
    return rows[inside.to_numpy()]


def first_period_care(
    spells: pd.DataFrame, engagement: pd.DataFrame, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Care contacts of each spell's first billing period, known on ``as_of``.

    ``care_contacts``: the customer's inbound interactions (complaints, questions, ...) from
    the spell's start up to the end of its first period or ``as_of``, whichever is first;
    ``care_replied``: 1 when the brand answered (an outbound interaction) in that window.
    Measured in the first period only, so they are time-invariant covariates (contacts
    counted over a whole lifetime would grow with tenure and reward survival itself).
    """
    rows = _first_period_rows(spells, engagement, as_of, ["direction"])
    inbound = rows["direction"].eq("inbound").groupby(rows["spell"]).sum()
    outbound = rows["direction"].eq("outbound").groupby(rows["spell"]).sum()
    out = pd.DataFrame(index=spells.index)
    out["care_contacts"] = inbound.reindex(spells.index, fill_value=0).astype(float)
    out["care_replied"] = (outbound.reindex(spells.index, fill_value=0) > 0).astype(float)
    return out


def first_period_engagement(
    spells: pd.DataFrame, engagement: pd.DataFrame, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Engagement covariates of each spell's first billing period, known on ``as_of``.

    The window is the one of :func:`first_period_care` (from the spell's start to the end
    of its first period or ``as_of``, whichever is first), so none of them grows with
    tenure. Columns:

    ``care_contacts``, ``care_replied``
        :func:`first_period_care`.
    ``social_engagement``
        ``log1p`` of the customer's inbound social interactions (:data:`SOCIAL_KINDS`:
        replies, mentions, likes, shares, retweets, comments, direct messages, reviews).
    ``owned_engagement``
        ``log1p`` of the inbound interactions on the brand's own channels
        (:data:`OWNED_KINDS`: e-mail opens and clicks, site visits, self-help views).
    ``sentiment``
        Mean compound sentiment in [-1, 1] of the customer's inbound messages
        (:func:`clvml.features.sentiment.sentiment_scores`, per the ``language`` column
        when present); 0 (neutral) when there is none that can be scored.
    ``sentiment_missing``
        1 when no message could be scored, else 0.

    The texts are read only to compute ``sentiment``; no text is returned.
    """
    care = first_period_care(spells, engagement, as_of)
    rows = _first_period_rows(spells, engagement, as_of, ["direction", "kind", "text", "language"])
    rows = rows[rows["direction"].eq("inbound").to_numpy()]
    out = care
    for name, kinds in (("social_engagement", SOCIAL_KINDS), ("owned_engagement", OWNED_KINDS)):
        n = rows["kind"].isin(kinds).groupby(rows["spell"]).sum()
        out[name] = np.log1p(n.reindex(spells.index, fill_value=0).to_numpy(dtype=float))
    mean = pd.Series(np.nan, index=spells.index)
    if "text" in rows.columns and len(rows):
        from clvml.features.sentiment import sentiment_scores

        language = rows["language"] if "language" in rows.columns else None
        score = pd.Series(sentiment_scores(rows["text"], language), index=rows.index)
        mean = score.groupby(rows["spell"]).mean().reindex(spells.index)
    out["sentiment_missing"] = mean.isna().astype(float).to_numpy()
    out["sentiment"] = mean.fillna(0.0).to_numpy()
    return out


def covariate_columns(spells: pd.DataFrame) -> list[str]:
    out = []
    for col in COVARIATES:
        if col in spells.columns:
            values = spells[col].astype("string")
            if values.notna().all() and values.nunique() > 1:
                out.append(col)
    return out


def fit_subscription_model(
    spells: pd.DataFrame, notes: list[str] | None = None, **params: Any
) -> Any:
    """The SubscriptionModel fitted on ``spells``; its convergence warnings (e.g. a yearly
    BdW with few renewals seen: singular information) are appended to ``notes`` (one line
    each, shown by the commands) instead of being printed as warnings."""
    import warnings

    from clvml.exceptions import ConvergenceWarning
    from clvml.models.methods.subscription import SubscriptionModel

    model = SubscriptionModel(covariates=covariate_columns(spells) or None, **params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(spells)
    for w in caught:
        if notes is not None and issubclass(w.category, ConvergenceWarning):
            line = str(w.message).splitlines()[0]
            if line not in notes:
                notes.append(line)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return model


def latest_spells(spells: pd.DataFrame) -> pd.DataFrame:
    """Each customer's latest spell (by start)."""
    order = spells.sort_values(["customer_id", "start"], kind="stable")
    return order.drop_duplicates("customer_id", keep="last").reset_index(drop=True)


def servable_spells(spells: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The latest spells, those known cancelled on ``as_of`` marked as not active."""
    latest = latest_spells(spells)
    if "end" in latest.columns:
        gone = latest["end"].notna() & (latest["end"] <= as_of)
        latest.loc[gone, "censored"] = False
    return latest
