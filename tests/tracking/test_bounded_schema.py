"""The schema of a logged data set: MLflow's, without a Python pass over every value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.types.utils import _infer_schema

from clvml.tracking.runlog import SCHEMA_SAMPLE_ROWS, bounded_schema


def _frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    amount = rng.gamma(2.0, 10.0, n)
    amount[n - 1] = np.nan  # a missing value after the sample: not required
    text = np.array(["great", "bad", "ok"], dtype=object)[rng.integers(0, 3, n)]
    text[n - 2] = None
    return pd.DataFrame(
        {
            "customer_id": pd.Series([f"C{i:06d}" for i in range(n)], dtype="str"),
            "count": rng.integers(0, 9, n),
            "amount": amount,
            "flag": rng.random(n) < 0.5,
            "text": text,
            "timestamp": pd.date_range("2024-01-01", periods=n, freq="min"),
        }
    )


@pytest.mark.filterwarnings("ignore:Hint. Inferred schema contains integer")
def test_the_same_schema_as_mlflows_full_inference() -> None:
    frame = _frame(5 * SCHEMA_SAMPLE_ROWS)
    assert bounded_schema(frame) == _infer_schema(frame)
    required = {c.name: c.required for c in bounded_schema(frame).inputs}
    assert required == {
        "customer_id": True, "count": True, "amount": False, "flag": True, "text": False,
        "timestamp": True,
    }  # fmt: skip


def test_types_are_read_from_a_bounded_sample(monkeypatch) -> None:
    import mlflow.types.utils as mlflow_utils

    seen: list[int] = []
    infer = mlflow_utils._infer_pandas_column

    def counting(column: pd.Series):  # type: ignore[no-untyped-def]
        seen.append(len(column))
        return infer(column)

    monkeypatch.setattr(mlflow_utils, "_infer_pandas_column", counting)
    frame = _frame(20 * SCHEMA_SAMPLE_ROWS)
    bounded_schema(frame)
    assert len(seen) == frame.shape[1] and max(seen) <= SCHEMA_SAMPLE_ROWS
