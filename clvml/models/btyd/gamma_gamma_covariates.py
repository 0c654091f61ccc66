r"""Gamma-Gamma spend model with time-invariant customer covariates.

The pure likelihood and prediction formulas live in
:mod:`clvml.models.btyd.covariate_likelihoods`; the fitting machinery in
:mod:`clvml.models.btyd.covariates`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clvml.models.btyd.covariates import CovariateModel, _stack
from clvml.models.btyd.gamma_gamma import GammaGamma, _spend_start
from clvml.models.btyd.gamma_gamma_covariates_math import (
    gamma_gamma_covariates_expected_average_spend,
    gamma_gamma_covariates_loglik,
    gamma_gamma_covariates_loglik_grad,
    weighted_gamma_gamma_covariates,
)

__all__ = ["GammaGammaCovariates"]


def _expected_average_spend(
    params: np.ndarray, x: np.ndarray, m: np.ndarray, *z: np.ndarray
) -> np.ndarray:
    return gamma_gamma_covariates_expected_average_spend(params, x, m, _stack(z, np.size(x)))


class GammaGammaCovariates(CovariateModel):
    r"""Gamma-Gamma spend model whose spend level depends on customer covariates.

    Transaction values of customer :math:`i` are i.i.d. :math:`\text{Gamma}(p, \nu_i)` and
    :math:`\nu_i \sim \text{Gamma}(q, v_i)` with

    .. math:: v_i = v_0\, e^{\gamma_v^\top x_i},

    so the expected spend per transaction of a customer with covariates :math:`x_i`,
    :math:`p v_i / (q - 1)`, is :math:`e^{\gamma_v^\top x_i}` times the baseline: a positive
    ``v:<col>`` raises spend, by :math:`100(e^{\gamma} - 1)\%` per unit. The covariates
    scale the spend distribution (``v`` is its scale in money); its shape ``q``, which
    sets how much customers' spend differs given their covariates, and ``p`` are common.
    Given :math:`v_i` the density of the mean spend is Hardie's note 025 eq. 1a, so with
    all coefficients zero the model is :class:`~clvml.models.btyd.GammaGamma`. As there,
    only customers with repeat purchases (``frequency > 0``) enter the fit.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on ``(p, q, v0)`` (in the data's currency, at mean covariates, as
        ``GammaGamma``) and on the per-standard-deviation coefficients.
    covariates : list of str, ``{"v": [...]}`` or None, default None
        Covariate columns (standardised inside the estimator); ``None`` takes every
        numeric column other than the RFM columns.
    max_iter : int, default 2000
        Maximum optimiser iterations (``maxiter=`` is its deprecated spelling).

    Attributes
    ----------
    params_ : dict
        ``p``, ``q``, ``v0`` (at covariates 0, in the data's currency) and ``"v:<column>"``
        coefficients per unit of the covariate.
    n_excluded_ : float
        Customers left out because they have no repeat purchase.
    covariates_, covariate_means_, covariate_scales_, link_mask_, internal_params_,
    log_likelihood_, n_customers_, n_distinct_, converged_, n_iter_, covariance_,
    standard_errors_, confidence_intervals_, aic_, bic_
        As :class:`~clvml.models.btyd.BetaGeoCovariates`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from clvml.data.simulate import simulate_gamma_gamma_covariates
    >>> rng = np.random.default_rng(0)
    >>> z = pd.DataFrame({"premium": (rng.random(4000) < 0.3).astype(float)})
    >>> sim = simulate_gamma_gamma_covariates(rng.integers(1, 6, 4000), z, p=6.0, q=4.0, v0=15.0,
    ...                                       coefficients={"premium": 0.4}, random_state=1)
    >>> model = GammaGammaCovariates(covariates=["premium"]).fit(sim.summary)
    >>> bool(abs(model.params_["v:premium"] - 0.4) < 4 * model.standard_errors_["v:premium"])
    True

    References
    ----------
    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: using iso-value
    curves for customer base analysis. Journal of Marketing Research 42(4), 415-430.

    Fader, P. S. and Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
    http://brucehardie.com/notes/025/
    """

    _base_names = ("p", "q", "v0")
    _links = (("v", 2, 1),)
    _data_columns = ("frequency", "monetary_value")
    _loglik = staticmethod(gamma_gamma_covariates_loglik)
    _loglik_grad = staticmethod(gamma_gamma_covariates_loglik_grad)
    _weighted_loglik_and_grad = staticmethod(weighted_gamma_gamma_covariates)
    _expected_average_spend = staticmethod(_expected_average_spend)

    def _initial_base(self, columns: tuple[np.ndarray, ...], weights: np.ndarray) -> np.ndarray:
        return _spend_start(columns, weights)

    def _fit_mask(self, columns: tuple[np.ndarray, ...]) -> np.ndarray:
        return columns[0] > 0

    def _validate(self, frame: pd.DataFrame) -> pd.DataFrame:
        return GammaGamma()._validate(frame)

    def expected_average_spend(self, data: Any) -> Any:
        """Expected spend per future transaction of each customer (FHL 2005b eq. 5, v_i).

        Parameters
        ----------
        data : pandas.DataFrame
            ``frequency``, ``monetary_value`` and the covariate columns.

        Returns
        -------
        pandas.Series
            On ``data``'s index.
        """
        rows = self._rows(data)
        values = type(self)._expected_average_spend(self._params_array(), *rows.columns)
        return rows.expand(values, name="expected_average_spend")

    @property
    def population_mean_spend(self) -> float:
        """Mean spend per transaction of a customer with mean covariates, ``p v / (q - 1)``."""
        p, q, v = self._params_array()[:3]
        return float(p * v / (q - 1)) if q > 1 else float("inf")
