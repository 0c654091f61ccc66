"""The nightly batch scoring job: model + data as of a date -> CRM score table.

:func:`score_customers` runs, in order:

1. **checks that cost nothing**: the table name (an identifier, never SQL), the
   CRM URL, a connection to the CRM database and the table's **job lock**, held to the
   end (an unreachable database or a concurrent job on the table fails here, in one
   line, before the model is loaded or a feature built; a dry run takes neither);
2. **load the model** (:func:`clvml.tracking.scoring_model.load_scoring_model`);
3. **read** ``transactions`` and optionally ``engagement`` and ``customers`` from a
   folder or a SQLAlchemy URL (:func:`clvml.data.io.load_tables`);
4. **validate** them (:mod:`clvml.data.validation`). With ``bad_rows="quarantine"``
   (default) rows breaking a row-level rule are set aside and go to the quarantine
   table with the table, row and rule as the reason; ``bad_rows="error"`` refuses
   them instead. Problems of a whole column (missing, wrong type) are always errors;
5. **customer ids**: events or purchases of customers absent from the customers
   table (or, without one, engagement of ids that never bought) are *unknown*:
   quarantined per customer, or an error with ``bad_rows="error"``;
6. **features as of** ``as_of`` (default: the last transaction date;
   :func:`clvml.features.dataset.customer_features`); customers with no purchase
   by then cannot be scored and are quarantined with that reason;
7. **check the signature**: the model's inputs must be among the features, with
   matching types (:func:`clvml.tracking.scoring_model.check_signature`);
8. **predict in chunks** (progress bar when a console is given) and **write**
   through :class:`clvml.scoring.crm.CRMSink` in one transaction: the scores, the
   quarantine, the score history (:mod:`clvml.scoring.history`) and the alerts the run
   raises (:mod:`clvml.alerts`);
9. **deliver** the pending alerts to the teams' destinations (:mod:`clvml.alerts.delivery`),
   still under the job lock; a destination that is down keeps its alerts pending.

Steps 1-7 touch nothing in the CRM database; a failure in step 8 marks the run
``failed`` and leaves the previous scores whole. The counts add up:
``rows_read = rows_written + rows_quarantined`` in the run table, where
``rows_read`` counts the customers scored plus every quarantine entry (input rows
set aside by validation, unknown customers, customers without a purchase, score
rows the sink refused).

The steps live in small modules: :mod:`clvml.pipelines.score_inputs` (steps 3-6),
:mod:`clvml.pipelines.score_checks` (the refusals and the dry run's plan),
:mod:`clvml.pipelines.score_predict` (prediction in chunks); this module runs them in
order around the CRM run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clvml.alerts.config import AlertConfig
from clvml.alerts.delivery import deliver_pending
from clvml.alerts.job import AlertStep, preview_alerts
from clvml.data.io import is_database_url, safe_url
from clvml.data.policy import ValidationPolicy
from clvml.exceptions import DataValidationError
from clvml.pipelines.score_checks import (
    MAX_MEAN_CLV_CHANGE,
    MAX_TIER_SHARE_CHANGE,
    ScorePlan,
    check_as_of,
    check_shift,
    distribution,
    plan_changes,
    read_distribution,
    read_previous,
    training_cutoff,
)
from clvml.pipelines.score_inputs import (
    PAYLOAD_CHARS,
    BadRows,
    PreparedInputs,
    prepare_inputs,
    quarantine_payloads,
    rule_messages,
)
from clvml.pipelines.score_predict import (
    DEFAULT_CHUNK_SIZE,
    needs_engagement,
    predict_in_chunks,
    predict_with_progress,
)
from clvml.scoring.crm import CRMSink, RunResult
from clvml.scoring.validation import split_scores
from clvml.tracking.scoring_model import (
    DEFAULT_MODEL_URI,
    ScoringModel,
    check_signature,
    load_scoring_model,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_CRM_URL",
    "PAYLOAD_CHARS",
    "AlertOutcome",
    "PreparedInputs",
    "ScoreJobResult",
    "default_crm_url",
    "predict_in_chunks",
    "prepare_inputs",
    "quarantine_payloads",
    "rule_messages",
    "score_customers",
    "write_scores",
]

logger = logging.getLogger(__name__)

DEFAULT_CRM_URL = "sqlite:///crm.db"


@dataclass(frozen=True)
class ScoreJobResult:
    """What a scoring job did.

    Attributes
    ----------
    run : RunResult or None
        The sink's counts (``rows_read = rows_written + rows_quarantined``) and run id;
        None for a dry run (nothing written).
    model_uri, model_name, model_version : str
    as_of : str
        Date the features were computed at (``YYYY-MM-DD``).
    crm : str
        The CRM database URL, password masked.
    input_rows : dict
        Rows read per input table.
    set_aside : dict
        Quarantine entries made by the job, by cause: ``<table>`` (input rows
        breaking a rule), ``unknown_customer``, ``no_purchase``.
    timings : dict
        Seconds per phase (``load_model``, ``read``, ``validate``, ``features``,
        ``predict``, then the sink's).
    plan : ScorePlan or None
        For a dry run, what the run would change (rows inserted/updated, tier moves).
    overridden : list of str
        The refusals ``force=True`` overrode (:mod:`clvml.pipelines.score_checks`).
    alerts : AlertOutcome or None
        Alerts raised by the run and deliveries made; for a dry run, the alerts it would
        raise (nothing stored or sent).
    transactions_only : int
        Customers without profiling consent, scored by the model's transaction-only
        method (:mod:`clvml.pipelines.consent`).
    """

    run: RunResult | None
    model_uri: str
    model_name: str
    model_version: str
    as_of: str
    crm: str
    input_rows: dict[str, int]
    set_aside: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)
    plan: ScorePlan | None = None
    overridden: list[str] = field(default_factory=list)
    alerts: AlertOutcome | None = None
    transactions_only: int = 0


@dataclass(frozen=True)
class AlertOutcome:
    """The alerts of a scoring run.

    Attributes
    ----------
    raised : int
        Alerts of the run (in the ``alerts`` table).
    by_rule : dict
        Alerts per rule.
    delivered, pending : int
        Alert deliveries made by this job (to every destination; pending ones of earlier
        runs included) and still pending after it.
    errors : dict
        Destination -> why its alerts stay pending (one line).
    """

    raised: int
    by_rule: dict[str, int]
    delivered: int
    pending: int
    errors: dict[str, str]


def default_crm_url(workdir: str | os.PathLike[str] | None = None) -> str:
    """The embedded CRM database: ``crm.db`` in ``workdir`` (default: the working directory)."""
    return f"sqlite:///{(Path(workdir or os.getcwd()) / 'crm.db').resolve()}"


def _data_note(tables: set[str]) -> str:
    absent = [t for t in ("engagement", "customers") if t not in tables]
    if not absent:
        return ""
    return f" (the data have no {' or '.join(absent)} table)"


def score_customers(
    model_uri: str = DEFAULT_MODEL_URI,
    data: str | os.PathLike[str] | dict[str, pd.DataFrame] = "data",
    crm_url: str | None = None,
    *,
    table: str = "customer_scores",
    schema: str | None = None,
    as_of: object = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    workers: int = 1,
    bad_rows: BadRows = "quarantine",
    policy: ValidationPolicy | None = None,
    tracking_uri: str | None = None,
    workdir: str | os.PathLike[str] | None = None,
    lock_timeout: float = 0.0,
    console: Any | None = None,
    trust_model: bool = False,
    force: bool = False,
    dry_run: bool = False,
    max_mean_change: float = MAX_MEAN_CLV_CHANGE,
    max_tier_change: float = MAX_TIER_SHARE_CHANGE,
    columns: Mapping[str, str] | None = None,
    alerts: AlertConfig | None = None,
    fast: bool = True,
) -> ScoreJobResult:
    """Score every customer with a model and write the scores into the CRM.

    Parameters
    ----------
    model_uri : str, default "models:/clvml@champion"
        See :func:`clvml.tracking.scoring_model.load_scoring_model`.
    data : path, SQLAlchemy URL or dict of frames
        Folder (or database) with ``transactions`` and optionally ``engagement``
        and ``customers``.
    crm_url : str, optional
        SQLAlchemy URL of the CRM database (default: ``crm.db`` in ``workdir``).
    table : str, default "customer_scores"
        Score table (lower-case identifier; anything else is refused).
    schema : str, optional
        PostgreSQL schema of the tables.
    as_of : date-like, optional
        Features are computed with the data up to this day (inclusive); default
        the last transaction date.
    chunk_size : int, default 100000
        Customers per prediction call.
    workers : int, default 1
        Threads scoring chunks at once (e.g. the number of free cores).
    bad_rows : {"quarantine", "error"}, default "quarantine"
        Rows breaking a row-level rule and unknown customer ids: quarantine them
        with the reason, or refuse the whole job.
    policy : ValidationPolicy, optional
        How validation treats returns, duplicates and time (see
        :class:`clvml.data.policy.ValidationPolicy`), as in training; its ``invalid`` is
        set by ``bad_rows``. Default: refuse returns and duplicate rows.
    tracking_uri, workdir : optional
        Where the MLflow store is (see :func:`clvml.tracking.store.resolve_tracking`).
    lock_timeout : float, default 0
        Seconds to wait for another job on the same table (0: fail at once).
    console : rich.console.Console, optional
        Shows a progress bar while predicting; nothing is printed otherwise.
    trust_model : bool, default False
        Load a model folder even if its files do not match the digests recorded by
        ``clvml export`` (recorded as ``unverified-sha256-<digest>``); see docs/security.md.
    force : bool, default False
        Write even when a check of :mod:`clvml.pipelines.score_checks` refuses: an
        ``as_of`` after the last day of the data or today, or before the model's training
        cut-off; scores whose mean CLV or tier shares moved far from the table's.
    dry_run : bool, default False
        Validate and score, compute what would change (``plan``), write nothing (no run
        row, no lock, no table created).
    max_mean_change, max_tier_change : float, default 0.5 and 0.15
        Largest relative move of the mean CLV, and absolute move of a value tier's share,
        against the scores already in the table.
    columns : mapping, optional
        Contract column -> the source's column (``--columns``, :mod:`clvml.data.mapping`).
    alerts : AlertConfig, optional
        History retention, alert rules and the teams' destinations
        (:func:`clvml.alerts.config.load_alert_config`); default: keep 30 runs, the
        default rules, no destinations (alerts are only stored).
    fast : bool, default True
        Score a clvml model with its scoring steps only, and skip the engagement features
        when those steps do not read them (:mod:`clvml.pipelines.score_predict`); the
        scores are the same as with ``fast=False``, which runs every fitted method
        through the pyfunc model.

    Returns
    -------
    ScoreJobResult

    Raises
    ------
    DataValidationError
        Bad table name, data, as-of date, or features not matching the model.
    clvml.pipelines.score_checks.ScoreRefusedError
        A wrong as-of day or scores far from the previous ones (unless ``force``).
    clvml.tracking.scoring_model.ModelLoadError
        The model cannot be loaded or does not produce CLV scores.
    clvml.scoring.errors.CRMConnectionError, CRMLockError, CRMError
        The CRM database is unreachable, busy or fails (previous scores intact).
    """
    timings: dict[str, float] = {}
    if not isinstance(chunk_size, int | np.integer) or chunk_size < 1:
        raise DataValidationError("chunk size must be a positive integer", example=chunk_size)
    cfg = alerts if alerts is not None else AlertConfig()
    sink = CRMSink(
        crm_url or default_crm_url(workdir),
        table=table,
        schema=schema,
        lock_timeout=lock_timeout,
        history=cfg.history,
    )
    overridden: list[str] = []
    with contextlib.ExitStack() as stack:
        stack.enter_context(sink)
        if not dry_run:
            # The job lock first: an unreachable database or a concurrent job on the table
            # fails now, in one line, before the model is loaded and the features are built.
            stack.enter_context(sink.hold_lock())
        t = time.perf_counter()
        model = load_scoring_model(
            model_uri, tracking_uri=tracking_uri, workdir=workdir, trust_model=trust_model
        )
        timings["load_model"] = time.perf_counter() - t
        cutoff = training_cutoff(model.pyfunc)

        def check_day(day: pd.Timestamp, last_day: pd.Timestamp | None) -> None:
            overridden.extend(check_as_of(day, last_day=last_day, cutoff=cutoff, force=force))

        with_events = not fast or needs_engagement(model)
        prep = prepare_inputs(
            data,
            as_of=as_of,
            bad_rows=bad_rows,
            policy=policy,
            check_day=check_day,
            columns=columns,
            engagement_features=with_events,
        )
        if not with_events:  # columns no scoring step reads (score_predict.needs_engagement)
            prep.features = _unread_columns(prep.features, prep.skipped_features, model)
        timings.update(prep.timings)
        check_signature(model, prep.features, data_note=_data_note(set(prep.input_rows)))
        source = safe_url(str(data)) if is_database_url(data) else str(data)
        logger.info(
            "scoring %d customers from %s with %s version %s as of %s",
            len(prep.features),
            source if not isinstance(data, dict) else "frames",
            model.name,
            model.version,
            prep.as_of.date(),
        )
        limits = {"max_mean_change": max_mean_change, "max_tier_change": max_tier_change}
        n_tx_only = 0

        def predict() -> pd.DataFrame:
            nonlocal n_tx_only
            scores = predict_with_progress(
                model, prep.features, chunk_size, workers, console, fast=fast
            )
            scores, n_tx_only = _consent(model, prep, scores)
            return scores

        result, plan, outcome = write_scores(
            sink,
            predict,
            model_name=model.name,
            model_version=model.version,
            as_of=prep.as_of,
            rejected=prep.rejected,
            engagement=prep.engagement,
            alerts=cfg,
            force=force,
            dry_run=dry_run,
            timings=timings,
            overridden=overridden,
            **limits,
        )
    out = _result(result, model_uri, model, prep, sink, timings, plan, overridden)
    return dataclasses.replace(out, alerts=outcome, transactions_only=n_tx_only)


def write_scores(
    sink: CRMSink,
    predict: Callable[[], pd.DataFrame],
    *,
    model_name: str,
    model_version: str,
    as_of: pd.Timestamp,
    rejected: pd.DataFrame | None,
    engagement: pd.DataFrame | None,
    alerts: AlertConfig,
    force: bool,
    dry_run: bool,
    timings: dict[str, float],
    overridden: list[str],
    max_mean_change: float = MAX_MEAN_CLV_CHANGE,
    max_tier_change: float = MAX_TIER_SHARE_CHANGE,
) -> tuple[RunResult | None, ScorePlan | None, AlertOutcome]:
    """Step 8-9 of :func:`score_customers`, shared with the subscription path
    (:func:`clvml.pipelines.subscriptions.score_subscriptions`): predict, refuse a
    distribution jump (unless ``force``), write the scores, quarantine, history and alerts in
    one run, deliver the pending alerts; or, for a dry run, the plan and the alerts it would
    raise, writing nothing.

    ``predict`` returns the score rows (called inside the run, so a failure marks the run
    failed); ``timings`` gets ``predict`` and, for a real run, the sink's phases and
    ``deliver``; ``overridden`` gets the refusals ``force`` overrode (every refusal, for a
    dry run). The caller holds the job lock (except for a dry run).

    Returns
    -------
    (RunResult or None, ScorePlan or None, AlertOutcome)
        The run (None for a dry run), the plan (dry run only) and the alerts.
    """
    limits = {"max_mean_change": max_mean_change, "max_tier_change": max_tier_change}
    day = as_of.date()
    if dry_run:
        t = time.perf_counter()
        scores = predict()
        timings["predict"] = time.perf_counter() - t
        valid = split_scores(scores).valid
        plan = plan_changes(read_previous(sink), valid)
        overridden += check_shift(plan.previous, plan.new, force=True, **limits)
        run_id = sink.run(model_name=model_name, model_version=model_version, as_of=day).run_id
        would = preview_alerts(
            sink, valid, run_id=run_id, as_of=day, rules=alerts.rules, engagement=engagement
        )
        preview = AlertOutcome(
            raised=len(would),
            by_rule=would["rule"].value_counts().to_dict() if len(would) else {},
            delivered=0,
            pending=0,
            errors={},
        )
        return None, plan, preview
    step = AlertStep(alerts.rules, alerts.by_team(), engagement)
    with sink.run(model_name=model_name, model_version=model_version, as_of=day) as run:
        run.in_transaction.append(step)
        t = time.perf_counter()
        scores = predict()
        timings["predict"] = time.perf_counter() - t
        new = distribution(scores)
        overridden += check_shift(read_distribution(sink), new, force=force, **limits)
        result = run.write(scores, rejected=rejected, timings=timings)
    t = time.perf_counter()
    report = deliver_pending(sink, alerts.destinations)
    timings.clear()
    timings.update({**result.timings, "deliver": time.perf_counter() - t})
    outcome = AlertOutcome(
        raised=step.raised,
        by_rule=dict(step.by_rule),
        delivered=report.n_delivered,
        pending=report.n_pending,
        errors=dict(report.errors),
    )
    return result, None, outcome


def _unread_columns(
    features: pd.DataFrame, skipped: tuple[str, ...], model: ScoringModel
) -> pd.DataFrame:
    """The model's numeric inputs among the ``skipped`` engagement features, added as NaN.

    Any other input missing from the data stays missing (the signature check refuses it).
    """
    have, skipped_set = set(features.columns), set(skipped)
    add = {
        name: np.full(len(features), np.nan)
        for name, kind, _ in model.inputs
        if name in skipped_set and name not in have and kind in ("double", "float")
    }
    return features.assign(**add) if add else features


def _consent(model: ScoringModel, prep: PreparedInputs, scores: pd.DataFrame) -> Any:
    """Transaction-only scores for customers without profiling consent (clvml.pipelines.consent)."""
    from clvml.pipelines.consent import apply_consent

    empty = pd.Index([], dtype=object)
    return apply_consent(
        model,
        prep.features,
        scores,
        no_profiling=prep.no_profiling if prep.no_profiling is not None else empty,
        marketing=prep.marketing,
    )


def _result(
    run: RunResult | None,
    model_uri: str,
    model: ScoringModel,
    prep: PreparedInputs,
    sink: CRMSink,
    timings: dict[str, float],
    plan: ScorePlan | None,
    overridden: list[str],
) -> ScoreJobResult:
    return ScoreJobResult(
        run=run,
        model_uri=model_uri,
        model_name=model.name,
        model_version=model.version,
        as_of=str(prep.as_of.date()),
        crm=sink.safe_url,
        input_rows=prep.input_rows,
        set_aside=prep.set_aside,
        timings=timings,
        plan=plan,
        overridden=overridden,
    )
