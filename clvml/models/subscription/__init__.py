"""Contractual (subscription) retention models: customers who renew or cancel each period.

:class:`ShiftedBetaGeometric` (sBG, Fader & Hardie 2007) is fitted on cohort survival
counts (:meth:`~ShiftedBetaGeometric.fit_survival`) or on individual spells
(:meth:`~ShiftedBetaGeometric.fit`); the pure formulas are in :mod:`.sbg_math` and the
input contract in :mod:`.spells`.
"""

from __future__ import annotations

from clvml.models.subscription.sbg import ShiftedBetaGeometric
from clvml.models.subscription.spells import survival_to_spells, validate_spells

__all__ = ["ShiftedBetaGeometric", "survival_to_spells", "validate_spells"]
