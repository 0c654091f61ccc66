"""The train pipeline runs its data steps on an engine (:mod:`clvml.pipelines.engine`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from clvml.pipelines.engine import EngineRun, LocalEngine, TrainEngine
from clvml.pipelines.train import train


class RecordingEngine(LocalEngine):
    """The local engine, recording which of its steps the pipeline called, in order."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def read_tables(self, cfg, steps):
        self.calls.append("read_tables")
        return super().read_tables(cfg, steps)

    def validate(self, tables, cfg, steps):
        self.calls.append("validate")
        return super().validate(tables, cfg, steps)

    def last_purchase(self, tables):
        self.calls.append("last_purchase")
        return super().last_purchase(tables)

    def customer_frame(self, tables, cfg, steps):
        self.calls.append("customer_frame")
        return super().customer_frame(tables, cfg, steps)

    def fit_btyd(self, tables, cfg, cutoff, steps):
        self.calls.append("fit_btyd")
        self.cutoff = cutoff
        return super().fit_btyd(tables, cfg, cutoff, steps)

    def finish(self, tables: dict[str, Any], frames, origins) -> EngineRun:
        self.calls.append("finish")
        run = super().finish(tables, frames, origins)
        run.params["engine"] = self.name
        run.metrics["data.recorded_customers"] = frames["transactions"]["customer_id"].nunique()
        return run


def test_both_engines_satisfy_the_protocol():
    from clvml.spark.train import SparkEngine

    assert isinstance(LocalEngine(), TrainEngine)
    assert isinstance(SparkEngine(spark=None), TrainEngine)


def test_the_pipeline_runs_its_data_steps_on_the_engine_and_logs_what_it_reports(
    small_social, tmp_path
):
    import mlflow

    config = tmp_path / "btyd.toml"
    config.write_text('[model]\nmethods = ["btyd"]\n[tracking]\nregister = false\n')
    engine = RecordingEngine()
    result = train(config, data=str(small_social), workdir=tmp_path, engine=engine)
    assert engine.calls == [
        "read_tables",
        "validate",
        "last_purchase",
        "customer_frame",
        "fit_btyd",
        "finish",
    ]
    assert str(engine.cutoff.date()) == result.calibration_end
    data = mlflow.MlflowClient(result.tracking_uri).get_run(result.run_id).data
    assert data.params["engine"] == "recording"
    assert data.metrics["data.recorded_customers"] == 1000
    assert pd.Timestamp(result.holdout_end) > pd.Timestamp(result.calibration_end)
