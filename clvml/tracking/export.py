"""Export a registered model to a folder in MLflow's model format (no tracking server to score).

:func:`export_model` copies a model (by default the registry's champion,
``models:/clvml@champion``) to a local folder such as ``models/clvml``, checks
that the copy loads and scores its own input example, and writes
``export.json`` beside the MLflow files: where the model came from (registered
name, version, run, the run's holdout metrics), when, with which clvml, and the
SHA-256 digest of every file of the folder (:mod:`clvml.tracking.integrity`:
``clvml score --model FOLDER`` loads the folder only if its files still match).
Load the export with ``mlflow.pyfunc.load_model("models/clvml")``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clvml._version import __version__
from clvml.data.files import share
from clvml.exceptions import ClvmlError
from clvml.tracking.integrity import write_manifest
from clvml.tracking.registry_integrity import fetch_verified
from clvml.tracking.store import point_mlflow_at, redact_uri, resolve_tracking

__all__ = ["ExportResult", "ModelExportError", "export_model"]

DEFAULT_MODEL_URI = "models:/clvml@champion"


class ModelExportError(ClvmlError, ValueError):
    """The model cannot be found, copied or loaded."""


@dataclass
class ExportResult:
    """What :func:`export_model` wrote.

    Attributes
    ----------
    path : str
        The export folder (an MLflow model: ``MLmodel``, ``python_model``, artifacts).
    model_uri : str
        The URI exported.
    registered_name, version, run_id : str or None
        The model version behind the URI (None for a URI outside the registry).
    metrics : dict
        The ``holdout.*`` metrics of the run that logged it.
    """

    path: str
    model_uri: str
    registered_name: str | None = None
    version: str | None = None
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)


def _version_of(client: Any, uri: str) -> Any | None:
    """The registry's model version behind ``models:/name@alias`` or ``models:/name/version``."""
    if not uri.startswith("models:/"):
        return None
    ref = uri[len("models:/") :]
    if "@" in ref:
        name, alias = ref.split("@", 1)
        return client.get_model_version_by_alias(name, alias)
    if "/" in ref:
        name, version = ref.split("/", 1)
        if version.isdigit():
            return client.get_model_version(name, version)
    return None  # models:/m-<id>: a logged model, not a registry entry


def export_model(
    model_uri: str = DEFAULT_MODEL_URI,
    out: str | os.PathLike[str] = "models/clvml",
    *,
    tracking_uri: str | None = None,
    workdir: str | os.PathLike[str] | None = None,
    check: bool = True,
    overwrite: bool = True,
    trust_model: bool = False,
) -> ExportResult:
    """Copy a model from MLflow to ``out`` in MLflow's model format.

    Parameters
    ----------
    model_uri : str, default "models:/clvml@champion"
        Any MLflow model URI: ``models:/<name>@<alias>``, ``models:/<name>/<version>``,
        ``runs:/<run_id>/<path>``, ``models:/m-<id>``.
    out : path-like, default "models/clvml"
        Export folder; replaced as a whole if it exists (the old copy stays
        until the new one is complete and checked).
    tracking_uri : str, optional
        Tracking/registry URI (default ``MLFLOW_TRACKING_URI``, else the
        embedded store of :func:`~clvml.tracking.store.resolve_tracking`).
    workdir : path-like, optional
        Folder of the embedded store.
    check : bool, default True
        Load the copy and score its input example before putting it in place.
    overwrite : bool, default True
        Replace an existing ``out``; with False an existing folder is refused before
        anything is copied (``clvml export`` without ``--overwrite``).
    trust_model : bool, default False
        Export a model whose files do not match the digests recorded when it was logged
        (:mod:`clvml.tracking.registry_integrity`), or that has none; ``export.json`` then
        says ``"store_digests": "unverified"``.

    Returns
    -------
    ExportResult

    Raises
    ------
    ModelExportError
        The URI does not resolve (no such model, version or alias), the copy
        does not load, or ``out`` exists and ``overwrite`` is False.
    clvml.tracking.integrity.ModelIntegrityError
        The model's files in the store do not match the digests recorded when it was
        logged (checked before the copy is loaded; ``trust_model`` to export anyway).
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    if not overwrite and Path(out).exists():
        raise ModelExportError(
            f"{out} already exists; pass --overwrite to replace it (or --out another folder)"
        )

    cfg = resolve_tracking(tracking_uri, workdir)
    point_mlflow_at(cfg.tracking_uri)
    client = mlflow.MlflowClient()
    where = redact_uri(cfg.tracking_uri)
    try:
        mv = _version_of(client, model_uri)
    except MlflowException as exc:
        raise ModelExportError(f"{model_uri}: not found in {where} ({exc.message})") from exc
    target = Path(out).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        try:  # checked against the digests recorded when it was logged, before it runs
            ident = fetch_verified(model_uri, staging, client=client, version=mv, trust=trust_model)
        except MlflowException as exc:
            msg = f"{model_uri}: cannot copy from {where} ({exc.message})"
            raise ModelExportError(msg) from exc
        root = _model_root(Path(ident.path))
        if check:
            _check(root)
        result = ExportResult(path=str(target), model_uri=model_uri)
        if mv is not None:
            result.registered_name, result.version = mv.name, str(mv.version)
            result.run_id = mv.run_id
            if mv.run_id:
                metrics = client.get_run(mv.run_id).data.metrics
                result.metrics = {k: v for k, v in metrics.items() if k.startswith("holdout.")}
        provenance = {
            **asdict(result),
            "path": str(Path(out)),
            "tracking_uri": where,
            "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "clvml_version": __version__,
            "mlflow_version": mlflow.__version__,
            "store_digests": "verified" if ident.verified else "unverified",
        }
        # the SHA-256 of every file, checked before the folder is ever loaded for scoring
        write_manifest(root, provenance)
        share(root)  # the user's umask, not mkdtemp's 0700: a serving user reads it
        _replace(root, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _model_root(folder: Path) -> Path:
    hits = sorted(folder.rglob("MLmodel"), key=lambda p: len(p.parts))
    if not hits:
        raise ModelExportError(f"no MLmodel file in the copy of the model ({folder})")
    return hits[0].parent


def _check(root: Path) -> None:
    import mlflow

    try:
        model = mlflow.pyfunc.load_model(str(root))
        example = model.input_example
        if example is not None:
            model.predict(example)
    except Exception as exc:  # any failure means the export is unusable
        raise ModelExportError(f"the exported model does not load or score: {exc}") from exc


def _replace(new: Path, target: Path) -> None:
    """Put ``new`` at ``target``; an old copy is moved away first and deleted last."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    try:
        shutil.move(str(new), str(target))
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
