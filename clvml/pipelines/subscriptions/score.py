"""``clvml score`` with a subscription model: each customer's latest spell into the CRM
score table (:mod:`clvml.pipelines.subscriptions`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from clvml.data.dates import as_day
from clvml.data.policy import ValidationPolicy
from clvml.pipelines.subscriptions.inputs import load_subscriptions, servable_spells, spell_frame
from clvml.pipelines.subscriptions.train import SUBSCRIPTION_MODEL_NAME


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
        spells = servable_spells(spell_frame(tables, day), day)
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
