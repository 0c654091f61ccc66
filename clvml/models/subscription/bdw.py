"""The beta-discrete-Weibull (BdW) retention estimator and its likelihood-ratio test
against the shifted-beta-geometric model it nests (``c = 1``)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from clvml.models.subscription import bdw_math
from clvml.models.subscription._base import RetentionModel

__all__ = ["BetaDiscreteWeibull", "likelihood_ratio_test"]


class BetaDiscreteWeibull(RetentionModel):
    """Beta-discrete-Weibull model: ``S(t | theta) = (1 - theta) ** (t ** c)``,
    ``theta ~ Beta(alpha, beta)``; ``c = 1`` is the shifted-beta-geometric model.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty ``penalizer * (alpha**2 + beta**2 + c**2)`` on the mean negative
        log-likelihood.
    max_iter : int, default 2000
        Maximum L-BFGS-B iterations.

    Attributes
    ----------
    params_ : dict of str to float
        ``alpha``, ``beta`` and ``c`` (``c < 1``: individual churn falls with tenure).
    log_likelihood_, n_customers_, n_distinct_, converged_, covariance_,
    standard_errors_, confidence_intervals_, aic_, bic_
        As for :class:`~clvml.models.subscription.ShiftedBetaGeometric`.

    Examples
    --------
    >>> bdw = BetaDiscreteWeibull().fit_survival([1000, 631, 468, 382, 326, 289, 262, 241])
    >>> sorted(bdw.params_)
    ['alpha', 'beta', 'c']
    """

    _param_names: ClassVar[tuple[str, ...]] = ("alpha", "beta", "c")
    _loglik = staticmethod(bdw_math.bdw_loglik)
    _loglik_grad = staticmethod(bdw_math.bdw_loglik_grad)

    def survival(self, t: Any) -> np.ndarray:
        """``S(t)``: share of a new cohort still active after ``t`` periods."""
        a, b, c = self._params()
        return np.exp(bdw_math.bdw_log_survival(a, b, c, np.asarray(t, dtype=float)))

    def retention(self, t: Any) -> np.ndarray:
        """Retention curve ``r_t = S(t) / S(t - 1)`` for periods ``t >= 1``."""
        a, b, c = self._params()
        t = np.asarray(t, dtype=float)
        ls = bdw_math.bdw_log_survival
        return np.exp(ls(a, b, c, t) - ls(a, b, c, t - 1.0))

    def discounted_expected_lifetime(self, discount_rate: float) -> float:
        """DEL: discounted expected lifetime of a new customer, in periods (series sum)."""
        a, b, c = self._params()
        return bdw_math.bdw_del(a, b, c, discount_rate)

    def discounted_expected_residual_lifetime(self, n: Any, discount_rate: float) -> np.ndarray:
        """DERL of a customer active for ``n`` periods, about to decide on renewal ``n``
        (series summed to a relative tail below 1e-13; ``c = 1`` gives the sBG closed form)."""
        a, b, c = self._params()
        return bdw_math.bdw_derl(a, b, c, n, discount_rate)


def likelihood_ratio_test(restricted: BaseEstimator, full: BaseEstimator) -> dict[str, float]:
    """Likelihood-ratio test of a nested fit (e.g. sBG) against a fuller one (e.g. BdW).

    Both must be fitted on the same spells (any fitted retention model with ``params_``,
    ``log_likelihood_`` and ``n_customers_``: plain or with covariates). Returns
    ``statistic`` ``2 (LL_full - LL_restricted)``, ``df`` (the number of extra parameters)
    and ``p_value`` (chi-squared).
    """
    for model in (restricted, full):
        check_is_fitted(model, "params_")
    if restricted.n_customers_ != full.n_customers_:
        raise ValueError(
            "the two models were fitted on different data "
            f"({restricted.n_customers_:g} vs {full.n_customers_:g} customers)"
        )
    df = len(full.params_) - len(restricted.params_)
    if df < 1:
        raise ValueError("the full model must have more parameters than the restricted one")
    stat = max(0.0, 2.0 * (full.log_likelihood_ - restricted.log_likelihood_))
    return {"statistic": stat, "df": float(df), "p_value": float(stats.chi2.sf(stat, df))}
