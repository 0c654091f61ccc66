"""The ``model_monitoring`` table: what ``clvml monitor`` measured, one row per number.

Each monitoring job (``monitor_id``) writes, in one transaction, long-format rows
``(monitor_id, score_run_id, kind, scope, metric) -> value``:

``kind = "accuracy"``
    A past scoring run's predictions against what its customers did since
    (:func:`clvml.evaluation.monitoring.prediction_accuracy`); ``scope`` is ``overall``
    or ``tier:<value tier>``.
``kind = "drift"``
    Input-feature drift between the training customers and the current ones
    (:func:`clvml.evaluation.monitoring.feature_drift`); ``scope`` is ``feature:<name>``,
    ``metric`` is ``psi`` or ``unseen_share``; ``score_run_id`` is empty.
``kind = "status"``
    ``scope = "champion"``, ``metric = "degraded"`` (1.0 or 0.0) with the reasons in
    ``note``.

Rows are aggregates: no customer id is stored, so ``clvml forget`` has nothing to erase
here. Writing the same ``monitor_id`` again replaces its rows (idempotent). The table is
created on first write; see docs/monitoring.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from clvml.exceptions import DataValidationError
from clvml.scoring.schema import validate_identifier

__all__ = [
    "MONITORING_COLUMNS",
    "MONITORING_TABLE",
    "monitoring_table",
    "read_monitoring",
    "write_monitoring",
]

MONITORING_TABLE = "model_monitoring"
_FLOAT = sa.Float(precision=53)
#: Columns of the table, in order (``monitored_at`` is set on write).
MONITORING_COLUMNS: dict[str, sa.types.TypeEngine] = {
    "monitor_id": sa.Text(),
    "monitored_at": sa.DateTime(timezone=True),
    "score_table": sa.Text(),
    "score_run_id": sa.Text(),
    "model_name": sa.Text(),
    "model_version": sa.Text(),
    "scored_as_of": sa.Date(),
    "data_through": sa.Date(),
    "horizon_weeks": _FLOAT,
    "elapsed_weeks": _FLOAT,
    "kind": sa.Text(),
    "scope": sa.Text(),
    "metric": sa.Text(),
    "value": _FLOAT,
    "note": sa.Text(),
}
_KEY = ("monitor_id", "score_run_id", "kind", "scope", "metric")
_KINDS = ("accuracy", "drift", "status")


def monitoring_table(schema: str | None = None, metadata: sa.MetaData | None = None) -> sa.Table:
    """The ``model_monitoring`` table definition (in database schema ``schema``)."""
    if schema is not None:
        validate_identifier(schema, "schema name")
    md = metadata if metadata is not None else sa.MetaData(schema=schema)
    return sa.Table(
        MONITORING_TABLE,
        md,
        *(
            sa.Column(
                c,
                t,
                primary_key=c in _KEY,
                nullable=c not in _KEY and c != "monitored_at",
            )
            for c, t in MONITORING_COLUMNS.items()
        ),
        sa.CheckConstraint(
            "kind IN ('accuracy', 'drift', 'status')", name=MONITORING_TABLE + "_kind"
        ),
        schema=schema,
    )


def _check_rows(rows: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _KEY if c not in rows.columns]
    if missing:
        raise DataValidationError(
            f"monitoring rows lack columns {missing}", column=missing[0], n_rows=len(rows)
        )
    bad = ~rows["kind"].isin(_KINDS)
    if bad.any():
        raise DataValidationError(
            f"must be one of {list(_KINDS)}",
            column="kind",
            n_rows=int(bad.sum()),
            example=rows.loc[bad, "kind"].iloc[0],
        )
    out = rows.reindex(columns=list(MONITORING_COLUMNS)).copy()
    out["score_run_id"] = out["score_run_id"].fillna("")
    dup = out.duplicated(list(_KEY))
    if dup.any():
        raise DataValidationError(
            "monitoring rows repeat a (monitor_id, score_run_id, kind, scope, metric) key",
            column="metric",
            n_rows=int(dup.sum()),
        )
    return out


def _records(rows: pd.DataFrame, now: datetime) -> list[dict[str, object]]:
    out = []
    for rec in rows.to_dict("records"):
        clean: dict[str, object] = {}
        for k, v in rec.items():
            if k == "monitored_at":
                v = now
            elif v is None or (not isinstance(v, str) and pd.isna(v)):
                v = None
            elif k in ("scored_as_of", "data_through"):
                v = pd.Timestamp(v).date()
            elif isinstance(MONITORING_COLUMNS[k], sa.Float):
                v = float(v)
            else:
                v = str(v)
            clean[k] = v
        out.append(clean)
    return out


def write_monitoring(
    conn: sa.engine.Connection,
    rows: pd.DataFrame,
    *,
    schema: str | None = None,
    now: datetime | None = None,
) -> int:
    """Inside the caller's transaction: create the table if needed, replace the rows.

    Rows of the ``monitor_id`` values in ``rows`` already in the table are deleted first,
    so writing a job again gives the same table. Returns the number of rows written.
    """
    table = monitoring_table(schema)
    table.create(conn, checkfirst=True)
    rows = _check_rows(rows)
    ids = sorted(set(rows["monitor_id"].astype(str)))
    if ids:
        conn.execute(table.delete().where(table.c.monitor_id.in_(ids)))
    recs = _records(rows, now or datetime.now(UTC))
    if recs:
        conn.execute(table.insert(), recs)
    return len(recs)


def read_monitoring(
    conn: sa.engine.Connection,
    *,
    schema: str | None = None,
    filters: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The table (empty frame with its columns when it does not exist), oldest job first."""
    table = monitoring_table(schema)
    if not sa.inspect(conn).has_table(table.name, schema=schema):
        return pd.DataFrame(columns=list(MONITORING_COLUMNS))
    stmt = sa.select(table)
    for col, value in (filters or {}).items():
        stmt = stmt.where(table.c[col] == value)
    stmt = stmt.order_by(table.c.monitored_at, table.c.monitor_id, table.c.kind, table.c.scope)
    return pd.read_sql(stmt, conn)
