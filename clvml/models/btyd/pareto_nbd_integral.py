r"""The Pareto/NBD integral :math:`I`: hypergeometric series or log-convex quadrature.

.. math:: I = \int_{t_x}^T (\alpha+\tau)^{-(r+x)} (\beta+\tau)^{-(s+1)}\, d\tau

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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import hyp2f1, logsumexp

__all__ = ["pareto_nbd_log_integral"]

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
        # G(t_x) is the same for every customer without repeat purchases (t_x = 0):
        # evaluate it once (grid rows with x = 0 < t_x take the general path)
        zero = (x[fast] == 0) & (t_x[fast] == 0)
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
        # diff = 0 (G(T) = G(t_x) in floating point) gives log(0): such rows are not
        # "good" and go to the quadrature below, so the warning would be spurious
        with np.errstate(invalid="ignore", divide="ignore"):
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
