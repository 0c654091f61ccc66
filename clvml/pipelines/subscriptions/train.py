"""``clvml train`` on subscriptions: compare, fit the champion on every spell, log and
register it (:mod:`clvml.pipelines.subscriptions`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clvml.data.policy import ValidationPolicy
from clvml.pipelines.subscriptions.evaluate import SubscriptionEvaluation, holdout_window, judge
from clvml.pipelines.subscriptions.inputs import (
    fit_subscription_model,
    load_subscriptions,
    servable_spells,
    spell_frame,
)

#: Registered model name of the subscription models (``clvml train`` on subscriptions).
SUBSCRIPTION_MODEL_NAME = "clvml_subscriptions"
#: Metric of the champion gate (lower is better).
GATE_METRIC = "mae_renewals"


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
    cutoff, end = holdout_window(tables, calibration_end, None, horizon_weeks)
    params = {"annual_discount_rate": annual_discount_rate, "margin": margin}
    evaluation, _ = judge(tables, cutoff, end, **params)
    as_of = tables.last_day
    spells = spell_frame(tables, as_of)
    model = fit_subscription_model(spells, evaluation.notes, champion=evaluation.champion, **params)
    # the last day of spells it has seen: clvml score refuses an earlier --as-of (unless --force)
    model.training_window_ = {"cutoff": str(as_of.date())}
    served = servable_spells(spells, as_of)
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
