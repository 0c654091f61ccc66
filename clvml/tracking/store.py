"""Where MLflow keeps runs and models: an embedded store by default, a server on request.

With no URI given, clvml uses an embedded SQLite store (``mlruns.db``) and an
artifacts folder (``mlartifacts``) in the working directory, both as absolute
paths, so no server has to be started. ``MLFLOW_TRACKING_URI`` or an explicit
URI points it at a tracking server or another database instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TrackingConfig", "configure_mlflow", "redact_uri", "resolve_tracking"]

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

DEFAULT_DB = "mlruns.db"
DEFAULT_ARTIFACTS = "mlartifacts"


@dataclass(frozen=True)
class TrackingConfig:
    """Resolved tracking settings.

    Attributes
    ----------
    tracking_uri : str
        Absolute tracking URI (``sqlite:////abs/path/mlruns.db``, ``http://...``).
    artifact_location : str or None
        Where new experiments store artifacts (embedded store only).
    """

    tracking_uri: str
    artifact_location: str | None


def redact_uri(uri: str) -> str:
    """Return ``uri`` with any password replaced by ``***`` (safe for logs)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if "://" not in uri:
        return uri
    scheme, rest = uri.split("://", 1)
    if "@" in rest.split("/", 1)[0]:
        try:
            return make_url(uri).render_as_string(hide_password=True)
        except ArgumentError:
            creds, host = rest.split("@", 1)
            user = creds.split(":", 1)[0]
            return f"{scheme}://{user}:***@{host}"
    return uri


def resolve_tracking(
    uri: str | None = None, workdir: str | os.PathLike[str] | None = None
) -> TrackingConfig:
    """Resolve the tracking URI: explicit ``uri``, else ``MLFLOW_TRACKING_URI``, else embedded.

    Parameters
    ----------
    uri : str, optional
        Tracking URI given by the user (flag or config).
    workdir : path-like, optional
        Folder of the embedded store; the current directory by default.

    Returns
    -------
    TrackingConfig

    Examples
    --------
    >>> resolve_tracking("sqlite:///runs.db", workdir="/tmp/x").tracking_uri
    'sqlite:////tmp/x/runs.db'
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or None
    base = Path(workdir or os.getcwd()).resolve()
    if uri is None:
        base.mkdir(parents=True, exist_ok=True)
        return TrackingConfig(
            tracking_uri=f"sqlite:///{base / DEFAULT_DB}",
            artifact_location=(base / DEFAULT_ARTIFACTS).as_uri(),
        )
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        # relative SQLite path: make it absolute so runs do not depend on the cwd
        path = (base / uri[len("sqlite:///") :]).resolve()
        return TrackingConfig(f"sqlite:///{path}", (path.parent / DEFAULT_ARTIFACTS).as_uri())
    if "://" not in uri:  # a bare folder or file path
        path = (base / uri).resolve()
        if path.suffix == ".db":
            return TrackingConfig(f"sqlite:///{path}", (path.parent / DEFAULT_ARTIFACTS).as_uri())
        path.mkdir(parents=True, exist_ok=True)
        return TrackingConfig(f"sqlite:///{path / DEFAULT_DB}", (path / DEFAULT_ARTIFACTS).as_uri())
    if uri.startswith("sqlite:////"):
        path = Path(uri[len("sqlite:///") :])
        return TrackingConfig(uri, (path.parent / DEFAULT_ARTIFACTS).as_uri())
    return TrackingConfig(uri, None)


def configure_mlflow(
    uri: str | None = None, experiment: str = "clvml", workdir: str | os.PathLike[str] | None = None
) -> TrackingConfig:
    """Point MLflow at the resolved store and select (or create) ``experiment``.

    The registry URI is set to the tracking URI, so registered models live in
    the same embedded database.
    """
    import mlflow

    cfg = resolve_tracking(uri, workdir)
    mlflow.set_tracking_uri(cfg.tracking_uri)
    mlflow.set_registry_uri(cfg.tracking_uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        mlflow.create_experiment(experiment, artifact_location=cfg.artifact_location)
    mlflow.set_experiment(experiment)
    return cfg
