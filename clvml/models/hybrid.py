r"""BTYD purchases adjusted by a churn classifier: a probability combination, not a double count.

Under BG/NBD (Fader, Hardie & Lee 2005) the expected number of purchases of a customer
with history :math:`(x, t_x, T)` in the next :math:`H` periods factors as

.. math::

    E[X(T, T + H) \mid x, t_x, T] = P(\text{alive} \mid x, t_x, T)\;
        E[X(T, T + H) \mid \text{alive at } T, x, t_x, T],

and so does the probability of buying at least once:

.. math::

    P(X(T, T + H) > 0 \mid x, t_x, T) = P(\text{alive} \mid \cdot)\;
        P(X(T, T + H) > 0 \mid \text{alive at } T, \cdot).

Given that she is alive at :math:`T`, the posterior of the customer's purchase rate is
:math:`\lambda \sim \text{Gamma}(r + x, \alpha + T)` (the likelihood of the history is
:math:`\lambda^x e^{-\lambda T}(1 - p)^x`), and she cannot drop out before her next
purchase (BG/NBD dropout only follows purchases), so she buys nothing in
:math:`(T, T + H]` with probability :math:`E[e^{-\lambda H}]`:

.. math::

    P(X(T, T + H) = 0 \mid \text{alive}, x, t_x, T)
        = \left(\frac{\alpha + T}{\alpha + T + H}\right)^{r + x}.

A churn classifier trained on the label "no purchase in a window of length :math:`H`"
estimates :math:`P(X(T, T + H) > 0)` directly, from features the BTYD model does not see
(engagement, sentiment, care). The hybrid keeps BG/NBD for what only it models (how many
purchases an alive customer makes) and lets the classifier say *whether* the customer
is still alive, by solving the factorisation for the alive probability:

.. math::

    \tilde P(\text{alive}) = \min\!\left(1,\;
        \frac{\hat P_{\text{clf}}(X > 0)}
             {1 - \left(\frac{\alpha + T}{\alpha + T + H}\right)^{r + x}}\right), \qquad
    \tilde E[X] = \tilde P(\text{alive})\; E[X \mid \text{alive}, x, t_x, T].

Both factors are probabilities of disjoint pieces of the same event, so nothing is
counted twice: :math:`\tilde P(\text{alive}) \in [0, 1]` (the classifier's
:math:`\hat P \ge 0`; the clip at 1 acts only where the classifier says the customer
buys more surely than an alive customer with this history would), and when the
classifier equals BG/NBD's own :math:`P(X > 0)` the hybrid reproduces BG/NBD exactly.
The same formulas hold for the BG/NBD with covariates, with :math:`\alpha_i` in place
of :math:`\alpha`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "bgnbd_probability_purchase",
    "bgnbd_probability_purchase_if_alive",
    "hybrid_probability_alive",
]


def bgnbd_probability_purchase_if_alive(
    r: float, alpha: Any, x: Any, T: Any, t: float | np.ndarray
) -> np.ndarray:
    r"""P(at least one purchase in (T, T + t] | alive at T, x, T) under BG/NBD.

    .. math:: 1 - \left(\frac{\alpha + T}{\alpha + T + t}\right)^{r + x}

    Parameters
    ----------
    r, alpha : float or array-like
        BG/NBD purchase-rate parameters (``alpha`` in the time unit of ``T``; an
        array for a per-customer :math:`\alpha_i`).
    x, T : array-like
        Repeat purchases and age of each customer.
    t : float or array-like
        Window length (> 0).

    Examples
    --------
    >>> float(bgnbd_probability_purchase_if_alive(1.0, 1.0, 0, 0.0, 1.0))
    0.5
    """
    x, T, t, a = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, T, t, alpha)))
    return -np.expm1((r + x) * (np.log(a + T) - np.log(a + T + t)))


def bgnbd_probability_purchase(
    p_alive: Any, r: float, alpha: Any, x: Any, T: Any, t: float | np.ndarray
) -> np.ndarray:
    """P(at least one purchase in (T, T + t] | x, t_x, T) = P(alive) x P(purchase | alive)."""
    return np.asarray(p_alive, dtype=float) * bgnbd_probability_purchase_if_alive(r, alpha, x, T, t)


def hybrid_probability_alive(p_purchase: Any, p_purchase_if_alive: Any) -> np.ndarray:
    r"""The alive probability implied by a classifier's P(purchase in the window).

    :math:`\min(1, \hat P(X > 0) / P(X > 0 \mid \text{alive}))`, see the module notes.

    Parameters
    ----------
    p_purchase : array-like
        The classifier's probability of at least one purchase in the window
        (1 - P(churn)), in [0, 1].
    p_purchase_if_alive : array-like
        BG/NBD's probability of a purchase in the window for an alive customer with
        the same history (:func:`bgnbd_probability_purchase_if_alive`), in (0, 1].

    Returns
    -------
    numpy.ndarray
        Values in [0, 1].

    Examples
    --------
    >>> hybrid_probability_alive([0.2, 0.9], [0.4, 0.6]).tolist()
    [0.5, 1.0]
    """
    p = np.clip(np.asarray(p_purchase, dtype=float), 0.0, 1.0)
    q = np.asarray(p_purchase_if_alive, dtype=float)
    p, q = np.broadcast_arrays(p, q)
    # q = 0 only for an empty window, where any alive probability is consistent: keep 1
    ratio = np.divide(p, q, out=np.ones_like(p), where=q > 0)
    return np.clip(ratio, 0.0, 1.0)
