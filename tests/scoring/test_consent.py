"""Consent end to end: profiling consent decides the inputs, marketing consent the lists.

A served model whose champion (``hybrid``) reads engagement and sentiment features scores
600 customers of data/social; a third refused profiling, a third refused marketing.
Planted truth: a customer without profiling consent gets exactly the model's BG/NBD +
Gamma-Gamma scores computed from transactions alone, whatever their engagement rows say
(deleting them, or rewriting their texts, changes nothing), and the CRM row names that
method; everyone else gets the champion's scores. ``clvml segments --export`` lists
nobody whose CRM row says ``consent_marketing = no``.
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

import clvml.cli.segments  # noqa: F401  (registers the command)
from clvml.cli._app import run as cli_run
from clvml.features.dataset import customer_features, holdout_targets
from clvml.pipelines.score import score_customers
from clvml.scoring.crm import CRMSink

N_CUSTOMERS = 600
CUTOFF = "2025-06-30"
EARLIER = "2024-07-01"
AS_OF = "2025-12-31"


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


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """(frames with consent columns, model folder, fitted model)."""
    from clvml.data.synthetic import load_social_commerce
    from clvml.data.validation import (
        validate_customers,
        validate_engagement,
        validate_transactions,
    )
    from clvml.models.composite import CLVModel

    data = load_social_commerce()
    ids = list(data.customers["customer_id"].iloc[:N_CUSTOMERS])
    frames = {
        name: getattr(data, name)
        .loc[lambda f: f["customer_id"].isin(set(ids))]
        .reset_index(drop=True)
        for name in ("transactions", "engagement", "customers")
    }
    cust = frames["customers"]
    k = np.arange(len(cust))
    cust["consent_profiling"] = k % 3 != 0  # every third customer refused profiling
    cust["consent_marketing"] = k % 3 != 1  # another third refused marketing
    tx = validate_transactions(frames["transactions"])
    eng = validate_engagement(frames["engagement"])
    cu = validate_customers(cust)
    X = customer_features(tx, eng, cu, cutoff=CUTOFF)
    L = customer_features(tx, eng, cu, cutoff=EARLIER)
    labels = holdout_targets(tx, L.index, start=EARLIER, end=CUTOFF)
    model = CLVModel(
        horizon_weeks=52,
        methods=("btyd", "hybrid"),
        champion="hybrid",
        interval=None,
        max_iter=30,
    ).fit(X, L, labels, training_window={"cutoff": CUTOFF})
    assert model.champion_ == "hybrid"
    path = _save_model(model, X, tmp_path_factory.mktemp("consent") / "clvml")
    return frames, path, model


def _folder(frames: dict[str, pd.DataFrame], root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.to_parquet(root / f"{name}.parquet", index=False)
    return root


def _score(served, frames, tmp_path: Path, url: str | None = None) -> pd.DataFrame:
    _, path, _ = served
    url = url or f"sqlite:///{tmp_path / 'crm.db'}"
    folder = _folder(frames, tmp_path / "data")
    result = score_customers(str(path), folder, url, as_of=AS_OF, workdir=tmp_path)
    refused = ~frames["customers"]["consent_profiling"]
    assert result.transactions_only == int(refused.sum())
    return CRMSink(url).read_scores().set_index("customer_id")


def _expected(served, frames) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The model's own predictions: with every engagement row, and without the engagement
    of the customers who refused profiling."""
    from clvml.data.validation import validate_customers, validate_transactions

    _, _, model = served
    tx = validate_transactions(frames["transactions"])
    cu = validate_customers(frames["customers"])
    from clvml.data.validation import validate_engagement

    eng = validate_engagement(frames["engagement"])
    full = model.predict(customer_features(tx, eng, cu, cutoff=AS_OF))
    refused = set(cu.loc[~cu["consent_profiling"].astype(bool), "customer_id"])
    kept = eng[~eng["customer_id"].isin(refused)]
    none = model.predict(customer_features(tx, kept, cu, cutoff=AS_OF))
    return full, none


def _check(served, frames, got: pd.DataFrame) -> None:
    full, none = _expected(served, frames)
    cust = frames["customers"].set_index("customer_id")
    refused = cust.index[~cust["consent_profiling"]].intersection(got.index)
    agreed = cust.index[cust["consent_profiling"]].intersection(got.index)
    assert len(refused) > 100 and len(agreed) > 200
    # no profiling consent: BG/NBD + Gamma-Gamma on transactions alone, and says so
    assert_allclose(got.loc[refused, "clv"], none.loc[refused, "clv_btyd"], rtol=1e-9)
    assert (
        got.loc[refused, "scoring_method"] == "btyd (transactions only: no profiling consent)"
    ).all()
    assert got.loc[refused, "clv_lower"].isna().all()
    # consent: the champion's scores, computed with their engagement
    assert_allclose(got.loc[agreed, "clv"], full.loc[agreed, "clv"], rtol=1e-9)
    assert (got.loc[agreed, "scoring_method"] == "hybrid").all()
    # marketing consent recorded per row
    yes = cust.loc[got.index, "consent_marketing"].map({True: "yes", False: "no"})
    assert (got["consent_marketing"] == yes).all()


def test_consent_end_to_end_sqlite(served, tmp_path):
    frames, _, _ = served
    got = _score(served, frames, tmp_path)
    _check(served, frames, got)
    # their engagement is never read: rewriting it changes nothing for them
    cust = frames["customers"]
    refused = set(cust.loc[~cust["consent_profiling"], "customer_id"])
    eng = frames["engagement"].copy()
    mine = eng["customer_id"].isin(refused)
    eng.loc[mine, "text"] = "terrible awful horrible never again"
    eng = eng.drop(index=eng.index[mine][::2])
    changed = {**frames, "engagement": eng}
    again = _score(served, changed, tmp_path / "changed")
    ids = sorted(refused & set(got.index))
    assert_allclose(again.loc[ids, "clv"], got.loc[ids, "clv"], rtol=0, atol=0)
    assert (again.loc[ids, "value_tier"] == got.loc[ids, "value_tier"]).all()


@pytest.mark.postgres
def test_consent_end_to_end_postgres(served, tmp_path, pg_url):
    frames, _, _ = served
    got = _score(served, frames, tmp_path, pg_url)
    _check(served, frames, got)


def test_no_marketing_consent_never_reaches_an_export_list(served, tmp_path):
    frames, _, _ = served
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    got = _score(served, frames, tmp_path, url)
    out = tmp_path / "lists"
    assert cli_run(["segments", "--crm-url", url, "--export", str(out)]) == 0
    listed = pd.concat([pd.read_csv(p, dtype=str) for p in out.glob("*.csv")])
    refused = set(got.index[got["consent_marketing"] == "no"])
    assert refused and not (set(listed["customer_id"]) & refused)
    assert set(listed["customer_id"]) == set(got.index) - refused
