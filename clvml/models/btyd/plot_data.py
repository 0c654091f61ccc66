"""The numbers the BTYD diagnostic plots draw (see :mod:`clvml.models.btyd.plotting`).

Pure functions of a fitted model and data, returning frames or arrays: no matplotlib.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError
from clvml.features.rfm import _datetimes

__all__ = [
    "calibration_holdout_data",
    "cumulative_transactions_data",
    "frequency_recency_grid",
    "period_transactions_data",
]

#: At most this many distinct ages enter the closed-form period-transactions curve.
_MAX_AGES = 400


def _columns(model: Any) -> tuple[str, str, str]:
    cols = tuple(getattr(model, "_data_columns", ("frequency", "recency", "T")))
    if len(cols) != 3:
        raise TypeError(f"{type(model).__name__} is not a purchase-count model")
    return cols


def frequency_recency_grid(
    model: Any, max_frequency: int, max_recency: float, what: str = "expected", t: float = 1.0
) -> np.ndarray:
    """Matrix of a prediction over recency (rows 0..max_recency) and frequency (columns).

    Every cell is a customer of age ``max_recency`` (as in lifetimes); ``what`` is
    ``"expected"`` (expected purchases in the next ``t``) or ``"alive"`` (P(alive)).
    Cells no customer can occupy are NaN.
    """
    if max_frequency < 0 or max_recency <= 0:
        raise DataValidationError("expected max_frequency >= 0 and max_recency > 0")
    f_col, r_col, t_col = _columns(model)
    rec = np.arange(int(np.floor(max_recency)) + 1, dtype=float)
    freq = np.arange(int(max_frequency) + 1, dtype=float)
    R, F = np.meshgrid(rec, freq, indexing="ij")
    ok = ((F == 0) & (R == 0)) | ((F > 0) & (R > 0))
    if t_col == "n_periods":  # discrete opportunities: at most one transaction each
        ok &= F <= R
    grid = pd.DataFrame({f_col: F[ok], r_col: R[ok], t_col: float(max_recency)})
    if what == "expected":
        values = model.expected_purchases(grid, t)
    elif what == "alive":
        values = model.probability_alive(grid)
    else:
        raise ValueError(f"what must be 'expected' or 'alive', got {what!r}")
    out = np.full(R.shape, np.nan)
    out[ok] = np.asarray(values, dtype=float)
    return out


def calibration_holdout_data(
    model: Any, calibration_holdout: pd.DataFrame, kind: str = "frequency_cal", n: int = 7
) -> pd.DataFrame:
    """Mean actual and predicted holdout purchases by a calibration-period attribute.

    ``calibration_holdout`` has ``frequency_cal``, ``recency_cal``, ``T_cal``,
    ``frequency_holdout`` and ``duration_holdout`` (the layout of
    :func:`clvml.features.rfm.calibration_and_holdout` and lifetimes). ``kind`` is a
    calibration column or ``"time_since_last_purchase"`` (``T_cal - recency_cal``);
    the first ``n`` groups are kept. Predictions use each row's own holdout length.
    """
    need = ["frequency_cal", "recency_cal", "T_cal", "frequency_holdout", "duration_holdout"]
    missing = [c for c in need if c not in calibration_holdout.columns]
    if missing:
        raise DataValidationError("missing from the calibration/holdout frame", column=missing[0])
    f_col, r_col, t_col = _columns(model)
    cal = calibration_holdout.rename(
        columns={"frequency_cal": f_col, "recency_cal": r_col, "T_cal": t_col}
    )
    duration = calibration_holdout["duration_holdout"].to_numpy(dtype=float)
    predicted = np.empty(len(cal))
    for d in np.unique(duration):  # one call per distinct holdout length
        rows = duration == d
        predicted[rows] = np.asarray(model.expected_purchases(cal.loc[rows], float(d)))
    frame = pd.DataFrame(
        {
            "frequency_holdout": calibration_holdout["frequency_holdout"].to_numpy(dtype=float),
            "model_predictions": predicted,
        }
    )
    if kind == "time_since_last_purchase":
        frame[kind] = (calibration_holdout["T_cal"] - calibration_holdout["recency_cal"]).to_numpy()
    elif kind in calibration_holdout.columns:
        frame[kind] = calibration_holdout[kind].to_numpy()
    else:
        raise ValueError(
            f"kind must be a column of the frame or 'time_since_last_purchase': {kind}"
        )
    return frame.groupby(kind)[["frequency_holdout", "model_predictions"]].mean().iloc[:n]


def period_transactions_data(
    model: Any, data: pd.DataFrame, max_frequency: int = 7
) -> pd.DataFrame:
    """Customers by number of repeat purchases: actual counts and the model's expectation.

    The model column is :math:`\\sum_i P(X(T_i) = x)` over the customers' own ages
    ``T_i`` (closed form; ages are binned into at most 400 distinct values for very
    large data). The last row, ``"{max_frequency}+"``, holds the rest, so each
    column sums to the number of customers.
    """
    f_col, _, t_col = _columns(model)
    if hasattr(model, "_as_frame"):  # the model's column aliases (BG/BB: periods)
        data = model._as_frame(data)
    for col in (f_col, t_col):
        if col not in data.columns:
            raise DataValidationError("missing from the summary", column=col)
    freq = data[f_col].to_numpy(dtype=float)
    ages = data[t_col].to_numpy(dtype=float)
    if t_col != "n_periods" and np.unique(ages).size > _MAX_AGES:
        edges = np.quantile(ages, np.linspace(0, 1, _MAX_AGES + 1))
        which = np.clip(np.searchsorted(edges, ages, side="right") - 1, 0, _MAX_AGES - 1)
        ages = (
            np.bincount(which, weights=ages, minlength=_MAX_AGES)[which]
            / np.bincount(which, minlength=_MAX_AGES)[which]
        )
    u_ages, n_per_age = np.unique(ages, return_counts=True)
    x = np.arange(max_frequency, dtype=float)
    X, A = np.meshgrid(x, u_ages, indexing="ij")
    pmf = np.asarray(model.probability_of_purchases(X.ravel(), A.ravel())).reshape(X.shape)
    expected = pmf @ n_per_age
    expected = np.append(expected, len(freq) - expected.sum())
    actual = np.bincount(np.minimum(freq, max_frequency).astype(int), minlength=max_frequency + 1)
    labels = [str(i) for i in range(max_frequency)] + [f"{max_frequency}+"]
    return pd.DataFrame(
        {"actual": actual[: max_frequency + 1].astype(float), "model": expected},
        index=pd.Index(labels, name="frequency"),
    )


def cumulative_transactions_data(
    model: Any,
    transactions: pd.DataFrame,
    t: int,
    *,
    datetime_col: str = "timestamp",
    customer_id_col: str = "customer_id",
    freq: str = "D",
    freq_multiplier: float = 1.0,
    datetime_format: str | None = None,
) -> pd.DataFrame:
    """Actual and expected cumulative repeat transactions per period of ``freq``.

    Purchases are counted once per customer and period (as in lifetimes); a
    customer's first period is her birth, later periods are repeat transactions.
    Row ``k`` is the start of period ``k``: ``actual`` counts the repeat
    transactions in periods before it, and the expected count is
    :math:`\\sum_b n_b\\,E[X((k - b)/m)]`, over the ``n_b`` customers born in
    period ``b < k``, with :math:`m` = ``freq_multiplier`` periods per model time
    unit (e.g. 7 for daily periods and a model fitted in weeks). Periods run from
    the first purchase over ``t`` periods. Text or numeric dates (``19970930``) are read
    with ``datetime_format`` (numbers only with a format: without one they are refused,
    never read as nanoseconds since 1970).

    Returns
    -------
    pandas.DataFrame
        Indexed by period (``pandas.Period``), columns ``actual`` and ``predicted``.
    """
    for col in (datetime_col, customer_id_col):
        if col not in transactions.columns:
            raise DataValidationError("missing from the transactions", column=col)
    if t < 1 or freq_multiplier <= 0:
        raise DataValidationError("expected t >= 1 periods and freq_multiplier > 0")
    stamps, _ = _datetimes(transactions, datetime_col, datetime_format)
    periods = pd.PeriodIndex(stamps, freq=freq)
    ordinal = np.asarray(periods.asi8, dtype=np.int64)
    start = int(ordinal.min())
    k = ordinal - start
    ids = pd.factorize(transactions[customer_id_col])[0]
    pairs = np.unique(np.stack([ids, k], axis=1), axis=0)  # one purchase per customer and period
    birth = np.full(ids.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(birth, pairs[:, 0], pairs[:, 1])
    repeat_k = pairs[:, 1][pairs[:, 1] > birth[pairs[:, 0]]]
    n_periods = t + 1
    # row k: repeat transactions before period k starts, the span E[X((k - b)/m)] covers
    per_period = np.bincount(repeat_k[repeat_k < n_periods - 1], minlength=n_periods - 1)
    actual = np.concatenate([[0], np.cumsum(per_period)])
    born = np.bincount(birth[birth < n_periods], minlength=n_periods).astype(float)
    curve = np.asarray(
        model.expected_purchases_new_customer(np.arange(n_periods) / freq_multiplier), dtype=float
    )
    predicted = np.convolve(born, curve)[:n_periods]
    index = pd.period_range(start=periods[int(np.argmin(ordinal))], periods=n_periods)
    return pd.DataFrame({"actual": actual.astype(float), "predicted": predicted}, index=index)
