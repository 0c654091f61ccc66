"""The logged model's value_tier/segment come from the stored segment scheme."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvml.segments import SegmentScheme
from clvml.tracking.pyfunc import CLVPyfuncModel, served_frame


class _Estimator:
    """A stand-in CLV model: predictions from the features, with or without segment columns."""

    def __init__(self, with_segments: bool) -> None:
        self.with_segments = with_segments
        self.feature_columns_ = ["x"]

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        x = features["x"].to_numpy(dtype=float)
        out = pd.DataFrame(
            {
                "clv": x,
                "churn_probability": (x % 10) / 10,
                "engagement_value": 0.0,
            },
            index=features.index,
        )
        if self.with_segments:  # what CLVModel.predict wrote itself (stale on purpose)
            out["value_tier"] = "rest"
            out["segment"] = "Automate"
        out["clv_btyd"] = x
        return out


def _input(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"customer_id": [f"k{i}" for i in range(n)], "x": rng.integers(0, 1000, n).astype(float)}
    )


@pytest.mark.parametrize("with_segments", [True, False])
def test_scheme_columns_replace_or_join_the_estimator_output(with_segments):
    train = _input(400)
    scheme = SegmentScheme().fit(
        train.assign(clv=train["x"], churn_probability=0.5).drop(columns="x")
    )
    x = _input(250, seed=1)
    out = served_frame(_Estimator(with_segments), scheme, x)
    cols = ["customer_id", "clv", "churn_probability", "engagement_value", "value_tier"]
    assert out.columns.tolist() == [*cols, "segment", "clv_btyd"]
    expected = scheme.assign(out[["customer_id", "clv", "churn_probability"]])
    assert out["value_tier"].tolist() == expected["value_tier"].astype(str).tolist()
    assert out["segment"].tolist() == expected["segment"].astype(str).tolist()
    assert out["value_tier"].nunique() == 4
    # chunks of any size: the same labels
    parts = pd.concat([served_frame(_Estimator(with_segments), scheme, x.iloc[i : i + 7])
                       for i in range(0, len(x), 7)], ignore_index=True)  # fmt: skip
    pd.testing.assert_frame_equal(parts, out)


def test_a_model_without_a_stored_scheme_keeps_its_own_columns():
    x = _input(20)
    out = served_frame(_Estimator(True), None, x)
    assert (out["value_tier"] == "rest").all() and (out["segment"] == "Automate").all()
    assert "value_tier" not in served_frame(_Estimator(False), None, x).columns
    # a wrapper loaded from an artifact folder without segment_scheme.json (an old model)
    wrapper = CLVPyfuncModel()
    wrapper.model_ = _Estimator(True)
    wrapper.scheme_ = None
    pd.testing.assert_frame_equal(wrapper.predict(None, x), out)


def test_load_context_reads_both_artifacts(tmp_path):
    import json
    import pickle

    train = _input(300)
    scheme = SegmentScheme().fit(train.rename(columns={"x": "clv"}))
    with open(tmp_path / "m.pkl", "wb") as fh:
        pickle.dump(_Estimator(True), fh)
    (tmp_path / "s.json").write_text(json.dumps(scheme.to_dict()))
    context = type("Ctx", (), {})()
    context.artifacts = {"clv_model": str(tmp_path / "m.pkl")}
    old = CLVPyfuncModel()
    old.load_context(context)
    assert old.scheme_ is None
    context.artifacts["segment_scheme"] = str(tmp_path / "s.json")
    new = CLVPyfuncModel()
    new.load_context(context)
    np.testing.assert_array_equal(new.scheme_.tier_thresholds_, scheme.tier_thresholds_)
    x = _input(50, seed=3)
    assert new.predict(None, x)["segment"].tolist() != old.predict(None, x)["segment"].tolist()
