"""Diagnostic plots for fitted BTYD models (matplotlib; every function returns the Axes).

The functions work with any fitted transaction model exposing ``expected_purchases``,
``probability_alive``, ``expected_purchases_new_customer`` and
``probability_of_purchases`` (BG/NBD, MBG/NBD, Pareto/NBD, BG/BB), and the spend plot
with a fitted :class:`~clvml.models.btyd.gamma_gamma.GammaGamma`. The definitions
follow ``lifetimes.plotting`` where it has the plot, with these differences:

* the frequency/recency matrices leave out (mask) the cells no customer can occupy
  (repeat purchases with recency 0, recency without repeat purchases);
* the period-transactions plot uses the closed-form :math:`P(X(T_i) = x)` summed over
  the customers' own ages instead of one random simulation, and adds an
  ``"{max_frequency}+"`` bar so both bar sets add up to the number of customers;
* the tracking plots compute the model curve at every period, as a convolution of
  the number of customers born per period with :math:`E[X(t)]`.

The ``*_data`` helpers (in :mod:`clvml.models.btyd.plot_data`, re-exported here) return
the numbers each plot draws, for tests and reports.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from clvml.exceptions import DataValidationError
from clvml.models.btyd.likelihoods import gamma_gamma_loglik
from clvml.models.btyd.plot_data import (
    calibration_holdout_data,
    cumulative_transactions_data,
    frequency_recency_grid,
    period_transactions_data,
)

__all__ = [
    "calibration_holdout_data",
    "cumulative_transactions_data",
    "frequency_recency_grid",
    "period_transactions_data",
    "plot_calibration_purchases_vs_holdout_purchases",
    "plot_cumulative_transactions",
    "plot_frequency_recency_matrix",
    "plot_incremental_transactions",
    "plot_period_transactions",
    "plot_probability_alive_matrix",
    "plot_spend_fit",
]


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots()[1]


# ----------------------------------------------------------------- frequency / recency
def _matrix_plot(Z: np.ndarray, title: str, ax: Axes | None, **kwargs: Any) -> Axes:
    ax = _axes(ax)
    image = ax.imshow(np.ma.masked_invalid(Z), aspect="auto", origin="upper", **kwargs)
    ax.figure.colorbar(image, ax=ax)
    ax.set_title(title)
    ax.set_xlabel("Customer's historical frequency")
    ax.set_ylabel("Customer's recency")
    return ax


def plot_frequency_recency_matrix(
    model: Any,
    max_frequency: int,
    max_recency: float,
    t: float = 1.0,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Heat map of expected purchases in the next ``t`` by frequency and recency.

    Rows are recency 0..``max_recency`` (the customers' age), columns frequency
    0..``max_frequency``; ``kwargs`` go to ``imshow``.
    """
    Z = frequency_recency_grid(model, max_frequency, max_recency, "expected", t)
    title = f"Expected number of future purchases for {t:g} unit of time,\nby frequency and recency"
    return _matrix_plot(Z, title, ax, **kwargs)


def plot_probability_alive_matrix(
    model: Any, max_frequency: int, max_recency: float, ax: Axes | None = None, **kwargs: Any
) -> Axes:
    """Heat map of P(alive) by frequency and recency (customers of age ``max_recency``)."""
    Z = frequency_recency_grid(model, max_frequency, max_recency, "alive")
    return _matrix_plot(Z, "Probability customer is alive,\nby frequency and recency", ax, **kwargs)


# ----------------------------------------------------------------- calibration vs holdout
def plot_calibration_purchases_vs_holdout_purchases(
    model: Any,
    calibration_holdout: pd.DataFrame,
    kind: str = "frequency_cal",
    n: int = 7,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Actual vs predicted mean holdout purchases by calibration frequency (or ``kind``).

    Two lines, ``frequency_holdout`` (actual) and ``model_predictions``.
    """
    data = calibration_holdout_data(model, calibration_holdout, kind, n)
    ax = _axes(ax)
    ax.plot(data.index, data["frequency_holdout"], marker="o", label="Actual", **kwargs)
    ax.plot(data.index, data["model_predictions"], marker="s", label="Model", **kwargs)
    ax.set_title("Actual purchases in holdout period vs predicted purchases")
    ax.set_xlabel(kind)
    ax.set_ylabel("Average of purchases in holdout period")
    ax.legend()
    return ax


# ----------------------------------------------------------------- period transactions
def plot_period_transactions(
    model: Any, data: pd.DataFrame, max_frequency: int = 7, ax: Axes | None = None
) -> Axes:
    """Bar chart of customers by repeat purchases in the calibration period: actual vs model."""
    table = period_transactions_data(model, data, max_frequency)
    ax = _axes(ax)
    pos = np.arange(len(table))
    ax.bar(pos - 0.2, table["actual"], width=0.4, label="Actual")
    ax.bar(pos + 0.2, table["model"], width=0.4, label="Model")
    ax.set_xticks(pos, table.index)
    ax.set_title("Frequency of repeat transactions")
    ax.set_xlabel("Number of calibration period transactions")
    ax.set_ylabel("Customers")
    ax.legend()
    return ax


# ----------------------------------------------------------------- tracking
def _tracking_plot(
    data: pd.Series,
    model_line: pd.Series,
    t_cal: int | None,
    title: str,
    ylabel: str,
    ax: Axes | None,
) -> Axes:
    ax = _axes(ax)
    steps = np.arange(len(data))
    ax.plot(steps, data.to_numpy(), label="Actual")
    ax.plot(steps, model_line.to_numpy(), linestyle="--", label="Model")
    if t_cal is not None:
        ax.axvline(t_cal, color="grey", linestyle=":", label="End of calibration")
    ax.set_title(title)
    ax.set_xlabel(f"Periods since {data.index[0]}")
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax


def plot_cumulative_transactions(
    model: Any,
    transactions: pd.DataFrame,
    t: int,
    t_cal: int | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Cumulative repeat transactions over calendar time: actual vs model.

    ``kwargs`` go to :func:`cumulative_transactions_data` (``datetime_col``,
    ``customer_id_col``, ``freq``, ``freq_multiplier``); ``t_cal`` draws a vertical
    line at the end of the calibration period (in periods since the first purchase).
    """
    data = cumulative_transactions_data(model, transactions, t, **kwargs)
    return _tracking_plot(
        data["actual"],
        data["predicted"],
        t_cal,
        "Tracking cumulative transactions",
        "Cumulative repeat transactions",
        ax,
    )


def plot_incremental_transactions(
    model: Any,
    transactions: pd.DataFrame,
    t: int,
    t_cal: int | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Repeat transactions per period over calendar time: actual vs model (see the cumulative)."""
    data = cumulative_transactions_data(model, transactions, t, **kwargs)
    inc = data.diff()
    inc.iloc[0] = data.iloc[0]
    return _tracking_plot(
        inc["actual"],
        inc["predicted"],
        t_cal,
        "Tracking daily transactions"
        if kwargs.get("freq", "D") == "D"
        else "Tracking transactions",
        "Repeat transactions per period",
        ax,
    )


# ----------------------------------------------------------------- Gamma-Gamma
def plot_spend_fit(
    model: Any,
    data: pd.DataFrame,
    bins: int = 50,
    ax: Axes | None = None,
    frequency_col: str = "frequency",
    monetary_col: str = "monetary_value",
) -> Axes:
    r"""Observed density of mean spend (histogram) vs the fitted Gamma-Gamma density.

    The model density of a customer's mean spend :math:`\bar z` given ``x`` repeat
    purchases (Fader, Hardie & Lee 2005, RFM and CLV) is averaged over the observed
    ``x`` of the customers with repeat purchases:
    :math:`f(\bar z) = \frac{1}{N}\sum_i f(\bar z \mid p, q, v, x_i)`.
    """
    for col in (frequency_col, monetary_col):
        if col not in data.columns:
            raise DataValidationError("missing from the summary", column=col)
    params = np.array([model.params_[k] for k in ("p", "q", "v")])
    keep = data[frequency_col].to_numpy(dtype=float) > 0
    x = data[frequency_col].to_numpy(dtype=float)[keep]
    m = data[monetary_col].to_numpy(dtype=float)[keep]
    if x.size == 0:
        raise DataValidationError("no customer has repeat purchases", column=frequency_col)
    ax = _axes(ax)
    upper = float(np.quantile(m, 0.99))
    # densities over all customers with repeats (the top 1% of spend is cut from the view)
    weight = np.full(np.count_nonzero(m <= upper), bins / (m.size * upper))
    ax.hist(
        m[m <= upper], bins=bins, range=(0.0, upper), weights=weight, alpha=0.5, label="Observed"
    )
    grid = np.linspace(upper / 500, upper, 300)
    u_x, n_x = np.unique(x, return_counts=True)
    dens = np.exp(gamma_gamma_loglik(params, u_x[:, None], grid[None, :]))
    ax.plot(grid, (n_x @ dens) / n_x.sum(), label="Model")
    ax.set_title("Mean spend per customer: observed vs Gamma-Gamma")
    ax.set_xlabel("Mean spend of repeat purchases")
    ax.set_ylabel("Density")
    ax.legend()
    return ax
