"""The protocol every CLV method follows, and the one record every method returns.

A CLV method is a small class (one module under :mod:`clvml.models.methods`) that declares

* ``name``: the key of the registry and the ``clv_<name>`` output column;
* ``supervised``: whether it needs labelled training data (``labelled_features`` and
  ``labels`` of :meth:`clvml.models.clv_model.CLVModel.fit`);
* ``needs``: other steps whose fitted state or outputs it reads (methods of the registry,
  or shared parts such as the churn classifier, :data:`PARTS`), fitted and predicted first;
* ``fallback_rank``: its place in the champion fallback order (lower first);
* ``baseline``: a reference, not a model (e.g. past spend);
* ``default``: fitted when ``methods`` is not given;

and implements two methods, both handed the orchestrating :class:`~clvml.models.clv_model.CLVModel`
(its parameters and the fitted attributes of every step) and the data:

* ``fit(model, data) -> dict``: the fitted attributes it owns (names ending in ``_``), which
  the orchestrator sets on the model; it raises :class:`SkipMethod` with the reason when its
  inputs do not allow a fit;
* ``predict(model, data) -> MethodOutput``.

Methods keep no state of their own (the fitted state lives on the estimator, so ``clone``,
``get_params`` and pickling work as for any scikit-learn estimator). Adding a method is one
new module and one line of :data:`clvml.models.methods.registry.REGISTRY`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from clvml.models.clv_model import CLVModel

__all__ = ["OUTPUT_FIELDS", "CLVMethod", "FitData", "MethodOutput", "PredictData", "SkipMethod"]


class SkipMethod(Exception):
    """Raised by ``fit`` when a method cannot be fitted on the inputs given; ``str`` is why."""


#: Default of a missing output (filled with NaN).
_MISSING: Any = None


@dataclass
class MethodOutput:
    """What a method predicts for each customer (NaN where the method has no such output).

    Attributes
    ----------
    clv : ndarray
        Value over the horizon (times margin, discounted as configured).
    clv_lower, clv_upper : ndarray
        Interval of ``clv`` (NaN without one).
    p_alive : ndarray
        Probability the customer is still active at the cut-off.
    churn_probability : ndarray
        Probability of no purchase in the horizon.
    expected_purchases : ndarray
        Purchases expected in the horizon.
    expected_spend : ndarray
        Expected mean spend per purchase.
    """

    clv: np.ndarray
    clv_lower: np.ndarray = _MISSING
    clv_upper: np.ndarray = _MISSING
    p_alive: np.ndarray = _MISSING
    churn_probability: np.ndarray = _MISSING
    expected_purchases: np.ndarray = _MISSING
    expected_spend: np.ndarray = _MISSING

    def __post_init__(self) -> None:
        self.clv = np.asarray(self.clv, dtype=float)
        n = self.clv.shape[0]
        for f in fields(self)[1:]:
            value = getattr(self, f.name)
            arr = np.full(n, np.nan) if value is None else np.asarray(value, dtype=float)
            if arr.shape != (n,):
                raise ValueError(f"{f.name} has shape {arr.shape}, expected ({n},)")
            setattr(self, f.name, arr)

    def has(self, name: str) -> bool:
        """Whether the method gives the output ``name`` (not all NaN)."""
        return bool(np.isfinite(getattr(self, name)).any())


#: Fields of :class:`MethodOutput`, in order.
OUTPUT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(MethodOutput))


@dataclass
class FitData:
    """What a method's ``fit`` reads.

    Attributes
    ----------
    features : pandas.DataFrame
        Customer frame at the cut-off (ages floored at one day).
    labelled : pandas.DataFrame or None
        Customer frame of the supervised training customers.
    labels : pandas.DataFrame or None
        Their ``revenue`` and ``churned`` over a window of the horizon's length.
    X : pandas.DataFrame or None
        The supervised design of ``labelled`` (:meth:`CLVModel.supervised_frame`).
    predict : callable
        ``predict(name)``: the output of an already fitted step on ``features``.
    """

    features: pd.DataFrame
    labelled: pd.DataFrame | None = None
    labels: pd.DataFrame | None = None
    X: pd.DataFrame | None = None
    predict: Callable[[str], MethodOutput] = field(default=lambda name: _no_predict(name))


def _no_predict(name: str) -> MethodOutput:
    raise RuntimeError(f"no prediction available for {name!r} during this fit")


@dataclass
class PredictData:
    """What a method's ``predict`` reads.

    Attributes
    ----------
    features : pandas.DataFrame
        Customer frame to score (ages floored at one day).
    outputs : dict
        Outputs of the steps predicted before (every step of ``needs`` is there).
    interval : float or None
        Coverage of the interval the method should compute (None: no interval).
    """

    features: pd.DataFrame
    outputs: dict[str, MethodOutput]
    interval: float | None = None
    _X: pd.DataFrame | None = None
    _model: Any = None

    def X(self) -> pd.DataFrame:
        """The supervised design of ``features`` (computed once per prediction)."""
        if self._X is None:
            self._X = self._model.supervised_frame(self.features)
        return self._X


class CLVMethod:
    """Base of the CLV methods and shared parts (see the module notes)."""

    name: ClassVar[str]
    supervised: ClassVar[bool] = False
    needs: ClassVar[tuple[str, ...]] = ()
    fallback_rank: ClassVar[int] = 100
    baseline: ClassVar[bool] = False
    default: ClassVar[bool] = False

    def columns(self, model: CLVModel, features: pd.DataFrame) -> set[str]:
        """Columns of the customer frame this method reads at predict time (beyond the RFM)."""
        return set()

    def fit(self, model: CLVModel, data: FitData) -> dict[str, Any]:
        """Fit; return the fitted attributes owned (raise :class:`SkipMethod` to skip)."""
        return {}

    def predict(self, model: CLVModel, data: PredictData) -> MethodOutput:  # pragma: no cover
        """Predict every customer of ``data.features``."""
        raise NotImplementedError
