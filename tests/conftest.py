"""Shared fixtures. Keep this file to fixtures every area needs."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

#: The PostgreSQL server the tests talk to (trust auth, database ``test``).
PG_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

_pg_unavailable: str | None = None  # why the server did not answer, cached per session
_pg_checked = False


def _pg_reason() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it answers."""
    global _pg_checked, _pg_unavailable
    if not _pg_checked:
        _pg_checked = True
        try:
            import sqlalchemy as sa

            engine = sa.create_engine(PG_SERVER_URL, connect_args={"connect_timeout": 3})
            try:
                with engine.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
            finally:
                engine.dispose()
        except Exception as exc:  # driver missing, server down, auth refused: all mean "no server"
            _pg_unavailable = f"no PostgreSQL at 127.0.0.1:5432 ({type(exc).__name__})"
    return _pg_unavailable


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A SQLAlchemy URL to the test PostgreSQL server, isolated in a fresh schema.

    Connections made from the URL have ``search_path`` set to a schema created
    for this test (and dropped, with everything in it, afterwards), so tables
    created without a schema land there. The schema name is
    ``sqlalchemy.make_url(pg_url).query["options"]`` minus ``-csearch_path=``.

    Mark tests using it ``@pytest.mark.postgres``. Without a server the test
    is skipped, except under ``CI=true``, where it fails.
    """
    reason = _pg_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI=true requires the PostgreSQL server")
        pytest.skip(reason)
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(PG_SERVER_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = sa.make_url(PG_SERVER_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(sa.text("SET lock_timeout = '10s'"))
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()
