r"""Pareto/NBD: log-likelihood and predictions as pure, vectorised functions.

The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987): while alive a
customer buys as a Poisson process with rate :math:`\lambda`, and dies after an
exponential lifetime with rate :math:`\mu`; across customers
:math:`\lambda \sim \mathrm{Gamma}(r, \alpha)` and
:math:`\mu \sim \mathrm{Gamma}(s, \beta)`. For a customer with ``x`` repeat
purchases, the last at ``t_x``, observed for ``T`` time units (Fader & Hardie
2005, eq. 18-20),

.. math::

    L(r, \alpha, s, \beta \mid x, t_x, T) =
    \frac{\Gamma(r + x)\, \alpha^r \beta^s}{\Gamma(r)}
    \left[ \frac{1}{(\alpha + T)^{r + x} (\beta + T)^s}
    + s \int_{t_x}^{T} \frac{d\tau}{(\alpha + \tau)^{r + x} (\beta + \tau)^{s + 1}} \right].

The integral :math:`I` is evaluated in :mod:`clvml.models.btyd.pareto_nbd_integral`.

Gradients: :mod:`clvml.models.btyd.pareto_nbd_grad` computes the value and the
analytic gradient together (one quadrature pass) for the optimiser.

References
----------
Schmittlein, D. C., Morrison, D. G. & Colombo, R. (1987). Counting your
customers: who are they and what will they do next? *Management Science* 33(1).

Fader, P. S. & Hardie, B. G. S. (2005). A note on deriving the Pareto/NBD model
and related expressions. http://brucehardie.com/notes/009/

Fader, P. S. & Hardie, B. G. S. (2020). Deriving an expression for P(X(t) = x)
under the Pareto/NBD model. http://brucehardie.com/notes/012/
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import gammaln

from clvml._deprecated import deprecated_alias
from clvml.models.btyd.likelihoods import _valid_rfm
from clvml.models.btyd.pareto_nbd_integral import (
    Params,
    _bisect_level,
    _log_integrate_decreasing,
    _unpack,
    pareto_nbd_log_integral,
)

__all__ = [
    "pareto_nbd_conditional_expected_purchases",
    "pareto_nbd_expected_purchases_new",
    "pareto_nbd_loglik",
    "pareto_nbd_probability_alive",
    "pareto_nbd_probability_of_purchases",
]


def _params_ok(r: float, alpha: float, s: float, beta: float) -> bool:
    vals = np.array([r, alpha, s, beta])
    return bool(np.all(np.isfinite(vals)) and np.all(vals > 0))


def _valid_rows(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Rows that a Pareto/NBD customer can produce (False for NaN as well).

    The counting-model rows of :func:`clvml.models.btyd.likelihoods._valid_rfm`, less
    repeat buyers whose last purchase is at time 0.
    """
    with np.errstate(invalid="ignore"):
        return _valid_rfm(x, t_x, T) & ~((x > 0) & (t_x == 0))


def _log_terms(
    params: Params, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, strict: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log of the 'alive at T' term, log of the 'died in (t_x, T]' term, validity mask).

    ``strict=False`` (predictions) also evaluates the formulas on repeat buyers whose last
    purchase is at time 0, a row of prediction grids that no customer can produce.
    """
    r, alpha, s, beta = _unpack(params)
    valid = _valid_rows(x, t_x, T) if strict else _valid_rfm(x, t_x, T)
    xs = np.where(valid, x, 0.0)
    txs = np.where(valid, t_x, 0.0)
    Ts = np.where(valid, T, 1.0)
    log_alive = -(r + xs) * np.log(alpha + Ts) - s * np.log(beta + Ts)
    log_dead = np.log(s) + pareto_nbd_log_integral(params, xs, txs, Ts)
    return log_alive, log_dead, valid


def _as_arrays(*values: ArrayLike) -> list[np.ndarray]:
    return [np.asarray(v, dtype=float) for v in np.broadcast_arrays(*values)]


def pareto_nbd_loglik(
    params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> NDArray[np.float64]:
    r"""Per-customer Pareto/NBD log-likelihood (Fader & Hardie 2005, eq. 18).

    Parameters
    ----------
    params : sequence of float
        ``(r, alpha, s, beta)``.
    x : array_like
        Number of repeat purchases (integer >= 0).
    t_x : array_like
        Time of the last repeat purchase since the first purchase (0 if ``x == 0``).
    T : array_like
        Time since the first purchase (> 0, >= ``t_x``).

    Returns
    -------
    numpy.ndarray
        Log-likelihood of each row; ``-inf`` for impossible rows (negative or
        non-integer ``x``, ``t_x > T``, ``x > 0`` with ``t_x == 0``, NaN) and for
        parameters that are not finite and positive. Never NaN.

    Examples
    --------
    >>> round(float(pareto_nbd_loglik((0.553, 10.578, 0.606, 11.669), 2, 30.43, 38.86)), 4)
    -9.5543
    """
    x, t_x, T = _as_arrays(x, t_x, T)
    r, alpha, s, beta = _unpack(params)
    if not _params_ok(r, alpha, s, beta):
        return np.full(x.shape, -np.inf)
    log_alive, log_dead, valid = _log_terms(params, x, t_x, T)
    xs = np.where(valid, x, 0.0)
    out = (
        gammaln(r + xs)
        - gammaln(r)
        + r * np.log(alpha)
        + s * np.log(beta)
        + np.logaddexp(log_alive, log_dead)
    )
    out = np.where(valid & ~np.isnan(out), out, -np.inf)
    return out


def pareto_nbd_probability_alive(
    params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> NDArray[np.float64]:
    r"""P(alive at T | x, t_x, T) (Fader & Hardie 2005, eq. 37).

    .. math::

        P(\tau > T) = \frac{(\alpha+T)^{-(r+x)} (\beta+T)^{-s}}
        {(\alpha+T)^{-(r+x)} (\beta+T)^{-s} + s I}

    Evaluated on any row with whole ``x >= 0`` and ``0 <= t_x <= T`` (grid rows no
    customer can produce included, as lifetimes does); NaN otherwise.
    """
    x, t_x, T = _as_arrays(x, t_x, T)
    log_alive, log_dead, valid = _log_terms(params, x, t_x, T, strict=False)
    p = np.exp(log_alive - np.logaddexp(log_alive, log_dead))
    return np.where(valid, p, np.nan)


def _log_expm1_ratio(c: float, y: np.ndarray) -> np.ndarray:
    r"""log of :math:`(1 - e^{-c y}) / c`, continuous at ``c = 0`` (where it is ``log y``)."""
    with np.errstate(divide="ignore"):
        if c == 0.0:
            return np.log(y)
        return np.log(-np.expm1(-c * y) / c)


def pareto_nbd_expected_purchases_new(params: Params, t: ArrayLike) -> NDArray[np.float64]:
    r"""Expected repeat purchases of a new customer in (0, t] (Fader & Hardie 2005, eq. 27).

    .. math::

        E[X(t)] = \frac{r \beta}{\alpha (s - 1)}
        \left[1 - \left(\frac{\beta}{\beta + t}\right)^{s - 1}\right],

    with its limit :math:`(r\beta/\alpha) \log(1 + t/\beta)` at ``s = 1``.
    """
    r, alpha, s, beta = _unpack(params)
    t = np.asarray(t, dtype=float)
    y = np.log1p(np.maximum(t, 0.0) / beta)
    return np.exp(np.log(r) - np.log(alpha) + np.log(beta) + _log_expm1_ratio(s - 1.0, y))


def pareto_nbd_conditional_expected_purchases(
    params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, t: ArrayLike
) -> NDArray[np.float64]:
    r"""Expected repeat purchases in (T, T + t] given the history (Fader & Hardie 2005, eq. 41).

    .. math::

        E[Y(t) \mid x, t_x, T] = P(\text{alive}) \,
        \frac{(r + x)(\beta + T)}{(\alpha + T)(s - 1)}
        \left[1 - \left(\frac{\beta + T}{\beta + T + t}\right)^{s - 1}\right].
    """
    r, alpha, s, beta = _unpack(params)
    x, t_x, T, t = _as_arrays(x, t_x, T, t)
    log_alive, log_dead, valid = _log_terms(params, x, t_x, T, strict=False)
    xs = np.where(valid, x, 0.0)
    Ts = np.where(valid, T, 1.0)
    log_p_alive = log_alive - np.logaddexp(log_alive, log_dead)
    y = np.log1p(np.maximum(t, 0.0) / (beta + Ts))
    log_e = (
        log_p_alive
        + np.log(r + xs)
        - np.log(alpha + Ts)
        + np.log(beta + Ts)
        + _log_expm1_ratio(s - 1.0, y)
    )
    return np.where(valid, np.exp(log_e), np.nan)


def pareto_nbd_probability_of_purchases(
    params: Params, n: ArrayLike, t: ArrayLike
) -> NDArray[np.float64]:
    r"""P(X(t) = n): probability that a new customer makes ``n`` repeat purchases in (0, t].

    Averaging the Poisson count over the lifetime (Fader & Hardie 2020, note 012),

    .. math::

        P(X(t) = n) = \frac{\Gamma(r+n)}{\Gamma(r)\, n!} \alpha^r \beta^s
        \left[ \frac{t^n}{(\alpha+t)^{r+n} (\beta+t)^s}
        + s \int_0^t \frac{\tau^n\, d\tau}{(\alpha+\tau)^{r+n} (\beta+\tau)^{s+1}} \right].

    The integral is evaluated by quadrature in :math:`w = \log \tau`, where the
    integrand is log-concave, rather than with the closed form's alternating
    sum of hypergeometric terms, which cancels catastrophically for large ``n``.
    """
    r, alpha, s, beta = _unpack(params)
    n, t = _as_arrays(n, t)
    shape = n.shape
    n, t = n.ravel(), t.ravel()
    valid = np.isfinite(n) & (n >= 0) & (n == np.round(n)) & np.isfinite(t) & (t > 0)
    ns = np.where(valid, n, 0.0)
    ts = np.where(valid, t, 1.0)
    log_c = gammaln(r + ns) - gammaln(r) - gammaln(ns + 1) + r * np.log(alpha) + s * np.log(beta)
    log_alive = ns * np.log(ts) - (r + ns) * np.log(alpha + ts) - s * np.log(beta + ts)
    log_dead = np.log(s) + _log_pmf_integral(r, alpha, s, beta, ns, ts)
    p = np.exp(log_c + np.logaddexp(log_alive, log_dead))
    p = np.where(valid, p, np.where(np.isfinite(t) & (t == 0), (n == 0).astype(float), np.nan))
    return p.reshape(shape)


def _log_pmf_integral(
    r: float | np.ndarray,
    alpha: float | np.ndarray,
    s: float,
    beta: float | np.ndarray,
    n: np.ndarray,
    t: np.ndarray,
) -> np.ndarray:
    r"""log of :math:`\int_0^t \tau^n (\alpha+\tau)^{-(r+n)} (\beta+\tau)^{-(s+1)} d\tau`.

    ``n`` and ``t`` are 1-d; ``r``, ``alpha`` and ``beta`` are numbers or one per row
    (the conditional PMF shifts them by the customer's history).
    """
    n2 = n[:, None]
    r, alpha, beta = (
        np.broadcast_to(np.asarray(v, dtype=float), n.shape)[:, None] for v in (r, alpha, beta)
    )

    def logf(w: np.ndarray) -> np.ndarray:
        ew = np.exp(w)
        return (n2 + 1) * w - (r + n2) * np.log(alpha + ew) - (s + 1) * np.log(beta + ew)

    def dlogf(w: np.ndarray) -> np.ndarray:
        return (n2 + 1) - (r + n2) / (1 + alpha * np.exp(-w)) - (s + 1) / (1 + beta * np.exp(-w))

    w_hi = np.log(t)[:, None]
    # The integrand is log-concave in w: its derivative falls from n + 1 to -(r + s).
    floor = np.minimum(np.log(alpha), np.log(beta)) - 120.0
    w_lo = np.minimum(floor, w_hi - 1.0)
    mode = _bisect_level(dlogf, w_lo, w_hi, np.zeros_like(w_hi))
    mode = np.where(dlogf(w_hi) >= 0, w_hi, mode)
    # Panels at most ~1 wide near the mode: the integrand has features of width ~1 around
    # log(alpha) and log(beta) that the drop-based panels alone may straddle where it is flat.
    steps = np.arange(1, 33, dtype=float)[None, :]
    right = _log_integrate_decreasing(logf, mode[:, 0], w_hi[:, 0], mode + steps)
    left = _log_integrate_decreasing(lambda w: logf(-w), -mode[:, 0], -w_lo[:, 0], -mode + steps)
    return np.logaddexp(left, right)


#: Deprecated name (one naming rule: ``*_expected_purchases_new`` is E[X(t)] of a new
#: customer, ``*_conditional_expected_purchases`` is E[Y(t) | x, t_x, T]).
pareto_nbd_expected_purchases = deprecated_alias(
    pareto_nbd_expected_purchases_new, "pareto_nbd_expected_purchases"
)
