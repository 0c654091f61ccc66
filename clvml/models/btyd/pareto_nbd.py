r"""Pareto/NBD estimator (Schmittlein, Morrison & Colombo 1987).

The math lives in :mod:`clvml.models.btyd.pareto_nbd_math`; this module declares
the model to the shared machinery of :class:`~clvml.models.btyd.base.TransactionModel`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError
from clvml.models.btyd.pareto_nbd_conditional import (
    pareto_nbd_conditional_probability_of_purchases,
)
from clvml.models.btyd.pareto_nbd_grad import (
    weighted_pareto_nbd,
    weighted_pareto_nbd_full,
    weighted_pareto_nbd_value,
)
from clvml.models.btyd.pareto_nbd_math import (
    pareto_nbd_conditional_expected_purchases,
    pareto_nbd_expected_purchases_new,
    pareto_nbd_loglik,
    pareto_nbd_probability_alive,
    pareto_nbd_probability_of_purchases,
)
from clvml.models.btyd.rows import FitProblem, check_horizon
from clvml.models.btyd.transaction import TransactionModel, per_row

__all__ = ["ParetoNBD"]

#: shape of the gamma mixture taken as "homogeneous" (coefficient of variation 0.1%)
_HOMOGENEOUS_SHAPE = 1e6
#: 5% point of the 50:50 mixture of chi-square(0) and chi-square(1)
_LR_CRITICAL = 2.71


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
    (see :mod:`clvml.models.btyd.pareto_nbd_math`). The fit is damped Newton on the value,
    analytic gradient and exact Hessian, all from one quadrature pass
    (:mod:`clvml.models.btyd.pareto_nbd_grad`), from ``r = alpha = s = beta = 1`` on the
    rescaled data; the Hessian at the optimum gives the standard errors.

    When the customers' dropout rates (or purchase rates) look alike, the likelihood has
    a ridge: every large ``(s, beta)`` with the same ``s / beta`` fits about equally well,
    and the estimate of ``s`` alone means little. After the fit, a likelihood-ratio test
    of the homogeneous limit (``s -> inf`` at the fitted mean rate ``s / beta``; likewise
    ``r`` and ``alpha``) decides; ``identification_`` then says which pair is not
    identified and what is (the mean rate), and ``summary.attrs["identification"]``
    carries the same sentence.

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
    identification_ : str or None
        ``None`` when the data identify all four parameters; otherwise a sentence naming
        the pair on a ridge (see above) and the likelihood-ratio statistic.
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
    _weighted_loglik_and_grad = staticmethod(weighted_pareto_nbd)
    _weighted_fgh = staticmethod(weighted_pareto_nbd_full)
    _zero_age_ok = True
    _grid_rows_ok = True

    _probability_alive = staticmethod(pareto_nbd_probability_alive)
    _expected_purchases = staticmethod(pareto_nbd_conditional_expected_purchases)
    _expected_purchases_new = staticmethod(pareto_nbd_expected_purchases_new)
    _probability_of_purchases = staticmethod(pareto_nbd_probability_of_purchases)

    def _initial_params(self, columns: tuple[np.ndarray, ...], weights: np.ndarray) -> np.ndarray:
        return np.ones(4)

    def _set_results(self, problem: FitProblem, theta: np.ndarray, hess: np.ndarray) -> None:
        super()._set_results(problem, theta, hess)
        self.identification_ = self._ridge_check(problem)

    def _ridge_check(self, problem: FitProblem) -> str | None:
        """Which (shape, scale) pair the data leave on a ridge, by a likelihood-ratio test.

        The homogeneous limit of a gamma mixture (shape -> inf at a fixed mean
        shape / scale) is on the boundary of the parameter space, so the statistic
        ``2 (LL_fit - LL_limit)`` is compared with 2.71, the 5% point of the
        half-chi-square mixture.
        """
        params = self._params_array()
        notes = []
        for i, (shape, scale, what) in enumerate(
            (("r", "alpha", "purchase"), ("s", "beta", "dropout"))
        ):
            limit = params.copy()
            big = max(_HOMOGENEOUS_SHAPE, 10.0 * params[2 * i])
            limit[2 * i] = big
            limit[2 * i + 1] = big * params[2 * i + 1] / params[2 * i]
            # the optimiser's kernel (within ~1e-11 of the high-precision likelihood, far
            # below what moves the statistic) costs a tenth: every row of the limit is on
            # the quadrature path of pareto_nbd_loglik
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                ll_limit = weighted_pareto_nbd_value(limit, problem.counts, *problem.columns)
            lr = 2.0 * (self.log_likelihood_ - ll_limit)
            if np.isfinite(lr) and lr < _LR_CRITICAL:
                rate = params[2 * i] / params[2 * i + 1]
                notes.append(
                    f"{shape} and {scale} are not separately identified: the {what} rates "
                    f"look the same for every customer (likelihood ratio against that limit "
                    f"{max(lr, 0.0):.2f} < {_LR_CRITICAL}); only their mean "
                    f"{shape}/{scale} = {rate:.4g} per time unit is estimated"
                )
        return "; ".join(notes) or None

    @property
    def summary(self) -> pd.DataFrame:
        """Parameter table as :attr:`BTYDModel.summary`; ``attrs["identification"]`` too."""
        out = super().summary
        out.attrs["identification"] = getattr(self, "identification_", None)
        return out

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
