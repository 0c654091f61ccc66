r"""Gamma-Gamma with time-invariant covariates: pure likelihood and predictions.

Customer :math:`i` with (standardised) covariates :math:`z_i` has the spend scale
:math:`v_i = v_0 e^{\gamma_v^\top z_i}`; given :math:`v_i` the density of the mean
spend is Hardie's note 025, eq. 1a. Parameter vector ``(p, q, v0, gamma_v[0..k))``; see
:mod:`clvml.models.btyd.covariate_likelihoods` for the conventions shared with the
BG/NBD covariate model.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from clvml.models.btyd.covariate_likelihoods import _design, _split, _valid_base

__all__ = [
    "gamma_gamma_covariates_expected_average_spend",
    "gamma_gamma_covariates_individual",
    "gamma_gamma_covariates_loglik",
    "gamma_gamma_covariates_loglik_grad",
    "weighted_gamma_gamma_covariates",
]


def gamma_gamma_covariates_individual(
    params: np.ndarray, Z: np.ndarray
) -> tuple[float, float, np.ndarray]:
    """Individual ``(p, q, v_i)`` of each row of ``Z``."""
    base, G = _split(params, 3, 1)
    Z = _design(Z, Z.shape[0])
    if G.shape[0] != Z.shape[1]:
        raise ValueError(f"{G.shape[0]} coefficients but {Z.shape[1]} covariates")
    eta = Z @ G[:, 0] if G.size else np.zeros(Z.shape[0])
    with np.errstate(over="ignore"):
        v = base[2] * np.exp(eta)
    return float(base[0]), float(base[1]), v


def _gg_rows(
    p: float, q: float, v: np.ndarray, x: np.ndarray, m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row Gamma-Gamma log-density (note 025, eq. 1a) and gradient in ``(p, q, v_i)``."""
    px = p * x
    log_xm_v = np.log(x * m + v)
    log_v = np.log(v)
    ll = (
        gammaln(px + q) - gammaln(px) - gammaln(q) + q * log_v
        + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * log_xm_v
    )  # fmt: skip
    psi = digamma(px + q)
    d_p = x * (psi - digamma(px) + np.log(m) + np.log(x) - log_xm_v)
    d_q = psi - digamma(q) + log_v - log_xm_v
    d_v = q / v - (px + q) / (x * m + v)
    return ll, np.stack(np.broadcast_arrays(d_p, d_q, d_v), axis=-1)


def _gg_prepare(
    x: np.ndarray, m: np.ndarray, Z: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, m = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, m)))
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(x) & np.isfinite(m) & (x >= 1) & (x == np.floor(x)) & (m > 0)
    Zm = _design(Z, x.size)
    ok = ok & np.all(np.isfinite(Zm), axis=1)
    return np.where(ok, x, 1.0), np.where(ok, m, 1.0), np.where(ok[:, None], Zm, 0.0), ok


def gamma_gamma_covariates_loglik(
    params: np.ndarray, x: np.ndarray, m: np.ndarray, Z: np.ndarray | None
) -> np.ndarray:
    """Gamma-Gamma log-density of each customer's mean spend given covariates.

    ``params`` is ``(p, q, v0, gamma_v)``; ``-inf`` for ``x < 1``, ``m <= 0`` or
    non-finite values.
    """
    x, m, Zm, ok = _gg_prepare(x, m, Z)
    base, G = _split(params, 3, 1)
    if not _valid_base(base, G):
        return np.full(x.shape, -np.inf)
    p, q, v = gamma_gamma_covariates_individual(params, Zm)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ll, _ = _gg_rows(p, q, v, x, m)
    ok = ok & ~np.isnan(ll)
    return np.where(ok, ll, -np.inf)


def gamma_gamma_covariates_loglik_grad(
    params: np.ndarray, x: np.ndarray, m: np.ndarray, Z: np.ndarray | None
) -> np.ndarray:
    """Per-row gradient of :func:`gamma_gamma_covariates_loglik`, shape ``(n, k + 3)``."""
    x, m, Zm, ok = _gg_prepare(x, m, Z)
    params = np.asarray(params, dtype=float)
    out = np.zeros((x.size, params.size))
    base, G = _split(params, 3, 1)
    if not _valid_base(base, G):
        return out
    p, q, v = gamma_gamma_covariates_individual(params, Zm)
    _, g = _gg_rows(p, q, v, x, m)
    out[:, 0], out[:, 1] = g[:, 0], g[:, 1]
    out[:, 2] = g[:, 2] * v / base[2]
    out[:, 3:] = (g[:, 2] * v)[:, None] * Zm
    return np.where(ok[:, None], out, 0.0)


def weighted_gamma_gamma_covariates(
    params: np.ndarray, w: np.ndarray, x: np.ndarray, m: np.ndarray, Z: np.ndarray
) -> tuple[float, np.ndarray]:
    """``(sum(w * loglik), sum(w * grad, axis=0))`` on valid rows (x >= 1), for the optimiser."""
    params = np.asarray(params, dtype=float)
    p, q, v = gamma_gamma_covariates_individual(params, Z)
    ll, g = _gg_rows(p, q, v, x, m)
    s_v = w * g[:, 2] * v
    head = np.array([w @ g[:, 0], w @ g[:, 1], s_v.sum() / params[2]])
    return float(w @ ll), np.concatenate([head, s_v @ Z])


def gamma_gamma_covariates_expected_average_spend(
    params: np.ndarray, x: np.ndarray, m: np.ndarray, Z: np.ndarray
) -> np.ndarray:
    r"""E[Z | x, m, z]: FHL (2005b) eq. 5 with the individual :math:`v_i`.

    .. math:: \frac{p(v_i + x\bar z)}{px + q - 1}

    Customers without repeat purchases get their covariate-specific population mean
    :math:`p v_i / (q - 1)` (infinite when ``q <= 1``).
    """
    x, m = np.broadcast_arrays(*(np.atleast_1d(np.asarray(u, dtype=float)) for u in (x, m)))
    p, q, v = gamma_gamma_covariates_individual(params, _design(Z, x.size))
    m = np.where(x > 0, m, 0.0)
    denom = p * x + q - 1
    return np.where(denom > 0, p * (v + x * m) / np.where(denom > 0, denom, 1.0), np.inf)
