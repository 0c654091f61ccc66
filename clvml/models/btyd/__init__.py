"""Buy-till-you-die models: purchase counts (BG/NBD, MBG/NBD, Pareto/NBD, BG/BB), spend
(Gamma-Gamma) and customer lifetime value.

Every estimator follows the scikit-learn conventions (hyper-parameters in the
constructor, ``fit(data, weights=None)`` returns self, fitted state ends in ``_``)
and shares the machinery of :class:`~clvml.models.btyd.base.BTYDModel`.
"""

from clvml.models.btyd.base import BTYDModel
from clvml.models.btyd.beta_geo import BetaGeo
from clvml.models.btyd.beta_geo_beta import BetaGeoBeta, BetaGeoBetaBinom
from clvml.models.btyd.beta_geo_covariates import BetaGeoCovariates
from clvml.models.btyd.clv import customer_lifetime_value
from clvml.models.btyd.gamma_gamma import GammaGamma
from clvml.models.btyd.gamma_gamma_covariates import GammaGammaCovariates
from clvml.models.btyd.modified_beta_geo import ModifiedBetaGeo
from clvml.models.btyd.pareto_nbd import ParetoNBD
from clvml.models.btyd.rows import PreparedSummary
from clvml.models.btyd.transaction import TransactionModel

__all__ = [
    "BTYDModel",
    "BetaGeo",
    "BetaGeoBeta",
    "BetaGeoBetaBinom",
    "BetaGeoCovariates",
    "GammaGamma",
    "GammaGammaCovariates",
    "ModifiedBetaGeo",
    "ParetoNBD",
    "PreparedSummary",
    "TransactionModel",
    "customer_lifetime_value",
]
