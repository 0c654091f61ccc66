"""The exported champion committed in models/clvml loads and scores without a tracking store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

MODEL = Path(__file__).resolve().parents[2] / "models" / "clvml"


@pytest.mark.skipif(not (MODEL / "MLmodel").is_file(), reason="no exported model in models/")
def test_exported_model_scores_its_input_example(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'unrelated.db'}")
    provenance = json.loads((MODEL / "export.json").read_text())
    assert provenance["registered_name"] == "clvml" and provenance["version"]
    model = mlflow.pyfunc.load_model(str(MODEL))
    example = model.input_example
    assert example["customer_id"].str.startswith("example-").all()  # no real ids shipped
    out = model.predict(example)
    assert out["customer_id"].tolist() == example["customer_id"].tolist()
    assert np.isfinite(out["clv"]).all() and (out["clv"] >= 0).all()
    assert out["p_active"].between(0, 1).all() and out["churn_probability"].between(0, 1).all()
    assert (out["clv_lower"] <= out["clv"]).all() and (out["clv"] <= out["clv_upper"]).all()
    # a regenerated export must be regenerated whole: README and provenance agree
    readme = (MODEL.parent / "README.md").read_text()
    gini = provenance["metrics"]["holdout.normalized_gini"]
    assert f"{gini:.3f}" in readme
