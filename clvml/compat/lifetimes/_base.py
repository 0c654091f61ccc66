"""What every lifetimes-style fitter shares: repr, parameters, saving and the summary.

The fitters keep lifetimes' public attributes (``params_`` as a pandas Series in
lifetimes' order, ``data``, ``summary``, ``variance_matrix_``, ``standard_errors_``,
``confidence_intervals_``, ``predict``, ``generate_new_data``) while every number comes
from a clvml estimator (:mod:`clvml.models.btyd`), built on demand from ``params_`` so that
setting ``params_`` by hand works as it does in lifetimes.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clvml.exceptions import ClvmlError

__all__ = ["BaseFitter", "ConvergenceError", "as_output", "broadcast_inputs"]


class ConvergenceError(ClvmlError, RuntimeError):
    """The optimiser did not converge (lifetimes' ``lifetimes.utils.ConvergenceError``)."""


class BaseFitter:
    """Base class of the lifetimes-style fitters (``lifetimes.BaseFitter``)."""

    #: parameter names in lifetimes' order
    _param_order: tuple[str, ...] = ()
    params_: pd.Series
    data: Any
    standard_errors_: pd.Series
    confidence_intervals_: pd.DataFrame
    variance_matrix_: pd.DataFrame

    def __init__(self, penalizer_coef: float = 0.0) -> None:
        self.penalizer_coef = penalizer_coef

    def __repr__(self) -> str:
        name = type(self).__name__
        shape = getattr(getattr(self, "data", None), "shape", None)
        subjects = f" fitted with {shape[0]:d} subjects," if shape is not None else ""
        params = getattr(self, "params_", None)
        if params is None:
            return f"<lifetimes.{name}>"
        text = ", ".join(f"{k}: {v:.2f}" for k, v in sorted(dict(params).items()))
        return f"<lifetimes.{name}:{subjects} {text}>"

    def _unload_params(self, *names: str) -> list[float]:
        if not hasattr(self, "params_"):
            raise ValueError("Model has not been fit yet. Please call the .fit method first.")
        return [self.params_[n] for n in names]

    # ------------------------------------------------------------------ saving
    def save_model(
        self,
        path: str | Path,
        save_data: bool = True,
        save_generate_data_method: bool = True,
        values_to_save: Sequence[Any] | None = None,
    ) -> None:
        """Pickle the fitter to ``path``.

        ``save_data=False`` and ``save_generate_data_method=False`` store ``data`` and
        ``generate_new_data`` as placeholders (``None``, or the matching entry of
        ``values_to_save``). The file is written atomically (a temporary file renamed).
        A pickle runs code when loaded: load only files you wrote.
        """
        dropped = [
            n
            for n, keep in (("data", save_data), ("generate_new_data", save_generate_data_method))
            if not keep
        ]
        fillers = list(values_to_save) if values_to_save is not None else [None] * len(dropped)
        state = dict(self.__dict__)
        for name, filler in zip(dropped, fillers, strict=False):
            state[name] = filler
        clone = object.__new__(type(self))
        clone.__dict__.update(state)
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp")
        with open(tmp, "wb") as out:
            pickle.dump(clone, out)
        tmp.replace(target)

    def load_model(self, path: str | Path) -> None:
        """Replace this fitter's state by the one pickled at ``path`` (trusted files only)."""
        with open(path, "rb") as handle:
            loaded = pickle.load(handle)
        self.__dict__.update(loaded.__dict__)

    # ------------------------------------------------------------------ results
    @property
    def summary(self) -> pd.DataFrame:
        """``coef``, ``se(coef)``, ``lower 95% bound``, ``upper 95% bound`` per parameter."""
        out = pd.DataFrame(index=self.params_.index)
        out["coef"] = self.params_
        out["se(coef)"] = self.standard_errors_
        out["lower 95% bound"] = self.confidence_intervals_["lower 95% bound"]
        out["upper 95% bound"] = self.confidence_intervals_["upper 95% bound"]
        return out

    def _set_uncertainty(self, model: Any) -> None:
        """lifetimes' variance matrix, standard errors and +-1.96 se intervals from ``model``."""
        names = list(self._param_order)
        cov = model.covariance_.loc[names, names]
        self.variance_matrix_ = pd.DataFrame(cov.to_numpy(), index=names, columns=names)
        self.standard_errors_ = pd.Series(np.sqrt(np.diag(cov.to_numpy())), index=names)
        self.confidence_intervals_ = pd.DataFrame(
            {
                "lower 95% bound": self.params_ - 1.96 * self.standard_errors_,
                "upper 95% bound": self.params_ + 1.96 * self.standard_errors_,
            },
            index=names,
        )

    def _core(self, cls: type) -> Any:
        """A clvml estimator of class ``cls`` holding ``params_`` (fitted or set by hand)."""
        model = cls()
        model.params_ = {k: float(v) for k, v in dict(self.params_).items()}
        return model


def broadcast_inputs(*values: Any) -> tuple[list[np.ndarray], tuple[int, ...], pd.Index | None]:
    """Broadcast lifetimes-style arguments to flat float arrays, their shape and an index.

    The index is that of the first pandas Series among ``values`` (lifetimes' arithmetic
    returns a Series on it), ``None`` otherwise.
    """
    index = next((v.index for v in values if isinstance(v, pd.Series)), None)
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in values))
    shape = arrays[0].shape
    return [a.ravel() for a in arrays], shape, index


def as_output(values: Any, shape: tuple[int, ...], index: pd.Index | None) -> Any:
    """Values shaped as lifetimes returns them: a Series, an array or a scalar."""
    arr = np.asarray(values, dtype=float).reshape(shape)
    if index is not None and arr.ndim == 1 and len(index) == arr.size:
        return pd.Series(arr, index=index)
    if arr.ndim == 0:
        return arr[()]
    return arr
