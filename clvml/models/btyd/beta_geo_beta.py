r"""BG/BB estimator for discrete transaction opportunities (Fader, Hardie & Shang 2010).

The math lives in :mod:`clvml.models.btyd.bgbb_math`; this module declares the model
to the shared machinery of :class:`~clvml.models.btyd.base.TransactionModel`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from clvml.data.validation import validate_rfm_summary
from clvml.exceptions import DataValidationError
from clvml.models.btyd.bgbb_math import (
    bgbb_conditional_expected_purchases,
    bgbb_expected_purchases_new,
    bgbb_loglik,
    bgbb_loglik_grad,
    bgbb_probability_alive,
    bgbb_probability_of_purchases,
)
from clvml.models.btyd.rows import check_horizon
from clvml.models.btyd.transaction import TransactionModel

__all__ = ["BetaGeoBeta", "BetaGeoBetaBinom"]


def _whole(values: Any, name: str) -> np.ndarray:
    arr = check_horizon(values, name)
    bad = arr != np.round(arr)
    if bad.any():
        raise DataValidationError(
            "must be whole numbers of transaction opportunities",
            column=name,
            n_rows=int(bad.sum()),
            example=float(arr[bad].flat[0]),
        )
    return arr


class BetaGeoBetaBinom(TransactionModel):
    r"""BG/BB model of repeat transactions at discrete opportunities (e.g. yearly donations).

    While alive, a customer transacts at each opportunity with probability
    :math:`p \sim \text{Beta}(\alpha, \beta)`; before each opportunity an alive
    customer dies with probability :math:`\theta \sim \text{Beta}(\gamma, \delta)`.
    For ``x`` transactions in ``n`` opportunities, the last at opportunity ``t_x``
    (Fader, Hardie & Shang 2010, eq. 5):

    .. math::

        L = \frac{B(\alpha + x, \beta + n - x)}{B(\alpha, \beta)}
        \frac{B(\gamma, \delta + n)}{B(\gamma, \delta)}
        + \sum_{i=0}^{n - t_x - 1}
        \frac{B(\alpha + x, \beta + t_x - x + i)}{B(\alpha, \beta)}
        \frac{B(\gamma + 1, \delta + t_x + i)}{B(\gamma, \delta)}

    The fit uses the analytic gradient and no time rescaling (time is a count of
    opportunities).

    Data: ``frequency`` (opportunities with a transaction), ``recency`` (the last
    such opportunity, 0 if none) and ``n_periods`` (opportunities observed; a
    column named ``periods``, as in :func:`clvml.data.datasets.load_donations`, is
    accepted too), all whole numbers with ``frequency <= recency <= n_periods``.
    Horizons ``t`` in the predictions are numbers of future opportunities.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters, as ``penalizer_coef`` in lifetimes.
    initial_params : mapping, optional
        Starting values ``{"alpha", "beta", "gamma", "delta"}``.
    max_iter : int, default 2000
        Maximum optimiser iterations (``maxiter=`` is its deprecated spelling).

    Attributes
    ----------
    params_ : dict
        ``alpha``, ``beta`` (transaction probability), ``gamma``, ``delta`` (dropout).
    log_likelihood_, n_customers_, n_distinct_, converged_, covariance_,
    standard_errors_, confidence_intervals_, aic_, bic_
        See :class:`clvml.models.btyd.base.BTYDModel`.

    Examples
    --------
    >>> from clvml.data.datasets import load_donations
    >>> donations = load_donations()
    >>> model = BetaGeoBetaBinom().fit(donations, weights="weights")
    >>> {k: round(v, 3) for k, v in model.params_.items()}
    {'alpha': 1.204, 'beta': 0.75, 'gamma': 0.657, 'delta': 2.783}
    >>> round(model.log_likelihood_, 1)
    -33225.6

    References
    ----------
    Fader, P. S., Hardie, B. G. S. and Shang, J. (2010). Customer-base analysis in a
    discrete-time noncontractual setting. Marketing Science 29(6), 1086-1108.
    """

    _param_names = ("alpha", "beta", "gamma", "delta")
    _data_columns = ("frequency", "recency", "n_periods")
    _scale_column = None
    _loglik = staticmethod(bgbb_loglik)
    _loglik_grad = staticmethod(bgbb_loglik_grad)

    _probability_alive = staticmethod(bgbb_probability_alive)
    _expected_purchases = staticmethod(bgbb_conditional_expected_purchases)
    _expected_purchases_new = staticmethod(bgbb_expected_purchases_new)
    _probability_of_purchases = staticmethod(bgbb_probability_of_purchases)

    def _initial_params(self, columns: tuple[np.ndarray, ...], weights: np.ndarray) -> np.ndarray:
        return np.ones(4)

    def _as_frame(self, data: Any, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
        frame = super()._as_frame(data, columns)
        if "n_periods" not in frame.columns and "periods" in frame.columns:
            frame = frame.rename(columns={"periods": "n_periods"})
        return frame

    def _validate(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = validate_rfm_summary(frame, self._data_columns)
        for col in ("recency", "n_periods"):
            v = out[col].to_numpy()
            bad = v != np.round(v)
            if bad.any():
                raise DataValidationError(
                    "are not whole numbers; expected counts of transaction opportunities",
                    column=col,
                    n_rows=int(bad.sum()),
                    example=float(v[bad][0]),
                )
        f, r = out["frequency"].to_numpy(), out["recency"].to_numpy()
        bad = f > r
        if bad.any():
            raise DataValidationError(
                "exceed recency; at most one transaction per opportunity",
                column="frequency",
                n_rows=int(bad.sum()),
                example=float(f[bad][0]),
            )
        return out

    # ---------------------------------------------------------------- predictions
    def probability_alive(self, data: Any, future_periods: int = 0) -> Any:
        """Probability that each customer is alive at opportunity ``n_periods + future_periods``.

        ``future_periods=0`` (default) is alive at the last observed opportunity, the
        analogue of the continuous-time models' P(alive at T); ``1`` is the paper's
        "alive in the next period" (Fader, Hardie & Shang 2010, eq. 11 and Table 6).
        """
        m = float(_whole(future_periods, "future_periods"))
        rows = self._rows(data)
        x, t_x, n = rows.columns
        values = bgbb_probability_alive(self._params_array(), x, t_x, n, m)
        return rows.expand(values, name="probability_alive")

    def expected_purchases(self, data: Any, t: float | np.ndarray) -> Any:
        """Expected transactions of each customer in the next ``t`` opportunities (eq. 13)."""
        _whole(t, "t")
        return super().expected_purchases(data, t)

    def expected_purchases_new_customer(self, t: float | np.ndarray) -> np.ndarray | float:
        """Expected transactions of a new customer in the first ``t`` opportunities (eq. 9)."""
        _whole(t, "t")
        return super().expected_purchases_new_customer(t)

    def probability_of_purchases(
        self, x: int | np.ndarray, t: float | np.ndarray
    ) -> np.ndarray | float:
        """P(X(t) = x): ``x`` transactions in the first ``t`` opportunities (eq. 7)."""
        _whole(t, "t")
        return super().probability_of_purchases(x, t)


class BetaGeoBeta(BetaGeoBetaBinom):
    """Deprecated name of :class:`BetaGeoBetaBinom` (the same model; warns when created)."""

    def __init__(
        self,
        penalizer: float = 0.0,
        initial_params: Mapping[str, float] | None = None,
        max_iter: int = 2000,
        *,
        maxiter: int | None = None,
    ) -> None:
        warnings.warn(
            "BetaGeoBeta is deprecated; use BetaGeoBetaBinom (the same model)",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(penalizer, initial_params, max_iter, maxiter=maxiter)
