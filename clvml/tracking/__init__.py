"""The MLflow adapter: store, pyfunc model, registry and champion/challenger gate, run log, export.

* :func:`promote_if_better` (:mod:`clvml.tracking.registry`): the gate.
* :func:`export_model` (:mod:`clvml.tracking.export`): the champion to ``models/``.
* :func:`configure_mlflow`, :func:`resolve_tracking` (:mod:`clvml.tracking.store`):
  the embedded SQLite store by default.

Names are imported on first use, so ``import clvml.tracking`` does not import MLflow.

The training workflow lives in the application layer: :func:`clvml.pipelines.train.train`
and :func:`clvml.pipelines.config.load_config`. ``clvml.tracking.train``,
``load_config``, ``TrainConfig``, ``TrainResult`` and ``ConfigError`` still resolve to
them for code written against earlier versions (the only import from this package up
into :mod:`clvml.pipelines`, done lazily, on first use).
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
    "ConfigError": "clvml.pipelines.config",
    "TrainConfig": "clvml.pipelines.config",
    "load_config": "clvml.pipelines.config",
    "TrainResult": "clvml.pipelines.train",
    "train": "clvml.pipelines.train",
    "ExportResult": "export",
    "export_model": "export",
    "GateDecision": "registry",
    "promote_if_better": "registry",
    "configure_mlflow": "store",
    "resolve_tracking": "store",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        where = _WHERE[name]
        module = where if where.startswith("clvml.") else f"clvml.tracking.{where}"
        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'clvml.tracking' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
