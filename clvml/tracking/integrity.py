"""Integrity of a model folder: SHA-256 digests recorded at export, checked before loading.

Loading an MLflow model runs code from its folder: ``_model_code.py`` is executed and
``artifacts/clv_model.pkl`` is unpickled. A folder someone changed (or swapped) would run
their code inside the scoring job and write their numbers into the CRM. So:

* :func:`write_manifest` (called by ``clvml export``) records the SHA-256 digest of every
  file of the folder in its ``export.json`` (``artifacts_sha256``), with the digest of
  that list (``manifest_sha256``);
* :func:`verify_folder` recomputes them and refuses, in one line, a folder whose files
  differ from the record in any way (a changed, missing or added file, a symbolic link)
  or that has no record. It reads bytes only: nothing of the folder is executed or
  unpickled before it passes. ``--trust-model`` skips the refusal for a folder the
  operator vouches for; the CRM then records it as unverified, by its actual digest.

The version written on the CRM rows of a folder model carries the digest of what was
actually loaded (``<version>+sha256-<12 hex>``), so it always names the bytes that scored,
whatever label the folder's ``export.json`` gives. See docs/security.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clvml.exceptions import ClvmlError

__all__ = [
    "DIGESTS_KEY",
    "PROVENANCE_FILE",
    "FolderIdentity",
    "ModelIntegrityError",
    "folder_digests",
    "verify_folder",
    "write_manifest",
]

PROVENANCE_FILE = "export.json"
DIGESTS_KEY = "artifacts_sha256"
MANIFEST_KEY = "manifest_sha256"
_CHUNK = 1 << 20


class ModelIntegrityError(ClvmlError, ValueError):
    """A model folder's files do not match the digests recorded when it was exported."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def folder_digests(folder: str | os.PathLike[str]) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` but ``export.json``, by relative POSIX path.

    Raises
    ------
    ModelIntegrityError
        The folder holds a symbolic link or something that is neither file nor folder
        (its content could change without the folder's files changing).
    """
    root = Path(folder)
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        for name in sorted(dirnames + filenames):
            p = here / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                raise _refuse(root, f"{rel} is a symbolic link (refused even when trusted)")
            if p.is_dir():
                continue
            if not p.is_file():
                raise _refuse(root, f"{rel} is not a regular file (refused even when trusted)")
            if rel != PROVENANCE_FILE:
                out[rel] = _sha256(p)
    return dict(sorted(out.items()))


def manifest_digest(digests: dict[str, str]) -> str:
    """One SHA-256 over the sorted ``path digest`` lines: the identity of the folder's bytes."""
    text = "".join(f"{path}\0{digest}\n" for path, digest in sorted(digests.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def write_manifest(
    folder: str | os.PathLike[str], provenance: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Record the digests of ``folder``'s files in its ``export.json`` (written atomically).

    Parameters
    ----------
    folder : path
        An MLflow model folder, complete (nothing may be added after).
    provenance : dict, optional
        What else ``export.json`` says (registered name, version, run, metrics ...);
        default: what the file already holds.

    Returns
    -------
    dict
        The content written.
    """
    root = Path(folder)
    target = root / PROVENANCE_FILE
    if provenance is None:
        provenance = json.loads(target.read_text()) if target.is_file() else {}
    digests = folder_digests(root)
    content = {**provenance, DIGESTS_KEY: digests, MANIFEST_KEY: manifest_digest(digests)}
    fd, tmp = tempfile.mkstemp(prefix=f".{PROVENANCE_FILE}.", dir=root)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(content, indent=2) + "\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return content


@dataclass(frozen=True)
class FolderIdentity:
    """What a checked folder is recorded as in the CRM (name, version with its digest)."""

    name: str
    version: str
    run_id: str | None
    digest: str
    verified: bool
    metrics: dict[str, float] = field(default_factory=dict)


def _refuse(folder: Path, why: str) -> ModelIntegrityError:
    return ModelIntegrityError(
        f"{folder}: {why}; the model is not loaded (its code would run). Export it again with "
        "clvml export, or pass --trust-model if you vouch for this folder"
    )


def _check(folder: Path, provenance: dict[str, Any], actual: dict[str, str]) -> None:
    recorded = provenance.get(DIGESTS_KEY)
    if not isinstance(recorded, dict) or not recorded:
        raise _refuse(folder, f"no artifact digests in {PROVENANCE_FILE}")
    if provenance.get(MANIFEST_KEY) != manifest_digest(recorded):
        raise _refuse(folder, f"the digest list in {PROVENANCE_FILE} was changed")
    changed = sorted(p for p in recorded.keys() & actual.keys() if recorded[p] != actual[p])
    missing = sorted(recorded.keys() - actual.keys())
    added = sorted(actual.keys() - recorded.keys())
    problems = [
        *(f"{p} changed" for p in changed),
        *(f"{p} missing" for p in missing),
        *(f"{p} added" for p in added),
    ]
    if problems:
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        raise _refuse(
            folder, f"its files do not match the digests recorded at export ({problems[0]}{more})"
        )


def verify_folder(folder: str | os.PathLike[str], *, trust: bool = False) -> FolderIdentity:
    """Check a model folder against its recorded digests, reading bytes only.

    Parameters
    ----------
    folder : path
        The model folder (``MLmodel``, ``_model_code.py``, ``artifacts/`` ...).
    trust : bool, default False
        Return an unverified identity instead of raising (``--trust-model``).

    Returns
    -------
    FolderIdentity
        Verified: the registered name and ``<version>+sha256-<12 hex>`` from
        ``export.json`` (``sha256-<12 hex>`` when it names no version), the folder
        name otherwise. Unverified (``trust=True`` and a mismatch): the folder name and
        ``unverified-sha256-<12 hex>`` of the files as they are.

    Raises
    ------
    ModelIntegrityError
        The files do not match the record, or there is no record (one line).
    """
    root = Path(folder)
    actual = folder_digests(root)
    digest = manifest_digest(actual)[:12]
    provenance: dict[str, Any] = {}
    target = root / PROVENANCE_FILE
    try:
        if target.is_file():
            loaded = json.loads(target.read_text())
            provenance = loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError):
        provenance = {}
    try:
        _check(root, provenance, actual)
    except ModelIntegrityError:
        if not trust:
            raise
        return FolderIdentity(root.name, f"unverified-sha256-{digest}", None, digest, False)
    name, version = provenance.get("registered_name"), provenance.get("version")
    metrics = {
        str(k): float(v)
        for k, v in (provenance.get("metrics") or {}).items()
        if isinstance(v, int | float)
    }
    if name and version:
        return FolderIdentity(
            str(name), f"{version}+sha256-{digest}", provenance.get("run_id"), digest, True, metrics
        )
    return FolderIdentity(root.name, f"sha256-{digest}", None, digest, True, metrics)
