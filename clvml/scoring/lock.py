"""One scoring job per score table at a time.

PostgreSQL
    A session-level advisory lock (``pg_try_advisory_lock``) keyed by a 64-bit
    hash of ``"<schema>.<table>"``, taken on the job's own connection. The
    server releases it when that session ends, so a killed job never leaves a
    stale lock.
SQLite
    An exclusive ``flock`` on a lock file next to the database
    (``<database>.<table>.lock``); the operating system releases it when the
    process dies. In-memory databases use a process-wide lock.

Policy: a second job does not queue behind the first by default; it polls for
``timeout`` seconds (0 = one try) and then raises :class:`CRMLockError`. A
nightly scheduler can retry, while two runs piling up silently cannot happen.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import Connection

from clvml.scoring.errors import CRMLockError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt

__all__ = ["advisory_key", "job_lock"]

_POLL_SECONDS = 0.1
_MEMORY_LOCKS: dict[str, threading.Lock] = {}
_MEMORY_LOCKS_GUARD = threading.Lock()


def advisory_key(name: str) -> int:
    """Signed 64-bit PostgreSQL advisory-lock key for a qualified table name.

    Examples
    --------
    >>> advisory_key("public.customer_scores") == advisory_key("public.customer_scores")
    True
    >>> -(2**63) <= advisory_key("public.customer_scores") < 2**63
    True
    """
    digest = hashlib.blake2b(f"clvml.crm:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _busy(table: str, timeout: float) -> CRMLockError:
    waited = f" after waiting {timeout:g} s" if timeout > 0 else ""
    return CRMLockError(
        f"another scoring job is writing to table {table!r}{waited}; "
        "retry when it has finished (or pass a lock timeout to wait for it)"
    )


def _poll(try_once, timeout: float) -> bool:
    """Call ``try_once`` until it returns True or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + max(timeout, 0.0)
    while True:
        if try_once():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_SECONDS)


@contextmanager
def _postgres_lock(conn: Connection, qualified: str, table: str, timeout: float) -> Iterator[None]:
    key = advisory_key(qualified)

    def try_once() -> bool:
        got = conn.exec_driver_sql("SELECT pg_try_advisory_lock(%(k)s)", {"k": key}).scalar()
        conn.commit()  # session-level lock: it outlives this (empty) transaction
        return bool(got)

    if not _poll(try_once, timeout):
        raise _busy(table, timeout)
    try:
        yield
    finally:
        released = False
        try:
            conn.rollback()
            released = bool(
                conn.exec_driver_sql("SELECT pg_advisory_unlock(%(k)s)", {"k": key}).scalar()
            )
            conn.commit()
        finally:
            if not released:  # never hand a connection holding the lock back to the pool
                conn.invalidate()


def _lock_file(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover - Windows
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _unlock_file(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:  # pragma: no cover - Windows
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


@contextmanager
def _file_lock(path: Path, table: str, timeout: float) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _poll(lambda: _lock_file(fd), timeout):
            raise _busy(table, timeout)
        try:
            yield
        finally:
            _unlock_file(fd)
    finally:
        os.close(fd)


@contextmanager
def _memory_lock(name: str, table: str, timeout: float) -> Iterator[None]:
    with _MEMORY_LOCKS_GUARD:
        lock = _MEMORY_LOCKS.setdefault(name, threading.Lock())
    acquired = lock.acquire(timeout=timeout) if timeout > 0 else lock.acquire(blocking=False)
    if not acquired:
        raise _busy(table, timeout)
    try:
        yield
    finally:
        lock.release()


@contextmanager
def job_lock(
    conn: Connection, table: str, schema: str | None = None, *, timeout: float = 0.0
) -> Iterator[None]:
    """Hold the scoring-job lock of ``schema.table`` for the duration of the block.

    Parameters
    ----------
    conn : sqlalchemy.engine.Connection
        The job's connection (PostgreSQL: the lock belongs to its session).
    table, schema : str
        The score table (already validated identifiers).
    timeout : float, default 0
        Seconds to wait for a running job to finish before giving up.

    Raises
    ------
    CRMLockError
        If another job holds the lock after ``timeout`` seconds.
    """
    dialect = conn.dialect.name
    if dialect == "postgresql":
        if schema is None:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
            conn.commit()
        with _postgres_lock(conn, f"{schema}.{table}", table, timeout):
            yield
    elif dialect == "sqlite":
        database = conn.engine.url.database
        if database in (None, "", ":memory:") or database.startswith("file::memory:"):
            with _memory_lock(f"{id(conn.engine)}:{table}", table, timeout):
                yield
        else:
            path = Path(database).resolve()
            with _file_lock(path.with_name(f"{path.name}.{table}.lock"), table, timeout):
                yield
    else:  # pragma: no cover - the sink refuses other backends earlier
        raise NotImplementedError(dialect)
