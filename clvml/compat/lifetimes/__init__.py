"""lifetimes' API on clvml: switch by changing ``lifetimes`` to ``clvml.compat.lifetimes``.

``import clvml.compat.lifetimes as lifetimes`` (or ``from clvml.compat.lifetimes import
BetaGeoFitter``) gives the fitters, ``utils``, ``plotting``, ``generate_data`` and
``datasets`` of the archived lifetimes package with its argument names, attributes and
return shapes; every number comes from clvml's estimators. The differences are listed in
docs/migrating_from_lifetimes.md.

Examples
--------
>>> from clvml.compat.lifetimes import BetaGeoFitter
>>> from clvml.compat.lifetimes.datasets import load_cdnow_summary
>>> data = load_cdnow_summary()
>>> bgf = BetaGeoFitter().fit(data["frequency"], data["recency"], data["T"])
>>> bgf.params_.round(3).to_dict()
{'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}
>>> round(float(bgf.conditional_expected_number_of_purchases_up_to_time(39, 2, 30.43, 38.86)), 3)
1.226
"""

from clvml._version import __version__
from clvml.compat.lifetimes._base import BaseFitter
from clvml.compat.lifetimes.fitters import BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
from clvml.compat.lifetimes.spend_and_discrete import BetaGeoBetaBinomFitter, GammaGammaFitter

__all__ = (
    "BaseFitter",
    "BetaGeoBetaBinomFitter",
    "BetaGeoFitter",
    "GammaGammaFitter",
    "ModifiedBetaGeoFitter",
    "ParetoNBDFitter",
    "__version__",
)
