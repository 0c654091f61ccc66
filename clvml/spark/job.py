"""The batch scoring job on Spark: Parquet tables -> features -> pyfunc scores -> CRM/Parquet.

:func:`score_job` is the Spark engine of ``clvml score`` (:mod:`clvml.scoring.job` is the
single-machine one). It reads ``transactions`` (required), ``engagement`` and
``customers`` as Parquet from a folder (``<name>.parquet``, a file or a directory of
part files, on any file system Spark reads), computes the customer frame as of a date
(:func:`clvml.spark.features.customer_features`), scores it with the model
(:func:`clvml.spark.score.score_customers`) and writes the scores to the CRM
(:func:`clvml.spark.score.write_crm`, same atomic guarantee) or to a Parquet folder.

Differences from the single-machine job, stated: input rows are checked for missing IDs,
timestamps and amounts (the job stops with a counted
:class:`~clvml.exceptions.DataValidationError`), but rows breaking the other row rules
of :mod:`clvml.data.validation` are not quarantined one by one, and customers without a
purchase by ``as_of`` are left out rather than quarantined. Run the single-machine
validation on a sample first when the data source is new.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from clvml.exceptions import DataValidationError
from clvml.spark.session import get_spark

__all__ = ["SparkScoreResult", "read_tables", "score_job"]

_TABLES = ("transactions", "engagement", "customers")


@dataclass(frozen=True)
class SparkScoreResult:
    """What :func:`score_job` did.

    ``run`` is the CRM :class:`~clvml.scoring.crm.RunResult` (None when writing Parquet).
    """

    model_name: str
    model_version: str
    as_of: str
    output: str
    run: Any = None
    timings: dict[str, float] = field(default_factory=dict)


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


def read_tables(spark: Any, folder: str) -> dict[str, Any]:
    """Read ``transactions`` (required), ``engagement`` and ``customers`` Parquet tables.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    folder : str
        Folder (local path or a URI Spark reads, e.g. ``s3a://bucket/shop``) holding
        ``<name>.parquet`` files or directories.

    Notes
    -----
    Spark cannot read Parquet nanosecond timestamps, pandas' default. In local folders
    they are detected from the Parquet schema and converted (truncated to microseconds);
    on remote storage write microsecond timestamps
    (``df.to_parquet(..., coerce_timestamps="us")``).
    """
    from pyspark.sql import functions as F

    tables = {}
    local = "://" not in folder
    for name in _TABLES:
        path = f"{folder.rstrip('/')}/{name}.parquet"
        if local and not Path(path).exists():
            continue
        frame = spark.read.parquet(path)
        for column in _nanosecond_columns(path) if local else ():
            # read as int64 nanoseconds (spark.sql.legacy.parquet.nanosAsLong, set by
            # get_spark): whole microseconds, as Spark timestamps hold
            frame = frame.withColumn(column, F.timestamp_micros(F.expr(f"`{column}` div 1000")))
        tables[name] = frame
    if "transactions" not in tables:
        raise DataValidationError(f"no transactions.parquet in {folder}")
    return tables


def score_job(
    model_uri: str,
    data: str,
    *,
    crm_url: str | None = None,
    output: str | None = None,
    table: str = "customer_scores",
    schema: str | None = None,
    as_of: Any = None,
    tracking_uri: str | None = None,
    lock_timeout: float = 0.0,
    model_dir: str | None = None,
    spark: Any = None,
) -> SparkScoreResult:
    """Score every customer on Spark and write the scores.

    Parameters
    ----------
    model_uri : str
        As for :func:`clvml.scoring.model.load_scoring_model`.
    data : str
        Folder of Parquet tables (see :func:`read_tables`).
    crm_url : str, optional
        CRM database (PostgreSQL for distributed staging; SQLite is written from the
        driver). Exactly one of ``crm_url`` and ``output`` is required.
    output : str, optional
        Parquet folder to write the scores to instead (overwritten).
    table, schema, lock_timeout
        As for :class:`clvml.scoring.crm.CRMSink`.
    as_of : date-like, optional
        Cut-off day (inclusive); default the day of the last purchase.
    tracking_uri : str, optional
        MLflow store of ``models:/`` and ``runs:/`` URIs.
    model_dir : str, optional
        Folder the model is copied to for the executors. Default: a temporary folder on
        the driver, which only ``local`` masters can read; on a cluster give a path every
        node sees (a shared or distributed file system mounted on all nodes).
    spark : pyspark.sql.SparkSession, optional
        Default :func:`clvml.spark.session.get_spark`.

    Returns
    -------
    SparkScoreResult
    """
    import mlflow

    from clvml.scoring.crm import CRMSink
    from clvml.scoring.model import load_scoring_model
    from clvml.spark.features import customer_features
    from clvml.spark.score import score_customers, write_crm, write_parquet

    if (crm_url is None) == (output is None):
        raise DataValidationError("give exactly one of crm_url (the CRM) or output (Parquet)")
    timings: dict[str, float] = {}
    t = time.perf_counter()
    model = load_scoring_model(model_uri, tracking_uri=tracking_uri)
    sink = None if crm_url is None else CRMSink(crm_url, table, schema, lock_timeout=lock_timeout)
    spark = spark or get_spark()
    timings["model"] = time.perf_counter() - t

    with tempfile.TemporaryDirectory(prefix="clvml-model-") as tmp:
        local = Path(model_uri)
        if local.is_dir():
            path = str(local.resolve())
        else:
            path = mlflow.artifacts.download_artifacts(
                artifact_uri=model.uri, dst_path=model_dir or tmp
            )
        t = time.perf_counter()
        tables = read_tables(spark, data)
        tx = tables["transactions"]
        if as_of is None:
            from pyspark.sql import functions as F

            last = tx.agg(F.max("timestamp")).first()[0]
            if last is None:
                raise DataValidationError("the transactions are empty", column="timestamp")
            as_of = pd.Timestamp(last).normalize()
        day = pd.Timestamp(as_of).normalize()
        features = customer_features(
            tx, tables.get("engagement"), tables.get("customers"), cutoff=day
        )
        scores = score_customers(features, path)
        if output is not None:
            write_parquet(scores, output)
            timings["features_score_write"] = time.perf_counter() - t
            return SparkScoreResult(
                model.name, model.version, str(day.date()), output, None, timings
            )
        assert sink is not None
        with sink:
            run = write_crm(
                scores,
                sink,
                model_name=model.name,
                model_version=model.version,
                as_of=day.date(),
            )
        timings["features_score_write"] = time.perf_counter() - t
        return SparkScoreResult(
            model.name, model.version, str(day.date()), sink.safe_url, run, timings
        )
