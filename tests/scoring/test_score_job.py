"""clvml score: model + data as of a date -> CRM, with quarantine, counts and one-line errors.

The model is a real clvml CLV model (BG/NBD + Gamma-Gamma through the composite
``CLVModel``) fitted on 600 customers of data/social and saved as an MLflow pyfunc
model (models from code, with the signature clvml logs), so the job is exercised on
what ``clvml train``/``clvml export`` produce.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from threadpoolctl import threadpool_limits

import clvml.cli.score  # noqa: F401  (registers the command)
from clvml.cli._app import run as cli_run
from clvml.exceptions import DataValidationError
from clvml.features.dataset import customer_features
from clvml.pipelines.score import prepare_inputs, score_customers
from clvml.scoring.crm import CRMSink
from clvml.tracking.scoring_model import ModelLoadError, check_signature, load_scoring_model

N_CUSTOMERS = 600
AS_OF = "2025-06-30"


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    with threadpool_limits(1, user_api="openmp"):
        yield


@pytest.fixture(scope="session")
def social_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from clvml.data.synthetic import load_social_commerce

    data = load_social_commerce()
    folder = tmp_path_factory.mktemp("score") / "data"
    folder.mkdir()
    ids = set(data.customers["customer_id"].iloc[:N_CUSTOMERS])
    for name in ("transactions", "engagement", "customers"):
        frame = getattr(data, name)
        frame.loc[frame["customer_id"].isin(ids)].to_parquet(folder / f"{name}.parquet")
    return folder


def _frames(folder: Path) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_parquet(p) for p in folder.glob("*.parquet")}


def _save_model(model, features: pd.DataFrame, path: Path, signature=None) -> Path:
    """Save a fitted CLVModel as clvml logs it (models from code), without a tracking store."""
    import mlflow

    from clvml.segments import SegmentScheme
    from clvml.tracking.pyfunc import (
        ARTIFACT_KEY,
        MODEL_CODE,
        SCHEME_KEY,
        input_example,
        model_signature,
    )

    pkl = path.parent / f"{path.name}.pkl"
    pkl.write_bytes(pickle.dumps(model, protocol=5))
    # tiers and segments: the scheme fitted on the training customers, stored beside it
    scheme = SegmentScheme().fit(model.predict(features))
    js = path.parent / f"{path.name}_{SCHEME_KEY}.json"
    js.write_text(json.dumps(scheme.to_dict()))
    mlflow.pyfunc.save_model(
        str(path),
        python_model=str(MODEL_CODE),
        artifacts={ARTIFACT_KEY: str(pkl), SCHEME_KEY: str(js)},
        signature=signature or model_signature(model, features, scheme),
        input_example=input_example(model, features) if signature is None else None,
        pip_requirements=["clvml"],
    )
    from clvml.tracking.integrity import write_manifest

    write_manifest(path)  # the digests clvml export records, checked before loading
    return path


@pytest.fixture(scope="session")
def fitted(social_folder: Path, tmp_path_factory: pytest.TempPathFactory):
    from clvml.data.validation import validate_customers, validate_engagement, validate_transactions
    from clvml.models.composite import CLVModel

    f = _frames(social_folder)
    tx = validate_transactions(f["transactions"])
    eng = validate_engagement(f["engagement"])
    cust = validate_customers(f["customers"])
    X = customer_features(tx, eng, cust, cutoff=AS_OF)
    with threadpool_limits(1, user_api="openmp"):
        model = CLVModel(horizon_weeks=52, methods=("btyd",), interval=None).fit(X)
    path = _save_model(model, X, tmp_path_factory.mktemp("models") / "clvml")
    return model, path, (tx, eng, cust)


def _crm(tmp_path: Path) -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{tmp_path / 'crm.db'}"


def _expected(model, tx, eng, cust, as_of: str, path: Path | None = None) -> pd.DataFrame:
    """The model's predictions, labelled by the scheme stored with it (as scoring does)."""
    from clvml.tracking.pyfunc import SCHEME_KEY, read_scheme

    X = customer_features(tx, eng, cust, cutoff=as_of)
    out = model.predict(X)
    if path is not None:
        scheme = read_scheme(path / "artifacts" / f"{path.name}_{SCHEME_KEY}.json")
        out = scheme.assign(out)
    return out


def test_score_folder_model_writes_every_customer_with_the_models_predictions(
    fitted, social_folder, tmp_path
):
    model, path, (tx, eng, cust) = fitted
    res = score_customers(str(path), social_folder, _crm(tmp_path), workdir=tmp_path)
    last_day = str(tx["timestamp"].max().date())
    assert res.as_of == last_day  # default: the last transaction date
    expected = _expected(model, tx, eng, cust, last_day, path)
    sink = CRMSink(_crm(tmp_path))
    got = sink.read_scores().set_index("customer_id")
    assert len(got) == len(expected) == res.run.rows_written
    assert_allclose(got["clv"].to_numpy(), expected["clv"].reindex(got.index).to_numpy())
    assert_allclose(got["p_alive_btyd"], expected["p_alive_btyd"].reindex(got.index))
    assert_allclose(got["p_active"], expected["p_active"].reindex(got.index))
    assert (got["value_tier"] == expected["value_tier"].astype(str).reindex(got.index)).all()
    assert (
        set(got["model_name"]) == {"clvml"} and got["model_version"].str.startswith("sha256-").all()
    )
    runs = sink.read_runs()
    assert len(runs) == 1
    r = runs.iloc[0]
    assert r["status"] == "succeeded" and str(r["as_of"])[:10] == last_day
    assert r["rows_read"] == r["rows_written"] + r["rows_quarantined"]
    assert r["rows_scored"] == len(expected)
    timings = json.loads(r["timings"]) if isinstance(r["timings"], str) else r["timings"]
    for phase in (
        "load_model",
        "read",
        "validate_data",
        "validate",
        "features",
        "predict",
        "upsert",
    ):
        assert phase in timings
    # every customer of the customers table is accounted for: scored or quarantined
    q = sink.read_quarantine(res.run.run_id)
    assert len(got) + len(q) == cust["customer_id"].nunique() == N_CUSTOMERS
    assert q["reason"].str.startswith("no purchase on or before").all()
    sink.close()


def test_as_of_date_and_chunks(fitted, social_folder, tmp_path):
    model, path, (tx, eng, cust) = fitted
    as_of = "2025-01-31"
    a = score_customers(
        str(path),
        social_folder,
        _crm(tmp_path / "a"),
        as_of=as_of,
        chunk_size=100_000,
        workdir=tmp_path,
    )
    b = score_customers(
        str(path), social_folder, _crm(tmp_path / "b"), as_of=as_of, chunk_size=37, workdir=tmp_path
    )
    c = score_customers(
        str(path),
        social_folder,
        _crm(tmp_path / "c"),
        as_of=as_of,
        chunk_size=50,
        workers=2,
        workdir=tmp_path,
    )
    assert a.as_of == b.as_of == c.as_of == as_of
    sa_, sb, sc = (CRMSink(_crm(tmp_path / d)).read_scores() for d in "abc")
    expected = _expected(model, tx, eng, cust, as_of)
    assert len(sa_) == len(expected) < N_CUSTOMERS  # later customers had not bought yet
    for other in (sb, sc):
        pd.testing.assert_frame_equal(
            sa_.drop(columns=["scored_at", "run_id"]), other.drop(columns=["scored_at", "run_id"])
        )
    assert_allclose(
        sa_.set_index("customer_id")["clv"], expected["clv"].reindex(sa_["customer_id"])
    )


def test_same_job_twice_gives_the_same_table(fitted, social_folder, tmp_path):
    _, path, _ = fitted
    crm = _crm(tmp_path)
    first = score_customers(str(path), social_folder, crm, workdir=tmp_path)
    before = CRMSink(crm).read_scores()
    second = score_customers(str(path), social_folder, crm, workdir=tmp_path)
    assert first.run.run_id == second.run.run_id
    pd.testing.assert_frame_equal(before, CRMSink(crm).read_scores())
    runs = CRMSink(crm).read_runs()
    assert len(runs) == 1 and runs.iloc[0]["attempts"] == 2


def _bad_folder(social_folder: Path, tmp_path: Path) -> tuple[Path, dict[str, object]]:
    """The data with planted problems: 2 bad transactions, 1 unknown customer, 1 bad event."""
    f = _frames(social_folder)
    tx = f["transactions"].copy()
    tx["amount"] = tx["amount"].astype(object)
    bad_tx = [tx.index[3], tx.index[10]]
    tx.loc[bad_tx[0], "amount"] = np.nan
    tx["timestamp"] = tx["timestamp"].astype(object)
    tx.loc[bad_tx[1], "timestamp"] = "not a date"
    stranger = tx.iloc[[0]].assign(customer_id="STRANGER-1")
    tx = pd.concat([tx, stranger], ignore_index=True)
    tx["amount"] = tx["amount"].astype(float)
    eng = f["engagement"].copy()
    eng.loc[eng.index[5], "channel"] = "carrier pigeon"
    out = tmp_path / "bad"
    out.mkdir()
    tx.to_csv(out / "transactions.csv", index=False)
    eng.to_parquet(out / "engagement.parquet")
    f["customers"].to_parquet(out / "customers.parquet")
    return out, {"bad_tx": len(bad_tx), "unknown": 1, "bad_eng": 1}


def test_bad_rows_are_quarantined_with_reasons_and_counts_add_up(fitted, social_folder, tmp_path):
    _, path, _ = fitted
    folder, planted = _bad_folder(social_folder, tmp_path)
    res = score_customers(str(path), folder, _crm(tmp_path), workdir=tmp_path)
    assert res.set_aside["transactions"] == planted["bad_tx"]
    assert res.set_aside["engagement"] == planted["bad_eng"]
    assert res.set_aside["unknown_customer"] == planted["unknown"]
    sink = CRMSink(_crm(tmp_path))
    q = sink.read_quarantine(res.run.run_id)
    reasons = q["reason"].tolist()
    assert any(r.startswith("transactions row") and "amount" in r for r in reasons)
    assert any(r.startswith("transactions row") and "timestamp" in r for r in reasons)
    assert any(r.startswith("engagement row") and "channel" in r for r in reasons)
    unknown = q.loc[q["reason"].str.startswith("unknown customer id")]
    assert unknown["customer_id"].tolist() == ["STRANGER-1"]
    assert "STRANGER-1" not in set(sink.read_scores()["customer_id"])
    r = sink.read_runs().iloc[0]
    assert r["rows_read"] == r["rows_written"] + r["rows_quarantined"] == res.run.rows_read
    assert r["rows_quarantined"] == len(q) == sum(res.set_aside.values())


# --------------------------------------------------------------------------- bad input
def _one_line_error(capsys, argv: list[str], match: str) -> str:
    code = cli_run(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert match in err, err
    return err


@pytest.fixture
def previous(fitted, social_folder, tmp_path):
    """A CRM holding the scores of an earlier job; returns (url, scores, runs)."""
    _, path, _ = fitted
    crm = _crm(tmp_path)
    score_customers(str(path), social_folder, crm, as_of="2025-03-31", workdir=tmp_path)
    sink = CRMSink(crm)
    return crm, sink.read_scores(), sink.read_runs()


def _unchanged(previous) -> None:
    crm, scores, runs = previous
    sink = CRMSink(crm)
    pd.testing.assert_frame_equal(sink.read_scores(), scores)
    pd.testing.assert_frame_equal(sink.read_runs(), runs)  # not even a failed run recorded


@pytest.mark.parametrize(
    ("plant", "match"),
    [
        ("unknown_in_engagement", "unknown customer ids"),
        ("nan_amount", "amount"),
        ("text_amount", "amount"),
    ],
)
def test_bad_rows_in_error_mode_are_one_line_and_write_nothing(
    fitted, social_folder, tmp_path, capsys, previous, plant, match
):
    _, path, _ = fitted
    f = _frames(social_folder)
    if plant == "unknown_in_engagement":
        f["engagement"] = pd.concat(
            [f["engagement"], f["engagement"].iloc[[0]].assign(customer_id="NOBODY")]
        )
    elif plant == "nan_amount":
        f["transactions"].loc[f["transactions"].index[7], "amount"] = np.nan
    else:
        f["transactions"] = f["transactions"].astype({"amount": object})
        f["transactions"].loc[f["transactions"].index[7], "amount"] = "12,50 EUR"
    folder = tmp_path / plant
    folder.mkdir()
    for name, frame in f.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    _one_line_error(
        capsys,
        [
            "score",
            "--model",
            str(path),
            "--data",
            str(folder),
            "--crm-url",
            previous[0],
            "--bad-rows",
            "error",
        ],
        match,
    )
    _unchanged(previous)


def test_missing_features_are_one_line_and_write_nothing(
    fitted, social_folder, tmp_path, capsys, previous
):
    _, path, _ = fitted
    folder = tmp_path / "no_engagement"
    shutil.copytree(social_folder, folder)
    (folder / "engagement.parquet").unlink()  # the model reads engagement features
    err = _one_line_error(
        capsys,
        ["score", "--model", str(path), "--data", str(folder), "--crm-url", previous[0]],
        "signature does not match",
    )
    assert "engagement" in err
    _unchanged(previous)


def test_model_signature_mismatch_is_one_line_and_writes_nothing(
    fitted, social_folder, tmp_path, capsys, previous
):
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    model, path, (tx, eng, cust) = fitted
    real = load_scoring_model(str(path))
    specs = [ColSpec(t, n, required=r) for n, t, r in real.inputs]
    specs.append(ColSpec("double", "lifetime_spend_eur"))  # a feature clvml never computes
    sig = ModelSignature(inputs=Schema(specs), outputs=real.pyfunc.metadata.get_output_schema())
    X = customer_features(tx, eng, cust, cutoff=AS_OF)
    other = _save_model(model, X, tmp_path / "other_model", signature=sig)
    _one_line_error(
        capsys,
        ["score", "--model", str(other), "--data", str(social_folder), "--crm-url", previous[0]],
        "lifetime_spend_eur",
    )
    _unchanged(previous)


def test_wrong_feature_dtype_is_refused_before_scoring(fitted, social_folder):
    _, path, (tx, eng, cust) = fitted
    model = load_scoring_model(str(path))
    X = customer_features(tx, eng, cust, cutoff=AS_OF)
    check_signature(model, X)  # the real features pass
    bad = X.assign(frequency=X["frequency"].map(lambda v: f"{v:g} purchases"))
    with pytest.raises(DataValidationError, match=r"column 'frequency'.*expects numbers"):
        check_signature(model, bad)


def test_not_a_clv_model_is_refused(fitted, tmp_path, social_folder):
    import mlflow
    from mlflow.models import infer_signature

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input[["frequency"]]

    x = pd.DataFrame({"frequency": [1.0, 2.0]})
    mlflow.pyfunc.save_model(
        str(tmp_path / "echo"), python_model=Echo(), signature=infer_signature(x, x)
    )
    with pytest.raises(ModelLoadError, match="output lacks"):
        load_scoring_model(str(tmp_path / "echo"))
    with pytest.raises(ModelLoadError, match="no MLflow model there"):
        load_scoring_model(str(tmp_path / "nowhere"))


def test_unreachable_database_fails_first_in_one_line(fitted, social_folder, capsys, tmp_path):
    _, path, _ = fitted
    err = _one_line_error(
        capsys,
        [
            "score",
            "--model",
            str(path),
            "--data",
            str(social_folder),
            "--crm-url",
            "postgresql://scorer:s3cr3t@127.0.0.1:1/crm",
        ],
        "cannot connect to CRM database",
    )
    assert "s3cr3t" not in err


@pytest.mark.parametrize("table", ["scores; DROP TABLE customer_scores", "Scores", "crm.scores"])
def test_table_name_with_sql_is_refused_before_connecting(
    fitted, social_folder, capsys, previous, table
):
    _, path, _ = fitted
    _one_line_error(
        capsys,
        [
            "score",
            "--model",
            str(path),
            "--data",
            str(social_folder),
            "--crm-url",
            previous[0],
            "--table",
            table,
        ],
        "DataValidationError: invalid table name",
    )
    _unchanged(previous)


def test_registry_alias_and_run_uri(fitted, social_folder, tmp_path, monkeypatch, capsys):
    """models:/clvml@champion (the default) and runs:/ resolve name, version and run."""
    import mlflow

    from clvml.tracking.pyfunc import log_clv_model
    from clvml.tracking.store import configure_mlflow

    model, _, (tx, eng, cust) = fitted
    X = customer_features(tx, eng, cust, cutoff=AS_OF)
    cfg = configure_mlflow(workdir=tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", cfg.tracking_uri)
    with mlflow.start_run() as run:
        mlflow.log_metric("holdout.normalized_gini", 0.5)
        info = log_clv_model(model, X, registered_model_name="clvml")
    mlflow.MlflowClient().set_registered_model_alias("clvml", "champion", "1")
    crm = _crm(tmp_path)
    code = cli_run(["score", "--data", str(social_folder), "--crm-url", crm])
    assert code == 0, capsys.readouterr().err
    runs = CRMSink(crm).read_runs()
    assert (runs["model_name"].tolist(), runs["model_version"].tolist()) == (["clvml"], ["1"])
    loaded = load_scoring_model("models:/clvml@champion")
    assert loaded.run_id == run.info.run_id and loaded.metrics == {"holdout.normalized_gini": 0.5}
    by_run = load_scoring_model(f"runs:/{run.info.run_id}/{info.name}")
    assert by_run.version == f"run-{run.info.run_id}"
    with pytest.raises(ModelLoadError, match="not found"):
        load_scoring_model("models:/clvml@no_such_alias")
    # the report finds the scoring model's holdout metrics through the CRM run table
    from clvml.pipelines.report import load_report_inputs

    inputs = load_report_inputs(crm_url=crm)
    assert (inputs.model_name, inputs.model_version) == ("clvml", "1")
    assert inputs.metrics is not None
    assert inputs.metrics.loc["clvml", "normalized_gini"] == 0.5


def test_data_from_a_database_and_the_default_crm(fitted, social_folder, tmp_path, monkeypatch):
    """--data may be a SQLAlchemy URL; without --crm-url the scores go to ./crm.db."""
    import sqlalchemy as sa

    _, path, _ = fitted
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = sa.create_engine(url)
    for name, frame in _frames(social_folder).items():
        frame.to_sql(name, engine, index=False)
    engine.dispose()
    monkeypatch.chdir(tmp_path)
    from_db = score_customers(str(path), url, as_of=AS_OF)
    assert from_db.crm == f"sqlite:///{tmp_path / 'crm.db'}"
    score_customers(str(path), social_folder, _crm(tmp_path / "files"), as_of=AS_OF)
    a = CRMSink(from_db.crm).read_scores().drop(columns=["scored_at", "run_id"])
    b = CRMSink(_crm(tmp_path / "files")).read_scores().drop(columns=["scored_at", "run_id"])
    pd.testing.assert_frame_equal(a, b)


def test_prepare_inputs_counts(social_folder):
    f = _frames(social_folder)
    prep = prepare_inputs(f, as_of=AS_OF)
    n_buyers = len(prep.features)
    assert n_buyers + len(prep.rejected) == N_CUSTOMERS
    assert prep.input_rows == {k: len(v) for k, v in f.items()}


@pytest.mark.postgres
def test_score_into_postgres(fitted, social_folder, pg_url, tmp_path):
    model, path, (tx, eng, cust) = fitted
    res = score_customers(
        str(path), social_folder, pg_url, table="nightly_scores", workdir=tmp_path
    )
    sink = CRMSink(pg_url, table="nightly_scores")
    got = sink.read_scores().set_index("customer_id")
    expected = _expected(model, tx, eng, cust, res.as_of)
    assert len(got) == len(expected) == res.run.rows_written
    assert_allclose(got["clv"], expected["clv"].reindex(got.index))
    r = sink.read_runs().iloc[0]
    assert r["status"] == "succeeded"
    assert r["rows_read"] == r["rows_written"] + r["rows_quarantined"]
    sink.close()


def test_activity_is_one_notion_from_score_to_crm_to_report(fitted, social_folder, tmp_path):
    """Issue #14 point 7: p_active (P(buy in the horizon) = 1 - churn) is what the CRM and
    the report show; BG/NBD's raw P(alive) stays under its own name with its caveat."""
    from clvml.pipelines.report import load_report_inputs
    from clvml.reporting.i18n import STRINGS
    from clvml.reporting.report import build_report

    model, path, (tx, eng, cust) = fitted
    crm = _crm(tmp_path)
    res = score_customers(str(path), social_folder, crm, workdir=tmp_path)
    got = CRMSink(crm).read_scores().set_index("customer_id")
    assert_allclose(got["p_active"], 1.0 - got["churn_probability"], rtol=0, atol=1e-15)
    assert got["p_active"].between(0, 1).all() and got["p_alive_btyd"].between(0, 1).all()
    X = customer_features(tx, eng, cust, cutoff=res.as_of)
    one_time = X.index[X["frequency"] == 0].astype(str).intersection(got.index)
    assert len(one_time) > 20
    assert (got.loc[one_time, "p_alive_btyd"] == 1.0).all()  # BG/NBD's assumption, kept
    assert got.loc[one_time, "p_active"].max() < 0.99  # the shown column is not 1.0
    # the served method is BG/NBD: the closed form P(X(t) > 0) = P(alive) P(buy | alive)
    r, alpha = model.bgnbd_.params_["r"], model.bgnbd_.params_["alpha"]
    Xo = X.loc[X.index.astype(str).isin(got.index)]
    x, T = Xo["frequency"].to_numpy(float), np.maximum(Xo["T"].to_numpy(float), 1 / 7)
    want = got.loc[Xo.index.astype(str), "p_alive_btyd"].to_numpy() * (
        1.0 - ((alpha + T) / (alpha + T + 52.0)) ** (r + x)
    )
    assert_allclose(got.loc[Xo.index.astype(str), "p_active"], want, rtol=1e-9, atol=1e-15)
    # the report reads the CRM: the activity column and the raw P(alive)'s caveat
    html = build_report(load_report_inputs(crm_url=crm))
    assert STRINGS["en"]["p_active"] in html and STRINGS["en"]["p_alive_btyd"] in html
    assert "shown for reference, not to act on" in html
