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
   through :class:`clvml.scoring.crm.CRMSink` in one transaction.

Steps 1-7 touch nothing in the CRM database; a failure in step 8 marks the run
``failed`` and leaves the previous scores whole. The counts add up:
``rows_read = rows_written + rows_quarantined`` in the run table, where
``rows_read`` counts the customers scored plus every quarantine entry (input rows
set aside by validation, unknown customers, customers without a purchase, score
rows the sink refused).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from clvml.data.dates import as_day
from clvml.data.io import is_database_url, load_tables, safe_url
from clvml.data.policy import ValidationPolicy, resolve_policy
from clvml.data.validation import validate_customers, validate_engagement, validate_transactions
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
from clvml.scoring.crm import CRMSink, RunResult
from clvml.scoring.schema import SCORE_COLUMNS
from clvml.scoring.validation import split_scores
from clvml.tracking.scoring_model import (
    DEFAULT_MODEL_URI,
    ModelLoadError,
    ScoringModel,
    check_signature,
    load_scoring_model,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_CRM_URL",
    "PreparedInputs",
    "ScoreJobResult",
    "default_crm_url",
    "predict_in_chunks",
    "prepare_inputs",
    "rule_messages",
    "score_customers",
]

logger = logging.getLogger(__name__)

DEFAULT_CRM_URL = "sqlite:///crm.db"
DEFAULT_CHUNK_SIZE = 100_000
BadRows = Literal["quarantine", "error"]
_VALIDATORS: dict[str, Callable[..., Any]] = {
    "transactions": validate_transactions,
    "engagement": validate_engagement,
    "customers": validate_customers,
}
_REJECTED_COLUMNS = ["customer_id", "reason"]


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


def default_crm_url(workdir: str | os.PathLike[str] | None = None) -> str:
    """The embedded CRM database: ``crm.db`` in ``workdir`` (default: the working directory)."""
    return f"sqlite:///{(Path(workdir or os.getcwd()) / 'crm.db').resolve()}"


def _rejected(ids: Any, reasons: Any) -> pd.DataFrame:
    ids = pd.Series(ids, dtype=object).reset_index(drop=True)
    ids = ids.where(ids.notna(), None).map(lambda v: v if v is None else str(v))
    reasons = pd.Series(reasons, dtype=object).reset_index(drop=True)
    if len(reasons) != len(ids):
        reasons = pd.Series([reasons.iloc[0]] * len(ids), dtype=object)
    return pd.DataFrame({"customer_id": ids, "reason": reasons})


def rule_messages(report: Any) -> dict[str, str]:
    """Per rule of a validation report, the text of its quarantine reasons.

    ``"<column>: <message>"``; a rule that fired on several columns names them all
    (``"a/b: <message of the first>"``). Shared with the Spark job (:mod:`clvml.spark.job`).
    """
    messages: dict[str, str] = {}
    for o in report.outcomes:
        if o.rule in messages:
            cols, _, text = messages[o.rule].partition(": ")
            messages[o.rule] = f"{cols}/{o.column or 'row'}: {text}"
        else:
            messages[o.rule] = f"{o.column or 'row'}: {o.message}"
    return messages


def _validate(
    table: str, frame: pd.DataFrame, bad_rows: BadRows, policy: ValidationPolicy
) -> tuple[pd.DataFrame, pd.DataFrame]:
    policy = resolve_policy(policy, invalid="drop" if bad_rows == "quarantine" else "error")
    try:
        clean, report = _VALIDATORS[table](frame, policy, return_report=True)
    except DataValidationError as exc:
        raise DataValidationError(
            f"{exc.reason} (table {table})",
            column=exc.column,
            n_rows=exc.n_rows,
            example=exc.example,
        ) from None
    aside = report.set_aside
    if aside is None or aside.empty:
        return clean, _rejected([], [])
    messages = rule_messages(report)
    ids = aside["customer_id"] if "customer_id" in aside.columns else [None] * len(aside)
    reasons = [
        f"{table} row {label}: {messages.get(rule, rule)} [{rule}]"
        for label, rule in zip(aside.index, aside["rule"], strict=True)
    ]
    out = _rejected(ids, reasons)
    out["payload"] = quarantine_payloads(aside.drop(columns=["rule"]))
    return clean, out


#: Longest value kept in a quarantine payload (characters of its text form).
PAYLOAD_CHARS = 120
#: Columns whose values never enter the CRM: what customers wrote.
_FREE_TEXT = frozenset({"text"})


def _bounded(value: object) -> object:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int) or (isinstance(value, float) and np.isfinite(value)):
        return value
    text = str(value)
    return text if len(text) <= PAYLOAD_CHARS else text[: PAYLOAD_CHARS - 1] + "…"


def quarantine_payloads(rows: pd.DataFrame) -> list[dict[str, object]]:
    """The offending input rows as the quarantine keeps them (``payload``, JSON).

    Every value as read, cut to :data:`PAYLOAD_CHARS` characters; a free-text column (what
    a customer wrote) is withheld, only its length kept.

    >>> quarantine_payloads(pd.DataFrame({"amount": ["12,50 EUR"], "text": ["my address"]}))
    [{'amount': '12,50 EUR', 'text': '<withheld: 10 characters>'}]
    """
    out = []
    for rec in rows.to_dict(orient="records"):
        out.append(
            {
                str(k): (
                    f"<withheld: {len(str(v))} characters>"
                    if k in _FREE_TEXT and isinstance(v, str)
                    else _bounded(v)
                )
                for k, v in rec.items()
            }
        )
    return out


def _unknown_customers(
    frames: dict[str, pd.DataFrame], bad_rows: BadRows
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Drop (and report) purchases and events of customers the job does not know."""
    customers = frames.get("customers")
    if customers is not None:
        known = pd.Index(customers["customer_id"].astype(str).unique())
        checked: tuple[str, ...] = ("transactions", "engagement")
        where = "the customers table"
    else:
        known = pd.Index(frames["transactions"]["customer_id"].astype(str).unique())
        checked, where = ("engagement",), "the transactions (no customers table)"
    counts: dict[str, pd.Series] = {}
    out = dict(frames)
    for table in checked:
        frame = frames.get(table)
        if frame is None:
            continue
        ids = frame["customer_id"].astype(str)
        unknown = ~ids.isin(known).to_numpy()
        if not unknown.any():
            continue
        if bad_rows == "error":
            raise DataValidationError(
                f"of table {table} belong to customers not in {where} (unknown customer ids)",
                column="customer_id",
                n_rows=int(unknown.sum()),
                example=str(ids[unknown].iloc[0]),
            )
        counts[table] = ids[unknown].value_counts()
        out[table] = frame.loc[~unknown]
    if not counts:
        return out, _rejected([], [])
    per = pd.DataFrame(counts).fillna(0).astype(int).sort_index()
    reasons = [
        f"unknown customer id: not in {where} ("
        + ", ".join(f"{n} {t} rows" for t, n in row.items() if n)
        + ")"
        for _, row in per.iterrows()
    ]
    return out, _rejected(per.index.to_numpy(dtype=object), reasons)


def _as_of(value: object, transactions: pd.DataFrame) -> pd.Timestamp:
    if value is None:
        last = transactions["timestamp"].max()
        if pd.isna(last):
            raise DataValidationError("no transactions to score", column="timestamp")
        return as_day(last, name="the last transaction")
    return as_day(value, name="as_of")


@dataclass
class PreparedInputs:
    """The scoring data after validation and feature building (see :func:`prepare_inputs`)."""

    features: pd.DataFrame
    rejected: pd.DataFrame
    as_of: pd.Timestamp
    input_rows: dict[str, int]
    set_aside: dict[str, int]
    timings: dict[str, float]
    last_day: pd.Timestamp | None = None


def _last_day(frames: dict[str, pd.DataFrame]) -> pd.Timestamp | None:
    days = [frames[t]["timestamp"].max() for t in ("transactions", "engagement") if t in frames]
    days = [d for d in days if not pd.isna(d)]
    return as_day(max(days), name="the last day of the data") if days else None


def prepare_inputs(
    data: str | os.PathLike[str] | dict[str, pd.DataFrame],
    *,
    as_of: object = None,
    bad_rows: BadRows = "quarantine",
    policy: ValidationPolicy | None = None,
    check_day: Callable[[pd.Timestamp, pd.Timestamp | None], object] | None = None,
    columns: Mapping[str, str] | None = None,
) -> PreparedInputs:
    """Read, validate and featurise the scoring data (steps 3-6 of the module notes).

    ``columns`` maps contract column names to the source's (``--columns``,
    :mod:`clvml.data.mapping`). ``check_day(as_of, last_day)`` is called before the
    features are built (the scoring job refuses a wrong as-of day there,
    :func:`clvml.pipelines.score_checks.check_as_of`).

    Returns an object with ``features`` (the customer frame as of ``as_of``),
    ``rejected`` (``customer_id``, ``reason``: every quarantine entry made),
    ``as_of``, ``input_rows``, ``set_aside``, ``timings`` and ``last_day``.
    """
    from clvml.features.dataset import customer_features

    if bad_rows not in ("quarantine", "error"):
        raise DataValidationError(f"bad_rows must be 'quarantine' or 'error', not {bad_rows!r}")
    timings: dict[str, float] = {}
    t = time.perf_counter()
    if isinstance(data, dict):
        raw = dict(data)
        if columns:
            from clvml.data.mapping import rename_columns

            raw = rename_columns(raw, columns)
    else:
        if not is_database_url(data) and not Path(data).is_dir():
            raise FileNotFoundError(f"{data}: no such data folder")
        raw = load_tables(data, columns=columns)
    if "transactions" not in raw:
        raise DataValidationError("the data have no transactions table")
    timings["read"] = time.perf_counter() - t

    t = time.perf_counter()
    policy = resolve_policy(policy)
    frames: dict[str, pd.DataFrame] = {}
    parts: list[pd.DataFrame] = []
    set_aside: dict[str, int] = {}
    for table in ("transactions", "engagement", "customers"):
        if table in raw:
            frames[table], rej = _validate(table, raw[table], bad_rows, policy)
            if len(rej):
                parts.append(rej)
                set_aside[table] = len(rej)
    frames, unknown = _unknown_customers(frames, bad_rows)
    if len(unknown):
        parts.append(unknown)
        set_aside["unknown_customer"] = len(unknown)
    timings["validate_data"] = time.perf_counter() - t

    t = time.perf_counter()
    tx = frames["transactions"]
    day = _as_of(as_of, tx)
    last_day = _last_day(frames)
    if check_day is not None:
        check_day(day, last_day)
    features = customer_features(tx, frames.get("engagement"), frames.get("customers"), cutoff=day)
    seen = pd.Index(tx["customer_id"].astype(str).unique())
    if "customers" in frames:
        seen = seen.union(pd.Index(frames["customers"]["customer_id"].astype(str)))
    no_purchase = seen.difference(features.index)
    if len(no_purchase):
        parts.append(
            _rejected(
                no_purchase.to_numpy(dtype=object),
                f"no purchase on or before the as-of date {day.date()}",
            )
        )
        set_aside["no_purchase"] = len(no_purchase)
    timings["features"] = time.perf_counter() - t
    rejected = pd.concat(parts, ignore_index=True) if parts else _rejected([], [])
    return PreparedInputs(
        features=features,
        rejected=rejected,
        as_of=day,
        input_rows={k: len(v) for k, v in raw.items()},
        set_aside=set_aside,
        timings=timings,
        last_day=last_day,
    )


def _data_note(tables: set[str]) -> str:
    absent = [t for t in ("engagement", "customers") if t not in tables]
    if not absent:
        return ""
    return f" (the data have no {' or '.join(absent)} table)"


def _score_chunk(model: ScoringModel, part: pd.DataFrame) -> pd.DataFrame:
    """One chunk through the pyfunc model, with the output checked against its input."""
    try:
        pred = model.pyfunc.predict(part)
    except DataValidationError:
        raise
    except Exception as exc:
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ModelLoadError(
            f"model {model.name} version {model.version} failed to score the features: {line}"
        ) from exc
    if not isinstance(pred, pd.DataFrame):
        pred = pd.DataFrame(pred)
    if "customer_id" not in pred.columns and pred.index.name == "customer_id":
        pred = pred.reset_index()
    missing = [c for c in ("customer_id", "clv") if c not in pred.columns]
    if missing:
        raise ModelLoadError(
            f"model {model.name} version {model.version} returned no {missing} column; "
            "expected a clvml CLV model"
        )
    if len(pred) != len(part) or not np.array_equal(
        pred["customer_id"].astype(str).to_numpy(), part["customer_id"].to_numpy(dtype=str)
    ):
        raise ModelLoadError(
            f"model {model.name} version {model.version} returned {len(pred)} scores for "
            f"{len(part)} customers, not one per customer in the order given"
        )
    return pred[[c for c in SCORE_COLUMNS if c in pred.columns]]


def predict_in_chunks(
    model: ScoringModel,
    features: pd.DataFrame,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    workers: int = 1,
    on_chunk: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Score ``features`` with the pyfunc model, ``chunk_size`` customers at a time.

    With ``workers > 1`` chunks are scored in that many threads (the model's numerical
    kernels release the GIL); the result does not depend on ``chunk_size`` or ``workers``.

    Returns the score columns the CRM table knows (``customer_id``, ``clv``, ...),
    one row per customer, in the order of ``features``.
    """
    from clvml.models.model_input import to_model_input

    if chunk_size < 1:
        raise DataValidationError("chunk size must be >= 1", example=chunk_size)
    if workers < 1:
        raise DataValidationError("workers must be >= 1", example=workers)
    columns = [c for c in model.feature_columns if c in features.columns]
    starts = range(0, len(features), chunk_size)

    def one(start: int) -> pd.DataFrame:
        return _score_chunk(
            model, to_model_input(features.iloc[start : start + chunk_size], columns)
        )

    out: list[pd.DataFrame] = []
    if workers == 1 or len(starts) < 2:
        results: Any = map(one, starts)
        pool = None
    else:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clvml-score")
        results = pool.map(one, starts)  # in order; at most `workers` chunks in flight
    try:
        for pred in results:
            out.append(pred)
            if on_chunk is not None:
                on_chunk(len(pred))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if not out:
        return pd.DataFrame(columns=["customer_id", "clv"])
    return pd.concat(out, ignore_index=True)


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
    sink = CRMSink(
        crm_url or default_crm_url(workdir), table=table, schema=schema, lock_timeout=lock_timeout
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

        prep = prepare_inputs(
            data,
            as_of=as_of,
            bad_rows=bad_rows,
            policy=policy,
            check_day=check_day,
            columns=columns,
        )
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
        if dry_run:
            t = time.perf_counter()
            scores = _predict_with_progress(model, prep.features, chunk_size, workers, console)
            timings["predict"] = time.perf_counter() - t
            valid = split_scores(scores).valid
            plan = plan_changes(read_previous(sink), valid)
            overridden += check_shift(plan.previous, plan.new, force=True, **limits)
            return _result(None, model_uri, model, prep, sink, timings, plan, overridden)
        with sink.run(
            model_name=model.name, model_version=model.version, as_of=prep.as_of.date()
        ) as run:
            t = time.perf_counter()
            scores = _predict_with_progress(model, prep.features, chunk_size, workers, console)
            timings["predict"] = time.perf_counter() - t
            new = distribution(scores)
            overridden += check_shift(read_distribution(sink), new, force=force, **limits)
            result = run.write(scores, rejected=prep.rejected, timings=timings)
    return _result(result, model_uri, model, prep, sink, dict(result.timings), None, overridden)


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


def _predict_with_progress(
    model: ScoringModel, features: pd.DataFrame, chunk_size: int, workers: int, console: Any | None
) -> pd.DataFrame:
    if console is None:
        return predict_in_chunks(model, features, chunk_size=chunk_size, workers=workers)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("customers"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("scoring", total=len(features))
        return predict_in_chunks(
            model,
            features,
            chunk_size=chunk_size,
            workers=workers,
            on_chunk=lambda n: progress.advance(task, n),
        )
