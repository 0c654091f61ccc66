"""Schema version 2 -> 3 (issue #14 point 7): ``p_alive`` becomes ``p_alive_btyd``, values kept."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from clvml.scoring.crm import CRMSink
from clvml.scoring.schema import SCHEMA_VERSION
from clvml.scoring.validation import legacy_activity_columns, split_scores


def test_version_2_score_table_keeps_its_values_under_the_new_name(tmp_path):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for stmt in (
            "CREATE TABLE customer_scores (customer_id TEXT PRIMARY KEY, clv FLOAT NOT NULL,"
            " clv_lower FLOAT, clv_upper FLOAT, p_alive FLOAT, churn_probability FLOAT,"
            " expected_purchases FLOAT, expected_avg_spend FLOAT, segment TEXT,"
            " value_tier TEXT, model_name TEXT NOT NULL, model_version TEXT NOT NULL,"
            " scored_at TIMESTAMP NOT NULL, run_id TEXT NOT NULL)",
            "CREATE TABLE clvml_schema_version (table_name TEXT PRIMARY KEY,"
            " version INTEGER NOT NULL, migrated_at TIMESTAMP NOT NULL)",
            "INSERT INTO clvml_schema_version VALUES ('customer_scores', 2, '2026-01-01')",
            "INSERT INTO customer_scores VALUES ('old', 5.0, NULL, NULL, 1.0, 0.62, 0.4, 12.0,"
            " NULL, NULL, 'm', '1', '2026-01-01', 'r0')",
        ):
            conn.exec_driver_sql(stmt)
    engine.dispose()
    with CRMSink(url) as sink:
        added = sink.migrate()
        assert "p_active" in added["customer_scores"]
        assert "p_alive_btyd" not in added["customer_scores"]  # renamed, not added
        old = sink.read_scores().set_index("customer_id").loc["old"]
        assert old["p_alive_btyd"] == 1.0 and old["churn_probability"] == 0.62
        assert pd.isna(old["p_active"])  # until the next run scores the customer
        assert "p_alive" not in sink.read_scores().columns
        # a model exported before version 3 returns p_alive and no p_active
        legacy = pd.DataFrame(
            {"customer_id": ["old"], "clv": [6.0], "p_alive": [1.0], "churn_probability": [0.6]}
        )
        sink.write(legacy, model_name="m", model_version="1")
        new = sink.read_scores().set_index("customer_id").loc["old"]
        with sink.connect() as conn:
            version = conn.exec_driver_sql("SELECT version FROM clvml_schema_version").scalar()
    assert version == SCHEMA_VERSION == 3
    assert new["p_alive_btyd"] == 1.0 and abs(new["p_active"] - 0.4) < 1e-15


def test_legacy_columns_are_mapped_and_new_frames_left_as_they_are():
    new = pd.DataFrame({"customer_id": ["a"], "clv": [1.0], "p_active": [0.3]})
    assert legacy_activity_columns(new) is new
    s = split_scores(pd.DataFrame({"customer_id": ["a"], "clv": [1.0], "p_alive": [1.5]}))
    assert s.quarantined["reason"].tolist() == ["p_alive_btyd is outside [0, 1]"]
