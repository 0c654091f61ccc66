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

from clvml.data.secrets import mask_url
from clvml.exceptions import ClvmlError

__all__ = [
    "TrackingConfig",
    "TrackingError",
    "configure_mlflow",
    "point_mlflow_at",
    "redact_uri",
    "resolve_tracking",
]

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# MLflow's HTTP defaults retry an unreachable server for minutes (272 s measured): a
# few quick retries instead (each still overridable in the environment).
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")

#: Seconds the first request to a tracking server may take before clvml gives up.
PROBE_TIMEOUT = 5.0


class TrackingError(ClvmlError, ValueError):
    """The tracking store cannot be used: a path under a file, a server that does not answer."""


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
    """Return ``uri`` with its password and secret query values replaced by ``***``.

    The masking itself is :func:`clvml.data.secrets.mask_url` (one rule for output,
    errors, logs, MLflow and the run table). Safe for logs and MLflow parameters.

    Examples
    --------
    >>> redact_uri("postgresql+psycopg://app:s3cr/et@db:5432/shop?sslmode=require")
    'postgresql+psycopg://app:***@db:5432/shop?sslmode=require'
    >>> redact_uri("https://host/api?token=abc&x=1")
    'https://host/api?token=***&x=1'
    """
    return mask_url(uri)


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


def point_mlflow_at(tracking_uri: str) -> None:
    """Set MLflow's tracking and registry URIs without touching ``MLFLOW_TRACKING_URI``.

    ``mlflow.set_tracking_uri`` also writes the URI into the process environment,
    where :func:`resolve_tracking` would later mistake it for the user's choice: a
    notebook that trains into one folder and then another would keep writing to
    the first store. The environment is restored to what the user had.
    """
    import mlflow

    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


def configure_mlflow(
    uri: str | None = None, experiment: str = "clvml", workdir: str | os.PathLike[str] | None = None
) -> TrackingConfig:
    """Point MLflow at the resolved store and select (or create) ``experiment``.

    The registry URI is set to the tracking URI, so registered models live in
    the same embedded database. A store that cannot be used -- a path under a
    file (``/dev/null/x``), a server that does not answer within
    :data:`PROBE_TIMEOUT` seconds -- is a :class:`TrackingError` naming the URI
    (password masked), raised before any work.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    shown = mask_url(uri) if uri else "the default store"
    try:
        cfg = resolve_tracking(uri, workdir)
        if cfg.tracking_uri.startswith("sqlite:///"):
            Path(cfg.tracking_uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        elif cfg.tracking_uri.startswith(("http://", "https://")):
            _probe(cfg.tracking_uri)
        point_mlflow_at(cfg.tracking_uri)
        if mlflow.get_experiment_by_name(experiment) is None:
            mlflow.create_experiment(experiment, artifact_location=cfg.artifact_location)
        mlflow.set_experiment(experiment)
    except TrackingError:
        raise
    except (OSError, MlflowException) as exc:
        lines = str(exc).strip().splitlines()
        line = f"{type(exc).__name__}: {lines[0] if lines else 'no details'}"[:300]
        raise TrackingError(f"tracking store {shown} cannot be used: {mask_url(line)}") from exc
    return cfg


def _probe(tracking_uri: str) -> None:
    """One quick request to a tracking server: it answers, or a one-line error at once."""
    import requests

    url = tracking_uri.rstrip("/") + "/health"
    try:
        requests.get(url, timeout=PROBE_TIMEOUT)  # any HTTP answer means a server is there
    except requests.RequestException as exc:
        raise TrackingError(
            f"tracking server {mask_url(tracking_uri)} does not answer within "
            f"{PROBE_TIMEOUT:g} s ({type(exc).__name__}); start it or check the URI"
        ) from exc
