"""The CRM sink: write per-customer scores into a CRM database atomically and idempotently.

:class:`CRMSink` (:mod:`clvml.scoring.crm`) with its schema, staging, lock and row
validation. The scoring workflow that reads the data, loads the model and calls the sink
is :func:`clvml.pipelines.score.score_customers`; ``clvml.scoring.score_customers`` and
``ScoreJobResult`` still resolve to it (lazily, on first use) for code written against
earlier versions.
"""

from __future__ import annotations

import importlib
from typing import Any

from clvml.scoring.crm import CRMSink

__all__ = ["CRMSink", "ScoreJobResult", "score_customers"]

_COMPAT = {"ScoreJobResult": "clvml.pipelines.score", "score_customers": "clvml.pipelines.score"}


def __getattr__(name: str) -> Any:
    if name in _COMPAT:
        return getattr(importlib.import_module(_COMPAT[name]), name)
    raise AttributeError(f"module 'clvml.scoring' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
