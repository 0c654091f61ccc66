"""The scoring job's fast path writes the same rows as the full pyfunc path.

``score_customers(fast=True)`` (the default) scores a clvml model with its scoring steps
only (the champion, BG/NBD and their needs: :meth:`CLVModel.predict_scores`) and, when
those steps read the RFM columns alone, skips the engagement features;
``fast=False`` runs every fitted method through the MLflow pyfunc model on the full
feature frame. Parity: for a BG/NBD champion (engagement features skipped) and a hybrid
champion (engagement read), with consent flags and an interval, both paths write the same
score rows, history and alerts, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from threadpoolctl import threadpool_limits

from clvml.features.dataset import customer_features, holdout_targets
from clvml.pipelines.score import score_customers
from clvml.pipelines.score_predict import needs_engagement
from clvml.scoring.crm import CRMSink
from clvml.scoring.schema import SCORE_COLUMNS
from clvml.tracking.scoring_model import load_scoring_model

N_CUSTOMERS = 600
CUTOFF = "2025-06-30"
EARLIER = "2024-07-01"
AS_OF = "2025-12-31"
_TEXT = [c for c, t in SCORE_COLUMNS.items() if c != "customer_id" and t.python_type is str]
_NUMBERS = [c for c in SCORE_COLUMNS if c != "customer_id" and c not in _TEXT]


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    with threadpool_limits(1, user_api="openmp"):
        yield


def _save_model(model, features: pd.DataFrame, path: Path) -> Path:
    import mlflow

    from clvml.segments import SegmentScheme
    from clvml.tracking.integrity import write_manifest
    from clvml.tracking.pyfunc import (
        ARTIFACT_KEY,
        MODEL_CODE,
        SCHEME_KEY,
        input_example,
        model_signature,
    )

    pkl = path.parent / f"{path.name}.pkl"
    pkl.write_bytes(pickle.dumps(model, protocol=5))
    scheme = SegmentScheme().fit(model.predict(features))
    js = path.parent / f"{path.name}_{SCHEME_KEY}.json"
    js.write_text(json.dumps(scheme.to_dict()))
    mlflow.pyfunc.save_model(
        str(path),
        python_model=str(MODEL_CODE),
        artifacts={ARTIFACT_KEY: str(pkl), SCHEME_KEY: str(js)},
        signature=model_signature(model, features, scheme),
        input_example=input_example(model, features),
        pip_requirements=["clvml"],
    )
    write_manifest(path)
    return path


class _Models(dict):
    """champion -> model folder, fitted on first use (btyd, btyd_covariates and hybrid)."""

    def __init__(self, root: Path, fit_data: tuple[pd.DataFrame, ...]) -> None:
        super().__init__()
        self.root, self.fit_data = root, fit_data

    def __missing__(self, champion: str) -> Path:
        from clvml.models.composite import CLVModel

        X, L, labels = self.fit_data
        model = CLVModel(
            horizon_weeks=52,
            methods=("btyd", "btyd_covariates", "hybrid"),
            champion=champion,
            interval=0.9 if champion == "btyd" else None,
            max_iter=30,
        ).fit(X, L, labels, training_window={"cutoff": CUTOFF})
        assert model.champion_ == champion
        self[champion] = _save_model(model, X, self.root / f"model_{champion}")
        return self[champion]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    """(data folder, {champion: model folder}), the models fitted when first asked for."""
    from clvml.data.synthetic import load_social_commerce
    from clvml.data.validation import (
        validate_customers,
        validate_engagement,
        validate_transactions,
    )

    data = load_social_commerce()
    ids = set(data.customers["customer_id"].iloc[:N_CUSTOMERS])
    frames = {
        name: getattr(data, name).loc[lambda f: f["customer_id"].isin(ids)].reset_index(drop=True)
        for name in ("transactions", "engagement", "customers")
    }
    cust = frames["customers"]
    k = np.arange(len(cust))
    cust["consent_profiling"] = k % 5 != 0  # a fifth refused profiling
    cust["consent_marketing"] = k % 3 != 1
    root = tmp_path_factory.mktemp("fastpath")
    folder = root / "data"
    folder.mkdir()
    for name, frame in frames.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    tx = validate_transactions(frames["transactions"])
    eng = validate_engagement(frames["engagement"])
    cu = validate_customers(cust)
    X = customer_features(tx, eng, cu, cutoff=CUTOFF)
    L = customer_features(tx, eng, cu, cutoff=EARLIER)
    labels = holdout_targets(tx, L.index, start=EARLIER, end=CUTOFF)
    return folder, _Models(root, (X, L, labels))


def _run(folder: Path, model: Path, url: str, table: str, fast: bool, tmp: Path):
    res = score_customers(str(model), folder, url, table=table, as_of=AS_OF, workdir=tmp, fast=fast)
    sink = CRMSink(url, table=table)
    try:
        scores = sink.read_scores().set_index("customer_id").sort_index()
        history = sink.read_history().set_index("customer_id").sort_index()
    finally:
        sink.close()
    return res, scores, history


def _same(a: pd.DataFrame, b: pd.DataFrame, numbers: list[str], text: list[str]) -> None:
    assert list(a.index) == list(b.index)
    for c in numbers:
        assert_allclose(
            a[c].to_numpy(dtype=float), b[c].to_numpy(dtype=float), rtol=1e-12, err_msg=c
        )
    for c in text:
        assert a[c].fillna("<null>").tolist() == b[c].fillna("<null>").tolist(), c


def _parity(world, url: str, tmp_path: Path, champion: str) -> None:
    folder, models = world
    model = models[champion]
    fast = _run(folder, model, url, "scores_fast", True, tmp_path)
    full = _run(folder, model, url, "scores_full", False, tmp_path)
    res_fast, scores_fast, hist_fast = fast
    res_full, scores_full, hist_full = full
    assert res_fast.run is not None and res_full.run is not None
    assert res_fast.run.rows_written == res_full.run.rows_written == len(scores_full) > 500
    assert res_fast.run.rows_quarantined == res_full.run.rows_quarantined
    assert res_fast.transactions_only == res_full.transactions_only > 0
    assert res_fast.alerts is not None and res_full.alerts is not None
    assert res_fast.alerts.by_rule == res_full.alerts.by_rule
    _same(scores_fast, scores_full, _NUMBERS, _TEXT)
    if champion == "btyd":  # the champion's interval (not for transaction-only customers)
        assert scores_fast["clv_lower"].notna().sum() > 400
    hist_cols = ["clv", "churn_probability", "p_active", "health_score"]
    _same(hist_fast, hist_full, hist_cols, ["value_tier", "segment"])


@pytest.mark.parametrize("champion", ["btyd", pytest.param("hybrid", marks=pytest.mark.slow)])
def test_fast_path_writes_the_same_rows_sqlite(world, tmp_path: Path, champion: str) -> None:
    _parity(world, f"sqlite:///{tmp_path / 'crm.db'}", tmp_path, champion)


@pytest.mark.postgres
@pytest.mark.parametrize("champion", ["btyd", pytest.param("hybrid", marks=pytest.mark.slow)])
def test_fast_path_writes_the_same_rows_postgres(
    world, tmp_path: Path, pg_url: str, champion: str
) -> None:
    _parity(world, pg_url, tmp_path, champion)


@pytest.mark.slow  # fits the hybrid champion too
def test_engagement_features_are_skipped_only_for_an_rfm_champion(world) -> None:
    _, models = world
    btyd = load_scoring_model(str(models["btyd"]))
    hybrid = load_scoring_model(str(models["hybrid"]))
    est = btyd.pyfunc.unwrap_python_model().model_
    assert est.scoring_steps() == ["btyd"]
    assert not needs_engagement(btyd)
    assert needs_engagement(hybrid)
    # predict_scores equals predict on every column it returns
    from clvml.data.validation import validate_customers, validate_transactions

    folder, _ = world
    tx = validate_transactions(pd.read_parquet(folder / "transactions.parquet"))
    cu = validate_customers(pd.read_parquet(folder / "customers.parquet"))
    X = customer_features(tx, None, cu, cutoff=AS_OF)
    X = X.assign(**{c: np.nan for c in est.feature_columns_ if c not in X.columns})
    full, part = est.predict(X), est.predict_scores(X)
    methods = {f"clv_{m}" for m in est.methods_}
    assert methods <= set(full.columns) and not methods & set(part.columns)
    for c in part.columns:
        assert_allclose(part[c], full[c], rtol=1e-12, err_msg=c)
