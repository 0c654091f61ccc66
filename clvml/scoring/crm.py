"""Write customer scores into a CRM database, atomically and idempotently.

A scoring job is one :class:`ScoreRun`::

    sink = CRMSink("postgresql+psycopg://crm@db/crm")
    with sink.run(model_name="clvml", model_version="7", as_of="2026-11-23") as run:
        scores = ...                       # predict
        result = run.write(scores)         # stage, then one upsert transaction

or, when the scores are already computed, ``sink.write(scores, model_name=...,
model_version=..., as_of=...)``.

What a run does, in order:

1. connect (an unreachable database raises :class:`CRMConnectionError` naming the
   URL without its password) and take the job lock of the table (see
   :mod:`clvml.scoring.lock`; a concurrent job gets :class:`CRMLockError`);
2. create or migrate the tables (:func:`clvml.scoring.schema.migrate`), mark runs of
   this table left ``running`` by killed jobs as ``failed``, and record this run as
   ``running`` (committed, so monitoring sees it);
3. ``write``: validate the rows (:func:`clvml.scoring.validation.split_scores`), then
   in ONE transaction: load the valid rows into a staging table (PostgreSQL:
   ``COPY ... FROM STDIN (FORMAT BINARY)`` into an ``UNLOGGED`` table created in the
   transaction; SQLite: ``executemany`` into a ``TEMP`` table, under ``BEGIN
   IMMEDIATE``), ``INSERT ... SELECT ... ON CONFLICT (customer_id) DO UPDATE`` into
   the score table, replace this run's quarantine rows, append the run's scores to
   ``customer_score_history`` (:mod:`clvml.scoring.history`), run the caller's
   ``in_transaction`` steps (the alerts), prune the history by its retention policy,
   drop the staging table and mark the run ``succeeded`` with its counts and timings;
   commit.

When other connections stage the rows (the Spark executors of
:func:`clvml.spark.score.write_crm`), ``write`` is split into public steps of the run:
:meth:`ScoreRun.create_stage` commits an empty ``UNLOGGED`` staging table named after the
run, the executors fill it, and :meth:`ScoreRun.merge_stage` does the rest of step 3 in
the one transaction (:meth:`ScoreRun.counts` checks the counts add up before).

A job killed at any point before that commit leaves the score table exactly as it
was (the server rolls the transaction back, staging table included); an exception
marks the run ``failed`` with a one-line reason. Writing the same job again (same
``run_id``, which by default is derived from the table, model and as-of date) gives
the same table, because rows are keyed by ``customer_id`` and ``scored_at`` is the
run's first start time.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine

from clvml.data.dates import as_day
from clvml.data.secrets import mask_url, scrub
from clvml.exceptions import DataValidationError
from clvml.scoring.errors import CRMConnectionError, CRMError
from clvml.scoring.history import HistoryPolicy, append_history, prune_history
from clvml.scoring.lock import job_lock
from clvml.scoring.runs import finish_attempt, latest_attempts, start_attempt
from clvml.scoring.schema import SCORE_COLUMNS, CRMTables, define_tables, migrate
from clvml.scoring.staging import stage_rows, upsert_from_stage
from clvml.scoring.validation import append_rejected, split_scores, storable_quarantine

__all__ = ["CRMSink", "RunResult", "ScoreRun"]

logger = logging.getLogger(__name__)

_RUN_NAMESPACE = uuid.UUID("6f1d3c1e-2f4b-5a8e-9c7d-0b1a2c3d4e5f")
_CONNECT_TIMEOUT = 10  # seconds, unless the URL sets connect_timeout
#: Advisory-lock key serialising schema migrations of every clvml table ("clvml" in ASCII).
_MIGRATION_LOCK = 0x636C766D6C


@dataclass(frozen=True)
class RunResult:
    """What a scoring run wrote.

    ``rows_read = rows_written + rows_quarantined`` always holds.
    """

    run_id: str
    table: str
    rows_read: int
    rows_scored: int
    rows_written: int
    rows_quarantined: int
    timings: dict[str, float] = field(default_factory=dict)


def _to_date(as_of: date | str | None) -> date | None:
    if as_of is None or (isinstance(as_of, date) and not isinstance(as_of, datetime)):
        return as_of
    return as_day(as_of, name="as_of").date()


def _utc(ts: datetime | str | None) -> datetime:
    if ts is None:
        return datetime.now(UTC)
    t = pd.Timestamp(ts)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.to_pydatetime()


def _normalise_url(url: str | URL) -> URL:
    try:
        u = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise DataValidationError("invalid CRM database URL (expected a SQLAlchemy URL)") from exc
    backend = u.get_backend_name()
    if backend in ("postgres", "postgresql") and "+" not in u.drivername:
        u = u.set(drivername="postgresql+psycopg")  # psycopg 3, whatever SQLAlchemy's default
    elif backend not in ("postgresql", "sqlite"):
        raise DataValidationError(
            f"unsupported CRM database {backend!r}: use postgresql+psycopg:// or sqlite://",
            example=mask_url(u),
        )
    return u


def _one_line(exc: BaseException, url: URL) -> str:
    """First line of an error message, with the URL's secrets masked if they leaked in."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return scrub(text, [url])[:300]


class CRMSink:
    """A score table in a CRM database (PostgreSQL or SQLite).

    Parameters
    ----------
    url : str or sqlalchemy.engine.URL
        SQLAlchemy URL. ``postgresql://`` uses psycopg 3; ``sqlite:///path.db`` an
        embedded file.
    table : str, default "customer_scores"
        Score table; lower-case letters, digits and ``_`` only (checked). The
        quarantine table is ``<table>_quarantine``.
    schema : str, optional
        PostgreSQL schema (default: the connection's ``search_path``). Not
        supported on SQLite.
    lock_timeout : float, default 0
        Seconds a new job waits for a running job on the same table before
        raising :class:`CRMLockError` (0: fail at once).
    history : HistoryPolicy, optional
        Retention of ``customer_score_history`` (default: the newest 30 runs); every
        run appends its scores there and prunes, in its transaction
        (:mod:`clvml.scoring.history`).

    Raises
    ------
    DataValidationError
        For an invalid table/schema name, URL or an unsupported backend.

    Examples
    --------
    >>> import pandas as pd
    >>> sink = CRMSink("sqlite://")
    >>> res = sink.write(pd.DataFrame({"customer_id": ["a", "b"], "clv": [12.5, -1.0]}),
    ...                  model_name="bgnbd", model_version="3", as_of="2026-11-23")
    >>> (res.rows_read, res.rows_written, res.rows_quarantined)
    (2, 1, 1)
    >>> sink.read_scores()[["customer_id", "clv"]].to_dict("records")
    [{'customer_id': 'a', 'clv': 12.5}]
    >>> sink.close()
    """

    def __init__(
        self,
        url: str | URL,
        table: str = "customer_scores",
        schema: str | None = None,
        *,
        lock_timeout: float = 0.0,
        history: HistoryPolicy | None = None,
    ) -> None:
        self.url = _normalise_url(url)
        self.history = history if history is not None else HistoryPolicy()
        self.tables: CRMTables = define_tables(table, schema)
        if schema is not None and self.url.get_backend_name() == "sqlite":
            raise DataValidationError("a schema name is not supported on SQLite", example=schema)
        self.table = table
        self.schema = schema
        self.lock_timeout = float(lock_timeout)
        self._engine: Engine | None = None
        self._held: Connection | None = None  # the connection holding the job lock

    @property
    def safe_url(self) -> str:
        """The URL with its password masked, for messages and logs."""
        return mask_url(self.url)

    def __repr__(self) -> str:
        return f"CRMSink({self.safe_url!r}, table={self.table!r}, schema={self.schema!r})"

    # -- connections -------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (created on first use; parameters hidden in errors)."""
        if self._engine is None:
            try:
                connect_args = {}
                if self.url.get_backend_name() == "postgresql" and (
                    "connect_timeout" not in self.url.query
                ):  # a firewalled host should fail in seconds, not hang the nightly job
                    connect_args["connect_timeout"] = _CONNECT_TIMEOUT
                engine = sa.create_engine(self.url, hide_parameters=True, connect_args=connect_args)
            except ImportError as exc:
                raise CRMConnectionError(
                    f"cannot connect to CRM database {self.safe_url}: driver not installed "
                    f"({exc.name}); for PostgreSQL install clvml[postgres]"
                ) from None
            if engine.dialect.name == "sqlite":
                _sqlite_explicit_transactions(engine)
            self._engine = engine
        return self._engine

    def connect(self) -> Connection:
        """Open a connection, or raise :class:`CRMConnectionError` in one line."""
        try:
            return self.engine.connect()
        except sa.exc.DBAPIError as exc:
            raise CRMConnectionError(
                f"cannot connect to CRM database {self.safe_url}: {_one_line(exc, self.url)}"
            ) from None

    def close(self) -> None:
        """Release pooled connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> CRMSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- jobs --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def hold_lock(self) -> Iterator[CRMSink]:
        """Take the table's job lock now and hold it until the block ends.

        A job that must not load a model or build features for nothing takes the lock
        first: a concurrent job then fails at once (:class:`CRMLockError`, after
        ``lock_timeout`` seconds). Runs started inside the block (:meth:`run`,
        :meth:`write`) use this lock and its connection.
        """
        if self._held is not None:
            raise CRMError(f"the job lock of table {self.table!r} is already held")
        conn = self.connect()
        lock = job_lock(conn, self.table, self.schema, timeout=self.lock_timeout)
        try:
            lock.__enter__()
        except BaseException:
            conn.close()
            raise
        self._held = conn
        try:
            yield self
        finally:
            self._held = None
            try:
                lock.__exit__(None, None, None)
            except sa.exc.DBAPIError:
                pass  # session lost: the server already released the lock
            finally:
                conn.close()

    def migrate(self) -> dict[str, list[str]]:
        """Create or upgrade the tables now (runs do this themselves); returns columns added."""
        if self._held is not None:
            with self._held.begin():
                return _migrate_locked(self._held, self.tables)
        with (
            self.connect() as conn,
            job_lock(conn, self.table, self.schema, timeout=self.lock_timeout),
            conn.begin(),
        ):
            return _migrate_locked(conn, self.tables)

    def run(
        self,
        *,
        model_name: str,
        model_version: str,
        as_of: date | str | None = None,
        run_id: str | None = None,
        scored_at: datetime | str | None = None,
    ) -> ScoreRun:
        """Start a scoring job (use as a context manager); see :class:`ScoreRun`."""
        return ScoreRun(
            self,
            model_name=model_name,
            model_version=model_version,
            as_of=as_of,
            run_id=run_id,
            scored_at=scored_at,
        )

    def write(
        self,
        scores: pd.DataFrame,
        *,
        model_name: str,
        model_version: str,
        as_of: date | str | None = None,
        run_id: str | None = None,
        scored_at: datetime | str | None = None,
        rejected: pd.DataFrame | None = None,
        timings: Mapping[str, float] | None = None,
    ) -> RunResult:
        """Write ``scores`` as one complete job (lock, migrate, record, upsert).

        See :meth:`ScoreRun.write` for ``scores``, ``rejected`` and ``timings``.
        """
        with self.run(
            model_name=model_name,
            model_version=model_version,
            as_of=as_of,
            run_id=run_id,
            scored_at=scored_at,
        ) as job:
            return job.write(scores, rejected=rejected, timings=timings)

    # -- reading back ------------------------------------------------------------------------
    def _read(self, table: sa.Table, stmt: sa.Select) -> pd.DataFrame:
        with self.connect() as conn:
            conn = conn.execution_options(clvml_read_only=True)
            if not sa.inspect(conn).has_table(table.name, schema=self.schema):
                return pd.DataFrame(columns=[c.name for c in table.columns])
            return pd.read_sql(stmt, conn)

    def read_scores(self) -> pd.DataFrame:
        """The score table, ordered by ``customer_id``."""
        t = self.tables.scores
        return self._read(t, sa.select(t).order_by(t.c.customer_id))

    def read_runs(self) -> pd.DataFrame:
        """The runs recorded for this table, oldest first: each run id's latest attempt.

        ``attempts`` is then how many times the run id was started; every attempt's own
        row is in :meth:`read_attempts`.
        """
        return self._read(self.tables.runs, latest_attempts(self.tables, self.table))

    def read_attempts(self) -> pd.DataFrame:
        """Every attempt of every run of this table (one row each), oldest first."""
        return self._read(self.tables.runs, latest_attempts(self.tables, self.table, every=True))

    def read_history(self, customer_id: str | None = None) -> pd.DataFrame:
        """The score history of this table (of one customer if given), oldest run first."""
        h = self.tables.history
        stmt = sa.select(h).where(h.c.table_name == self.table)
        if customer_id is not None:
            stmt = stmt.where(h.c.customer_id == customer_id)
        return self._read(h, stmt.order_by(h.c.as_of, h.c.scored_at, h.c.customer_id))

    def read_quarantine(self, run_id: str | None = None) -> pd.DataFrame:
        """Quarantined rows (of one run if ``run_id`` is given)."""
        q = self.tables.quarantine
        stmt = sa.select(q).order_by(q.c.id)
        if run_id is not None:
            stmt = stmt.where(q.c.run_id == run_id)
        return self._read(q, stmt)


def _sqlite_explicit_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not the sqlite3 module, begin transactions, with BEGIN IMMEDIATE.

    The write lock is then taken at the start of the transaction, so two writers
    cannot both read and then fail to upgrade; DDL stays inside the transaction.
    Database files are switched to write-ahead logging (persistent), so readers
    keep seeing the previous scores while a job writes instead of waiting for it.
    """
    in_memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        if not in_memory:  # if a writer holds the file, it keeps its journal mode
            with contextlib.suppress(sqlite3.OperationalError):
                dbapi_conn.execute("PRAGMA journal_mode=WAL")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("clvml_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _migrate_locked(conn: Connection, tables: CRMTables) -> dict[str, list[str]]:
    if conn.dialect.name == "postgresql":  # concurrent CREATE TABLE IF NOT EXISTS can collide
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%(k)s)", {"k": _MIGRATION_LOCK})
    return migrate(conn, tables)


class ScoreRun:
    """One scoring job on a :class:`CRMSink`: holds the table's job lock from enter to exit.

    On enter the tables are migrated and the run is recorded as ``running``; on exit
    with an exception (or without a successful :meth:`write`) it is marked ``failed``.

    Parameters
    ----------
    sink : CRMSink
    model_name, model_version : str
        Written on every score row and on the run.
    as_of : date or str, optional
        Date the features were computed at.
    run_id : str, optional
        Identifier of the job. Default: derived from the table, model name,
        version and ``as_of`` (a UUID 5), so re-running the same job reuses it;
        a random UUID when ``as_of`` is not given.
    scored_at : datetime or str, optional
        Timestamp written on the rows (UTC). Default: when this run id first
        started (kept on re-runs).
    """

    def __init__(
        self,
        sink: CRMSink,
        *,
        model_name: str,
        model_version: str,
        as_of: date | str | None = None,
        run_id: str | None = None,
        scored_at: datetime | str | None = None,
    ) -> None:
        for name, value in (("model_name", model_name), ("model_version", model_version)):
            if not isinstance(value, str) or not value.strip():
                raise DataValidationError(f"{name} must be a non-empty string", example=value)
        self.sink = sink
        self.model_name = model_name
        self.model_version = model_version
        self.as_of = _to_date(as_of)
        if run_id is None:
            run_id = str(
                uuid.uuid4()
                if self.as_of is None
                else uuid.uuid5(
                    _RUN_NAMESPACE,
                    f"{sink.schema}.{sink.table}|{model_name}|{model_version}|{self.as_of}",
                )
            )
        self.run_id = str(run_id)
        self._scored_at = None if scored_at is None else _utc(scored_at)
        self.scored_at: datetime | None = None
        self.attempt = 0  # set when the run starts: 1 for the run id's first attempt
        self._conn: Connection | None = None
        self._lock: Any = None
        self._started = False  # our run row exists (so a failure can be recorded on it)
        self._done = False
        self.result: RunResult | None = None
        #: Steps run inside the write transaction after the scores and the history are
        #: written, before the commit: ``step(conn, run)`` (e.g. the alerts of
        #: :mod:`clvml.alerts`); an exception rolls everything back.
        self.in_transaction: list[Callable[[Connection, ScoreRun], None]] = []
        #: Run ids the history retention deleted in this run's transaction.
        self.pruned: list[str] = []

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> ScoreRun:
        sink = self.sink
        if sink._held is not None:  # the job took the lock before loading its model
            conn, self._lock = sink._held, None
        else:
            conn = sink.connect()
            try:
                self._lock = job_lock(conn, sink.table, sink.schema, timeout=sink.lock_timeout)
                self._lock.__enter__()
            except BaseException:
                conn.close()
                raise
        self._conn = conn
        try:
            with conn.begin():
                _migrate_locked(conn, sink.tables)
                self._start(conn)
            self._started = True
            logger.info(
                "scoring run %s started: %s table %s, model %s version %s",
                self.run_id,
                sink.safe_url,
                sink.table,
                self.model_name,
                self.model_version,
            )
        except sa.exc.DBAPIError as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise self._wrap(exc) from None
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if self._started and not self._done:
                reason = (
                    "run ended without writing scores"
                    if exc is None
                    else f"{type(exc).__name__}: {_one_line(exc, self.sink.url)}"
                )
                try:
                    conn.rollback()
                    with conn.begin():
                        self._finish(conn, "failed", error=reason)
                    logger.warning("scoring run %s failed: %s", self.run_id, reason)
                except sa.exc.DBAPIError:
                    pass  # the database is gone; the next run marks this one as failed
        finally:
            if self._lock is not None:  # else the sink's hold_lock releases it
                try:
                    self._lock.__exit__(None, None, None)
                except sa.exc.DBAPIError:
                    pass  # session lost: the server already released the lock
                finally:
                    conn.close()

    def _wrap(self, exc: BaseException) -> BaseException:
        if isinstance(exc, sa.exc.DBAPIError):
            return CRMError(
                f"CRM write to {self.sink.safe_url} table {self.sink.table!r} failed "
                f"(run {self.run_id}): {_one_line(exc, self.sink.url)}"
            )
        return exc

    def _start(self, conn: Connection) -> None:
        attempt = start_attempt(
            conn,
            self.sink.tables,
            table=self.sink.table,
            run_id=self.run_id,
            model_name=self.model_name,
            model_version=self.model_version,
            as_of=self.as_of,
            scored_at=self._scored_at,
            now=datetime.now(UTC),
        )
        self.attempt, self.scored_at = attempt.number, attempt.scored_at

    def _finish(self, conn: Connection, status: str, **values: Any) -> None:
        finish_attempt(
            conn, self.sink.tables, self.run_id, self.attempt, status, datetime.now(UTC), **values
        )

    # -- the write ---------------------------------------------------------------------------
    def write(
        self,
        scores: pd.DataFrame,
        *,
        rejected: pd.DataFrame | None = None,
        timings: Mapping[str, float] | None = None,
    ) -> RunResult:
        """Validate, stage and upsert ``scores`` in one transaction; finish the run.

        Parameters
        ----------
        scores : pandas.DataFrame
            One row per scored customer (see
            :func:`clvml.scoring.validation.split_scores` for the columns and the
            row checks). Failing rows go to the quarantine table.
        rejected : pandas.DataFrame, optional
            Customers the job read but could not score, with columns
            ``customer_id`` and ``reason``; they are quarantined too and count as
            read, so ``rows_read = rows_written + rows_quarantined``.
        timings : mapping, optional
            Seconds per earlier phase of the job (e.g. ``features``, ``predict``),
            recorded with the sink's own phases.

        Returns
        -------
        RunResult

        Raises
        ------
        DataValidationError
            If the frame as a whole is unusable (nothing is written).
        CRMError
            If the database fails; the previous scores are left whole.
        """
        conn = self._conn
        if conn is None:
            raise CRMError("ScoreRun.write must be called inside `with sink.run(...) as run:`")
        if self._done:
            raise CRMError(f"run {self.run_id} already wrote its scores")
        if not isinstance(scores, pd.DataFrame):
            raise DataValidationError(f"scores must be a pandas DataFrame, not {type(scores)}")
        phase: dict[str, float] = {str(k): float(v) for k, v in (timings or {}).items()}
        t0 = time.perf_counter()
        split = split_scores(scores)
        quarantine = append_rejected(split.quarantined, rejected, start=len(scores))
        phase["validate"] = time.perf_counter() - t0
        n_rejected = 0 if rejected is None else len(rejected)
        result = self.counts(len(scores), n_rejected, len(split.valid), quarantine, phase)
        try:
            with conn.begin():
                t = time.perf_counter()
                stage = stage_rows(conn, self.sink.tables, split.valid)
                phase["stage"] = time.perf_counter() - t
                self._merge_in(conn, stage, quarantine, result, phase)
                t = time.perf_counter()
            phase["commit"] = time.perf_counter() - t
        except sa.exc.DBAPIError as exc:
            raise self._wrap(exc) from None
        self._done = True
        logger.info(
            "scoring run %s succeeded: %d read, %d written, %d quarantined",
            self.run_id,
            result.rows_read,
            result.rows_written,
            result.rows_quarantined,
        )
        self.result = result
        return result

    def counts(
        self,
        n_scored: int,
        n_rejected: int,
        n_written: int,
        quarantine: pd.DataFrame,
        phase: dict[str, float],
    ) -> RunResult:
        """The run's counts, before anything is written.

        Parameters
        ----------
        n_scored : int
            Score rows handed to the run.
        n_rejected : int
            Input rows and customers the job could not score (they are quarantined).
        n_written : int
            Score rows that passed the row checks and will be upserted.
        quarantine : pandas.DataFrame
            Every quarantine entry (refused score rows, then the rejected inputs).
        phase : dict of str to float
            Seconds per phase so far (kept on the result, and updated by the merge).

        Raises
        ------
        CRMError
            The counts do not add up (``rows_read = rows_written + rows_quarantined``);
            nothing was written.
        """
        result = RunResult(
            run_id=self.run_id,
            table=self.sink.table,
            rows_read=n_scored + n_rejected,
            rows_scored=n_scored,
            rows_written=n_written,
            rows_quarantined=len(quarantine),
            timings=phase,
        )
        if result.rows_read != result.rows_written + result.rows_quarantined:
            raise CRMError(
                f"run {self.run_id}: {n_scored} rows scored and {n_rejected} rejected but "
                f"{n_written} to write and {len(quarantine)} quarantined; nothing was written"
            )
        return result

    # -- a write in two steps (rows staged by other connections, e.g. Spark executors) -----
    def stage_table(self) -> sa.Table:
        """This run's staging table: the score columns and a ``_part`` column, ``UNLOGGED``.

        Its name is derived from the run id, so a re-run after a killed attempt finds it.
        """
        digest = hashlib.sha1(self.run_id.encode()).hexdigest()[:16]
        return sa.Table(
            f"_clvml_stage_{digest}",
            sa.MetaData(),
            *(sa.Column(c, t) for c, t in SCORE_COLUMNS.items()),
            sa.Column("_part", sa.Integer),
            schema=self.sink.schema,
            prefixes=["UNLOGGED"],
        )

    def create_stage(self) -> sa.Table:
        """Create (or re-create, after a killed attempt) and commit the empty staging table.

        Other connections then fill it (:func:`clvml.scoring.staging.stage_rows` is the
        single-connection way); :meth:`merge_stage` turns it into the scores.
        """
        conn = self._conn
        if conn is None:
            raise CRMError("ScoreRun.create_stage must be called inside `with sink.run(...)`")
        stage = self.stage_table()
        try:
            with conn.begin():
                stage.drop(conn, checkfirst=True)
                stage.create(conn)
        except sa.exc.DBAPIError as exc:
            raise self._wrap(exc) from None
        return stage

    def merge_stage(
        self,
        stage: sa.Table,
        *,
        n_scored: int,
        n_valid: int,
        quarantine: pd.DataFrame,
        rejected: pd.DataFrame | None = None,
        timings: Mapping[str, float] | None = None,
    ) -> RunResult:
        """Upsert the staged rows and finish the run, in one transaction.

        Parameters
        ----------
        stage : sqlalchemy.Table
            The table of :meth:`create_stage`, filled with the ``n_valid`` rows to write.
        n_scored, n_valid : int
            Score rows scored, and of those the ones staged (the others are in
            ``quarantine``).
        quarantine : pandas.DataFrame
            The refused score rows (``row_number``, ``customer_id``, ``reason``,
            ``payload``).
        rejected : pandas.DataFrame, optional
            Input rows and customers the job could not score (``customer_id``,
            ``reason``); quarantined too and counted as read, as in :meth:`write`.
        timings : mapping, optional
            Seconds per earlier phase.

        Returns
        -------
        RunResult
        """
        conn = self._conn
        if conn is None:
            raise CRMError("ScoreRun.merge_stage must be called inside `with sink.run(...)`")
        if self._done:
            raise CRMError(f"run {self.run_id} already wrote its scores")
        phase = {str(k): float(v) for k, v in (timings or {}).items()}
        n_rejected = 0 if rejected is None else len(rejected)
        quarantine = append_rejected(quarantine, rejected, start=n_scored)
        result = self.counts(n_scored, n_rejected, n_valid, quarantine, phase)
        try:
            with conn.begin():
                self._merge_in(conn, stage, quarantine, result, phase)
        except sa.exc.DBAPIError as exc:
            raise self._wrap(exc) from None
        self._done = True
        self.result = result
        return result

    def _merge_in(
        self,
        conn: Connection,
        stage: sa.Table,
        quarantine: pd.DataFrame,
        result: RunResult,
        phase: dict[str, float],
    ) -> None:
        """Inside the run's one transaction: the staged rows become the scores.

        Upserts ``stage`` into the score table and drops it, replaces the run's quarantine
        rows and marks the run succeeded; the caller's commit makes all of it visible at
        once (a crash before leaves the previous scores whole).
        """
        t = time.perf_counter()
        assert self.scored_at is not None  # set when the run started
        upsert_from_stage(
            conn,
            self.sink.tables.scores,
            stage,
            model_name=self.model_name,
            model_version=self.model_version,
            scored_at=self.scored_at,
            run_id=self.run_id,
        )
        stage.drop(conn)
        phase["upsert"] = time.perf_counter() - t

        t = time.perf_counter()
        self._replace_quarantine(conn, quarantine)
        phase["quarantine"] = time.perf_counter() - t

        t = time.perf_counter()
        tables = self.sink.tables
        append_history(conn, tables.history, tables.scores, run_id=self.run_id, as_of=self.as_of)
        phase["history"] = time.perf_counter() - t
        t = time.perf_counter()
        for step in self.in_transaction:
            step(conn, self)
        if self.in_transaction:
            phase["in_transaction"] = time.perf_counter() - t
        t = time.perf_counter()
        self.pruned = prune_history(
            conn,
            tables.history,
            tables.runs,
            self.sink.table,
            run_id=self.run_id,
            policy=self.sink.history,
        )
        phase["prune"] = time.perf_counter() - t
        # A test hook point: everything is staged and upserted but not committed.
        self._before_commit()
        self._finish(
            conn,
            "succeeded",
            rows_read=result.rows_read,
            rows_scored=result.rows_scored,
            rows_written=result.rows_written,
            rows_quarantined=result.rows_quarantined,
            timings={k: round(v, 6) for k, v in phase.items()},
        )

    def _replace_quarantine(self, conn: Connection, quarantine: pd.DataFrame) -> None:
        """Replace this run's quarantine rows (a re-run never doubles them)."""
        q = self.sink.tables.quarantine
        conn.execute(q.delete().where(q.c.run_id == self.run_id))
        quarantine = storable_quarantine(quarantine)
        if len(quarantine):
            now = datetime.now(UTC)
            conn.execute(
                q.insert(),
                [
                    {
                        "run_id": self.run_id,
                        "row_number": int(rn),
                        "customer_id": cid,
                        "reason": reason,
                        "payload": payload,
                        "quarantined_at": now,
                    }
                    for rn, cid, reason, payload in quarantine.itertuples(index=False)
                ],
            )

    def _before_commit(self) -> None:
        """Called inside the write transaction just before it commits (tests inject crashes)."""
