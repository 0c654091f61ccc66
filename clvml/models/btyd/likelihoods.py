r"""Per-customer log-likelihoods of BG/NBD, MBG/NBD and Gamma-Gamma, with analytic gradients.

Pure functions of a parameter vector and the summary columns: no pandas, no state.
Each ``*_loglik`` returns one value per row; each ``*_loglik_grad`` returns the
gradient with respect to the natural parameters, shape ``(n, k)``. Rows that are
impossible under the model (negative or fractional frequency, recency outside
[0, T], non-finite values, non-positive spend) give ``-inf`` and a zero gradient;
non-positive or non-finite parameters give ``-inf`` on every row. Nothing returns NaN.

BG/NBD (Fader, Hardie & Lee 2005a, eq. 6; Hardie's note 004):

.. math::

    \ell(r, \alpha, a, b \mid x, t_x, T) = A_1 + A_2
        + \log\left(e^{A_3} + \mathbb{1}[x > 0]\, e^{A_4}\right),

    A_1 = \log\Gamma(r + x) - \log\Gamma(r) + r \log\alpha, \quad
    A_2 = \log B(a, b + x) - \log B(a, b),

    A_3 = -(r + x)\log(\alpha + T), \quad
    A_4 = \log a - \log(b + x - 1) - (r + x)\log(\alpha + t_x).

MBG/NBD (Batislam, Denizel & Filiztekin 2007; as ``lifetimes.ModifiedBetaGeoFitter``):

.. math::

    \ell = A_1 + \log B(a, b + x + 1) - \log B(a, b) + A_3
        + \log\left(1 + e^{A_4}\right), \quad
    A_4 = \log a - \log(b + x) + (r + x)\left[\log(\alpha + T) - \log(\alpha + t_x)\right].

Gamma-Gamma spend model (Fader, Hardie & Lee 2005b; Hardie's note 025, eq. 1a), the
density of the mean spend :math:`m` of :math:`x` repeat purchases:

.. math::

    \ell(p, q, v \mid x, m) = \log\Gamma(px + q) - \log\Gamma(px) - \log\Gamma(q)
        + q\log v + (px - 1)\log m + px\log x - (px + q)\log(v + xm).

References
----------
Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005a). "Counting your customers" the
easy way: an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.

Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005b). RFM and CLV: using iso-value
curves for customer base analysis. Journal of Marketing Research 42(4), 415-430.

Batislam, E. P., Denizel, M. and Filiztekin, A. (2007). Empirical validation and
comparison of models for customer base analysis. International Journal of Research
in Marketing 24(3), 201-209.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, expit, gammaln

from clvml.models.btyd.bgnbd_kernels import _per_count, weighted_bgnbd, weighted_mbgnbd

__all__ = [
    "bgnbd_loglik",
    "bgnbd_loglik_grad",
    "gamma_gamma_loglik",
    "gamma_gamma_loglik_grad",
    "mbgnbd_loglik",
    "mbgnbd_loglik_grad",
    "weighted_bgnbd",
    "weighted_gamma_gamma",
    "weighted_mbgnbd",
]


def _valid_params(params: np.ndarray) -> bool:
    params = np.asarray(params, dtype=float)
    return bool(np.all(np.isfinite(params)) and np.all(params > 0))


def _valid_rfm(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Rows a counting model can have produced: x whole >= 0, 0 <= t_x <= T, finite.

    ``T = 0`` (first purchase at the end of the data) is a valid row: with ``x = 0`` its
    likelihood is 1, so it adds nothing to a fit.
    """
    with np.errstate(invalid="ignore"):
        return (
            np.isfinite(x)
            & np.isfinite(t_x)
            & np.isfinite(T)
            & (x >= 0)
            & (x == np.floor(x))
            & (t_x >= 0)
            & (t_x <= T)
            & (T >= 0)
        )


def _rfm_arrays(
    x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Broadcast to float arrays; replace invalid rows by a harmless valid row."""
    x, t_x, T = np.broadcast_arrays(
        np.asarray(x, dtype=float), np.asarray(t_x, dtype=float), np.asarray(T, dtype=float)
    )
    ok = _valid_rfm(x, t_x, T)
    x, t_x, T = np.where(ok, x, 0.0), np.where(ok, t_x, 0.0), np.where(ok, T, 1.0)
    return x, t_x, T, ok


# --------------------------------------------------------------------------- BG/NBD
def _bgnbd_terms(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r, alpha, a, b = (float(v) for v in params)
    A_1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    A_2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    A_3 = -(r + x) * np.log(alpha + T)
    has = x > 0
    b_x1 = np.where(has, b + x - 1, 1.0)  # b + x - 1 > 0 whenever x >= 1
    A_4 = np.where(has, np.log(a) - np.log(b_x1) - (r + x) * np.log(alpha + t_x), -np.inf)
    return A_1, A_2, A_3, A_4


def bgnbd_loglik(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """BG/NBD log-likelihood of each customer (FHL 2005a, eq. 6).

    Parameters
    ----------
    params : array-like of 4 floats
        ``(r, alpha, a, b)``, all > 0.
    x, t_x, T : array-like
        Repeat purchases, time of the last purchase and age (same time unit as alpha).

    Returns
    -------
    ndarray
        One log-likelihood per row (``-inf`` for impossible rows).

    Examples
    --------
    >>> round(float(bgnbd_loglik([0.243, 4.414, 0.793, 2.426], 2, 30.43, 38.86)[0]), 4)
    -9.4586
    """
    x, t_x, T, ok = _rfm_arrays(x, t_x, T)
    if not _valid_params(params):
        return np.full(x.shape, -np.inf)
    A_1, A_2, A_3, A_4 = _bgnbd_terms(np.asarray(params, dtype=float), x, t_x, T)
    ll = A_1 + A_2 + np.logaddexp(A_3, A_4)
    return np.atleast_1d(np.where(ok, ll, -np.inf))


def bgnbd_loglik_grad(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    r"""Gradient of :func:`bgnbd_loglik` with respect to ``(r, alpha, a, b)``, shape (n, 4).

    With :math:`w_4 = e^{A_4} / (e^{A_3} + e^{A_4})` (zero when x = 0), :math:`w_3 = 1 - w_4`:

    .. math::

        \partial_r &= \psi(r+x) - \psi(r) + \log\alpha
            - w_3\log(\alpha+T) - w_4\log(\alpha+t_x) \\
        \partial_\alpha &= r/\alpha - (r+x)[w_3/(\alpha+T) + w_4/(\alpha+t_x)] \\
        \partial_a &= \psi(a+b) - \psi(a+b+x) + w_4/a \\
        \partial_b &= \psi(a+b) + \psi(b+x) - \psi(b) - \psi(a+b+x) - w_4/(b+x-1)
    """
    x, t_x, T, ok = _rfm_arrays(x, t_x, T)
    out = np.zeros((*np.atleast_1d(x).shape, 4))
    if not _valid_params(params):
        return out
    params = np.asarray(params, dtype=float)
    r, alpha, a, b = params
    _, _, A_3, A_4 = _bgnbd_terms(params, x, t_x, T)
    w_4 = expit(A_4 - A_3)  # 0 where A_4 = -inf
    w_3 = 1.0 - w_4
    has = x > 0
    b_x1 = np.where(has, b + x - 1, 1.0)
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w_3 * np.log(alpha + T)
    d_r -= w_4 * np.log(alpha + t_x)
    d_alpha = r / alpha - (r + x) * (w_3 / (alpha + T) + w_4 / (alpha + t_x))
    d_a = digamma(a + b) - digamma(a + b + x) + w_4 / a
    d_b = digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x) - w_4 / b_x1
    grad = np.stack(np.broadcast_arrays(d_r, d_alpha, d_a, d_b), axis=-1)
    return np.where(np.atleast_1d(ok)[..., None], np.atleast_2d(grad), 0.0)


# --------------------------------------------------------------------------- MBG/NBD
def _mbgnbd_terms(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    r, alpha, a, b = (float(v) for v in params)
    A_1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    A_2 = gammaln(a + b) + gammaln(b + x + 1) - gammaln(b) - gammaln(a + b + x + 1)
    A_3 = -(r + x) * np.log(alpha + T)
    A_4 = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return A_1 + A_2 + A_3, A_4


def mbgnbd_loglik(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """MBG/NBD log-likelihood of each customer (Batislam et al. 2007).

    Parameters and return value as :func:`bgnbd_loglik`. Unlike BG/NBD, a customer
    may drop out at time 0, so customers without repeat purchases also carry the
    dropout term :math:`e^{A_4}`.
    """
    x, t_x, T, ok = _rfm_arrays(x, t_x, T)
    if not _valid_params(params):
        return np.full(x.shape, -np.inf)
    base, A_4 = _mbgnbd_terms(np.asarray(params, dtype=float), x, t_x, T)
    ll = base + np.logaddexp(A_4, 0.0)
    return np.atleast_1d(np.where(ok, ll, -np.inf))


def mbgnbd_loglik_grad(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Gradient of :func:`mbgnbd_loglik` with respect to ``(r, alpha, a, b)``, shape (n, 4)."""
    x, t_x, T, ok = _rfm_arrays(x, t_x, T)
    out = np.zeros((*np.atleast_1d(x).shape, 4))
    if not _valid_params(params):
        return out
    params = np.asarray(params, dtype=float)
    r, alpha, a, b = params
    _, A_4 = _mbgnbd_terms(params, x, t_x, T)
    s = expit(A_4)
    log_ratio = np.log(alpha + T) - np.log(alpha + t_x)
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - np.log(alpha + T) + s * log_ratio
    d_alpha = r / alpha - (r + x) / (alpha + T)
    d_alpha = d_alpha + s * (r + x) * (1.0 / (alpha + T) - 1.0 / (alpha + t_x))
    d_a = digamma(a + b) - digamma(a + b + x + 1) + s / a
    d_b = digamma(a + b) + digamma(b + x + 1) - digamma(b) - digamma(a + b + x + 1) - s / (b + x)
    grad = np.stack(np.broadcast_arrays(d_r, d_alpha, d_a, d_b), axis=-1)
    return np.where(np.atleast_1d(ok)[..., None], np.atleast_2d(grad), 0.0)


# --------------------------------------------------------------------------- Gamma-Gamma
def _gg_arrays(x: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, m = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(m, dtype=float))
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(x) & np.isfinite(m) & (x >= 1) & (x == np.floor(x)) & (m > 0)
    return np.where(ok, x, 1.0), np.where(ok, m, 1.0), ok


def gamma_gamma_loglik(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Gamma-Gamma log-density of each customer's mean spend (Hardie's note 025, eq. 1a).

    Parameters
    ----------
    params : array-like of 3 floats
        ``(p, q, v)``: shape of a transaction's spend, shape and scale (rate in
        FHL's notation, called gamma there) of the customers' spend rates.
    x : array-like
        Repeat purchases (>= 1; customers without repeats carry no spend information).
    m : array-like
        Mean spend of those purchases (> 0).

    Returns
    -------
    ndarray
        One log-likelihood per row (``-inf`` for x < 1 or m <= 0).
    """
    x, m, ok = _gg_arrays(x, m)
    if not _valid_params(params):
        return np.full(x.shape, -np.inf)
    p, q, v = (float(u) for u in params)
    px = p * x
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + v)
    )
    return np.atleast_1d(np.where(ok, ll, -np.inf))


def gamma_gamma_loglik_grad(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Gradient of :func:`gamma_gamma_loglik` with respect to ``(p, q, v)``, shape (n, 3)."""
    x, m, ok = _gg_arrays(x, m)
    out = np.zeros((*np.atleast_1d(x).shape, 3))
    if not _valid_params(params):
        return out
    p, q, v = (float(u) for u in params)
    px = p * x
    log_xm_v = np.log(x * m + v)
    d_p = x * (digamma(px + q) - digamma(px) + np.log(m) + np.log(x) - log_xm_v)
    d_q = digamma(px + q) - digamma(q) + np.log(v) - log_xm_v
    d_v = q / v - (px + q) / (x * m + v)
    grad = np.stack(np.broadcast_arrays(d_p, d_q, d_v), axis=-1)
    return np.where(np.atleast_1d(ok)[..., None], np.atleast_2d(grad), 0.0)


# --------------------------------------------------------------------------- fitting kernels
# Weighted sums of the log-likelihood and its gradient, for the optimiser's hot loop:
# one pass over the rows, no (n, k) gradient matrix, no validity masks (the estimator
# validated the data once). Terms that depend on the data only through the integer x
# (gammaln, digamma) are evaluated once per distinct x with the weights summed per x.
# Same formulas as the per-row functions above (tested equal). BG/NBD's and MBG/NBD's
# live in clvml.models.btyd.bgnbd_kernels (with their exact Hessians).
def weighted_gamma_gamma(
    params: np.ndarray, w: np.ndarray, x: np.ndarray, m: np.ndarray
) -> tuple[float, np.ndarray]:
    """``(sum(w * gamma_gamma_loglik), sum(w * gamma_gamma_loglik_grad, axis=0))``, x >= 1."""
    p, q, v = (float(u) for u in params)
    k, Wk, _ = _per_count(x, w)
    W = float(Wk.sum())
    pk = p * k
    px = p * x
    log_m, log_x, log_xm_v = np.log(m), np.log(x), np.log(x * m + v)
    psi_pkq, psi_pk = digamma(pk + q), digamma(pk)
    value = float(Wk @ (gammaln(pk + q) - gammaln(pk)))
    value += float((w * ((px - 1) * log_m + px * log_x - (px + q) * log_xm_v)).sum())
    value += W * (-gammaln(q) + q * np.log(v))
    d_p = (Wk * k) @ (psi_pkq - psi_pk) + (w * x * (log_m + log_x - log_xm_v)).sum()
    d_q = Wk @ psi_pkq - (w * log_xm_v).sum() + W * (np.log(v) - digamma(q))
    d_v = W * q / v - (w * (px + q) / (x * m + v)).sum()
    return value, np.array([d_p, d_q, d_v])
