"""Discounted residual lifetimes of any retention model, by the series itself.

For a survival function ``S`` (``S(0) = 1``) and a discount rate ``d > 0`` per period,
``z = 1 / (1 + d)``, a customer who has been active for ``n >= 1`` periods (``n - 1``
renewals made) and is about to decide on renewal ``n`` has the discounted expected
residual lifetime (Fader & Hardie 2010, eq. 6; the first renewal is not discounted)

.. math:: DERL(n) = \\sum_{t \\ge n} \\frac{S(t)}{S(n - 1)} z^{t - n},

and a new customer the discounted expected lifetime
:math:`DEL = \\sum_{t \\ge 0} S(t) z^t = 1 + z\\, DERL(1)`. Models without a closed form
(the beta-discrete-Weibull) sum the series in blocks of periods until the tail bound
``last term * z / (1 - z)`` (the ratios ``S(t) / S(n - 1)`` fall with ``t``) is below
``rtol`` of the sum. Rows are compressed to distinct parameter/tenure combinations
first, so the loop runs over blocks of periods, never over customers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "check_discount_rate",
    "check_tenure",
    "discounted_residual_lifetime",
    "expected_renewals",
]

_BLOCK = 256  # periods summed per step
_CHUNK = 4096  # distinct rows per step (block x chunk floats = 8 MB)
_MAX_PERIODS = 2_000_000


def check_discount_rate(discount_rate: float) -> float:
    """The discount rate per period as a float, refused unless finite and > 0."""
    d = float(discount_rate)
    if not (np.isfinite(d) and d > 0):
        raise ValueError(f"discount_rate must be a finite number > 0, got {discount_rate!r}")
    return d


def check_tenure(n: object) -> np.ndarray:
    """Tenure ``n`` (periods active, ``n - 1`` renewals made) as floats, whole and >= 1."""
    arr = np.asarray(n, dtype=float)
    bad = ~np.isfinite(arr) | (arr < 1) | (arr != np.floor(arr))
    if np.any(bad):
        example = arr[bad].ravel()[0]
        raise ValueError(
            f"n (periods active) must be whole numbers >= 1: {int(np.count_nonzero(bad))} "
            f"value(s) are not (e.g. {example:g})"
        )
    return arr


def discounted_residual_lifetime(
    log_survival: Callable[[np.ndarray, np.ndarray], np.ndarray],
    params: np.ndarray,
    n: np.ndarray,
    discount_rate: float,
    *,
    rtol: float = 1e-13,
) -> np.ndarray:
    """``DERL(n)`` per row by summing the series (see the module docstring).

    Parameters
    ----------
    log_survival : callable
        ``log_survival(params, t)``: ``log S(t)`` for parameter rows ``params`` of shape
        ``(m, k)`` (broadcast against ``t`` of shape ``(m, j)``, column ``i`` of
        ``params`` given as ``params[:, i:i+1]``).
    params : numpy.ndarray
        Per-row model parameters, shape ``(rows, k)``.
    n : numpy.ndarray
        Per-row tenure, whole and >= 1, shape ``(rows,)``.
    discount_rate : float
        Per-period discount rate, > 0.
    rtol : float
        Relative bound on the truncated tail.

    Returns
    -------
    numpy.ndarray
        Shape ``(rows,)``.
    """
    z = 1.0 / (1.0 + check_discount_rate(discount_rate))
    n = check_tenure(n).ravel()
    params = np.asarray(params, dtype=float).reshape(n.size, -1)
    key = np.column_stack([params, n])
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    out = np.empty(len(uniq))
    log_z = np.log(z)
    for start in range(0, len(uniq), _CHUNK):
        p, tn = uniq[start : start + _CHUNK, :-1], uniq[start : start + _CHUNK, -1]
        base = log_survival(p, (tn - 1.0)[:, None])[:, 0]
        total = np.zeros(tn.size)
        todo = np.arange(tn.size)
        k0 = 0
        while todo.size:
            if k0 > _MAX_PERIODS:
                raise ValueError(
                    f"the discounted residual lifetime did not converge within {_MAX_PERIODS} "
                    f"periods at discount_rate={discount_rate!r}; use a larger rate per period"
                )
            k = np.arange(k0, k0 + _BLOCK, dtype=float)
            t = tn[todo, None] + k[None, :]
            log_terms = log_survival(p[todo], t) - base[todo, None] + k[None, :] * log_z
            terms = np.exp(log_terms)
            total[todo] += terms.sum(axis=1)
            done = terms[:, -1] * z / (1.0 - z) <= rtol * total[todo]
            todo = todo[~done]
            k0 += _BLOCK
        out[start : start + tn.size] = total
    return out[inv.ravel()]


def expected_renewals(
    log_survival: Callable[[np.ndarray, np.ndarray], np.ndarray],
    params: np.ndarray,
    n: np.ndarray,
    horizon: object,
) -> np.ndarray:
    """Expected renewals (billings) in the next ``H`` periods of customers active for ``n``
    periods: :math:`\\sum_{t=n}^{n+H-1} S(t) / S(n - 1)`, undiscounted.

    Parameters as :func:`discounted_residual_lifetime`; ``horizon`` is ``H``, whole
    numbers of periods >= 0, one for all rows or one per row.
    """
    n = check_tenure(n).ravel()
    h = np.broadcast_to(np.asarray(horizon, dtype=float), n.shape).ravel()
    bad = ~np.isfinite(h) | (h < 0) | (h != np.floor(h))
    if bad.any():
        raise ValueError(f"horizon must be whole numbers of periods >= 0, got {h[bad][0]!r}")
    params = np.asarray(params, dtype=float).reshape(n.size, -1)
    if n.size == 0 or h.max() == 0:
        return np.zeros(n.size)
    uniq, inv = np.unique(np.column_stack([params, n, h]), axis=0, return_inverse=True)
    out = np.empty(len(uniq))
    k = np.arange(int(h.max()), dtype=float)
    step = max(1, (_CHUNK * _BLOCK) // k.size)
    for start in range(0, len(uniq), step):
        block = uniq[start : start + step]
        p, tn, th = block[:, :-2], block[:, -2], block[:, -1]
        base = log_survival(p, (tn - 1.0)[:, None])
        terms = np.exp(log_survival(p, tn[:, None] + k[None, :]) - base)
        out[start : start + tn.size] = np.where(k[None, :] < th[:, None], terms, 0.0).sum(axis=1)
    return out[inv.ravel()]
