r"""Engagement value: what a customer's advocacy is worth beyond their own purchases.

Customers who share, retweet, mention or review the brand positively reach an audience
the brand would otherwise pay to reach. The engagement value projects each customer's
*advocacy points* over the horizon:

.. math::

    \mathrm{EV}_i = v \cdot \frac{S_i}{w_i} \cdot H \cdot \pi_i \cdot \delta(H),

where

* :math:`S_i` is the customer's ``advocacy_score`` before the cut-off: the sum over
  their advocacy events (inbound shares and retweets whose text is not negative, and
  mentions, reviews and comments with positive sentiment; see ``docs/features.md``) of
  :math:`1 + \log(1 + \text{reach})`, so each event counts at least once and the
  audience reached counts with diminishing returns;
* :math:`w_i` is the number of weeks the customer could have engaged
  (``tenure_weeks``, at least one week), so :math:`S_i / w_i` is their advocacy rate;
* :math:`H` is the horizon in weeks and :math:`\pi_i` the probability the customer is
  still a customer (P(alive) of the CLV model): advocates who left stop advocating;
* :math:`\delta(H) = (1 - e^{-\rho H}) / (\rho H)` is the mean continuous discount
  factor over the horizon at weekly rate :math:`\rho = \log(1 + d) / 52` (1 without
  discounting), as the points are spread evenly over the horizon;
* :math:`v` (``value_per_point``, default 1) converts points into money, e.g. the
  earned-media value of one endorsement; with the default the column is in *points*.

It is reported in its own column and never added to the monetary CLV, which stays
a forecast of revenue (times margin).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError

__all__ = ["ENGAGEMENT_VALUE_COLUMNS", "engagement_value", "mean_discount_factor"]

#: Columns of the customer frame the engagement value reads.
ENGAGEMENT_VALUE_COLUMNS: tuple[str, str] = ("advocacy_score", "tenure_weeks")


def mean_discount_factor(horizon_weeks: float, annual_discount_rate: float = 0.0) -> float:
    r"""Mean of :math:`e^{-\rho t}` over :math:`t \in [0, H]` weeks, :math:`\rho = \log(1+d)/52`.

    Examples
    --------
    >>> mean_discount_factor(52, 0.0)
    1.0
    >>> round(mean_discount_factor(52, 0.1), 4)
    0.9538
    """
    if not (np.isfinite(annual_discount_rate) and annual_discount_rate > -1):
        raise ValueError(f"annual_discount_rate must be > -1, got {annual_discount_rate!r}")
    rho_h = np.log1p(annual_discount_rate) / 52.0 * float(horizon_weeks)
    if rho_h == 0:
        return 1.0
    return float(-np.expm1(-rho_h) / rho_h)


def engagement_value(
    features: pd.DataFrame,
    horizon_weeks: float,
    p_alive: pd.Series | np.ndarray | None = None,
    *,
    value_per_point: float = 1.0,
    annual_discount_rate: float = 0.0,
) -> pd.Series:
    """Engagement (advocacy) value of each customer over the horizon (see the module notes).

    Parameters
    ----------
    features : pandas.DataFrame
        Customer frame with ``advocacy_score`` and ``tenure_weeks`` (from
        :class:`clvml.features.engagement.EngagementFeatures`); missing values (no
        events) count as no advocacy.
    horizon_weeks : float
        Horizon :math:`H` in weeks (> 0).
    p_alive : array-like, optional
        Probability that each customer is still a customer; default 1.
    value_per_point : float, default 1.0
        Money per advocacy point.
    annual_discount_rate : float, default 0.0
        Yearly discount rate.

    Returns
    -------
    pandas.Series
        ``engagement_value`` on the index of ``features``.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"advocacy_score": [0.0, 5.2], "tenure_weeks": [10.0, 52.0]})
    >>> engagement_value(f, 52).round(2).tolist()
    [0.0, 5.2]
    """
    missing = [c for c in ENGAGEMENT_VALUE_COLUMNS if c not in features.columns]
    if missing:
        raise DataValidationError(
            "is needed for the engagement value (compute the engagement features)",
            column=missing[0],
            n_rows=len(features),
        )
    if not (np.isfinite(horizon_weeks) and horizon_weeks > 0):
        raise ValueError(f"horizon_weeks must be > 0, got {horizon_weeks!r}")
    if not (np.isfinite(value_per_point) and value_per_point >= 0):
        raise ValueError(f"value_per_point must be >= 0, got {value_per_point!r}")
    score = pd.to_numeric(features["advocacy_score"], errors="coerce").to_numpy(dtype=float)
    weeks = pd.to_numeric(features["tenure_weeks"], errors="coerce").to_numpy(dtype=float)
    score = np.where(np.isfinite(score) & (score > 0), score, 0.0)
    weeks = np.where(np.isfinite(weeks), np.maximum(weeks, 1.0), 1.0)
    alive = np.ones(len(features)) if p_alive is None else np.asarray(p_alive, dtype=float)
    factor = (
        value_per_point
        * float(horizon_weeks)
        * mean_discount_factor(horizon_weeks, annual_discount_rate)
    )
    return pd.Series(score / weeks * factor * alive, index=features.index, name="engagement_value")
