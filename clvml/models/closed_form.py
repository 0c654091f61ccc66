r"""Closed-form customer lifetime value: the marketing formula, computed from data.

The textbook formula takes a per-period retention rate :math:`r`, the value a
customer brings per period and the cost of acquiring them:

.. math::

    r = \frac{C_F - C_N}{C_I}, \qquad
    L = \frac{1}{1 - r}, \qquad
    \mathrm{CLV} = (\bar v \cdot f) \, L - \mathrm{CAC},

with :math:`C_I` the customers at the start of a period, :math:`C_F` those at
its end and :math:`C_N` the new ones gained during it, :math:`\bar v` the
average purchase value, :math:`f` the repurchase rate (purchases per customer
per period) and :math:`L` the expected lifetime in periods. Here every input is
measured from a transaction log rather than typed in.

Definitions (period = one calendar period of length ``period``, e.g. a quarter)
-------------------------------------------------------------------------------
*Acquisition period*
    The period of the customer's ``acquisition_date`` when a customers table is
    given, otherwise the period of their first purchase. A purchase dated in a
    period before the acquisition period is a contract violation (error).
*Customer base at the end of period p*, :math:`B_p`
    Customers acquired in or before ``p`` who purchased in one of the last
    ``active_window`` periods ``p - active_window + 1, ..., p``, plus every
    customer acquired in ``p`` (a customer counts as a customer from the end
    of the period that acquired them, even before a first purchase).
    With the default ``active_window=1`` a customer is active at the end of a
    period exactly when they bought during it.
:math:`C_I` (``n_start``)
    :math:`|B_{p-1}|`: the base at the start of ``p`` is the base at the end of
    the previous period (0 for the first period).
:math:`C_F` (``n_end``)
    :math:`|B_p|`.
:math:`C_N` (``n_new``)
    :math:`|B_p \setminus B_{p-1}|`: customers in the base at the end who were
    not in it at the start, i.e. those acquired in ``p`` (``n_acquired``) plus
    those who come back after a lapse (``n_reactivated``; the formula has no
    notion of a returning customer, so a win-back counts as a new customer).
Retention
    :math:`C_F - C_N = |B_p \cap B_{p-1}|` customers were kept, so
    :math:`0 \le r_p \le 1` for any data. The retention of a segment pools its
    periods, :math:`r = \sum_p (C_F - C_N) / \sum_p C_I` (a customer-weighted
    mean of the period rates).
Average purchase value and repurchase rate
    :math:`\bar v` = revenue / purchases, :math:`f` = purchases / customer-periods
    spent in the base, so :math:`\bar v f` is the revenue per customer per
    period in the base, the quantity that :math:`L` multiplies. Per customer
    they use the customer's own purchases and periods and the segment's
    retention.

Discounted variant
------------------
With a gross margin :math:`m`, a discount rate :math:`d` per period and an
optional horizon of :math:`H` periods (``max_periods``), the value of the first
period is counted undiscounted and the lifetime becomes

.. math::

    L_{d,H} = \sum_{t=0}^{H-1} \left(\frac{r}{1+d}\right)^t
            = \frac{1 - q^H}{1 - q}, \quad q = \frac{r}{1+d}, \qquad
    \mathrm{CLV} = m \, \bar v f \, L_{d,H} - \mathrm{CAC},

which is :math:`1/(1-r)` for :math:`d = 0, H = \infty` and the familiar
:math:`m (1+d)/(1+d-r)` of Gupta & Lehmann (2003) for :math:`H = \infty`.

Edge cases (policies)
---------------------
* :math:`r = 1` (no customer lost; infinite lifetime): a
  :class:`~clvml.exceptions.DataValidationError` unless ``max_periods`` caps
  the horizon (then :math:`L = H`) or ``discount_rate > 0`` makes the sum finite.
* :math:`r = 0` (every customer lost after one period) is valid: :math:`L = 1`.
  :math:`r < 0` or :math:`r > 1` cannot come out of the definitions above and
  are rejected by :func:`expected_lifetime`.
* :math:`C_I = 0` in a period (e.g. the first one, or before a segment's first
  customer): that period's retention is NaN and its ``note`` says why; it adds
  nothing to the pooled rate. When a whole segment has :math:`\sum_p C_I = 0`
  its retention is undefined: an error by default, or, with
  ``undefined="nan"``, NaN retention, lifetime and CLV with the reason in the
  ``reason`` column. Never a silent NaN.
* Empty periods (no transaction of any customer in a period inside the
  window) are almost always a gap in the data; they raise unless
  ``allow_empty_periods=True``, in which case the definitions apply as they
  are (nobody bought, so with ``active_window=1`` nobody was kept).
* Incomplete last period: with ``observation_end`` inside a period, that period
  is dropped and its rows are set aside and counted in
  :attr:`ClosedFormCLVResult.n_transactions_set_aside`.

References
----------
Gupta, S. and Lehmann, D. R. (2003). Customers as assets. *Journal of
Interactive Marketing* 17(1), 9-24.

Berger, P. D. and Nasr, N. I. (1998). Customer lifetime value: marketing models
and applications. *Journal of Interactive Marketing* 12(1), 17-30.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError

__all__ = [
    "ClosedFormCLVResult",
    "closed_form_clv",
    "clv_formula",
    "expected_lifetime",
    "ltv_cac_ratio",
]

#: Rule of thumb: a customer should bring at least three times what it cost to acquire them.
HEALTHY_LTV_CAC = 3.0

_ALL = "all"


# --------------------------------------------------------------------------- formula pieces


def _as_float_array(x: object, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"expected numbers: {exc}", column=name) from None
    return arr


def expected_lifetime(
    retention: float | np.ndarray,
    *,
    max_periods: int | None = None,
    discount_rate: float = 0.0,
) -> np.ndarray:
    r"""Expected (discounted) number of periods a customer stays, first period included.

    .. math::

        L = \sum_{t=0}^{H-1} q^t = \frac{1 - q^H}{1 - q}, \quad q = \frac{r}{1 + d},

    which is :math:`1/(1-r)` without discounting and horizon, and :math:`H`
    when :math:`q = 1`.

    Parameters
    ----------
    retention : float or array-like
        Retention rate(s) per period, in [0, 1].
    max_periods : int, optional
        Horizon :math:`H` in periods (>= 1). Required when a retention is 1
        and ``discount_rate`` is 0, since the lifetime would be infinite.
    discount_rate : float, default 0
        Discount rate :math:`d` per period (>= 0).

    Returns
    -------
    numpy.ndarray
        Lifetimes (>= 1), same shape as ``retention``.

    Raises
    ------
    DataValidationError
        Retention outside [0, 1] or NaN, negative discount rate, a horizon
        below 1, or retention 1 with neither a horizon nor discounting.

    Examples
    --------
    >>> expected_lifetime([0.0, 0.5, 0.8]).round(6).tolist()
    [1.0, 2.0, 5.0]
    >>> expected_lifetime(1.0, max_periods=12).item()
    12.0
    """
    r = _as_float_array(retention, "retention")
    bad = ~np.isfinite(r) | (r < 0) | (r > 1)
    if bad.any():
        raise DataValidationError(
            "retention must be a finite number in [0, 1]",
            column="retention",
            n_rows=int(bad.sum()),
            example=float(r[bad].flat[0]),
        )
    if not (np.isfinite(discount_rate) and discount_rate >= 0):
        raise DataValidationError(f"discount_rate must be >= 0, got {discount_rate!r}")
    q = r / (1.0 + discount_rate)
    if max_periods is None:
        infinite = q >= 1.0
        if infinite.any():
            raise DataValidationError(
                "retention is 1 (no customer lost), so the lifetime 1/(1 - r) is infinite; "
                "pass max_periods to cap the horizon or a discount_rate > 0",
                column="retention",
                n_rows=int(infinite.sum()),
            )
        return 1.0 / (1.0 - q)
    if isinstance(max_periods, bool) or int(max_periods) != max_periods or max_periods < 1:
        raise DataValidationError(f"max_periods must be an integer >= 1, got {max_periods!r}")
    H = int(max_periods)
    below = q < 1.0
    safe = np.where(below, q, 0.0)
    return np.where(below, (1.0 - safe**H) / (1.0 - safe), float(H))


def ltv_cac_ratio(
    ltv: float | np.ndarray,
    cac: float | np.ndarray,
    *,
    healthy_ratio: float = HEALTHY_LTV_CAC,
) -> tuple[np.ndarray, np.ndarray]:
    """LTV:CAC ratio and the "3:1 rule" flag.

    Parameters
    ----------
    ltv : float or array-like
        Lifetime value before acquisition cost.
    cac : float or array-like
        Customer acquisition cost (>= 0).
    healthy_ratio : float, default 3.0
        A ratio at or above this is flagged healthy.

    Returns
    -------
    ratio : numpy.ndarray
        ``ltv / cac``. Where ``cac`` is 0 (organic customers) the ratio is
        ``inf`` for a positive LTV and NaN otherwise (0/0).
    healthy : numpy.ndarray of bool
        ``ratio >= healthy_ratio`` up to a relative rounding error of 1e-9
        (False where the ratio is NaN).

    Examples
    --------
    >>> ratio, healthy = ltv_cac_ratio([300.0, 200.0], [100.0, 100.0])
    >>> ratio.tolist(), healthy.tolist()
    ([3.0, 2.0], [True, False])
    """
    ltv_a, cac_a = np.broadcast_arrays(_as_float_array(ltv, "ltv"), _as_float_array(cac, "cac"))
    for arr, name in ((ltv_a, "ltv"), (cac_a, "acquisition_cost")):
        bad = ~np.isfinite(arr)
        if bad.any():
            raise DataValidationError(
                "must be finite", column=name, n_rows=int(bad.sum()), example=arr[bad].flat[0]
            )
    if (cac_a < 0).any():
        neg = cac_a < 0
        raise DataValidationError(
            "acquisition cost must be >= 0",
            column="acquisition_cost",
            n_rows=int(neg.sum()),
            example=float(cac_a[neg].flat[0]),
        )
    pos = cac_a > 0
    with np.errstate(over="ignore"):  # a positive LTV over a vanishing cost is +inf
        ratio = np.where(
            pos, ltv_a / np.where(pos, cac_a, 1.0), np.where(ltv_a > 0, np.inf, np.nan)
        )
    # ">=" up to rounding: 90 / 30 computed through 1 / (1 - 2/3) must still count as 3:1
    at_least = (ratio >= healthy_ratio) | np.isclose(ratio, healthy_ratio, rtol=1e-9, atol=0.0)
    healthy = np.where(np.isnan(ratio), False, at_least)
    return ratio, healthy.astype(bool)


def clv_formula(
    avg_purchase_value: float | np.ndarray,
    repurchase_rate: float | np.ndarray,
    retention: float | np.ndarray,
    acquisition_cost: float | np.ndarray = 0.0,
    *,
    margin: float = 1.0,
    discount_rate: float = 0.0,
    max_periods: int | None = None,
) -> np.ndarray:
    r"""The closed-form CLV :math:`m \, \bar v f \, L_{d,H}(r) - \mathrm{CAC}`.

    Parameters
    ----------
    avg_purchase_value : float or array-like
        Average value :math:`\bar v` of a purchase (>= 0).
    repurchase_rate : float or array-like
        Purchases :math:`f` per customer per period (>= 0).
    retention : float or array-like
        Retention per period, in [0, 1].
    acquisition_cost : float or array-like, default 0
        Acquisition cost subtracted once.
    margin : float, default 1
        Gross margin applied to revenue (1 = revenue-based CLV).
    discount_rate, max_periods
        See :func:`expected_lifetime`.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> clv_formula(50.0, 2.0, 0.75, 120.0).item()  # 50 * 2 * 4 - 120
    280.0
    """
    v = _as_float_array(avg_purchase_value, "avg_purchase_value")
    f = _as_float_array(repurchase_rate, "repurchase_rate")
    c = _as_float_array(acquisition_cost, "acquisition_cost")
    for arr, name in ((v, "avg_purchase_value"), (f, "repurchase_rate"), (c, "acquisition_cost")):
        bad = ~np.isfinite(arr) | (arr < 0)
        if bad.any():
            raise DataValidationError(
                "must be finite and >= 0",
                column=name,
                n_rows=int(bad.sum()),
                example=float(arr[bad].flat[0]),
            )
    if not (np.isfinite(margin) and margin >= 0):
        raise DataValidationError(f"margin must be >= 0, got {margin!r}")
    L = expected_lifetime(retention, max_periods=max_periods, discount_rate=discount_rate)
    return margin * v * f * L - c


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class ClosedFormCLVResult:
    """What :func:`closed_form_clv` measured.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per segment (a single row ``"all"`` without segments), indexed
        by ``segment``: ``n_customers``, ``n_purchases``, ``revenue``,
        ``customer_periods`` (customer-periods spent in the base), ``n_start``
        (:math:`\\sum C_I`), ``n_retained`` (:math:`\\sum (C_F - C_N)`),
        ``retention``, ``lifetime``, ``avg_purchase_value``, ``repurchase_rate``,
        ``value_per_period`` (margin x value x rate), ``ltv`` (value before
        acquisition cost), ``acquisition_cost`` (mean), ``clv``, ``ltv_cac``,
        ``healthy`` (``ltv_cac >= healthy_ratio``) and ``reason`` (why a value
        is NaN, else empty).
    overall : pandas.Series
        The same quantities for all customers pooled.
    periods : pandas.DataFrame
        One row per segment and period: ``segment``, ``period``,
        ``period_start``, ``n_start`` (:math:`C_I`), ``n_end`` (:math:`C_F`),
        ``n_new`` (:math:`C_N`), ``n_acquired``, ``n_reactivated``,
        ``n_retained``, ``n_purchases``, ``revenue``, ``retention`` and ``note``.
    customers : pandas.DataFrame
        One row per customer, indexed by ``customer_id``: ``segment``,
        ``acquisition_period``, ``n_purchases``, ``revenue``,
        ``customer_periods``, ``avg_purchase_value`` (NaN without purchases),
        ``repurchase_rate``, ``value_per_period``, ``retention`` and
        ``lifetime`` (the segment's), ``ltv``, ``acquisition_cost``, ``clv``,
        ``ltv_cac``, ``healthy``.
    period : str
        The period length used.
    n_transactions_used, n_transactions_set_aside : int
        Transactions inside the complete periods of the window, and those after
        ``observation_end`` or in an incomplete last period.
    n_customers_set_aside : int
        Customers acquired after the last complete period.
    """

    summary: pd.DataFrame
    overall: pd.Series
    periods: pd.DataFrame
    customers: pd.DataFrame
    period: str
    n_transactions_used: int
    n_transactions_set_aside: int
    n_customers_set_aside: int


# --------------------------------------------------------------------------- input checks

_NO_CAC = "no acquisition cost given: clv = ltv and no LTV:CAC"


def _cost_columns(
    ltv: np.ndarray, cac: np.ndarray, healthy_ratio: float
) -> tuple[np.ndarray, np.ndarray, pd.arrays.BooleanArray]:
    """CLV, LTV:CAC and the nullable healthy flag; NaN/NA where LTV or CAC is unknown."""
    known = np.isfinite(ltv) & np.isfinite(cac)
    ratio = np.full(len(ltv), np.nan)
    flag = np.zeros(len(ltv), dtype=bool)
    ratio[known], flag[known] = ltv_cac_ratio(ltv[known], cac[known], healthy_ratio=healthy_ratio)
    healthy = pd.array(flag, dtype="boolean")
    healthy[~known | np.isnan(ratio)] = pd.NA
    clv = np.where(np.isnan(cac), ltv, ltv - np.where(np.isnan(cac), 0.0, cac))
    return clv, ratio, healthy


def _to_naive_utc(values: pd.Series, column: str) -> pd.Series:
    try:
        with warnings.catch_warnings():
            # element-wise parsing of mixed formats is what we want here; failures become NaT
            warnings.filterwarnings(
                "ignore", message="Could not infer format", category=UserWarning
            )
            ts = pd.to_datetime(values, errors="coerce", utc=False)
    except (ValueError, TypeError) as exc:  # mixed time zones, unparseable types
        raise DataValidationError(f"timestamps could not be parsed: {exc}", column=column) from None
    if not isinstance(ts.dtype, pd.DatetimeTZDtype) and not pd.api.types.is_datetime64_dtype(ts):
        raise DataValidationError(
            "timestamps mix time zones or types; normalise them to one time zone",
            column=column,
            example=values.iloc[0],
        )
    bad = ts.isna() & values.notna()
    nan = values.isna()
    if nan.any():
        raise DataValidationError("missing timestamps", column=column, n_rows=int(nan.sum()))
    if bad.any():
        raise DataValidationError(
            "unparseable timestamps",
            column=column,
            n_rows=int(bad.sum()),
            example=values[bad].iloc[0],
        )
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts


def _check_frame(data: object, name: str, required: list[str]) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise DataValidationError(f"{name}: expected a pandas DataFrame, got {type(data).__name__}")
    if len(data) == 0:
        raise DataValidationError(f"{name} is empty: expected at least one row")
    missing = [c for c in required if c not in data.columns]
    if missing:
        raise DataValidationError(
            f"{name} lacks required column(s) {missing}; has {list(data.columns)}",
            column=missing[0],
        )
    return data


def _ids(values: pd.Series, column: str) -> np.ndarray:
    nan = values.isna()
    if nan.any():
        raise DataValidationError("missing customer ids", column=column, n_rows=int(nan.sum()))
    return values.astype(str).to_numpy()


def _validate_transactions(
    tx: object, id_col: str, time_col: str, amount_col: str
) -> tuple[np.ndarray, pd.Series, np.ndarray]:
    df = _check_frame(tx, "transactions", [id_col, time_col, amount_col])
    ids = _ids(df[id_col], id_col)
    ts = _to_naive_utc(df[time_col], time_col)
    raw = df[amount_col]
    amount = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(amount)
    if bad.any():
        raise DataValidationError(
            "amounts must be finite numbers",
            column=amount_col,
            n_rows=int(bad.sum()),
            example=raw[bad].iloc[0],
        )
    neg = amount < 0
    if neg.any():
        raise DataValidationError(
            "amounts must be >= 0 (net returns and refunds into their orders first)",
            column=amount_col,
            n_rows=int(neg.sum()),
            example=float(amount[neg][0]),
        )
    return ids, ts, amount


def _period_freq(period: str) -> str:
    try:
        n = pd.Period("2000-01-01", freq=period).freq.n
    except (ValueError, TypeError) as exc:
        raise DataValidationError(
            f"period must be a pandas period alias such as 'W', 'M', 'Q' or 'Y': {exc}"
        ) from None
    if n != 1:
        raise DataValidationError(f"period must be a single period ('M', not '2M'), got {period!r}")
    return period


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    """Sorted distinct integers (sort-based; faster than np.unique's hashing on int64 codes)."""
    x = np.sort(x)
    keep = np.empty(len(x), dtype=bool)
    keep[:1] = True
    np.not_equal(x[1:], x[:-1], out=keep[1:])
    return x[keep]


def _ordinals(ts: pd.Series, period: str) -> np.ndarray:
    return np.asarray(ts.dt.to_period(period).array.asi8, dtype=np.int64)


# --------------------------------------------------------------------------- main entry


def closed_form_clv(
    transactions: pd.DataFrame,
    *,
    period: str = "Q",
    customers: pd.DataFrame | None = None,
    segment_col: str | None = None,
    observation_end: str | pd.Timestamp | None = None,
    active_window: int = 1,
    margin: float = 1.0,
    discount_rate: float = 0.0,
    max_periods: int | None = None,
    acquisition_cost: float | None = None,
    healthy_ratio: float = HEALTHY_LTV_CAC,
    undefined: Literal["raise", "nan"] = "raise",
    allow_empty_periods: bool = False,
    customer_id_col: str = "customer_id",
    datetime_col: str = "timestamp",
    monetary_value_col: str = "amount",
) -> ClosedFormCLVResult:
    """Closed-form CLV, retention and LTV:CAC measured from a transaction log.

    See the module documentation for the exact definitions of the customer
    base, :math:`C_I`, :math:`C_F`, :math:`C_N`, retention and the edge-case
    policies.

    Parameters
    ----------
    transactions : pandas.DataFrame
        Transactions contract: customer id, timestamp, amount (>= 0).
    period : str, default "Q"
        Period length, a pandas period alias: "W", "M", "Q" or "Y".
    customers : pandas.DataFrame, optional
        Customers contract: ``customer_id``, ``acquisition_date`` and, when
        present, ``acquisition_cost`` (>= 0) and the ``segment_col`` column.
        Every customer of the transactions must appear in it; customers
        without purchases count from their acquisition period.
    segment_col : str, optional
        Column of ``customers`` whose values define the segments (e.g.
        ``"acquisition_channel"``, ``"segment"``, ``"control_group"``).
    observation_end : str or Timestamp, optional
        Last day observed. Default: the end of the period of the last
        transaction or acquisition (assumed complete). If it falls inside a
        period, that period is incomplete and is dropped.
    active_window : int, default 1
        A customer is in the base at the end of a period if they purchased in
        it or in the ``active_window - 1`` periods before.
    margin : float, default 1
        Gross margin on revenue.
    discount_rate : float, default 0
        Discount rate per period.
    max_periods : int, optional
        Horizon in periods; required when a retention is 1 and there is no
        discounting.
    acquisition_cost : float, optional
        Acquisition cost per customer used when ``customers`` has no
        ``acquisition_cost`` column. When neither is given the cost is unknown:
        ``acquisition_cost`` and ``ltv_cac`` are NaN, ``healthy`` is NA,
        ``clv`` equals ``ltv`` and ``reason`` says so.
    healthy_ratio : float, default 3
        LTV:CAC at or above which a segment or customer is flagged healthy.
    undefined : {"raise", "nan"}, default "raise"
        What to do when a segment never has customers at the start of a
        period (:math:`\\sum C_I = 0`): raise, or report NaN with a reason.
    allow_empty_periods : bool, default False
        Accept periods with no transaction at all inside the window.
    customer_id_col, datetime_col, monetary_value_col : str
        Column names in ``transactions``.

    Returns
    -------
    ClosedFormCLVResult

    Raises
    ------
    DataValidationError
        Bad transactions or customers (missing columns, NaN ids, unparseable
        timestamps, negative or non-numeric amounts, duplicated or unknown
        customers, purchases before acquisition), fewer than two complete
        periods, empty periods, an undefined or infinite lifetime (see above).

    Examples
    --------
    >>> from clvml.data.datasets import load_cdnow_master
    >>> res = closed_form_clv(load_cdnow_master(), period="Q")
    >>> res.periods["retention"].round(3).tolist()
    [nan, 0.228, 0.426, 0.484, 0.463, 0.461]
    >>> res.overall[["retention", "lifetime", "ltv"]].astype(float).round(3).tolist()
    [0.326, 1.483, 83.23]
    """
    period = _period_freq(period)
    if isinstance(active_window, bool) or int(active_window) != active_window or active_window < 1:
        raise DataValidationError(f"active_window must be an integer >= 1, got {active_window!r}")
    if undefined not in ("raise", "nan"):
        raise DataValidationError(f"undefined must be 'raise' or 'nan', got {undefined!r}")
    if segment_col is not None and customers is None:
        raise DataValidationError(
            f"segment_col={segment_col!r} needs a customers table to read segments from"
        )
    # Validate the formula parameters before the data work.
    expected_lifetime(0.5, max_periods=max_periods, discount_rate=discount_rate)
    if not (np.isfinite(margin) and margin >= 0):
        raise DataValidationError(f"margin must be >= 0, got {margin!r}")
    if acquisition_cost is not None and not (
        np.isfinite(acquisition_cost) and acquisition_cost >= 0
    ):
        raise DataValidationError(f"acquisition_cost must be >= 0, got {acquisition_cost!r}")

    tx_ids, tx_ts, amount = _validate_transactions(
        transactions, customer_id_col, datetime_col, monetary_value_col
    )
    tx_p = _ordinals(tx_ts, period)

    # ---- customer universe, acquisition periods, costs, segments
    if customers is None:
        codes, uniq = pd.factorize(tx_ids)
        # sort the (few) distinct ids rather than all the rows
        order = np.argsort(np.asarray(uniq, dtype=str), kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        codes, uniq = rank[codes], np.asarray(uniq)[order]
        n_cust = len(uniq)
        acq_p = np.full(n_cust, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(acq_p, codes, tx_p)
        cac = np.full(n_cust, np.nan if acquisition_cost is None else float(acquisition_cost))
        seg_values = np.full(n_cust, _ALL, dtype=object)
    else:
        req = ["customer_id", "acquisition_date"] + ([segment_col] if segment_col else [])
        cust = _check_frame(customers, "customers", req)
        cust_ids = _ids(cust["customer_id"], "customer_id")
        dup = pd.Index(cust_ids).duplicated()
        if dup.any():
            raise DataValidationError(
                "duplicated customer ids in the customers table",
                column="customer_id",
                n_rows=int(dup.sum()),
                example=cust_ids[dup][0],
            )
        uniq = pd.Index(cust_ids)
        codes = uniq.get_indexer(tx_ids)
        unknown = codes < 0
        if unknown.any():
            raise DataValidationError(
                "transactions of customers missing from the customers table",
                column=customer_id_col,
                n_rows=int(unknown.sum()),
                example=tx_ids[unknown][0],
            )
        n_cust = len(uniq)
        acq_p = _ordinals(_to_naive_utc(cust["acquisition_date"], "acquisition_date"), period)
        early = tx_p < acq_p[codes]
        if early.any():
            raise DataValidationError(
                "purchases dated in a period before the customer's acquisition_date",
                column=datetime_col,
                n_rows=int(early.sum()),
                example=tx_ids[early][0],
            )
        if "acquisition_cost" in cust.columns:
            raw = cust["acquisition_cost"]
            cac = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
            bad = ~np.isfinite(cac) | (cac < 0)
            if bad.any():
                raise DataValidationError(
                    "acquisition costs must be finite numbers >= 0",
                    column="acquisition_cost",
                    n_rows=int(bad.sum()),
                    example=raw[bad].iloc[0],
                )
        else:
            cac = np.full(n_cust, np.nan if acquisition_cost is None else float(acquisition_cost))
        if segment_col is not None:
            seg_series = cust[segment_col]
            nan = seg_series.isna()
            if nan.any():
                raise DataValidationError(
                    "missing segment values", column=segment_col, n_rows=int(nan.sum())
                )
            seg_values = seg_series.to_numpy(dtype=object)
        else:
            seg_values = np.full(n_cust, _ALL, dtype=object)

    # ---- the window of complete periods
    p0 = int(min(acq_p.min(), tx_p.min()))
    if observation_end is None:
        p_end = int(max(acq_p.max(), tx_p.max()))
    else:
        end_ts = _to_naive_utc(pd.Series([observation_end]), "observation_end").iloc[0]
        end_per = pd.Period(end_ts, freq=period)
        p_end = int(end_per.ordinal)
        if end_ts.normalize() < end_per.end_time.normalize():
            p_end -= 1  # the period holding observation_end is incomplete
    P = p_end - p0 + 1
    if P < 2:
        raise DataValidationError(
            f"retention needs at least two complete periods of length {period!r} "
            f"(found {max(P, 0)}); use a shorter period or a later observation_end"
        )
    in_tx = tx_p <= p_end
    n_tx_out = int((~in_tx).sum())
    keep_c = acq_p <= p_end
    n_cust_out = int((~keep_c).sum())

    # re-index kept customers 0..n-1
    new_index = np.cumsum(keep_c) - 1
    c_tx = new_index[codes[in_tx]]
    p_tx = tx_p[in_tx] - p0
    a_tx = amount[in_tx]
    ids_k = np.asarray(uniq)[keep_c].astype(str)
    acq_k = acq_p[keep_c] - p0
    cac_k = cac[keep_c]
    seg_codes, seg_labels = pd.factorize(pd.Series(seg_values[keep_c]), sort=True)
    seg_codes = np.asarray(seg_codes, dtype=np.int64)
    n_k = len(ids_k)
    S = len(seg_labels)

    n_tx_per_p = np.bincount(p_tx, minlength=P)
    empty = np.flatnonzero(n_tx_per_p == 0)
    if len(empty) and not allow_empty_periods:
        names = [str(pd.Period(ordinal=int(p0 + e), freq=period)) for e in empty[:5]]
        raise DataValidationError(
            f"{len(empty)} period(s) inside the window have no transaction at all "
            f"(e.g. {names}); this is usually a gap in the data. Use a longer period, "
            "active_window > 1, or allow_empty_periods=True"
        )

    # ---- base membership as (customer, period) pair codes c * P + p
    purchase_pairs = _sorted_unique(c_tx * P + p_tx)
    parts = [purchase_pairs]
    for lag in range(1, int(active_window)):
        shifted = purchase_pairs + lag
        parts.append(shifted[(purchase_pairs % P) + lag < P])
    acq_pairs = np.arange(n_k, dtype=np.int64) * P + acq_k
    parts.append(acq_pairs)
    base = _sorted_unique(np.concatenate(parts))
    base_c, base_p = base // P, base % P
    prev = (base + 1)[base_p + 1 < P]  # "was in the base at p - 1", stamped at p
    retained = np.intersect1d(base, prev, assume_unique=True)

    def per_seg_period(pairs: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        key = seg_codes[pairs // P] * P + pairs % P
        return np.bincount(key, weights=weights, minlength=S * P).reshape(S, P)

    n_end = per_seg_period(base)
    n_ret = per_seg_period(retained)
    n_acq = per_seg_period(acq_pairs)
    tx_pairs = c_tx * P + p_tx
    n_purch_sp = per_seg_period(tx_pairs)
    rev_sp = per_seg_period(tx_pairs, a_tx)
    n_start = np.zeros_like(n_end)
    n_start[:, 1:] = n_end[:, :-1]
    n_new = n_end - n_ret

    # ---- per-period table
    period_index = pd.period_range(pd.Period(ordinal=p0, freq=period), periods=P, freq=period)
    with np.errstate(invalid="ignore", divide="ignore"):  # CI = 0 -> NaN, noted below
        ret_sp = np.where(n_start > 0, n_ret / np.where(n_start > 0, n_start, 1), np.nan)
    no_start = np.where(n_start > 0, "", "no customers at the start of the period (C_I = 0)")
    no_tx = np.where(n_tx_per_p == 0, "no transactions at all in the period", "")
    note = np.array(
        [
            "; ".join(filter(None, pair))
            for pair in zip(no_start.ravel(), np.tile(no_tx, S), strict=True)
        ],
        dtype=object,
    )
    periods = pd.DataFrame(
        {
            "segment": np.repeat(np.asarray(seg_labels, dtype=object), P),
            "period": np.tile(period_index.astype(str), S),
            "period_start": np.tile(period_index.start_time, S),
            "n_start": n_start.ravel(),
            "n_end": n_end.ravel(),
            "n_new": n_new.ravel(),
            "n_acquired": n_acq.ravel(),
            "n_reactivated": (n_new - n_acq).ravel(),
            "n_retained": n_ret.ravel(),
            "n_purchases": n_purch_sp.ravel().astype(np.int64),
            "revenue": rev_sp.ravel(),
            "retention": ret_sp.ravel(),
            "note": note,
        }
    )

    # ---- per-customer sums
    cust_purch = np.bincount(c_tx, minlength=n_k)
    cust_rev = np.bincount(c_tx, weights=a_tx, minlength=n_k)
    cust_periods = np.bincount(base_c, minlength=n_k)

    # ---- segment rows (plus the pooled row)
    def rows(
        seg_n: np.ndarray,
        purch: np.ndarray,
        rev: np.ndarray,
        cper: np.ndarray,
        start: np.ndarray,
        kept: np.ndarray,
        cac_mean: np.ndarray,
        labels: list[object],
    ) -> pd.DataFrame:
        defined = start > 0
        reason = np.where(
            defined, "", "no period starts with customers (sum of C_I = 0): retention undefined"
        )
        if not defined.all() and undefined == "raise":
            bad = [labels[i] for i in np.flatnonzero(~defined)]
            raise DataValidationError(
                f"retention is undefined for segment(s) {bad[:5]}: no period starts with "
                "customers (C_I = 0 in every period); pass undefined='nan' to report NaN, "
                "or use a shorter period",
                column=segment_col,
                n_rows=len(bad),
            )
        retention = np.where(defined, kept / np.where(defined, start, 1), np.nan)
        q = retention / (1.0 + discount_rate)
        if max_periods is None and (defined & (q >= 1.0)).any():
            bad = [labels[i] for i in np.flatnonzero(defined & (q >= 1.0))]
            raise DataValidationError(
                f"retention is 1 in segment(s) {bad[:5]} (no customer lost), so the lifetime "
                "1/(1 - r) is infinite; pass max_periods to cap the horizon or a "
                "discount_rate > 0",
                column="retention",
                n_rows=len(bad),
            )
        lifetime = np.full(len(retention), np.nan)
        lifetime[defined] = expected_lifetime(
            retention[defined], max_periods=max_periods, discount_rate=discount_rate
        )
        avg = np.where(purch > 0, rev / np.where(purch > 0, purch, 1), np.nan)
        rate = np.where(cper > 0, purch / np.where(cper > 0, cper, 1), 0.0)
        vpp = margin * np.where(purch > 0, rev, 0.0) / np.where(cper > 0, cper, 1)
        ltv = vpp * lifetime
        clv, ratio, healthy = _cost_columns(ltv, cac_mean, healthy_ratio)
        reason = np.array(
            [
                "; ".join(filter(None, pair))
                for pair in zip(reason, np.where(np.isnan(cac_mean), _NO_CAC, ""), strict=True)
            ],
            dtype=object,
        )
        return pd.DataFrame(
            {
                "n_customers": seg_n.astype(np.int64),
                "n_purchases": purch.astype(np.int64),
                "revenue": rev,
                "customer_periods": cper.astype(np.int64),
                "n_start": start.astype(np.int64),
                "n_retained": kept.astype(np.int64),
                "retention": retention,
                "lifetime": lifetime,
                "avg_purchase_value": avg,
                "repurchase_rate": rate,
                "value_per_period": vpp,
                "ltv": ltv,
                "acquisition_cost": cac_mean,
                "clv": clv,
                "ltv_cac": ratio,
                "healthy": healthy,
                "reason": reason,
            },
            index=pd.Index(labels, name="segment"),
        )

    seg_n = np.bincount(seg_codes, minlength=S)
    with np.errstate(invalid="ignore"):  # unknown costs are NaN throughout
        seg_cac = np.bincount(seg_codes, weights=cac_k, minlength=S) / seg_n
    summary = rows(
        seg_n,
        n_purch_sp.sum(axis=1),
        rev_sp.sum(axis=1),
        np.bincount(seg_codes, weights=cust_periods, minlength=S),
        n_start.sum(axis=1),
        n_ret.sum(axis=1),
        seg_cac,
        list(seg_labels),
    )
    overall = rows(
        np.array([n_k]),
        np.array([cust_purch.sum()]),
        np.array([cust_rev.sum()]),
        np.array([cust_periods.sum()]),
        np.array([n_start.sum()]),
        np.array([n_ret.sum()]),
        np.array([cac_k.mean()]),
        [_ALL],
    ).iloc[0]

    # ---- per-customer rows: own value and rate, the segment's retention
    seg_ret = summary["retention"].to_numpy()[seg_codes]
    seg_life = summary["lifetime"].to_numpy()[seg_codes]
    has_p = cust_purch > 0
    avg_c = np.where(has_p, cust_rev / np.where(has_p, cust_purch, 1), np.nan)
    rate_c = cust_purch / cust_periods
    vpp_c = margin * cust_rev / cust_periods
    ltv_c = vpp_c * seg_life
    clv_c, ratio_c, healthy_c = _cost_columns(ltv_c, cac_k, healthy_ratio)
    customers_out = pd.DataFrame(
        {
            "segment": np.asarray(seg_labels, dtype=object)[seg_codes],
            "acquisition_period": pd.PeriodIndex.from_ordinals(acq_k + p0, freq=period).astype(str),
            "n_purchases": cust_purch.astype(np.int64),
            "revenue": cust_rev,
            "customer_periods": cust_periods.astype(np.int64),
            "avg_purchase_value": avg_c,
            "repurchase_rate": rate_c,
            "value_per_period": vpp_c,
            "retention": seg_ret,
            "lifetime": seg_life,
            "ltv": ltv_c,
            "acquisition_cost": cac_k,
            "clv": clv_c,
            "ltv_cac": ratio_c,
            "healthy": healthy_c,
        },
        index=pd.Index(ids_k, name="customer_id"),
    )
    return ClosedFormCLVResult(
        summary=summary,
        overall=overall,
        periods=periods,
        customers=customers_out,
        period=period,
        n_transactions_used=int(in_tx.sum()),
        n_transactions_set_aside=n_tx_out,
        n_customers_set_aside=n_cust_out,
    )
