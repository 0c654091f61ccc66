r"""Fitting kernels of BG/NBD and MBG/NBD: value and gradient in one pass, exact Hessian.

Both likelihoods (see :mod:`clvml.models.btyd.likelihoods` for the formulas and
references) have the form

.. math::

    \ell = c(x) + A_3 + \operatorname{softplus}(\delta), \quad
    A_3 = -(r + x)\log(\alpha + T), \quad
    \delta = \log a - \log(b + x - 1 + m) + (r + x)\,[\log(\alpha + T) - \log(\alpha + t_x)],

with ``m = 0`` for BG/NBD (where :math:`\delta = -\infty` when ``x = 0``: no dropout
after zero repeat purchases) and ``m = 1`` for MBG/NBD, and :math:`c(x)` the terms in
the parameters and the whole number ``x`` only (``gammaln``/``digamma``/``polygamma``,
evaluated once per distinct ``x`` with the weights summed per ``x``). Per row the kernel
takes two logarithms, two reciprocals, one exponential and one ``log1p``:
:math:`\operatorname{softplus}(\delta)` and its derivative :math:`\sigma(\delta)` share
:math:`e^{-|\delta|}`. BG/NBD rows without repeat purchases need only
:math:`\log(\alpha + T)` and :math:`1/(\alpha + T)`. Rows are processed in chunks of
``_CHUNK`` so the temporaries stay in cache however many rows there are.

The Hessian is exact: with :math:`\sigma = \sigma(\delta)`,
:math:`\nabla^2 \ell = \nabla^2 c + \nabla^2 A_3 + \sigma \nabla^2\delta
+ \sigma(1 - \sigma)\, \nabla\delta\, \nabla\delta^\top`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln, polygamma

__all__ = [
    "weighted_bgnbd",
    "weighted_bgnbd_hessian",
    "weighted_mbgnbd",
    "weighted_mbgnbd_hessian",
]

#: rows per chunk: the dozen float temporaries of a chunk fit in a 1-2 MiB cache
_CHUNK = 1 << 14


def _per_count(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct whole values ``k`` of ``x``, their summed weights, and ``x`` as int codes.

    ``codes`` index ``k`` (``k[codes] == x``). Rows sorted by ``x`` (as the BG/NBD and
    MBG/NBD fits order them) are read as runs, without a table or a hash.
    """
    if x.size > 1 and bool(np.all(x[1:] >= x[:-1])):
        starts = np.flatnonzero(np.concatenate(([True], x[1:] != x[:-1])))
        runs = np.diff(np.append(starts, x.size))
        return x[starts], np.add.reduceat(w, starts), np.repeat(np.arange(starts.size), runs)
    xi = x.astype(np.int64)
    top = int(xi.max(initial=0))
    if top <= 4 * xi.size + 1000:
        totals = np.bincount(xi, weights=w, minlength=top + 1)
        k = np.flatnonzero(totals)
        pos = np.full(top + 1, -1, dtype=np.int64)
        pos[k] = np.arange(k.size)
        return k.astype(float), totals[k], pos[xi]
    k, inv = np.unique(xi, return_inverse=True)
    return k.astype(float), np.bincount(inv, weights=w), inv


def _split(x: np.ndarray) -> tuple[np.ndarray | slice, np.ndarray | slice]:
    """Rows with ``x == 0`` and with ``x > 0``: slices when they come in that order."""
    zero = x == 0
    n0 = int(np.count_nonzero(zero))
    if zero[:n0].all():
        return slice(0, n0), slice(n0, x.size)
    return zero, ~zero


def _row_sums(
    params: np.ndarray,
    w: np.ndarray,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    log_bx: np.ndarray,
    inv_bx: np.ndarray,
) -> np.ndarray:
    """Weighted row sums of the rows with a dropout term, chunk by chunk.

    ``log_bx`` and ``inv_bx`` are ``log`` and ``1 /`` of ``b + x - 1 + m`` per row. Returns
    ``[sum w (r+x) lT, sum w softplus, sum w lT, sum w s L, sum w (r+x) iT,
    sum w s (r+x) (itx - iT), sum w s, sum w s / (b+x-1+m)]``.
    """
    r, alpha, a, _ = params
    la = np.log(a)
    out = np.zeros(8)
    for lo in range(0, x.size, _CHUNK):
        sl = slice(lo, lo + _CHUNK)
        ww, rx = w[sl], r + x[sl]
        lT = np.log(alpha + T[sl])
        ltx = np.log(alpha + t_x[sl])
        iT = 1.0 / (alpha + T[sl])
        itx = 1.0 / (alpha + t_x[sl])
        L = lT - ltx
        delta = la - log_bx[sl] + rx * L
        E = np.exp(-np.abs(delta))
        sp = np.maximum(delta, 0.0) + np.log1p(E)
        s = np.where(delta > 0, 1.0, E) / (1.0 + E)
        ws = ww * s
        wrx = ww * rx
        out += (
            wrx @ lT,
            ww @ sp,
            ww @ lT,
            ws @ L,
            wrx @ iT,
            (ws * rx) @ (itx - iT),
            ws.sum(),
            ws @ inv_bx[sl],
        )
    return out


def _weighted(
    params: np.ndarray,
    w: np.ndarray,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    modified: bool,
) -> tuple[float, np.ndarray]:
    r, alpha, a, b = (float(v) for v in params)
    k, Wk, codes = _per_count(x, w)
    W = float(Wk.sum())
    m = 1.0 if modified else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_bk = np.log(b + k - 1.0 + m)  # BG/NBD's x = 0 entry is never used
        inv_bk = 1.0 / (b + k - 1.0 + m)
    drop: np.ndarray | slice
    plain: np.ndarray | slice
    if modified:
        drop = slice(0, x.size)
        plain = slice(0, 0)
    else:
        plain, drop = _split(x)
    sums = _row_sums(
        np.array([r, alpha, a, b]),
        w[drop],
        x[drop],
        t_x[drop],
        T[drop],
        log_bk[codes[drop]],
        inv_bk[codes[drop]],
    )
    wrxlT, wsp, wlT, wsL, wrxiT, wsrx_d, ws, ws_ibx = sums
    if not modified:
        # rows without repeat purchases: A_3 = -r log(alpha + T) only
        w0 = w[plain]
        lT0 = np.log(alpha + T[plain])
        wrxlT += r * (w0 @ lT0)
        wlT += w0 @ lT0
        wrxiT += r * (w0 @ (1.0 / (alpha + T[plain])))
    value = float(Wk @ (gammaln(r + k) + gammaln(b + k + m) - gammaln(a + b + k + m)))
    value += W * (-gammaln(r) + r * np.log(alpha) + gammaln(a + b) - gammaln(b))
    value += wsp - wrxlT
    psi_abk = Wk @ digamma(a + b + k + m)
    d_r = Wk @ digamma(r + k) + W * (np.log(alpha) - digamma(r)) - wlT + wsL
    d_alpha = W * r / alpha - wrxiT - wsrx_d
    d_a = ws / a - psi_abk + W * digamma(a + b)
    d_b = Wk @ digamma(b + k + m) - psi_abk - ws_ibx + W * (digamma(a + b) - digamma(b))
    return value, np.array([d_r, d_alpha, d_a, d_b])


def weighted_bgnbd(
    params: np.ndarray, w: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[float, np.ndarray]:
    """``(sum(w * bgnbd_loglik), sum(w * bgnbd_loglik_grad, axis=0))`` for valid rows."""
    return _weighted(params, w, x, t_x, T, modified=False)


def weighted_mbgnbd(
    params: np.ndarray, w: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[float, np.ndarray]:
    """``(sum(w * mbgnbd_loglik), sum(w * mbgnbd_loglik_grad, axis=0))`` for valid rows."""
    return _weighted(params, w, x, t_x, T, modified=True)


def _hessian(
    params: np.ndarray,
    w: np.ndarray,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    modified: bool,
) -> np.ndarray:
    r, alpha, a, b = (float(v) for v in params)
    k, Wk, _ = _per_count(x, w)
    W = float(Wk.sum())
    m = 1.0 if modified else 0.0
    H = np.zeros((4, 4))
    # c(x): gammaln(r+x) - gammaln(r) + r log(alpha) + log B(a, b + x + m) - log B(a, b)
    t_ab, t_abk = polygamma(1, a + b), Wk @ polygamma(1, a + b + k + m)
    H[0, 0] = Wk @ polygamma(1, r + k) - W * polygamma(1, r)
    H[0, 1] = W / alpha
    H[1, 1] = -W * r / alpha**2
    H[2, 2] = H[2, 3] = W * t_ab - t_abk
    H[3, 3] = W * (t_ab - polygamma(1, b)) + Wk @ polygamma(1, b + k + m) - t_abk
    H = np.triu(H) + np.triu(H, 1).T
    for lo in range(0, x.size, _CHUNK):
        sl = slice(lo, lo + _CHUNK)
        H += _row_hessian(r, alpha, a, b, m, modified, w[sl], x[sl], t_x[sl], T[sl])
    return H


def _row_hessian(
    r: float,
    alpha: float,
    a: float,
    b: float,
    m: float,
    modified: bool,
    w: np.ndarray,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
) -> np.ndarray:
    """The rows' part of the Hessian (A_3 and the sigma(delta) terms) for one chunk."""
    H = np.zeros((4, 4))
    # A_3 = -(r + x) log(alpha + T)
    rx = r + x
    iT, itx = 1.0 / (alpha + T), 1.0 / (alpha + t_x)
    H[0, 1] -= w @ iT
    H[1, 1] += (w * rx) @ (iT * iT)
    # sigma(delta) terms, on rows with a dropout term
    has = np.ones(x.size, dtype=bool) if modified else x > 0
    ws, rxs, iTs, itxs = w[has], rx[has], iT[has], itx[has]
    bx = b + x[has] - 1.0 + m
    L = np.log(alpha + T[has]) - np.log(alpha + t_x[has])
    delta = np.log(a) - np.log(bx) + rxs * L
    s = 0.5 * (1.0 + np.tanh(0.5 * delta))  # expit, without overflow
    d = itxs - iTs
    grad_delta = np.stack([L, -rxs * d, np.full(L.shape, 1.0 / a), -1.0 / bx])
    H[0, 1] -= (ws * s) @ d
    H[1, 1] += (ws * s * rxs) @ (itxs * itxs - iTs * iTs)
    H[2, 2] -= (ws @ s) / a**2
    H[3, 3] += (ws * s) @ (1.0 / bx**2)
    H = np.triu(H) + np.triu(H, 1).T
    v = ws * s * (1.0 - s)
    return H + (grad_delta * v) @ grad_delta.T


def weighted_bgnbd_hessian(
    params: np.ndarray, w: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """``sum(w * Hessian of bgnbd_loglik)`` in ``(r, alpha, a, b)``, shape (4, 4)."""
    return _hessian(params, w, x, t_x, T, modified=False)


def weighted_mbgnbd_hessian(
    params: np.ndarray, w: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """``sum(w * Hessian of mbgnbd_loglik)`` in ``(r, alpha, a, b)``, shape (4, 4)."""
    return _hessian(params, w, x, t_x, T, modified=True)
