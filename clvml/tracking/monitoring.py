"""MLflow side of ``clvml monitor``: a monitoring run linked to the served model.

Each monitoring job is one run in the experiment ``clvml-monitoring``. It is linked to
what it judged by tags: ``clvml.monitored_model`` (registered name), ``.._version``,
``.._run_id`` (the training run that logged the model). Its metrics are the numbers of
the latest scoring run judged (``accuracy.overall.normalized_gini``, ...) and the drift
(``drift.max_psi``, ``drift.psi.<feature>``), plus ``degraded`` (1/0); the whole
``model_monitoring`` rows are an artifact ``monitoring.csv`` (aggregates only: no
customer id, no text). When the champion is degraded and it is a registry version, the
version gets the tags ``clvml.degraded = true`` and ``clvml.degraded_reason``; a later
healthy check sets ``clvml.degraded = false``.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["MONITORING_EXPERIMENT", "log_monitoring_run"]

MONITORING_EXPERIMENT = "clvml-monitoring"
_METRIC_KEY = re.compile(r"[^A-Za-z0-9_.\-/ ]")


def _key(name: str) -> str:
    return _METRIC_KEY.sub("_", name)[:250]


def log_monitoring_run(
    *,
    model_name: str,
    model_version: str,
    model_run_id: str | None,
    metrics: Mapping[str, float],
    params: Mapping[str, Any],
    rows: pd.DataFrame,
    degraded: bool,
    reasons: Sequence[str],
    tracking_uri: str | None = None,
    workdir: str | os.PathLike[str] | None = None,
) -> str:
    """Log one monitoring run; tag the registry version when it is degraded. Returns its id.

    Raises
    ------
    clvml.tracking.store.TrackingError
        The tracking store cannot be used.
    """
    import math

    import mlflow

    from clvml.tracking.store import configure_mlflow

    configure_mlflow(tracking_uri, MONITORING_EXPERIMENT, workdir)
    tags = {
        "clvml.kind": "monitoring",
        "clvml.monitored_model": model_name,
        "clvml.monitored_model_version": model_version,
        "clvml.degraded": "true" if degraded else "false",
    }
    if model_run_id:
        tags["clvml.monitored_model_run_id"] = model_run_id
    if reasons:
        tags["clvml.degraded_reason"] = "; ".join(reasons)[:4000]
    with mlflow.start_run(run_name=f"monitor {model_name} v{model_version}", tags=tags) as run:
        mlflow.log_params({_key(k): str(v)[:500] for k, v in params.items()})
        finite = {
            _key(k): float(v)
            for k, v in metrics.items()
            if v is not None and math.isfinite(float(v))
        }
        finite["degraded"] = 1.0 if degraded else 0.0
        mlflow.log_metrics(finite)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "monitoring.csv"
            rows.to_csv(path, index=False)
            mlflow.log_artifact(str(path))
        run_id = str(run.info.run_id)
    if model_version.isdigit():
        client = mlflow.MlflowClient()
        try:
            client.set_model_version_tag(
                model_name, model_version, "clvml.degraded", "true" if degraded else "false"
            )
            client.set_model_version_tag(
                model_name,
                model_version,
                "clvml.degraded_reason",
                "; ".join(reasons)[:4000] if degraded else "",
            )
            client.set_model_version_tag(
                model_name, model_version, "clvml.last_monitoring_run", run_id
            )
        except mlflow.exceptions.MlflowException:
            pass  # a version of another registry (a copied folder): the run still records it
    return run_id
