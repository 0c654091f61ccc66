"""Engagement features and the customer frame from Spark DataFrames.

:func:`engagement_features` gives, for every customer, exactly the row
:class:`clvml.features.engagement.EngagementFeatures` gives on the pandas event log
(``tests/spark/test_spark_features.py``):

1. events at or after the cut-off are dropped in Spark (they never count);
2. sentiment is scored once per distinct inbound ``(text, language)`` pair by
   ``mapInPandas`` with :func:`clvml.features.sentiment.sentiment_scores` and joined
   back as a ``sentiment`` column, so each text is scored once across the cluster;
3. events (and, when given, the customers table) are hash-bucketed by
   ``customer_id`` and each bucket -- all the events of a few thousand customers --
   is turned into features by the pandas implementation itself
   (``cogroup(...).applyInPandas``), vectorised over the bucket.

Every feature is a function of one customer's events, so bucketing changes nothing;
running the pandas implementation inside the buckets keeps a single definition of
the ~70 features (care response times, trends, advocacy, the health score) instead
of a second one in Spark SQL that could drift. The cost is one shuffle of the
events and Arrow transfers to the Python workers; ``benchmarks/bench_spark.py``
measures it.

:func:`customer_features` is the Spark counterpart of
:func:`clvml.features.dataset.customer_features` (RFM in weeks + engagement +
static attributes): the input frame of the pyfunc model.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from clvml.data.dates import as_day
from clvml.exceptions import DataValidationError
from clvml.features.engagement import EngagementFeatures
from clvml.features.rfm import CUSTOMER_RFM_COLUMNS, customer_rfm_columns
from clvml.spark.rfm import _finish, _micros, rfm_summary
from clvml.spark.session import require_pyspark

__all__ = ["customer_features", "engagement_features"]

_US_PER_DAY = 86_400_000_000


def _ts_column(frame: Any, column: str) -> Any:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    dtype = frame.schema[column].dataType
    col = F.col(column)
    if isinstance(dtype, T.StringType):
        col = F.try_to_timestamp(col)
    return col.cast("timestamp")


def _sentiment(events: Any) -> Any:
    """``events`` with a ``sentiment`` column scored per distinct inbound (text, language)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if "text" not in events.columns:
        return events
    has_lang = "language" in events.columns
    keys = ["text", "language"] if has_lang else ["text"]
    inbound = F.lower(F.trim(F.col("direction"))) == "inbound"
    distinct = events.where(inbound & F.col("text").isNotNull()).select(*keys).distinct()

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from clvml.features.sentiment import sentiment_scores

        for batch in batches:
            lang = batch["language"] if has_lang else None
            yield batch.assign(
                sentiment=np.asarray(sentiment_scores(batch["text"], lang), dtype=float)
            )

    schema = T.StructType(
        [*distinct.schema.fields, T.StructField("sentiment", T.DoubleType(), True)]
    )
    scored = distinct.mapInPandas(score, schema)
    # null-safe join on the language; rows without text or outbound get null (NaN)
    cond = [events["text"] == scored["text"]]
    if has_lang:
        cond.append(events["language"].eqNullSafe(scored["language"]))
    joined = events.join(scored, on=cond, how="left")
    sentiment = F.when(inbound, scored["sentiment"])
    return joined.select(*[events[c] for c in events.columns], sentiment.alias("sentiment"))


def engagement_features(
    events: Any,
    *,
    cutoff: Any = None,
    customers: Any = None,
    windows: tuple[int, ...] = (30, 90),
    health_weights: Mapping[str, float] | None = None,
    fill_value: float | None = None,
    n_buckets: int | None = None,
) -> Any:
    """Per-customer engagement features from a Spark event log.

    Parameters
    ----------
    events : pyspark.sql.DataFrame
        Engagement events (columns of the engagement contract).
    cutoff : date-like, optional
        Only events strictly before it count. Default: midnight after the last event.
    customers : pyspark.sql.DataFrame, optional
        Customers to return (``customer_id``, optional ``acquisition_date``): customers
        without events get zero counts, events of others are ignored. Default: every
        customer with an event before the cut-off.
    windows, health_weights, fill_value
        As in :class:`~clvml.features.engagement.EngagementFeatures`.
    n_buckets : int, optional
        Customer buckets (groups handed to pandas). Default: the shuffle partitions.

    Returns
    -------
    pyspark.sql.DataFrame
        ``customer_id`` (string) and the float features of
        :meth:`EngagementFeatures.get_feature_names_out`, one row per customer, unordered.
    """
    require_pyspark()
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    required = ("customer_id", "timestamp", "channel", "kind", "direction")
    missing = [c for c in required if c not in events.columns]
    if missing:
        raise DataValidationError(
            f"missing from the engagement events (has {events.columns})", column=missing[0]
        )
    ts = _ts_column(events, "timestamp")
    ev = events.withColumn("timestamp", ts).withColumn(
        "customer_id", F.col("customer_id").cast("string")
    )
    bad = ev.agg(
        F.count_if(F.col("timestamp").isNull()).alias("ts"),
        F.count_if(F.col("customer_id").isNull()).alias("cid"),
        F.max("timestamp").alias("last"),
    ).first()
    if bad["ts"]:
        raise DataValidationError("are missing or not dates", column="timestamp", n_rows=bad["ts"])
    if bad["cid"]:
        raise DataValidationError("are missing", column="customer_id", n_rows=bad["cid"])
    if cutoff is None:
        if bad["last"] is None:
            raise DataValidationError("no events to infer the cut-off from; pass cutoff=")
        cut = pd.Timestamp(bad["last"]).normalize() + pd.Timedelta(days=1)
    else:
        cut = pd.Timestamp(pd.Timestamp(_micros(cutoff, "cutoff"), unit="us"))
    cut_us = int(cut.as_unit("ns").value) // 1000
    ev = ev.where(F.unix_micros("timestamp") < F.lit(cut_us))
    ev = _sentiment(ev)
    if "text" in ev.columns:
        ev = ev.drop("text")  # scored already: the pandas code reads the sentiment column
    config = dict(
        cutoff=cut, windows=tuple(windows), health_weights=health_weights, fill_value=fill_value
    )
    names = EngagementFeatures(**config).fit(_empty_events(cut)).get_feature_names_out()
    schema = T.StructType(
        [T.StructField("customer_id", T.StringType(), False)]
        + [T.StructField(str(n), T.DoubleType(), True) for n in names]
    )
    buckets = n_buckets or int(ev.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    bucket = F.pmod(F.xxhash64("customer_id"), F.lit(buckets)).alias("_bucket")

    if customers is None:

        def one(pdf: pd.DataFrame) -> pd.DataFrame:
            feats = EngagementFeatures(**config).fit(pdf).transform(pdf)
            return _ids_as_objects(feats.reset_index())

        return (
            ev.withColumn("_bucket", bucket)
            .groupBy("_bucket")
            .applyInPandas(lambda pdf: one(pdf.drop(columns="_bucket")), schema)
        )

    cust_cols = [F.col("customer_id").cast("string").alias("customer_id")]
    if "acquisition_date" in customers.columns:
        cust_cols.append(_ts_column(customers, "acquisition_date").alias("acquisition_date"))
    cust = customers.select(*cust_cols)
    event_cols = ev.columns

    def both(pdf: pd.DataFrame, cdf: pd.DataFrame) -> pd.DataFrame:
        if cdf.empty:
            return pd.DataFrame({n: pd.Series(dtype=t) for n, t in _dtypes(schema).items()})
        pdf = pdf.drop(columns="_bucket") if len(pdf) else pd.DataFrame(columns=event_cols)
        cdf = cdf.drop(columns="_bucket")
        feats = EngagementFeatures(**config).fit(_empty_events(cut)).transform(pdf, customers=cdf)
        return _ids_as_objects(feats.reset_index())

    return (
        ev.withColumn("_bucket", bucket)
        .groupBy("_bucket")
        .cogroup(cust.withColumn("_bucket", bucket).groupBy("_bucket"))
        .applyInPandas(both, schema)
    )


def _ids_as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """``customer_id`` as a numpy array of Python strings.

    A bucket larger than Arrow's batch size (``maxRecordsPerBatch``, 10,000 rows) reaches
    pandas as chunked Arrow arrays; an Arrow-backed string column handed back as is would
    stay chunked, which Spark's Arrow writer refuses.
    """
    ids = frame["customer_id"].astype(str).to_numpy(dtype=object)
    return frame.assign(customer_id=pd.Series(ids, index=frame.index, dtype=object))


def _dtypes(schema: Any) -> dict[str, str]:
    return {f.name: ("str" if f.name == "customer_id" else "float64") for f in schema.fields}


def _empty_events(cut: pd.Timestamp) -> pd.DataFrame:
    """A one-row event log, only for ``fit`` (which fixes the cut-off and the names)."""
    return pd.DataFrame(
        {
            "customer_id": ["_"],
            "timestamp": [cut - pd.Timedelta(days=1)],
            "channel": ["web"],
            "kind": ["site_visit"],
            "direction": ["inbound"],
        }
    )


def customer_features(
    transactions: Any,
    engagement: Any = None,
    customers: Any = None,
    *,
    cutoff: Any,
    n_buckets: int | None = None,
) -> Any:
    """The customer frame as of ``cutoff`` (inclusive day), computed by Spark.

    The Spark counterpart of :func:`clvml.features.dataset.customer_features`: RFM in
    weeks (``freq="D", freq_multiplier=7``), ``n_purchases``, ``total_spend``,
    ``mean_spend``, ``weeks_since_last_purchase``, the engagement features of the
    events before midnight after ``cutoff`` and the static attributes. One row per
    customer with a purchase up to the cut-off; ``customer_id`` is a string column.
    """
    require_pyspark()
    from pyspark.sql import functions as F

    day = as_day(cutoff, name="cutoff")
    end_us = int((day + pd.Timedelta(days=1)).as_unit("ns").value) // 1000
    tx = transactions.withColumn("customer_id", F.col("customer_id").cast("string"))
    tx = tx.where(F.unix_micros(_ts_column(tx, "timestamp")) < F.lit(end_us))
    kw = dict(monetary_value_col="amount", observation_period_end=day, freq="D", freq_multiplier=7)
    rep = rfm_summary(tx, **kw)
    every = rfm_summary(tx, include_first_transaction=True, **kw).select(
        "customer_id",
        F.col("frequency").alias("_every_frequency"),
        F.col("monetary_value").alias("_every_monetary_value"),
    )

    def rfm_block(batch: pd.DataFrame) -> dict[str, np.ndarray]:
        every = {"frequency": batch["_every_frequency"]}
        every["monetary_value"] = batch["_every_monetary_value"]
        return customer_rfm_columns(batch, every)

    out = _finish(
        rep.join(every, "customer_id"), list(CUSTOMER_RFM_COLUMNS), rfm_block, "customer_id"
    )
    if engagement is not None:
        cust = out.select("customer_id")
        if customers is not None and "acquisition_date" in customers.columns:
            cust = cust.join(
                customers.select(
                    F.col("customer_id").cast("string").alias("customer_id"), "acquisition_date"
                ),
                "customer_id",
                "left",
            )
        feats = engagement_features(
            engagement,
            cutoff=day + pd.Timedelta(days=1),
            customers=cust,
            n_buckets=n_buckets,
        )
        out = out.join(feats, "customer_id", "left")
    if customers is not None:
        c = customers.withColumn("customer_id", F.col("customer_id").cast("string"))
        static = [F.col("customer_id")]
        if "acquisition_cost" in c.columns:
            static.append(F.col("acquisition_cost").cast("double").alias("acquisition_cost"))
        if "control_group" in c.columns:
            static.append(
                F.coalesce(F.col("control_group").cast("boolean"), F.lit(False))
                .cast("double")
                .alias("control_group")
            )
        if "acquisition_channel" in c.columns:
            static.append(
                F.coalesce(F.col("acquisition_channel").cast("string"), F.lit("unknown")).alias(
                    "acquisition_channel"
                )
            )
        if len(static) > 1:
            out = out.join(c.select(*static), "customer_id", "left")
    return out
