r"""BG/BB: log-likelihood (with analytic gradient) and predictions as pure functions.

The beta-geometric/beta-binomial model (Fader, Hardie & Shang 2010) for discrete
transaction opportunities: while alive, a customer transacts at each opportunity
with probability :math:`p \sim \text{Beta}(\alpha, \beta)`; at the start of each
opportunity an alive customer dies with probability :math:`\theta \sim
\text{Beta}(\gamma, \delta)`. For ``x`` transactions in ``n`` opportunities, the
last at opportunity ``t_x`` (eq. 5),

.. math::

    L(\alpha, \beta, \gamma, \delta \mid x, t_x, n) =
    \frac{B(\alpha + x, \beta + n - x)}{B(\alpha, \beta)}
    \frac{B(\gamma, \delta + n)}{B(\gamma, \delta)}
    + \sum_{i=0}^{n - t_x - 1}
    \frac{B(\alpha + x, \beta + t_x - x + i)}{B(\alpha, \beta)}
    \frac{B(\gamma + 1, \delta + t_x + i)}{B(\gamma, \delta)}.

Every term is positive, so the log-likelihood is a log-sum-exp of ``betaln``
terms (no cancellation); its gradient is the softmax-weighted sum of the terms'
digamma gradients. The sum runs over opportunities (vectorised over rows, in
chunks of rows to bound memory), never over customers.

References
----------
Fader, P. S., Hardie, B. G. S. & Shang, J. (2010). Customer-base analysis in a
discrete-time noncontractual setting. *Marketing Science* 29(6), 1086-1108.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaln, digamma, gammaln, logsumexp, polygamma

from clvml._deprecated import deprecated_alias

__all__ = [
    "bgbb_conditional_expected_purchases",
    "bgbb_expected_purchases_new",
    "bgbb_loglik",
    "bgbb_loglik_grad",
    "bgbb_probability_alive",
    "bgbb_probability_of_purchases",
]

Params = Sequence[float] | NDArray[np.float64]

#: Largest number of (row, opportunity) cells held in memory at once.
_CELLS = 2_000_000


def _unpack(params: Params) -> tuple[float, float, float, float]:
    alpha, beta, gamma, delta = (float(p) for p in params)
    return alpha, beta, gamma, delta


def _params_ok(params: Params) -> bool:
    vals = np.asarray(params, dtype=float)
    return bool(np.all(np.isfinite(vals)) and np.all(vals > 0))


def _as_arrays(*values: ArrayLike) -> list[np.ndarray]:
    return [np.asarray(v, dtype=float) for v in np.broadcast_arrays(*values)]


def _valid_rows(x: np.ndarray, t_x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Rows a BG/BB customer can produce: whole 0 <= x <= t_x <= n, x = 0 iff t_x = 0."""
    with np.errstate(invalid="ignore"):
        whole = (x == np.round(x)) & (t_x == np.round(t_x)) & (n == np.round(n))
        return (
            np.isfinite(x)
            & np.isfinite(t_x)
            & np.isfinite(n)
            & whole
            & (x >= 0)
            & (x <= t_x)
            & (t_x <= n)
            & ((x == 0) == (t_x == 0))
        )


def _chunks(size: int, width: int) -> list[slice]:
    step = max(1, _CELLS // max(width, 1))
    return [slice(i, min(i + step, size)) for i in range(0, size, step)]


def _terms(
    params: Params, x: np.ndarray, t_x: np.ndarray, n: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """log of the 'alive at n' term (shape (m,)) and of the sum's terms (shape (m, width))."""
    alpha, beta, gamma, delta = _unpack(params)
    log_ab, log_gd = betaln(alpha, beta), betaln(gamma, delta)
    log_a = betaln(alpha + x, beta + n - x) - log_ab + betaln(gamma, delta + n) - log_gd
    i = np.arange(width, dtype=float)[None, :]
    gap = (n - t_x)[:, None]
    x2, tx2 = x[:, None], t_x[:, None]
    with np.errstate(invalid="ignore"):
        log_b = (
            betaln(alpha + x2, beta + tx2 - x2 + i)
            - log_ab
            + betaln(gamma + 1, delta + tx2 + i)
            - log_gd
        )
    log_b = np.where(i < gap, log_b, -np.inf)
    return log_a, log_b


def _prepared(
    x: ArrayLike, t_x: ArrayLike, n: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[int, ...]]:
    x, t_x, n = _as_arrays(x, t_x, n)
    shape = x.shape
    x, t_x, n = x.ravel(), t_x.ravel(), n.ravel()
    valid = _valid_rows(x, t_x, n)
    return (
        np.where(valid, x, 0.0),
        np.where(valid, t_x, 0.0),
        np.where(valid, n, 0.0),
        valid,
        shape,
    )


def bgbb_loglik(params: Params, x: ArrayLike, t_x: ArrayLike, n: ArrayLike) -> NDArray[np.float64]:
    r"""Per-customer BG/BB log-likelihood (Fader, Hardie & Shang 2010, eq. 5).

    Parameters
    ----------
    params : sequence of float
        ``(alpha, beta, gamma, delta)``.
    x : array_like
        Number of opportunities with a transaction (``frequency``).
    t_x : array_like
        Opportunity of the last transaction (``recency``; 0 if ``x == 0``).
    n : array_like
        Number of opportunities observed (``n_periods``).

    Returns
    -------
    numpy.ndarray
        ``-inf`` for impossible rows (not whole numbers, ``x > t_x``, ``t_x > n``,
        ``x == 0`` with ``t_x > 0`` or the reverse, NaN) and for non-positive
        parameters; never NaN.

    Examples
    --------
    >>> round(float(bgbb_loglik((1.204, 0.750, 0.657, 2.783), 3, 5, 6)), 4)
    -5.6159
    """
    xs, txs, ns, valid, shape = _prepared(x, t_x, n)
    if not _params_ok(params) or xs.size == 0:
        return np.full(shape, -np.inf)
    width = int(np.max(ns - txs, initial=0))
    out = np.empty(xs.size)
    for sl in _chunks(xs.size, width):
        log_a, log_b = _terms(params, xs[sl], txs[sl], ns[sl], width)
        out[sl] = np.logaddexp(log_a, logsumexp(log_b, axis=1)) if width else log_a
    out = np.where(valid & ~np.isnan(out), out, -np.inf)
    return out.reshape(shape)


def bgbb_loglik_grad(
    params: Params, x: ArrayLike, t_x: ArrayLike, n: ArrayLike
) -> NDArray[np.float64]:
    """Gradient of :func:`bgbb_loglik` with respect to ``(alpha, beta, gamma, delta)``.

    Returns an array of shape ``(rows, 4)``; zero rows for impossible data.
    """
    alpha, beta, gamma, delta = _unpack(params)
    xs, txs, ns, valid, shape = _prepared(x, t_x, n)
    grad = np.zeros((xs.size, 4))
    if not _params_ok(params) or xs.size == 0:
        return grad.reshape((*shape, 4))
    width = int(np.max(ns - txs, initial=0))
    d_ab, d_a, d_b = digamma(alpha + beta), digamma(alpha), digamma(beta)
    d_gd, d_g, d_d = digamma(gamma + delta), digamma(gamma), digamma(delta)
    for sl in _chunks(xs.size, width):
        x1, tx1, n1 = xs[sl], txs[sl], ns[sl]
        log_a, log_b = _terms(params, x1, tx1, n1, width)
        total = np.logaddexp(log_a, logsumexp(log_b, axis=1)) if width else log_a
        w_a = np.exp(log_a - total)
        ga = np.stack(
            [
                digamma(alpha + x1) - digamma(alpha + beta + n1) - d_a + d_ab,
                digamma(beta + n1 - x1) - digamma(alpha + beta + n1) - d_b + d_ab,
                d_gd - digamma(gamma + delta + n1),
                digamma(delta + n1) - digamma(gamma + delta + n1) - d_d + d_gd,
            ],
            axis=1,
        )
        g = w_a[:, None] * ga
        if width:
            w_b = np.exp(log_b - total[:, None])
            i = np.arange(width, dtype=float)[None, :]
            x2, tx2 = x1[:, None], tx1[:, None]
            j = np.where(w_b > 0, tx2 + i, 0.0)
            d_abj = digamma(alpha + beta + j)
            d_gdj = digamma(gamma + delta + j + 1)
            g[:, 0] += np.sum(w_b * (digamma(alpha + x2) - d_abj - d_a + d_ab), axis=1)
            g[:, 1] += np.sum(
                w_b * (digamma(beta + np.maximum(j - x2, 0.0)) - d_abj - d_b + d_ab), axis=1
            )
            g[:, 2] += np.sum(w_b * (digamma(gamma + 1) - d_gdj - d_g + d_gd), axis=1)
            g[:, 3] += np.sum(w_b * (digamma(delta + j) - d_gdj - d_d + d_gd), axis=1)
        grad[sl] = g
    grad[~valid] = 0.0
    return grad.reshape((*shape, 4))


def bgbb_probability_alive(
    params: Params, x: ArrayLike, t_x: ArrayLike, n: ArrayLike, m: ArrayLike = 0
) -> NDArray[np.float64]:
    r"""P(alive at opportunity n + m | x, t_x, n) (Fader, Hardie & Shang 2010, eq. 11).

    .. math::

        \frac{B(\alpha + x, \beta + n - x)}{B(\alpha, \beta)}
        \frac{B(\gamma, \delta + n + m)}{B(\gamma, \delta)} \Big/ L

    ``m = 0`` is the probability of being alive at the last observed opportunity
    (``lifetimes``' ``conditional_probability_alive(0, ...)``); ``m = 1`` is the
    paper's "alive in the next period" (its Table 6). NaN for impossible rows.
    """
    alpha, beta, gamma, delta = _unpack(params)
    x, t_x, n, m_arr = _as_arrays(x, t_x, n, m)
    xs, txs, ns, valid, shape = _prepared(x, t_x, n)
    m_arr = m_arr.ravel()
    log_num = (
        betaln(alpha + xs, beta + ns - xs)
        - betaln(alpha, beta)
        + betaln(gamma, delta + ns + m_arr)
        - betaln(gamma, delta)
    )
    p = np.exp(log_num - bgbb_loglik(params, xs, txs, ns))
    return np.where(valid, p, np.nan).reshape(shape)


def _gamma_ratio_difference(J: np.ndarray, K: np.ndarray, c: float) -> np.ndarray:
    r"""log of :math:`[\Gamma(J)/\Gamma(J + c) - \Gamma(K)/\Gamma(K + c)] / c` for ``K >= J > 0``.

    Continuous through ``c = 0`` (the bracket vanishes with ``c``): for ``|c| < 0.01``
    the log-gamma differences are replaced by their polygamma series, whose first
    term, :math:`\psi(K) - \psi(J)`, is the limit at ``c = 0``.
    """
    g_j = gammaln(J) - gammaln(J + c)
    if abs(c) >= 0.01:
        g_k = gammaln(K) - gammaln(K + c)
        with np.errstate(divide="ignore"):
            return g_j + np.log(-np.expm1(g_k - g_j) / c)
    # (lgamma(K + c) - lgamma(K)) - (lgamma(J + c) - lgamma(J)) = c * q
    q = np.zeros_like(J)
    fact = 1.0
    for k in range(1, 9):
        fact *= k
        q += c ** (k - 1) / fact * (polygamma(k - 1, K) - polygamma(k - 1, J))
    cq = c * q
    ratio = np.where(cq == 0, 1.0, -np.expm1(-cq) / np.where(cq == 0, 1.0, cq))
    with np.errstate(divide="ignore"):
        return g_j + np.log(q) + np.log(ratio)


def bgbb_expected_purchases_new(params: Params, n: ArrayLike) -> NDArray[np.float64]:
    r"""Expected transactions of a new customer in the first ``n`` opportunities (eq. 9).

    .. math::

        E[X(n)] = \frac{\alpha}{\alpha + \beta} \frac{\delta}{\gamma - 1}
        \left[1 - \frac{\Gamma(\gamma + \delta)}{\Gamma(1 + \delta)}
        \frac{\Gamma(1 + \delta + n)}{\Gamma(\gamma + \delta + n)}\right],

    evaluated continuously through :math:`\gamma = 1`.
    """
    alpha, beta, gamma, delta = _unpack(params)
    n = np.asarray(n, dtype=float)
    J = np.broadcast_to(np.asarray(1.0 + delta), n.shape).astype(float)
    log_h = _gamma_ratio_difference(J, 1.0 + delta + n, gamma - 1.0)
    log_pre = (
        np.log(alpha)
        - np.log(alpha + beta)
        + np.log(delta)
        + gammaln(gamma + delta)
        - gammaln(1.0 + delta)
    )
    return np.where(n > 0, np.exp(log_pre + log_h), 0.0)


def bgbb_conditional_expected_purchases(
    params: Params, x: ArrayLike, t_x: ArrayLike, n: ArrayLike, t: ArrayLike
) -> NDArray[np.float64]:
    r"""Expected transactions in the next ``t`` opportunities given the history (eq. 13).

    .. math::

        E[X(n, n + t) \mid x, t_x, n] = \frac{1}{L}
        \frac{B(\alpha + x + 1, \beta + n - x)}{B(\alpha, \beta)}
        \frac{\delta}{\gamma - 1} \frac{\Gamma(\gamma + \delta)}{\Gamma(1 + \delta)}
        \left[\frac{\Gamma(1 + \delta + n)}{\Gamma(\gamma + \delta + n)}
        - \frac{\Gamma(1 + \delta + n + t)}{\Gamma(\gamma + \delta + n + t)}\right]
    """
    alpha, beta, gamma, delta = _unpack(params)
    x, t_x, n, t_arr = _as_arrays(x, t_x, n, t)
    xs, txs, ns, valid, shape = _prepared(x, t_x, n)
    t_arr = t_arr.ravel()
    log_h = _gamma_ratio_difference(1.0 + delta + ns, 1.0 + delta + ns + t_arr, gamma - 1.0)
    log_e = (
        betaln(alpha + xs + 1, beta + ns - xs)
        - betaln(alpha, beta)
        + np.log(delta)
        + gammaln(gamma + delta)
        - gammaln(1.0 + delta)
        + log_h
        - bgbb_loglik(params, xs, txs, ns)
    )
    out = np.where(t_arr > 0, np.exp(log_e), 0.0)
    return np.where(valid, out, np.nan).reshape(shape)


def bgbb_probability_of_purchases(
    params: Params, x: ArrayLike, n: ArrayLike
) -> NDArray[np.float64]:
    r"""P(X(n) = x): probability of ``x`` transactions in the first ``n`` opportunities (eq. 7).

    .. math::

        \binom{n}{x} \frac{B(\alpha + x, \beta + n - x)}{B(\alpha, \beta)}
        \frac{B(\gamma, \delta + n)}{B(\gamma, \delta)}
        + \sum_{i=x}^{n-1} \binom{i}{x} \frac{B(\alpha + x, \beta + i - x)}{B(\alpha, \beta)}
        \frac{B(\gamma + 1, \delta + i)}{B(\gamma, \delta)}
    """
    alpha, beta, gamma, delta = _unpack(params)
    x, n = _as_arrays(x, n)
    shape = x.shape
    x, n = x.ravel(), n.ravel()
    valid = (x >= 0) & (n >= 0) & (x == np.round(x)) & (n == np.round(n)) & (x <= n)
    xs, ns = np.where(valid, x, 0.0), np.where(valid, n, 0.0)
    log_ab, log_gd = betaln(alpha, beta), betaln(gamma, delta)

    def log_binom(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)

    log_first = (
        log_binom(ns, xs)
        + betaln(alpha + xs, beta + ns - xs)
        - log_ab
        + betaln(gamma, delta + ns)
        - log_gd
    )
    width = int(np.max(ns - xs, initial=0))
    out = np.empty(xs.size)
    for sl in _chunks(xs.size, width):
        x2, n2 = xs[sl, None], ns[sl, None]
        i = x2 + np.arange(width, dtype=float)[None, :]
        with np.errstate(invalid="ignore"):
            terms = (
                log_binom(i, x2)
                + betaln(alpha + x2, beta + i - x2)
                - log_ab
                + betaln(gamma + 1, delta + i)
                - log_gd
            )
        terms = np.where(i < n2, terms, -np.inf)
        rest = logsumexp(terms, axis=1) if width else np.full(x2.shape[0], -np.inf)
        out[sl] = np.exp(np.logaddexp(log_first[sl], rest))
    out = np.where(valid, out, np.where(np.isfinite(x) & np.isfinite(n), 0.0, np.nan))
    return out.reshape(shape)


#: Deprecated name (one naming rule: ``*_expected_purchases_new`` is E[X(t)] of a new
#: customer, ``*_conditional_expected_purchases`` is E[Y(t) | x, t_x, T]).
bgbb_expected_purchases = deprecated_alias(bgbb_expected_purchases_new, "bgbb_expected_purchases")
