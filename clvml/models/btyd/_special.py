"""Guarded special functions shared by the BTYD prediction formulas."""

from __future__ import annotations

import numpy as np
from scipy.special import betainc, hyp2f1

from clvml.models.btyd.alive_quadrature import alive_purchases_quadrature
from clvml.models.btyd.rows import compress_rows

__all__ = [
    "alive_expectation",
    "alive_purchases_quadrature",
    "nbd_tail",
    "one_minus_power_hyp2f1",
]


def one_minus_power_hyp2f1(
    A: np.ndarray | float,
    B: np.ndarray | float,
    C: np.ndarray | float,
    z: np.ndarray | float,
    power: np.ndarray | float,
    *,
    dedupe: bool = True,
) -> np.ndarray:
    r"""Evaluate :math:`1 - (1 - z)^{\text{power}}\, {}_2F_1(A, B; C; z)` for ``0 <= z < 1``.

    The BG/NBD and MBG/NBD expectations are written here after Euler's transformation
    :math:`{}_2F_1(a, b; c; z) = (1-z)^{c-a-b}\, {}_2F_1(c-a, c-b; c; z)`, which turns
    the large-argument series of the papers (parameters growing with x) into one whose
    parameters stay moderate, so the product is evaluated in log space without overflow.
    Where Euler's series alternates (A < 0) only the untransformed series is used;
    failures give ``nan`` for the caller to flag (and integrate numerically).

    ``hyp2f1`` is the expensive part, and in the BTYD formulas its arguments depend on
    the data only through (x, T), not t_x: large inputs are therefore evaluated once per
    distinct argument tuple.
    """
    A, B, C, z, power = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (A, B, C, z, power))
    )
    if dedupe and C.size > 256:
        args = (A.ravel(), B.ravel(), C.ravel(), z.ravel(), power.ravel())
        varying = tuple(v for v in args if v.min() != v.max())
        if varying:
            _, _, inverse = compress_rows(varying)
            first = np.zeros(int(inverse.max()) + 1, dtype=np.int64)
            first[inverse[::-1]] = np.arange(inverse.size - 1, -1, -1)
            if first.size < 0.8 * C.size:
                unique = one_minus_power_hyp2f1(*(v[first] for v in args), dedupe=False)
                return unique[inverse].reshape(C.shape)
    # Two equal forms: Euler's, 2F1(A, B; C; z), and the papers' (1-z)^(C-A-B) 2F1(C-A, C-B;
    # C; z). With A < 0 Euler's series alternates and cancels catastrophically when |A| is
    # large (r >> a + b), so there only the papers' all-positive series is trusted; with
    # A >= 0 Euler's goes first and the papers' is its fallback. What neither gives comes
    # back non-finite and the caller integrates numerically instead.
    log1mz = np.log1p(-z)
    log_F = np.full(A.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        use_euler = A >= 0
        if use_euler.any():
            log_F[use_euler] = _log_hyp2f1(
                A[use_euler], B[use_euler], C[use_euler], z[use_euler], log1mz[use_euler], True
            )
        rest = ~np.isfinite(log_F)
        if rest.any():
            log_F[rest] = _log_hyp2f1(A[rest], B[rest], C[rest], z[rest], log1mz[rest], False)
        log_term = power * log1mz + log_F
    return -np.expm1(log_term)


def _log_hyp2f1(
    A: np.ndarray, B: np.ndarray, C: np.ndarray, z: np.ndarray, log1mz: np.ndarray, euler: bool
) -> np.ndarray:
    """log 2F1(A, B; C; z) directly (``euler``) or as (1-z)^(C-A-B) 2F1(C-A, C-B; C; z)."""
    if euler:
        return np.log(hyp2f1(A, B, C, z))
    return np.log(hyp2f1(C - A, C - B, C, z)) + (C - A - B) * log1mz


def nbd_tail(x: np.ndarray, r: float, alpha: float, t: np.ndarray) -> np.ndarray:
    r"""P(N >= x) for N ~ NBD(r, alpha) over a period of length t (0 for t = 0 and x > 0).

    .. math:: 1 - \left(\frac{\alpha}{\alpha+t}\right)^r \sum_{j=0}^{x-1}
        \frac{\Gamma(r+j)}{\Gamma(r)\, j!}\left(\frac{t}{\alpha+t}\right)^j
        = I_{t/(\alpha+t)}(x, r),

    the regularised incomplete beta function, which is 1 for x = 0.
    """
    x, t = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(t, dtype=float))
    z = t / (alpha + t)
    safe_x = np.where(x > 0, x, 1.0)
    return np.where(x > 0, betainc(safe_x, r, z), 1.0)


def alive_expectation(
    a: float,
    A: np.ndarray | float,
    C: np.ndarray | float,
    z: np.ndarray | float,
    shape: np.ndarray | float,
    rate: np.ndarray | float,
    b_post: np.ndarray | float,
    t: np.ndarray | float,
) -> np.ndarray:
    r"""Expected purchases in ``t`` of an active (B)G/NBD customer.

    Closed form :math:`\frac{C}{a - 1}\left[1 - (1 - z)^{a-1}\,{}_2F_1(A, a - 1; C; z)\right]`
    (Euler-transformed FHL 2005 eq. 10 and its MBG/NBD analogue), with
    :func:`alive_purchases_quadrature` (posterior ``Gamma(shape, rate)`` for the rate and
    ``Beta(a, b_post)`` for the dropout probability) wherever the closed form is not
    finite and non-negative or ``a`` is within 1e-6 of 1 (a removable 0/0).
    """
    A, C, z, shape, rate, b_post, t = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (A, C, z, shape, rate, b_post, t))
    )
    if abs(a - 1.0) >= 1e-6:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = np.array(C / (a - 1.0) * one_minus_power_hyp2f1(A, a - 1.0, C, z, a - 1.0))
    else:
        out = np.full(C.shape, np.nan)
    bad = ~np.isfinite(out) | (out < 0)
    if bad.any():
        out[bad] = alive_purchases_quadrature(
            shape[bad], rate[bad], np.full(int(bad.sum()), a), b_post[bad], t[bad]
        )
    return out


def _alive_given_log_ratio(
    a: float, c: float, r: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, alpha: float
) -> np.ndarray:
    r""":math:`[1 + \frac{a}{c + x} (\frac{\alpha + T}{\alpha + t_x})^{r + x}]^{-1}`, in place.

    The (M)BG/NBD P(alive) with one logarithm of the ratio, one of ``c + x`` and one
    exponential per row, and no temporaries beyond two arrays (a million-row call is
    bound by memory traffic).
    """
    out = np.add(alpha, T)
    if not isinstance(out, np.ndarray):  # 0-d input: in-place ufuncs need an array
        out = np.array(out)
    out /= alpha + t_x
    np.log(out, out=out)
    out *= r + x
    out -= np.log(c + x)
    out += np.log(a)
    np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)
