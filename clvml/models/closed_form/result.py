"""What :func:`~clvml.models.closed_form.closed_form_clv` reports, and how rows are valued.

:class:`ClosedFormCLVResult` holds the tables; :func:`value_table` turns measured
counts (customers, purchases, revenue, customer-periods, :math:`\\sum C_I`,
:math:`\\sum (C_F - C_N)`) into retention, lifetime, LTV, CLV and LTV:CAC with the
formula of :mod:`clvml.models.closed_form.formula`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError
from clvml.models.closed_form.formula import expected_lifetime, ltv_cac_ratio

__all__ = ["ClosedFormCLVResult", "ValuePolicy", "cost_columns", "value_table"]


@dataclass(frozen=True)
class ValuePolicy:
    """How measured counts are valued: the formula's parameters and the edge-case policy.

    ``discount_rate`` is per period (the period of the retention rate) and
    ``max_periods`` counts those periods.
    """

    margin: float
    discount_rate: float
    max_periods: int | None
    healthy_ratio: float
    undefined: str
    segment_col: str | None


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


_NO_CAC = "no acquisition cost given: clv = ltv and no LTV:CAC"


def cost_columns(
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


def value_table(
    seg_n: np.ndarray,
    purch: np.ndarray,
    rev: np.ndarray,
    cper: np.ndarray,
    start: np.ndarray,
    kept: np.ndarray,
    cac_mean: np.ndarray,
    labels: list[object],
    policy: ValuePolicy,
) -> pd.DataFrame:
    """One row per label (segment): the measured counts and what the formula makes of them.

    ``start`` and ``kept`` are :math:`\\sum_p C_I` and :math:`\\sum_p (C_F - C_N)`;
    ``cper`` the customer-periods spent in the base; ``cac_mean`` the mean acquisition
    cost (NaN when unknown).
    """
    undefined, segment_col, margin = policy.undefined, policy.segment_col, policy.margin
    discount_rate, max_periods = policy.discount_rate, policy.max_periods
    healthy_ratio = policy.healthy_ratio
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
    clv, ratio, healthy = cost_columns(ltv, cac_mean, healthy_ratio)
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
