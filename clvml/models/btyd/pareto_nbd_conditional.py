r"""Pareto/NBD: the conditional distribution of future purchases given a customer's history.

For a customer with ``x`` repeat purchases, the last at ``t_x``, observed for ``T``, the
number of purchases :math:`Y` in the next ``t`` time units has (for given rates
:math:`\lambda, \mu`) three ways to come about: she was already gone at ``T`` (then
:math:`Y = 0`); she is alive at ``T`` and survives the whole window (a Poisson count over
``t``); or she is alive at ``T`` and leaves at :math:`T + \tau` inside the window (a
Poisson count over :math:`\tau`). Weighting each path by the history's likelihood and
averaging over the gamma mixing distributions gives, with
:math:`A = \alpha + T`, :math:`B = \beta + T` and the likelihood's two terms
:math:`L_1 = A^{-(r+x)} B^{-s}` (alive at ``T``) and :math:`L_2 = s\,I(t_x, T)` (gone in
:math:`(t_x, T]`; :mod:`clvml.models.btyd.pareto_nbd_math`),

.. math::

    P(Y = n \mid x, t_x, T) = \mathbb{1}[n = 0]\,\frac{L_2}{L_1 + L_2}
    + \frac{\Gamma(r + x + n)}{\Gamma(r + x)\, n!}\,
      \frac{1}{L_1 + L_2}\left[
      \frac{t^n}{(A + t)^{r+x+n} (B + t)^{s}}
      + s \int_0^t \frac{\tau^n\, d\tau}{(A + \tau)^{r+x+n} (B + \tau)^{s+1}} \right].

For a new customer (``x = t_x = T = 0``) this is the unconditional
:math:`P(X(t) = n)` of
:func:`~clvml.models.btyd.pareto_nbd_math.pareto_nbd_probability_of_purchases`.
The integral is the one that function evaluates, with :math:`r, \alpha, \beta` shifted
to :math:`r + x, A, B`; everything stays in log space. lifetimes calls this
``ParetoNBDFitter.conditional_probability_of_n_purchases_up_to_time``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import gammaln

from clvml.models.btyd.pareto_nbd_integral import Params, _unpack
from clvml.models.btyd.pareto_nbd_math import _as_arrays, _log_pmf_integral, _log_terms

__all__ = ["pareto_nbd_conditional_probability_of_purchases"]


def pareto_nbd_conditional_probability_of_purchases(
    params: Params, n: ArrayLike, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> NDArray[np.float64]:
    r"""P(Y(t) = n | x, t_x, T): ``n`` purchases in the ``t`` time units after ``T``.

    Parameters
    ----------
    params : sequence of float
        ``(r, alpha, s, beta)``.
    n : array_like
        Number of future purchases (whole, >= 0).
    t : array_like
        Length of the future window (>= 0; ``t = 0`` gives 1 for ``n = 0``).
    x, t_x, T : array_like
        The customer's history (frequency, recency, age); all six arguments broadcast.

    Returns
    -------
    numpy.ndarray
        The probabilities (summing to 1 over ``n`` for each history); NaN where an
        argument is out of range.

    Examples
    --------
    >>> p = pareto_nbd_conditional_probability_of_purchases(
    ...     (0.553, 10.578, 0.606, 11.669), np.arange(200), 52.0, 26, 30.86, 31.0
    ... )
    >>> round(float(p.sum()), 6), round(float(np.arange(200) @ p), 2)
    (1.0, 25.46)
    """
    r, alpha, s, beta = _unpack(params)
    n, t, x, t_x, T = _as_arrays(n, t, x, t_x, T)
    shape = n.shape
    n, t, x, t_x, T = (v.ravel() for v in (n, t, x, t_x, T))
    log_alive, log_dead, valid = _log_terms(params, x, t_x, T, strict=False)
    with np.errstate(invalid="ignore"):
        valid &= np.isfinite(n) & (n >= 0) & (n == np.floor(n)) & np.isfinite(t) & (t >= 0)
    ns = np.where(valid, n, 0.0)
    xs = np.where(valid, x, 0.0)
    A = alpha + np.where(valid, T, 0.0)
    B = beta + np.where(valid, T, 0.0)
    window = valid & (t > 0)
    ts = np.where(window, t, 1.0)
    log_norm = np.logaddexp(log_alive, log_dead)
    log_comb = gammaln(r + xs + ns) - gammaln(r + xs) - gammaln(ns + 1)
    log_stays = ns * np.log(ts) - (r + xs + ns) * np.log(A + ts) - s * np.log(B + ts)
    log_leaves = np.log(s) + _log_pmf_integral(r + xs, A, s, B, ns, ts)
    alive_part = np.exp(log_comb + np.logaddexp(log_stays, log_leaves) - log_norm)
    gone = np.exp(log_dead - log_norm)
    p = np.where(window, alive_part, 0.0) + np.where(ns == 0, np.where(window, gone, 1.0), 0.0)
    # the two parts of P(Y = 0) of a customer almost surely gone can round above 1
    p = np.clip(p, 0.0, 1.0)
    return np.where(valid, p, np.nan).reshape(shape)
