"""The batch scoring job on Spark: Parquet tables -> features -> pyfunc scores -> CRM/Parquet.

:func:`score_job` is the Spark engine of ``clvml score`` (:mod:`clvml.pipelines.score` is the
single-machine one). It reads ``transactions`` (required), ``engagement`` and
``customers`` as Parquet from a folder (``<name>.parquet``, a file or a directory of
part files, on any file system Spark reads), validates them, computes the customer frame
as of a date (:func:`clvml.spark.features.customer_features`), scores it with the model
(:func:`clvml.spark.score.score_customers`) and writes the scores to the CRM
(:func:`clvml.spark.score.write_crm`, same atomic guarantee) or to a Parquet folder.

Bad input rows are handled as by the single-machine job (:func:`clvml.pipelines.score.
prepare_inputs`), on every row:

* each table is checked with the pandas rules (:func:`clvml.spark.validate.validate_table`,
  with the job's :class:`~clvml.data.policy.ValidationPolicy`). With
  ``bad_rows="quarantine"`` (default) rows breaking a row rule are set aside and become
  quarantine entries with the reason
  ``"<table> row <label>: <column>: <message> [<rule>]"``; ``bad_rows="error"`` raises a
  :class:`~clvml.exceptions.DataValidationError` naming the column and the count;
* events and purchases of customers absent from the customers table (without one:
  engagement of ids that never bought) are dropped and quarantined once per customer
  (``unknown customer id: ...``), or an error with ``bad_rows="error"``;
* customers with no purchase by ``as_of`` (default: the last valid purchase day) are
  quarantined (``no purchase on or before the as-of date ...``).

The quarantine entries go to the CRM quarantine table in the sink's one transaction,
after the score rows the sink refuses, and the run's counts add up as in the pandas sink:
``rows_read = rows_written + rows_quarantined``. The score rows, the multiset of
quarantined ``(customer_id, rule)`` and the run counts equal the pandas job's
(``tests/spark/test_spark_job_quarantine.py``). One difference, stated: the ``<label>``
of an input row is its Spark row id (``monotonically_increasing_id`` of the read), which
equals the pandas label (the row's position in the table) only when Spark reads the
table as one partition; larger tables get other labels (the rest of the reason is the
same). The quarantine entries (customer id and reason, not the rows) are collected to
the driver, which writes them in the run's transaction, like the score rows the
executors refuse.

With ``output=`` (Parquet) the scores go to ``output`` and the quarantine entries
(``customer_id``, ``reason``) to the sibling folder ``<output>_quarantine``, both
overwritten (an empty table when nothing is quarantined).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clvml.data.dates import as_day
from clvml.data.policy import ValidationPolicy, resolve_policy
from clvml.exceptions import DataValidationError
from clvml.pipelines.score_checks import (
    MAX_MEAN_CLV_CHANGE,
    MAX_TIER_SHARE_CHANGE,
    ScoreDistribution,
    ScoreRefusedError,
    check_as_of,
    check_shift,
    plan_changes,
    read_distribution,
    read_previous,
    training_cutoff,
)
from clvml.scoring.validation import split_scores
from clvml.spark.io import TABLES, read_tables
from clvml.spark.session import get_spark

__all__ = ["SparkScoreResult", "quarantine_path", "score_job"]


@dataclass(frozen=True)
class SparkScoreResult:
    """What :func:`score_job` did.

    ``run`` is the CRM :class:`~clvml.scoring.crm.RunResult` (None when writing Parquet).
    ``input_rows`` counts the rows read per table and ``set_aside`` the quarantine
    entries made by the job, by cause (``<table>``, ``unknown_customer``,
    ``no_purchase``), as in :class:`clvml.pipelines.score.ScoreJobResult`. ``plan`` is
    the :class:`~clvml.pipelines.score_checks.ScorePlan` of a dry run (nothing written);
    ``overridden`` the refusals ``force`` overrode.
    """

    model_name: str
    model_version: str
    as_of: str
    output: str
    run: Any = None
    timings: dict[str, float] = field(default_factory=dict)
    input_rows: dict[str, int] = field(default_factory=dict)
    set_aside: dict[str, int] = field(default_factory=dict)
    plan: Any = None
    overridden: list[str] = field(default_factory=list)


def quarantine_path(output: str) -> str:
    """Where :func:`score_job` writes the quarantine entries of a Parquet run."""
    return f"{output.rstrip('/')}_quarantine"


def _validate(
    name: str, frame: Any, bad_rows: str, policy: ValidationPolicy
) -> tuple[Any, Any, int, int]:
    """One table validated: (clean frame, quarantine entries, rows read, entries)."""
    from pyspark.sql import functions as F

    from clvml.pipelines.score import rule_messages
    from clvml.spark.validate import validate_table

    policy = resolve_policy(policy, invalid="drop" if bad_rows == "quarantine" else "error")
    clean, report, aside = validate_table(frame, name, policy, with_set_aside=True)
    report.raise_for_errors()  # names the table, the column and the count
    assert clean is not None and aside is not None
    n_aside = report.rows_set_aside
    messages = rule_messages(report)
    if messages:
        text = F.create_map(*[F.lit(x) for kv in messages.items() for x in kv])
        message = F.coalesce(F.element_at(text, F.col("rule")), F.col("rule"))
    else:
        message = F.col("rule")
    entries = aside.select(
        "customer_id",
        F.concat(
            F.lit(f"{name} row "),
            F.col("row").cast("string"),
            F.lit(": "),
            message,
            F.lit(" ["),
            F.col("rule"),
            F.lit("]"),
        ).alias("reason"),
        F.lit(0).alias("_cause"),
        F.col("row").alias("_order"),
    )
    return clean, entries, report.rows_read, n_aside


def _unknown_customers(
    frames: dict[str, Any], bad_rows: str
) -> tuple[dict[str, Any], Any | None, int]:
    """Drop (and quarantine per customer) rows of customers the job does not know.

    As :func:`clvml.pipelines.score_inputs._unknown_customers`: known are the ids of the customers
    table, or without one the ids that bought (then only engagement is checked).
    """
    from pyspark.sql import functions as F

    if "customers" in frames:
        known = frames["customers"].select("customer_id").distinct()
        checked: tuple[str, ...] = ("transactions", "engagement")
        where = "the customers table"
    else:
        known = frames["transactions"].select("customer_id").distinct()
        checked, where = ("engagement",), "the transactions (no customers table)"
    out = dict(frames)
    counts = []
    for name in checked:
        frame = frames.get(name)
        if frame is None:
            continue
        unknown = frame.join(known, "customer_id", "left_anti")
        per = unknown.groupBy("customer_id").agg(F.count(F.lit(1)).alias(name)).cache()
        n_rows = per.agg(F.sum(name)).first()[0]
        if not n_rows:
            per.unpersist()
            continue
        if bad_rows == "error":
            example = per.orderBy("customer_id").first()["customer_id"]
            per.unpersist()
            raise DataValidationError(
                f"of table {name} belong to customers not in {where} (unknown customer ids)",
                column="customer_id",
                n_rows=int(n_rows),
                example=str(example),
            )
        counts.append((name, per))
        out[name] = frame.join(known, "customer_id", "left_semi")
    if not counts:
        return out, None, 0
    table = counts[0][1]
    for _, per in counts[1:]:
        table = table.join(per, "customer_id", "full_outer")
    parts = [
        F.when(F.coalesce(F.col(name), F.lit(0)) > 0, F.format_string(f"%d {name} rows", name))
        for name, _ in counts
    ]
    entries = table.select(
        "customer_id",
        F.concat(
            F.lit(f"unknown customer id: not in {where} ("), F.concat_ws(", ", *parts), F.lit(")")
        ).alias("reason"),
        F.lit(1).alias("_cause"),
        F.lit(0).cast("long").alias("_order"),
    )
    n = table.count()
    for _, per in counts:
        per.unpersist()
    return out, entries, int(n)


def _refuse_consent(frames: dict[str, Any]) -> None:
    """The consent fallback (clvml.pipelines.consent) runs on the local engine only."""
    cust = frames.get("customers")
    if cust is None or "consent_profiling" not in cust.columns:
        return
    n = cust.filter("consent_profiling IS NULL OR NOT consent_profiling").count()
    if n:
        raise DataValidationError(
            f"{n:,} customers have no profiling consent; their transaction-only scoring runs "
            "on the local engine only: score them with --engine local",
            column="consent_profiling",
            n_rows=n,
        )


def _with_job_columns(scores: Any, frames: dict[str, Any], model_uri: str) -> Any:
    """The columns the job adds to the model's scores, as the pandas job writes them
    (:func:`clvml.pipelines.consent.apply_consent`): ``scoring_method`` (the served method)
    and, when the customers table records it, ``consent_marketing`` (yes/no)."""
    from pyspark.sql import functions as F

    from clvml.spark.score import served_method

    method = served_method(model_uri)
    if method is not None and "scoring_method" not in scores.columns:
        scores = scores.withColumn("scoring_method", F.lit(method))
    cust = frames.get("customers")
    if cust is None or "consent_marketing" not in cust.columns:
        return scores

    flags = cust.select(
        "customer_id",
        F.when(F.col("consent_marketing"), F.lit("yes")).otherwise(F.lit("no")).alias("_cm"),
    ).dropDuplicates(["customer_id"])
    joined = scores.join(flags, "customer_id", "left")
    return joined.withColumn("consent_marketing", F.coalesce(F.col("_cm"), F.lit("no"))).drop("_cm")


def score_job(
    model_uri: str,
    data: str,
    *,
    crm_url: str | None = None,
    output: str | None = None,
    table: str = "customer_scores",
    schema: str | None = None,
    as_of: Any = None,
    bad_rows: str = "quarantine",
    policy: ValidationPolicy | None = None,
    tracking_uri: str | None = None,
    lock_timeout: float = 0.0,
    model_dir: str | None = None,
    spark: Any = None,
    columns: Mapping[str, str] | None = None,
    trust_model: bool = False,
    force: bool = False,
    dry_run: bool = False,
    max_mean_change: float = MAX_MEAN_CLV_CHANGE,
    max_tier_change: float = MAX_TIER_SHARE_CHANGE,
) -> SparkScoreResult:
    """Score every customer on Spark and write the scores.

    Parameters
    ----------
    model_uri : str
        As for :func:`clvml.tracking.scoring_model.load_scoring_model`.
    data : str
        Folder of Parquet tables or ``table:<database>`` (see
        :func:`clvml.spark.io.read_tables`).
    crm_url : str, optional
        CRM database (PostgreSQL for distributed staging; SQLite is written from the
        driver). Exactly one of ``crm_url`` and ``output`` is required.
    output : str, optional
        Parquet folder to write the scores to instead (overwritten); the quarantine
        entries go to :func:`quarantine_path` (``<output>_quarantine``, overwritten).
    table, schema, lock_timeout
        As for :class:`clvml.scoring.crm.CRMSink`.
    as_of : date-like, optional
        Cut-off day (inclusive); default the day of the last valid purchase.
    bad_rows : {"quarantine", "error"}, default "quarantine"
        Rows breaking a row rule and unknown customer ids: quarantine them with the
        reason, or refuse the whole job (see the module documentation).
    policy : ValidationPolicy, optional
        How validation treats returns, duplicates and time, as in
        :func:`clvml.pipelines.score.score_customers` (its ``invalid`` is set by ``bad_rows``).
    tracking_uri : str, optional
        MLflow store of ``models:/`` and ``runs:/`` URIs.
    model_dir : str, optional
        Folder the model is copied to for the executors. Default: a temporary folder on
        the driver, which only ``local`` masters can read; on a cluster give a path every
        node sees (a shared or distributed file system mounted on all nodes).
    spark : pyspark.sql.SparkSession, optional
        Default :func:`clvml.spark.session.get_spark`.
    columns : mapping, optional
        Contract column -> the source's column (``--columns``, :mod:`clvml.data.mapping`).
    trust_model, force, dry_run, max_mean_change, max_tier_change
        As for :func:`clvml.pipelines.score.score_customers`: the same refusals before
        damage (an ``as_of`` after the data or today or before the model's training
        cut-off; a jump of the mean CLV or of a tier's share against the table) unless
        ``force``; ``dry_run`` scores and returns the plan of changes without writing.

    Returns
    -------
    SparkScoreResult

    Raises
    ------
    DataValidationError
        A table breaks a rule that is an error (always for whole-column problems; for
        every row rule and unknown customer ids with ``bad_rows="error"``), or no
        transactions are left.
    clvml.pipelines.score_checks.ScoreRefusedError
        A wrong as-of day or scores far from the previous ones (unless ``force``).
    clvml.scoring.errors.CRMLockError
        Another job holds the table: taken before the model is loaded or a feature built.

    Notes
    -----
    As in the pandas job, the table's job lock is taken first (not for a dry run or a
    Parquet output): a losing concurrent job fails before it loads the model or reads data.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from clvml.scoring.crm import CRMSink
    from clvml.spark.features import customer_features
    from clvml.spark.score import score_customers, write_crm, write_parquet
    from clvml.tracking.scoring_model import load_scoring_model

    if (crm_url is None) == (output is None):
        raise DataValidationError("give exactly one of crm_url (the CRM) or output (Parquet)")
    if bad_rows not in ("quarantine", "error"):
        raise DataValidationError(f"bad_rows must be 'quarantine' or 'error', not {bad_rows!r}")
    if dry_run and crm_url is None:
        raise DataValidationError("a dry run compares with the CRM: give crm_url, not output")
    timings: dict[str, float] = {}
    overridden: list[str] = []
    sink = None if crm_url is None else CRMSink(crm_url, table, schema, lock_timeout=lock_timeout)
    with contextlib.ExitStack() as stack:
        if sink is not None:
            stack.enter_context(sink)
            if not dry_run:
                # The job lock first, as the pandas job: a concurrent job on the table fails
                # now, before the model is loaded and the features are built.
                stack.enter_context(sink.hold_lock())
        t = time.perf_counter()
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="clvml-model-"))
        # a model of the tracking store is copied, checked and loaded from model_dir (or
        # tmp): the executors load that checked copy, not a second download
        model = load_scoring_model(
            model_uri,
            tracking_uri=tracking_uri,
            trust_model=trust_model,
            download_dir=model_dir or tmp,
        )
        path = model.local_path or str(Path(model_uri).resolve())
        cutoff = training_cutoff(model.pyfunc)
        spark = spark or get_spark()
        timings["model"] = time.perf_counter() - t

        t = time.perf_counter()
        tables = read_tables(spark, data)
        if columns:
            tables = _rename(tables, columns)
        policy = resolve_policy(policy)
        frames: dict[str, Any] = {}
        entries: list[Any] = []
        input_rows: dict[str, int] = {}
        set_aside: dict[str, int] = {}
        for name in TABLES:
            if name in tables:
                frames[name], rej, input_rows[name], n = _validate(
                    name, tables[name], bad_rows, policy
                )
                entries.append(rej)
                if n:
                    set_aside[name] = n
        frames, unknown, n_unknown = _unknown_customers(frames, bad_rows)
        if unknown is not None:
            entries.append(unknown)
            set_aside["unknown_customer"] = n_unknown
        _refuse_consent(frames)
        timings["validate"] = time.perf_counter() - t

        t = time.perf_counter()
        tx = frames["transactions"]
        last = tx.agg(F.max("timestamp")).first()[0]
        if last is None:
            raise DataValidationError("no transactions to score", column="timestamp")
        last_day = _last_day(frames)
        day = as_day(last if as_of is None else as_of, name="as_of")
        overridden += check_as_of(day, last_day=last_day, cutoff=cutoff, force=force)
        features = customer_features(
            tx, frames.get("engagement"), frames.get("customers"), cutoff=day
        ).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            seen = tx.select("customer_id")
            if "customers" in frames:
                seen = seen.unionByName(frames["customers"].select("customer_id"))
            no_purchase = (
                seen.distinct()
                .join(features.select("customer_id"), "customer_id", "left_anti")
                .select(
                    "customer_id",
                    F.lit(f"no purchase on or before the as-of date {day.date()}").alias("reason"),
                    F.lit(2).alias("_cause"),
                    F.lit(0).cast("long").alias("_order"),
                )
                .localCheckpoint(eager=True)
            )
            n_none = no_purchase.count()
            if n_none:
                set_aside["no_purchase"] = n_none
                entries.append(no_purchase)
            rejected = entries[0]
            for part in entries[1:]:
                rejected = rejected.unionByName(part)
            # the pandas job's order: tables, unknown customers, no purchase
            rejected = rejected.orderBy("_cause", "_order", "customer_id").select(
                "customer_id", "reason"
            )
            scores = _with_job_columns(score_customers(features, path), frames, path)
            limits = {"max_mean_change": max_mean_change, "max_tier_change": max_tier_change}
            if dry_run:
                assert sink is not None
                local = scores.select(*[c for c in _PLAN_COLUMNS if c in scores.columns]).toPandas()
                valid = split_scores(local).valid
                plan = plan_changes(read_previous(sink), valid)
                overridden += check_shift(plan.previous, plan.new, force=True, **limits)
                timings["features_score"] = time.perf_counter() - t
                return SparkScoreResult(
                    model.name,
                    model.version,
                    str(day.date()),
                    sink.safe_url,
                    None,
                    timings,
                    input_rows,
                    set_aside,
                    plan,
                    overridden,
                )
            if sink is not None:
                scores = scores.persist(StorageLevel.MEMORY_AND_DISK)
                stack.callback(scores.unpersist)
                new = _distribution(scores)
                try:
                    overridden += check_shift(read_distribution(sink), new, force=force, **limits)
                except ScoreRefusedError:
                    # one row per attempt, as the pandas job: the refused run is recorded
                    with sink.run(
                        model_name=model.name, model_version=model.version, as_of=day.date()
                    ):
                        raise
            if output is not None:
                write_parquet(scores, output)
                rejected.coalesce(1).write.mode("overwrite").parquet(quarantine_path(output))
                timings["features_score_write"] = time.perf_counter() - t
                return SparkScoreResult(
                    model.name,
                    model.version,
                    str(day.date()),
                    output,
                    None,
                    timings,
                    input_rows,
                    set_aside,
                    None,
                    overridden,
                )
            assert sink is not None
            run = write_crm(
                scores,
                sink,
                model_name=model.name,
                model_version=model.version,
                as_of=day.date(),
                rejected=rejected,
            )
        finally:
            features.unpersist()
        timings["features_score_write"] = time.perf_counter() - t
        return SparkScoreResult(
            model.name,
            model.version,
            str(day.date()),
            sink.safe_url,
            run,
            timings,
            input_rows,
            set_aside,
            None,
            overridden,
        )


_PLAN_COLUMNS = ("customer_id", "clv", "value_tier")


def _rename(tables: dict[str, Any], columns: Mapping[str, str]) -> dict[str, Any]:
    """``--columns`` on Spark frames: the checks of :func:`clvml.data.mapping.rename_columns`."""
    import pandas as pd

    from clvml.data.mapping import rename_columns

    # the mapping's checks run on empty pandas frames with the same columns
    shells = {name: pd.DataFrame(columns=frame.columns) for name, frame in tables.items()}
    renamed = rename_columns(shells, columns)
    out = {}
    for name, frame in tables.items():
        pairs = {a: b for a, b in zip(frame.columns, renamed[name].columns, strict=True) if a != b}
        out[name] = frame.withColumnsRenamed(pairs) if pairs else frame
    return out


def _last_day(frames: dict[str, Any]) -> Any:
    """The last day of the validated transactions and engagement (as the pandas job)."""
    from pyspark.sql import functions as F

    days = [
        frames[t].agg(F.max("timestamp")).first()[0]
        for t in ("transactions", "engagement")
        if t in frames
    ]
    days = [d for d in days if d is not None]
    return as_day(max(days), name="the last day of the data") if days else None


def _distribution(scores: Any) -> ScoreDistribution:
    """:func:`clvml.pipelines.score_checks.distribution` of Spark scores, by aggregates."""
    from pyspark.sql import functions as F

    finite = scores.where(F.col("clv").isNotNull() & ~F.isnan("clv"))
    finite = finite.where(F.abs(F.col("clv")) != float("inf"))
    n, mean = finite.agg(F.count(F.lit(1)), F.avg("clv")).first()
    n = int(n or 0)
    if n == 0:
        return ScoreDistribution(0, float("nan"))
    shares: dict[str, float] = {}
    if "value_tier" in scores.columns:
        tiers = finite.groupBy(F.coalesce(F.col("value_tier").cast("string"), F.lit(""))).count()
        shares = {str(k): int(c) / n for k, c in tiers.collect()}
        shares = {} if set(shares) == {""} else dict(sorted(shares.items()))
    return ScoreDistribution(n, float(mean), shares)
