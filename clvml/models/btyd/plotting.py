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

The ``*_data`` helpers return the numbers each plot draws, for tests and reports.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from clvml.exceptions import DataValidationError
from clvml.models.btyd.likelihoods import gamma_gamma_loglik

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

#: At most this many distinct ages enter the closed-form period-transactions curve.
_MAX_AGES = 400


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots()[1]


def _columns(model: Any) -> tuple[str, str, str]:
    cols = tuple(getattr(model, "_data_columns", ("frequency", "recency", "T")))
    if len(cols) != 3:
        raise TypeError(f"{type(model).__name__} is not a purchase-count model")
    return cols


# ----------------------------------------------------------------- frequency / recency
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
def cumulative_transactions_data(
    model: Any,
    transactions: pd.DataFrame,
    t: int,
    *,
    datetime_col: str = "timestamp",
    customer_id_col: str = "customer_id",
    freq: str = "D",
    freq_multiplier: float = 1.0,
) -> pd.DataFrame:
    """Actual and expected cumulative repeat transactions per period of ``freq``.

    Purchases are counted once per customer and period (as in lifetimes); a
    customer's first period is her birth, later periods are repeat transactions.
    Row ``k`` is the start of period ``k``: ``actual`` counts the repeat
    transactions in periods before it, and the expected count is
    :math:`\\sum_b n_b\\,E[X((k - b)/m)]`, over the ``n_b`` customers born in
    period ``b < k``, with :math:`m` = ``freq_multiplier`` periods per model time
    unit (e.g. 7 for daily periods and a model fitted in weeks). Periods run from
    the first purchase over ``t`` periods.

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
    periods = pd.PeriodIndex(pd.to_datetime(transactions[datetime_col]), freq=freq)
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
