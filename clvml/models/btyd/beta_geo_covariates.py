r"""BG/NBD with time-invariant customer covariates (Fader & Hardie 2007, note 019).

The pure likelihood and prediction formulas live in
:mod:`clvml.models.btyd.covariate_likelihoods`; the fitting machinery in
:mod:`clvml.models.btyd.covariates`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from clvml.models.btyd.beta_geo import (
    bgnbd_expected_purchases_new,
    bgnbd_probability_of_purchases,
)
from clvml.models.btyd.covariate_likelihoods import (
    bgnbd_covariates_conditional_expected_purchases,
    bgnbd_covariates_loglik,
    bgnbd_covariates_loglik_grad,
    bgnbd_covariates_probability_alive,
    weighted_bgnbd_covariates,
)
from clvml.models.btyd.covariates import CovariateModel, _stack
from clvml.models.btyd.likelihoods import weighted_bgnbd
from clvml.models.btyd.rows import check_horizon
from clvml.models.btyd.transaction import TransactionModel

__all__ = ["BetaGeoCovariates"]


def _probability_alive(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, *z: np.ndarray
) -> np.ndarray:
    return bgnbd_covariates_probability_alive(params, x, t_x, T, _stack(z, np.size(x)))


def _expected_purchases(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, *z_and_t: Any
) -> np.ndarray:
    # columns as CompressedRows holds them, then the horizon (the TransactionModel and
    # customer_lifetime_value calling convention)
    *z, t = z_and_t
    return bgnbd_covariates_conditional_expected_purchases(
        params, x, t_x, T, _stack(z, np.size(x)), t
    )


def _expected_purchases_new(params: np.ndarray, t: np.ndarray) -> np.ndarray:
    return bgnbd_expected_purchases_new(np.asarray(params)[:4], t)


def _probability_of_purchases(params: np.ndarray, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    return bgnbd_probability_of_purchases(np.asarray(params)[:4], x, t)


class BetaGeoCovariates(CovariateModel, TransactionModel):
    r"""BG/NBD model whose purchase and dropout heterogeneity depend on customer covariates.

    Customer :math:`i` with covariates :math:`x_i` buys as a Poisson process with rate
    :math:`\lambda_i \sim \text{Gamma}(r, \alpha_i)` while active and drops out after each
    purchase with probability :math:`p_i \sim \text{Beta}(a_i, b_i)`, where

    .. math::

        \alpha_i = \alpha_0 e^{-\gamma_\alpha^\top x_i}, \quad
        a_i = a_0 e^{\gamma_a^\top x_i}, \quad
        b_i = b_0 e^{\gamma_b^\top x_i}

    (Fader & Hardie 2007, note 019). A positive ``alpha:<col>`` raises purchasing (the
    mean rate is :math:`r e^{\gamma_\alpha^\top x_i} / \alpha_0`); a positive ``a:<col>``
    raises and a positive ``b:<col>`` lowers dropout (the log-odds of the mean dropout
    probability :math:`a_i / (a_i + b_i)` move by :math:`(\gamma_a - \gamma_b)^\top x_i`).
    Given :math:`(\alpha_i, a_i, b_i)` the likelihood of :math:`(x, t_x, T)` is FHL (2005)
    eq. 6, so with all coefficients zero the model is :class:`~clvml.models.btyd.BetaGeo`.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on ``(r, alpha0, a0, b0)`` (time rescaled so max(T) = 1, at mean
        covariates) and on the per-standard-deviation coefficients.
    covariates : list of str, dict or None, default None
        Covariate columns: a list links each to ``alpha``, ``a`` and ``b``; a dict such as
        ``{"alpha": ["advocacy_score"], "b": ["care_resolved"]}`` links columns to chosen
        parameters; ``None`` takes every numeric non-RFM column. Covariates are
        standardised inside the estimator.
    max_iter : int, default 2000
        Maximum optimiser iterations (``maxiter=`` is its deprecated spelling).

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha0`` (data time unit), ``a0``, ``b0`` (the values at covariates 0)
        and ``"<param>:<column>"`` coefficients per unit of the covariate.
    covariates_ : list of str
        Covariate columns used.
    covariate_means_, covariate_scales_ : pandas.Series
        The standardisation fitted on the customers (weighted).
    link_mask_ : pandas.DataFrame
        Which covariate enters which parameter.
    internal_params_ : ndarray
        ``(r, alpha0, a0, b0)`` at mean covariates, then per-standard-deviation
        coefficients for ``alpha``, ``a`` and ``b`` (zeros where not linked): the vector
        of :mod:`clvml.models.btyd.covariate_likelihoods`.
    log_likelihood_, n_customers_, n_distinct_, converged_, n_iter_, covariance_,
    standard_errors_, confidence_intervals_, aic_, bic_
        As :class:`~clvml.models.btyd.base.BTYDModel` (``covariance_`` over ``params_``).

    Notes
    -----
    Predictions (``expected_purchases``, ``probability_alive``) read the covariates from
    the frame they are given. ``expected_purchases_new_customer(t)`` and
    ``probability_of_purchases`` describe a new customer with the mean covariates of
    the fitted customers; pass ``data`` to the former for specific covariates.
    :func:`clvml.models.btyd.clv.customer_lifetime_value` accepts the fitted model in
    place of :class:`~clvml.models.btyd.BetaGeo`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from clvml.data.simulate import simulate_bgnbd_covariates
    >>> rng = np.random.default_rng(0)
    >>> z = pd.DataFrame({"engaged": rng.normal(size=5000)})
    >>> sim = simulate_bgnbd_covariates(z, r=0.6, alpha0=8.0, a0=1.2, b0=4.0, T=52, random_state=1,
    ...                                 coefficients={"alpha": {"engaged": 0.5}})
    >>> model = BetaGeoCovariates(covariates={"alpha": ["engaged"]}).fit(sim.summary)
    >>> est, se = model.params_["alpha:engaged"], model.standard_errors_["alpha:engaged"]
    >>> bool(abs(est - 0.5) < 4 * se)
    True

    References
    ----------
    Fader, P. S. and Hardie, B. G. S. (2007). Incorporating time-invariant covariates into
    the Pareto/NBD and BG/NBD models. http://brucehardie.com/notes/019/

    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting your customers" the
    easy way: an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.
    """

    _base_names = ("r", "alpha0", "a0", "b0")
    _links = (("alpha", 1, -1), ("a", 2, 1), ("b", 3, 1))
    _data_columns = ("frequency", "recency", "T")
    _scale_column = "T"
    _scaled_columns = ("recency", "T")
    _scaled_params = ("alpha0",)
    _loglik = staticmethod(bgnbd_covariates_loglik)
    _loglik_grad = staticmethod(bgnbd_covariates_loglik_grad)
    _weighted_loglik_and_grad = staticmethod(weighted_bgnbd_covariates)

    _probability_alive = staticmethod(_probability_alive)
    _expected_purchases = staticmethod(_expected_purchases)
    _expected_purchases_new = staticmethod(_expected_purchases_new)
    _probability_of_purchases = staticmethod(_probability_of_purchases)

    def _initial_base(self, columns: tuple[np.ndarray, ...], weights: np.ndarray) -> np.ndarray:
        # the plain BG/NBD optimum is the exact answer when no covariate matters: start there
        # when a short run from (1, 1, 1, 1) finds it, else from (1, 1, 1, 1)
        wn = weights / weights.sum()

        def fg(theta: np.ndarray) -> tuple[float, np.ndarray]:
            p = np.exp(theta)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                ll, g = weighted_bgnbd(p, wn, *columns)
            if not (np.isfinite(ll) and np.all(np.isfinite(g))):
                return 1e300, np.zeros(4)
            return -ll, -g * p

        res = optimize.minimize(
            fg, np.zeros(4), jac=True, method="L-BFGS-B", bounds=[(-10.0, 10.0)] * 4,
            options={"maxiter": 200},
        )  # fmt: skip
        start = np.exp(res.x)
        return start if np.all(np.isfinite(start)) and res.fun < 1e300 else np.ones(4)

    def expected_purchases_new_customer(
        self, t: float | np.ndarray, data: Any = None
    ) -> np.ndarray | float | Any:
        """Expected repeat purchases in the first ``t`` periods of a new customer (FHL eq. 9).

        Without ``data``: a customer with the mean covariates of the fitted customers.
        With ``data`` (a frame holding the covariate columns): one value per row, for
        customers acquired now with those covariates.
        """
        if data is None:
            return super().expected_purchases_new_customer(t)
        t_arr = check_horizon(t)
        if t_arr.ndim != 0:
            raise ValueError("expected a single horizon t when data is given")
        self._check_fitted()
        frame = self._frame(data)
        X = self._covariate_values(frame, self.covariates_)
        Z = (X - self.covariate_means_.to_numpy()) / self.covariate_scales_.to_numpy()
        zeros = np.zeros(len(frame))
        values = bgnbd_covariates_conditional_expected_purchases(
            self._params_array(), zeros, zeros, zeros, Z, float(t_arr)
        )
        if isinstance(data, pd.DataFrame):
            return pd.Series(values, index=frame.index, name="expected_purchases_new_customer")
        return values
