"""lifetimes' plots (``lifetimes.plotting``) drawn from clvml's numbers.

The titles, axis labels, legends and line/bar/image layout are lifetimes' so that code
and tests that read the axes keep working; the numbers come from the fitters (grids in
one vectorised call) and :mod:`clvml.models.btyd.plot_data`. ``plot_period_transactions``
draws the model's expected counts in closed form (lifetimes simulates a new data set).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from clvml.compat.lifetimes.utils import calculate_alive_path, expected_cumulative_transactions
from clvml.models.btyd.plot_data import calibration_holdout_data, period_transactions_data

__all__ = [
    "plot_calibration_purchases_vs_holdout_purchases",
    "plot_cumulative_transactions",
    "plot_dropout_rate_heterogeneity",
    "plot_expected_repeat_purchases",
    "plot_frequency_recency_matrix",
    "plot_history_alive",
    "plot_incremental_transactions",
    "plot_period_transactions",
    "plot_probability_alive_matrix",
    "plot_transaction_rate_heterogeneity",
]

_GRID_LABELS = ("Customer's Historical Frequency", "Customer's Recency")


def _plt() -> Any:
    from matplotlib import pyplot as plt

    return plt


def plot_period_transactions(
    model: Any,
    max_frequency: int = 7,
    title: str = "Frequency of Repeat Transactions",
    xlabel: str = "Number of Calibration Period Transactions",
    ylabel: str = "Customers",
    **kwargs: Any,
) -> Any:
    """Bars of customers by repeat purchases, actual and expected, for 0..max_frequency-1."""
    plt = _plt()
    labels = kwargs.pop("label", ["Actual", "Model"])
    table = period_transactions_data(model._model(), model.data, max_frequency)
    counts = table.iloc[:max_frequency]
    counts = pd.DataFrame(counts.to_numpy(), columns=labels, index=range(max_frequency))
    ax = counts.plot(kind="bar", **kwargs)
    plt.legend()
    plt.title(title)
    plt.ylabel(ylabel)
    plt.xlabel(xlabel)
    return ax


def plot_calibration_purchases_vs_holdout_purchases(
    model: Any,
    calibration_holdout_matrix: pd.DataFrame,
    kind: str = "frequency_cal",
    n: int = 7,
    **kwargs: Any,
) -> Any:
    """Mean actual and predicted holdout purchases by a calibration-period attribute."""
    plt = _plt()
    x_labels = {
        "frequency_cal": "Purchases in calibration period",
        "recency_cal": "Age of customer at last purchase",
        "T_cal": "Age of customer at the end of calibration period",
        "time_since_last_purchase": "Time since user made last purchase",
    }
    table = calibration_holdout_data(model._model(), calibration_holdout_matrix, kind, n)
    ax = table.plot(**kwargs)
    plt.title("Actual Purchases in Holdout Period vs Predicted Purchases")
    plt.xlabel(x_labels[kind])
    plt.ylabel("Average of Purchases in Holdout Period")
    plt.legend()
    return ax


def _matrix(Z: np.ndarray, title: str, xlabel: str, ylabel: str, **kwargs: Any) -> Any:
    plt = _plt()
    interpolation = kwargs.pop("interpolation", "none")
    ax = plt.subplot(111)
    image = ax.imshow(Z, interpolation=interpolation, **kwargs)
    plt.xlabel(xlabel)
    plt.ylabel(ylabel)
    plt.title(title)
    extent = image.get_extent()
    ax.set_aspect(abs((extent[1] - extent[0]) / (extent[3] - extent[2])))
    plt.colorbar(image, ax=ax)
    return ax


def plot_frequency_recency_matrix(
    model: Any,
    T: float = 1,
    max_frequency: int | None = None,
    max_recency: int | None = None,
    title: str | None = None,
    xlabel: str = _GRID_LABELS[0],
    ylabel: str = _GRID_LABELS[1],
    **kwargs: Any,
) -> Any:
    """Expected purchases in the next ``T`` of a customer of age ``max_recency``, every cell."""
    max_frequency = int(model.data["frequency"].max()) if max_frequency is None else max_frequency
    max_recency = int(model.data["T"].max()) if max_recency is None else max_recency
    rec, freq = np.meshgrid(
        np.arange(max_recency + 1.0), np.arange(max_frequency + 1.0), indexing="ij"
    )
    Z = np.asarray(
        model.conditional_expected_number_of_purchases_up_to_time(
            T, freq.ravel(), rec.ravel(), max_recency
        )
    ).reshape(rec.shape)
    if title is None:
        unit = "Unit" if T == 1 else "Units"
        title = (
            f"Expected Number of Future Purchases for {T} {unit} of Time,"
            "\nby Frequency and Recency of a Customer"
        )
    return _matrix(Z, title, xlabel, ylabel, **kwargs)


def plot_probability_alive_matrix(
    model: Any,
    max_frequency: int | None = None,
    max_recency: int | None = None,
    title: str = "Probability Customer is Alive,\nby Frequency and Recency of a Customer",
    xlabel: str = _GRID_LABELS[0],
    ylabel: str = _GRID_LABELS[1],
    **kwargs: Any,
) -> Any:
    """P(alive) of a customer of age ``max_recency``, every (recency, frequency) cell."""
    Z = model.conditional_probability_alive_matrix(max_frequency, max_recency)
    return _matrix(Z, title, xlabel, ylabel, **kwargs)


def plot_expected_repeat_purchases(
    model: Any,
    title: str = "Expected Number of Repeat Purchases per Customer",
    xlabel: str = "Time Since First Purchase",
    ax: Any = None,
    label: str | None = None,
    **kwargs: Any,
) -> Any:
    """E[X(t)] of a new customer up to the largest age (solid) and half as far again (dashed)."""
    plt = _plt()
    ax = plt.subplot(111) if ax is None else ax
    color = kwargs.pop("c", None) or kwargs.pop("color", None) or ax._get_lines.get_next_color()
    max_T = model.data["T"].max()
    inside = np.linspace(0, max_T, 100)
    ax.plot(
        inside,
        model.expected_number_of_purchases_up_to_time(inside),
        color=color,
        label=label,
        **kwargs,
    )
    beyond = np.linspace(max_T, 1.5 * max_T, 100)
    ax.plot(
        beyond,
        model.expected_number_of_purchases_up_to_time(beyond),
        color=color,
        ls="--",
        **kwargs,
    )
    plt.title(title)
    plt.xlabel(xlabel)
    if label is not None:
        plt.legend(loc="lower right")
    return ax


def plot_history_alive(
    model: Any,
    t: int,
    transactions: pd.DataFrame,
    datetime_col: str,
    freq: str = "D",
    start_date: Any = None,
    ax: Any = None,
    **kwargs: Any,
) -> Any:
    """One customer's P(alive) over ``t`` periods with her purchases as dashed lines."""
    plt = _plt()
    ax = plt.subplot(111) if ax is None else ax
    dates = pd.to_datetime(transactions[datetime_col])
    start_date = dates.min() if start_date is None else start_date
    path = calculate_alive_path(model, transactions, datetime_col, t, freq)
    path_dates = pd.date_range(start=dates.min(), periods=len(path), freq=freq)
    ax.plot(path_dates, path, "-", label="P_alive")
    bought = pd.DatetimeIndex(dates.dt.to_period(freq).drop_duplicates().dt.to_timestamp())
    ax.vlines(bought.values, ymin=0, ymax=1, colors="r", linestyles="dashed", label="purchases")
    ax.set_ylim(0, 1.0)
    ax.set_yticks(np.arange(0, 1.1, 0.1))
    ax.set_xlim(start_date, path_dates[-1])
    ax.legend(loc=3)
    ax.set_ylabel("P_alive")
    ax.set_title("History of P_alive")
    return ax


def _tracking(
    table: pd.DataFrame,
    t_cal: float,
    set_index_date: bool,
    title: str,
    xlabel: str,
    ylabel: str,
    ax: Any,
    **kwargs: Any,
) -> Any:
    ax = _plt().subplot(111) if ax is None else ax
    ax = table.plot(ax=ax, title=title, **kwargs)
    x_vline = table.index[int(t_cal)] if set_index_date else t_cal
    ax.axvline(x=x_vline, color="r", linestyle="--")
    ax.set_xlabel("date" if set_index_date else xlabel)
    ax.set_ylabel(ylabel)
    return ax


def plot_cumulative_transactions(
    model: Any,
    transactions: pd.DataFrame,
    datetime_col: str,
    customer_id_col: str,
    t: int,
    t_cal: float,
    datetime_format: str | None = None,
    freq: str = "D",
    set_index_date: bool = False,
    title: str = "Tracking Cumulative Transactions",
    xlabel: str = "day",
    ylabel: str = "Cumulative Transactions",
    ax: Any = None,
    **kwargs: Any,
) -> Any:
    """Actual against expected cumulative repeat transactions, calibration end marked."""
    table = expected_cumulative_transactions(
        model,
        transactions,
        datetime_col,
        customer_id_col,
        t,
        datetime_format,
        freq,
        set_index_date=set_index_date,
    )
    return _tracking(table, t_cal, set_index_date, title, xlabel, ylabel, ax, **kwargs)


def plot_incremental_transactions(
    model: Any,
    transactions: pd.DataFrame,
    datetime_col: str,
    customer_id_col: str,
    t: int,
    t_cal: float,
    datetime_format: str | None = None,
    freq: str = "D",
    set_index_date: bool = False,
    title: str = "Tracking Daily Transactions",
    xlabel: str = "day",
    ylabel: str = "Transactions",
    ax: Any = None,
    **kwargs: Any,
) -> Any:
    """Actual against expected repeat transactions per period, calibration end marked."""
    table = expected_cumulative_transactions(
        model,
        transactions,
        datetime_col,
        customer_id_col,
        t,
        datetime_format,
        freq,
        set_index_date=set_index_date,
    )
    return _tracking(table.diff(), t_cal, set_index_date, title, xlabel, ylabel, ax, **kwargs)


def _density(
    dist: Any, suptitle: str, subtitle: str, xlabel: str, ylabel: str, size: float, **kwargs: Any
) -> Any:
    plt = _plt()
    x = np.linspace(0, dist.ppf(0.99), 100)
    fig, ax = plt.subplots(1)
    fig.suptitle(suptitle, fontsize=size, fontweight="bold")
    ax.set_title(subtitle)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.tight_layout(rect=[0, 0.03, 1, 0.95])
    ax.plot(x, dist.pdf(x), **kwargs)
    return ax


def plot_transaction_rate_heterogeneity(
    model: Any,
    suptitle: str = "Heterogeneity in Transaction Rate",
    xlabel: str = "Transaction Rate",
    ylabel: str = "Density",
    suptitle_fontsize: float = 14,
    **kwargs: Any,
) -> Any:
    """Density of the purchase rate across customers, Gamma(r, alpha)."""
    r, alpha = model._unload_params("r", "alpha")
    subtitle = f"mean: {r / alpha:.3f}, var: {r / alpha**2:.3f}"
    dist = stats.gamma(r, scale=1 / alpha)
    return _density(dist, suptitle, subtitle, xlabel, ylabel, suptitle_fontsize, **kwargs)


def plot_dropout_rate_heterogeneity(
    model: Any,
    suptitle: str = "Heterogeneity in Dropout Probability",
    xlabel: str = "Dropout Probability p",
    ylabel: str = "Density",
    suptitle_fontsize: float = 14,
    **kwargs: Any,
) -> Any:
    """Density of the dropout probability across customers, Beta(a, b)."""
    a, b = model._unload_params("a", "b")
    mean, var = a / (a + b), a * b / ((a + b) ** 2) / (a + b + 1)
    subtitle = f"mean: {mean:.3f}, var: {var:.3f}"
    return _density(
        stats.beta(a, b), suptitle, subtitle, xlabel, ylabel, suptitle_fontsize, **kwargs
    )
