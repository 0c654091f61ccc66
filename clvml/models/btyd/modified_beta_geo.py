r"""MBG/NBD: the modified BG/NBD model of Batislam, Denizel & Filiztekin (2007).

As BG/NBD, except that a customer may also drop out right after the first purchase
(at time 0), so customers without repeat purchases are not assumed alive. The
formulas follow ``lifetimes.ModifiedBetaGeoFitter`` (Batislam et al. 2007, and
Wagner & Hoppe 2008 for the conditional expectation), evaluated with Euler's
transformation of :math:`{}_2F_1` as in :mod:`clvml.models.btyd.beta_geo`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, expit, gammaln, xlogy

from clvml.models.btyd._special import alive_expectation, nbd_tail
from clvml.models.btyd.likelihoods import mbgnbd_loglik, mbgnbd_loglik_grad, weighted_mbgnbd
from clvml.models.btyd.transaction import TransactionModel

__all__ = [
    "ModifiedBetaGeo",
    "mbgnbd_expected_purchases",
    "mbgnbd_expected_purchases_new_customer",
    "mbgnbd_probability_alive",
    "mbgnbd_probability_of_purchases",
]


def mbgnbd_probability_alive(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    r"""P(active at T | x, t_x, T) (Batislam et al. 2007, appendix A, eq. 5).

    .. math:: P(\text{alive}) = \left[1 + \frac{a}{b + x}
        \left(\frac{\alpha + T}{\alpha + t_x}\right)^{r + x}\right]^{-1}
    """
    r, alpha, a, b = (float(v) for v in params)
    x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, t_x, T)))
    log_odds = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return expit(-log_odds)


def mbgnbd_expected_purchases(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, t: float | np.ndarray
) -> np.ndarray:
    r"""E[X(T, T + t) | x, t_x, T] under MBG/NBD.

    .. math:: \frac{a + b + x}{a - 1}
        \left[1 - \left(\frac{\alpha + T}{\alpha + T + t}\right)^{r + x}
        {}_2F_1\!\left(r + x, b + x + 1; a + b + x; \frac{t}{\alpha + T + t}\right)\right]
        P(\text{alive})

    with the bracket evaluated as
    :math:`1 - (1 - z)^{a - 1}\,{}_2F_1(a + b - r, a - 1; a + b + x; z)`.
    """
    r, alpha, a, b = (float(v) for v in params)
    x, t_x, T, t = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, t_x, T, t)))
    z = t / (alpha + T + t)
    active = alive_expectation(a, a + b - r, a + b + x, z, r + x, alpha + T, b + x + 1, t)
    return active * mbgnbd_probability_alive(params, x, t_x, T)


def mbgnbd_expected_purchases_new_customer(params: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    r"""E[X(t)] for a customer just acquired under MBG/NBD.

    .. math:: \frac{b}{a - 1}\left[1 - \left(\frac{\alpha}{\alpha + t}\right)^r
        {}_2F_1\!\left(r, b + 1; a + b; \frac{t}{\alpha + t}\right)\right]
    """
    t = np.asarray(t, dtype=float)
    zero = np.zeros(t.shape)
    return mbgnbd_expected_purchases(params, zero, zero, zero, t)


def mbgnbd_probability_of_purchases(
    params: np.ndarray, x: np.ndarray, t: float | np.ndarray
) -> np.ndarray:
    r"""P(X(t) = x) for a customer just acquired under MBG/NBD.

    .. math:: \frac{B(a, b + x + 1)}{B(a, b)}\frac{\Gamma(r + x)}{\Gamma(r)\,x!}
        \left(\frac{\alpha}{\alpha + t}\right)^r\left(\frac{t}{\alpha + t}\right)^x
        + \frac{B(a + 1, b + x)}{B(a, b)}
        \left[1 - \left(\frac{\alpha}{\alpha + t}\right)^r\sum_{j=0}^{x-1}
        \frac{\Gamma(r + j)}{\Gamma(r)\,j!}\left(\frac{t}{\alpha + t}\right)^j\right]
    """
    r, alpha, a, b = (float(v) for v in params)
    x, t = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(t, dtype=float))
    log_first = (
        betaln(a, b + x + 1)
        - betaln(a, b)
        + gammaln(r + x)
        - gammaln(r)
        - gammaln(x + 1)
        + r * (np.log(alpha) - np.log(alpha + t))
        + xlogy(x, t)
        - x * np.log(alpha + t)
    )
    second = np.exp(betaln(a + 1, b + x) - betaln(a, b)) * nbd_tail(x, r, alpha, t)
    return np.exp(log_first) + second


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

    _probability_alive = staticmethod(mbgnbd_probability_alive)
    _expected_purchases = staticmethod(mbgnbd_expected_purchases)
    _expected_purchases_new = staticmethod(mbgnbd_expected_purchases_new_customer)
    _probability_of_purchases = staticmethod(mbgnbd_probability_of_purchases)

    def _initial_params(self, columns: tuple[np.ndarray, ...], weights: np.ndarray) -> np.ndarray:
        return np.ones(4)
