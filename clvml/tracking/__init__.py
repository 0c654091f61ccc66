"""Training tracked in MLflow: config, pipeline, pyfunc model, champion/challenger gate, export.

* :func:`train` (:mod:`clvml.tracking.pipeline`): data → validation → features →
  models → evaluation, logged to MLflow, registered, gated.
* :func:`load_config` (:mod:`clvml.tracking.config`): the TOML training config.
* :func:`promote_if_better` (:mod:`clvml.tracking.registry`): the gate.
* :func:`export_model` (:mod:`clvml.tracking.export`): the champion to ``models/``.
* :func:`configure_mlflow`, :func:`resolve_tracking` (:mod:`clvml.tracking.store`):
  the embedded SQLite store by default.

Names are imported on first use, so ``import clvml.tracking`` does not import MLflow.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# MLflow phones home unless told not to; offline deployments must not try.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

__all__ = [
    "ConfigError",
    "ExportResult",
    "GateDecision",
    "TrainConfig",
    "TrainResult",
    "configure_mlflow",
    "export_model",
    "load_config",
    "promote_if_better",
    "resolve_tracking",
    "train",
]

_WHERE = {
    "ConfigError": "config",
    "TrainConfig": "config",
    "load_config": "config",
    "ExportResult": "export",
    "export_model": "export",
    "GateDecision": "registry",
    "promote_if_better": "registry",
    "TrainResult": "pipeline",
    "train": "pipeline",
    "configure_mlflow": "store",
    "resolve_tracking": "store",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"clvml.tracking.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'clvml.tracking' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
