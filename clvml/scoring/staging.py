"""Loading score rows into a staging table and upserting them into the score table.

Both steps run inside the caller's transaction (see :class:`clvml.scoring.crm.ScoreRun`):

PostgreSQL
    ``CREATE UNLOGGED TABLE`` in the score table's schema, then psycopg's binary
    ``COPY ... FROM STDIN`` on the raw DBAPI connection.
SQLite
    ``CREATE TEMP TABLE`` and ``executemany`` on the raw sqlite3 connection.

Then one ``INSERT ... SELECT ... ON CONFLICT (customer_id) DO UPDATE`` built with
SQLAlchemy Core, so identifiers are quoted by the dialect and the run values are
bound parameters.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from clvml.scoring.schema import SCORE_COLUMNS, STAGED_COLUMNS, CRMTables

__all__ = ["PG_COPY_TYPES", "stage_rows", "upsert_from_stage"]

_CHUNK = 50_000
#: PostgreSQL types of the staged columns, in order, for binary COPY (from the schema).
PG_COPY_TYPES = [
    "text" if isinstance(SCORE_COLUMNS[c], sa.Text) else "float8" for c in STAGED_COLUMNS
]


def stage_rows(conn: Connection, tables: CRMTables, valid: pd.DataFrame) -> sa.Table:
    """Create a staging table in the open transaction and load ``valid`` into it.

    ``valid`` has exactly the staged columns (as returned by
    :func:`clvml.scoring.validation.split_scores`). Returns the staging table; the
    caller drops it (or the rollback does).
    """
    postgres = conn.dialect.name == "postgresql"
    stage = tables.staging(f"_clvml_stage_{uuid.uuid4().hex[:16]}", temporary=not postgres)
    stage.create(conn)
    # Staged in key order, the upsert walks the primary-key index page by page instead
    # of at random (fewer buffer accesses; see benchmarks/RESULTS.md).
    valid = valid.take(valid["customer_id"].argsort().to_numpy())
    if postgres:
        _copy_postgres(conn, stage, valid)
    else:
        _insert_sqlite(conn, stage, valid)
    return stage


def upsert_from_stage(
    conn: Connection,
    target: sa.Table,
    stage: sa.Table,
    *,
    model_name: str,
    model_version: str,
    scored_at: datetime,
    run_id: str,
) -> None:
    """``INSERT INTO target SELECT stage.*, <run values> ON CONFLICT (customer_id) DO UPDATE``.

    Every column of an existing customer is replaced; customers not staged are untouched.
    """
    run_values = {
        "model_name": sa.literal(model_name, sa.Text()),
        "model_version": sa.literal(model_version, sa.Text()),
        "scored_at": sa.literal(scored_at, target.c.scored_at.type),
        "run_id": sa.literal(run_id, sa.Text()),
    }
    cols = [*STAGED_COLUMNS, *run_values]
    # WHERE true: SQLite cannot otherwise tell ON CONFLICT from a join constraint.
    select = sa.select(*(stage.c[c] for c in STAGED_COLUMNS), *run_values.values()).where(sa.true())
    insert_fn = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    ins = insert_fn(target).from_select(cols, select)
    conn.execute(
        ins.on_conflict_do_update(
            index_elements=[target.c.customer_id],
            set_={c: ins.excluded[c] for c in cols if c != "customer_id"},
        )
    )


def _row_chunks(valid: pd.DataFrame) -> Iterator[Iterator[tuple[Any, ...]]]:
    """Rows as tuples of Python values (None for NULL), in chunks to bound memory."""
    for start in range(0, len(valid), _CHUNK):
        part = valid.iloc[start : start + _CHUNK]
        cols = []
        for c in STAGED_COLUMNS:
            s = part[c]
            if s.dtype.kind == "f":
                a = s.to_numpy()
                nan = np.isnan(a)
                if nan.any():
                    obj = a.astype(object)
                    obj[nan] = None
                    cols.append(obj.tolist())
                else:
                    cols.append(a.tolist())
            else:
                cols.append(s.to_numpy(dtype=object, na_value=None).tolist())
        yield zip(*cols, strict=True)


def _copy_postgres(conn: Connection, stage: sa.Table, valid: pd.DataFrame) -> None:
    """COPY the rows into ``stage`` through psycopg's binary COPY, inside the open transaction."""
    prep = conn.dialect.identifier_preparer
    sql = (
        f"COPY {prep.format_table(stage)} ({', '.join(prep.quote(c) for c in STAGED_COLUMNS)}) "
        "FROM STDIN (FORMAT BINARY)"
    )
    raw: Any = conn.connection.dbapi_connection
    with raw.cursor() as cur, cur.copy(sql) as copy:
        copy.set_types(PG_COPY_TYPES)
        for rows in _row_chunks(valid):
            for row in rows:
                copy.write_row(row)


def _insert_sqlite(conn: Connection, stage: sa.Table, valid: pd.DataFrame) -> None:
    """executemany the rows into the TEMP ``stage`` table, inside the open transaction."""
    prep = conn.dialect.identifier_preparer
    sql = (
        f"INSERT INTO {prep.format_table(stage)} "
        f"({', '.join(prep.quote(c) for c in STAGED_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(STAGED_COLUMNS))})"
    )
    raw: Any = conn.connection.dbapi_connection
    cur = raw.cursor()
    try:
        for rows in _row_chunks(valid):
            cur.executemany(sql, rows)
    finally:
        cur.close()
