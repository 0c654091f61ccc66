"""The registry of CLV methods: the one source of the method names and their order.

:data:`REGISTRY` maps each method's name to its class, in the order of the output columns;
:data:`METHODS`, :data:`DEFAULT_METHODS`, :data:`SUPERVISED_METHODS`, :data:`BASELINES` and
:data:`CHAMPION_ORDER` are derived from it. :data:`PARTS` holds the shared steps that are
not CLV methods (the churn classifier) but that methods may declare in their ``needs``.
Adding a method is one new module and one line here. The subscription (contractual)
methods read spells, not the purchase frame: they have their own registry,
:data:`SUBSCRIPTION_METHODS` (:mod:`clvml.models.methods.subscription`), re-exported here so
every method name has one home.
"""

from __future__ import annotations

from collections.abc import Mapping

from clvml.models.methods.base import CLVMethod
from clvml.models.methods.blend import Blend
from clvml.models.methods.btyd import BTYD
from clvml.models.methods.btyd_covariates import BTYDCovariates
from clvml.models.methods.churn import ChurnClassifier
from clvml.models.methods.closed_form import ClosedForm
from clvml.models.methods.hybrid import Hybrid
from clvml.models.methods.label_free import BTYDAllSpend, ParetoNBDAllSpend, ParetoNBDGammaGamma
from clvml.models.methods.ml import ML
from clvml.models.methods.ml_anchored import MLAnchored
from clvml.models.methods.ml_level import MLLevel
from clvml.models.methods.ml_two_part import MLTwoPart
from clvml.models.methods.past_spend import PastSpend
from clvml.models.methods.subscription import SUBSCRIPTION_METHODS

__all__ = [
    "BASELINES",
    "CHAMPION_ORDER",
    "DEFAULT_METHODS",
    "METHODS",
    "PARTS",
    "REGISTRY",
    "SUBSCRIPTION_METHODS",
    "SUPERVISED_METHODS",
    "champion_order",
]

#: Every CLV method, name -> class, in the order of the output columns.
REGISTRY: dict[str, type[CLVMethod]] = {
    "closed_form": ClosedForm,
    "btyd": BTYD,
    "btyd_covariates": BTYDCovariates,
    "pareto_nbd": ParetoNBDGammaGamma,
    "btyd_all_spend": BTYDAllSpend,
    "pareto_nbd_all_spend": ParetoNBDAllSpend,
    "hybrid": Hybrid,
    "ml": ML,
    "ml_two_part": MLTwoPart,
    "blend": Blend,
    "ml_level": MLLevel,
    "ml_anchored": MLAnchored,
    "past_spend": PastSpend,
}
#: Shared steps that are not CLV methods, name -> class.
PARTS: dict[str, type[CLVMethod]] = {"churn": ChurnClassifier}

#: Every method, in the order of the output columns.
METHODS: tuple[str, ...] = tuple(REGISTRY)
#: Methods fitted by default (``ml_two_part`` and ``blend`` are on request; baselines are
#: references).
DEFAULT_METHODS: tuple[str, ...] = tuple(n for n, c in REGISTRY.items() if c.default)
#: Methods that need labelled training data.
SUPERVISED_METHODS: frozenset[str] = frozenset(n for n, c in REGISTRY.items() if c.supervised)
#: Reference methods (reported beside the models, not models themselves).
BASELINES: tuple[str, ...] = tuple(n for n, c in REGISTRY.items() if c.baseline)


def champion_order(registry: Mapping[str, type[CLVMethod]]) -> tuple[str, ...]:
    """Method names by ``fallback_rank`` (ties in registry order)."""
    return tuple(sorted(registry, key=lambda n: registry[n].fallback_rank))


#: Champion fallback order when the requested champion could not be fitted.
CHAMPION_ORDER: tuple[str, ...] = champion_order(REGISTRY)
