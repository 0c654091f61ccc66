r"""BG/NBD and Gamma-Gamma with time-invariant covariates: pure likelihoods and predictions.

Each customer :math:`i` has a row :math:`z_i` of (standardised) covariates and
individual parameters (Fader & Hardie 2007, note 019):

.. math::

    \alpha_i = \alpha_0 e^{-\gamma_\alpha^\top z_i}, \quad
    a_i = a_0 e^{\gamma_a^\top z_i}, \quad
    b_i = b_0 e^{\gamma_b^\top z_i}, \qquad
    v_i = v_0 e^{\gamma_v^\top z_i},

so that the purchase rate :math:`\lambda_i \sim \text{Gamma}(r, \alpha_i)` has mean
:math:`r e^{\gamma_\alpha^\top z_i} / \alpha_0` (a positive :math:`\gamma_\alpha` raises
purchasing), the dropout probability :math:`p_i \sim \text{Beta}(a_i, b_i)` has mean
:math:`a_i / (a_i + b_i)` (a positive :math:`\gamma_a` raises dropout, a positive
:math:`\gamma_b` lowers it; the log-odds of the mean dropout move by
:math:`(\gamma_a - \gamma_b)^\top z_i`), and the expected spend per transaction of the
Gamma-Gamma model, :math:`p v_i / (q - 1)`, is multiplied by :math:`e^{\gamma_v^\top z_i}`
(a positive :math:`\gamma_v` raises spend). Given :math:`(\alpha_i, a_i, b_i)` or
:math:`v_i` the per-customer likelihood and every prediction are those of the plain
models, so with all coefficients zero everything reduces exactly to BG/NBD and
Gamma-Gamma.

Parameter vectors (the estimators' ``internal_params_``):

* BG/NBD: ``(r, alpha0, a0, b0, gamma_alpha[0..k), gamma_a[0..k), gamma_b[0..k))``;
* Gamma-Gamma: ``(p, q, v0, gamma_v[0..k))``,

with ``Z`` an ``(n, k)`` matrix of covariates (the estimators pass them centred and
scaled, so the baseline parameters are those of a customer with mean covariates).
Gradients are with respect to these natural parameters; the per-row gradient with
respect to the individual parameters is mapped by the chain rule,
:math:`\partial\ell/\partial\gamma_\alpha = -(\partial\ell/\partial\alpha_i)\,\alpha_i z_i`,
:math:`\partial\ell/\partial\gamma_a = (\partial\ell/\partial a_i)\, a_i z_i`, and so on.

This differs from CLVTools' ``bgnbd`` with static covariates, which scales ``a`` and
``b`` by the same :math:`e^{\gamma_{life}^\top z}` (moving the concentration of the
dropout distribution but not its mean); here ``a`` and ``b`` have separate coefficients
as in Fader & Hardie's note.

References
----------
Fader, P. S. and Hardie, B. G. S. (2007). Incorporating time-invariant covariates into
the Pareto/NBD and BG/NBD models. http://brucehardie.com/notes/019/

Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting your customers" the easy
way: an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.

Meierer, M., Bachmann, P., Naef, J., Schilter, P. and Oblander, E. (2023). CLVTools:
Probabilistic models for customer lifetime value. R package.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, expit, gammaln

from clvml._deprecated import deprecated_alias
from clvml.models.btyd._special import alive_purchases_quadrature, one_minus_power_hyp2f1

__all__ = [
    "bgnbd_covariates_conditional_expected_purchases",
    "bgnbd_covariates_individual",
    "bgnbd_covariates_loglik",
    "bgnbd_covariates_loglik_grad",
    "bgnbd_covariates_probability_alive",
    "bgnbd_rows_loglik_grad",
    "weighted_bgnbd_covariates",
]


def _design(Z: np.ndarray | None, n: int) -> np.ndarray:
    """``Z`` as a float ``(n, k)`` matrix (``k = 0`` when ``None``)."""
    if Z is None:
        return np.zeros((n, 0))
    Z = np.asarray(Z, dtype=float)
    return Z.reshape(n, -1) if Z.ndim != 2 else Z


def _split(params: np.ndarray, n_base: int, n_links: int) -> tuple[np.ndarray, np.ndarray]:
    """Baseline parameters and the ``(k, n_links)`` coefficient matrix of a parameter vector."""
    params = np.asarray(params, dtype=float)
    k, rest = divmod(params.size - n_base, n_links)
    if rest or k < 0:
        raise ValueError(
            f"a parameter vector of length {params.size} does not hold {n_base} baseline "
            f"parameters and {n_links} equally long coefficient blocks"
        )
    return params[:n_base], params[n_base:].reshape(n_links, k).T


# --------------------------------------------------------------------------- BG/NBD
def bgnbd_covariates_individual(
    params: np.ndarray, Z: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Individual ``(r, alpha_i, a_i, b_i)`` of each row of ``Z`` (see the module docstring)."""
    base, G = _split(params, 4, 3)
    Z = _design(Z, Z.shape[0] if np.ndim(Z) else 1)
    if G.shape[0] != Z.shape[1]:
        raise ValueError(f"{G.shape[0]} coefficients per parameter but {Z.shape[1]} covariates")
    eta = Z @ G if G.size else np.zeros((Z.shape[0], 3))
    with np.errstate(over="ignore"):
        alpha = base[1] * np.exp(-eta[:, 0])
        a = base[2] * np.exp(eta[:, 1])
        b = base[3] * np.exp(eta[:, 2])
    return float(base[0]), alpha, a, b


def _bgnbd_rows(
    r: float, alpha: np.ndarray, a: np.ndarray, b: np.ndarray, x: np.ndarray, t_x: np.ndarray,
    T: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Per-row ``A_1 + A_2``, ``A_3`` and ``A_4`` of FHL (2005) eq. 6 (valid rows)."""
    A_12 = (
        gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        + gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    )  # fmt: skip
    A_3 = -(r + x) * np.log(alpha + T)
    has = x > 0
    b_x1 = np.where(has, b + x - 1, 1.0)
    A_4 = np.where(has, np.log(a) - np.log(b_x1) - (r + x) * np.log(alpha + t_x), -np.inf)
    return A_12, A_3, A_4


def bgnbd_rows_loglik_grad(
    r: float, alpha: np.ndarray, a: np.ndarray, b: np.ndarray, x: np.ndarray, t_x: np.ndarray,
    T: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    r"""BG/NBD log-likelihood and its gradient per row, with per-row ``alpha``, ``a``, ``b``.

    The same formulas as :func:`clvml.models.btyd.likelihoods.bgnbd_loglik_grad` with the
    individual parameters broadcast against the data; rows must be valid. Returns
    ``(ll, grad)`` where ``grad`` has shape ``(n, 4)``: derivatives with respect to
    ``(r, alpha_i, a_i, b_i)``.
    """
    A_12, A_3, A_4 = _bgnbd_rows(r, alpha, a, b, x, t_x, T)
    lse = np.logaddexp(A_3, A_4)
    w_4 = expit(A_4 - A_3)  # 0 where A_4 = -inf
    w_3 = 1.0 - w_4
    b_x1 = np.where(x > 0, b + x - 1, 1.0)
    psi_ab, psi_abx = digamma(a + b), digamma(a + b + x)
    d_r = digamma(r + x) - digamma(r) + np.log(alpha)
    d_r = d_r - w_3 * np.log(alpha + T) - w_4 * np.log(alpha + t_x)
    d_alpha = r / alpha - (r + x) * (w_3 / (alpha + T) + w_4 / (alpha + t_x))
    d_a = psi_ab - psi_abx + w_4 / a
    d_b = psi_ab + digamma(b + x) - digamma(b) - psi_abx - w_4 / b_x1
    grad = np.stack(np.broadcast_arrays(d_r, d_alpha, d_a, d_b), axis=-1)
    return A_12 + lse, grad


def _valid_rfm(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (
            np.isfinite(x) & np.isfinite(t_x) & np.isfinite(T) & (x >= 0) & (x == np.floor(x))
            & (t_x >= 0) & (t_x <= T) & (T > 0)
        )  # fmt: skip


def _prepare(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, Z: np.ndarray | None
) -> tuple[np.ndarray, ...]:
    x, t_x, T = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, t_x, T))
    x, t_x, T = np.broadcast_arrays(x, t_x, T)
    ok = _valid_rfm(x, t_x, T)
    x, t_x, T = np.where(ok, x, 0.0), np.where(ok, t_x, 0.0), np.where(ok, T, 1.0)
    Zm = _design(Z, x.size)
    ok = ok & np.all(np.isfinite(Zm), axis=1)
    return x, t_x, T, np.where(ok[:, None], Zm, 0.0), ok


def _valid_base(base: np.ndarray, coefs: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(base)) and np.all(base > 0) and np.all(np.isfinite(coefs)))


def bgnbd_covariates_loglik(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, Z: np.ndarray | None
) -> np.ndarray:
    """BG/NBD log-likelihood of each customer given their covariates.

    Parameters
    ----------
    params : array-like
        ``(r, alpha0, a0, b0, gamma_alpha, gamma_a, gamma_b)``, ``3k + 4`` numbers.
    x, t_x, T : array-like
        Repeat purchases, time of the last one and age (time unit of ``alpha0``).
    Z : array-like of shape (n, k)
        Covariates of each customer.

    Returns
    -------
    ndarray
        One value per row; ``-inf`` for impossible rows or invalid parameters.

    Examples
    --------
    >>> import numpy as np
    >>> p = [0.243, 4.414, 0.793, 2.426, 0.0, 0.0, 0.0]  # one covariate, zero effects
    >>> round(float(bgnbd_covariates_loglik(p, 2, 30.43, 38.86, np.array([[1.5]]))[0]), 4)
    -9.4586
    """
    x, t_x, T, Zm, ok = _prepare(params, x, t_x, T, Z)
    base, G = _split(params, 4, 3)
    if not _valid_base(base, G):
        return np.full(x.shape, -np.inf)
    r, alpha, a, b = bgnbd_covariates_individual(params, Zm)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        A_12, A_3, A_4 = _bgnbd_rows(r, alpha, a, b, x, t_x, T)
        ll = A_12 + np.logaddexp(A_3, A_4)
    ok = ok & ~np.isnan(ll)
    return np.where(ok, ll, -np.inf)


def _bgnbd_chain(
    grad_rows: np.ndarray, w: np.ndarray, alpha: np.ndarray, a: np.ndarray, b: np.ndarray,
    base: np.ndarray, Z: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Weighted gradient with respect to ``(r, alpha0, a0, b0, gammas)`` by the chain rule."""
    s_alpha = w * grad_rows[:, 1] * alpha  # d ll / d log alpha_i
    s_a = w * grad_rows[:, 2] * a
    s_b = w * grad_rows[:, 3] * b
    head = np.array(
        [
            (w * grad_rows[:, 0]).sum(),
            s_alpha.sum() / base[1],
            s_a.sum() / base[2],
            s_b.sum() / base[3],
        ]
    )
    return np.concatenate([head, -(s_alpha @ Z), s_a @ Z, s_b @ Z])


def bgnbd_covariates_loglik_grad(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, Z: np.ndarray | None
) -> np.ndarray:
    """Per-row gradient of :func:`bgnbd_covariates_loglik`, shape ``(n, 3k + 4)``.

    Columns follow the parameter vector; impossible rows have a zero gradient.
    """
    x, t_x, T, Zm, ok = _prepare(params, x, t_x, T, Z)
    params = np.asarray(params, dtype=float)
    out = np.zeros((x.size, params.size))
    base, G = _split(params, 4, 3)
    if not _valid_base(base, G):
        return out
    r, alpha, a, b = bgnbd_covariates_individual(params, Zm)
    _, g = bgnbd_rows_loglik_grad(r, alpha, a, b, x, t_x, T)
    k = Zm.shape[1]
    out[:, 0] = g[:, 0]
    out[:, 1] = g[:, 1] * alpha / base[1]
    out[:, 2] = g[:, 2] * a / base[2]
    out[:, 3] = g[:, 3] * b / base[3]
    out[:, 4 : 4 + k] = -(g[:, 1] * alpha)[:, None] * Zm
    out[:, 4 + k : 4 + 2 * k] = (g[:, 2] * a)[:, None] * Zm
    out[:, 4 + 2 * k :] = (g[:, 3] * b)[:, None] * Zm
    return np.where(ok[:, None], out, 0.0)


def weighted_bgnbd_covariates(
    params: np.ndarray, w: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray,
    Z: np.ndarray,
) -> tuple[float, np.ndarray]:  # fmt: skip
    """``(sum(w * loglik), sum(w * grad, axis=0))`` on valid rows, for the optimiser."""
    params = np.asarray(params, dtype=float)
    r, alpha, a, b = bgnbd_covariates_individual(params, Z)
    ll, g = bgnbd_rows_loglik_grad(r, alpha, a, b, x, t_x, T)
    return float(w @ ll), _bgnbd_chain(g, w, alpha, a, b, params[:4], Z)


def bgnbd_covariates_probability_alive(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, Z: np.ndarray
) -> np.ndarray:
    r"""P(alive at T) per customer (Hardie's note 021 with individual parameters).

    .. math:: \left[1 + \mathbb{1}[x > 0]\frac{a_i}{b_i + x - 1}
        \left(\frac{\alpha_i + T}{\alpha_i + t_x}\right)^{r + x}\right]^{-1}
    """
    x, t_x, T = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, float)) for v in (x, t_x, T)))
    r, alpha, a, b = bgnbd_covariates_individual(params, _design(Z, x.size))
    has = x > 0
    b_x1 = np.where(has, b + x - 1, 1.0)
    log_odds = np.log(a) - np.log(b_x1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(has, expit(-log_odds), 1.0)


def bgnbd_covariates_conditional_expected_purchases(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, Z: np.ndarray,
    t: float | np.ndarray,
) -> np.ndarray:  # fmt: skip
    r"""E[X(T, T + t) | x, t_x, T, z]: FHL (2005) eq. 10 with individual parameters.

    Evaluated exactly as :func:`clvml.models.btyd.beta_geo.bgnbd_conditional_expected_purchases`
    (Euler-transformed series, quadrature over the dropout probability where scipy's
    ``hyp2f1`` fails or ``a_i`` is within 1e-6 of 1), row by row in one vectorised pass.
    """
    x, t_x, T, t = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, t_x, T, t))
    )
    r, alpha, a, b = bgnbd_covariates_individual(params, _design(Z, x.size))
    z = t / (alpha + T + t)
    C = a + b + x - 1
    near_one = np.abs(a - 1.0) < 1e-6
    a_m1 = np.where(near_one, 2.0, a - 1.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        active = C / a_m1 * one_minus_power_hyp2f1(a + b - 1 - r, a_m1, C, z, a_m1)
    bad = ~np.isfinite(active) | (active < 0) | near_one
    if bad.any():
        active[bad] = alive_purchases_quadrature(
            (r + x)[bad], (alpha + T)[bad], a[bad], (b + x)[bad], t[bad]
        )
    return active * bgnbd_covariates_probability_alive(params, x, t_x, T, Z)


#: Deprecated name (one naming rule: ``*_expected_purchases_new`` is E[X(t)] of a new
#: customer, ``*_conditional_expected_purchases`` is E[Y(t) | x, t_x, T]).
bgnbd_covariates_expected_purchases = deprecated_alias(
    bgnbd_covariates_conditional_expected_purchases, "bgnbd_covariates_expected_purchases"
)


_GAMMA_GAMMA = {
    "gamma_gamma_covariates_expected_average_spend",
    "gamma_gamma_covariates_individual",
    "gamma_gamma_covariates_loglik",
    "gamma_gamma_covariates_loglik_grad",
    "weighted_gamma_gamma_covariates",
}


def __getattr__(name: str) -> object:
    # the Gamma-Gamma covariate math moved to gamma_gamma_covariates_math; old imports work
    if name in _GAMMA_GAMMA:
        from clvml.models.btyd import gamma_gamma_covariates_math

        return getattr(gamma_gamma_covariates_math, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
