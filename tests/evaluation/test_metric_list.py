"""One list of holdout metric names, owned by clvml.evaluation.metrics."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from clvml.evaluation.classification import churn_metrics
from clvml.evaluation.comparison import TABLE_COLUMNS
from clvml.evaluation.metrics import HOLDOUT_METRICS, value_metrics
from clvml.pipelines.config import GATE_METRICS
from clvml.reporting import report


def test_every_user_of_the_list_takes_it_from_evaluation() -> None:
    names = tuple(HOLDOUT_METRICS)
    assert ("method", *names, "predicted_total", "realised_total", "oracle_share") == TABLE_COLUMNS
    assert names == report._METRICS
    assert set(names) >= report._SHARE_METRICS
    assert GATE_METRICS == HOLDOUT_METRICS


def test_the_names_are_what_the_metric_functions_return() -> None:
    rng = np.random.default_rng(0)
    t, p = rng.gamma(2.0, size=200), rng.gamma(2.0, size=200)
    churned = rng.random(200) < 0.4
    produced = set(value_metrics(t, p)) | set(churn_metrics(churned, rng.random(200)))
    assert set(HOLDOUT_METRICS) <= produced


def test_no_other_module_spells_the_list_out() -> None:
    root = Path(__file__).resolve().parents[2] / "clvml"
    quoted = [re.compile(rf"[\"']{name}[\"']\s*:?\s*(True|False)?\s*,") for name in HOLDOUT_METRICS]
    spelled = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if all(q.search(path.read_text()) for q in quoted)
    ]
    assert spelled == ["evaluation/metrics.py"]
