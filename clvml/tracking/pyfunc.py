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

import pandas as pd
from mlflow.pyfunc import PythonModel

from clvml.models.model_input import is_text, predict_frame, to_model_input

__all__ = [
    "CLVPyfuncModel",
    "log_clv_model",
    "model_signature",
    "pip_requirements",
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
        specs.append(ColSpec("string" if is_text(x[c]) else "double", c))
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
