"""Contractual (subscription) retention models: customers who renew or cancel each period.

:class:`ShiftedBetaGeometric` (sBG, Fader & Hardie 2007) is fitted on cohort survival
counts (:meth:`~ShiftedBetaGeometric.fit_survival`) or on individual spells
(:meth:`~ShiftedBetaGeometric.fit`); :class:`BetaDiscreteWeibull` (BdW, 2018) nests it
(``c = 1``) and :func:`likelihood_ratio_test` compares the two (or a covariate model with
its plain one). :class:`ShiftedBetaGeometricCovariates` and
:class:`BetaDiscreteWeibullCovariates` put time-invariant customer covariates on the
beta mixing distribution (:mod:`.covariates`). The pure formulas are in
:mod:`.sbg_math` and :mod:`.bdw_math`, the input contract in :mod:`.spells`.
"""

from __future__ import annotations

from clvml.models.subscription.bdw import BetaDiscreteWeibull, likelihood_ratio_test
from clvml.models.subscription.covariates import (
    BetaDiscreteWeibullCovariates,
    ShiftedBetaGeometricCovariates,
)
from clvml.models.subscription.sbg import ShiftedBetaGeometric
from clvml.models.subscription.spells import survival_to_spells, validate_spells

__all__ = [
    "BetaDiscreteWeibull",
    "BetaDiscreteWeibullCovariates",
    "ShiftedBetaGeometric",
    "ShiftedBetaGeometricCovariates",
    "likelihood_ratio_test",
    "survival_to_spells",
    "validate_spells",
]
