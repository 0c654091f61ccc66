r"""MBG/NBD: the modified BG/NBD model of Batislam, Denizel & Filiztekin (2007).

As BG/NBD, except that a customer may also drop out right after the first purchase
(at time 0), so customers without repeat purchases are not assumed alive. The
formulas follow ``lifetimes.ModifiedBetaGeoFitter`` (Batislam et al. 2007, and
Wagner & Hoppe 2008 for the conditional expectation), evaluated with Euler's
transformation of :math:`{}_2F_1` as in :mod:`clvml.models.btyd.beta_geo`.
"""

from __future__ import annotations

import numpy as np

from clvml._deprecated import deprecated_alias
from clvml.models.btyd.bgnbd_kernels import weighted_mbgnbd_hessian
from clvml.models.btyd.likelihoods import mbgnbd_loglik, mbgnbd_loglik_grad, weighted_mbgnbd
from clvml.models.btyd.mbgnbd_math import (
    mbgnbd_conditional_expected_purchases,
    mbgnbd_expected_purchases_new,
    mbgnbd_probability_alive,
    mbgnbd_probability_of_purchases,
)
from clvml.models.btyd.transaction import TransactionModel

__all__ = [
    "ModifiedBetaGeo",
    "mbgnbd_conditional_expected_purchases",
    "mbgnbd_expected_purchases_new",
    "mbgnbd_probability_alive",
    "mbgnbd_probability_of_purchases",
]

#: Deprecated names (the math lives in :mod:`clvml.models.btyd.mbgnbd_math`).
mbgnbd_expected_purchases = deprecated_alias(
    mbgnbd_conditional_expected_purchases, "mbgnbd_expected_purchases"
)
mbgnbd_expected_purchases_new_customer = deprecated_alias(
    mbgnbd_expected_purchases_new, "mbgnbd_expected_purchases_new_customer"
)


class ModifiedBetaGeo(TransactionModel):
    r"""MBG/NBD model of repeat purchasing (Batislam, Denizel & Filiztekin 2007).

    As :class:`clvml.models.btyd.beta_geo.BetaGeo`, with dropout possible also at
    time 0, right after the first purchase:

    .. math::

        L(r, \alpha, a, b \mid x, t_x, T) =
            \frac{B(a, b + x + 1)}{B(a, b)}
            \frac{\Gamma(r + x)\,\alpha^r}{\Gamma(r)\,(\alpha + T)^{r + x}}
            + \frac{B(a + 1, b + x)}{B(a, b)}
            \frac{\Gamma(r + x)\,\alpha^r}{\Gamma(r)\,(\alpha + t_x)^{r + x}}

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters (time rescaled so that max(T) = 1).
    initial_params : mapping, optional
        Starting values ``{"r", "alpha", "a", "b"}`` in the data's time unit.
    max_iter : int, default 2000
        Maximum optimiser iterations (``maxiter=`` is its deprecated spelling).

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha`` (in the data's time unit), ``a``, ``b``.
    log_likelihood_, n_customers_, n_distinct_, converged_, covariance_,
    standard_errors_, confidence_intervals_, aic_, bic_
        See :class:`clvml.models.btyd.base.BTYDModel`.

    Examples
    --------
    >>> from clvml.data.datasets import load_cdnow_summary
    >>> model = ModifiedBetaGeo().fit(load_cdnow_summary())
    >>> {k: round(v, 3) for k, v in model.params_.items()}
    {'r': 0.525, 'alpha': 6.183, 'a': 0.891, 'b': 1.614}

    References
    ----------
    Batislam, E. P., Denizel, M. and Filiztekin, A. (2007). Empirical validation and
    comparison of models for customer base analysis. International Journal of
    Research in Marketing 24(3), 201-209.

    Wagner, U. and Hoppe, D. (2008). Erratum on the MBG/NBD model. International
    Journal of Research in Marketing 25(3), 225-226.
    """

    _param_names = ("r", "alpha", "a", "b")
    _data_columns = ("frequency", "recency", "T")
    _scale_column = "T"
    _scaled_columns = ("recency", "T")
    _scaled_params = ("alpha",)
    _loglik = staticmethod(mbgnbd_loglik)
    _loglik_grad = staticmethod(mbgnbd_loglik_grad)
    _weighted_loglik_and_grad = staticmethod(weighted_mbgnbd)
    _kernel_is_exact = True
    _weighted_hessian = staticmethod(weighted_mbgnbd_hessian)
    _zero_age_ok = True
    _grid_rows_ok = True

    _probability_alive = staticmethod(mbgnbd_probability_alive)
    _cheap_probability_alive = True
    _expected_purchases = staticmethod(mbgnbd_conditional_expected_purchases)
    _expected_purchases_new = staticmethod(mbgnbd_expected_purchases_new)
    _probability_of_purchases = staticmethod(mbgnbd_probability_of_purchases)

    def _initial_params(self, columns: tuple[np.ndarray, ...], weights: np.ndarray) -> np.ndarray:
        return np.ones(4)
