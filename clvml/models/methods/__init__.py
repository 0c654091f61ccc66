"""CLV methods, one module each, behind one protocol (:mod:`.base`) and one registry.

See :mod:`clvml.models.methods.base` for the protocol and
:mod:`clvml.models.methods.registry` for the registry.
"""

from clvml.models.methods._btyd import fit_btyd
from clvml.models.methods.base import CLVMethod, FitData, MethodOutput, PredictData, SkipMethod
from clvml.models.methods.registry import (
    BASELINES,
    CHAMPION_ORDER,
    DEFAULT_METHODS,
    METHODS,
    PARTS,
    REGISTRY,
    SUPERVISED_METHODS,
)

__all__ = [
    "BASELINES",
    "CHAMPION_ORDER",
    "DEFAULT_METHODS",
    "METHODS",
    "PARTS",
    "REGISTRY",
    "SUPERVISED_METHODS",
    "CLVMethod",
    "FitData",
    "MethodOutput",
    "PredictData",
    "SkipMethod",
    "fit_btyd",
]
