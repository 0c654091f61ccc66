"""The shifted-beta-geometric (sBG) estimator of contractual retention (Fader & Hardie 2007).

Fitted by maximum likelihood on spells compressed to distinct ``(duration, censored)``
rows, in log-parameters with the analytic gradient, by the optimiser of the BTYD models
(:mod:`clvml.models.btyd.optimise`); standard errors from the observed information.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from threadpoolctl import threadpool_limits

from clvml.models.btyd.optimise import (
    check_convergence,
    inverse_information,
    log_normal_summary,
    log_objective,
    minimise,
)
from clvml.models.subscription import sbg_math
from clvml.models.subscription.spells import survival_to_spells, validate_spells

__all__ = ["ShiftedBetaGeometric"]

_NAMES = ("alpha", "beta")


@dataclass(frozen=True)
class _Problem:
    scaled: tuple[np.ndarray, np.ndarray]  # (duration, censored) distinct rows
    counts: np.ndarray


def _compress(dur: np.ndarray, cens: np.ndarray, w: np.ndarray) -> _Problem:
    keep = w > 0
    key = dur[keep].astype(np.int64) * 2 + cens[keep]
    uniq, inv = np.unique(key, return_inverse=True)
    counts = np.bincount(inv, weights=w[keep], minlength=uniq.size)
    return _Problem(((uniq // 2).astype(float), (uniq % 2).astype(bool)), counts)


class ShiftedBetaGeometric(BaseEstimator):
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

    def __init__(self, penalizer: float = 0.0, max_iter: int = 2000) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter

    # ------------------------------------------------------------------ fit
    def fit(self, spells: pd.DataFrame, weights: Any = None) -> ShiftedBetaGeometric:
        """Fit on individual spells (columns ``duration``, ``censored``, optional ``weight``).

        Parameters
        ----------
        spells : pandas.DataFrame
            One row per spell (or per group of identical spells with ``weights``); see
            :mod:`clvml.models.subscription.spells` for the meaning of the columns.
        weights : array-like or str, optional
            Customers each row stands for, or the name of the column holding them.

        Returns
        -------
        self

        Raises
        ------
        DataValidationError
            The spells break the contract (missing column, negative or fractional
            duration, cancelled spell of duration 0, negative weights, no rows).
        """
        if not (np.isfinite(self.penalizer) and self.penalizer >= 0):
            raise ValueError(f"penalizer must be a finite number >= 0, got {self.penalizer!r}")
        dur, cens, w = validate_spells(spells, weights)
        problem = _compress(dur, cens, w)
        fg = log_objective(
            sbg_math.sbg_loglik, sbg_math.sbg_loglik_grad, None, problem, self.penalizer
        )
        theta0 = np.zeros(2)  # alpha = beta = 1: theta uniform
        owner = type(self).__name__
        with threadpool_limits(limits=1, user_api="blas"):
            theta, _, hess, res = minimise(
                fg, theta0, max_iter=self.max_iter, owner=owner, analytic=True
            )
        self.converged_ = check_convergence(fg, theta, res, owner, list(_NAMES), "")
        self.n_iter_ = int(res.nit)
        params = np.exp(theta)
        self.params_ = dict(zip(_NAMES, map(float, params), strict=True))
        n = float(problem.counts.sum())
        self.n_customers_ = n
        self.n_distinct_ = int(problem.counts.size)
        self.log_likelihood_ = float(problem.counts @ sbg_math.sbg_loglik(params, *problem.scaled))
        self.aic_ = 4 - 2 * self.log_likelihood_
        self.bic_ = 2 * math.log(n) - 2 * self.log_likelihood_
        cov_theta = inverse_information(hess * n, owner, "Check that the data show cancellations.")
        self.log_params_covariance_ = cov_theta
        self.covariance_, self.standard_errors_, self.confidence_intervals_ = log_normal_summary(
            params, cov_theta, list(_NAMES)
        )
        return self

    def fit_survival(self, survivors: Any) -> ShiftedBetaGeometric:
        """Fit on one cohort's survival counts (customers active at the start of each period,
        the cohort size first); see :func:`~clvml.models.subscription.survival_to_spells`."""
        return self.fit(survival_to_spells(survivors))

    # ------------------------------------------------------------------ results
    def _ab(self) -> tuple[float, float]:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit first."
            )
        return self.params_["alpha"], self.params_["beta"]

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "params_")

    @property
    def summary(self) -> pd.DataFrame:
        """Parameter table: ``coef``, ``se(coef)``, ``lower 95%``, ``upper 95%``."""
        self._ab()
        out = pd.DataFrame({"coef": pd.Series(self.params_)})
        out["se(coef)"] = self.standard_errors_
        return out.join(self.confidence_intervals_)

    def log_likelihood(self, spells: pd.DataFrame, weights: Any = None) -> float:
        """Weighted log-likelihood of ``spells`` at the fitted parameters."""
        a, b = self._ab()
        dur, cens, w = validate_spells(spells, weights)
        return float(w @ sbg_math.sbg_loglik(np.array([a, b]), dur, cens))

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

    def customer_lifetime_value(
        self, n: Any, discount_rate: float, price: Any, margin: Any = 1.0
    ) -> np.ndarray:
        """Residual CLV of a customer active for ``n`` periods: ``DERL x margin x price``."""
        derl = self.discounted_expected_residual_lifetime(n, discount_rate)
        return derl * np.asarray(margin, dtype=float) * np.asarray(price, dtype=float)
