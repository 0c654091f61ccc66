r"""The closed-form CLV formula: expected lifetime, CLV and the LTV:CAC ratio.

A leaf module (numpy and :mod:`clvml.exceptions` only) that the models and the
segments layers both use. Every rate here is **per period** (the period of the
retention rate: a month, a quarter, ...), and a horizon ``max_periods`` counts those
periods; :func:`clvml.models.closed_form.closed_form_clv` converts an annual discount
rate to its period.

.. math::

    L_{d,H} = \sum_{t=0}^{H-1} \left(\frac{r}{1+d}\right)^t, \qquad
    \mathrm{CLV} = m \, \bar v f \, L_{d,H} - \mathrm{CAC}.
"""

from __future__ import annotations

import numpy as np

from clvml.exceptions import DataValidationError

__all__ = [
    "HEALTHY_LTV_CAC",
    "clv_formula",
    "expected_lifetime",
    "ltv_cac_ratio",
]

#: Rule of thumb: a customer should bring at least three times what it cost to acquire them.
HEALTHY_LTV_CAC = 3.0


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
        Horizon :math:`H` in periods (>= 1), the period of ``retention``. Required
        when a retention is 1 and ``discount_rate`` is 0 (the lifetime would be infinite).
    discount_rate : float, default 0
        Discount rate :math:`d` **per period** (>= 0), the period of ``retention``.

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
