"""Integrity of models served by MLflow: digests recorded when logged, checked before loading.

A model loaded from the tracking store (``models:/<name>/<version>``, ``models:/<name>@<alias>``,
``runs:/<run_id>/<path>``, ``models:/m-<id>``) runs code just like a model folder does
(:mod:`clvml.tracking.integrity`): MLflow executes its ``_model_code.py`` and clvml unpickles
``artifacts/clv_model.pkl``. The files live in the artifact store (a folder, a bucket), which
is often writable by more people than the registry's database. So:

* :func:`record_model_digests` (called by :func:`clvml.tracking.pyfunc.log_clv_model`, i.e. by
  ``clvml train``) computes the SHA-256 of every file of the logged model and stores the list
  (``clvml.artifacts_sha256``) and its digest (``clvml.manifest_sha256``) as tags in the
  tracking database: on the registered model version, on the logged model and on the run
  (``clvml.artifacts_sha256.<model name>``);
* :func:`fetch_verified` copies the model's files to a local folder, recomputes the digests
  (bytes only: nothing is executed or unpickled) and refuses, in one line, files that differ
  from the tags or a model that has none; the caller then loads *that* local copy, so the
  bytes checked are the bytes that run. ``trust=True`` (``--trust-model``) loads anyway and
  names the model ``<version>+unverified-sha256-<12 hex>``.

The tags live in the tracking database, the files in the artifact store: someone who can
change only the files is caught; someone who can also rewrite the tags is not (see
docs/security.md).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clvml.tracking.integrity import (
    ModelIntegrityError,
    folder_digests,
    manifest_digest,
)

__all__ = [
    "DIGESTS_TAG",
    "MANIFEST_TAG",
    "RegistryIdentity",
    "fetch_verified",
    "model_digests",
    "record_model_digests",
]

DIGESTS_TAG = "clvml.artifacts_sha256"
MANIFEST_TAG = "clvml.manifest_sha256"
#: Written by MLflow itself on the downloading side (the registered name and version, as
#: YAML, overwritten at every download of ``models:/name/version``) and never read when the
#: model loads: not part of the model's bytes.
CLIENT_FILES = frozenset({"registered_model_meta"})


def model_digests(folder: str | os.PathLike[str]) -> dict[str, str]:
    """:func:`~clvml.tracking.integrity.folder_digests` without MLflow's client-side files."""
    return {k: v for k, v in folder_digests(folder).items() if k not in CLIENT_FILES}


def _tags(digests: dict[str, str]) -> dict[str, str]:
    listed = json.dumps(digests, sort_keys=True)
    return {DIGESTS_TAG: listed, MANIFEST_TAG: manifest_digest(digests)}


def record_model_digests(
    model_info: Any, registered_name: str | None = None, client: Any | None = None
) -> str:
    """Record the SHA-256 digests of a just-logged model as tags in the tracking store.

    Parameters
    ----------
    model_info : mlflow.models.model.ModelInfo
        What ``mlflow.pyfunc.log_model`` returned.
    registered_name : str, optional
        The registered model it became a version of (``registered_model_name``).
    client : mlflow.MlflowClient, optional
        Default: a client of the current tracking URI.

    Returns
    -------
    str
        The manifest digest (64 hex) recorded.
    """
    import tempfile

    import mlflow

    client = client or mlflow.MlflowClient()
    with tempfile.TemporaryDirectory(prefix="clvml-digest-") as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=model_info.model_uri, dst_path=tmp)
        digests = model_digests(local)
    tags = _tags(digests)
    if getattr(model_info, "model_id", None):
        client.set_logged_model_tags(model_info.model_id, tags)
    if model_info.run_id:
        name = getattr(model_info, "name", None) or model_info.artifact_path
        for key, value in tags.items():
            client.set_tag(model_info.run_id, f"{key}.{name}", value)
    version = getattr(model_info, "registered_model_version", None)
    if registered_name and version is not None:
        for key, value in tags.items():
            client.set_model_version_tag(registered_name, str(version), key, value)
    return tags[MANIFEST_TAG]


@dataclass(frozen=True)
class RegistryIdentity:
    """A model copied from the tracking store and checked.

    Attributes
    ----------
    path : str
        The local copy (load this one: its bytes were checked).
    digest : str
        12 hex of the manifest digest of the copy's files.
    verified : bool
        Whether the files matched the digests recorded when the model was logged.
    """

    path: str
    digest: str
    verified: bool


def _recorded_tags(client: Any, uri: str, version: Any | None) -> dict[str, str]:
    """The digest tags of the model behind ``uri`` (empty when none can be found)."""
    from mlflow.exceptions import MlflowException

    try:
        if version is not None:  # a registry version (alias or number)
            return dict(version.tags or {})
        if uri.startswith("runs:/"):
            run_id, _, path = uri[len("runs:/") :].strip("/").partition("/")
            tags = client.get_run(run_id).data.tags
            return {k: tags.get(f"{k}.{path}", "") for k in (DIGESTS_TAG, MANIFEST_TAG)}
        if uri.startswith("models:/m-"):
            return dict(client.get_logged_model(uri[len("models:/") :].strip("/")).tags or {})
    except MlflowException:
        return {}
    return {}


def _check(uri: str, tags: dict[str, str], actual: dict[str, str]) -> None:
    def refuse(why: str) -> ModelIntegrityError:
        return ModelIntegrityError(
            f"{uri}: {why}; the model is not loaded (its code would run). Log it again with "
            "clvml train, or pass --trust-model if you vouch for it"
        )

    try:
        recorded = json.loads(tags.get(DIGESTS_TAG) or "null")
    except ValueError:
        recorded = None
    if not isinstance(recorded, dict) or not recorded:
        raise refuse("no artifact digests were recorded in the tracking store when it was logged")
    if tags.get(MANIFEST_TAG) != manifest_digest(recorded):
        raise refuse(f"the {DIGESTS_TAG} tag was changed")
    both = sorted(recorded.keys() & actual.keys())
    problems = [
        *(f"{p} changed" for p in both if recorded[p] != actual[p]),
        *(f"{p} missing" for p in sorted(recorded.keys() - actual.keys())),
        *(f"{p} added" for p in sorted(actual.keys() - recorded.keys())),
    ]
    if problems:
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        raise refuse(
            f"its files do not match the digests recorded when it was logged ({problems[0]}{more})"
        )


def fetch_verified(
    uri: str,
    dst: str | os.PathLike[str],
    *,
    client: Any,
    version: Any | None = None,
    trust: bool = False,
) -> RegistryIdentity:
    """Copy the model behind ``uri`` into ``dst`` and check it against its recorded digests.

    Parameters
    ----------
    uri : str
        ``models:/...`` or ``runs:/...`` (any other URI has no record: it needs ``trust``).
    dst : path-like
        An empty local folder the files are copied to.
    client : mlflow.MlflowClient
    version : mlflow.entities.model_registry.ModelVersion, optional
        The registry version behind ``uri``, when it is one.
    trust : bool, default False
        Return an unverified identity instead of raising (``--trust-model``).

    Returns
    -------
    RegistryIdentity

    Raises
    ------
    ModelIntegrityError
        The copy does not match the record, or there is none (and ``trust`` is False).
    """
    import mlflow

    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst))
    root = Path(local)
    if not (root / "MLmodel").is_file():  # the copy holds the model one folder down
        hits = sorted(root.rglob("MLmodel"), key=lambda p: len(p.parts))
        root = hits[0].parent if hits else root
    actual = model_digests(root)
    digest = manifest_digest(actual)[:12]
    try:
        _check(uri, _recorded_tags(client, uri, version), actual)
    except ModelIntegrityError:
        if not trust:
            raise
        return RegistryIdentity(str(root), digest, False)
    return RegistryIdentity(str(root), digest, True)
