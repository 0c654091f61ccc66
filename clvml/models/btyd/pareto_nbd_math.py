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

The integral, :math:`I`, is :math:`A_0 / (r + s + x)` in Fader & Hardie's
notation. With :math:`m = \max(\alpha, \beta)`, :math:`a = r + s + x`,
:math:`z_t = |\alpha - \beta| / (m + t)` and ``e`` the exponent of the factor
with the smaller scale (:math:`s + 1` if :math:`\alpha \ge \beta`, else
:math:`r + x`),

.. math::

    I = \frac{G(t_x) - G(T)}{a}, \qquad
    G(t) = \frac{{}_2F_1(a, e; a + 1; z_t)}{(m + t)^{a}}
         = \frac{(1 - z_t)^{1 - e}\, {}_2F_1(1, a + 1 - e; a + 1; z_t)}{(m + t)^{a}},

the second form by Euler's transformation. The transformed series has positive
terms bounded by :math:`z^n`, so it lies in :math:`[1, 1/(1 - z)]` and cannot
overflow however large ``x`` or ``T`` are (the untransformed one overflows for
``x`` in the thousands). It is evaluated with :func:`scipy.special.hyp2f1` where
:math:`z_{t_x} \le 0.85` (beyond 0.9 it loses about 1e-6 relative
precision); the result is checked against those bounds. Rows
with larger ``z``, rows where the subtraction would cancel (``t_x`` close to
``T``) and rows where the check fails are integrated directly: in
:math:`v = \log\{(m + \tau)/(m + t_x)\}` the integrand
:math:`\exp\{-a v - e \log(1 - z_{t_x} e^{-v})\}` is log-convex and
decreasing, so Gauss-Legendre panels placed at equal drops of its logarithm
(found by bisection) resolve the boundary layer at :math:`\tau = t_x` to
machine precision. Both branches (:math:`\alpha \ge \beta` and
:math:`\alpha < \beta`) go through the same code, with ``e`` and ``m`` chosen
per branch, and :math:`\alpha = \beta` gives :math:`z = 0`, where the
hypergeometric function is 1.

Gradients: none analytic here; :class:`clvml.models.btyd.pareto_nbd.ParetoNBD`
differentiates numerically (central differences on log-parameters).

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

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import gammaln, hyp2f1, logsumexp

__all__ = [
    "pareto_nbd_conditional_expected_purchases",
    "pareto_nbd_expected_purchases",
    "pareto_nbd_log_integral",
    "pareto_nbd_loglik",
    "pareto_nbd_probability_alive",
    "pareto_nbd_probability_of_purchases",
]

Params = Sequence[float] | NDArray[np.float64]

#: Rows whose z at t_x is above this are integrated by quadrature (hyp2f1 converges slowly there).
_Z_FAST = 0.85
#: Rows with G(T)/G(t_x) above this are integrated by quadrature (the subtraction would cancel).
_RATIO_FAST = 0.99
#: Gauss-Legendre nodes and weights on [0, 1] used in every panel.
_GL_X, _GL_W = np.polynomial.legendre.leggauss(10)
_GL_X = 0.5 * (_GL_X + 1.0)
_GL_W = 0.5 * _GL_W
#: Panels are placed at drops of the log-integrand of _DROP nats, down to _DEPTH nats.
_DROP = 3.0
_DEPTH = 39.0


def _unpack(params: Params) -> tuple[float, float, float, float]:
    r, alpha, s, beta = (float(p) for p in params)
    return r, alpha, s, beta


def _params_ok(r: float, alpha: float, s: float, beta: float) -> bool:
    vals = np.array([r, alpha, s, beta])
    return bool(np.all(np.isfinite(vals)) and np.all(vals > 0))


def _valid_rows(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Rows that a Pareto/NBD customer can produce (False for NaN as well)."""
    with np.errstate(invalid="ignore"):
        return (
            np.isfinite(x)
            & np.isfinite(t_x)
            & np.isfinite(T)
            & (x >= 0)
            & (x == np.round(x))
            & (t_x >= 0)
            & (T > 0)
            & (t_x <= T)
            & ~((x > 0) & (t_x == 0))
        )


def _bisect_level(
    logf: Callable[[np.ndarray], np.ndarray],
    lo: np.ndarray,
    hi: np.ndarray,
    level: np.ndarray,
    n_iter: int = 26,
) -> np.ndarray:
    """Where a decreasing ``logf`` crosses ``level`` in [lo, hi] (elementwise bisection)."""
    a, b = lo.copy(), hi.copy()
    for _ in range(n_iter):
        mid = 0.5 * (a + b)
        above = logf(mid) > level
        a = np.where(above, mid, a)
        b = np.where(above, b, mid)
    return 0.5 * (a + b)


def _log_integrate_decreasing(
    logf: Callable[[np.ndarray], np.ndarray],
    lo: np.ndarray,
    hi: np.ndarray,
    extra_edges: np.ndarray | None = None,
) -> np.ndarray:
    r"""log of :math:`\int_{lo}^{hi} e^{f(u)} du` for ``f`` decreasing on [lo, hi].

    ``logf`` maps an array of shape ``(n, k)`` (column ``i`` of row ``j`` a point
    of row ``j``'s integrand) to the same shape. Panel edges sit where ``f`` has
    dropped by 0, ``_DROP``, 2 ``_DROP``, ... nats below ``f(lo)``, plus the
    caller's ``extra_edges`` (shape ``(n, k)``; e.g. a geometric grading towards
    a nearby singularity), so every panel holds a smooth piece the 10-point
    Gauss-Legendre rule integrates to rounding error; the part more than
    ``_DEPTH`` nats down is below 1e-18 of the total and is left out.
    """
    lo = lo[:, None]
    hi = hi[:, None]
    f0 = logf(lo)
    levels = f0 - np.arange(1, int(_DEPTH / _DROP) + 1) * _DROP
    f_hi = logf(hi)
    hi_b = np.broadcast_to(hi, levels.shape)
    lo_b = np.broadcast_to(lo, levels.shape)
    crossed = levels > f_hi
    edges = np.where(crossed, _bisect_level(logf, lo_b, hi_b, levels), hi_b)
    if extra_edges is not None:
        # Grading edges past the deepest level crossing would only add negligible panels.
        stop = np.where(crossed[:, -1:], edges[:, -1:], hi)
        edges = np.concatenate([edges, np.clip(extra_edges, lo, stop)], axis=1)
        edges.sort(axis=1)
    edges = np.concatenate([lo, edges], axis=1)
    left, right = edges[:, :-1], edges[:, 1:]
    width = right - left
    nodes = left[:, :, None] + width[:, :, None] * _GL_X
    with np.errstate(divide="ignore"):
        logw = np.log(np.maximum(width, 0.0))[:, :, None] + np.log(_GL_W)
        terms = logf(nodes.reshape(len(nodes), -1)).reshape(nodes.shape) + logw
    return logsumexp(terms.reshape(len(nodes), -1), axis=1)


def _log_integral_quadrature(
    a: np.ndarray,
    e: np.ndarray,
    z: np.ndarray,
    w: np.ndarray,
    m_tx: np.ndarray,
    m_T: np.ndarray,
) -> np.ndarray:
    r"""log I by quadrature in :math:`v = \log\{(m + \tau) / (m + t_x)\}`.

    ``w`` is :math:`1 - z_{t_x}`, computed by the caller without cancellation; the
    integrand's :math:`1 - z e^{-v}` is evaluated as :math:`w + z(1 - e^{-v})`,
    which keeps full relative precision when ``z`` is within rounding of 1.
    """
    V = np.log(m_T) - np.log(m_tx)
    a2, e2, z2, w2 = a[:, None], e[:, None], z[:, None], w[:, None]

    # Grade panels geometrically towards the singularity of log(1 - z e^{-v}) at v = log z,
    # from a quarter of its distance up to V; rows are grouped by how many doublings
    # they need, so that rows far from the singularity carry no empty panels.
    with np.errstate(divide="ignore"):
        scale = np.minimum(-np.log1p(-w), 1.0) / 4.0
        need = np.ceil(np.log2(np.maximum(V / scale, 1.0))).astype(int) + 1
    out = np.empty_like(V)
    low = 0
    for cap in (4, 12, 24, None):
        rows = need > low if cap is None else (need > low) & (need <= cap)
        low = cap or 0
        if not rows.any():
            continue
        grading = scale[rows, None] * 2.0 ** np.arange(int(need[rows].max()))
        a_r, e_r, z_r, w_r = a2[rows], e2[rows], z2[rows], w2[rows]

        def logf(v: np.ndarray, a_r=a_r, e_r=e_r, z_r=z_r, w_r=w_r) -> np.ndarray:
            return -a_r * v - e_r * np.log(w_r - z_r * np.expm1(-v))

        out[rows] = _log_integrate_decreasing(logf, np.zeros(rows.sum()), V[rows], grading)
    return out - a * np.log(m_tx)


def _log_G(
    a: np.ndarray, e: np.ndarray, z: np.ndarray, w: np.ndarray, m_t: np.ndarray
) -> np.ndarray:
    """log G(t) via Euler's transformation and scipy's hyp2f1 (NaN where it cannot be trusted).

    ``w`` is ``1 - z`` computed without cancellation.
    """
    f = hyp2f1(1.0, a + 1.0 - e, a + 1.0, z)
    with np.errstate(divide="ignore"):
        upper = 1.0 / w
    ok = np.isfinite(f) & (f >= 1.0 - 1e-12) & (f <= upper * (1.0 + 1e-12))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = -a * np.log(m_t) + (1.0 - e) * np.log(w) + np.log(f)
    return np.where(ok, out, np.nan)


def pareto_nbd_log_integral(
    params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> NDArray[np.float64]:
    r"""log of :math:`I = \int_{t_x}^T (\alpha+\tau)^{-(r+x)} (\beta+\tau)^{-(s+1)} d\tau`.

    Parameters
    ----------
    params : sequence of float
        ``(r, alpha, s, beta)``, all > 0.
    x, t_x, T : array_like
        Frequency, recency and age; valid rows are assumed (see
        :func:`pareto_nbd_loglik`, which screens them).

    Returns
    -------
    numpy.ndarray
        ``log I`` (``-inf`` where ``t_x == T``).
    """
    r, alpha, s, beta = _unpack(params)
    x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, t_x, T)))
    shape = x.shape
    x, t_x, T = x.ravel(), t_x.ravel(), T.ravel()
    m = max(alpha, beta)
    d = abs(alpha - beta)
    a = r + s + x
    e = np.full_like(x, s + 1.0) if alpha >= beta else r + x
    m_tx, m_T = m + t_x, m + T
    z_tx, z_T = d / m_tx, d / m_T
    w_tx, w_T = (min(alpha, beta) + t_x) / m_tx, (min(alpha, beta) + T) / m_T  # 1 - z
    out = np.full(x.shape, -np.inf)
    pos = t_x < T
    fast = pos & (z_tx <= _Z_FAST)
    if np.any(fast):
        # G(t_x) is the same for every customer without repeat purchases: evaluate it once
        zero = x[fast] == 0
        g1 = np.empty(zero.size)
        if zero.any():
            first = np.flatnonzero(fast)[np.argmax(zero)]
            g1[zero] = _log_G(a[[first]], e[[first]], z_tx[[first]], w_tx[[first]], m_tx[[first]])
        if not zero.all():
            rep = np.flatnonzero(fast)[~zero]
            g1[~zero] = _log_G(a[rep], e[rep], z_tx[rep], w_tx[rep], m_tx[rep])
        g2 = _log_G(a[fast], e[fast], z_T[fast], w_T[fast], m_T[fast])
        diff = g2 - g1
        good = np.isfinite(diff) & (diff < np.log(_RATIO_FAST))
        with np.errstate(invalid="ignore"):
            val = g1 + np.log(-np.expm1(diff)) - np.log(a[fast])
        idx = np.flatnonzero(fast)
        out[idx[good]] = val[good]
        fast[idx[~good]] = False
    slow = pos & ~fast
    if np.any(slow):
        out[slow] = _log_integral_quadrature(
            a[slow], e[slow], z_tx[slow], w_tx[slow], m_tx[slow], m_T[slow]
        )
    return out.reshape(shape)


def _log_terms(
    params: Params, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log of the 'alive at T' term, log of the 'died in (t_x, T]' term, validity mask)."""
    r, alpha, s, beta = _unpack(params)
    valid = _valid_rows(x, t_x, T)
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

    Returns NaN for impossible rows (there is no probability to report); the
    estimators validate their input first.
    """
    x, t_x, T = _as_arrays(x, t_x, T)
    log_alive, log_dead, valid = _log_terms(params, x, t_x, T)
    p = np.exp(log_alive - np.logaddexp(log_alive, log_dead))
    return np.where(valid, p, np.nan)


def _log_expm1_ratio(c: float, y: np.ndarray) -> np.ndarray:
    r"""log of :math:`(1 - e^{-c y}) / c`, continuous at ``c = 0`` (where it is ``log y``)."""
    with np.errstate(divide="ignore"):
        if c == 0.0:
            return np.log(y)
        return np.log(-np.expm1(-c * y) / c)


def pareto_nbd_expected_purchases(params: Params, t: ArrayLike) -> NDArray[np.float64]:
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
    log_alive, log_dead, valid = _log_terms(params, x, t_x, T)
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
    r: float, alpha: float, s: float, beta: float, n: np.ndarray, t: np.ndarray
) -> np.ndarray:
    r"""log of :math:`\int_0^t \tau^n (\alpha+\tau)^{-(r+n)} (\beta+\tau)^{-(s+1)} d\tau`."""
    n2 = n[:, None]

    def logf(w: np.ndarray) -> np.ndarray:
        ew = np.exp(w)
        return (n2 + 1) * w - (r + n2) * np.log(alpha + ew) - (s + 1) * np.log(beta + ew)

    def dlogf(w: np.ndarray) -> np.ndarray:
        return (n2 + 1) - (r + n2) / (1 + alpha * np.exp(-w)) - (s + 1) / (1 + beta * np.exp(-w))

    w_hi = np.log(t)[:, None]
    # The integrand is log-concave in w: its derivative falls from n + 1 to -(r + s).
    floor = min(np.log(alpha), np.log(beta)) - 120.0
    w_lo = np.minimum(floor, w_hi - 1.0)
    mode = _bisect_level(dlogf, w_lo, w_hi, np.zeros_like(w_hi))
    mode = np.where(dlogf(w_hi) >= 0, w_hi, mode)
    # Panels at most ~1 wide near the mode: the integrand has features of width ~1 around
    # log(alpha) and log(beta) that the drop-based panels alone may straddle where it is flat.
    steps = np.arange(1, 33, dtype=float)[None, :]
    right = _log_integrate_decreasing(logf, mode[:, 0], w_hi[:, 0], mode + steps)
    left = _log_integrate_decreasing(lambda w: logf(-w), -mode[:, 0], -w_lo[:, 0], -mode + steps)
    return np.logaddexp(left, right)
