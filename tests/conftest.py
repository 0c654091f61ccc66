"""Shared fixtures. Keep this file to fixtures every area needs.

- ``pg_url``: a fresh schema on the test PostgreSQL server;
- ``make_world``: the generated social-commerce world factory (cached per worker);
- ``cdnow_summary``, ``cdnow_summary_with_spend``: the published CDNOW calibration summary;
- ``cdnow_transactions``, ``cdnow_sample_transactions``: the bundled CDNOW transaction logs.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pandas as pd
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


# --------------------------------------------------------------------------- generated worlds
@functools.lru_cache(maxsize=8)
def _generated_world(n_customers: int, random_state: int, settings: tuple[tuple[str, Any], ...]):
    from clvml.data.synthetic import generate_social_commerce

    return generate_social_commerce(n_customers, random_state=random_state, **dict(settings))


def _make_world(n_customers: int, random_state: int, **settings: Any):
    """A generated social-commerce world (:func:`clvml.data.synthetic.generate_social_commerce`).

    Generated once per worker for each ``(n_customers, random_state, settings)`` and cached; each
    call returns fresh copies of the tables, so a test may modify what it gets.
    """
    world = _generated_world(n_customers, random_state, tuple(sorted(settings.items())))
    tables = ("customers", "transactions", "engagement", "truth", "texts_truth")
    return dataclasses.replace(
        world,
        **{name: getattr(world, name).copy() for name in tables},
        params=copy.deepcopy(world.params),
    )


@pytest.fixture(scope="session")
def make_world():
    """The generated-world factory: ``make_world(n_customers, random_state, **settings)``.

    The settings are keywords of ``generate_social_commerce`` (effects, shares, ...). Worlds
    are cached per worker; every call returns its own copies of the tables.
    """
    return _make_world


# --------------------------------------------------------------------------- CDNOW
@functools.cache
def _cdnow(name: str) -> pd.DataFrame:
    from clvml.data import datasets

    loaders = {
        "summary": lambda: datasets.load_cdnow_summary(),
        "summary_with_spend": lambda: datasets.load_cdnow_summary(with_spend=True),
        "transactions": datasets.load_cdnow_master,
        "sample_transactions": datasets.load_cdnow_sample,
    }
    return loaders[name]()


@pytest.fixture(scope="module")
def cdnow_summary() -> pd.DataFrame:
    """The published 39-week CDNOW calibration summary of the 1/10 sample.

    ``frequency``, ``recency``, ``T`` (weeks) of 2,357 customers, indexed by ``ID``.
    """
    return _cdnow("summary").copy()


@pytest.fixture(scope="module")
def cdnow_summary_with_spend() -> pd.DataFrame:
    """:func:`cdnow_summary` with ``monetary_value`` (mean repeat spend) for Gamma-Gamma."""
    return _cdnow("summary_with_spend").copy()


@pytest.fixture(scope="module")
def cdnow_transactions() -> pd.DataFrame:
    """The full CDNOW transaction log: 69,659 purchases of 23,570 customers.

    Columns ``customer_id``, ``quantity``, ``amount``, ``timestamp``.
    """
    return _cdnow("transactions").copy()


@pytest.fixture(scope="module")
def cdnow_sample_transactions() -> pd.DataFrame:
    """The transaction log of the 1/10 CDNOW sample: 6,919 purchases of 2,357 customers."""
    return _cdnow("sample_transactions").copy()
