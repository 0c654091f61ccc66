"""Fixtures of the Spark tests: one local[2] session per test session.

Without PySpark the tests are skipped with a reason, except under ``CI=true``, where a
missing PySpark is an error (the CI job installs the ``spark`` extra).
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _pyspark_or_skip() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("PySpark is not installed but CI=true: install clvml[spark]")
        pytest.skip("PySpark is not installed (pip install 'clvml[spark]')")


@pytest.fixture(scope="session")
def spark():
    _pyspark_or_skip()
    from clvml.spark.session import get_spark

    session = get_spark("local[2]", app_name="clvml-tests", shuffle_partitions=2)
    yield session
    session.stop()
