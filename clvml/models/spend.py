r"""The zero-spend rule: Gamma-Gamma on customers whose repeat purchases were all $0.

Gamma-Gamma models the mean spend of repeat purchases and needs it positive. A repeat buyer
whose repeat purchases were all $0 has no positive spend to fit: such customers are fitted
as if they had no repeat purchase (frequency and recency 0, :func:`spend_fit_frame`) and
predicted with the population mean spend (:func:`spend_summary`), which is exact under
Gamma-Gamma: with :math:`\mu = pv/(q-1)` (``p v_i / (q - 1)`` with covariates),

.. math::

    E[Z \mid x, \bar z] = \frac{q-1}{px+q-1}\mu + \frac{px}{px+q-1}\bar z,

so :math:`\bar z = \mu` gives exactly :math:`\mu` whatever :math:`x`. The transaction model
still reads their real purchase history. This module is the one owner of that rule
(:class:`clvml.models.clv_model.CLVModel` and ``clvml demo`` use it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["all_purchases_spend_frame", "spend_fit_frame", "spend_summary", "zero_spend_mask"]


def zero_spend_mask(features: pd.DataFrame) -> np.ndarray:
    """Repeat buyers (``frequency > 0``) whose ``monetary_value`` is not positive."""
    return ((features["frequency"] > 0) & ~(features["monetary_value"] > 0)).to_numpy()


def spend_fit_frame(features: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The summary Gamma-Gamma is fitted on, and the mask of $0-spend repeat buyers.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"frequency": [2.0, 3.0], "recency": [5.0, 6.0],
    ...                   "monetary_value": [10.0, 0.0]})
    >>> frame, zero = spend_fit_frame(f)
    >>> frame["frequency"].tolist(), zero.tolist()
    ([2.0, 0.0], [False, True])
    """
    zero = zero_spend_mask(features)
    if not zero.any():
        return features, zero
    freq = features["frequency"].where(~zero, 0.0)
    return features.assign(frequency=freq, recency=features["recency"].where(~zero, 0.0)), zero


def spend_summary(frame: pd.DataFrame, spend_model: Any) -> pd.DataFrame:
    """``frame`` with the $0 repeat buyers' mean spend set to their population mean.

    Parameters
    ----------
    frame : pandas.DataFrame
        Customer summary (``frequency``, ``recency``, ``monetary_value`` and the spend
        model's covariates, if any).
    spend_model : GammaGamma or GammaGammaCovariates
        Fitted; its ``expected_average_spend`` of a customer without repeat purchases is
        the population mean.
    """
    zero = zero_spend_mask(frame)
    if not zero.any():
        return frame
    rows = frame.loc[zero].assign(frequency=0.0, recency=0.0, monetary_value=0.0)
    mu = np.asarray(spend_model.expected_average_spend(rows), dtype=float)
    m = frame["monetary_value"].to_numpy(dtype=float).copy()
    m[zero] = mu
    return frame.assign(monetary_value=m)


def all_purchases_spend_frame(features: pd.DataFrame) -> pd.DataFrame:
    """``features`` for the Gamma-Gamma on all purchases, the zero-spend rule applied.

    :class:`~clvml.models.btyd.gamma_gamma_all.GammaGammaAllPurchases` reads
    ``n_purchases`` and ``mean_spend``; a customer whose purchases were all $0 (or net
    negative) has no positive spend to learn from and is given ``n_purchases = 0`` and
    ``mean_spend = 0`` here, so the model leaves them out of its fit and predicts them the
    population mean (the same rule as :func:`spend_fit_frame` for repeat purchases). The
    transaction model still reads the real ``frequency``, ``recency`` and ``T``.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"n_purchases": [1, 3], "mean_spend": [12.0, 0.0]})
    >>> all_purchases_spend_frame(f)["n_purchases"].tolist()
    [1.0, 0.0]
    """
    n = features["n_purchases"].to_numpy(dtype=float)
    m = features["mean_spend"].to_numpy(dtype=float)
    none = ~(m > 0)
    return features.assign(n_purchases=np.where(none, 0.0, n), mean_spend=np.where(none, 0.0, m))
