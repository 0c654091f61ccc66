"""Training on Spark: BTYD on every customer, the rest on a customer sample on the driver.

:class:`SparkEngine` is the Spark engine of the train pipeline
(:class:`clvml.pipelines.engine.TrainEngine`; ``clvml train --engine spark``, :func:`train`);
:class:`clvml.pipelines.engine.LocalEngine` is the single-machine one. Both run the same
pipeline (:func:`clvml.pipelines.train.train`), log the same MLflow run, register the
same kind of pyfunc model and apply the same gate; they differ in where each step runs:

=========================================  ===============================================
step                                       where
=========================================  ===============================================
read the tables (Parquet or catalog)      Spark (:func:`clvml.spark.io.read_tables`)
validation, every row rule and policy      Spark, per customer bucket, with the pandas
                                           rules themselves (:mod:`clvml.spark.validate`)
BG/NBD and Gamma-Gamma of the served       Spark summaries of **every** customer,
model, at the cut-off and at the           compressed to distinct rows and fitted on the
training cut-off one horizon earlier       driver (:mod:`clvml.spark.fit`)
method comparison, supervised parts        driver, pandas, on a hash sample of at most
(churn classifier, value regressors),      ``spark.sample_customers`` customers (all their
BTYD with covariates, holdout metrics      rows): the stacked BTYD features of the
                                           supervised parts come from the full-data fits
=========================================  ===============================================

With at least as many ``sample_customers`` as customers nothing is sampled and the run
equals the single-machine one (``tests/spark/test_spark_train.py``). With fewer, the
sample is ``xxhash64(customer_id, seed) mod 10^6 < 10^6 * sample / customers``: the same
customers for the same data and seed, whatever the partitioning. What that changes:

* the supervised models learn from the sample (their quality grows with the sample, not
  with the data; a few hundred thousand customers is where gradient boosting on ~90
  features stops gaining much, and what one driver core trains in minutes);
* the comparison table, the holdout metrics and the gate are computed on the sample
  (their standard error shrinks as ``1/sqrt(sample)``);
* the model's tier thresholds are quantiles of the sample's predictions;
* the BTYD with covariates method, whose likelihood reads per-customer covariates and
  cannot be compressed, is fitted on the sample.

The parameters ``engine``, ``spark.sample_customers`` and the run's metrics
``data.customers_total`` and ``data.customers_sampled`` record which it was.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from clvml.data.dates import as_day
from clvml.exceptions import DataValidationError
from clvml.pipelines.config import ConfigError, TrainConfig, data_source, load_config
from clvml.pipelines.engine import EngineRun, fit_btyd_step, validation_policy
from clvml.pipelines.steps import Steps
from clvml.pipelines.train import TrainResult
from clvml.pipelines.train import train as run_pipeline
from clvml.spark.session import get_spark, require_pyspark
from clvml.tracking.store import redact_uri

__all__ = ["SparkEngine", "btyd_fitter", "sample_customers", "train"]


def _tables(cfg: TrainConfig, spark: Any) -> tuple[dict[str, Any], str]:
    from clvml.spark.io import TABLES, is_spark_source, read_tables

    data = cfg["data"]
    for name in TABLES:
        for key in (name, f"{name}_query"):
            if data[key] is not None:
                raise ConfigError(
                    f"data.{key}: the Spark engine reads the tables of data.source only "
                    "(a folder of <name>.parquet or table:<database>); leave it unset or "
                    "use --engine local"
                )
    source = data_source(cfg)
    if not is_spark_source(source):
        raise ConfigError(
            f"data.source {redact_uri(source)}: the Spark engine reads a folder of Parquet "
            "tables (<name>.parquet, local or any file system Spark reads) or "
            "table:<database> of the Spark catalog; use --engine local for databases"
        )
    tables = read_tables(spark, source)
    if not cfg["features"]["engagement"]:
        tables.pop("engagement", None)
    if not cfg["features"]["customers"]:
        tables.pop("customers", None)
    return tables, source


def sample_customers(transactions: Any, max_customers: int, *, seed: int = 0) -> tuple[Any, int]:
    """The customer IDs of a reproducible hash sample of at most about ``max_customers``.

    Parameters
    ----------
    transactions : pyspark.sql.DataFrame
        With a string ``customer_id`` column.
    max_customers : int
        Target size. Every customer is kept when there are no more than this.
    seed : int, default 0
        Seed of the hash: another seed, another sample.

    Returns
    -------
    ids : pyspark.sql.DataFrame
        One ``customer_id`` column, distinct.
    n_total : int
        Customers in ``transactions``.

    Notes
    -----
    A customer is kept when ``xxhash64(customer_id, seed) mod 10^6`` is below
    ``10^6 * max_customers / n_total``: a Bernoulli sample of that rate that depends on
    the IDs only (not on partitions or row order), so the size is ``max_customers`` up
    to a binomial standard deviation. The rule is :mod:`clvml.pipelines.sample`'s, which
    the local engine applies with the same hash in numpy (the same customers).
    """
    from pyspark.sql import functions as F

    from clvml.pipelines.sample import SAMPLE_GRID, sample_threshold

    ids = transactions.select("customer_id").distinct()
    n_total = ids.count()
    threshold = sample_threshold(n_total, max_customers)
    if threshold is None:
        return ids, n_total
    bucket = F.pmod(F.xxhash64(F.col("customer_id"), F.lit(int(seed))), F.lit(SAMPLE_GRID))
    return ids.where(bucket < F.lit(threshold)), n_total


def _to_pandas(frame: Any, table: str) -> pd.DataFrame:
    """A table validated in Spark, on the driver with the contract's dtypes.

    The pandas validator runs again on the collected rows only to give them the
    contract's dtypes: they passed every rule already, so nothing is set aside (kept
    duplicates stay kept).
    """
    from clvml.data.policy import ValidationPolicy
    from clvml.data.validation import check_table

    out = frame.toPandas()
    sort = [c for c in ("customer_id", "timestamp") if c in out.columns]
    out = out.sort_values(sort, kind="stable", ignore_index=True)
    clean, report = check_table(out, table, ValidationPolicy(duplicates="keep"))
    if clean is None or report.rows_kept != len(out):
        raise DataValidationError(  # pragma: no cover - Spark and pandas rules disagree
            f"{report.rows_read - report.rows_kept} validated rows of the sample fail the "
            f"pandas rules: {report.to_frame().to_dict('records')}"
        )
    return clean


def btyd_fitter(
    transactions: Any,
    *,
    penalizer: float = 0.0,
    time_resolution: float | None = None,
    monetary_decimals: int | None = None,
) -> Any:
    """``fit(day) -> (BetaGeo, GammaGamma)`` fitted in Spark on every customer as of ``day``.

    The models see what :class:`clvml.models.clv_model.CLVModel` fits its own on: the RFM
    summary in weeks of the purchases up to ``day`` (inclusive), customers first seen on
    that day one day old (``T >= 1/7``), and for Gamma-Gamma the repeat buyers with a
    positive mean spend. Summaries are compressed to distinct rows with weights before
    they reach the driver (:func:`clvml.spark.fit.fit_btyd`); fits are cached per day.

    Parameters
    ----------
    transactions : pyspark.sql.DataFrame
        Validated transactions (``customer_id``, ``timestamp``, ``amount``).
    penalizer : float, default 0.0
        L2 penalty of both models (``CLVModel.penalizer``).
    time_resolution : float, optional
        Round recency and T to ``1 / time_resolution`` weeks before compressing (``1``:
        whole weeks). Repeat buyers keep a recency of at least one step, and T is at
        least the recency and one day. Default: exact days, the summary's own grid.
    monetary_decimals : int, optional
        Round the mean spend to so many decimals before compressing (``2``: cents).

    Notes
    -----
    The collected table has one row per distinct ``(frequency, recency, T)`` (exact
    days: about half a row per customer at a million customers over two years, bounded
    by ``max_frequency * days^2 / 2``); :func:`clvml.spark.fit.compress_summary` refuses
    more than 5 million. Past tens of millions of customers, round to whole weeks.
    """
    from pyspark.sql import functions as F

    from clvml.models.btyd import BetaGeo, GammaGamma
    from clvml.models.composite import MIN_AGE_WEEKS
    from clvml.spark.features import _ts_column
    from clvml.spark.fit import fit_btyd, fit_gamma_gamma
    from clvml.spark.rfm import rfm_summary

    fits: dict[pd.Timestamp, tuple[Any, Any]] = {}

    def fit(day: pd.Timestamp) -> tuple[Any, Any]:
        day = as_day(day, name="cutoff")
        if day not in fits:
            end_us = int((day + pd.Timedelta(days=1)).as_unit("ns").value) // 1000
            tx = transactions.where(
                F.unix_micros(_ts_column(transactions, "timestamp")) < F.lit(end_us)
            )
            summary = rfm_summary(
                tx,
                monetary_value_col="amount",
                observation_period_end=day,
                freq="D",
                freq_multiplier=7,
            )
            if time_resolution is not None:
                # a repeat buyer keeps recency >= one step, and T >= recency
                k = float(time_resolution)
                step = F.round(F.col("recency") * F.lit(k)) / F.lit(k)
                summary = summary.withColumn(
                    "recency",
                    F.when(F.col("frequency") > 0, F.greatest(step, F.lit(1 / k))).otherwise(
                        F.lit(0.0)
                    ),
                ).withColumn(
                    "T",
                    F.greatest(F.round(F.col("T") * F.lit(k)) / F.lit(k), F.col("recency")),
                )
            summary = summary.withColumn("T", F.greatest(F.col("T"), F.lit(MIN_AGE_WEEKS)))
            bg = fit_btyd(BetaGeo(penalizer=penalizer), summary)
            spend = summary.where(F.col("monetary_value") > 0)
            gg = fit_gamma_gamma(
                GammaGamma(penalizer=penalizer), spend, monetary_decimals=monetary_decimals
            )
            fits[day] = (bg, gg)
        return fits[day]

    return fit


class SparkEngine:
    """The Spark engine of the train pipeline (:class:`clvml.pipelines.engine.TrainEngine`).

    Reads and validates in Spark, fits the BTYD models in Spark on every customer, and
    hands the driver-side steps the rows of a hash sample of at most
    ``spark.sample_customers`` customers (see the module notes).

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    """

    name = "spark"

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self._source = ""
        self._ids: Any = None
        self._n_total = 0
        self._n_sampled = 0

    def read_tables(self, cfg: TrainConfig, steps: Steps) -> tuple[dict[str, Any], dict[str, str]]:
        """The tables of ``data.source`` (Parquet folder or ``table:<database>``)."""
        with steps.step("load data", "Spark") as note:
            raw, self._source = _tables(cfg, self.spark)
            note(f"{', '.join(raw)} from {self._source}")
        return raw, dict.fromkeys(raw, self._source)

    def validate(
        self, tables: dict[str, Any], cfg: TrainConfig, steps: Steps
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Every row rule and policy, in Spark per customer bucket (persisted results)."""
        from pyspark import StorageLevel

        from clvml.spark.validate import validate_table

        with steps.step("validate", "Spark, per customer bucket") as note:
            policy = validation_policy(cfg, now=pd.Timestamp.now(tz="UTC").tz_localize(None))
            clean_tables: dict[str, Any] = {}
            reports: dict[str, Any] = {}
            for name, frame in tables.items():
                clean, report = validate_table(frame, name, policy, source=self._source)
                report.raise_for_errors()
                assert clean is not None  # no error, so a frame
                clean_tables[name] = clean.persist(StorageLevel.MEMORY_AND_DISK)
                reports[name] = report
            note(
                ", ".join(
                    f"{k} {r.rows_kept:,} kept / {r.rows_set_aside:,} set aside"
                    for k, r in reports.items()
                )
            )
        return clean_tables, reports

    def last_purchase(self, tables: dict[str, Any]) -> pd.Timestamp:
        """The last valid transaction time (refuses data with none left)."""
        from pyspark.sql import functions as F

        last = tables["transactions"].agg(F.max("timestamp")).first()[0]
        if last is None:
            raise DataValidationError("no transaction is left after validation", column="timestamp")
        return pd.Timestamp(last)

    def customer_frame(
        self, tables: dict[str, Any], cfg: TrainConfig, steps: Steps
    ) -> dict[str, pd.DataFrame]:
        """The rows of a reproducible hash sample of customers, collected to the driver."""
        from pyspark import StorageLevel

        limit = int(cfg["spark"]["sample_customers"])
        with steps.step("sample customers", f"at most {limit:,}") as note:
            ids, self._n_total = sample_customers(
                tables["transactions"], limit, seed=int(cfg["seed"])
            )
            self._ids = ids.persist(StorageLevel.MEMORY_AND_DISK)
            frames = {
                name: _to_pandas(frame.join(self._ids, "customer_id", "left_semi"), name)
                for name, frame in tables.items()
            }
            self._n_sampled = int(frames["transactions"]["customer_id"].nunique())
            note(
                f"{self._n_sampled:,} of {self._n_total:,} customers, "
                + ", ".join(f"{k} {len(v):,} rows" for k, v in frames.items())
            )
        return frames

    def fit_btyd(
        self, tables: dict[str, Any], cfg: TrainConfig, cutoff: pd.Timestamp, steps: Steps
    ) -> Any:
        """:func:`btyd_fitter` on every customer, fitted at the cut-off now."""
        fitter = btyd_fitter(
            tables["transactions"],
            penalizer=float(cfg["model"]["params"].get("penalizer", 0.0)),
            time_resolution=cfg["spark"]["time_resolution"],
            monetary_decimals=cfg["spark"]["monetary_decimals"],
        )
        fit_btyd_step(steps, fitter, cutoff)
        return fitter

    def finish(
        self, tables: dict[str, Any], frames: dict[str, pd.DataFrame], origins: dict[str, str]
    ) -> EngineRun:
        """Unpersist the validated tables and the sample; a sample is logged as one."""
        for frame in (*tables.values(), *([self._ids] if self._ids is not None else [])):
            frame.unpersist()
        sampled = self._n_sampled < self._n_total
        logged = {f"{k}_sample" if sampled else k: v for k, v in frames.items()}
        return EngineRun(
            inputs=logged,
            origins=dict.fromkeys(logged, self._source),
            params={
                "engine": self.name,
                "spark.version": self.spark.version,
                "spark.sampled": str(sampled).lower(),
                "resolved.evaluated_on": "customer sample" if sampled else "every customer",
            },
            metrics={
                "data.customers_total": self._n_total,
                "data.customers_sampled": self._n_sampled,
            },
        )


def train(
    config: TrainConfig | str | os.PathLike[str] | None = None,
    *,
    console: Any | None = None,
    workdir: str | os.PathLike[str] | None = None,
    spark: Any = None,
    **overrides: Any,
) -> TrainResult:
    """Train on Spark, log to MLflow, register and gate, as :func:`clvml.pipelines.train.train`.

    Parameters
    ----------
    config : TrainConfig, path or None
        The configuration; its ``[spark]`` section sets the sample size and the master.
    console : rich.console.Console, optional
        Shows a progress line per step.
    workdir : path-like, optional
        Folder of the embedded tracking store (default: the working directory).
    spark : pyspark.sql.SparkSession, optional
        Default :func:`clvml.spark.session.get_spark` with ``spark.master``.
    **overrides
        As for :func:`clvml.pipelines.train.train`, plus ``sample_customers``.

    Returns
    -------
    TrainResult
        ``model`` is the fitted :class:`~clvml.models.clv_model.CLVModel` whose BTYD
        parts were fitted on every customer.

    Examples
    --------
    >>> from clvml.spark.train import train  # doctest: +SKIP
    >>> result = train(data="data/social", sample_customers=200_000)  # doctest: +SKIP
    """
    require_pyspark()
    cfg = config if isinstance(config, TrainConfig) else load_config(config)
    cfg = cfg.override(**overrides)
    steps = Steps(console)
    with steps.step("start Spark") as note:
        spark = spark or get_spark(cfg["spark"]["master"])
        note(f"{spark.sparkContext.master}, Spark {spark.version}")
    return run_pipeline(cfg, workdir=workdir, engine=SparkEngine(spark), steps=steps)
