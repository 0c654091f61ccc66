r"""BG/NBD: the beta-geometric/negative-binomial model of Fader, Hardie & Lee (2005).

While active, a customer buys as a Poisson process with rate :math:`\lambda \sim
\text{Gamma}(r, \alpha)`; after each purchase she drops out with probability
:math:`p \sim \text{Beta}(a, b)`. The per-customer likelihood is
:func:`clvml.models.btyd.likelihoods.bgnbd_loglik`; the prediction formulas below are
equations (8)-(10) of FHL (2005) and Hardie's note 021 (P(alive)), evaluated with
Euler's transformation of the Gaussian hypergeometric function (see
:func:`clvml.models.btyd._special.one_minus_power_hyp2f1`).
"""

from __future__ import annotations

import numpy as np

from clvml._deprecated import deprecated_alias
from clvml.models.btyd.bgnbd_kernels import weighted_bgnbd_hessian
from clvml.models.btyd.bgnbd_math import (
    bgnbd_conditional_expected_purchases,
    bgnbd_expected_purchases_new,
    bgnbd_probability_alive,
    bgnbd_probability_of_purchases,
)
from clvml.models.btyd.likelihoods import bgnbd_loglik, bgnbd_loglik_grad, weighted_bgnbd
from clvml.models.btyd.transaction import TransactionModel

__all__ = [
    "BetaGeo",
    "bgnbd_conditional_expected_purchases",
    "bgnbd_expected_purchases_new",
    "bgnbd_probability_alive",
    "bgnbd_probability_of_purchases",
]

#: Deprecated names (the math lives in :mod:`clvml.models.btyd.bgnbd_math`).
bgnbd_expected_purchases = deprecated_alias(
    bgnbd_conditional_expected_purchases, "bgnbd_expected_purchases"
)
bgnbd_expected_purchases_new_customer = deprecated_alias(
    bgnbd_expected_purchases_new, "bgnbd_expected_purchases_new_customer"
)


class BetaGeo(TransactionModel):
    r"""BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

    Each customer buys as a Poisson process with rate :math:`\lambda` while active and
    becomes inactive after any purchase with probability :math:`p`;
    :math:`\lambda \sim \text{Gamma}(r, \alpha)` and :math:`p \sim \text{Beta}(a, b)` across
    customers. For a customer with :math:`x` repeat purchases, the last at :math:`t_x`,
    observed for :math:`T` periods:

    .. math::

        L(r, \alpha, a, b \mid x, t_x, T) =
            \frac{B(a, b + x)}{B(a, b)}
            \frac{\Gamma(r + x)\,\alpha^r}{\Gamma(r)\,(\alpha + T)^{r + x}}
            + \mathbb{1}[x > 0]\frac{B(a + 1, b + x - 1)}{B(a, b)}
            \frac{\Gamma(r + x)\,\alpha^r}{\Gamma(r)\,(\alpha + t_x)^{r + x}}

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters (time rescaled so that max(T) = 1), as
        ``penalizer_coef`` in lifetimes.
    initial_params : mapping, optional
        Starting values ``{"r", "alpha", "a", "b"}`` in the data's time unit.
    max_iter : int, default 2000
        Maximum optimiser iterations (``maxiter=`` is its deprecated spelling).

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha`` (in the data's time unit), ``a``, ``b``.
    log_likelihood_, n_customers_, n_distinct_, converged_, covariance_,
    standard_errors_, confidence_intervals_, aic_, bic_
        See :class:`clvml.models.btyd.base.BTYDModel`.

    Examples
    --------
    >>> from clvml.data.datasets import load_cdnow_summary
    >>> model = BetaGeo().fit(load_cdnow_summary())
    >>> {k: round(v, 3) for k, v in model.params_.items()}
    {'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}
    >>> round(model.log_likelihood_, 1)
    -9582.4
    >>> import pandas as pd
    >>> one = pd.DataFrame({"frequency": [2], "recency": [30.43], "T": [38.86]})
    >>> round(float(model.expected_purchases(one, t=39).iloc[0]), 3)
    1.226

    References
    ----------
    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting your customers" the
    easy way: an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.

    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2008). Computing P(alive) using the
    BG/NBD model. http://brucehardie.com/notes/021/
    """

    _param_names = ("r", "alpha", "a", "b")
    _data_columns = ("frequency", "recency", "T")
    _scale_column = "T"
    _scaled_columns = ("recency", "T")
    _scaled_params = ("alpha",)
    _loglik = staticmethod(bgnbd_loglik)
    _loglik_grad = staticmethod(bgnbd_loglik_grad)
    _weighted_loglik_and_grad = staticmethod(weighted_bgnbd)
    _kernel_is_exact = True
    _weighted_hessian = staticmethod(weighted_bgnbd_hessian)
    _zero_age_ok = True
    _grid_rows_ok = True

    _probability_alive = staticmethod(bgnbd_probability_alive)
    _cheap_probability_alive = True
    _expected_purchases = staticmethod(bgnbd_conditional_expected_purchases)
    _expected_purchases_new = staticmethod(bgnbd_expected_purchases_new)
    _probability_of_purchases = staticmethod(bgnbd_probability_of_purchases)

    def _initial_params(self, columns: tuple[np.ndarray, ...], weights: np.ndarray) -> np.ndarray:
        return np.ones(4)
