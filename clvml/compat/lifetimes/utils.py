"""lifetimes' ``utils`` on clvml: summaries, calibration/holdout, alive paths, CLV, tracking.

``summary_data_from_transaction_data`` and ``calibration_and_holdout_data`` are
:func:`clvml.features.rfm.rfm_summary` and :func:`~clvml.features.rfm.calibration_holdout_summary`
(same arguments in the same order). ``expected_cumulative_transactions`` reads
:func:`clvml.models.btyd.plot_data.cumulative_transactions_data` in lifetimes' layout.
Numbers written as YYYYMMDD are read as dates only with ``datetime_format`` and refused
without one (pandas would read them as nanoseconds since 1970).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clvml.data.validation import validate_rfm_summary
from clvml.exceptions import DataValidationError
from clvml.features.rfm import _datetimes, calibration_holdout_summary, numbers_as_text, rfm_summary
from clvml.models.btyd.clv import PERIODS_PER_MONTH
from clvml.models.btyd.plot_data import cumulative_transactions_data

__all__ = [
    "calculate_alive_path",
    "calibration_and_holdout_data",
    "expected_cumulative_transactions",
    "summary_data_from_transaction_data",
]

summary_data_from_transaction_data = rfm_summary


def calibration_and_holdout_data(*args: Any, **kwargs: Any) -> pd.DataFrame:
    """:func:`clvml.features.rfm.calibration_holdout_summary`, with lifetimes' wording
    ("There is no data available") when a period holds no transaction."""
    try:
        return calibration_holdout_summary(*args, **kwargs)
    except DataValidationError as exc:
        if "no transaction" not in str(exc):
            raise
        raise DataValidationError(f"There is no data available: {exc}") from exc


def _find_first_transactions(
    transactions: pd.DataFrame,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None = None,
    datetime_format: str | None = None,
    observation_period_end: Any = None,
    freq: str = "D",
) -> pd.DataFrame:
    """One row per customer and period of ``freq`` (amounts summed), ``first`` marking
    each customer's first period; periods after ``observation_period_end`` are left out."""
    columns = [customer_id_col, datetime_col] + ([monetary_value_col] if monetary_value_col else [])
    frame = transactions[columns].copy()
    stamps, _ = _datetimes(frame, datetime_col, datetime_format)
    frame[datetime_col] = pd.PeriodIndex(stamps, freq=freq)
    if observation_period_end is None:
        end = frame[datetime_col].max()
    else:
        if isinstance(observation_period_end, pd.Period):
            observation_period_end = observation_period_end.to_timestamp()
        text = numbers_as_text(pd.Series([observation_period_end]), datetime_format, "end")[0]
        end = pd.Timestamp(pd.to_datetime(text, format=datetime_format)).to_period(freq)
    frame = frame[frame[datetime_col] <= end]
    frame = frame.sort_values([customer_id_col, datetime_col], kind="stable")
    keys = [customer_id_col, datetime_col]
    if monetary_value_col:
        merged = frame.groupby(keys, sort=False, as_index=False)[monetary_value_col].sum()
    else:
        merged = frame.drop_duplicates(keys).reset_index(drop=True)
    merged["first"] = ~merged[customer_id_col].duplicated()
    return merged[[*columns, "first"]].reset_index(drop=True)


def calculate_alive_path(
    model: Any, transactions: pd.DataFrame, datetime_col: str, t: int, freq: str = "D"
) -> pd.Series:
    """P(alive) of one customer at every age 0..t periods of ``freq`` (one model call).

    ``transactions`` holds that customer's purchases; several in one period count once.
    """
    stamps, _ = _datetimes(transactions, datetime_col, None)
    ordinals = np.asarray(pd.PeriodIndex(stamps, freq=freq).asi8, dtype=np.int64)
    age_of_purchase = np.unique(ordinals - ordinals.min())
    ages = np.arange(int(t) + 1)
    bought = np.zeros(ages.size + int(age_of_purchase.max()) + 1, dtype=bool)
    bought[age_of_purchase] = True
    bought = bought[: ages.size]
    frequency = np.cumsum(bought) - 1
    last = np.maximum.accumulate(np.where(bought, ages, 0))
    values = model.conditional_probability_alive(
        frequency.astype(float), last.astype(float), ages.astype(float)
    )
    return pd.Series(np.asarray(values, dtype=float), index=pd.RangeIndex(ages.size))


def _scale_time(age: Any) -> float:
    """The factor that makes the largest age 1."""
    return float(1.0 / np.max(np.asarray(age, dtype=float)))


def _check_inputs(
    frequency: Any, recency: Any = None, T: Any = None, monetary_value: Any = None
) -> None:
    """Raise ``ValueError`` (clvml's ``DataValidationError``) for an impossible summary.

    The rules of :func:`clvml.data.validation.validate_rfm_summary` with ``T = 0``
    allowed, and every ``monetary_value`` > 0.
    """
    f = np.asarray(frequency, dtype=float)
    if recency is not None:
        T_ = np.asarray(T if T is not None else recency, dtype=float)
        frame = pd.DataFrame({"frequency": f, "recency": np.asarray(recency, float), "T": T_})
        validate_rfm_summary(frame, allow_zero_age=True)
    elif np.any(f != np.floor(f)):
        raise ValueError("There exist non-integer values in the frequency vector.")
    if monetary_value is not None and np.any(np.asarray(monetary_value, dtype=float) <= 0):
        raise ValueError("There exist non-positive (<= 0) values in the monetary_value vector.")


def _customer_lifetime_value(
    transaction_prediction_model: Any,
    frequency: Any,
    recency: Any,
    T: Any,
    monetary_value: Any,
    time: int = 12,
    discount_rate: float = 0.01,
    freq: str = "D",
) -> pd.Series:
    """Sum over ``time`` months of the month's expected purchases times ``monetary_value``,
    discounted by ``(1 + discount_rate)`` per month (months of ``freq`` units: 30 days,
    4.345 weeks, 720 hours). One vectorised prediction for all months and customers."""
    factor = PERIODS_PER_MONTH[freq]
    months = np.arange(time + 1, dtype=float)[:, None]
    f, r, T_ = (np.asarray(v, dtype=float)[None, :] for v in (frequency, recency, T))
    cumulative = np.asarray(transaction_prediction_model.predict(months * factor, f, r, T_))
    per_month = np.diff(cumulative, axis=0)
    discount = (1.0 + discount_rate) ** months[1:]
    spend = np.asarray(monetary_value, dtype=float)[None, :]
    clv = np.zeros(per_month.shape[1])
    for month in range(per_month.shape[0]):  # add month by month, as the definition reads
        clv += spend[0] * per_month[month] / discount[month, 0]
    return pd.Series(clv, index=pd.RangeIndex(clv.size), name="clv")


def expected_cumulative_transactions(
    model: Any,
    transactions: pd.DataFrame,
    datetime_col: str,
    customer_id_col: str,
    t: int,
    datetime_format: str | None = None,
    freq: str = "D",
    freq_multiplier: int = 1,
    set_index_date: bool = False,
) -> pd.DataFrame:
    """Actual and expected cumulative repeat transactions, one row per ``freq_multiplier``
    periods (lifetimes' layout).

    Row ``j`` (1-based) counts the repeat transactions in the first ``j * freq_multiplier``
    periods and the expectation at period ``j * freq_multiplier``; with
    ``set_index_date`` it is labelled by the last period it counts (clvml's own table,
    :func:`~clvml.models.btyd.plot_data.cumulative_transactions_data`, labels the same
    row by the period that follows), otherwise rows are numbered from 0.
    """
    core = model._model() if hasattr(model, "_model") else model
    table = cumulative_transactions_data(
        core,
        transactions,
        int(t),
        datetime_col=datetime_col,
        customer_id_col=customer_id_col,
        freq=freq,
        freq_multiplier=float(freq_multiplier),
        datetime_format=datetime_format,
    )
    rows = np.arange(1, int(t) // int(freq_multiplier) + 1) * int(freq_multiplier)
    picked = table.iloc[rows]
    index = table.index[rows - 1] if set_index_date else pd.RangeIndex(rows.size)
    return pd.DataFrame(
        {"actual": picked["actual"].to_numpy(), "predicted": picked["predicted"].to_numpy()},
        index=index,
    )
