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
With a gross margin :math:`m`, a discount rate :math:`d` per period (from
``annual_discount_rate``, compounded: :math:`d = (1 + d_{year})^{1/k} - 1` for
:math:`k` periods a year) and an optional horizon of :math:`H` periods
(``max_periods``), the value of the first
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
  the horizon (then :math:`L = H`) or ``annual_discount_rate > 0`` makes the sum finite.
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
* Incomplete last period: with ``cutoff`` (the last day seen) inside a period,
  that period is dropped and its rows are set aside and counted in
  :attr:`ClosedFormCLVResult.n_transactions_set_aside`.

Layout
------
:mod:`~clvml.models.closed_form.formula` (the formula, a leaf that ``segments`` also
uses), :mod:`~clvml.models.closed_form.inputs` (tables read through ``clvml.data``),
:mod:`~clvml.models.closed_form.measure` (the customer base period by period) and
:mod:`~clvml.models.closed_form.result` (the reported tables).

References
----------
Gupta, S. and Lehmann, D. R. (2003). Customers as assets. *Journal of
Interactive Marketing* 17(1), 9-24.

Berger, P. D. and Nasr, N. I. (1998). Customer lifetime value: marketing models
and applications. *Journal of Interactive Marketing* 12(1), 17-30.
"""

from clvml.models.closed_form.formula import (
    HEALTHY_LTV_CAC,
    clv_formula,
    expected_lifetime,
    ltv_cac_ratio,
)
from clvml.models.closed_form.measure import closed_form_clv
from clvml.models.closed_form.result import ClosedFormCLVResult

__all__ = [
    "HEALTHY_LTV_CAC",
    "ClosedFormCLVResult",
    "closed_form_clv",
    "clv_formula",
    "expected_lifetime",
    "ltv_cac_ratio",
]
