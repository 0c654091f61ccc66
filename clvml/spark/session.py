"""A Spark session configured for clvml.

:func:`get_spark` returns the active session or builds one: ``local[2]`` by default
(tests, laptops), UTC session time zone (clvml's periods follow naive wall-clock
time, so timestamps must not be shifted by the driver's zone), Arrow transfers on,
small shuffle partitions for local masters, the web UI off and warnings-only logs.
Workers run the same Python as the driver unless ``PYSPARK_PYTHON`` is already set.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from clvml.exceptions import MissingDependencyError

__all__ = ["get_spark", "require_pyspark"]


def require_pyspark() -> Any:
    """Import and return :mod:`pyspark`, or raise MissingDependencyError (an ImportError)."""
    try:
        import pyspark
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            "clvml.spark needs PySpark >= 4.0 and Java 17: pip install 'clvml[spark]'"
        ) from exc
    return pyspark


def get_spark(
    master: str | None = None,
    *,
    app_name: str = "clvml",
    shuffle_partitions: int | None = None,
    config: dict[str, str] | None = None,
) -> Any:
    """Return the active SparkSession, or build one.

    Parameters
    ----------
    master : str, optional
        Spark master URL. Default: ``$CLVML_SPARK_MASTER`` or ``local[2]``. Ignored when a
        session is already active (e.g. under ``spark-submit`` or on Databricks).
    app_name : str, default "clvml"
    shuffle_partitions : int, optional
        ``spark.sql.shuffle.partitions``. Default: 4 for ``local`` masters (Spark's 200 are
        pure overhead on a few cores), Spark's own default on clusters.
    config : dict, optional
        Further Spark settings, applied last.

    Returns
    -------
    pyspark.sql.SparkSession
    """
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    master = master or os.environ.get("CLVML_SPARK_MASTER", "local[2]")
    # Python workers must import the same clvml/pandas/numpy as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.ansi.enabled": "true",
        # pandas writes nanosecond timestamps, which Spark's Parquet reader refuses otherwise;
        # clvml.spark.io.read_tables converts them to timestamps
        "spark.sql.legacy.parquet.nanosAsLong": "true",
    }
    if master.startswith("local"):
        settings["spark.sql.shuffle.partitions"] = str(shuffle_partitions or 4)
        settings["spark.default.parallelism"] = str(shuffle_partitions or 4)
        settings["spark.driver.host"] = "127.0.0.1"
        settings["spark.driver.bindAddress"] = "127.0.0.1"
    elif shuffle_partitions:
        settings["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    settings.update(config or {})
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
