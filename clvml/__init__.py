"""clvml: customer lifetime value — closed-form CLV, BTYD models and a social churn model.

The public API is what this module exports (``__all__``); everything else may change.

Examples
--------
>>> import clvml
>>> data = clvml.load_cdnow_summary(with_spend=True)
>>> bgnbd = clvml.BetaGeo().fit(data)
>>> round(bgnbd.params_["r"], 3), round(bgnbd.log_likelihood_, 1)
(0.243, -9582.4)

Names are imported on first use (:pep:`562`), so ``import clvml`` and ``clvml --help`` do
not pay for pandas, scipy, scikit-learn, SQLAlchemy, matplotlib or MLflow;
``tests/test_import_graph.py`` checks which third-party packages a bare import loads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names for type checkers; at run time they are resolved lazily
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
    from clvml.models.subscription import ShiftedBetaGeometric
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
    "ShiftedBetaGeometric",
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

#: Public name -> the module that defines it.
_WHERE: dict[str, str] = {
    "__version__": "clvml._version",  # importlib.metadata costs ~0.1 s
    "BetaGeo": "clvml.models.btyd",
    "BetaGeoBeta": "clvml.models.btyd",
    "BetaGeoBetaBinom": "clvml.models.btyd",
    "BetaGeoCovariates": "clvml.models.btyd",
    "CLVModel": "clvml.models.composite",
    "ClvmlError": "clvml.exceptions",
    "ConvergenceError": "clvml.exceptions",
    "ConvergenceWarning": "clvml.exceptions",
    "DataValidationError": "clvml.exceptions",
    "EngagementFeatures": "clvml.features.engagement",
    "GammaGamma": "clvml.models.btyd",
    "GammaGammaCovariates": "clvml.models.btyd",
    "ModifiedBetaGeo": "clvml.models.btyd",
    "ParetoNBD": "clvml.models.btyd",
    "ShiftedBetaGeometric": "clvml.models.subscription",
    "ValidationPolicy": "clvml.data.policy",
    "assign_segments": "clvml.segments",
    "build_customer_dataset": "clvml.features.dataset",
    "calibration_holdout_summary": "clvml.features.rfm",
    "closed_form_clv": "clvml.models.closed_form",
    "compare_methods": "clvml.evaluation.comparison",
    "customer_features": "clvml.features.dataset",
    "customer_lifetime_value": "clvml.models.btyd",
    "fit_clv_model": "clvml.models.composite",
    "generate_social_commerce": "clvml.data.synthetic",
    "load_cdnow_master": "clvml.data.datasets",
    "load_cdnow_sample": "clvml.data.datasets",
    "load_cdnow_summary": "clvml.data.datasets",
    "load_donations": "clvml.data.datasets",
    "load_folder": "clvml.data.io",
    "make_churn_classifier": "clvml.models.churn",
    "read_table": "clvml.data.io",
    "rfm_summary": "clvml.features.rfm",
    "segment_summary": "clvml.segments",
    "social_impact_report": "clvml.evaluation.social_impact",
    "validate_customers": "clvml.data.validation",
    "validate_engagement": "clvml.data.validation",
    "validate_rfm_summary": "clvml.data.validation",
    "validate_transactions": "clvml.data.validation",
    "write_table": "clvml.data.io",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value  # resolved once; later look-ups skip this function
        return value
    raise AttributeError(f"module 'clvml' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
