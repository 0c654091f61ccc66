r"""Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV").

A customer's transaction values are i.i.d. :math:`\text{Gamma}(p, \nu)` (shape ``p``,
rate :math:`\nu`), and :math:`\nu \sim \text{Gamma}(q, v)` across customers (``v`` is
the rate; it is called :math:`\gamma` in the paper and is measured in money). Spend
is assumed independent of the purchase process, so the model is fitted on the
customers with at least one repeat purchase and combined with any transaction
model in :func:`clvml.models.btyd.clv.customer_lifetime_value`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clvml.data.contracts import MAX_AMOUNT
from clvml.exceptions import DataValidationError
from clvml.models.btyd.base import BTYDModel
from clvml.models.btyd.gamma_gamma_math import gamma_gamma_expected_average_spend
from clvml.models.btyd.likelihoods import (
    gamma_gamma_loglik,
    gamma_gamma_loglik_grad,
    weighted_gamma_gamma,
)

__all__ = ["GammaGamma", "gamma_gamma_expected_average_spend"]


class GammaGamma(BTYDModel):
    r"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005; Hardie's note 025).

    The mean spend :math:`\bar z` of a customer's :math:`x` repeat purchases has density

    .. math::

        f(\bar z \mid p, q, v, x) = \frac{\Gamma(px + q)}{\Gamma(px)\,\Gamma(q)}
            \frac{v^q\, \bar z^{px - 1}\, x^{px}}{(v + x\bar z)^{px + q}}.

    ``fit`` takes the lifetimes-style summary (``frequency``, ``monetary_value``; other
    columns are ignored) and uses the customers with ``frequency > 0``; the others are
    counted in ``n_excluded_``.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty ``penalizer * (p**2 + q**2 + v**2)`` (v in the data's currency), as
        ``penalizer_coef`` in lifetimes.
    initial_params : mapping, optional
        Starting values ``{"p", "q", "v"}``, ``v`` in the data's currency.
    max_iter : int, default 2000
        Maximum optimiser iterations (``maxiter=`` is its deprecated spelling).

    Attributes
    ----------
    params_ : dict
        ``p``, ``q``, ``v`` (the paper's gamma, in the data's currency).
    n_excluded_ : float
        Customers left out because they have no repeat purchase.
    log_likelihood_, n_customers_, n_distinct_, converged_, covariance_,
    standard_errors_, confidence_intervals_, aic_, bic_
        See :class:`clvml.models.btyd.base.BTYDModel`.

    Examples
    --------
    >>> from clvml.data.datasets import load_cdnow_summary
    >>> model = GammaGamma().fit(load_cdnow_summary(with_spend=True))
    >>> {k: round(v, 2) for k, v in model.params_.items()}
    {'p': 6.25, 'q': 3.74, 'v': 15.45}
    >>> int(model.n_customers_), int(model.n_excluded_)
    (946, 1411)

    References
    ----------
    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: using iso-value
    curves for customer base analysis. Journal of Marketing Research 42(4), 415-430.

    Fader, P. S. and Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
    http://brucehardie.com/notes/025/
    """

    _param_names = ("p", "q", "v")
    _data_columns = ("frequency", "monetary_value")
    # no rescaling: the penalizer then acts on (p, q, v) in the data's currency, as
    # penalizer_coef in lifetimes' GammaGammaFitter
    _loglik = staticmethod(gamma_gamma_loglik)
    _loglik_grad = staticmethod(gamma_gamma_loglik_grad)
    _weighted_loglik_and_grad = staticmethod(weighted_gamma_gamma)
    _expected_average_spend = staticmethod(gamma_gamma_expected_average_spend)

    def _initial_params(self, columns: tuple[np.ndarray, ...], weights: np.ndarray) -> np.ndarray:
        return _spend_start(columns, weights)

    def _fit_mask(self, columns: tuple[np.ndarray, ...]) -> np.ndarray:
        return columns[0] > 0

    def _validate(self, frame: pd.DataFrame) -> pd.DataFrame:
        if len(frame) == 0:
            raise DataValidationError("the RFM summary is empty: expected at least one customer")
        out = frame.copy()
        for col in self._data_columns:
            if col not in frame.columns:
                raise DataValidationError(
                    f"missing from the RFM summary (has {list(map(str, frame.columns))})",
                    column=col,
                )
            values = pd.to_numeric(out[col], errors="coerce").to_numpy(dtype=float)
            _fail(
                ~np.isfinite(values),
                frame[col].to_numpy(),
                col,
                "are NaN, infinite or not numeric; expected finite numbers",
            )
            out[col] = values
        x = out["frequency"].to_numpy()
        m = out["monetary_value"].to_numpy()
        _fail(x < 0, x, "frequency", "are negative; expected repeat-purchase counts >= 0")
        _fail(x != np.floor(x), x, "frequency", "are not whole numbers; expected counts")
        _fail(
            (x > 0) & (m <= 0),
            m,
            "monetary_value",
            "are <= 0 for customers with repeat purchases; expected mean spend > 0",
        )
        _fail(m < 0, m, "monetary_value", "are negative; expected mean spend >= 0")
        _fail(
            m > MAX_AMOUNT,
            m,
            "monetary_value",
            f"are larger than {MAX_AMOUNT:.0e}; expected a mean spend per purchase "
            "(beyond it spend times purchases overflows to infinity)",
        )
        return out

    def expected_average_spend(self, data: Any) -> Any:
        """Expected spend per future transaction of each customer (FHL 2005b, eq. 5).

        Parameters
        ----------
        data : pandas.DataFrame, mapping or 2-d array
            ``frequency`` and ``monetary_value`` (mean spend of the repeat purchases;
            ignored where frequency is 0).

        Returns
        -------
        pandas.Series or ndarray
            A Series on ``data``'s index for a frame, an array otherwise.
        """
        rows = self._rows(data)
        values = type(self)._expected_average_spend(self._params_array(), *rows.columns)
        return rows.expand(values, name="expected_average_spend")

    @property
    def population_mean_spend(self) -> float:
        """Mean spend per transaction across customers, ``p v / (q - 1)`` (inf if q <= 1)."""
        p, q, v = self._params_array()
        return float(p * v / (q - 1)) if q > 1 else float("inf")


def _spend_start(columns: tuple[np.ndarray, ...], weights: np.ndarray) -> np.ndarray:
    """Starting ``(p, q, v)``: method-of-moments-like, p = q = 2 puts the mean spend at 2v."""
    mean = float(np.average(columns[1], weights=weights))
    return np.array([2.0, 2.0, max(mean / 2.0, 1e-8)])


def _fail(mask: np.ndarray, values: np.ndarray, column: str, message: str) -> None:
    n = int(np.count_nonzero(mask))
    if n:
        example = values[np.flatnonzero(mask)[0]]
        example = example.item() if hasattr(example, "item") else example
        raise DataValidationError(message, column=column, n_rows=n, example=example)
