"""The application layer: the workflows that wire data, features, models and the adapters.

A pipeline is what a command of the CLI runs; it is the only layer that imports across
:mod:`clvml.data`, :mod:`clvml.features`, :mod:`clvml.models`, :mod:`clvml.evaluation`,
:mod:`clvml.segments` and the adapters :mod:`clvml.tracking` (MLflow) and
:mod:`clvml.scoring` (the CRM sink). The adapters only adapt: they import the layers
below them, never a pipeline (the one exception is the lazy compatibility names of
:mod:`clvml.tracking`, documented there). The CLI and the Spark engine call pipelines.

* :mod:`clvml.pipelines.config` -- the TOML training configuration (:func:`load_config`);
* :mod:`clvml.pipelines.train` -- ``clvml train``: data → validation → features → method
  comparison → served model → holdout evaluation, logged to MLflow, registered, gated
  (:func:`train`);
* :mod:`clvml.pipelines.engine` -- where the data-heavy training steps run: the
  :class:`~clvml.pipelines.engine.TrainEngine` protocol (read tables, validate, last
  purchase, customer frame, fit BTYD, finish), the pandas
  :class:`~clvml.pipelines.engine.LocalEngine`; the Spark one is
  :class:`clvml.spark.train.SparkEngine`;
* :mod:`clvml.pipelines.evaluate` -- the served model's holdout metrics and the gate's value;
* :mod:`clvml.pipelines.score` -- ``clvml score``: data → validation → customer frame →
  pyfunc model → CRM sink, with quarantine (:func:`~clvml.pipelines.score.score_customers`);
* :mod:`clvml.pipelines.report` -- ``clvml report``: the scores, data and holdout metrics
  the renderer :mod:`clvml.reporting` is handed
  (:func:`~clvml.pipelines.report.load_report_inputs`).

Names are imported on first use, so ``import clvml.pipelines`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ConfigError", "TrainConfig", "TrainResult", "load_config", "train"]

_WHERE = {
    "ConfigError": "config",
    "TrainConfig": "config",
    "load_config": "config",
    "TrainResult": "train",
    "train": "train",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"clvml.pipelines.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'clvml.pipelines' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
