"""clvml: customer lifetime value — closed-form CLV, BTYD models and a social churn model.

The public API is what this module exports (``__all__``); everything else may change.

Examples
--------
>>> import clvml
>>> data = clvml.load_cdnow_summary(with_spend=True)
>>> bgnbd = clvml.BetaGeo().fit(data)
>>> round(bgnbd.params_["r"], 3), round(bgnbd.log_likelihood_, 1)
(0.243, -9582.4)
"""

from clvml._version import __version__
from clvml.data.datasets import (
    load_cdnow_master,
    load_cdnow_sample,
    load_cdnow_summary,
    load_donations,
)
from clvml.data.io import load_folder, read_table, write_table
from clvml.data.policy import ValidationPolicy
from clvml.data.synthetic import generate_social_commerce
from clvml.data.validation import (
    validate_customers,
    validate_engagement,
    validate_rfm_summary,
    validate_transactions,
)
from clvml.evaluation.comparison import compare_methods
from clvml.evaluation.social_impact import social_impact_report
from clvml.exceptions import (
    ClvmlError,
    ConvergenceError,
    ConvergenceWarning,
    DataValidationError,
)
from clvml.features.dataset import build_customer_dataset, customer_features
from clvml.features.engagement import EngagementFeatures
from clvml.features.rfm import calibration_holdout_summary, rfm_summary
from clvml.models.btyd import (
    BetaGeo,
    BetaGeoBeta,
    BetaGeoBetaBinom,
    BetaGeoCovariates,
    GammaGamma,
    GammaGammaCovariates,
    ModifiedBetaGeo,
    ParetoNBD,
    customer_lifetime_value,
)
from clvml.models.churn import make_churn_classifier
from clvml.models.closed_form import closed_form_clv
from clvml.models.composite import CLVModel, fit_clv_model
from clvml.segments import assign_segments, segment_summary

__all__ = [
    "BetaGeo",
    "BetaGeoBeta",
    "BetaGeoBetaBinom",
    "BetaGeoCovariates",
    "CLVModel",
    "ClvmlError",
    "ConvergenceError",
    "ConvergenceWarning",
    "DataValidationError",
    "EngagementFeatures",
    "GammaGamma",
    "GammaGammaCovariates",
    "ModifiedBetaGeo",
    "ParetoNBD",
    "ValidationPolicy",
    "__version__",
    "assign_segments",
    "build_customer_dataset",
    "calibration_holdout_summary",
    "closed_form_clv",
    "compare_methods",
    "customer_features",
    "customer_lifetime_value",
    "fit_clv_model",
    "generate_social_commerce",
    "load_cdnow_master",
    "load_cdnow_sample",
    "load_cdnow_summary",
    "load_donations",
    "load_folder",
    "make_churn_classifier",
    "read_table",
    "rfm_summary",
    "segment_summary",
    "social_impact_report",
    "validate_customers",
    "validate_engagement",
    "validate_rfm_summary",
    "validate_transactions",
    "write_table",
]
