"""The CLV model as an MLflow ``pyfunc`` model (models from code).

:class:`CLVPyfuncModel` wraps a fitted :class:`clvml.models.composite.CLVModel`:
its input is the customer feature frame (:func:`clvml.features.dataset.customer_features`,
with ``customer_id`` as a column or as the index), its output one row per
customer with the CLV, its interval, P(alive), the churn probability, the
expected purchases and spend, the value tier and the segment (and the CLV of
every fitted method).

The model is logged *from code* (the file ``_model_code.py`` next to this
module is the model definition MLflow stores), with the fitted estimator as a
pickled artifact, an explicit signature (numeric features as ``double``, text
features as ``string``), an input example with made-up customer ids, and
explicit pip requirements (no slow environment inference).

Loading it needs clvml installed (``pip install clvml==<version>``), as the
requirements say.
"""

from __future__ import annotations

import pickle
import sys
import tempfile
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from clvml.exceptions import DataValidationError

__all__ = [
    "CLVPyfuncModel",
    "log_clv_model",
    "model_signature",
    "pip_requirements",
    "predict_frame",
    "to_model_input",
]

#: Name of the pickled estimator among the model's artifacts.
ARTIFACT_KEY = "clv_model"
#: The models-from-code file logged as the model definition.
MODEL_CODE = Path(__file__).with_name("_model_code.py")

_REQUIREMENTS = ("clvml", "mlflow", "numpy", "pandas", "scipy", "scikit-learn", "pyarrow")


def pip_requirements() -> list[str]:
    """Pinned requirements of the logged model: the versions installed here."""
    out = []
    for name in _REQUIREMENTS:
        try:
            out.append(f"{name}=={version(name)}")
        except PackageNotFoundError:  # pragma: no cover - e.g. clvml run from a source tree
            out.append(name)
    return out


def _is_text(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def _text(s: pd.Series, missing: str) -> np.ndarray:
    """Strings as an object array (what MLflow's ``string`` columns hold), ``missing`` for NA."""
    return s.astype("str").fillna(missing).to_numpy(dtype=object)


def to_model_input(features: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """The frame the pyfunc model takes: ``customer_id`` column, then features in order.

    Numeric and boolean features become ``float64`` (the signature's
    ``double``); text features (``acquisition_channel``) stay strings.

    Parameters
    ----------
    features : pandas.DataFrame
        Customer frame indexed by ``customer_id`` (or with a ``customer_id`` column).
    columns : list of str, optional
        Feature columns to keep, in order (default: all but ``customer_id``).

    Raises
    ------
    DataValidationError
        A required feature column is missing.
    """
    frame = features
    if "customer_id" in frame.columns:
        ids = frame["customer_id"]
        frame = frame.drop(columns="customer_id")
    else:
        ids = pd.Series(frame.index, index=frame.index)
    cols = list(frame.columns) if columns is None else list(columns)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"the customer frame lacks {len(missing)} feature column(s) the model needs: "
            f"{missing[:5]}",
            column=missing[0],
        )
    out = pd.DataFrame({"customer_id": np.asarray(ids).astype(str)})
    for c in cols:
        s = frame[c]
        if _is_text(s):
            out[c] = _text(s, "unknown")
        else:
            out[c] = pd.to_numeric(s).astype("float64").to_numpy()
    return out


def predict_frame(model: Any, model_input: pd.DataFrame) -> pd.DataFrame:
    """Per-customer predictions of a fitted CLV model, ``customer_id`` as the first column.

    Numeric outputs are ``float64`` and labels (value tier, segment) strings,
    so the output matches the logged signature whatever the input's dtypes.
    """
    cols = list(getattr(model, "feature_columns_", [c for c in model_input if c != "customer_id"]))
    x = to_model_input(model_input, cols)
    frame = x.drop(columns="customer_id").set_index(pd.Index(x["customer_id"], name="customer_id"))
    pred = model.predict(frame)
    out = pd.DataFrame({"customer_id": pred.index.astype(str).to_numpy()})
    for c in pred.columns:
        s = pred[c]
        if _is_text(s):
            out[c] = _text(s, "")
        else:
            out[c] = pd.to_numeric(s).astype("float64").to_numpy()
    return out


class CLVPyfuncModel(PythonModel):
    """MLflow pyfunc wrapper of a fitted :class:`~clvml.models.composite.CLVModel`.

    ``predict`` takes the customer feature frame and returns the per-customer
    outputs (see :func:`predict_frame`).
    """

    def load_context(self, context: Any) -> None:
        """Load the pickled estimator from the model's artifacts."""
        with open(context.artifacts[ARTIFACT_KEY], "rb") as fh:
            self.model_ = pickle.load(fh)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Per-customer CLV, P(alive), churn probability, expected purchases and spend."""
        return predict_frame(self.model_, model_input)


def model_signature(model: Any, features: pd.DataFrame):
    """Signature of the pyfunc model: input schema from the features, output from a prediction.

    ``customer_id`` is an optional input column (a frame indexed by it works
    too); numeric features are ``double``, text features ``string``.
    """
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, Schema, TensorSpec

    x = to_model_input(features, list(model.feature_columns_))
    specs: list[ColSpec | TensorSpec] = [ColSpec("string", "customer_id", required=False)]
    for c in x.columns[1:]:
        specs.append(ColSpec("string" if _is_text(x[c]) else "double", c))
    outputs = infer_signature(x.head(50), predict_frame(model, x.head(50))).outputs
    return ModelSignature(inputs=Schema(specs), outputs=outputs)


def input_example(model: Any, features: pd.DataFrame, n_rows: int = 5) -> pd.DataFrame:
    """A few rows of model input with made-up ids (``example-0``, ...): no customer ids logged."""
    x = to_model_input(features.head(n_rows), list(model.feature_columns_))
    x["customer_id"] = [f"example-{i}" for i in range(len(x))]
    return x


def log_clv_model(
    model: Any,
    features: pd.DataFrame,
    *,
    name: str = "clv_model",
    registered_model_name: str | None = None,
):
    """Log a fitted CLV model as a pyfunc model in the active run.

    Parameters
    ----------
    model : CLVModel
        Fitted composite model (anything with ``predict`` and ``feature_columns_``).
    features : pandas.DataFrame
        A customer frame it can score (for the signature and input example).
    name : str, default "clv_model"
        Name of the logged model.
    registered_model_name : str, optional
        Also register it under this name.

    Returns
    -------
    mlflow.models.model.ModelInfo
    """
    import mlflow

    sig = model_signature(model, features)
    example = input_example(model, features)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        # mlflow.models.utils compares columns with a range (a pandas 4 deprecation in MLflow)
        warnings.filterwarnings("ignore", "Operation with range is deprecated")
        path = Path(tmp) / f"{ARTIFACT_KEY}.pkl"
        with open(path, "wb") as fh:
            pickle.dump(model, fh, protocol=5)
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(MODEL_CODE),
            artifacts={ARTIFACT_KEY: str(path)},
            signature=sig,
            input_example=example,
            pip_requirements=pip_requirements(),
            registered_model_name=registered_model_name,
            metadata={"clvml_version": _clvml_version(), "python": sys.version.split()[0]},
        )


def _clvml_version() -> str:
    from clvml._version import __version__

    return __version__
