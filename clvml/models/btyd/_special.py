"""Guarded special functions shared by the BTYD prediction formulas."""

from __future__ import annotations

import numpy as np
from scipy.special import betainc, hyp2f1

__all__ = ["nbd_tail", "one_minus_power_hyp2f1", "safe_a_minus_one"]


def one_minus_power_hyp2f1(
    A: np.ndarray | float,
    B: np.ndarray | float,
    C: np.ndarray | float,
    z: np.ndarray | float,
    power: np.ndarray | float,
) -> np.ndarray:
    r"""Evaluate :math:`1 - (1 - z)^{\text{power}}\, {}_2F_1(A, B; C; z)` for ``0 <= z < 1``.

    The BG/NBD and MBG/NBD expectations are written here after Euler's transformation
    :math:`{}_2F_1(a, b; c; z) = (1-z)^{c-a-b}\, {}_2F_1(c-a, c-b; c; z)`, which turns
    the large-argument series of the papers (parameters growing with x) into one whose
    parameters stay moderate, so the product is evaluated in log space without overflow.
    Where scipy's ``hyp2f1`` still fails (non-finite or non-positive) the untransformed
    series is tried; remaining failures give ``nan`` for the caller to flag.
    """
    A, B, C, z, power = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (A, B, C, z, power))
    )
    F = hyp2f1(A, B, C, z)
    bad = ~np.isfinite(F) | (F <= 0)
    if bad.any():
        # (1-z)^{C-A-B} 2F1(C-A, C-B; C; z) is the same function
        F_alt = hyp2f1(C[bad] - A[bad], C[bad] - B[bad], C[bad], z[bad])
        with np.errstate(divide="ignore", invalid="ignore"):
            log_alt = np.log(F_alt) + (C[bad] - A[bad] - B[bad]) * np.log1p(-z[bad])
        F = F.copy()
        with np.errstate(over="ignore"):
            F[bad] = np.exp(log_alt)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_term = power * np.log1p(-z) + np.log(F)
    return -np.expm1(log_term)


def safe_a_minus_one(a: float) -> float:
    """``a - 1`` kept at least 1e-7 away from 0 (the expectations have a removable 0/0 at a = 1).

    The relative error this introduces in the expectations is of order 1e-7.
    """
    d = a - 1.0
    if abs(d) < 1e-7:
        return 1e-7 if d >= 0 else -1e-7
    return d


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
