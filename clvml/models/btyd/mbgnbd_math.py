r"""MBG/NBD: the modified BG/NBD model of Batislam, Denizel & Filiztekin (2007).

As BG/NBD, except that a customer may also drop out right after the first purchase
(at time 0), so customers without repeat purchases are not assumed alive. The
formulas follow ``lifetimes.ModifiedBetaGeoFitter`` (Batislam et al. 2007, and
Wagner & Hoppe 2008 for the conditional expectation), evaluated with Euler's
transformation of :math:`{}_2F_1` as in :mod:`clvml.models.btyd.beta_geo`.

This module holds the model's pure math (one layout for every ``*_math`` module): the
per-customer log-likelihood and its gradient (implemented beside the other likelihoods
in :mod:`clvml.models.btyd.likelihoods`), ``mbgnbd_probability_alive``,
``mbgnbd_conditional_expected_purchases`` (:math:`E[Y(t) \mid x, t_x, T]`),
``mbgnbd_expected_purchases_new`` (:math:`E[X(t)]` of a new customer) and
``mbgnbd_probability_of_purchases`` (:math:`P(X(t) = x)`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, gammaln, xlogy

from clvml.models.btyd._special import _alive_given_log_ratio, alive_expectation, nbd_tail
from clvml.models.btyd.likelihoods import mbgnbd_loglik, mbgnbd_loglik_grad

__all__ = [
    "mbgnbd_conditional_expected_purchases",
    "mbgnbd_expected_purchases_new",
    "mbgnbd_loglik",
    "mbgnbd_loglik_grad",
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
    with np.errstate(over="ignore"):
        return _alive_given_log_ratio(a, b, r, x, t_x, T, alpha)


def mbgnbd_conditional_expected_purchases(
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


def mbgnbd_expected_purchases_new(params: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    r"""E[X(t)] for a customer just acquired under MBG/NBD.

    .. math:: \frac{b}{a - 1}\left[1 - \left(\frac{\alpha}{\alpha + t}\right)^r
        {}_2F_1\!\left(r, b + 1; a + b; \frac{t}{\alpha + t}\right)\right]
    """
    t = np.asarray(t, dtype=float)
    zero = np.zeros(t.shape)
    return mbgnbd_conditional_expected_purchases(params, zero, zero, zero, t)


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
