r"""BG/NBD: the beta-geometric/negative-binomial model of Fader, Hardie & Lee (2005).

While active, a customer buys as a Poisson process with rate :math:`\lambda \sim
\text{Gamma}(r, \alpha)`; after each purchase she drops out with probability
:math:`p \sim \text{Beta}(a, b)`. The per-customer likelihood is
:func:`clvml.models.btyd.likelihoods.bgnbd_loglik`; the prediction formulas below are
equations (8)-(10) of FHL (2005) and Hardie's note 021 (P(alive)), evaluated with
Euler's transformation of the Gaussian hypergeometric function (see
:func:`clvml.models.btyd._special.one_minus_power_hyp2f1`).

This module holds the model's pure math (one layout for every ``*_math`` module): the
per-customer log-likelihood and its gradient (implemented beside the other likelihoods
in :mod:`clvml.models.btyd.likelihoods`), ``bgnbd_probability_alive``,
``bgnbd_conditional_expected_purchases`` (:math:`E[Y(t) \mid x, t_x, T]`),
``bgnbd_expected_purchases_new`` (:math:`E[X(t)]` of a new customer) and
``bgnbd_probability_of_purchases`` (:math:`P(X(t) = x)`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, gammaln, xlogy

from clvml.models.btyd._special import _alive_given_log_ratio, alive_expectation, nbd_tail
from clvml.models.btyd.likelihoods import bgnbd_loglik, bgnbd_loglik_grad

__all__ = [
    "bgnbd_conditional_expected_purchases",
    "bgnbd_expected_purchases_new",
    "bgnbd_loglik",
    "bgnbd_loglik_grad",
    "bgnbd_probability_alive",
    "bgnbd_probability_of_purchases",
]


def bgnbd_probability_alive(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    r"""P(active at T | x, t_x, T) (Hardie's note 021).

    .. math:: P(\text{alive}) = \left[1 + \mathbb{1}[x > 0]\frac{a}{b + x - 1}
        \left(\frac{\alpha + T}{\alpha + t_x}\right)^{r + x}\right]^{-1}
    """
    r, alpha, a, b = (float(v) for v in params)
    x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, t_x, T)))
    has = x > 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return np.where(has, _alive_given_log_ratio(a, b - 1.0, r, x, t_x, T, alpha), 1.0)


def bgnbd_conditional_expected_purchases(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, t: float | np.ndarray
) -> np.ndarray:
    r"""E[X(T, T + t) | x, t_x, T]: expected purchases in the next t periods (FHL 2005, eq. 10).

    .. math:: \frac{a + b + x - 1}{a - 1}
        \left[1 - \left(\frac{\alpha + T}{\alpha + T + t}\right)^{r + x}
        {}_2F_1\!\left(r + x, b + x; a + b + x - 1; \frac{t}{\alpha + T + t}\right)\right]
        P(\text{alive})

    evaluated as :math:`1 - (1 - z)^{a - 1}\,{}_2F_1(a + b - 1 - r, a - 1; a + b + x - 1; z)`
    inside the bracket (Euler's transformation), which stays finite for any x and T;
    where scipy's ``hyp2f1`` fails, a quadrature over the dropout probability takes
    over (:func:`clvml.models.btyd._special.alive_expectation`).
    """
    r, alpha, a, b = (float(v) for v in params)
    x, t_x, T, t = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, t_x, T, t)))
    z = t / (alpha + T + t)
    active = alive_expectation(a, a + b - 1 - r, a + b + x - 1, z, r + x, alpha + T, b + x, t)
    return active * bgnbd_probability_alive(params, x, t_x, T)


def bgnbd_expected_purchases_new(params: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    r"""E[X(t)] for a customer just acquired (FHL 2005, eq. 9).

    .. math:: \frac{a + b - 1}{a - 1}\left[1 - \left(\frac{\alpha}{\alpha + t}\right)^r
        {}_2F_1\!\left(r, b; a + b - 1; \frac{t}{\alpha + t}\right)\right]
    """
    t = np.asarray(t, dtype=float)
    zero = np.zeros(t.shape)
    return bgnbd_conditional_expected_purchases(params, zero, zero, zero, t)


def bgnbd_probability_of_purchases(
    params: np.ndarray, x: np.ndarray, t: float | np.ndarray
) -> np.ndarray:
    r"""P(X(t) = x) for a customer just acquired (FHL 2005, eq. 8).

    .. math:: \frac{B(a, b + x)}{B(a, b)}\frac{\Gamma(r + x)}{\Gamma(r)\,x!}
        \left(\frac{\alpha}{\alpha + t}\right)^r\left(\frac{t}{\alpha + t}\right)^x
        + \mathbb{1}[x > 0]\frac{B(a + 1, b + x - 1)}{B(a, b)}
        \left[1 - \left(\frac{\alpha}{\alpha + t}\right)^r\sum_{j=0}^{x-1}
        \frac{\Gamma(r + j)}{\Gamma(r)\,j!}\left(\frac{t}{\alpha + t}\right)^j\right]
    """
    r, alpha, a, b = (float(v) for v in params)
    x, t = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(t, dtype=float))
    log_first = (
        betaln(a, b + x)
        - betaln(a, b)
        + gammaln(r + x)
        - gammaln(r)
        - gammaln(x + 1)
        + r * (np.log(alpha) - np.log(alpha + t))
        + xlogy(x, t)
        - x * np.log(alpha + t)
    )
    has = x > 0
    b_x1 = np.where(has, b + x - 1, 1.0)
    log_second = betaln(a + 1, b_x1) - betaln(a, b)
    second = np.where(has, np.exp(log_second) * nbd_tail(x, r, alpha, t), 0.0)
    return np.exp(log_first) + second
