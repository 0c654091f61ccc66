"""Steps 3-6 of the scoring job: read, validate, set aside and featurise the data.

:func:`prepare_inputs` is shared by the single-machine job (:mod:`clvml.pipelines.score`)
and its tests; :func:`rule_messages` by the Spark job (:mod:`clvml.spark.job`). Every row
set aside gets a quarantine entry (``customer_id``, ``reason`` and, for input rows, the
row as read in ``payload``, customer text withheld).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from clvml.data.dates import as_day
from clvml.data.io import is_database_url, load_tables
from clvml.data.membership import isin
from clvml.data.policy import ValidationPolicy, resolve_policy
from clvml.data.validation import validate_customers, validate_engagement, validate_transactions
from clvml.exceptions import DataValidationError
from clvml.pipelines.consent import MARKETING, marketing_flags, without_profiling

__all__ = [
    "PAYLOAD_CHARS",
    "BadRows",
    "PreparedInputs",
    "prepare_inputs",
    "quarantine_payloads",
    "rule_messages",
]

BadRows = Literal["quarantine", "error"]
_VALIDATORS: dict[str, Callable[..., Any]] = {
    "transactions": validate_transactions,
    "engagement": validate_engagement,
    "customers": validate_customers,
}


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
        unknown = ~isin(ids, known)
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
    #: The validated engagement events (None without an engagement table): the alert
    #: rules read the messages since the previous run from them.
    engagement: pd.DataFrame | None = None
    #: Ids without profiling consent (their engagement rows were not used) and the
    #: marketing consent per id (None: not recorded); see clvml.pipelines.consent.
    no_profiling: pd.Index | None = None
    marketing: pd.Series | None = None
    #: Engagement feature columns not built (``engagement_features=False``).
    skipped_features: tuple[str, ...] = ()


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
    engagement_features: bool = True,
) -> PreparedInputs:
    """Read, validate and featurise the scoring data (steps 3-6 of the module notes).

    ``engagement_features=False`` builds the customer frame from the transactions and the
    customers table alone (the engagement table is still read, validated and returned,
    for the alerts): for a model that reads no engagement feature
    (:func:`clvml.pipelines.score_predict.needs_engagement`).

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

    # consent: no engagement row of a customer without profiling consent is read further
    frames, no_profiling = without_profiling(frames)
    marketing = None
    if "customers" in frames and MARKETING in frames["customers"].columns:
        ids = frames["customers"]["customer_id"].astype(str)
        marketing = pd.Series(marketing_flags(frames["customers"], ids), index=ids.to_numpy())

    t = time.perf_counter()
    tx = frames["transactions"]
    day = _as_of(as_of, tx)
    last_day = _last_day(frames)
    if check_day is not None:
        check_day(day, last_day)
    events = frames.get("engagement")
    skipped: tuple[str, ...] = ()
    if not engagement_features and events is not None and len(events):
        from clvml.features.engagement import EngagementFeatures

        # the names customer_features would have added (they depend on no event's values)
        names = EngagementFeatures(cutoff=day + pd.Timedelta(days=1)).fit(events.head(1))
        skipped, events = tuple(str(c) for c in names.get_feature_names_out()), None
    features = customer_features(tx, events, frames.get("customers"), cutoff=day)
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
        engagement=frames.get("engagement"),
        no_profiling=no_profiling,
        marketing=marketing,
        skipped_features=skipped,
    )
