"""Erasing customers from every clvml table of a CRM database (``clvml forget``).

:func:`forget_customers` deletes, in ONE transaction, every row keyed by the customers'
ids in every clvml table of the database that holds per-customer rows:

* every score table clvml created (the rows of ``clvml_schema_version``) and its
  ``<table>_quarantine``;
* the tables of :data:`PER_CUSTOMER_TABLES` when present (score history, alerts), and
  the rows of :data:`DEPENDENT_TABLES` that belong to them (the alerts' deliveries);

and records each erasure in the audit table ``clvml_erasures``: the SHA-256 of the id
(salted when a salt is given: ``sha256(salt + id)``), the time and how many rows each table
lost -- never the id itself. Either everything is erased and recorded, or nothing is.

Tables without customer ids (``clvml_score_runs``, ``model_monitoring``) are left as they
are. The source data (transactions, engagement, customers) are not clvml's: erase the
customer there too, or the next scoring run writes them back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from clvml.exceptions import DataValidationError
from clvml.scoring.schema import (
    _JSON,
    MAX_ID_LENGTH,
    QUARANTINE_SUFFIX,
    VERSION_TABLE,
    define_tables,
    validate_identifier,
)

__all__ = [
    "DEPENDENT_TABLES",
    "ERASURE_TABLE",
    "PER_CUSTOMER_TABLES",
    "ErasureResult",
    "erase_customers",
    "erasure_table",
    "forget_customers",
    "id_hash",
]

ERASURE_TABLE = "clvml_erasures"
#: Other clvml tables with a ``customer_id`` column, erased when they exist.
PER_CUSTOMER_TABLES = ("customer_score_history", "alerts")
#: Tables keyed by another table's rows: name -> (its key column, the parent table, the
#: parent's key). Their rows of the erased customers' parent rows go first.
DEPENDENT_TABLES: dict[str, tuple[str, str, str]] = {
    "alert_deliveries": ("alert_id", "alerts", "alert_id"),
}
_CHUNK = 500  # ids per DELETE statement (SQLite's bound-parameter limit is far above)


@dataclass(frozen=True)
class ErasureResult:
    """What :func:`forget_customers` did.

    Attributes
    ----------
    customers : int
        Distinct ids erased (and recorded in the audit table).
    found : int
        Of those, ids that had at least one row in a clvml table.
    rows_deleted : dict
        Table name -> rows deleted.
    erased_at : datetime
    """

    customers: int
    found: int
    rows_deleted: dict[str, int] = field(default_factory=dict)
    erased_at: datetime | None = None


def id_hash(customer_id: str, salt: str | None = None) -> str:
    """Hex SHA-256 of ``salt + customer_id`` (UTF-8), the id the audit table keeps.

    >>> id_hash("c1")[:12]
    'd0f631ca1ddb'
    """
    return hashlib.sha256(((salt or "") + str(customer_id)).encode("utf-8")).hexdigest()


def erasure_table(schema: str | None = None) -> sa.Table:
    """The audit table definition."""
    if schema is not None:
        validate_identifier(schema, "schema name")
    return sa.Table(
        ERASURE_TABLE,
        sa.MetaData(schema=schema),
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("id_sha256", sa.Text, nullable=False, index=True),
        sa.Column("salted", sa.Boolean, nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows_deleted", sa.BigInteger, nullable=False),
        sa.Column("tables", _JSON),
    )


def _clean_ids(ids: Iterable[object]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(ids):
        cid = "" if raw is None else str(raw).strip()
        if not cid or len(cid) > MAX_ID_LENGTH:
            raise DataValidationError(
                f"must be 1-{MAX_ID_LENGTH} characters (entry {i + 1} is "
                f"{'empty' if not cid else f'{len(cid)} characters'})",
                column="customer_id",
                n_rows=1,
            )
        if cid not in seen:
            seen.add(cid)
            out.append(cid)
    if not out:
        raise DataValidationError("no customer id given", column="customer_id", n_rows=0)
    return out


def _own_keys(schema: str | None) -> dict[str, list[str]]:
    """Primary-key columns of clvml's shared per-customer tables, by table name."""
    tables = define_tables(schema=schema)
    return {
        t.name: [c.name for c in t.primary_key.columns]
        for t in (tables.history, tables.alerts, tables.deliveries)
    }


def _is_own(conn: Connection, name: str, schema: str | None, keys: dict[str, list[str]]) -> bool:
    """Whether table ``name`` is clvml's (its key is the one clvml gives it), not a namesake."""
    pk = sa.inspect(conn).get_pk_constraint(name, schema=schema)
    return list(pk.get("constrained_columns") or []) == keys[name]


def _customer_tables(conn: Connection, schema: str | None) -> list[sa.Table]:
    """Every clvml table of the database with a ``customer_id`` column."""
    insp = sa.inspect(conn)
    present = set(insp.get_table_names(schema=schema))
    names: list[str] = []
    if VERSION_TABLE in present:
        version = sa.Table(VERSION_TABLE, sa.MetaData(schema=schema), sa.Column("table_name"))
        for (name,) in conn.execute(sa.select(version.c.table_name).order_by("table_name")):
            names += [name, name + QUARANTINE_SUFFIX]
    keys = _own_keys(schema)
    names += [n for n in PER_CUSTOMER_TABLES if n in present and _is_own(conn, n, schema, keys)]
    out = []
    for name in dict.fromkeys(names):
        if name not in present:
            continue
        cols = {c["name"] for c in insp.get_columns(name, schema=schema)}
        if "customer_id" in cols:
            out.append(sa.Table(name, sa.MetaData(schema=schema), sa.Column("customer_id")))
    return out


def forget_customers(
    conn: Connection,
    ids: Iterable[object],
    *,
    schema: str | None = None,
    salt: str | None = None,
    now: datetime | None = None,
) -> ErasureResult:
    """Inside the caller's transaction: erase ``ids`` from every clvml table, record it.

    Parameters
    ----------
    conn : sqlalchemy.engine.Connection
        In a transaction the caller commits (everything or nothing).
    ids : iterable
        Customer ids (duplicates are erased once).
    schema : str, optional
        PostgreSQL schema of the tables.
    salt : str, optional
        Prepended to each id before hashing for the audit row.
    now : datetime, optional
        The erasure time recorded (default: now, UTC).

    Returns
    -------
    ErasureResult

    Raises
    ------
    DataValidationError
        No id, an empty id or one longer than clvml stores.
    """
    cids = _clean_ids(ids)
    now = now or datetime.now(UTC)
    tables = _customer_tables(conn, schema)
    per_table: dict[str, int] = {}
    per_id: dict[str, dict[str, int]] = {c: {} for c in cids}
    present = set(sa.inspect(conn).get_table_names(schema=schema))
    keys = _own_keys(schema)
    for name, (key, parent, parent_key) in DEPENDENT_TABLES.items():
        if name not in present or parent not in present:
            continue
        if not (_is_own(conn, name, schema, keys) and _is_own(conn, parent, schema, keys)):
            continue  # a namesake of the user's own: never touched
        md = sa.MetaData(schema=schema)
        child = sa.Table(name, md, sa.Column(key))
        par = sa.Table(parent, md, sa.Column(parent_key), sa.Column("customer_id"))
        total = 0
        for start in range(0, len(cids), _CHUNK):
            part = cids[start : start + _CHUNK]
            owned = sa.select(par.c[parent_key]).where(par.c.customer_id.in_(part))
            counts = conn.execute(
                sa.select(par.c.customer_id, sa.func.count())
                .select_from(child.join(par, child.c[key] == par.c[parent_key]))
                .where(par.c.customer_id.in_(part))
                .group_by(par.c.customer_id)
            ).all()
            for cid, n in counts:
                per_id[cid][name] = int(n)
            res = conn.execute(child.delete().where(child.c[key].in_(owned)))
            total += int(res.rowcount or 0)
        per_table[name] = total
    for t in tables:
        total = 0
        for start in range(0, len(cids), _CHUNK):
            part = cids[start : start + _CHUNK]
            counts = conn.execute(
                sa.select(t.c.customer_id, sa.func.count())
                .where(t.c.customer_id.in_(part))
                .group_by(t.c.customer_id)
            ).all()
            for cid, n in counts:
                per_id[cid][t.name] = int(n)
            res = conn.execute(t.delete().where(t.c.customer_id.in_(part)))
            total += int(res.rowcount or 0)
        per_table[t.name] = total
    audit = erasure_table(schema)
    audit.create(conn, checkfirst=True)
    conn.execute(
        audit.insert(),
        [
            {
                "id_sha256": id_hash(c, salt),
                "salted": bool(salt),
                "erased_at": now,
                "rows_deleted": sum(per_id[c].values()),
                "tables": per_id[c],
            }
            for c in cids
        ],
    )
    found = sum(1 for c in cids if per_id[c])
    return ErasureResult(customers=len(cids), found=found, rows_deleted=per_table, erased_at=now)


def erase_customers(
    url: str,
    ids: Iterable[object],
    *,
    schema: str | None = None,
    salt: str | None = None,
) -> ErasureResult:
    """Connect to the CRM at ``url`` and :func:`forget_customers` in one transaction.

    Raises
    ------
    clvml.scoring.errors.CRMConnectionError
        The database cannot be reached (URL printed without its password).
    """
    from clvml.scoring.crm import CRMSink

    cids = _clean_ids(ids)  # bad input is refused before connecting
    with CRMSink(url, schema=schema) as sink, sink.connect() as conn, conn.begin():
        return forget_customers(conn, cids, schema=schema, salt=salt)
