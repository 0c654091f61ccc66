r"""Pareto/NBD estimator (Schmittlein, Morrison & Colombo 1987).

The math lives in :mod:`clvml.models.btyd.pareto_nbd_math`; this module declares
the model to the shared machinery of :class:`~clvml.models.btyd.base.TransactionModel`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clvml.exceptions import DataValidationError
from clvml.models.btyd.pareto_nbd_conditional import (
    pareto_nbd_conditional_probability_of_purchases,
)
from clvml.models.btyd.pareto_nbd_math import (
    pareto_nbd_conditional_expected_purchases,
    pareto_nbd_expected_purchases_new,
    pareto_nbd_loglik,
    pareto_nbd_probability_alive,
    pareto_nbd_probability_of_purchases,
)
from clvml.models.btyd.rows import check_horizon
from clvml.models.btyd.transaction import TransactionModel, per_row

__all__ = ["ParetoNBD"]


class ParetoNBD(TransactionModel):
    r"""Pareto/NBD model of repeat purchasing with unobserved, continuous-time dropout.

    While alive a customer buys as a Poisson process with rate :math:`\lambda`; her
    lifetime is exponential with rate :math:`\mu`. Across customers
    :math:`\lambda \sim \text{Gamma}(r, \alpha)` and :math:`\mu \sim \text{Gamma}(s, \beta)`.
    For :math:`x` repeat purchases, the last at :math:`t_x`, observed for :math:`T`:

    .. math::

        L(r, \alpha, s, \beta \mid x, t_x, T) =
        \frac{\Gamma(r + x)\, \alpha^r \beta^s}{\Gamma(r)}
        \left[ \frac{1}{(\alpha + T)^{r + x} (\beta + T)^s}
        + s \int_{t_x}^{T} \frac{d\tau}{(\alpha + \tau)^{r + x} (\beta + \tau)^{s + 1}} \right]

    (Fader & Hardie 2005, eq. 18-20). The integral is evaluated without overflow for
    any ``x`` and ``T`` and in both branches :math:`\alpha \gtrless \beta`
    (see :mod:`clvml.models.btyd.pareto_nbd_math`). The optimiser uses a
    central finite-difference gradient (no analytic gradient is declared).

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters (time rescaled so that max(T) = 1), as
        ``penalizer_coef`` in lifetimes.
    initial_params : mapping, optional
        Starting values ``{"r", "alpha", "s", "beta"}`` in the data's time unit.
    max_iter : int, default 2000
        Maximum optimiser iterations (``maxiter=`` is its deprecated spelling).

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``s``, ``beta`` (``alpha`` and ``beta`` in the data's time unit).
    log_likelihood_, n_customers_, n_distinct_, converged_, covariance_,
    standard_errors_, confidence_intervals_, aic_, bic_
        See :class:`clvml.models.btyd.base.BTYDModel`.

    Examples
    --------
    >>> from clvml.data.datasets import load_cdnow_summary
    >>> model = ParetoNBD().fit(load_cdnow_summary())
    >>> {k: round(v, 3) for k, v in model.params_.items()}
    {'r': 0.553, 'alpha': 10.578, 's': 0.606, 'beta': 11.668}
    >>> round(model.log_likelihood_, 1)
    -9595.0
    >>> import pandas as pd
    >>> one = pd.DataFrame({"frequency": [2], "recency": [30.43], "T": [38.86]})
    >>> round(float(model.probability_alive(one).iloc[0]), 3)
    0.869

    References
    ----------
    Schmittlein, D. C., Morrison, D. G. and Colombo, R. (1987). Counting your customers:
    who are they and what will they do next? Management Science 33(1), 1-24.

    Fader, P. S. and Hardie, B. G. S. (2005). A note on deriving the Pareto/NBD model
    and related expressions. http://brucehardie.com/notes/009/
    """

    _param_names = ("r", "alpha", "s", "beta")
    _data_columns = ("frequency", "recency", "T")
    _scale_column = "T"
    _scaled_columns = ("recency", "T")
    _scaled_params = ("alpha", "beta")
    _loglik = staticmethod(pareto_nbd_loglik)
    _zero_age_ok = True
    _grid_rows_ok = True

    _probability_alive = staticmethod(pareto_nbd_probability_alive)
    _expected_purchases = staticmethod(pareto_nbd_conditional_expected_purchases)
    _expected_purchases_new = staticmethod(pareto_nbd_expected_purchases_new)
    _probability_of_purchases = staticmethod(pareto_nbd_probability_of_purchases)

    def _initial_params(self, columns: tuple[np.ndarray, ...], weights: np.ndarray) -> np.ndarray:
        return np.ones(4)

    def conditional_probability_of_purchases(
        self, data: Any, n: int | np.ndarray, t: float | np.ndarray
    ) -> Any:
        """P(exactly ``n`` purchases in the next ``t`` periods | each customer's history).

        See :mod:`clvml.models.btyd.pareto_nbd_conditional` for the formula.

        Parameters
        ----------
        data : pandas.DataFrame, mapping or 2-d array
            RFM summary (``frequency``, ``recency``, ``T``) in the fit's time unit.
        n : int or 1-d array
            Number of future purchases (whole, >= 0), for every customer or one each.
        t : float or 1-d array
            Length of the future window (>= 0), for every customer or one each.

        Returns
        -------
        pandas.Series or ndarray
            A Series on ``data``'s index for a frame, an array otherwise.
        """
        n_arr = np.asarray(n, dtype=float)
        bad = ~np.isfinite(n_arr) | (n_arr < 0) | (n_arr != np.floor(n_arr))
        if bad.any():
            raise DataValidationError(
                "must be whole numbers >= 0",
                column="n",
                n_rows=int(bad.sum()),
                example=float(n_arr[bad].flat[0]),
            )
        t_arr = check_horizon(t)
        rows = self._rows(data)
        size = rows.inverse.size
        each = per_row(
            rows, n=np.broadcast_to(n_arr, (size,)).copy(), t=np.broadcast_to(t_arr, (size,)).copy()
        )
        x, t_x, T, n_u, t_u = each.columns
        values = pareto_nbd_conditional_probability_of_purchases(
            self._params_array(), n_u, t_u, x, t_x, T
        )
        return each.expand(values, name="conditional_probability_of_purchases")
