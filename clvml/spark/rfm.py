"""RFM and calibration/holdout summaries from Spark DataFrames.

:func:`rfm_summary` and :func:`calibration_holdout_summary` compute, with Spark SQL
aggregations, exactly what their pandas counterparts in :mod:`clvml.features.rfm`
compute (same conventions: periods of ``freq``, purchases of a customer in one
period merged and their amounts summed, ``frequency`` the repeat periods,
``recency`` and ``T`` in periods divided by ``freq_multiplier``, ``monetary_value``
the mean of the repeat periods, holdout ``monetary_value_holdout`` the mean of the
holdout *transactions*). The results equal the pandas path bit for bit, whatever the
partitioning (``tests/spark/test_spark_rfm.py``): amounts are summed exactly, as integer
limbs summed as longs (:mod:`clvml.features.exact_sum`), and the columns are computed from
Spark's per-customer aggregates by the pandas definitions
(:func:`clvml.features.rfm.summary_columns`, applied with ``mapInPandas``).

Differences from the pandas functions, all due to the distributed setting:

* the result is a Spark DataFrame with the customer ID as a *column* (no index, no
  order); ``.toPandas().set_index(customer_id_col).sort_index()`` gives the pandas
  layout;
* ``freq`` must be a fixed-length period (``"D"``, ``"h"``, ``"min"``, ``"s"``) or an
  anchored week (``"W"`` = ``"W-SUN"``, ``"W-MON"``, ...); calendar months/quarters
  are refused with a :class:`~clvml.exceptions.DataValidationError`;
* timestamps must be Spark ``timestamp``/``timestamp_ntz``/``date`` columns (or ISO
  strings); they are read as wall-clock times in the session time zone, which
  :func:`clvml.spark.session.get_spark` sets to UTC;
* the counts of rows set aside are reported with :class:`RowsExcludedWarning` (as in
  pandas) but there is no ``attrs`` on a Spark DataFrame; the number of customers
  seen only in the holdout is not computed (it would cost a join).

Validation (missing IDs, timestamps or amounts; empty periods) costs one aggregation
pass over the transactions, shared with the counts it reports and the magnitudes of the
amounts (which fix the limbs of the exact sums); the summary itself is two shuffles (by
customer and period, then by customer) and a ``mapInPandas`` over the customers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError
from clvml.features.exact_sum import LimbPlan, limb_plan, round_limbs
from clvml.features.rfm import (
    RowsExcludedWarning,
    _check_positive,
    mean_or_zero,
    summary_columns,
)
from clvml.spark.session import require_pyspark

__all__ = ["calibration_holdout_summary", "period_spec", "rfm_summary"]

_US_PER_DAY = 86_400_000_000
_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


@dataclass(frozen=True)
class PeriodSpec:
    """Integer period ordinals ``floor((micros - shift) / length)`` of a pandas frequency.

    Differences of these ordinals equal differences of pandas Period ordinals.
    """

    length_us: int
    shift_us: int = 0

    def scalar(self, micros: int) -> int:
        return (micros - self.shift_us) // self.length_us


def period_spec(freq: str) -> PeriodSpec:
    """The :class:`PeriodSpec` of a pandas frequency the Spark path supports.

    Parameters
    ----------
    freq : str
        ``"D"``, ``"h"``, ``"min"``, ``"s"`` (with an optional multiple, e.g. ``"2D"``)
        or an anchored week ``"W"``/``"W-SUN"`` ... ``"W-SAT"``.

    Raises
    ------
    DataValidationError
        Calendar frequencies (months, quarters, years, business days) and unknown strings.

    Examples
    --------
    >>> period_spec("W").length_us // 86_400_000_000
    7
    """
    try:
        offset = pd.PeriodDtype(freq).freq  # period aliases, as the pandas path reads them
    except (ValueError, TypeError) as exc:
        raise DataValidationError(
            f"freq={freq!r} is not a pandas period frequency ({exc})"
        ) from exc
    fixed = {
        pd.offsets.Day: _US_PER_DAY,
        pd.offsets.Hour: 3_600_000_000,
        pd.offsets.Minute: 60_000_000,
        pd.offsets.Second: 1_000_000,
    }
    if type(offset) in fixed:
        return PeriodSpec(fixed[type(offset)] * offset.n)
    if isinstance(offset, pd.offsets.Week) and offset.n == 1 and offset.weekday is not None:
        # a week ending on `weekday` starts the day after; day 0 (1970-01-01) is a Thursday
        start = (offset.weekday + 1) % 7
        first_start_day = (start - _EPOCH_WEEKDAY) % 7
        return PeriodSpec(7 * _US_PER_DAY, first_start_day * _US_PER_DAY)
    raise DataValidationError(
        f"freq={freq!r} is not supported by the Spark path: use a fixed period "
        "(D, h, min, s) or an anchored week (W, W-MON, ...)"
    )


def _micros(value: Any, name: str) -> int:
    """A date-like value as naive wall-clock microseconds since the epoch."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise DataValidationError(f"{name}={value!r} is not a date ({exc})") from exc
    if pd.isna(ts):
        raise DataValidationError(f"{name}={value!r} is not a date")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int(ts.as_unit("ns").value) // 1000


def _prepared(
    transactions: Any,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None,
    spec: PeriodSpec,
) -> Any:
    """Columns ``cid``, ``us`` (wall-clock microseconds), ``per`` and ``amt`` (or 1)."""
    require_pyspark()
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if not isinstance(transactions, DataFrame):
        raise DataValidationError(
            f"expected the transactions as a Spark DataFrame, got {type(transactions).__name__}"
        )
    columns = [customer_id_col, datetime_col] + ([monetary_value_col] if monetary_value_col else [])
    for col in columns:
        if col not in transactions.columns:
            raise DataValidationError(
                f"missing from the transactions (columns: {transactions.columns})", column=col
            )
    ts_type = transactions.schema[datetime_col].dataType
    ts = F.col(datetime_col)
    if isinstance(ts_type, T.StringType):
        ts = F.try_to_timestamp(ts)
    elif not isinstance(ts_type, T.TimestampType | T.TimestampNTZType | T.DateType):
        raise DataValidationError(
            f"has Spark type {ts_type.simpleString()}; expected timestamps", column=datetime_col
        )
    # timestamp_ntz -> timestamp keeps the wall clock under the session time zone (UTC)
    us = F.unix_micros(ts.cast("timestamp"))
    amt = F.col(monetary_value_col).cast("double") if monetary_value_col else F.lit(1.0)
    return transactions.select(
        F.col(customer_id_col).alias("cid"),
        us.alias("us"),
        F.floor((us - F.lit(spec.shift_us)) / F.lit(spec.length_us)).cast("long").alias("per"),
        amt.alias("amt"),
    )


def _raise_on_missing(row: Any, customer_id_col: str, datetime_col: str, money: str | None) -> None:
    if row["null_cid"]:
        raise DataValidationError(
            "are missing (null); expected a customer ID on every transaction",
            column=customer_id_col,
            n_rows=int(row["null_cid"]),
        )
    if row["null_us"]:
        raise DataValidationError(
            "are missing or not timestamps; expected a timestamp on every transaction",
            column=datetime_col,
            n_rows=int(row["null_us"]),
        )
    if money and row["bad_amt"]:
        raise DataValidationError(
            "are missing, infinite or not numeric; expected finite amounts",
            column=money,
            n_rows=int(row["bad_amt"]),
        )


def _checks(F: Any, extra: dict[str, Any]) -> list[Any]:
    bad_amt = F.col("amt").isNull() | F.isnan("amt") | (F.abs("amt") == float("inf"))
    cols = [
        F.count_if(F.col("cid").isNull()).alias("null_cid"),
        F.count_if(F.col("us").isNull()).alias("null_us"),
        F.count_if(bad_amt).alias("bad_amt"),
        F.count(F.lit(1)).alias("n"),
        # magnitudes of the amounts: the fixed-point limbs of their exact sums
        F.max(F.abs("amt")).alias("max_abs"),
        F.min(F.when(F.col("amt") != 0, F.abs("amt"))).alias("min_abs"),
    ]
    return cols + [v.alias(k) for k, v in extra.items()]


def _plan(row: Any, money: str | None) -> LimbPlan | None:
    """The limbs that sum the amounts exactly (see :mod:`clvml.features.exact_sum`)."""
    if money is None:
        return None
    plan = limb_plan(row["max_abs"] or 0.0, row["min_abs"], int(row["n"]))
    if min(plan.positions) < -1022 or max(plan.positions) > 1022:
        raise DataValidationError(
            f"span magnitudes from {row['min_abs']!r} to {row['max_abs']!r}, too wide for "
            "the exact sums of the Spark path (2**-1022 to 2**1022)",
            column=money,
        )
    return plan


def _with_limbs(tx: Any, plan: LimbPlan | None) -> Any:
    """``tx`` with the amounts' integer limbs ``_m0``, ``_m1``, ... (longs), exactly.

    The leading part of the remainder is truncated on the grid ``2**p`` of each limb
    (scaling by a power of two and truncation are exact) and taken off the remainder.
    """
    if plan is None:
        return tx
    from pyspark.sql import functions as F

    tx = tx.withColumn("_rest", F.col("amt"))
    for k, p in enumerate(plan.positions):
        limb = (F.col("_rest") * F.lit(math.ldexp(1.0, -p))).cast("long")
        tx = tx.withColumn(f"_m{k}", limb)
        if k + 1 < plan.n_limbs:
            part = F.col(f"_m{k}").cast("double") * F.lit(math.ldexp(1.0, p))
            tx = tx.withColumn("_rest", F.col("_rest") - part)
    return tx.drop("_rest")


def _limbs(plan: LimbPlan | None) -> list[str]:
    return [] if plan is None else [f"_m{k}" for k in range(plan.n_limbs)]


def _finish(frame: Any, columns: list[str], compute: Any, key: str = "cid") -> Any:
    """Per-customer columns computed by pandas kernels from Spark's aggregates.

    ``compute(batch)`` returns a dict of float arrays named ``columns`` (doubles); the
    customer ID column ``key`` keeps its type. This is how the Spark path shares the
    definitions of :mod:`clvml.features.rfm` instead of re-implementing them in SQL.
    """
    from pyspark.sql import types as T

    schema = T.StructType(
        [frame.schema[key]] + [T.StructField(c, T.DoubleType(), True) for c in columns]
    )

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            values = compute(batch)
            # numpy values: Arrow-backed string IDs would come back as chunked arrays,
            # which Spark's Arrow writer refuses
            ids = batch[key]
            if isinstance(ids.dtype, pd.StringDtype):
                ids = pd.Series(ids.to_numpy(dtype=object), dtype=object)
            yield pd.DataFrame({key: ids.to_numpy(), **{c: values[c] for c in columns}})

    return frame.mapInPandas(run, schema)


def _summarise(
    tx: Any,
    end_ordinal: int,
    freq_multiplier: float,
    include_first_transaction: bool,
    plan: LimbPlan | None,
    suffix: str = "",
) -> Any:
    """frequency, recency, T (and monetary_value) of ``tx`` (columns cid, per, amt).

    Spark aggregates per customer the number of periods, the first and last period and
    the sums of the amounts' limbs (longs: exact in any order, also summed per period
    first); :func:`clvml.features._rfm_kernels.summary_columns` turns them into the
    columns, with the pandas definitions.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    limbs = _limbs(plan)
    tx = _with_limbs(tx, plan)
    periods = tx.groupBy("cid", "per").agg(
        F.count(F.lit(1)).alias("_rows"), *[F.sum(m).alias(m) for m in limbs]
    )
    first = F.min("per").over(Window.partitionBy("cid"))
    periods = periods.withColumn("first", first)
    counted = F.lit(True) if include_first_transaction else F.col("per") > F.col("first")
    agg = periods.groupBy("cid").agg(
        F.count(F.lit(1)).alias("n"),
        F.min("per").alias("lo"),
        F.max("per").alias("hi"),
        *[F.sum(F.when(counted, F.col(m)).otherwise(F.lit(0))).alias(m) for m in limbs],
    )
    names = ["frequency", "recency", "T"] + (["monetary_value"] if plan is not None else [])

    def compute(batch: pd.DataFrame) -> dict[str, np.ndarray]:
        spend = None
        if plan is not None:
            spend = round_limbs([batch[m].to_numpy() for m in limbs], plan)
        cols = summary_columns(
            batch["n"].to_numpy(),
            batch["lo"].to_numpy(),
            batch["hi"].to_numpy(),
            spend,
            end_ordinal,
            freq_multiplier,
            include_first_transaction,
        )
        return {f"{k}{suffix}": v for k, v in cols.items()}

    return _finish(agg, [f"{k}{suffix}" for k in names], compute)


def _warn_excluded(n_rows: int, end_us: int, what: str) -> None:
    if n_rows:
        end = pd.Timestamp(end_us, unit="us")
        warnings.warn(
            f"{n_rows} transaction{'s' if n_rows != 1 else ''} {what} "
            f"observation_period_end={end} set aside",
            RowsExcludedWarning,
            stacklevel=3,
        )


def rfm_summary(
    transactions: Any,
    customer_id_col: str = "customer_id",
    datetime_col: str = "timestamp",
    monetary_value_col: str | None = None,
    observation_period_end: Any = None,
    freq: str = "D",
    freq_multiplier: float = 1,
    include_first_transaction: bool = False,
) -> Any:
    """Frequency, recency, T (and monetary value) per customer, computed by Spark.

    The Spark counterpart of :func:`clvml.features.rfm.rfm_summary`, with the same
    arguments (no ``datetime_format``: timestamps are Spark timestamps or ISO strings).

    Parameters
    ----------
    transactions : pyspark.sql.DataFrame
        One row per purchase.
    customer_id_col, datetime_col, monetary_value_col : str
        Column names (``monetary_value_col`` optional: adds ``monetary_value``).
    observation_period_end : date-like, optional
        End of the observation (default: the latest transaction). Transactions in later
        periods are set aside and counted in a :class:`RowsExcludedWarning`.
    freq : str, default "D"
        Period length (see :func:`period_spec`).
    freq_multiplier : float, default 1
        Divides recency and T (``freq="D", freq_multiplier=7``: weeks to the day).
    include_first_transaction : bool, default False
        Count the first period in ``frequency`` and ``monetary_value``.

    Returns
    -------
    pyspark.sql.DataFrame
        Columns ``customer_id_col``, ``frequency``, ``recency``, ``T`` (doubles) and, with
        ``monetary_value_col``, ``monetary_value``; one row per customer, unordered.

    Raises
    ------
    DataValidationError
        A missing column, null customer IDs or timestamps, non-finite amounts, an
        unsupported ``freq``, ``freq_multiplier <= 0``, or no transaction up to
        ``observation_period_end``.
    """
    from pyspark.sql import functions as F

    spec = period_spec(freq)
    mult = _check_positive("freq_multiplier", freq_multiplier)
    tx = _prepared(transactions, customer_id_col, datetime_col, monetary_value_col, spec)
    end_us = (
        None
        if observation_period_end is None
        else _micros(observation_period_end, "observation_period_end")
    )
    end_ord = None if end_us is None else spec.scalar(end_us)
    extra: dict[str, Any] = {"max_per": F.max("per")}
    if end_ord is not None:
        extra["after"] = F.count_if(F.col("per") > F.lit(end_ord))
    row = tx.agg(*_checks(F, extra)).first()
    _raise_on_missing(row, customer_id_col, datetime_col, monetary_value_col)
    if row["n"] == 0:
        raise DataValidationError("the transactions are empty: expected at least one row")
    if end_ord is None:
        end_ord = int(row["max_per"])
    else:
        n_after = int(row["after"])
        if n_after == row["n"]:
            raise DataValidationError(
                f"all {n_after} transactions are after observation_period_end="
                f"{pd.Timestamp(end_us, unit='us')}",
                column=datetime_col,
            )
        if n_after:
            tx = tx.where(F.col("per") <= F.lit(end_ord))
            assert end_us is not None
            _warn_excluded(n_after, end_us, "in periods after")
    plan = _plan(row, monetary_value_col)
    out = _summarise(tx, end_ord, mult, include_first_transaction, plan)
    return out.withColumnRenamed("cid", customer_id_col)


def calibration_holdout_summary(
    transactions: Any,
    customer_id_col: str = "customer_id",
    datetime_col: str = "timestamp",
    calibration_period_end: Any = None,
    observation_period_end: Any = None,
    freq: str = "D",
    freq_multiplier: float = 1,
    monetary_value_col: str | None = None,
    include_first_transaction: bool = False,
) -> Any:
    """Calibration-period RFM summary and holdout purchases, computed by Spark.

    The Spark counterpart of :func:`clvml.features.rfm.calibration_holdout_summary`
    (same arguments but ``datetime_format``; same conventions).

    Parameters
    ----------
    transactions : pyspark.sql.DataFrame
        One row per purchase.
    customer_id_col, datetime_col : str
        Column names.
    calibration_period_end : date-like
        Last moment of the calibration period (inclusive); required.
    observation_period_end : date-like, optional
        Last moment of the holdout (inclusive); default the latest transaction. Later
        transactions are set aside and counted in a :class:`RowsExcludedWarning`.
    freq, freq_multiplier, monetary_value_col, include_first_transaction
        As in :func:`rfm_summary`.

    Returns
    -------
    pyspark.sql.DataFrame
        ``customer_id_col``, ``frequency_cal``, ``recency_cal``, ``T_cal``,
        [``monetary_value_cal``], ``frequency_holdout``, [``monetary_value_holdout``],
        ``duration_holdout``; customers with a calibration purchase, unordered.
    """
    from pyspark.sql import functions as F

    if calibration_period_end is None:
        raise DataValidationError(
            "calibration_period_end is required (end of the calibration period)"
        )
    spec = period_spec(freq)
    mult = _check_positive("freq_multiplier", freq_multiplier)
    tx = _prepared(transactions, customer_id_col, datetime_col, monetary_value_col, spec)
    cal_us = _micros(calibration_period_end, "calibration_period_end")
    obs_us = (
        None
        if observation_period_end is None
        else _micros(observation_period_end, "observation_period_end")
    )
    extra = {
        "max_us": F.max("us"),
        "min_us": F.min("us"),
        "n_cal": F.count_if(F.col("us") <= cal_us),
    }
    row = tx.agg(*_checks(F, extra)).first()
    _raise_on_missing(row, customer_id_col, datetime_col, monetary_value_col)
    if row["n"] == 0:
        raise DataValidationError("the transactions are empty: expected at least one row")
    if obs_us is None:
        obs_us = int(row["max_us"])
    if cal_us >= obs_us:
        raise DataValidationError(
            f"calibration_period_end={pd.Timestamp(cal_us, unit='us')} must be before "
            f"observation_period_end={pd.Timestamp(obs_us, unit='us')}: the holdout period "
            "would be empty"
        )
    if row["n_cal"] == 0:
        raise DataValidationError(
            f"no transaction on or before calibration_period_end={pd.Timestamp(cal_us, unit='us')}",
            column=datetime_col,
        )
    counts = (
        tx.agg(
            F.count_if(F.col("us") > obs_us).alias("after"),
            F.count_if((F.col("us") > cal_us) & (F.col("us") <= obs_us)).alias("hold"),
        ).first()
        if observation_period_end is not None
        else None
    )
    n_after = int(counts["after"]) if counts else 0
    n_hold = int(counts["hold"]) if counts else row["n"] - row["n_cal"]
    if n_hold == 0:
        raise DataValidationError(
            f"no transaction between calibration_period_end={pd.Timestamp(cal_us, unit='us')} "
            f"and observation_period_end={pd.Timestamp(obs_us, unit='us')}: the holdout period "
            "is empty",
            column=datetime_col,
        )
    _warn_excluded(n_after, obs_us, "after")

    cal_ord = spec.scalar(cal_us)
    plan = _plan(row, monetary_value_col)
    cal = _summarise(
        tx.where(F.col("us") <= cal_us),
        cal_ord,
        mult,
        include_first_transaction,
        plan,
        suffix="_cal",
    )
    limbs = _limbs(plan)
    hold_tx = _with_limbs(tx.where((F.col("us") > cal_us) & (F.col("us") <= obs_us)), plan)
    hold = hold_tx.groupBy("cid").agg(
        F.count_distinct("per").alias("n_per"),
        F.count(F.lit(1)).alias("n_tx"),
        *[F.sum(m).alias(m) for m in limbs],
    )
    duration = (spec.scalar(obs_us) - cal_ord) / mult
    hold_names = ["frequency_holdout"] + (["monetary_value_holdout"] if plan else [])

    def compute(batch: pd.DataFrame) -> dict[str, np.ndarray]:
        n_tx = batch["n_tx"].to_numpy(dtype=np.int64)
        out = {"frequency_holdout": batch["n_per"].to_numpy(dtype=np.float64)}
        if plan is not None:
            sums = [batch[m].to_numpy(dtype=np.int64) for m in limbs]
            out["monetary_value_holdout"] = mean_or_zero(round_limbs(sums, plan), n_tx)
        return out

    held = _finish(hold, hold_names, compute)
    out = cal.join(held, on="cid", how="left")
    cols = [F.col(c) for c in cal.columns]
    # customers without holdout purchases: no periods and a mean spend of 0, as in pandas
    cols += [F.coalesce(c, F.lit(0.0)).alias(c) for c in hold_names]
    cols.append(F.lit(float(duration)).alias("duration_holdout"))
    return out.select(*cols).withColumnRenamed("cid", customer_id_col)
