"""The score history: every scoring run's scores, appended, pruned by a retention policy.

The score table keeps one row per customer (the latest scores); ``customer_score_history``
keeps one row per (score table, run, customer), so a customer's trajectory can be read
back. Inside the run's one transaction (:meth:`clvml.scoring.crm.ScoreRun.write`), after
the upsert:

1. :func:`append_history` deletes the run's own rows (a re-run of the same run id never
   doubles them) and copies the rows the run just wrote from the score table
   (``INSERT ... SELECT``: no round trip through Python);
2. :func:`prune_history` deletes the runs the :class:`HistoryPolicy` no longer keeps.

A crash before the commit leaves the history as it was, with the scores.

**Health score** (``health_score``, 0-100): how likely the customer is to stay active,
``100 * (1 - churn_probability)``; for a model without a churn probability,
``100 * p_active``; NULL when the model gives neither. See docs/monitoring.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from clvml.exceptions import DataValidationError

__all__ = [
    "HISTORY_COLUMNS",
    "HISTORY_TABLE",
    "HistoryPolicy",
    "append_history",
    "define_history",
    "erase_customers",
    "health_score",
    "previous_run",
    "prune_history",
    "read_run",
]

HISTORY_TABLE = "customer_score_history"
_FLOAT = sa.Float(precision=53)
#: Score columns copied into the history (besides ``health_score``, derived).
HISTORY_COLUMNS: tuple[str, ...] = (
    "clv",
    "value_tier",
    "segment",
    "churn_probability",
    "p_active",
)


@dataclass(frozen=True)
class HistoryPolicy:
    """How long the score history is kept (per score table).

    Parameters
    ----------
    keep_runs : int or None, default 30
        Keep the newest ``keep_runs`` runs (by as-of date, then time scored); None: no
        limit by count. At least 2 (the previous run is what alerts compare with).
    keep_days : int or None, default None
        Also drop runs whose as-of date is more than ``keep_days`` days before the
        newest run's; None: no limit by age.

    The run being written is always kept.
    """

    keep_runs: int | None = 30
    keep_days: int | None = None

    def __post_init__(self) -> None:
        for name, value, low in (
            ("keep_runs", self.keep_runs, 2),
            ("keep_days", self.keep_days, 1),
        ):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise DataValidationError(
                    f"history {name} must be an integer >= {low} or none", example=value
                )


def define_history(md: sa.MetaData) -> sa.Table:
    """The history table in metadata ``md`` (its schema is the score table's)."""
    return sa.Table(
        HISTORY_TABLE,
        md,
        sa.Column("table_name", sa.Text, primary_key=True),
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("customer_id", sa.Text, primary_key=True),
        sa.Column("as_of", sa.Date),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("clv", _FLOAT, nullable=False),
        sa.Column("value_tier", sa.Text),
        sa.Column("segment", sa.Text),
        sa.Column("churn_probability", _FLOAT),
        sa.Column("p_active", _FLOAT),
        sa.Column("health_score", _FLOAT),
        sa.Index(f"ix_{HISTORY_TABLE}_customer", "table_name", "customer_id"),
    )


def health_score(scores: pd.DataFrame) -> pd.Series:
    """The health score (0-100) of each row of ``scores``, as the history stores it.

    ``100 * (1 - churn_probability)``, else ``100 * p_active``, else NaN.

    >>> health_score(pd.DataFrame({"churn_probability": [0.25, None], "p_active": [0.1, 0.6]}))
    0    75.0
    1    60.0
    Name: health_score, dtype: float64
    """
    nan = pd.Series(float("nan"), index=scores.index)
    churn = scores["churn_probability"].astype(float) if "churn_probability" in scores else nan
    alive = scores["p_active"].astype(float) if "p_active" in scores else nan
    return (100.0 * (1.0 - churn.fillna(1.0 - alive))).rename("health_score")


def _health_sql(scores: sa.Table) -> sa.ColumnElement[float]:
    c = scores.c
    return 100.0 * (1.0 - sa.func.coalesce(c.churn_probability, 1.0 - c.p_active))


def append_history(
    conn: Connection,
    history: sa.Table,
    scores: sa.Table,
    *,
    run_id: str,
    as_of: date | None,
) -> None:
    """Inside the run's transaction: replace the run's history rows with its scores.

    Copies the score-table rows carrying ``run_id`` (the ones the run just upserted).
    """
    h = history
    conn.execute(h.delete().where(h.c.table_name == scores.name, h.c.run_id == run_id))
    s = scores.c
    select = sa.select(
        sa.literal(scores.name, sa.Text()),
        s.run_id,
        s.customer_id,
        sa.literal(as_of, sa.Date()),
        s.scored_at,
        s.model_version,
        *(s[c] for c in HISTORY_COLUMNS),
        _health_sql(scores),
    ).where(s.run_id == run_id)
    cols = [
        "table_name",
        "run_id",
        "customer_id",
        "as_of",
        "scored_at",
        "model_version",
        *HISTORY_COLUMNS,
        "health_score",
    ]
    conn.execute(h.insert().from_select(cols, select))


def _runs(conn: Connection, runs: sa.Table, table: str, run_id: str) -> pd.DataFrame:
    """The runs of ``table`` that may have history rows: run_id, as_of, scored_at; newest first.

    Read from the run table (a few rows per night), not from the history (millions): the
    run ids with a ``succeeded`` attempt, and ``run_id`` (the run being written).
    """
    r = runs
    rows = conn.execute(
        sa.select(r.c.run_id, sa.func.max(r.c.as_of), sa.func.max(r.c.scored_at))
        .where(r.c.table_name == table, sa.or_(r.c.status == "succeeded", r.c.run_id == run_id))
        .group_by(r.c.run_id)
    ).all()
    frame = pd.DataFrame(rows, columns=["run_id", "as_of", "scored_at"])
    if frame.empty:
        return frame
    frame["as_of"] = pd.to_datetime(frame["as_of"])
    frame["scored_at"] = pd.to_datetime(frame["scored_at"], utc=True, format="mixed")
    return frame.sort_values(
        ["as_of", "scored_at", "run_id"], ascending=False, na_position="last"
    ).reset_index(drop=True)


def _has_rows(conn: Connection, history: sa.Table, table: str, run_id: str) -> bool:
    h = history
    stmt = sa.select(h.c.run_id).where(h.c.table_name == table, h.c.run_id == run_id).limit(1)
    return conn.execute(stmt).first() is not None


def previous_run(
    conn: Connection,
    history: sa.Table,
    runs: sa.Table,
    table: str,
    *,
    run_id: str,
    as_of: date | None,
) -> tuple[str, date | None] | None:
    """The run before ``run_id`` in the history of ``table``: (run id, as-of), or None.

    The newest other succeeded run (``runs`` is the run table) whose as-of date is on or
    before ``as_of`` (any, when ``as_of`` is None) and whose rows are in the history (runs
    of a clvml without the history, or pruned, are passed over).
    """
    found = _runs(conn, runs, table, run_id)
    if found.empty:
        return None
    found = found[found["run_id"] != run_id]
    if as_of is not None:
        found = found[found["as_of"].isna() | (found["as_of"] <= pd.Timestamp(as_of))]
    for rec in found.itertuples():
        if _has_rows(conn, history, table, str(rec.run_id)):
            day = None if pd.isna(rec.as_of) else rec.as_of.date()
            return str(rec.run_id), day
    return None


def read_run(conn: Connection, history: sa.Table, table: str, run_id: str) -> pd.DataFrame:
    """One run's history rows of ``table`` (customer_id, the score columns, health_score)."""
    h = history
    cols = ["customer_id", *HISTORY_COLUMNS, "health_score"]
    rows = conn.execute(
        sa.select(*(h.c[c] for c in cols)).where(h.c.table_name == table, h.c.run_id == run_id)
    ).all()
    # plain tuples: pandas probes every SQLAlchemy Row for attributes (15 s per 1M rows)
    return pd.DataFrame.from_records(list(map(tuple, rows)), columns=cols)


def prune_history(
    conn: Connection,
    history: sa.Table,
    runs_table: sa.Table,
    table: str,
    *,
    run_id: str,
    policy: HistoryPolicy,
) -> list[str]:
    """Inside the run's transaction: delete the history of the runs ``policy`` no longer keeps.

    The runs are those of the run table (``runs_table``) with a succeeded attempt, plus
    ``run_id``, which is always kept. Returns the run ids outside the policy when rows were
    deleted, else an empty list (a run pruned before is deleted again, finding nothing: an
    index lookup). History rows of a run id removed from the run table by hand are not
    pruned.
    """
    runs = _runs(conn, runs_table, table, run_id)
    if runs.empty:
        return []
    drop = pd.Series(False, index=runs.index)
    if policy.keep_runs is not None:
        drop |= runs.index >= policy.keep_runs
    if policy.keep_days is not None and runs["as_of"].notna().any():
        newest = runs["as_of"].max()
        drop |= runs["as_of"] < newest - timedelta(days=policy.keep_days)
    drop &= runs["run_id"] != run_id
    gone = [str(r) for r in runs.loc[drop, "run_id"]]
    if not gone:
        return []
    h = history
    deleted = conn.execute(h.delete().where(h.c.table_name == table, h.c.run_id.in_(gone)))
    return gone if deleted.rowcount else []


#: Customer ids per ``IN (...)`` list of an erasure.
_ERASE_CHUNK = 1000


def erase_customers(conn: Connection, history: sa.Table, customer_ids: Sequence[str]) -> int:
    """Inside the caller's transaction: delete every history row of these customers.

    Every score table's history (an erasure is about the person). Returns the rows deleted.
    """
    ids = list(dict.fromkeys(str(c) for c in customer_ids))
    h = history
    n = 0
    for start in range(0, len(ids), _ERASE_CHUNK):
        part = ids[start : start + _ERASE_CHUNK]
        n += conn.execute(h.delete().where(h.c.customer_id.in_(part))).rowcount or 0
    return n
