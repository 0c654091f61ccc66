r"""Gamma-Gamma spend model: its pure math (Fader, Hardie & Lee 2005b; Hardie's note 025).

The same layout as the other ``*_math`` modules: the per-customer log-density of the
mean spend and its gradient (implemented beside the other likelihoods in
:mod:`clvml.models.btyd.likelihoods`) and the prediction,
``gamma_gamma_expected_average_spend``.
"""

from __future__ import annotations

import numpy as np

from clvml.models.btyd.likelihoods import gamma_gamma_loglik, gamma_gamma_loglik_grad

__all__ = [
    "gamma_gamma_expected_average_spend",
    "gamma_gamma_loglik",
    "gamma_gamma_loglik_grad",
]


def gamma_gamma_expected_average_spend(
    params: np.ndarray, x: np.ndarray, m: np.ndarray
) -> np.ndarray:
    r"""E[Z | x, m]: expected spend per transaction given x repeats of mean m (FHL 2005b, eq. 5).

    .. math:: E[Z \mid p, q, v, x, \bar z] = \frac{p(v + x\bar z)}{px + q - 1}
        = \frac{q - 1}{px + q - 1}\frac{pv}{q - 1} + \frac{px}{px + q - 1}\bar z,

    a weighted mean of the population mean :math:`pv/(q-1)` and the customer's own
    mean. Customers without repeat purchases (x = 0) get the population mean, which
    is infinite when ``q <= 1``.
    """
    p, q, v = (float(u) for u in params)
    x, m = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(m, dtype=float))
    m = np.where(x > 0, m, 0.0)
    denom = p * x + q - 1
    return np.where(denom > 0, p * (v + x * m) / np.where(denom > 0, denom, 1.0), np.inf)
