"""The shifted-beta-geometric (sBG) estimator of contractual retention (Fader & Hardie 2007).

Fitted by maximum likelihood on spells compressed to distinct ``(duration, censored)``
rows, in log-parameters with the analytic gradient (:class:`~._base.RetentionModel`);
standard errors from the observed information. The formulas are in :mod:`.sbg_math`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from clvml.models.subscription import sbg_math
from clvml.models.subscription._base import RetentionModel

__all__ = ["ShiftedBetaGeometric"]


class ShiftedBetaGeometric(RetentionModel):
    """Shifted-beta-geometric model: each customer cancels with a constant probability
    ``theta`` per period, ``theta ~ Beta(alpha, beta)`` across customers.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty ``penalizer * (alpha**2 + beta**2)`` on the mean negative log-likelihood.
    max_iter : int, default 2000
        Maximum L-BFGS-B iterations.

    Attributes
    ----------
    params_ : dict of str to float
        ``alpha`` and ``beta``.
    log_likelihood_ : float
        Weighted log-likelihood at ``params_``.
    n_customers_ : float
        Customers fitted (sum of weights).
    n_distinct_ : int
        Distinct ``(duration, censored)`` rows the likelihood was evaluated on.
    converged_ : bool
        Whether the optimiser met its gradient criterion.
    covariance_, standard_errors_, confidence_intervals_
        From the inverse observed information (delta method from log-parameters).
    aic_, bic_ : float
        Information criteria.

    Examples
    --------
    >>> regular = [1000, 631, 468, 382, 326, 289, 262, 241]
    >>> sbg = ShiftedBetaGeometric().fit_survival(regular)
    >>> round(sbg.params_["alpha"], 3), round(sbg.params_["beta"], 3)
    (0.704, 1.182)
    """

    _param_names: ClassVar[tuple[str, ...]] = ("alpha", "beta")
    _loglik = staticmethod(sbg_math.sbg_loglik)
    _loglik_grad = staticmethod(sbg_math.sbg_loglik_grad)

    def _ab(self) -> tuple[float, float]:
        a, b = self._params()
        return float(a), float(b)

    def survival(self, t: Any) -> np.ndarray:
        """``S(t)``: share of a new cohort still active after ``t`` periods."""
        return sbg_math.sbg_survival(*self._ab(), np.asarray(t, dtype=float))

    def retention(self, t: Any) -> np.ndarray:
        """Retention curve ``r_t = S(t) / S(t - 1)`` for periods ``t >= 1``."""
        return sbg_math.sbg_retention(*self._ab(), np.asarray(t, dtype=float))

    def expected_lifetime(self) -> float:
        """Mean lifetime of a new customer in periods (``inf`` when ``alpha <= 1``)."""
        return sbg_math.sbg_expected_lifetime(*self._ab())

    def discounted_expected_lifetime(self, discount_rate: float) -> float:
        """DEL: discounted expected lifetime of a new customer, in periods."""
        return sbg_math.sbg_del(*self._ab(), discount_rate)

    def discounted_expected_residual_lifetime(self, n: Any, discount_rate: float) -> np.ndarray:
        """DERL of a customer active for ``n`` periods, about to decide on renewal ``n``."""
        return sbg_math.sbg_derl(*self._ab(), np.asarray(n), discount_rate)
