"""The subscription workflows: ``clvml evaluate``, ``train`` and ``score`` on a
``subscriptions`` table (issue #19).

A data folder (or database) holding ``subscriptions`` and no ``transactions`` is a
subscription business: its customers renew or cancel each billing period.

* :func:`evaluate_subscriptions` fits every subscription method
  (:data:`~clvml.models.methods.subscription.SUBSCRIPTION_METHODS`) on the spells known on
  the calibration end and judges each, beside the marketing formula's constant retention
  (:func:`clvml.evaluation.subscription_comparison.compare_subscription_clv`, which also
  counts each spell's billing dates in the holdout and the renewals it paid), on the
  holdout: for every spell active on the cut-off, the renewals it was expected to pay up
  to the holdout end against those it paid, and the value (renewals x price x margin);
  the first renewal's probability by its Brier score.
* :func:`train_subscriptions` runs that comparison, fits the champion on every spell known
  on the data's last day, fits the value tiers (:class:`~clvml.segments.SegmentScheme`) on
  its predictions for the active subscribers and logs the model to MLflow (registered,
  ``champion`` alias moved only when it beats the current one on the holdout MAE of
  renewals).
* :func:`score_subscriptions` loads a registered subscription model and writes each
  customer's latest spell to the CRM score table: ``clv`` (residual CLV = DERL x margin x
  price), ``p_active`` (the probability of renewing at the end of the current period),
  ``churn_probability`` (its complement), ``expected_purchases`` (renewals expected in
  the next year), ``expected_avg_spend`` (price per period x margin), ``value_tier``,
  ``segment``. A customer whose last spell is cancelled on ``as_of`` is written with value
  0 and churn probability 1.

Covariates: ``plan`` (subscriptions), ``acquisition_channel`` (customers) and the first
billing period's care contacts, social and owned-channel engagement and message sentiment
(engagement, :func:`first_period_engagement`) when present and not constant. LTV:CAC by
acquisition channel (:func:`subscription_ltv_cac`) values each customer at acquisition
(``DEL x margin x price``) against ``acquisition_cost``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clvml.data.dates import as_day
from clvml.data.policy import ValidationPolicy
from clvml.exceptions import DataValidationError

__all__ = [
    "SUBSCRIPTION_MODEL_NAME",
    "SubscriptionEvaluation",
    "SubscriptionScoreResult",
    "SubscriptionTables",
    "SubscriptionTrainResult",
    "evaluate_subscriptions",
    "first_period_care",
    "first_period_engagement",
    "is_subscription_source",
    "load_subscriptions",
    "score_subscriptions",
    "spell_frame",
    "subscription_ltv_cac",
    "train_subscriptions",
    "training_cutoff",
]

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
#: Metric of the champion gate (lower is better).
GATE_METRIC = "mae_renewals"


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


def _covariates(spells: pd.DataFrame) -> list[str]:
    out = []
    for col in COVARIATES:
        if col in spells.columns:
            values = spells[col].astype("string")
            if values.notna().all() and values.nunique() > 1:
                out.append(col)
    return out


def _model(spells: pd.DataFrame, notes: list[str] | None = None, **params: Any) -> Any:
    """The SubscriptionModel fitted on ``spells``; its convergence warnings (e.g. a yearly
    BdW with few renewals seen: singular information) are appended to ``notes`` (one line
    each, shown by the commands) instead of being printed as warnings."""
    import warnings

    from clvml.exceptions import ConvergenceWarning
    from clvml.models.methods.subscription import SubscriptionModel

    model = SubscriptionModel(covariates=_covariates(spells) or None, **params)
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


@dataclass
class SubscriptionEvaluation:
    """The subscription methods judged on a holdout (:func:`evaluate_subscriptions`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per method: ``method``, ``spells`` (active on the cut-off),
        ``renewals_expected``, ``renewals_paid``, ``renewals_bias`` (expected / paid - 1),
        ``mae_renewals`` (per spell), ``value_expected``, ``value_paid``,
        ``value_bias``, ``brier_next_renewal`` and ``bic`` (summed over billing periods).
    predictions : pandas.DataFrame
        Per active spell: ``customer_id``, ``period``, ``tenure``, ``horizon`` (billing
        dates in the holdout), ``paid`` (renewals paid), ``renewals_<method>``.
    calibration_end, holdout_end : pandas.Timestamp
    champion : str
        The model with the lowest ``mae_renewals`` (the formula is a reference).
    lr_tests : dict
        sBG vs BdW likelihood-ratio test per billing period.
    covariates : list of str
    formula_retention : dict of str to float
        Per billing period, the formula's pooled retention ``sum(C_F - C_N) / sum(C_I)``
        before the cut-off (:func:`clvml.evaluation.subscription_comparison.formula_retention`).
    notes : list of str
        The fits' convergence warnings, one line each.
    """

    table: pd.DataFrame
    predictions: pd.DataFrame
    calibration_end: pd.Timestamp
    holdout_end: pd.Timestamp
    champion: str
    lr_tests: dict[str, dict[str, float]] = field(default_factory=dict)
    covariates: list[str] = field(default_factory=list)
    formula_retention: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _judge(
    tables: SubscriptionTables, cutoff: pd.Timestamp, end: pd.Timestamp, **params: Any
) -> tuple[SubscriptionEvaluation, Any]:
    """The formula (subdata's comparison, which also counts the holdout windows and the
    renewals paid) and every subscription method on the spells active on the cut-off."""
    from clvml.evaluation.subscription_comparison import compare_subscription_clv

    comparison = compare_subscription_clv(
        tables.subscriptions,
        cutoff,
        holdout_end=end,
        by=(),
        spells="all",
        margin=float(params.get("margin", 1.0)),
        annual_discount_rate=float(params.get("annual_discount_rate", 0.1)),
    )
    spells = spell_frame(tables, cutoff)
    notes: list[str] = []
    model = _model(spells, notes, **params)
    # the comparison's rows are the spells not ended by the cut-off, in the same order
    judged = comparison.customers
    ongoing = (spells["end"].isna() | (spells["end"] > cutoff)).to_numpy()
    active = spells.loc[ongoing].reset_index(drop=True)
    if not (
        len(active) == len(judged)
        and (active["customer_id"].to_numpy() == judged["customer_id"].to_numpy()).all()
        and (active["duration"].to_numpy() == judged["tenure"].to_numpy()).all()
    ):  # pragma: no cover - one definition of the spells on both sides
        raise RuntimeError("the comparison's spells differ from the models' spells")
    for col in ("window", "realised_renewals", "expected_formula"):
        active[col] = judged[col].to_numpy()
    window = active["window"].to_numpy()
    paid = active["realised_renewals"].to_numpy(dtype=float)
    expected = {"formula": active["expected_formula"].to_numpy(dtype=float)}
    renewals = model.expected_renewals(active, window)
    first = model.predict(active)
    groups = comparison.table
    if "period" in groups.columns:  # mixed billing periods: one retention per period
        by_period = groups[groups["period"] != "all"].set_index("period")["retention"]
        r_first = active["period"].map(by_period).to_numpy(dtype=float)
    else:
        r_first = np.full(len(active), float(groups["retention"].iloc[0]))
    retention = {str(k): float(v) for k, v in zip(active["period"], r_first, strict=True)}
    p_first = {"formula": r_first}
    for col in renewals.columns:
        if col != "renewals":
            name = col.removeprefix("renewals_")
            expected[name] = renewals[col].to_numpy()
            p_first[name] = first[f"p_renew_{name}"].to_numpy()
    price = float(params.get("margin", 1.0)) * (
        pd.to_numeric(active["price_per_period"], errors="coerce").fillna(1.0).to_numpy()
        if "price_per_period" in active.columns
        else np.ones(len(active))
    )  # as the comparison values a renewal (1 without a price)
    has_next = window >= 1
    renewed = (paid >= 1).astype(float)
    rows = []
    for name, pred in expected.items():
        value_pred, value_paid = float(pred @ price), float(paid @ price)
        rows.append(
            {
                "method": name,
                "spells": len(active),
                "renewals_expected": float(pred.sum()),
                "renewals_paid": float(paid.sum()),
                "renewals_bias": float(pred.sum() / paid.sum() - 1.0) if paid.sum() else np.nan,
                "mae_renewals": float(np.mean(np.abs(pred - paid))),
                "value_expected": value_pred,
                "value_paid": value_paid,
                "value_bias": value_pred / value_paid - 1.0 if value_paid else np.nan,
                "brier_next_renewal": float(
                    np.mean((p_first[name][has_next] - renewed[has_next]) ** 2)
                )
                if has_next.any()
                else np.nan,
                "bic": float(model.bic_.get(name, np.nan)),
            }
        )
    table = pd.DataFrame(rows)
    models = table[table["method"] != "formula"]
    champion = str(models.sort_values(["mae_renewals", "method"])["method"].iloc[0])
    preds = pd.DataFrame(
        {
            "customer_id": active["customer_id"].to_numpy(),
            "period": active["period"].to_numpy(),
            "tenure": active["duration"].to_numpy() + 1,
            "horizon": window,
            "paid": paid,
        }
    )
    for name, pred in expected.items():
        preds[f"renewals_{name}"] = pred
    result = SubscriptionEvaluation(
        table=table,
        predictions=preds,
        calibration_end=cutoff,
        holdout_end=end,
        champion=champion,
        lr_tests=dict(model.lr_tests_),
        covariates=list(model.covariates or []),
        formula_retention=retention,
        notes=notes,
    )
    return result, model


def _window(
    tables: SubscriptionTables,
    calibration_end: object,
    holdout_end: object,
    horizon_weeks: float | None,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    end = as_day(holdout_end, name="--holdout-end") if holdout_end is not None else None
    if calibration_end is None:
        weeks = 52.0 if horizon_weeks is None else float(horizon_weeks)
        last = end if end is not None else tables.last_day
        cutoff = last - pd.Timedelta(days=round(7 * weeks))
    else:
        cutoff = as_day(calibration_end, name="--calibration-end")
    if end is None:
        end = (
            cutoff + pd.Timedelta(days=round(7 * float(horizon_weeks)))
            if horizon_weeks is not None
            else tables.last_day
        )
    if not end > cutoff:
        raise DataValidationError(
            f"the holdout end {end.date()} must be after the calibration end {cutoff.date()}"
        )
    first = tables.subscriptions["start"].min()
    if cutoff < first:
        raise DataValidationError(
            f"the calibration end {cutoff.date()} is before the first subscription "
            f"({pd.Timestamp(first).date()})",
            column="start",
        )
    return pd.Timestamp(cutoff), pd.Timestamp(end)


def evaluate_subscriptions(
    data: str | os.PathLike[str],
    *,
    calibration_end: object = None,
    holdout_end: object = None,
    horizon_weeks: float | None = None,
    policy: ValidationPolicy | None = None,
    columns: Mapping[str, str] | None = None,
    annual_discount_rate: float = 0.1,
    margin: float = 1.0,
) -> SubscriptionEvaluation:
    """Judge every subscription method on the holdout after ``calibration_end``.

    Parameters
    ----------
    data : path-like or SQLAlchemy URL
        Folder (or database) with ``subscriptions`` (and optionally ``customers``).
    calibration_end : date-like, optional
        Last day the methods see [default: ``horizon_weeks`` (52) before the holdout end].
    holdout_end : date-like, optional
        Last day of the holdout [default: the data's last day, or ``horizon_weeks`` after
        the calibration end].
    horizon_weeks : float, optional
        Holdout length in weeks.
    annual_discount_rate, margin : float
        As for :class:`~clvml.models.methods.subscription.SubscriptionModel`.

    Returns
    -------
    SubscriptionEvaluation
    """
    tables = load_subscriptions(data, policy=policy, columns=columns)
    cutoff, end = _window(tables, calibration_end, holdout_end, horizon_weeks)
    result, _ = _judge(
        tables, cutoff, end, annual_discount_rate=annual_discount_rate, margin=margin
    )
    return result


def _latest(spells: pd.DataFrame) -> pd.DataFrame:
    """Each customer's latest spell (by start)."""
    order = spells.sort_values(["customer_id", "start"], kind="stable")
    return order.drop_duplicates("customer_id", keep="last").reset_index(drop=True)


def _servable(spells: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The latest spells, those known cancelled on ``as_of`` marked as not active."""
    latest = _latest(spells)
    if "end" in latest.columns:
        gone = latest["end"].notna() & (latest["end"] <= as_of)
        latest.loc[gone, "censored"] = False
    return latest


def subscription_ltv_cac(model: Any, spells: pd.DataFrame) -> pd.DataFrame | None:
    """LTV:CAC by acquisition channel: each customer's first spell valued at acquisition
    (``DEL x margin x price``, :meth:`SubscriptionModel.new_customer_value
    <clvml.models.methods.subscription.SubscriptionModel.new_customer_value>`) against
    ``acquisition_cost`` (:func:`clvml.segments.ltv_cac.ltv_cac_by_channel`); None without
    the customers' channel and cost."""
    from clvml.segments.ltv_cac import ltv_cac_by_channel

    if not {"acquisition_channel", "acquisition_cost"} <= set(spells.columns):
        return None
    first = spells.sort_values(["customer_id", "start"], kind="stable")
    first = first.drop_duplicates("customer_id", keep="first").reset_index(drop=True)
    first = first[first["acquisition_channel"].notna() & first["acquisition_cost"].notna()]
    if first.empty:
        return None
    first = first.assign(ltv=model.new_customer_value(first))
    return ltv_cac_by_channel(first, value_col="ltv")


@dataclass
class SubscriptionTrainResult:
    """What :func:`train_subscriptions` did."""

    evaluation: SubscriptionEvaluation
    model: Any
    as_of: pd.Timestamp
    run_id: str
    model_uri: str
    tracking_uri: str
    decision: Any
    ltv_cac: pd.DataFrame | None


def train_subscriptions(
    data: str | os.PathLike[str],
    *,
    tracking_uri: str | None = None,
    model_name: str | None = None,
    experiment: str | None = None,
    calibration_end: object = None,
    horizon_weeks: float | None = None,
    policy: ValidationPolicy | None = None,
    columns: Mapping[str, str] | None = None,
    annual_discount_rate: float = 0.1,
    margin: float = 1.0,
) -> SubscriptionTrainResult:
    """Compare the subscription methods on the holdout, fit the champion on all the data,
    log and register it (see the module docstring)."""
    import mlflow

    from clvml.segments import SegmentScheme
    from clvml.tracking.registry import promote_if_better
    from clvml.tracking.store import configure_mlflow, redact_uri
    from clvml.tracking.subscription_model import log_subscription_model, score_frame

    tables = load_subscriptions(data, policy=policy, columns=columns)
    cutoff, end = _window(tables, calibration_end, None, horizon_weeks)
    params = {"annual_discount_rate": annual_discount_rate, "margin": margin}
    evaluation, _ = _judge(tables, cutoff, end, **params)
    as_of = tables.last_day
    spells = spell_frame(tables, as_of)
    model = _model(spells, evaluation.notes, champion=evaluation.champion, **params)
    # the last day of spells it has seen: clvml score refuses an earlier --as-of (unless --force)
    model.training_window_ = {"cutoff": str(as_of.date())}
    served = _servable(spells, as_of)
    # tiers from the active subscribers (the cancelled are worth 0 and would tie at the cuts)
    scheme = SegmentScheme().fit(score_frame(model, None, served[served["censored"]]))
    ltv = subscription_ltv_cac(model, spells)
    name = model_name or SUBSCRIPTION_MODEL_NAME
    cfg = configure_mlflow(tracking_uri, experiment or "clvml")
    with mlflow.start_run(run_name="subscriptions") as run:
        mlflow.log_params(
            {
                "kind": "subscriptions",
                "calibration_end": str(cutoff.date()),
                "holdout_end": str(end.date()),
                "as_of": str(as_of.date()),
                "champion_method": model.champion_,
                "covariates": ",".join(model.covariates or []) or "none",
                **params,
            }
        )
        for row in evaluation.table.itertuples(index=False):
            for metric in ("mae_renewals", "renewals_bias", "value_bias", "brier_next_renewal"):
                value = float(getattr(row, metric))
                if np.isfinite(value):
                    mlflow.log_metric(f"holdout.{row.method}.{metric}", value)
        best = evaluation.table.set_index("method").loc[evaluation.champion]
        mlflow.log_metric(f"holdout.{GATE_METRIC}", float(best[GATE_METRIC]))
        info = log_subscription_model(model, scheme, served.head(5), name)
        version = str(info.registered_model_version)
        decision = promote_if_better(
            mlflow.MlflowClient(),
            name,
            version,
            GATE_METRIC,
            float(best[GATE_METRIC]),
            greater_is_better=False,
        )
    return SubscriptionTrainResult(
        evaluation=evaluation,
        model=model,
        as_of=as_of,
        run_id=run.info.run_id,
        model_uri=f"models:/{name}/{version}",
        tracking_uri=redact_uri(cfg.tracking_uri),
        decision=decision,
        ltv_cac=ltv,
    )


@dataclass
class SubscriptionScoreResult:
    """What :func:`score_subscriptions` wrote (or, for a dry run, would write).

    ``run`` is None for a dry run, whose ``plan`` says what would change; ``alerts`` are
    the alerts raised (or that would be raised); ``overridden`` the refusals ``force``
    overrode (:mod:`clvml.pipelines.score_checks`).
    """

    run: Any
    model_name: str
    model_version: str
    as_of: pd.Timestamp
    crm: str
    scores: pd.DataFrame
    plan: Any = None
    alerts: Any = None
    overridden: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def training_cutoff(model: Any) -> pd.Timestamp | None:
    """The last day of the spells a subscription model was fitted on (recorded by
    :func:`train_subscriptions`; None for a model logged before it was recorded)."""
    window = getattr(model, "training_window_", None)
    if not isinstance(window, Mapping) or window.get("cutoff") is None:
        return None
    return pd.Timestamp(window["cutoff"]).normalize()


def score_subscriptions(
    model_uri: str,
    data: str | os.PathLike[str],
    crm_url: str | None = None,
    *,
    table: str = "customer_scores",
    schema: str | None = None,
    as_of: object = None,
    tracking_uri: str | None = None,
    policy: ValidationPolicy | None = None,
    columns: Mapping[str, str] | None = None,
    lock_timeout: float = 0.0,
    force: bool = False,
    dry_run: bool = False,
    trust_model: bool = False,
    max_mean_change: float | None = None,
    max_tier_change: float | None = None,
    alerts: Any = None,
) -> SubscriptionScoreResult:
    """Score each customer's latest spell with a registered subscription model into the
    CRM score table (see the module docstring).

    The write goes through the transaction path's machinery
    (:func:`clvml.pipelines.score.write_scores`): the job lock is taken first (not for a
    dry run), ``as_of`` is checked against the data's last day, today and the model's
    training cut-off, a mean-CLV or tier-share jump against the table's scores is refused
    (all unless ``force``), and one run writes the scores, the score history
    (``customer_score_history``) and the alerts (``alerts``: an
    :class:`~clvml.alerts.config.AlertConfig`, default rules and retention), then delivers
    them. ``dry_run`` writes nothing and returns the plan and the alerts it would raise.
    The model is loaded only if its files match the digests recorded when it was logged,
    unless ``trust_model`` (its CRM version then ends in ``+unverified-sha256-<digest>``).
    """
    import contextlib
    import time

    from clvml.alerts.config import AlertConfig
    from clvml.pipelines.score import default_crm_url, write_scores
    from clvml.pipelines.score_checks import (
        MAX_MEAN_CLV_CHANGE,
        MAX_TIER_SHARE_CHANGE,
        check_as_of,
    )
    from clvml.scoring.crm import CRMSink
    from clvml.tracking.scoring_model import _configure, _model_version
    from clvml.tracking.subscription_model import score_frame, unwrap

    cfg = alerts if alerts is not None else AlertConfig()
    limits = {
        "max_mean_change": MAX_MEAN_CLV_CHANGE if max_mean_change is None else max_mean_change,
        "max_tier_change": MAX_TIER_SHARE_CHANGE if max_tier_change is None else max_tier_change,
    }
    uri = model_uri
    if uri == "models:/clvml@champion":  # the default of clvml score: the subscription model
        uri = f"models:/{SUBSCRIPTION_MODEL_NAME}@champion"
    sink = CRMSink(
        crm_url or default_crm_url(),
        table=table,
        schema=schema,
        lock_timeout=lock_timeout,
        history=cfg.history,
    )
    overridden: list[str] = []
    timings: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        stack.enter_context(sink)
        if not dry_run:  # the job lock before the model and the data, as score_customers
            stack.enter_context(sink.hold_lock())
        t = time.perf_counter()
        where = _configure(tracking_uri, None)
        mv = _model_version(uri, where) if uri.startswith("models:/") else None
        name, version = (str(mv.name), str(mv.version)) if mv is not None else (uri, "")
        model, scheme, unverified = unwrap(uri, version=mv, trust_model=trust_model)
        if unverified is not None:  # as clvml score records a trusted transaction model
            version = f"{version}+unverified-sha256-{unverified}"
        timings["load_model"] = time.perf_counter() - t
        t = time.perf_counter()
        tables = load_subscriptions(data, policy=policy, columns=columns)
        timings["read"] = time.perf_counter() - t
        day = tables.last_day if as_of is None else as_day(as_of, name="--as-of")
        overridden += check_as_of(
            day, last_day=tables.last_day, cutoff=training_cutoff(model), force=force
        )
        t = time.perf_counter()
        spells = _servable(spell_frame(tables, day), day)
        timings["features"] = time.perf_counter() - t
        scores = pd.DataFrame()

        def predict() -> pd.DataFrame:
            nonlocal scores
            scores = score_frame(model, scheme, spells)
            return scores

        run, plan, outcome = write_scores(
            sink,
            predict,
            model_name=name,
            model_version=version,
            as_of=day,
            rejected=None,
            engagement=tables.engagement,
            alerts=cfg,
            force=force,
            dry_run=dry_run,
            timings=timings,
            overridden=overridden,
            **limits,
        )
    return SubscriptionScoreResult(
        run,
        name,
        version,
        day,
        sink.safe_url,
        scores,
        plan=plan,
        alerts=outcome,
        overridden=overridden,
        timings=timings,
    )
