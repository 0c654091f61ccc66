"""The ``alerts`` and ``alert_deliveries`` tables of the CRM.

Alerts are raised by :mod:`clvml.alerts.rules` and written by :func:`store_alerts` inside
the scoring run's one transaction, with one ``pending`` delivery row per (alert,
destination of its team). Delivery (:mod:`clvml.alerts.delivery`) happens after the
commit and marks each delivery row ``delivered`` in its own short transaction, so a
delivery interrupted by a crash resumes with what is still ``pending`` and sends nothing
that was marked delivered again.

An alert's id is derived from (score table, run id, customer, rule): re-running the same
run keeps the alerts it already raised, with their delivery state, drops the ones it no
longer raises (and their delivery rows), and adds the new ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

__all__ = [
    "ALERTS_TABLE",
    "ALERT_COLUMNS",
    "DELIVERIES_TABLE",
    "alert_ids",
    "close_alerts",
    "define_alert_tables",
    "erase_customers",
    "find_open_alert",
    "mark_delivery",
    "pending_deliveries",
    "read_alerts",
    "store_alerts",
]

ALERTS_TABLE = "alerts"
DELIVERIES_TABLE = "alert_deliveries"
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_NAMESPACE = uuid.UUID("0b6c5d1e-8f1a-4c3b-9a2d-7e4f5a6b7c8d")
#: Columns of an alert frame (as :func:`clvml.alerts.rules.evaluate_rules` returns it).
ALERT_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "rule",
    "team",
    "evidence",
    "segment",
    "suggested_action",
)


def define_alert_tables(md: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """The alerts and deliveries tables in metadata ``md``."""
    alerts = sa.Table(
        ALERTS_TABLE,
        md,
        sa.Column("alert_id", sa.Text, primary_key=True),
        sa.Column("table_name", sa.Text, nullable=False),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("as_of", sa.Date),
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("team", sa.Text, nullable=False),
        sa.Column("evidence", _JSON, nullable=False),
        sa.Column("segment", sa.Text),
        sa.Column("suggested_action", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('open', 'closed')", name=ALERTS_TABLE + "_status"),
        sa.Index(f"ix_{ALERTS_TABLE}_run", "table_name", "run_id"),
        sa.Index(f"ix_{ALERTS_TABLE}_customer", "customer_id"),
    )
    deliveries = sa.Table(
        DELIVERIES_TABLE,
        md,
        sa.Column("alert_id", sa.Text, primary_key=True),
        sa.Column("destination", sa.Text, primary_key=True),
        sa.Column("team", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('pending', 'delivered')", name=DELIVERIES_TABLE + "_status"),
    )
    return alerts, deliveries


def alert_ids(table: str, run_id: str, customers: Iterable[str], rules: Iterable[str]) -> list[str]:
    """The stable id of each (customer, rule) alert of a run of score table ``table``."""
    return [
        str(uuid.uuid5(_NAMESPACE, f"{table}|{run_id}|{c}|{r}"))
        for c, r in zip(customers, rules, strict=True)
    ]


def store_alerts(
    conn: Connection,
    alerts_table: sa.Table,
    deliveries: sa.Table,
    frame: pd.DataFrame,
    *,
    table: str,
    run_id: str,
    as_of: date | None,
    now: datetime,
    destinations: Mapping[str, Sequence[str]],
) -> int:
    """Inside the run's transaction: make the run's alerts those of ``frame``.

    ``destinations`` maps a team to the names of its destinations; each new alert gets one
    ``pending`` delivery row per destination of its team. Alerts the run already stored
    keep their delivery state. Returns the number of alerts of the run.
    """
    a, d = alerts_table, deliveries
    ids = alert_ids(table, run_id, frame["customer_id"].astype(str), frame["rule"].astype(str))
    existing = {
        r[0]
        for r in conn.execute(
            sa.select(a.c.alert_id).where(a.c.table_name == table, a.c.run_id == run_id)
        )
    }
    stale = sorted(existing.difference(ids))
    if stale:
        conn.execute(d.delete().where(d.c.alert_id.in_(stale)))
        conn.execute(a.delete().where(a.c.alert_id.in_(stale)))
    rows = []
    new_deliveries = []
    for alert_id, rec in zip(ids, frame.to_dict(orient="records"), strict=True):
        if alert_id in existing:
            continue
        rows.append(
            {
                "alert_id": alert_id,
                "table_name": table,
                "run_id": run_id,
                "as_of": as_of,
                "customer_id": str(rec["customer_id"]),
                "rule": rec["rule"],
                "team": rec["team"],
                "evidence": rec["evidence"],
                "segment": _text(rec.get("segment")),
                "suggested_action": _text(rec.get("suggested_action")),
                "status": "open",
                "raised_at": now,
            }
        )
        for dest in destinations.get(str(rec["team"]), ()):
            new_deliveries.append(
                {
                    "alert_id": alert_id,
                    "destination": dest,
                    "team": rec["team"],
                    "status": "pending",
                    "attempts": 0,
                }
            )
    if rows:
        conn.execute(a.insert(), rows)
    if new_deliveries:
        conn.execute(d.insert(), new_deliveries)
    return len(ids)


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return str(value)


def pending_deliveries(
    conn: Connection, alerts_table: sa.Table, deliveries: sa.Table, destination: str
) -> pd.DataFrame:
    """The alerts still to deliver to ``destination``, oldest first (alert columns)."""
    a, d = alerts_table, deliveries
    stmt = (
        sa.select(
            a.c.alert_id,
            a.c.table_name,
            a.c.run_id,
            a.c.as_of,
            a.c.customer_id,
            a.c.rule,
            a.c.team,
            a.c.evidence,
            a.c.segment,
            a.c.suggested_action,
            a.c.raised_at,
            d.c.attempts,
        )
        .join(d, d.c.alert_id == a.c.alert_id)
        .where(d.c.destination == destination, d.c.status == "pending")
        .order_by(a.c.raised_at, a.c.alert_id)
    )
    rows = conn.execute(stmt).all()
    return pd.DataFrame(rows, columns=list(stmt.selected_columns.keys()))


def mark_delivery(
    conn: Connection,
    deliveries: sa.Table,
    alert_ids_: Sequence[str],
    destination: str,
    *,
    delivered: bool,
    now: datetime,
    error: str | None = None,
) -> None:
    """Record one delivery attempt of ``alert_ids_`` to ``destination`` (caller commits)."""
    d = deliveries
    values: dict[str, object] = {"attempts": d.c.attempts + 1, "last_error": error}
    if delivered:
        values.update(status="delivered", delivered_at=now)
    conn.execute(
        d.update()
        .where(
            d.c.destination == destination,
            d.c.status == "pending",
            d.c.alert_id.in_(list(alert_ids_)),
        )
        .values(**values)
    )


def read_alerts(
    conn: Connection,
    alerts_table: sa.Table,
    deliveries: sa.Table,
    *,
    table: str | None = None,
    team: str | None = None,
    since: date | None = None,
    status: str | None = "open",
) -> pd.DataFrame:
    """Alerts (newest first) with their delivery summary (``delivered``/``pending`` counts)."""
    a, d = alerts_table, deliveries
    delivered = sa.func.sum(sa.case((d.c.status == "delivered", 1), else_=0))
    pending = sa.func.sum(sa.case((d.c.status == "pending", 1), else_=0))
    per = (
        sa.select(d.c.alert_id, delivered.label("delivered"), pending.label("pending"))
        .group_by(d.c.alert_id)
        .subquery()
    )
    stmt = sa.select(
        a,
        sa.func.coalesce(per.c.delivered, 0).label("delivered"),
        sa.func.coalesce(per.c.pending, 0).label("pending"),
    ).outerjoin(per, per.c.alert_id == a.c.alert_id)
    if table is not None:
        stmt = stmt.where(a.c.table_name == table)
    if team is not None:
        stmt = stmt.where(a.c.team == team)
    if since is not None:
        stmt = stmt.where(a.c.as_of >= since)
    if status is not None:
        stmt = stmt.where(a.c.status == status)
    stmt = stmt.order_by(a.c.raised_at.desc(), a.c.customer_id, a.c.rule)
    rows = conn.execute(stmt).all()
    return pd.DataFrame(rows, columns=list(stmt.selected_columns.keys()))


def close_alerts(
    conn: Connection, alerts_table: sa.Table, ids: Sequence[str], *, now: datetime
) -> list[str]:
    """Mark the open alerts ``ids`` closed (handled); returns the ids that were open.

    Closed alerts leave ``clvml alerts``' list; their deliveries are not affected.
    """
    a = alerts_table
    found = [
        r[0]
        for r in conn.execute(
            sa.select(a.c.alert_id).where(a.c.alert_id.in_(list(ids)), a.c.status == "open")
        )
    ]
    if found:
        conn.execute(
            a.update().where(a.c.alert_id.in_(found)).values(status="closed", closed_at=now)
        )
    return found


def find_open_alert(conn: Connection, alerts_table: sa.Table, prefix: str) -> list[str]:
    """The open alerts whose id starts with ``prefix`` (8-36 characters of hex and ``-``)."""
    import re

    if re.fullmatch(r"[0-9a-f-]{8,36}", prefix) is None:
        return []
    a = alerts_table
    stmt = sa.select(a.c.alert_id).where(
        a.c.alert_id.startswith(prefix, autoescape=True), a.c.status == "open"
    )
    return [r[0] for r in conn.execute(stmt.limit(2))]


def erase_customers(
    conn: Connection, alerts_table: sa.Table, deliveries: sa.Table, customer_ids: Sequence[str]
) -> int:
    """Inside the caller's transaction: delete these customers' alerts and their deliveries.

    Every score table's alerts (an erasure is about the person). Returns the alerts deleted.
    """
    ids = list(dict.fromkeys(str(c) for c in customer_ids))
    a, d = alerts_table, deliveries
    n = 0
    for start in range(0, len(ids), 1000):
        part = ids[start : start + 1000]
        theirs = sa.select(a.c.alert_id).where(a.c.customer_id.in_(part))
        conn.execute(d.delete().where(d.c.alert_id.in_(theirs)))
        n += conn.execute(a.delete().where(a.c.customer_id.in_(part))).rowcount or 0
    return n
