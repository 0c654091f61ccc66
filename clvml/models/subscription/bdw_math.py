"""Pure formulas of the beta-discrete-Weibull (BdW) model (Fader, Hardie, Liu, Davin and
Steenburgh 2018), vectorised in log space.

A customer with churn parameter ``theta`` is still active after ``t`` periods with
probability ``(1 - theta) ** (t ** c)``; ``theta ~ Beta(alpha, beta)``. Hence
``S(t) = B(alpha, beta + t**c) / B(alpha, beta)`` and ``P(T = t) = S(t - 1) - S(t)``.
``c < 1``: an individual's churn probability falls with tenure, ``c > 1``: it rises;
``c = 1`` is the shifted-beta-geometric model.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma

from clvml.models.subscription.lifetime_math import (
    check_discount_rate,
    discounted_residual_lifetime,
)

Param = float | np.ndarray  # a scalar or one value per row

__all__ = [
    "bdw_del",
    "bdw_derl",
    "bdw_log_survival",
    "bdw_loglik",
    "bdw_loglik_grad",
    "bdw_loglik_rows",
    "bdw_loglik_rows_grad",
    "log_survival_rows",
]


def bdw_log_survival(alpha: Param, beta: Param, c: Param, t: np.ndarray) -> np.ndarray:
    """``log S(t)``, ``S(t) = B(alpha, beta + t**c) / B(alpha, beta)``."""
    u = np.asarray(t, dtype=float) ** c
    return betaln(alpha, beta + u) - betaln(alpha, beta)


def _log_survival_grad(a: Param, b: Param, c: Param, t: np.ndarray) -> np.ndarray:
    """Gradient of ``log S(t)`` in ``(alpha, beta, c)``, shape ``(n, 3)``."""
    u = t**c
    psi_abu = digamma(a + b + u)
    da = digamma(a + b) - psi_abu
    db = digamma(b + u) - psi_abu - digamma(b) + digamma(a + b)
    with np.errstate(divide="ignore", invalid="ignore"):
        u_log_t = np.where(t > 0, u * np.log(np.where(t > 0, t, 1.0)), 0.0)
    dc = (digamma(b + u) - psi_abu) * u_log_t
    return np.column_stack([da, db, dc])


def bdw_loglik_rows(
    a: Param, b: Param, c: Param, t: np.ndarray, censored: np.ndarray
) -> np.ndarray:
    """Per-row log-likelihood with per-row ``alpha``, ``beta`` (covariate models):
    ``log[S(t - 1) - S(t)]``, or ``log S(t)`` when censored."""
    t = np.asarray(t, dtype=float)
    cens = np.asarray(censored, dtype=bool)
    ls1 = bdw_log_survival(a, b, c, t)
    ls0 = bdw_log_survival(a, b, c, np.maximum(t - 1.0, 0.0))
    with np.errstate(divide="ignore"):
        dropped = ls0 + np.log(-np.expm1(ls1 - ls0))
    return np.where(cens, ls1, dropped)


def bdw_loglik_rows_grad(
    a: Param, b: Param, c: Param, t: np.ndarray, censored: np.ndarray
) -> np.ndarray:
    """Per-row gradient of :func:`bdw_loglik_rows` in ``(alpha, beta, c)``, shape ``(n, 3)``."""
    t = np.asarray(t, dtype=float)
    cens = np.asarray(censored, dtype=bool)
    t0 = np.maximum(t - 1.0, 0.0)
    g1 = _log_survival_grad(a, b, c, t)
    g0 = _log_survival_grad(a, b, c, t0)
    q = np.exp(bdw_log_survival(a, b, c, t) - bdw_log_survival(a, b, c, t0))
    with np.errstate(divide="ignore", invalid="ignore"):
        dropped = (g0 - q[:, None] * g1) / (1.0 - q)[:, None]
    return np.where(cens[:, None], g1, dropped)


def bdw_loglik(params: np.ndarray, duration: np.ndarray, censored: np.ndarray) -> np.ndarray:
    """Per-row log-likelihood: ``log[S(t - 1) - S(t)]``, or ``log S(t)`` when censored."""
    a, b, c = (float(p) for p in params)
    return bdw_loglik_rows(a, b, c, duration, censored)


def bdw_loglik_grad(params: np.ndarray, duration: np.ndarray, censored: np.ndarray) -> np.ndarray:
    """Per-row gradient of :func:`bdw_loglik` in ``(alpha, beta, c)``, shape ``(n, 3)``."""
    a, b, c = (float(p) for p in params)
    return bdw_loglik_rows_grad(a, b, c, duration, censored)


def log_survival_rows(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``log S(t)`` for parameter rows ``p`` = ``(alpha, beta, c)`` (``c = 1``: sBG)."""
    return bdw_log_survival(p[:, 0:1], p[:, 1:2], p[:, 2:3], t)


def bdw_derl(alpha: object, beta: object, c: object, n: object, discount_rate: float) -> np.ndarray:
    """Discounted expected residual lifetime of customers active for ``n >= 1`` periods
    (``n - 1`` renewals made, renewal ``n`` undiscounted); parameters and ``n`` broadcast.

    No closed form: the series :math:`\\sum_{t \\ge n} S(t) / S(n - 1)\\, z^{t - n}` is
    summed to a relative tail below 1e-13 (:mod:`.lifetime_math`).
    """
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (alpha, beta, c, n)))
    shape = arrays[0].shape
    params = np.column_stack([v.ravel() for v in arrays[:3]])
    out = discounted_residual_lifetime(log_survival_rows, params, arrays[3].ravel(), discount_rate)
    return out.reshape(shape)


def bdw_del(alpha: float, beta: float, c: float, discount_rate: float) -> float:
    """Discounted expected lifetime of a new customer: ``1 + z DERL(1)``."""
    z = 1.0 / (1.0 + check_discount_rate(discount_rate))
    return float(1.0 + z * bdw_derl(alpha, beta, c, 1.0, discount_rate))
