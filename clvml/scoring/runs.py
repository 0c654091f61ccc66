"""The run table: one row per attempt of a scoring job, never overwritten by another attempt.

A job's ``run_id`` is stable across re-runs (see :class:`clvml.scoring.crm.ScoreRun`);
each start of it is an *attempt*, recorded as its own row ``(run_id, attempts)`` with
``attempts`` = 1, 2, ... An attempt only ever updates its own row, so the audit keeps
every attempt: a killed attempt stays ``failed`` with the ``abandoned`` reason (set by
the next job on the table, which can only start once the killed job's lock is gone), and
a later failed attempt never hides an earlier ``succeeded`` one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from clvml.exceptions import DataValidationError
from clvml.scoring.schema import CRMTables

__all__ = ["Attempt", "finish_attempt", "latest_attempts", "start_attempt"]

ABANDONED = "abandoned: the job stopped before finishing"


@dataclass(frozen=True)
class Attempt:
    """The attempt a run recorded: its number and the run's ``scored_at``."""

    number: int
    scored_at: datetime


def start_attempt(
    conn: Connection,
    tables: CRMTables,
    *,
    table: str,
    run_id: str,
    model_name: str,
    model_version: str,
    as_of: date | None,
    scored_at: datetime | None,
    now: datetime,
) -> Attempt:
    """Inside the caller's transaction: mark abandoned attempts, record a new ``running`` one.

    Attempts of ``table`` still ``running`` belong to killed jobs (the caller holds the
    table's job lock): each is marked ``failed`` with the abandoned reason, on its own
    row. The new attempt is numbered after the run id's last one and keeps the run's
    first ``scored_at`` unless ``scored_at`` is given.

    Raises
    ------
    DataValidationError
        The run id already belongs to another table, model or version.
    """
    r = tables.runs
    conn.execute(
        r.update()
        .where(r.c.table_name == table, r.c.status == "running")
        .values(status="failed", finished_at=now, error=ABANDONED)
    )
    prev = conn.execute(
        sa.select(r.c.table_name, r.c.model_name, r.c.model_version, r.c.scored_at, r.c.attempts)
        .where(r.c.run_id == run_id)
        .order_by(r.c.attempts.desc())
        .limit(1)
    ).one_or_none()
    number = 1
    if prev is not None:
        if (prev.table_name, prev.model_name, prev.model_version) != (
            table,
            model_name,
            model_version,
        ):
            raise DataValidationError(
                f"run_id {run_id!r} already belongs to table {prev.table_name!r}, "
                f"model {prev.model_name!r} version {prev.model_version!r}"
            )
        number = int(prev.attempts) + 1
        if scored_at is None:
            t = pd.Timestamp(prev.scored_at)
            scored_at = (t.tz_localize("UTC") if t.tzinfo is None else t).to_pydatetime()
    scored_at = scored_at or now
    conn.execute(
        r.insert().values(
            run_id=run_id,
            attempts=number,
            table_name=table,
            model_name=model_name,
            model_version=model_version,
            as_of=as_of,
            status="running",
            scored_at=scored_at,
            started_at=now,
        )
    )
    return Attempt(number, scored_at)


def finish_attempt(
    conn: Connection,
    tables: CRMTables,
    run_id: str,
    attempt: int,
    status: str,
    now: datetime,
    **values: Any,
) -> None:
    """Set the status (and counts, timings or error) of one attempt's row, and only it."""
    r = tables.runs
    conn.execute(
        r.update()
        .where(r.c.run_id == run_id, r.c.attempts == attempt)
        .values(status=status, finished_at=now, **values)
    )


def latest_attempts(tables: CRMTables, table: str, *, every: bool = False) -> sa.Select:
    """Query of the run table rows of ``table``: each run's latest attempt, or every attempt.

    Rows come oldest first (by ``started_at``, then attempt).
    """
    r = tables.runs
    stmt = sa.select(r).where(r.c.table_name == table)
    if not every:
        last = (
            sa.select(r.c.run_id, sa.func.max(r.c.attempts).label("n"))
            .where(r.c.table_name == table)
            .group_by(r.c.run_id)
            .subquery()
        )
        stmt = stmt.join(last, (r.c.run_id == last.c.run_id) & (r.c.attempts == last.c.n))
    return stmt.order_by(r.c.started_at, r.c.attempts)
