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

The Hessian comes from the same nodes: with ``g`` the log of the integrand,
:math:`\nabla^2 \log I = E[\nabla^2 g] + \operatorname{Cov}[\nabla g]`, and
:math:`\nabla^2 g` has only the entries
:math:`\partial_{r\alpha} = -E[(\alpha + \tau)^{-1}]`,
:math:`\partial_{\alpha\alpha} = (r + x) E[(\alpha + \tau)^{-2}]` and their
:math:`(s, \beta)` analogues, so the second moments of the same four functions of
:math:`\tau` are all it needs (:func:`_row_hessian` combines them with the "alive"
term). The optimiser's Newton iterations take value, gradient and Hessian from one
pass (:func:`weighted_pareto_nbd_full`), about 1.6 times the cost of value and
gradient alone.

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
from scipy.special import digamma, gammaln, polygamma

from clvml.models.btyd.bgnbd_kernels import _per_count

__all__ = [
    "pareto_nbd_loglik_and_grad",
    "pareto_nbd_loglik_grad_hessian",
    "weighted_pareto_nbd",
    "weighted_pareto_nbd_full",
    "weighted_pareto_nbd_hessian",
    "weighted_pareto_nbd_value",
]

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
    a: np.ndarray,
    e: np.ndarray,
    w: np.ndarray,
    V: np.ndarray,
    second: bool = False,
    first: bool = True,
) -> tuple[np.ndarray, ...]:
    r"""Quadrature of :math:`\int_0^V e^{\varphi(v) - \varphi(0)} dv` and four moments.

    Returns ``log S`` (``-inf`` where ``V = 0``), the normalised expectations of
    ``v``, ``log D(v)``, ``exp(-v)`` and ``1 / D(v)`` under the integrand and
    :math:`\varphi(0)`; with ``second``, also their covariance matrix under the
    integrand, shape ``(4, 4, n)`` (zero where ``V = 0``). Without ``first`` (the
    value alone), the expectations are left at 0.

    The covariance is accumulated without cancellation: each panel's weighted mean
    and centred second moments are merged into the running ones by the pairwise
    update of Chan, Golub and LeVeque (1983), so a variance far below the squared
    mean (a narrow integrand, ``log D`` near ``log w``) keeps its relative precision.
    """
    size = a.size
    run_S = np.zeros(size)
    run_mean = np.zeros((4, size))
    run_C = np.zeros((4, 4, size))
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
        # log of the integrand relative to phi(0), times the Jacobian and the weights:
        # dt = c / ((nu - 1) kappa) (1 + kappa t)^nu du, and (1 + kappa t)^nu is
        # (1 - u c)^(nu / (1 - nu))
        logt = vn * -aea[:, None]
        logt -= ea[:, None] * logD
        logt += (nu / g1)[:, None] * log_one_m_uc
        logt += (np.log(c) - np.log(k - kappa) - p0)[:, None] + _LOG_GL_W[None, :]
        om = np.exp(logt, out=logt)
        if not first:
            S[active] += om.sum(axis=1)
        elif second:
            _merge_panel(run_S, run_mean, run_C, active, om, (vn, logD, np.exp(-vn), 1.0 / Dn))
        else:
            S[active] += om.sum(axis=1)
            Mv[active] += np.einsum("ij,ij->i", om, vn)
            MlogD[active] += np.einsum("ij,ij->i", om, logD)
            Mexp[active] += np.einsum("ij,ij->i", om, np.exp(-vn))
            MinvD[active] += np.einsum("ij,ij->i", om, 1.0 / Dn)

        v_new = va + h
        v[active] = v_new
        # phi at the panel's end: stop at V or once the integrand has dropped _DEPTH nats
        phi_end = -aea * v_new - ea * np.log(np.expm1(v_new) + wa)
        go = (v_new < Va * (1 - 1e-15)) & (p0 - phi_end < _DEPTH) & (h > 0)
        active = active[go]
    if second:
        # the merged means are the first moments; the sums of products, the covariance
        S = run_S
        inv = np.where(S > 0, 1.0 / np.where(S > 0, S, 1.0), 0.0)
        with np.errstate(divide="ignore"):
            logS = np.log(S)
        Ev, ElogD, Eexp, EinvD = run_mean
        return logS, Ev, ElogD, Eexp, EinvD, phi0, run_C * inv
    with np.errstate(divide="ignore", invalid="ignore"):
        logS = np.log(S)
        inv = np.where(S > 0, 1.0 / S, 0.0)
    return logS, Mv * inv, MlogD * inv, Mexp * inv, MinvD * inv, phi0


def _merge_panel(
    run_S: np.ndarray,
    run_mean: np.ndarray,
    run_C: np.ndarray,
    active: np.ndarray,
    om: np.ndarray,
    values: tuple[np.ndarray, ...],
) -> None:
    """Merge one panel's weights ``om`` and node ``values`` into the running moments.

    ``run_C`` holds the weighted sums of centred cross-products (Chan et al.'s ``M2``):
    ``C = C_old + C_panel + d d^T S_old S_panel / S_new`` with ``d`` the difference of
    the two means.
    """
    Sp = om.sum(axis=1)
    pos = Sp > 0
    inv = np.where(pos, 1.0 / np.where(pos, Sp, 1.0), 0.0)
    mean_p = np.stack([np.einsum("nk,nk->n", om, X) for X in values]) * inv
    dev = [X - m[:, None] for X, m in zip(values, mean_p, strict=True)]
    wdev = [d * om for d in dev]
    Cp = np.empty((4, 4, om.shape[0]))
    for i in range(4):
        for j in range(i, 4):
            Cp[i, j] = np.einsum("nk,nk->n", wdev[i], dev[j])
            Cp[j, i] = Cp[i, j]
    S_old = run_S[active]
    S_new = S_old + Sp
    frac = np.where(S_new > 0, Sp / np.where(S_new > 0, S_new, 1.0), 0.0)
    d = mean_p - run_mean[:, active]
    run_C[:, :, active] += Cp + d[:, None, :] * d[None, :, :] * (S_old * frac)
    run_mean[:, active] += d * frac
    run_S[active] = S_new


def _terms(
    params: np.ndarray,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    hess: bool = False,
    grad: bool = True,
) -> tuple[np.ndarray, ...]:
    """Per-row log-likelihood without the row-independent and x-only terms, and gradient.

    Returns ``(lse, G)`` where ``lse = log(e^A + s I)`` and ``G`` (shape (n, 4)) is
    its gradient with respect to ``(r, alpha, s, beta)``; with ``hess`` also its
    Hessian, shape ``(n, 4, 4)`` (see :func:`_row_hessian`); without ``grad``, ``(lse,)``.
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
    moments = _integral_moments(a, e, w, V, second=hess, first=grad or hess)
    logS, Ev, ElogD, Eexp, EinvD, phi0 = moments[:6]
    log_I = -a * L0 + phi0 + logS
    log_mT, log_nT = np.log(m + T), np.log(nsc + T)
    log_aT, log_bT = (log_mT, log_nT) if alpha_big else (log_nT, log_mT)
    A = -(r + x) * log_aT - s * log_bT
    B = np.log(s) + log_I
    lse = np.logaddexp(A, B)
    if not (grad or hess):
        return (lse,)
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
    if not hess:
        return lse, G
    # covariance of (log(a + tau), 1/(a + tau), log(b + tau), 1/(b + tau)), from that of
    # (v, log D, exp(-v), 1/D): log(m + tau) = L0 + v, 1/(m + tau) = exp(-v) / (m + t_x),
    # log(n + tau) = L0 + log D, 1/(n + tau) = 1 / (D (m + t_x))
    C = moments[6]
    perm = (0, 2, 1, 3) if alpha_big else (1, 3, 0, 2)
    scale = (1.0, 1.0 / m_tx, 1.0, 1.0 / m_tx)
    cov = np.empty((4, 4, x.size))
    for i in range(4):
        for j in range(i, 4):
            cov[i, j] = cov[j, i] = C[perm[i], perm[j]] * scale[i] * scale[j]
    H = _row_hessian(r, alpha, s, beta, x, T, log_aT, log_bT, pi, G, cov, E_inv_a, E_inv_b)
    return lse, G, H


def _row_hessian(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: np.ndarray,
    T: np.ndarray,
    log_aT: np.ndarray,
    log_bT: np.ndarray,
    pi: np.ndarray,
    G: np.ndarray,
    cov: np.ndarray,
    E_inv_a: np.ndarray,
    E_inv_b: np.ndarray,
) -> np.ndarray:
    r"""Per-row Hessian of :math:`\log(e^A + e^B)`, :math:`B = \log s + \log I`.

    With :math:`\pi = e^B / (e^A + e^B)`,

    .. math::

        \nabla^2 = (1 - \pi) \nabla^2 A + \pi \nabla^2 B
            + \pi (1 - \pi) (\nabla B - \nabla A)(\nabla B - \nabla A)^\top,

    and, ``g`` being the log of the integrand,
    :math:`\nabla^2 \log I = E[\nabla^2 g] + \operatorname{Cov}[\nabla g]` under the
    normalised integrand, where :math:`\nabla g = (-\log(\alpha + \tau),
    -(r + x)/(\alpha + \tau), -\log(\beta + \tau), -(s + 1)/(\beta + \tau))` and
    ``cov`` is the covariance of the four functions of :math:`\tau` in it.
    """
    q = 1.0 - pi
    c = (np.full_like(x, -1.0), -(r + x), np.full_like(x, -1.0), np.full_like(x, -(s + 1.0)))
    HB = np.empty((4, 4, x.size))
    for i in range(4):
        for j in range(i, 4):
            HB[i, j] = HB[j, i] = c[i] * c[j] * cov[i, j]
    HB[0, 1] -= E_inv_a
    HB[1, 0] -= E_inv_a
    HB[1, 1] += (r + x) * (cov[1, 1] + E_inv_a * E_inv_a)
    HB[2, 3] -= E_inv_b
    HB[3, 2] -= E_inv_b
    HB[3, 3] += (s + 1.0) * (cov[3, 3] + E_inv_b * E_inv_b)
    HB[2, 2] -= 1.0 / (s * s)
    inv_aT, inv_bT = 1.0 / (alpha + T), 1.0 / (beta + T)
    dA = (-log_aT, -(r + x) * inv_aT, -log_bT, -s * inv_bT)
    # grad of lse = q dA + pi dB, so dB - dA = (G - dA) / pi where pi > 0
    live = pi > 0
    inv_pi = np.where(live, 1.0 / np.where(live, pi, 1.0), 0.0)
    diff = [(G[:, i] - dA[i]) * inv_pi for i in range(4)]
    H = np.zeros((x.size, 4, 4))
    H[:, 0, 1] = H[:, 1, 0] = -q * inv_aT
    H[:, 1, 1] = q * (r + x) * inv_aT * inv_aT
    H[:, 2, 3] = H[:, 3, 2] = -q * inv_bT
    H[:, 3, 3] = q * s * inv_bT * inv_bT
    pq = pi * q
    for i in range(4):
        for j in range(i, 4):
            add = np.where(live, pi * HB[i, j] + pq * diff[i] * diff[j], 0.0)
            H[:, i, j] += add
            if j != i:
                H[:, j, i] += add
    return H


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


def pareto_nbd_loglik_grad_hessian(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row log-likelihood, gradient ``(n, 4)`` and Hessian ``(n, 4, 4)``.

    In ``(r, alpha, s, beta)``; same rows and parameters as
    :func:`pareto_nbd_loglik_and_grad`.
    """
    x, t_x, T = (np.atleast_1d(np.asarray(c, dtype=float)) for c in (x, t_x, T))
    r, alpha, s, beta = (float(p) for p in params)
    lse, G, H = _terms(params, x, t_x, T, hess=True)
    ll = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta) + lse
    G[:, 0] += digamma(r + x) - digamma(r) + np.log(alpha)
    G[:, 1] += r / alpha
    G[:, 2] += np.log(beta)
    G[:, 3] += s / beta
    H[:, 0, 0] += polygamma(1, r + x) - polygamma(1, r)
    H[:, 0, 1] += 1.0 / alpha
    H[:, 1, 0] += 1.0 / alpha
    H[:, 1, 1] -= r / alpha**2
    H[:, 2, 3] += 1.0 / beta
    H[:, 3, 2] += 1.0 / beta
    H[:, 3, 3] -= s / beta**2
    return ll, G, H


def weighted_pareto_nbd_value(
    params: np.ndarray, w: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> float:
    """``sum(w * loglik)`` alone (the value of :func:`weighted_pareto_nbd`, no moments)."""
    r, alpha, s, beta = (float(p) for p in params)
    k, Wk, _ = _per_count(x, w)
    W = float(Wk.sum())
    lse = _terms(params, x, t_x, T, grad=False)[0]
    value = float(Wk @ gammaln(r + k)) + float(w @ lse)
    return value + W * (-gammaln(r) + r * np.log(alpha) + s * np.log(beta))


def weighted_pareto_nbd_full(
    params: np.ndarray, w: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """``sum(w * loglik)``, its gradient and its exact Hessian, from one quadrature pass.

    The Newton optimiser's kernel (:func:`clvml.models.btyd.optimise.newton`); the value
    and gradient are those of :func:`weighted_pareto_nbd`.
    """
    r, alpha, s, beta = (float(p) for p in params)
    k, Wk, _ = _per_count(x, w)
    W = float(Wk.sum())
    lse, G, H_rows = _terms(params, x, t_x, T, hess=True)
    value = float(Wk @ gammaln(r + k)) + float(w @ lse)
    value += W * (-gammaln(r) + r * np.log(alpha) + s * np.log(beta))
    grad = w @ G
    grad[0] += float(Wk @ digamma(r + k)) + W * (np.log(alpha) - digamma(r))
    grad[1] += W * r / alpha
    grad[2] += W * np.log(beta)
    grad[3] += W * s / beta
    H = np.einsum("n,nij->ij", w, H_rows)
    H[0, 0] += float(Wk @ polygamma(1, r + k)) - W * float(polygamma(1, r))
    H[0, 1] += W / alpha
    H[1, 0] += W / alpha
    H[1, 1] -= W * r / alpha**2
    H[2, 3] += W / beta
    H[3, 2] += W / beta
    H[3, 3] -= W * s / beta**2
    return value, grad, H


def weighted_pareto_nbd_hessian(
    params: np.ndarray, w: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Exact Hessian of ``sum(w * loglik)`` in ``(r, alpha, s, beta)``, shape ``(4, 4)``."""
    return weighted_pareto_nbd_full(params, w, x, t_x, T)[2]
