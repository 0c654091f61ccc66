"""The closed-form CLV measured from a transaction log (see :mod:`clvml.models.closed_form`).

Inputs come through :mod:`clvml.models.closed_form.inputs` (the ``clvml.data``
validators); this module measures the customer base period by period, from which the
retention, the purchase value and the repurchase rate follow, and hands the counts to
:func:`~clvml.models.closed_form.result.value_table`.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd

from clvml._deprecated import renamed_kwarg
from clvml.exceptions import DataValidationError
from clvml.models.closed_form.formula import HEALTHY_LTV_CAC, expected_lifetime
from clvml.models.closed_form.inputs import (
    ALL,
    period_freq,
    periods_per_year,
    read_universe,
    to_cutoff,
)
from clvml.models.closed_form.result import (
    ClosedFormCLVResult,
    ValuePolicy,
    cost_columns,
    value_table,
)

__all__ = ["closed_form_clv"]


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    """Sorted distinct integers (sort-based; faster than np.unique's hashing on int64 codes)."""
    x = np.sort(x)
    keep = np.empty(len(x), dtype=bool)
    keep[:1] = True
    np.not_equal(x[1:], x[:-1], out=keep[1:])
    return x[keep]


def _period_rate(period: str, annual: float, per_period: float | None) -> float:
    """The discount rate per ``period``: from the annual rate, or the deprecated per-period one."""
    if per_period is not None:
        if annual != 0.0:
            raise TypeError("closed_form_clv: pass annual_discount_rate= only")
        warnings.warn(
            "closed_form_clv: discount_rate= (a rate per period) is deprecated; pass "
            "annual_discount_rate= (a rate per year)",
            DeprecationWarning,
            stacklevel=3,
        )
        return float(per_period)
    if not (np.isfinite(annual) and annual >= 0):
        raise DataValidationError(f"annual_discount_rate must be >= 0, got {annual!r}")
    if annual == 0.0:
        return 0.0
    return float((1.0 + annual) ** (1.0 / periods_per_year(period)) - 1.0)


def closed_form_clv(
    transactions: pd.DataFrame,
    *,
    period: str = "Q",
    customers: pd.DataFrame | None = None,
    segment_col: str | None = None,
    cutoff: str | pd.Timestamp | None = None,
    active_window: int = 1,
    margin: float = 1.0,
    annual_discount_rate: float = 0.0,
    max_periods: int | None = None,
    acquisition_cost: float | None = None,
    healthy_ratio: float = HEALTHY_LTV_CAC,
    undefined: Literal["raise", "nan"] = "raise",
    allow_empty_periods: bool = False,
    customer_id_col: str = "customer_id",
    datetime_col: str = "timestamp",
    monetary_value_col: str = "amount",
    observation_end: str | pd.Timestamp | None = None,
    discount_rate: float | None = None,
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
    cutoff : str or Timestamp, optional
        The last day the model sees (inclusive; clvml's ``cutoff``). Default: the end
        of the period of the last transaction or acquisition (assumed complete). If
        it falls inside a period, that period is incomplete and is dropped.
    active_window : int, default 1
        A customer is in the base at the end of a period if they purchased in
        it or in the ``active_window - 1`` periods before.
    margin : float, default 1
        Gross margin on revenue.
    annual_discount_rate : float, default 0
        Discount rate per **year** (>= 0), turned into the rate per ``period`` by
        compounding, :math:`d = (1 + d_{year})^{1/k} - 1` with :math:`k` periods a
        year (365.25 days, 52.18 weeks, 12 months, 4 quarters).
    max_periods : int, optional
        Horizon in periods of length ``period``; required when a retention is 1 and
        there is no discounting.
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
    observation_end : str or Timestamp, optional
        Deprecated spelling of ``cutoff``.
    discount_rate : float, optional
        Deprecated: the discount rate **per period**; pass ``annual_discount_rate``.

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
    cutoff = renamed_kwarg(
        "closed_form_clv", "observation_end", "cutoff", observation_end, cutoff, None
    )
    period = period_freq(period)
    rate = _period_rate(period, annual_discount_rate, discount_rate)
    if isinstance(active_window, bool) or int(active_window) != active_window or active_window < 1:
        raise DataValidationError(f"active_window must be an integer >= 1, got {active_window!r}")
    if undefined not in ("raise", "nan"):
        raise DataValidationError(f"undefined must be 'raise' or 'nan', got {undefined!r}")
    if segment_col is not None and customers is None:
        raise DataValidationError(
            f"segment_col={segment_col!r} needs a customers table to read segments from"
        )
    # Validate the formula parameters before the data work.
    expected_lifetime(0.5, max_periods=max_periods, discount_rate=rate)
    if not (np.isfinite(margin) and margin >= 0):
        raise DataValidationError(f"margin must be >= 0, got {margin!r}")
    if acquisition_cost is not None and not (
        np.isfinite(acquisition_cost) and acquisition_cost >= 0
    ):
        raise DataValidationError(f"acquisition_cost must be >= 0, got {acquisition_cost!r}")

    u = read_universe(
        transactions,
        customers,
        period=period,
        segment_col=segment_col,
        acquisition_cost=acquisition_cost,
        columns=(customer_id_col, datetime_col, monetary_value_col),
    )
    tx_p, acq_p, codes, amount, cac = u.tx_p, u.acq_p, u.codes, u.amount, u.cac

    # ---- the window of complete periods
    p0 = int(min(acq_p.min(), tx_p.min()))
    if cutoff is None:
        p_end = int(max(acq_p.max(), tx_p.max()))
    else:
        end_ts = to_cutoff(cutoff)
        end_per = pd.Period(end_ts, freq=period)
        p_end = int(end_per.ordinal)
        if end_ts.normalize() < end_per.end_time.normalize():
            p_end -= 1  # the period holding the cutoff is incomplete
    P = p_end - p0 + 1
    if P < 2:
        raise DataValidationError(
            f"retention needs at least two complete periods of length {period!r} "
            f"(found {max(P, 0)}); use a shorter period or a later cutoff"
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
    ids_k = np.asarray(u.ids)[keep_c].astype(str)
    acq_k = acq_p[keep_c] - p0
    cac_k = cac[keep_c]
    seg_codes, seg_labels = pd.factorize(pd.Series(u.segments[keep_c]), sort=True)
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
    policy = ValuePolicy(margin, rate, max_periods, healthy_ratio, undefined, segment_col)
    seg_n = np.bincount(seg_codes, minlength=S)
    with np.errstate(invalid="ignore"):  # unknown costs are NaN throughout
        seg_cac = np.bincount(seg_codes, weights=cac_k, minlength=S) / seg_n
    summary = value_table(
        seg_n,
        n_purch_sp.sum(axis=1),
        rev_sp.sum(axis=1),
        np.bincount(seg_codes, weights=cust_periods, minlength=S),
        n_start.sum(axis=1),
        n_ret.sum(axis=1),
        seg_cac,
        list(seg_labels),
        policy,
    )
    overall = value_table(
        np.array([n_k]),
        np.array([cust_purch.sum()]),
        np.array([cust_rev.sum()]),
        np.array([cust_periods.sum()]),
        np.array([n_start.sum()]),
        np.array([n_ret.sum()]),
        np.array([cac_k.mean()]),
        [ALL],
        policy,
    ).iloc[0]

    # ---- per-customer rows: own value and rate, the segment's retention
    seg_ret = summary["retention"].to_numpy()[seg_codes]
    seg_life = summary["lifetime"].to_numpy()[seg_codes]
    has_p = cust_purch > 0
    avg_c = np.where(has_p, cust_rev / np.where(has_p, cust_purch, 1), np.nan)
    rate_c = cust_purch / cust_periods
    vpp_c = margin * cust_rev / cust_periods
    ltv_c = vpp_c * seg_life
    clv_c, ratio_c, healthy_c = cost_columns(ltv_c, cac_k, healthy_ratio)
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
