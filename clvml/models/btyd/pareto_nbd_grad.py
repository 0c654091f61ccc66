r"""Pareto/NBD log-likelihood and its analytic gradient in one pass (the optimiser's kernel).

The likelihood (Fader & Hardie 2005, eq. 18) is

.. math::

    \ell = \log\Gamma(r + x) - \log\Gamma(r) + r\log\alpha + s\log\beta
        + \log\left(e^{A} + s I\right), \quad
    A = -(r + x)\log(\alpha + T) - s\log(\beta + T),

    I = \int_{t_x}^{T} (\alpha + \tau)^{-(r + x)} (\beta + \tau)^{-(s + 1)}\, d\tau.

Differentiating under the integral sign, every partial derivative of :math:`\log I`
is an expectation under the normalised integrand :math:`f(\tau) / I` on
:math:`[t_x, T]`:

.. math::

    \partial_r \log I = -E[\log(\alpha + \tau)], \quad
    \partial_\alpha \log I = -(r + x)\, E[(\alpha + \tau)^{-1}],

    \partial_s \log I = -E[\log(\beta + \tau)], \quad
    \partial_\beta \log I = -(s + 1)\, E[(\beta + \tau)^{-1}].

So one quadrature gives the value and the four derivatives together: no special
function is evaluated more than once per node and no finite difference is taken.

The quadrature
--------------
With :math:`m = \max(\alpha, \beta)`, :math:`n = \min(\alpha, \beta)`,
:math:`v = \log\{(m + \tau) / (m + t_x)\}`, :math:`a = r + s + x`, ``e`` the exponent of
the factor with the smaller scale and :math:`w = (n + t_x) / (m + t_x)`,

.. math::

    I = (m + t_x)^{-a} \int_0^{V} e^{\varphi(v)} dv, \quad
    \varphi(v) = -(a - e)\, v - e \log D(v), \quad D(v) = e^{v} - 1 + w,

with :math:`V = \log\{(m + T)/(m + t_x)\}`. :math:`\varphi` is convex and decreasing
(:math:`\varphi'' = e (1 - w) e^v / D^2 \ge 0`), with a singularity at
:math:`D = 0`, a distance :math:`\delta(v) = v - \log(1 - w)` to the left of ``v``.
Panels are marched from :math:`v = 0`. At a panel's left edge the model integrand
:math:`(1 + \kappa t)^{-\nu}` matches the slope and curvature of :math:`\varphi`
(:math:`\kappa = \varphi'' / k`, :math:`\nu = k^2 / \varphi''`, :math:`k = -\varphi'`;
an exponential when :math:`\varphi'' \to 0`, the exact shape near the singularity); it is
integrated exactly by the substitution
:math:`u = \{1 - (1 + \kappa t)^{1 - \nu}\} / \{1 - (1 + \kappa h)^{1 - \nu}\}` and the
smooth rest by 12-point Gauss-Legendre. A panel is at most as wide as its distance to the
singularity and as the width over which the model drops 2 nats (the substitution then
stays far from its own singularity); once :math:`\varphi` has dropped 20 nats the rest of
the range is one panel, and the march stops at ``V``. The log-likelihood agrees with
the high-precision path (:mod:`clvml.models.btyd.pareto_nbd_integral`) to about 2e-11
(relative; tests/models/test_pareto_nbd_grad.py) on every row shape tested, including
the ridge rows (``beta`` and ``s`` large, ``w`` near 0) where the hypergeometric series
converges slowly.

This kernel only drives the optimiser; the fitted ``log_likelihood_`` and every
prediction use :mod:`clvml.models.btyd.pareto_nbd_math`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from clvml.models.btyd.bgnbd_kernels import _per_count

__all__ = ["pareto_nbd_loglik_and_grad", "weighted_pareto_nbd"]

_GL_X, _GL_W = np.polynomial.legendre.leggauss(12)
_GL_X = 0.5 * (_GL_X + 1.0)
_LOG_GL_W = np.log(0.5 * _GL_W)
#: largest number of panels per row (rows needing more are rare; see the module docstring)
_MAX_PANELS = 48
#: nats of drop of the integrand after which the march stops
_DEPTH = 45.0
#: width of a panel relative to the distance to the singularity
_C_SING = 1.0
#: nats the model integrand may drop across one panel
_DROP = 2.0
#: nats of drop after which the rest of the range is a single panel
_TAIL = 20.0


def _integral_moments(
    a: np.ndarray, e: np.ndarray, w: np.ndarray, V: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""Quadrature of :math:`\int_0^V e^{\varphi(v) - \varphi(0)} dv` and four moments.

    Returns ``log S`` (``-inf`` where ``V = 0``) and the normalised expectations of
    ``v``, ``log D(v)``, ``exp(-v)`` and ``1 / D(v)`` under the integrand.
    """
    size = a.size
    S = np.zeros(size)
    Mv = np.zeros(size)
    MlogD = np.zeros(size)
    Mexp = np.zeros(size)
    MinvD = np.zeros(size)
    z = 1.0 - w
    with np.errstate(divide="ignore"):
        log_z = np.log1p(-w)  # -inf where w = 1 (alpha = beta): no singularity
    a_e = a - e
    phi0 = -e * np.log(w)
    v = np.zeros(size)
    active = np.flatnonzero(V > 0)
    for panel in range(_MAX_PANELS):
        if active.size == 0:
            break
        va, ea, aea, za, Va = v[active], e[active], a_e[active], z[active], V[active]
        wa, p0 = w[active], phi0[active]
        ev = np.exp(va)
        D = np.expm1(va) + wa
        k = aea + ea * ev / D  # -phi'(v) > 0
        curv = ea * za * ev / (D * D)  # phi''(v) >= 0
        # the model integrand (1 + kappa t)^(-nu) matches phi's slope and curvature here
        nu = np.clip(k * k / np.maximum(curv, 1e-300), 1.5, 1e12)
        kappa = k / nu
        with np.errstate(divide="ignore", invalid="ignore"):
            h = np.minimum(_C_SING * (va - log_z[active]), np.expm1(_DROP / nu) / kappa)
        # deep enough: the rest of the range is one panel (its share is below e^-_TAIL)
        deep = p0 - (-aea * va - ea * np.log(D)) >= _TAIL
        h = np.where(deep | (panel == _MAX_PANELS - 1), Va - va, np.minimum(h, Va - va))
        # substitution u = (1 - (1 + kappa t)^(1 - nu)) / c: the model is integrated exactly
        # (an exponential as phi'' -> 0; nu >= 1.5 keeps away from the log case)
        g1 = 1.0 - nu
        c = -np.expm1(g1 * np.log1p(kappa * h))  # 1 - (1 + kappa h)^(1 - nu), > 0
        log_one_m_uc = np.log1p(-_GL_X[None, :] * c[:, None])
        t = np.expm1(log_one_m_uc / g1[:, None]) / kappa[:, None]
        vn = va[:, None] + t
        Dn = np.expm1(vn) + wa[:, None]
        logD = np.log(Dn)
        phi = -aea[:, None] * vn - ea[:, None] * logD
        # dt = c / ((nu - 1) kappa) (1 + kappa t)^nu du, and (1 + kappa t)^nu is
        # (1 - u c)^(nu / (1 - nu))
        logt = (
            phi
            - p0[:, None]
            + (nu / g1)[:, None] * log_one_m_uc
            + (np.log(c) - np.log(k - kappa))[:, None]
            + _LOG_GL_W[None, :]
        )
        om = np.exp(logt)
        S[active] += om.sum(axis=1)
        Mv[active] += (om * vn).sum(axis=1)
        MlogD[active] += (om * logD).sum(axis=1)
        Mexp[active] += (om * np.exp(-vn)).sum(axis=1)
        MinvD[active] += (om / Dn).sum(axis=1)
        v_new = va + h
        v[active] = v_new
        # phi at the panel's end: stop at V or once the integrand has dropped _DEPTH nats
        phi_end = -aea * v_new - ea * np.log(np.expm1(v_new) + wa)
        go = (v_new < Va * (1 - 1e-15)) & (p0 - phi_end < _DEPTH) & (h > 0)
        active = active[go]
    with np.errstate(divide="ignore", invalid="ignore"):
        logS = np.log(S)
        inv = np.where(S > 0, 1.0 / S, 0.0)
    return logS, Mv * inv, MlogD * inv, Mexp * inv, MinvD * inv, phi0


def _terms(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row log-likelihood without the row-independent and x-only terms, and gradient.

    Returns ``(lse, G)`` where ``lse = log(e^A + s I)`` and ``G`` (shape (n, 4)) is
    its gradient with respect to ``(r, alpha, s, beta)``.
    """
    r, alpha, s, beta = (float(p) for p in params)
    alpha_big = alpha >= beta
    m, nsc = (alpha, beta) if alpha_big else (beta, alpha)
    a = r + s + x
    e = np.full_like(x, s + 1.0) if alpha_big else r + x
    m_tx = m + t_x
    L0 = np.log(m_tx)
    w = (nsc + t_x) / m_tx
    V = np.log1p((T - t_x) / m_tx)
    logS, Ev, ElogD, Eexp, EinvD, phi0 = _integral_moments(a, e, w, V)
    log_I = -a * L0 + phi0 + logS
    log_mT, log_nT = np.log(m + T), np.log(nsc + T)
    log_aT, log_bT = (log_mT, log_nT) if alpha_big else (log_nT, log_mT)
    A = -(r + x) * log_aT - s * log_bT
    B = np.log(s) + log_I
    lse = np.logaddexp(A, B)
    with np.errstate(invalid="ignore"):
        pi = np.exp(B - lse)  # share of "died in (t_x, T]"; 0 where I = 0
    pi = np.where(np.isfinite(B), pi, 0.0)
    # expectations of log and inverse of (m + tau) and (n + tau)
    E_log_m = L0 + Ev
    E_log_n = L0 + ElogD
    E_inv_m = Eexp / m_tx
    E_inv_n = EinvD / m_tx
    E_log_a, E_log_b = (E_log_m, E_log_n) if alpha_big else (E_log_n, E_log_m)
    E_inv_a, E_inv_b = (E_inv_m, E_inv_n) if alpha_big else (E_inv_n, E_inv_m)
    q = 1.0 - pi
    G = np.empty((x.size, 4))
    G[:, 0] = -q * log_aT - pi * E_log_a
    G[:, 1] = -(r + x) * (q / (alpha + T) + pi * E_inv_a)
    G[:, 2] = -q * log_bT + pi * (1.0 / s - E_log_b)
    G[:, 3] = -q * s / (beta + T) - pi * (s + 1.0) * E_inv_b
    return lse, G


def pareto_nbd_loglik_and_grad(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row Pareto/NBD log-likelihood and its gradient in ``(r, alpha, s, beta)``.

    For valid rows (whole ``x >= 0``, ``0 <= t_x <= T``, ``t_x > 0`` when ``x > 0``) and
    positive parameters; shapes ``(n,)`` and ``(n, 4)``.
    """
    x, t_x, T = (np.atleast_1d(np.asarray(c, dtype=float)) for c in (x, t_x, T))
    r, alpha, s, beta = (float(p) for p in params)
    lse, G = _terms(params, x, t_x, T)
    ll = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta) + lse
    G[:, 0] += digamma(r + x) - digamma(r) + np.log(alpha)
    G[:, 1] += r / alpha
    G[:, 2] += np.log(beta)
    G[:, 3] += s / beta
    return ll, G


def weighted_pareto_nbd(
    params: np.ndarray, w: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[float, np.ndarray]:
    """``(sum(w * loglik), sum(w * grad, axis=0))`` over valid rows, for the optimiser."""
    r, alpha, s, beta = (float(p) for p in params)
    k, Wk, _ = _per_count(x, w)
    W = float(Wk.sum())
    lse, G = _terms(params, x, t_x, T)
    value = float(Wk @ gammaln(r + k)) + float(w @ lse)
    value += W * (-gammaln(r) + r * np.log(alpha) + s * np.log(beta))
    grad = w @ G
    grad[0] += float(Wk @ digamma(r + k)) + W * (np.log(alpha) - digamma(r))
    grad[1] += W * r / alpha
    grad[2] += W * np.log(beta)
    grad[3] += W * s / beta
    return value, grad
