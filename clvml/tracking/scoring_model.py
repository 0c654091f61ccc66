"""Load the model a scoring job serves, and check it can score clvml's customer features.

:func:`load_scoring_model` accepts the three ways a model is named:

``models:/<name>@<alias>`` or ``models:/<name>/<version>``
    A version of the MLflow Model Registry (default ``models:/clvml@champion``);
    the CRM rows record the registered name and version.
``runs:/<run_id>/<path>``
    A model logged by a run; recorded as name ``<path>``, version ``run-<run_id>``.
a folder (``models/clvml``)
    An MLflow model on disk written by ``clvml export``: loaded only if its files
    match the SHA-256 digests recorded in its ``export.json`` (checked before any of
    its code runs; ``trust_model=True`` / ``--trust-model`` to load anyway). Recorded
    as the registered name and ``<version>+sha256-<12 hex of its files>``, or the
    folder name and ``sha256-<...>`` (``unverified-sha256-<...>`` when trusted).

The tracking/registry store is ``MLFLOW_TRACKING_URI`` or the embedded store of
:func:`clvml.tracking.store.resolve_tracking`. Every failure is a one-line
:class:`ModelLoadError`, and :func:`check_signature` refuses a model whose input
schema does not match the customer features before anything is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from clvml.exceptions import ClvmlError, DataValidationError

__all__ = [
    "DEFAULT_MODEL_URI",
    "ModelLoadError",
    "ScoringModel",
    "check_signature",
    "load_scoring_model",
]

DEFAULT_MODEL_URI = "models:/clvml@champion"
#: Output columns a model must produce to be written to the CRM.
REQUIRED_OUTPUTS = ("customer_id", "clv")


class ModelLoadError(ClvmlError, ValueError):
    """The model cannot be found or loaded, or it is not a clvml CLV model."""


@dataclass(frozen=True)
class ScoringModel:
    """A loaded pyfunc model and what identifies it in the CRM.

    Attributes
    ----------
    uri : str
        The URI or path it was loaded from.
    name, version : str
        Recorded on every score row and in the run table.
    run_id : str or None
        The MLflow run that logged it, when known.
    inputs : list of (name, type, required)
        The input schema (types as MLflow names them: ``double``, ``string``, ...).
    outputs : list of str or None
        Output column names from the signature (None when it has no output schema).
    metrics : dict
        The ``holdout.*`` metrics of its training run, when they can be read.
    pyfunc : mlflow.pyfunc.PyFuncModel
    local_path : str or None
        The checked local copy it was loaded from (None once a temporary copy is removed).
    """

    uri: str
    name: str
    version: str
    run_id: str | None
    inputs: list[tuple[str, str, bool]]
    outputs: list[str] | None
    pyfunc: Any = field(repr=False)
    metrics: dict[str, float] = field(default_factory=dict)
    local_path: str | None = None

    @property
    def feature_columns(self) -> list[str]:
        """Input columns other than ``customer_id``, in signature order."""
        return [n for n, _, _ in self.inputs if n != "customer_id"]


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def _configure(tracking_uri: str | None, workdir: str | os.PathLike[str] | None) -> str:
    """Point MLflow at the store (without creating an embedded one); return it, redacted."""

    from clvml.tracking.store import point_mlflow_at, redact_uri, resolve_tracking

    cfg = resolve_tracking(tracking_uri, workdir)
    uri = cfg.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///") :]).is_file():
        raise ModelLoadError(
            f"no MLflow store at {uri[len('sqlite:///') :]}: train a model first (clvml train), "
            "set MLFLOW_TRACKING_URI, or give --model a models/ folder"
        )
    point_mlflow_at(uri)
    return redact_uri(uri)


def _model_version(uri: str, where: str) -> Any | None:
    """The registry's ModelVersion of ``models:/name@alias`` or ``models:/name/N``; else None."""
    import mlflow
    from mlflow.exceptions import MlflowException

    ref = uri[len("models:/") :]
    client = mlflow.MlflowClient()
    try:
        if "@" in ref:
            name, alias = ref.split("@", 1)
            mv = client.get_model_version_by_alias(name, alias)
        elif "/" in ref and ref.split("/", 1)[1].isdigit():
            name, number = ref.split("/", 1)
            mv = client.get_model_version(name, number)
        else:
            return None
    except MlflowException as exc:
        raise ModelLoadError(f"{uri}: not found in {where} ({_first_line(exc)})") from None
    return mv


def _run_metrics(run_id: str | None) -> dict[str, float]:
    if not run_id:
        return {}
    import mlflow

    try:
        metrics = mlflow.MlflowClient().get_run(run_id).data.metrics
    except Exception:  # metrics are a nicety of the report, never a reason to fail
        return {}
    return {k: float(v) for k, v in metrics.items() if k.startswith("holdout.")}


def _check_metadata(uri: str, meta: Any) -> tuple[list[tuple[str, str, bool]], list[str] | None]:
    """Inputs and outputs of a model's signature; refuse one clvml cannot score with."""
    schema = meta.get_input_schema()
    if schema is None or not schema.has_input_names():
        raise ModelLoadError(
            f"{uri}: the model has no input signature with column names; "
            "clvml scores only models logged with one (clvml train does)"
        )
    inputs = [
        (str(c.name), getattr(c.type, "name", str(c.type)), bool(c.required)) for c in schema.inputs
    ]
    out_schema = meta.get_output_schema()
    outputs = (
        None
        if out_schema is None or not out_schema.has_input_names()
        else [str(n) for n in out_schema.input_names()]
    )
    if outputs is not None:
        missing = [c for c in REQUIRED_OUTPUTS if c not in outputs]
        if missing:
            raise ModelLoadError(
                f"{uri}: the model's output lacks {missing}; expected a clvml CLV model "
                f"(customer_id, clv, p_alive, ...), got {outputs[:8]}"
            )
    return inputs, outputs


def load_scoring_model(
    uri: str = DEFAULT_MODEL_URI,
    *,
    tracking_uri: str | None = None,
    workdir: str | os.PathLike[str] | None = None,
    trust_model: bool = False,
    download_dir: str | os.PathLike[str] | None = None,
) -> ScoringModel:
    """Load a pyfunc CLV model from the registry, a run or a folder.

    A folder is loaded only if its files match the SHA-256 digests ``clvml export``
    recorded in its ``export.json`` (:func:`clvml.tracking.integrity.verify_folder`),
    checked before any of its code runs; its CRM version is ``<version>+sha256-<digest>``.

    Parameters
    ----------
    uri : str, default "models:/clvml@champion"
        ``models:/<name>@<alias>``, ``models:/<name>/<version>``,
        ``runs:/<run_id>/<path>`` or a folder holding an ``MLmodel`` file.
    tracking_uri : str, optional
        Tracking/registry store (default ``MLFLOW_TRACKING_URI``, else the
        embedded store in ``workdir``).
    workdir : path-like, optional
        Folder of the embedded store (default: the working directory).
    trust_model : bool, default False
        Load a model whose files do not match its recorded digests (or that has none):
        a folder is recorded as ``unverified-sha256-<digest>`` under the folder's name,
        a model of the tracking store as ``<version>+unverified-sha256-<digest>``.
    download_dir : path-like, optional
        Where a model of the tracking store is copied, checked and loaded from (default:
        a temporary folder removed once it is loaded). The copy stays there, e.g. for
        Spark executors, which then load the very bytes that were checked.

    Returns
    -------
    ScoringModel

    Raises
    ------
    ModelLoadError
        No such model, alias, version, run or folder; the model does not load;
        or it has no input signature.
    clvml.tracking.integrity.ModelIntegrityError
        The model's files do not match the digests recorded at export (a folder) or when
        it was logged (a model of the tracking store, tags written by
        :func:`clvml.tracking.pyfunc.log_clv_model`), and ``trust_model`` is False.
    """
    from mlflow.exceptions import MlflowException

    if not isinstance(uri, str) or not uri.strip():
        raise ModelLoadError("the model URI is empty")
    run_id: str | None = None
    metrics: dict[str, float] = {}
    if "://" in uri or uri.startswith(("models:/", "runs:/")):
        where = _configure(tracking_uri, workdir)
        mv = None
        if uri.startswith("models:/"):
            mv = _model_version(uri, where)
            if mv is not None:
                name, version, run_id = str(mv.name), str(mv.version), mv.run_id
            else:
                name, version = "logged-model", uri[len("models:/") :]
        elif uri.startswith("runs:/"):
            parts = uri[len("runs:/") :].strip("/").split("/", 1)
            if len(parts) != 2 or not parts[0]:
                raise ModelLoadError(f"{uri}: expected runs:/<run_id>/<model path>")
            run_id = parts[0]
            name, version = parts[1], f"run-{run_id}"
        else:
            name, version = uri.rstrip("/").rsplit("/", 1)[-1], uri
        return _load_from_store(
            uri, name, version, run_id, mv, trust_model=trust_model, download_dir=download_dir
        )
    path = Path(uri).expanduser().resolve()
    if not (path / "MLmodel").is_file():
        raise ModelLoadError(
            f"{uri}: no MLflow model there (no MLmodel file); give a models/ folder written "
            "by clvml export, models:/<name>@<alias> or runs:/<run_id>/<path>"
        )
    from mlflow.models import Model

    from clvml.tracking.integrity import verify_folder

    try:  # the MLmodel file is YAML, read safely: nothing of the folder runs here
        _check_metadata(uri, Model.load(str(path / "MLmodel")))
    except (MlflowException, OSError, ValueError) as exc:
        if isinstance(exc, ModelLoadError):
            raise
        raise ModelLoadError(f"{uri}: unreadable MLmodel file ({_first_line(exc)})") from None
    ident = verify_folder(path, trust=trust_model)
    name, version, run_id, metrics = ident.name, ident.version, ident.run_id, ident.metrics
    return _load(uri, str(path), name, version, run_id, metrics)


def _load(
    uri: str, target: str, name: str, version: str, run_id: str | None, metrics: dict[str, float]
) -> ScoringModel:
    """Load the checked local copy ``target`` of ``uri``."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        pyfunc = mlflow.pyfunc.load_model(target)
    except (MlflowException, OSError, ImportError, ValueError) as exc:
        raise ModelLoadError(f"{uri}: cannot load the model ({_first_line(exc)})") from None
    inputs, outputs = _check_metadata(uri, pyfunc.metadata)
    run_id = run_id or pyfunc.metadata.run_id
    if not metrics:
        metrics = _run_metrics(run_id) if "://" in uri or ":/" in uri else {}
    return ScoringModel(
        uri=uri,
        name=name,
        version=version,
        run_id=run_id,
        inputs=inputs,
        outputs=outputs,
        pyfunc=pyfunc,
        metrics=metrics,
        local_path=target,
    )


def _load_from_store(
    uri: str,
    name: str,
    version: str,
    run_id: str | None,
    mv: Any | None,
    *,
    trust_model: bool,
    download_dir: str | os.PathLike[str] | None,
) -> ScoringModel:
    """Copy a model of the tracking store, check its digests, load the checked copy."""
    import tempfile

    import mlflow
    from mlflow.exceptions import MlflowException

    from clvml.tracking.registry_integrity import fetch_verified

    with contextlib.ExitStack() as stack:
        if download_dir is None:
            dst = stack.enter_context(tempfile.TemporaryDirectory(prefix="clvml-model-"))
        else:
            dst = tempfile.mkdtemp(prefix="clvml-model-", dir=download_dir)
        try:
            ident = fetch_verified(
                uri, dst, client=mlflow.MlflowClient(), version=mv, trust=trust_model
            )
        except (MlflowException, OSError) as exc:
            raise ModelLoadError(f"{uri}: cannot copy the model ({_first_line(exc)})") from None
        if not ident.verified:
            version = f"{version}+unverified-sha256-{ident.digest}"
        model = _load(uri, ident.path, name, version, run_id, {})
        if download_dir is None:
            model = dataclasses.replace(model, local_path=None)
        return model


_NUMERIC_TYPES = {"double", "float", "long", "integer", "boolean"}


def check_signature(model: ScoringModel, features: pd.DataFrame, *, data_note: str = "") -> None:
    """Refuse features that do not match the model's input schema (nothing is scored).

    Every required input must be a column of ``features``; numeric inputs
    (``double``, ``long``, ...) must be numeric or boolean columns.

    Raises
    ------
    DataValidationError
        Naming the missing or mistyped columns and the model.
    """
    cols = set(map(str, features.columns))
    missing = [n for n, _, req in model.inputs if req and n != "customer_id" and n not in cols]
    if missing:
        raise DataValidationError(
            f"model {model.name} version {model.version} needs {len(missing)} feature column(s) "
            f"the data do not give: {missing[:6]}{' ...' if len(missing) > 6 else ''}"
            f"{data_note}; the model's signature does not match these data",
            column=missing[0],
        )
    for name, typ, _ in model.inputs:
        if name == "customer_id" or name not in cols or typ not in _NUMERIC_TYPES:
            continue
        s = features[name]
        if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            converted = pd.to_numeric(s, errors="coerce")
            bad = converted.isna() & s.notna()
            raise DataValidationError(
                f"hold text (dtype {s.dtype}) but model {model.name} version {model.version} "
                f"expects numbers ({typ})",
                column=name,
                n_rows=int(bad.sum()),
                example=None if not bad.any() else s[bad].iloc[0],
            )
