"""Old home of :class:`CLVModel`; kept so existing imports and pickles keep working.

The estimator lives in :mod:`clvml.models.clv_model`, its methods in
:mod:`clvml.models.methods`, :func:`fit_clv_model` in :mod:`clvml.models.training` and the
value regressors in :mod:`clvml.models.value_regressor`.
"""

from clvml.models.clv_model import CLVModel
from clvml.models.methods._btyd import (
    DEFAULT_COVARIATES,
    MIN_AGE_WEEKS,
    RFM_INPUTS,
    STACKED_FEATURES,
)
from clvml.models.methods.registry import DEFAULT_METHODS, METHODS, SUPERVISED_METHODS
from clvml.models.poisson_value import VALUE_MONOTONICITY, PoissonValueRegressor
from clvml.models.training import fit_clv_model

__all__ = [
    "DEFAULT_COVARIATES",
    "DEFAULT_METHODS",
    "METHODS",
    "MIN_AGE_WEEKS",
    "RFM_INPUTS",
    "STACKED_FEATURES",
    "SUPERVISED_METHODS",
    "VALUE_MONOTONICITY",
    "CLVModel",
    "PoissonValueRegressor",
    "fit_clv_model",
]
