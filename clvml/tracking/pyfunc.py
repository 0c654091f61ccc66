"""The CLV model as an MLflow ``pyfunc`` model (models from code).

:class:`CLVPyfuncModel` wraps a fitted :class:`clvml.models.composite.CLVModel`:
its input is the customer feature frame (:func:`clvml.features.dataset.customer_features`,
with ``customer_id`` as a column or as the index), its output one row per
customer with the CLV, its interval, P(alive), the churn probability, the
expected purchases and spend, the value tier and the segment (and the CLV of
every fitted method).

The value tier and the segment come from the :class:`clvml.segments.SegmentScheme`
fitted at training and stored beside the estimator (``segment_scheme.json``), so
every scoring run, whatever its chunks, labels a customer the same way. A model
logged before schemes were stored has no such artifact: its output keeps the
estimator's own ``value_tier``/``segment`` columns, if it has any.

The model is logged *from code* (the file ``_model_code.py`` next to this
module is the model definition MLflow stores), with the fitted estimator as a
pickled artifact, an explicit signature (numeric features as ``double``, text
features as ``string``), an input example with made-up customer ids, and
explicit pip requirements (no slow environment inference).

Loading it needs clvml installed (``pip install clvml==<version>``), as the
requirements say.
"""

from __future__ import annotations

import json
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
    "scheme_of",
    "served_frame",
]

#: Name of the pickled estimator among the model's artifacts.
ARTIFACT_KEY = "clv_model"
#: Name of the segment scheme (JSON) among the model's artifacts.
SCHEME_KEY = "segment_scheme"
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


def served_frame(
    model: Any, scheme: Any | None, model_input: pd.DataFrame, *, scores_only: bool = False
) -> pd.DataFrame:
    """What the logged model returns: :func:`predict_frame`, labelled by the segment scheme.

    With a fitted :class:`clvml.segments.SegmentScheme`, any ``value_tier`` and
    ``segment`` columns of the estimator's output are dropped and the scheme's are
    inserted (after ``engagement_value`` when there is one, else at the end), as
    strings (empty for a row whose CLV or churn probability is not a number).
    Without a scheme the estimator's output is returned as it is. ``scores_only``: the
    columns a score table stores, from the champion's steps alone (see
    :func:`clvml.models.model_input.predict_frame`).
    """
    out = predict_frame(model, model_input, scores_only=scores_only)
    if scheme is None:
        return out
    from clvml.segments import RECORD_COLUMNS

    out = out.drop(columns=[c for c in RECORD_COLUMNS if c in out.columns])
    if "churn_probability" in out.columns:
        churn = out["churn_probability"].to_numpy(dtype=float)
    else:  # the activity in the horizon (p_alive: models exported before it)
        active = "p_active" if "p_active" in out.columns else "p_alive"
        churn = 1.0 - out[active].to_numpy(dtype=float)
    tiers, segments = scheme.labels_for(out["clv"].to_numpy(dtype=float), churn)
    cols = list(out.columns)
    at = cols.index("engagement_value") + 1 if "engagement_value" in cols else len(cols)
    for k, (col, labels) in enumerate((("value_tier", tiers), ("segment", segments))):
        out.insert(at + k, col, pd.Series(labels, dtype=object).fillna("").to_numpy(dtype=object))
    return out


def read_scheme(path: str | Path) -> Any:
    """The :class:`clvml.segments.SegmentScheme` stored at ``path`` (JSON)."""
    from clvml.segments import SegmentScheme

    with open(path, encoding="utf-8") as fh:
        return SegmentScheme.from_dict(json.load(fh))


def scheme_of(pyfunc_model: Any) -> Any | None:
    """The segment scheme stored with a loaded pyfunc model (None when it has none)."""
    try:
        wrapper = pyfunc_model.unwrap_python_model()
    except Exception:  # not a Python model (or not a clvml one): no scheme
        return None
    return getattr(wrapper, "scheme_", None)


class CLVPyfuncModel(PythonModel):
    """MLflow pyfunc wrapper of a fitted :class:`~clvml.models.composite.CLVModel`.

    ``predict`` takes the customer feature frame and returns the per-customer
    outputs (see :func:`served_frame`). Attributes after loading: ``model_`` (the
    estimator) and ``scheme_`` (the stored segment scheme, or None for a model
    logged without one).
    """

    def load_context(self, context: Any) -> None:
        """Load the pickled estimator and the segment scheme from the model's artifacts."""
        with open(context.artifacts[ARTIFACT_KEY], "rb") as fh:
            self.model_ = pickle.load(fh)
        path = context.artifacts.get(SCHEME_KEY)
        self.scheme_ = None if path is None else read_scheme(path)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Per-customer CLV, P(alive), churn probability, expected purchases and spend."""
        return served_frame(self.model_, getattr(self, "scheme_", None), model_input)


def model_signature(model: Any, features: pd.DataFrame, scheme: Any | None = None):
    """Signature of the pyfunc model: input schema from the features, output from a prediction.

    ``customer_id`` is an optional input column (a frame indexed by it works
    too); numeric features are ``double``, text features ``string``.
    """
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, Schema, TensorSpec

    # column types follow the dtypes, so 50 rows give the whole frame's (no pass over it)
    x = to_model_input(features.head(50), list(model.feature_columns_))
    specs: list[ColSpec | TensorSpec] = [ColSpec("string", "customer_id", required=False)]
    for c in x.columns[1:]:
        specs.append(ColSpec("string" if is_text(x[c]) else "double", c))
    outputs = infer_signature(x, served_frame(model, scheme, x)).outputs
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
    scheme: Any | None = None,
    name: str = "clv_model",
    registered_model_name: str | None = None,
):
    """Log a fitted CLV model (and its segment scheme) as a pyfunc model in the active run.

    Parameters
    ----------
    model : CLVModel
        Fitted composite model (anything with ``predict`` and ``feature_columns_``).
    features : pandas.DataFrame
        A customer frame it can score (for the signature and input example).
    scheme : clvml.segments.SegmentScheme, optional
        Fitted segment scheme, stored beside the estimator: the model's
        ``value_tier`` and ``segment`` come from it.
    name : str, default "clv_model"
        Name of the logged model.
    registered_model_name : str, optional
        Also register it under this name.

    Returns
    -------
    mlflow.models.model.ModelInfo

    Notes
    -----
    The SHA-256 digests of the logged files are recorded as tags on the run, the logged
    model and the registered version (:mod:`clvml.tracking.registry_integrity`); a model
    is loaded for scoring only if its files still match them.
    """
    import mlflow

    sig = model_signature(model, features, scheme)
    example = input_example(model, features)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        # mlflow.models.utils compares columns with a range (a pandas 4 deprecation in MLflow)
        warnings.filterwarnings("ignore", "Operation with range is deprecated")
        path = Path(tmp) / f"{ARTIFACT_KEY}.pkl"
        with open(path, "wb") as fh:
            pickle.dump(model, fh, protocol=5)
        artifacts = {ARTIFACT_KEY: str(path)}
        if scheme is not None:
            artifacts[SCHEME_KEY] = str(Path(tmp) / f"{SCHEME_KEY}.json")
            Path(artifacts[SCHEME_KEY]).write_text(json.dumps(scheme.to_dict(), indent=2))
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=str(MODEL_CODE),
            artifacts=artifacts,
            signature=sig,
            input_example=example,
            pip_requirements=pip_requirements(),
            registered_model_name=registered_model_name,
            metadata={"clvml_version": _clvml_version(), "python": sys.version.split()[0]},
        )
    from clvml.tracking.registry_integrity import record_model_digests

    # the SHA-256 of every logged file, in the tracking database: checked before loading
    record_model_digests(info, registered_model_name)
    return info


def _clvml_version() -> str:
    from clvml._version import __version__

    return __version__
