"""Score customers with the MLflow pyfunc model on Spark; write to Parquet or the CRM.

:func:`score_customers` runs the clvml pyfunc model (:mod:`clvml.tracking.pyfunc`) on
every partition of a Spark customer frame with ``mapInPandas``: each Python worker
loads the model once (cached per process and model URI) and scores Arrow batches with
the pyfunc model's ``predict`` (estimator and stored segment scheme) that the
single-machine job calls, so the scores are the pandas scores
(``tests/spark/test_spark_score.py``). The output schema is the model's logged output
signature.

Writing:

* :func:`write_parquet` -- a Parquet table (one file per partition), overwrite or append;
* :func:`write_crm` -- the CRM score table with the guarantee of :mod:`clvml.scoring`:
  the score table changes only in ONE transaction on the driver. Executors validate
  their partition with :func:`clvml.scoring.validation.split_scores` (rows are first
  hash-partitioned by ``customer_id``, so duplicate IDs meet in one partition and are
  quarantined exactly as in the pandas sink) and ``COPY`` the valid rows, in batches,
  into an ``UNLOGGED`` staging table created for the run; quarantined rows go back to
  the driver. The driver then runs the same ``INSERT ... SELECT ... ON CONFLICT DO
  UPDATE`` (:func:`clvml.scoring.staging.upsert_from_stage`), replaces the run's
  quarantine rows, drops the staging table and marks the run ``succeeded``, in one
  transaction under the job lock. A job killed before that commit leaves the score
  table unchanged; its staging table is left behind (``_clvml_stage_<run>``) and is
  dropped by the next run of the same job. A retried Spark task deletes its
  partition's earlier rows from the staging table before copying them again, so task
  retries do not duplicate rows (speculative execution must stay off, Spark's default).

Distributed staging needs PostgreSQL (every executor connects to it). For SQLite
(a single file on one machine) the scores are collected to the driver and written
by :class:`clvml.scoring.crm.CRMSink` itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError
from clvml.spark.session import require_pyspark

__all__ = ["output_schema", "score_customers", "write_crm", "write_parquet"]

_MODELS: dict[str, Any] = {}  # per Python worker: model URI -> loaded pyfunc model


def _load(model_uri: str) -> Any:
    model = _MODELS.get(model_uri)
    if model is None:
        import mlflow.pyfunc

        model = _MODELS[model_uri] = mlflow.pyfunc.load_model(model_uri)
    return model


def output_schema(model_uri: str) -> Any:
    """The Spark schema of the model's output signature (``customer_id`` first)."""
    require_pyspark()
    from pyspark.sql import types as T

    model = _load(model_uri)
    schema = model.metadata.get_output_schema()
    if schema is None:
        raise DataValidationError(f"the model at {model_uri} has no output signature")
    kinds = {
        "double": T.DoubleType(),
        "float": T.DoubleType(),
        "string": T.StringType(),
        "long": T.LongType(),
        "integer": T.LongType(),
        "boolean": T.BooleanType(),
    }
    fields = []
    for spec in schema.inputs:
        kind = str(getattr(spec.type, "name", spec.type)).lower()
        if kind not in kinds:
            raise DataValidationError(f"output column {spec.name} has unsupported type {kind}")
        fields.append(T.StructField(spec.name, kinds[kind], True))
    return T.StructType(fields)


def score_customers(features: Any, model_uri: str) -> Any:
    """Score a Spark customer frame with a clvml pyfunc model.

    Parameters
    ----------
    features : pyspark.sql.DataFrame
        The customer frame (``customer_id`` column and the model's feature columns), e.g.
        :func:`clvml.spark.features.customer_features`.
    model_uri : str
        Anything :func:`mlflow.pyfunc.load_model` accepts (``models:/clvml@champion``,
        ``runs:/...``, a local folder). Executors must reach it: a shared file system,
        the tracking server, or a folder shipped with the job.

    Returns
    -------
    pyspark.sql.DataFrame
        One row per customer with the model's outputs (lazy: nothing runs until written).

    Raises
    ------
    DataValidationError
        ``customer_id`` or a feature column the model needs is missing.
    """
    require_pyspark()
    model = _load(model_uri)
    needed = [s.name for s in model.metadata.get_input_schema().inputs]
    required = [c for c in needed if c != "customer_id"]
    missing = [c for c in ["customer_id", *required] if c not in features.columns]
    if missing:
        raise DataValidationError(
            f"the customer frame lacks {len(missing)} column(s) the model needs: {missing[:5]}",
            column=missing[0],
        )
    schema = output_schema(model_uri)
    names = [f.name for f in schema.fields]

    def predict(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        served = _load(model_uri).unwrap_python_model()  # estimator and segment scheme
        for batch in batches:
            if len(batch):
                yield served.predict(None, batch)[names]

    return features.select("customer_id", *required).mapInPandas(predict, schema)


def served_method(model_uri: str) -> str | None:
    """The served method of a clvml CLV model (None for another pyfunc model)."""
    try:
        return str(_load(model_uri).unwrap_python_model().model_.champion_)
    except Exception:
        return None


def write_parquet(scores: Any, path: str, *, mode: str = "overwrite") -> None:
    """Write scores to a Parquet table at ``path`` (``mode``: overwrite, append, error)."""
    scores.write.mode(mode).parquet(path)


# ------------------------------------------------------------------------------ the CRM


def _with_row_numbers(scores: Any) -> Any:
    """``scores`` with ``_row``: each row's 0-based position in partition order.

    The frame must be persisted (it is evaluated twice: counts, then numbers).
    """
    from pyspark import TaskContext
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    sizes = dict(scores.groupBy(F.spark_partition_id().alias("p")).count().rdd.map(tuple).collect())
    offsets, total = {}, 0
    for p in range(scores.rdd.getNumPartitions()):
        offsets[p] = total
        total += int(sizes.get(p, 0))

    def number(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        ctx = TaskContext.get()
        start = offsets[ctx.partitionId()] if ctx is not None else 0
        for batch in batches:
            yield batch.assign(_row=np.arange(start, start + len(batch), dtype=np.int64))
            start += len(batch)

    schema = T.StructType([*scores.schema.fields, T.StructField("_row", T.LongType(), False)])
    return scores.mapInPandas(number, schema)


def _stage_partition_fn(url: str, stage_name: str, schema_name: str | None) -> Any:
    """The executor function: validate a partition, COPY its valid rows into the stage."""

    def stage(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import sqlalchemy as sa
        from pyspark import TaskContext

        from clvml.scoring.schema import STAGED_COLUMNS
        from clvml.scoring.staging import PG_COPY_TYPES
        from clvml.scoring.validation import split_scores

        frames = [b for b in batches if len(b)]
        ctx = TaskContext.get()
        part = ctx.partitionId() if ctx is not None else 0
        retry = ctx is not None and ctx.attemptNumber() > 0
        data = pd.concat(frames, ignore_index=True) if frames else None
        n = 0 if data is None else len(data)
        quarantined = pd.DataFrame(columns=["row_number", "customer_id", "reason", "payload"])
        n_valid = 0
        if data is not None or retry:
            rows = data["_row"].to_numpy() if data is not None else np.empty(0, np.int64)
            split = split_scores(data.drop(columns="_row")) if data is not None else None
            engine = sa.create_engine(url, hide_parameters=True)
            try:
                with engine.begin() as conn:
                    prep = conn.dialect.identifier_preparer
                    table = prep.quote(stage_name)
                    if schema_name:
                        table = f"{prep.quote_schema(schema_name)}.{table}"
                    raw: Any = conn.connection.dbapi_connection
                    with raw.cursor() as cur:
                        if retry:  # an earlier attempt of this task may have committed
                            cur.execute(f"DELETE FROM {table} WHERE _part = %s", (part,))
                        if split is not None and len(split.valid):
                            valid = split.valid.take(
                                split.valid["customer_id"].argsort().to_numpy()
                            )
                            cols = ", ".join(prep.quote(c) for c in (*STAGED_COLUMNS, "_part"))
                            types = [*PG_COPY_TYPES, "int4"]  # from the schema, and _part
                            with cur.copy(
                                f"COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)"
                            ) as copy:
                                copy.set_types(types)
                                for row in _rows(valid):
                                    copy.write_row((*row, part))
                            n_valid = len(valid)
            finally:
                engine.dispose()
            if split is not None and len(split.quarantined):
                quarantined = split.quarantined.assign(
                    row_number=rows[split.quarantined["row_number"].to_numpy()],
                    payload=[json.dumps(p) for p in split.quarantined["payload"]],
                )
        out = quarantined.assign(n_scored=0, n_valid=0)
        summary = pd.DataFrame(
            {
                "row_number": [-1],
                "customer_id": [None],
                "reason": [None],
                "payload": [None],
                "n_scored": [n],
                "n_valid": [n_valid],
            }
        )
        yield pd.concat([out, summary], ignore_index=True).astype(
            {"row_number": "int64", "n_scored": "int64", "n_valid": "int64"}
        )

    return stage


def _rows(valid: pd.DataFrame) -> Iterator[tuple[Any, ...]]:
    from clvml.scoring.schema import STAGED_COLUMNS

    cols = []
    for c in STAGED_COLUMNS:
        s = valid[c]
        if s.dtype.kind == "f":
            a = s.to_numpy().astype(object)
            a[np.isnan(s.to_numpy())] = None
            cols.append(a.tolist())
        else:
            cols.append(s.to_numpy(dtype=object, na_value=None).tolist())
    return zip(*cols, strict=True)


def write_crm(
    scores: Any,
    sink: Any,
    *,
    model_name: str,
    model_version: str,
    as_of: Any = None,
    run_id: str | None = None,
    scored_at: Any = None,
    partitions: int | None = None,
    rejected: Any = None,
) -> Any:
    """Write Spark scores to the CRM score table atomically (see the module documentation).

    Parameters
    ----------
    scores : pyspark.sql.DataFrame
        Score rows (columns of :data:`clvml.scoring.schema.SCORE_COLUMNS`; other model
        outputs are dropped), e.g. from :func:`score_customers`.
    sink : clvml.scoring.crm.CRMSink
        The CRM table.
    model_name, model_version, as_of, run_id, scored_at
        As in :meth:`clvml.scoring.crm.CRMSink.run`.
    partitions : int, optional
        Number of staging tasks (parallel COPY connections). Default: the session's
        shuffle partitions.
    rejected : pyspark.sql.DataFrame or pandas.DataFrame, optional
        Input rows and customers the job read but could not score (``customer_id``,
        ``reason``; other columns are ignored), e.g. from :func:`clvml.spark.job.score_job`.
        They are collected to the driver and written to the quarantine table in the
        same transaction, after the score rows, and count as read: ``rows_read =
        rows_written + rows_quarantined`` as in
        :meth:`clvml.scoring.crm.ScoreRun.write`.

    Returns
    -------
    clvml.scoring.crm.RunResult
        ``rows_read = rows_written + rows_quarantined``; timings of the Spark phases
        (``score_and_stage``) and of the merge.
    """
    require_pyspark()
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from clvml.scoring.schema import SCORE_COLUMNS

    keep = [c for c in scores.columns if c in SCORE_COLUMNS]
    if "customer_id" not in keep or "clv" not in keep:
        raise DataValidationError("scores need the columns customer_id and clv", column="clv")
    frame = scores.select(*keep)
    if rejected is not None and not isinstance(rejected, pd.DataFrame):
        missing = [c for c in ("customer_id", "reason") if c not in rejected.columns]
        if missing:
            raise DataValidationError(
                "rejected rows need the columns customer_id and reason", column=missing[0]
            )
        rejected = rejected.select("customer_id", "reason").toPandas()
    if sink.url.get_backend_name() != "postgresql":
        # one file on one machine: collect and let the sink write it
        return sink.write(
            frame.toPandas(),
            rejected=rejected,
            model_name=model_name,
            model_version=model_version,
            as_of=as_of,
            run_id=run_id,
            scored_at=scored_at,
        )
    run = sink.run(
        model_name=model_name,
        model_version=model_version,
        as_of=as_of,
        run_id=run_id,
        scored_at=scored_at,
    )
    with run:
        t0 = time.perf_counter()
        stage = run.create_stage()
        persisted = frame.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            numbered = _with_row_numbers(persisted)
            n_parts = partitions or int(
                numbered.sparkSession.conf.get("spark.sql.shuffle.partitions")
            )
            fn = _stage_partition_fn(
                sink.url.render_as_string(hide_password=False), stage.name, sink.schema
            )
            out_schema = T.StructType(
                [
                    T.StructField("row_number", T.LongType()),
                    T.StructField("customer_id", T.StringType()),
                    T.StructField("reason", T.StringType()),
                    T.StructField("payload", T.StringType()),
                    T.StructField("n_scored", T.LongType()),
                    T.StructField("n_valid", T.LongType()),
                ]
            )
            # null ids hash together too, so duplicates and blanks meet in one partition
            parts = numbered.repartition(n_parts, F.col("customer_id"))
            report = parts.mapInPandas(fn, out_schema).toPandas()
        finally:
            persisted.unpersist()
        staged = time.perf_counter() - t0
        summary = report[report["row_number"] < 0]
        quarantine = report[report["row_number"] >= 0].sort_values("row_number")
        ids = quarantine["customer_id"].astype(object)
        quarantine = quarantine.assign(
            customer_id=ids.where(ids.notna(), None),
            payload=[json.loads(p) for p in quarantine["payload"]],
        )
        return run.merge_stage(
            stage,
            n_scored=int(summary["n_scored"].sum()),
            n_valid=int(summary["n_valid"].sum()),
            quarantine=quarantine[["row_number", "customer_id", "reason", "payload"]],
            rejected=rejected,
            timings={"score_and_stage": staged},
        )
