"""Shared fitting of the contractual retention models (sBG, BdW): spells -> distinct rows -> MLE.

A model declares ``_param_names``, a per-row ``_loglik(params, duration, censored)`` and,
optionally, its gradient ``_loglik_grad`` (central differences otherwise). The base
validates and compresses the spells to distinct ``(duration, censored)`` rows, maximises
the weighted likelihood in log-parameters with the optimiser of the BTYD models
(:mod:`clvml.models.btyd.optimise`) and sets ``params_``, the information-matrix standard
errors, AIC and BIC.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

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
from clvml.models.subscription.bdw_math import log_survival_rows
from clvml.models.subscription.lifetime_math import check_tenure, expected_renewals
from clvml.models.subscription.spells import survival_to_spells, validate_spells

__all__ = ["RetentionModel"]


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


class RetentionModel(BaseEstimator):
    """Base of the contractual retention models (see the module docstring).

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty ``penalizer * sum(params**2)`` on the mean negative log-likelihood.
    max_iter : int, default 2000
        Maximum L-BFGS-B iterations.
    """

    _param_names: ClassVar[tuple[str, ...]] = ()
    _loglik: ClassVar[Callable[..., np.ndarray]]
    _loglik_grad: ClassVar[Callable[..., np.ndarray] | None] = None

    def __init__(self, penalizer: float = 0.0, max_iter: int = 2000) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter

    # ------------------------------------------------------------------ fit
    def fit(self, spells: pd.DataFrame, weights: Any = None) -> RetentionModel:
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
        cls = type(self)
        fg = log_objective(cls._loglik, cls._loglik_grad, None, problem, self.penalizer)
        names = list(self._param_names)
        theta0 = np.zeros(len(names))  # alpha = beta = 1 (theta uniform), c = 1
        owner = type(self).__name__
        with threadpool_limits(limits=1, user_api="blas"):
            theta, _, hess, res = minimise(
                fg,
                theta0,
                max_iter=self.max_iter,
                owner=owner,
                analytic=cls._loglik_grad is not None,
            )
        self.converged_ = check_convergence(fg, theta, res, owner, names, "")
        self.n_iter_ = int(res.nit)
        params = np.exp(theta)
        self.params_ = dict(zip(names, map(float, params), strict=True))
        n = float(problem.counts.sum())
        self.n_customers_ = n
        self.n_distinct_ = int(problem.counts.size)
        self.log_likelihood_ = float(problem.counts @ cls._loglik(params, *problem.scaled))
        self.aic_ = 2 * len(names) - 2 * self.log_likelihood_
        self.bic_ = len(names) * math.log(n) - 2 * self.log_likelihood_
        cov_theta = inverse_information(hess * n, owner, "Check that the data show cancellations.")
        self.log_params_covariance_ = cov_theta
        with np.errstate(over="ignore"):  # an unidentified parameter's interval is (0, inf)
            summary = log_normal_summary(params, cov_theta, names)
        self.covariance_, self.standard_errors_, self.confidence_intervals_ = summary
        return self

    def fit_survival(self, survivors: Any) -> RetentionModel:
        """Fit on one cohort's survival counts (customers active at the start of each period,
        the cohort size first); see :func:`~clvml.models.subscription.survival_to_spells`."""
        return self.fit(survival_to_spells(survivors))

    # ------------------------------------------------------------------ results
    def _params(self) -> np.ndarray:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit first."
            )
        return np.array([self.params_[p] for p in self._param_names])

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "params_")

    @property
    def summary(self) -> pd.DataFrame:
        """Parameter table: ``coef``, ``se(coef)``, ``lower 95%``, ``upper 95%``."""
        self._params()
        out = pd.DataFrame({"coef": pd.Series(self.params_)})
        out["se(coef)"] = self.standard_errors_
        return out.join(self.confidence_intervals_)

    def renewal_probability(self, n: Any) -> np.ndarray:
        """Probability that a customer active for ``n >= 1`` periods (``n - 1`` renewals
        made) renews at the end of period ``n``: ``r_n = S(n) / S(n - 1)``."""
        return self.retention(check_tenure(n))

    def customer_lifetime_value(
        self, n: Any, discount_rate: float, price: Any, margin: Any = 1.0
    ) -> np.ndarray:
        """Residual CLV of a customer active for ``n`` periods: ``DERL x margin x price``
        (the renewals still to come; the period already paid is not counted)."""
        derl = self.discounted_expected_residual_lifetime(n, discount_rate)
        return derl * np.asarray(margin, dtype=float) * np.asarray(price, dtype=float)

    def expected_renewals(self, n: Any, horizon: Any) -> np.ndarray:
        """Expected billings in the next ``horizon`` periods (one value or one per row) of
        customers active for ``n`` periods, undiscounted
        (:func:`~clvml.models.subscription.lifetime_math.expected_renewals`)."""
        p = self._params()
        abc = np.r_[p, 1.0][:3]  # sBG is BdW at c = 1
        n = np.asarray(n, dtype=float)
        rows = np.tile(abc, (max(n.size, 1), 1))
        out = expected_renewals(log_survival_rows, rows, n.ravel(), horizon)
        return out.reshape(n.shape)

    def log_likelihood(self, spells: pd.DataFrame, weights: Any = None) -> float:
        """Weighted log-likelihood of ``spells`` at the fitted parameters."""
        params = self._params()
        dur, cens, w = validate_spells(spells, weights)
        return float(w @ type(self)._loglik(params, dur, cens))
