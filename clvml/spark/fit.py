"""Fit the BTYD models on Spark data: aggregate distinct rows, fit on the driver.

The BG/NBD, Pareto/NBD and BG/BB likelihoods depend on a customer only through
``(frequency, recency, T)``; Gamma-Gamma only through ``(frequency, monetary_value)``.
So Spark groups the summary by those columns and counts the customers behind each
distinct row, the driver collects that compressed table (its size is bounded by
the number of distinct rows, not customers) and fits it with ``weights`` -- the
same weighted likelihood the pandas path builds by compressing identical rows
itself, so the fitted parameters agree to rounding (``tests/spark/test_spark_fit.py``).

Rounding to the model's time unit: summaries from :mod:`clvml.spark.rfm` hold
integer numbers of periods divided by ``freq_multiplier``, so grouping them as they
are is exact. For summaries with continuous times, ``time_resolution`` rounds
recency and T to that many steps per unit (e.g. ``7`` for days when the unit is
weeks) before grouping: ``round(x * time_resolution) / time_resolution``, which
leaves values already on the grid unchanged bit for bit. For Gamma-Gamma,
``monetary_decimals`` rounds the mean spend (e.g. ``2`` for cents); without it,
every customer with repeat purchases is typically a distinct row.

Size of the collected table: for daily periods over ``D`` days,
``(frequency, recency, T)`` has at most ``D^2 * max_frequency / 2`` combinations and in
practice far fewer (CDNOW: 23,570 customers -> 6,000 rows; see ``docs/scaling.md``).

The churn classifier is not a likelihood of sufficient statistics: train it on a
sample collected to the driver (:func:`sample_to_pandas`), see ``docs/scaling.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError
from clvml.spark.session import require_pyspark

__all__ = ["compress_summary", "fit_btyd", "fit_gamma_gamma", "sample_to_pandas"]

#: Name of the weight column of a compressed summary.
WEIGHT = "weight"


def compress_summary(
    summary: Any,
    columns: tuple[str, ...] = ("frequency", "recency", "T"),
    *,
    time_resolution: float | None = None,
    time_columns: tuple[str, ...] = ("recency", "T"),
    decimals: dict[str, int] | None = None,
    where: Any = None,
    max_rows: int = 5_000_000,
) -> pd.DataFrame:
    """Distinct rows of ``columns`` with the number of customers behind each, on the driver.

    Parameters
    ----------
    summary : pyspark.sql.DataFrame
        One row per customer (e.g. from :func:`clvml.spark.rfm.rfm_summary`).
    columns : tuple of str
        The columns the likelihood reads.
    time_resolution : float, optional
        Steps per time unit to round ``time_columns`` to before grouping (see the module
        documentation). Default: group the exact values.
    time_columns : tuple of str
        Columns rounded by ``time_resolution``.
    decimals : dict of str to int, optional
        Round these columns to so many decimals (e.g. ``{"monetary_value": 2}``).
    where : pyspark.sql.Column, optional
        Keep only the rows where it is true (e.g. ``frequency > 0`` for Gamma-Gamma).
    max_rows : int, default 5,000,000
        Refuse to collect more distinct rows than this (raise instead of running the
        driver out of memory): round the times or the spend.

    Returns
    -------
    pandas.DataFrame
        ``columns`` (float64) and ``weight`` (customers per row), sorted by ``columns``.

    Raises
    ------
    DataValidationError
        A column is missing or null, or there are more than ``max_rows`` distinct rows.
    """
    require_pyspark()
    from pyspark.sql import functions as F

    missing = [c for c in columns if c not in summary.columns]
    if missing:
        raise DataValidationError(
            f"missing from the summary (columns: {summary.columns})", column=missing[0]
        )
    frame = summary if where is None else summary.where(where)
    exprs = []
    for c in columns:
        col = F.col(c).cast("double")
        if time_resolution is not None and c in time_columns:
            col = F.round(col * F.lit(float(time_resolution))) / F.lit(float(time_resolution))
        if decimals and c in decimals:
            col = F.round(col, int(decimals[c]))
        exprs.append(col.alias(c))
    grouped = frame.select(*exprs).groupBy(*columns).agg(F.count(F.lit(1)).alias(WEIGHT))
    limited = grouped.limit(max_rows + 1).toPandas()
    if len(limited) > max_rows:
        raise DataValidationError(
            f"more than {max_rows} distinct ({', '.join(columns)}) rows to collect; "
            "pass time_resolution= or decimals= to round them, or raise max_rows"
        )
    nulls = limited[list(columns)].isna().any(axis=1)
    if nulls.any():
        raise DataValidationError(
            "are null in the summary; expected a value for every customer",
            column=str(limited.columns[limited[list(columns)].isna().any().to_numpy().argmax()]),
            n_rows=int(limited.loc[nulls, WEIGHT].sum()),
        )
    out = limited.astype({c: np.float64 for c in columns}).astype({WEIGHT: np.float64})
    return out.sort_values(list(columns), ignore_index=True)


def fit_btyd(
    model: Any,
    summary: Any,
    *,
    time_resolution: float | None = None,
    max_rows: int = 5_000_000,
) -> Any:
    """Fit a transaction BTYD model (BetaGeo, ParetoNBD, ...) on a Spark summary.

    Parameters
    ----------
    model : clvml BTYD estimator
        Unfitted (or to be refitted) estimator; its ``_data_columns`` name the columns.
    summary : pyspark.sql.DataFrame
        Customer summary with ``frequency``, ``recency``, ``T``.
    time_resolution : float, optional
        See :func:`compress_summary`.
    max_rows : int
        See :func:`compress_summary`.

    Returns
    -------
    The fitted ``model``.

    Examples
    --------
    >>> from clvml.models.btyd import BetaGeo  # doctest: +SKIP
    >>> summary = rfm_summary(spark_tx, freq="D", freq_multiplier=7)  # doctest: +SKIP
    >>> bg = fit_btyd(BetaGeo(), summary)  # doctest: +SKIP
    """
    columns = tuple(getattr(model, "_data_columns", ("frequency", "recency", "T")))
    table = compress_summary(summary, columns, time_resolution=time_resolution, max_rows=max_rows)
    return model.fit(table[list(columns)], weights=table[WEIGHT].to_numpy())


def fit_gamma_gamma(
    model: Any,
    summary: Any,
    *,
    monetary_decimals: int | None = None,
    max_rows: int = 5_000_000,
) -> Any:
    """Fit a Gamma-Gamma spend model on ``(frequency, monetary_value)`` of repeat buyers.

    Parameters
    ----------
    model : clvml.models.btyd.GammaGamma
        The estimator.
    summary : pyspark.sql.DataFrame
        Customer summary with ``frequency`` and ``monetary_value``.
    monetary_decimals : int, optional
        Round the mean spend to so many decimals before grouping (2 = cents).
    max_rows : int
        See :func:`compress_summary`.

    Returns
    -------
    The fitted ``model``. Customers without repeat purchases are left out in Spark
    (the model's own fit mask would drop them too); ``n_excluded_`` is therefore 0.
    """
    from pyspark.sql import functions as F

    columns = ("frequency", "monetary_value")
    table = compress_summary(
        summary,
        columns,
        decimals=None if monetary_decimals is None else {"monetary_value": monetary_decimals},
        where=F.col("frequency") > 0,
        max_rows=max_rows,
    )
    return model.fit(table[list(columns)], weights=table[WEIGHT].to_numpy())


def sample_to_pandas(
    frame: Any, max_rows: int, *, seed: int = 0, index: str | None = "customer_id"
) -> pd.DataFrame:
    """A uniform random sample of at most ``max_rows`` rows, collected as a pandas frame.

    For models that need row-level data on the driver (the churn classifier): Bernoulli
    sampling at rate ``max_rows / count`` with a 5% margin, then trimmed to ``max_rows``
    by a seeded shuffle, so the result is reproducible for a given partitioning.

    Parameters
    ----------
    frame : pyspark.sql.DataFrame
    max_rows : int
        Upper bound on the rows collected (size it to the driver's memory).
    seed : int, default 0
    index : str or None, default "customer_id"
        Column to use as the index (None keeps a range index).
    """
    n = frame.count()
    if n == 0:
        raise DataValidationError("nothing to sample: the frame is empty")
    rate = min(1.0, 1.05 * max_rows / n)
    sampled = frame if rate >= 1.0 else frame.sample(fraction=rate, seed=seed)
    out = sampled.toPandas()
    if len(out) > max_rows:
        out = out.sample(n=max_rows, random_state=seed)
    if index is not None and index in out.columns:
        out = out.set_index(index).sort_index()
    return out
