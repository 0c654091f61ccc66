"""Pure formulas of the shifted-beta-geometric (sBG) model, vectorised in log space.

Each customer cancels at the end of any period with probability ``theta``; across
customers ``theta ~ Beta(alpha, beta)``. ``T`` is the period in which a customer
cancels (``T = 1``: never renews). With ``B`` the beta function:

* ``P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta)``, ``t = 1, 2, ...``
* ``S(t) = P(T > t) = B(alpha, beta + t) / B(alpha, beta)`` (survivors after ``t`` periods)
* ``r_t = S(t) / S(t - 1) = (beta + t - 1) / (alpha + beta + t - 1)`` (retention rises with t)
* ``E[T] = (alpha + beta - 1) / (alpha - 1)`` for ``alpha > 1`` (infinite otherwise)

Discounted lifetimes at discount rate ``d > 0`` (payments at the start of each period,
Fader & Hardie 2010), with ``z = 1 / (1 + d)`` and ``2F1`` Gauss's hypergeometric function:

* ``DEL = sum_{t>=0} S(t) z**t = 2F1(1, beta; alpha + beta; z)`` (a new customer);
* ``DERL(n) = sum_{t>=n} [S(t) / S(n - 1)] z**(t - n)
  = (beta + n - 1) / (alpha + beta + n - 1) * 2F1(1, beta + n; alpha + beta + n; z)``
  for a customer who has been active for ``n`` periods and is about to decide whether
  to renew (``n - 1`` renewals made); the first renewal is not discounted.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, hyp2f1

from clvml.models.subscription.lifetime_math import check_discount_rate, check_tenure

Param = float | np.ndarray  # a scalar or one value per row

__all__ = [
    "sbg_del",
    "sbg_derl",
    "sbg_expected_lifetime",
    "sbg_loglik",
    "sbg_loglik_grad",
    "sbg_loglik_rows",
    "sbg_loglik_rows_grad",
    "sbg_retention",
    "sbg_survival",
]


def sbg_loglik_rows(a: Param, b: Param, duration: np.ndarray, censored: np.ndarray) -> np.ndarray:
    """Per-row log-likelihood with per-row ``alpha``, ``beta`` (covariate models)."""
    t = np.asarray(duration, dtype=float)
    c = np.asarray(censored, dtype=bool)
    log_num = np.where(c, betaln(a, b + t), betaln(a + 1.0, b + t - 1.0))
    return log_num - betaln(a, b)


def sbg_loglik_rows_grad(
    a: Param, b: Param, duration: np.ndarray, censored: np.ndarray
) -> np.ndarray:
    """Per-row gradient of :func:`sbg_loglik_rows` in ``(alpha, beta)``, shape ``(n, 2)``."""
    t = np.asarray(duration, dtype=float)
    c = np.asarray(censored, dtype=bool)
    psi_abt = digamma(a + b + t)
    base_a = digamma(a) - digamma(a + b)
    base_b = digamma(b) - digamma(a + b)
    da = np.where(c, digamma(a), digamma(a + 1.0)) - psi_abt - base_a
    db = np.where(c, digamma(b + t), digamma(b + t - 1.0)) - psi_abt - base_b
    return np.column_stack(np.broadcast_arrays(da, db))


def sbg_loglik(params: np.ndarray, duration: np.ndarray, censored: np.ndarray) -> np.ndarray:
    """Per-row log-likelihood: ``log P(T = duration)``, or ``log S(duration)`` when censored."""
    return sbg_loglik_rows(float(params[0]), float(params[1]), duration, censored)


def sbg_loglik_grad(params: np.ndarray, duration: np.ndarray, censored: np.ndarray) -> np.ndarray:
    """Per-row gradient of :func:`sbg_loglik` in ``(alpha, beta)``, shape ``(n, 2)``."""
    return sbg_loglik_rows_grad(float(params[0]), float(params[1]), duration, censored)


def sbg_survival(alpha: Param, beta: Param, t: np.ndarray) -> np.ndarray:
    """``S(t) = P(T > t)``: the share of a cohort still active after ``t`` periods."""
    t = np.asarray(t, dtype=float)
    return np.exp(betaln(alpha, beta + t) - betaln(alpha, beta))


def sbg_retention(alpha: Param, beta: Param, t: np.ndarray) -> np.ndarray:
    """``r_t = S(t) / S(t - 1)``: the share of period ``t - 1``'s survivors renewing at ``t``."""
    t = np.asarray(t, dtype=float)
    return (beta + t - 1.0) / (alpha + beta + t - 1.0)


def sbg_expected_lifetime(alpha: float, beta: float) -> float:
    """``E[T]`` in periods (``inf`` when ``alpha <= 1``: the mean lifetime does not exist)."""
    if alpha <= 1.0:
        return float("inf")
    return (alpha + beta - 1.0) / (alpha - 1.0)


def sbg_del(alpha: float, beta: float, discount_rate: float) -> float:
    """Discounted expected lifetime of a new customer, in periods (closed form, 2F1)."""
    z = 1.0 / (1.0 + check_discount_rate(discount_rate))
    return float(hyp2f1(1.0, beta, alpha + beta, z))


def sbg_derl(alpha: Param, beta: Param, n: np.ndarray, discount_rate: float) -> np.ndarray:
    """Discounted expected residual lifetime of a customer active for ``n >= 1`` periods."""
    z = 1.0 / (1.0 + check_discount_rate(discount_rate))
    n = check_tenure(n)
    renew = (beta + n - 1.0) / (alpha + beta + n - 1.0)
    out = np.asarray(renew * hyp2f1(1.0, beta + n, alpha + beta + n, z), dtype=float)
    bad = ~np.isfinite(out)
    if bad.any():  # 2F1 fails for extreme parameters: sum the series (BdW at c = 1) there
        from clvml.models.subscription.lifetime_math import discounted_residual_lifetime

        a, b, nn = np.broadcast_arrays(np.asarray(alpha, float), np.asarray(beta, float), n)
        rows = np.column_stack([a[bad], b[bad], np.ones(int(bad.sum()))])
        out = out.copy()
        out[bad] = discounted_residual_lifetime(_log_survival_abc, rows, nn[bad], discount_rate)
    return out


def _log_survival_abc(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``log S(t)`` for rows ``(alpha, beta, 1)`` (the series fallback of :func:`sbg_derl`)."""
    return betaln(p[:, 0:1], p[:, 1:2] + t) - betaln(p[:, 0:1], p[:, 1:2])
