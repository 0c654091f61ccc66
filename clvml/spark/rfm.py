"""RFM and calibration/holdout summaries from Spark DataFrames.

:func:`rfm_summary` and :func:`calibration_holdout_summary` compute, with Spark SQL
aggregations, exactly what their pandas counterparts in :mod:`clvml.features.rfm`
compute (same conventions: periods of ``freq``, purchases of a customer in one
period merged and their amounts summed, ``frequency`` the repeat periods,
``recency`` and ``T`` in periods divided by ``freq_multiplier``, ``monetary_value``
the mean of the repeat periods, holdout ``monetary_value_holdout`` the mean of the
holdout *transactions*). The results equal the pandas path up to the order of
floating-point additions in the monetary sums (``tests/spark/test_spark_rfm.py``).

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
pass over the transactions, shared with the counts it reports; the summary itself is
two shuffles (by customer and period, then by customer).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import pandas as pd

from clvml.exceptions import DataValidationError
from clvml.features.rfm import RowsExcludedWarning
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


def _check_multiplier(value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(
            f"freq_multiplier must be a positive number, got {value!r}"
        ) from exc
    if not v > 0 or v == float("inf"):
        raise DataValidationError(f"freq_multiplier must be a positive number, got {value!r}")
    return v


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
    ]
    return cols + [v.alias(k) for k, v in extra.items()]


def _summarise(
    tx: Any,
    end_ordinal: int,
    freq_multiplier: float,
    include_first_transaction: bool,
    monetary: bool,
    suffix: str = "",
) -> Any:
    """frequency, recency, T (and monetary_value) of ``tx`` (columns cid, per, amt)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    periods = tx.groupBy("cid", "per").agg(F.sum("amt").alias("amt"))
    first = F.min("per").over(Window.partitionBy("cid"))
    periods = periods.withColumn("first", first)
    repeat_amt = F.when(F.col("per") > F.col("first"), F.col("amt")).otherwise(F.lit(0.0))
    agg = periods.groupBy("cid").agg(
        F.count(F.lit(1)).alias("n"),
        F.min("per").alias("lo"),
        F.max("per").alias("hi"),
        F.sum("amt" if include_first_transaction else repeat_amt).alias("spend"),
    )
    n = F.col("n") if include_first_transaction else F.col("n") - 1
    out = [
        F.col("cid"),
        n.cast("double").alias(f"frequency{suffix}"),
        ((F.col("hi") - F.col("lo")) / F.lit(freq_multiplier)).alias(f"recency{suffix}"),
        ((F.lit(end_ordinal) - F.col("lo")) / F.lit(freq_multiplier)).alias(f"T{suffix}"),
    ]
    if monetary:
        mean = F.when(n > 0, F.col("spend") / n).otherwise(F.lit(0.0))
        out.append(mean.alias(f"monetary_value{suffix}"))
    return agg.select(*out)


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
    mult = _check_multiplier(freq_multiplier)
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
    out = _summarise(tx, end_ord, mult, include_first_transaction, monetary_value_col is not None)
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
    mult = _check_multiplier(freq_multiplier)
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
    monetary = monetary_value_col is not None
    cal = _summarise(
        tx.where(F.col("us") <= cal_us),
        cal_ord,
        mult,
        include_first_transaction,
        monetary,
        suffix="_cal",
    )
    hold_tx = tx.where((F.col("us") > cal_us) & (F.col("us") <= obs_us))
    hold = hold_tx.groupBy("cid").agg(
        F.count_distinct("per").cast("double").alias("frequency_holdout"),
        (F.sum("amt") / F.count(F.lit(1))).alias("monetary_value_holdout"),
    )
    out = cal.join(hold, on="cid", how="left")
    cols = [c for c in cal.columns]
    cols.append(F.coalesce("frequency_holdout", F.lit(0.0)).alias("frequency_holdout"))
    if monetary:
        cols.append(
            F.coalesce("monetary_value_holdout", F.lit(0.0)).alias("monetary_value_holdout")
        )
    duration = (spec.scalar(obs_us) - cal_ord) / mult
    cols.append(F.lit(float(duration)).alias("duration_holdout"))
    return out.select(*cols).withColumnRenamed("cid", customer_id_col)
