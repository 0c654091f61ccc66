r"""Gamma-Gamma on *all* purchases: the first purchase's spend counts as information.

The standard Gamma-Gamma model (:class:`~clvml.models.btyd.gamma_gamma.GammaGamma`) reads
the mean spend :math:`\bar z` of a customer's :math:`x` *repeat* purchases, so a one-time
buyer (:math:`x = 0`) is predicted the population mean :math:`\mu = pv/(q-1)` whatever
they spent. The variant here makes the same assumption for every purchase, the first
included: each of the customer's :math:`n = x + 1` purchases is
:math:`\text{Gamma}(p, \nu)` with :math:`\nu \sim \text{Gamma}(q, v)`. The likelihood of
the mean :math:`\bar z_n` of the :math:`n` purchases is the Gamma-Gamma density with
:math:`x` replaced by :math:`n`, and the expected spend of a future purchase is

.. math::

    E[Z \mid n, \bar z_n] = \frac{q-1}{pn+q-1}\,\mu + \frac{pn}{pn+q-1}\,\bar z_n,

so a one-time buyer's prediction moves from :math:`\mu` towards what they spent, with
weight :math:`p/(p+q-1)`. It reads ``n_purchases`` and ``mean_spend`` (the customer
frame's columns, :func:`clvml.features.dataset.customer_features`) instead of
``frequency`` and ``monetary_value``; with those renamed, it is the standard model on
the summary ``frequency = n_purchases``, ``monetary_value = mean_spend``. As :math:`n`
grows the first purchase's weight in :math:`\bar z_n` vanishes and the two models'
predictions meet. The variant fits one more observation per customer and needs the
first purchase to follow the same spend distribution as the repeats (on CDNOW it raises
the normalised Gini of BG/NBD and Pareto/NBD CLV, ``docs/model_comparison.md``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from clvml.exceptions import DataValidationError
from clvml.models.btyd.gamma_gamma import GammaGamma

__all__ = ["GammaGammaAllPurchases"]

_TO_STANDARD = {"n_purchases": "frequency", "mean_spend": "monetary_value"}
_FROM_STANDARD = {v: k for k, v in _TO_STANDARD.items()}


class GammaGammaAllPurchases(GammaGamma):
    """Gamma-Gamma spend model fitted on every purchase, the first included.

    Same parameters, fit and attributes as :class:`GammaGamma`; the data are
    ``n_purchases`` (purchases including the first, >= 0) and ``mean_spend`` (their mean
    spend, > 0 where ``n_purchases > 0``). Customers with ``n_purchases = 0`` are left out
    of the fit (``n_excluded_``) and predicted the population mean.

    Examples
    --------
    >>> import pandas as pd
    >>> m = GammaGammaAllPurchases()
    >>> m.params_ = {"p": 6.0, "q": 4.0, "v": 15.0}
    >>> s = m.expected_average_spend(pd.DataFrame({"n_purchases": [0, 1],
    ...                                            "mean_spend": [0.0, 60.0]}))
    >>> [round(v, 4) for v in s]
    [30.0, 50.0]
    """

    _data_columns = ("n_purchases", "mean_spend")

    def _validate(self, frame: pd.DataFrame) -> pd.DataFrame:
        # the standard model's checks, on the standard column names (only this model's
        # columns: a customer frame also has frequency and monetary_value)
        own = frame[[c for c in frame.columns if c in _TO_STANDARD]]
        try:
            standard = GammaGamma()._validate(own.rename(columns=_TO_STANDARD))
        except DataValidationError as exc:  # name this model's columns, not the standard ones
            column = _FROM_STANDARD.get(exc.column or "", exc.column)
            reason = exc.reason.replace("repeat purchases", "purchases").replace(
                "repeat-purchase counts", "purchase counts"
            )
            raise DataValidationError(
                reason, column=column, n_rows=exc.n_rows, example=exc.example
            ) from None
        return standard.rename(columns=_FROM_STANDARD)

    def expected_average_spend(self, data: Any) -> Any:
        """Expected spend per future purchase from ``n_purchases`` and ``mean_spend``.

        Returns a Series on ``data``'s index for a frame, an array otherwise.
        """
        return super().expected_average_spend(data)
