"""Where the Spark engine reads its tables: a Parquet folder or a catalog database.

A *source* is one of:

* a folder holding ``transactions.parquet`` (required), ``engagement.parquet`` and
  ``customers.parquet`` (files or directories of part files): a local path or a URI of a
  file system Spark reads (``s3a://bucket/shop``, ``hdfs://...``, ``abfss://...``);
* ``table:<database>``: the tables ``<database>.transactions``, ``<database>.engagement``
  and ``<database>.customers`` of the session's catalog (Hive, Unity, Glue, or global
  temporary views with ``table:global_temp``); ``table:`` alone reads the current database.

Database URLs (``postgresql://...``) are not Spark sources: the single-machine engine
reads those.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from clvml.exceptions import DataValidationError

__all__ = ["CATALOG_PREFIX", "FILE_SYSTEM_SCHEMES", "is_spark_source", "read_tables"]

TABLES = ("transactions", "engagement", "customers")
#: Prefix of a catalog source: ``table:<database>``.
CATALOG_PREFIX = "table:"
#: URI schemes of the file systems Spark reads (other ``scheme://`` texts are database URLs).
FILE_SYSTEM_SCHEMES = frozenset(
    {
        "file",
        "hdfs",
        "viewfs",
        "s3",
        "s3a",
        "s3n",
        "gs",
        "abfs",
        "abfss",
        "wasb",
        "wasbs",
        "adl",
        "dbfs",
        "oss",
        "cos",
        "cosn",
        "obs",
    }
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_spark_source(source: str) -> bool:
    """True for a catalog source, a local path or a URI of a file system Spark reads.

    Examples
    --------
    >>> [is_spark_source(s) for s in ("table:shop", "s3a://b/shop", "data/x", "sqlite:///x.db")]
    [True, True, True, False]
    """
    if source.startswith(CATALOG_PREFIX):
        return True
    match = _SCHEME.match(source)
    return match is None or match.group(1).lower() in FILE_SYSTEM_SCHEMES


def _nanosecond_columns(path: str) -> list[str]:
    """Columns stored as nanosecond timestamps (pandas' default) in a local Parquet table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = Path(path)
    files = [p] if p.is_file() else sorted(p.glob("*.parquet"))
    if not files:
        return []
    schema = pq.read_schema(files[0])
    return [f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.unit == "ns"]


def _catalog_tables(spark: Any, database: str) -> dict[str, Any]:
    parts = [p for p in database.strip().split(".") if p] if database.strip() else []
    bad = [p for p in parts if not _IDENTIFIER.match(p)]
    if bad or len(parts) > 2:
        raise DataValidationError(
            f"{CATALOG_PREFIX}{database}: expected {CATALOG_PREFIX}<database> or "
            f"{CATALOG_PREFIX}<catalog>.<database> made of letters, digits and underscores"
        )
    tables = {}
    for name in TABLES:
        full = ".".join([*parts, name])
        if spark.catalog.tableExists(full):
            tables[name] = spark.table(full)
    if "transactions" not in tables:
        where = ".".join(parts) or "the current database"
        raise DataValidationError(f"no transactions table in {where} of the Spark catalog")
    return tables


def _is_missing_path(exc: Exception) -> bool:
    condition = getattr(exc, "getCondition", None) or getattr(exc, "getErrorClass", None)
    return (condition() if condition else None) == "PATH_NOT_FOUND" or "PATH_NOT_FOUND" in str(exc)


def read_tables(spark: Any, source: str) -> dict[str, Any]:
    """Read ``transactions`` (required), ``engagement`` and ``customers`` (see the module notes).

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    source : str
        A folder (local path or file-system URI) of ``<name>.parquet`` tables, or
        ``table:<database>``.

    Returns
    -------
    dict of str to pyspark.sql.DataFrame
        The tables found, by name.

    Raises
    ------
    DataValidationError
        No transactions table, a database URL, or a malformed ``table:`` source.

    Notes
    -----
    Spark cannot read Parquet nanosecond timestamps, pandas' default. In local folders
    they are detected from the Parquet schema and converted (truncated to microseconds);
    on remote storage write microsecond timestamps
    (``df.to_parquet(..., coerce_timestamps="us")``).
    """
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F

    if source.startswith(CATALOG_PREFIX):
        return _catalog_tables(spark, source[len(CATALOG_PREFIX) :])
    if not is_spark_source(source):
        raise DataValidationError(
            "the Spark engine reads a folder of Parquet tables or table:<database>, "
            "not a database URL; use the local engine for databases"
        )
    tables = {}
    local = _SCHEME.match(source) is None
    for name in TABLES:
        path = f"{source.rstrip('/')}/{name}.parquet"
        if local and not Path(path).exists():
            continue
        try:
            frame = spark.read.parquet(path)
        except AnalysisException as exc:
            if not _is_missing_path(exc):
                raise
            continue  # absent from remote storage (transactions: refused below)
        for column in _nanosecond_columns(path) if local else ():
            # read as int64 nanoseconds (spark.sql.legacy.parquet.nanosAsLong, set by
            # get_spark): whole microseconds, as Spark timestamps hold
            frame = frame.withColumn(column, F.timestamp_micros(F.expr(f"`{column}` div 1000")))
        tables[name] = frame
    if "transactions" not in tables:
        raise DataValidationError(f"no transactions.parquet in {source}")
    return tables
