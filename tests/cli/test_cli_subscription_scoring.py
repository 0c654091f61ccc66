"""``clvml score`` on a subscription business goes through the transaction path's run
machinery (issues #19, #20): score history, alerts, the refusals (``--as-of``, distribution
jumps, ``--force``) and ``--dry-run``.

The world is ``clvml generate --contractual``. A model is trained on the world as it was known
on an earlier day (spells started later dropped, cancellations after it not yet known), the
CRM is scored on that day, then on the full world: the monthly flow of a subscription
business.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

import clvml.cli.generate
import clvml.cli.score
import clvml.cli.train  # noqa: F401  (register their commands)
from clvml.cli._app import run
from clvml.scoring.alert_store import ALERTS_TABLE
from clvml.scoring.crm import CRMSink
from clvml.scoring.history import HISTORY_TABLE
from clvml.scoring.schema import RUNS_TABLE

EARLY = pd.Timestamp("2025-03-31")


def _as_known_on(world: Path, out: Path, day: pd.Timestamp) -> None:
    """The world as it was known on ``day``: later spells and events dropped, later
    cancellations not yet known."""
    out.mkdir()
    subs = pd.read_parquet(world / "subscriptions.parquet")
    subs = subs[subs["start"] <= day].copy()
    subs.loc[subs["end"] > day, "end"] = pd.NaT
    subs.to_parquet(out / "subscriptions.parquet")
    customers = pd.read_parquet(world / "customers.parquet")
    customers[customers["customer_id"].isin(subs["customer_id"])].to_parquet(
        out / "customers.parquet"
    )
    eng = pd.read_parquet(world / "engagement.parquet")
    eng[eng["timestamp"] < day + pd.Timedelta(days=1)].to_parquet(out / "engagement.parquet")


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The generated world, its early copy, and an MLflow store with a model trained on it."""
    root = tmp_path_factory.mktemp("subscore")
    world = root / "world"
    assert run(["generate", "--contractual", "-n", "2000", "--out", str(world)]) == 0
    for extra in ("truth.parquet", "metadata.json"):  # the generator's answers, not data
        (world / extra).unlink(missing_ok=True)
    early = root / "early"
    _as_known_on(world, early, EARLY)
    store = root / "mlruns.db"
    assert run(["train", "--data", str(early), "--tracking-uri", f"sqlite:///{store}"]) == 0
    return {"world": world, "early": early, "store": store, "root": root}


def _score(flow: dict[str, Path], data: str, crm: Path, *extra: str) -> list[str]:
    return [
        "score", "--data", str(flow[data]), "--crm-url", f"sqlite:///{crm}",
        "--tracking-uri", f"sqlite:///{flow['store']}", *extra,
    ]  # fmt: skip


def _read(crm: Path) -> dict[str, pd.DataFrame]:
    engine = sa.create_engine(f"sqlite:///{crm}")
    try:
        return {
            name: pd.read_sql_table(name, engine)
            for name in ("customer_scores", RUNS_TABLE, HISTORY_TABLE, ALERTS_TABLE)
        }
    finally:
        engine.dispose()


def _first_run(flow: dict[str, Path], crm: Path, capsys) -> None:
    code = run(_score(flow, "early", crm))
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()


def test_two_runs_give_two_history_runs_and_the_alerts_of_the_second(flow, tmp_path, capsys):
    crm = tmp_path / "crm.db"
    _first_run(flow, crm, capsys)
    code = run(_score(flow, "world", crm))
    printed = capsys.readouterr()
    assert code == 0, printed.err
    tables = _read(crm)
    runs = tables[RUNS_TABLE]
    assert list(runs["status"]) == ["succeeded", "succeeded"]
    assert [str(d)[:10] for d in runs["as_of"]] == [str(EARLY.date()), "2025-06-25"]
    history = tables[HISTORY_TABLE]
    per_run = history.groupby("run_id").size()
    # each run's customers (one row each), the early run's fewer (later sign-ups unknown)
    n_early = pd.read_parquet(flow["early"] / "subscriptions.parquet")["customer_id"].nunique()
    assert per_run.to_dict() == {runs["run_id"].iloc[0]: n_early, runs["run_id"].iloc[1]: 2000}
    # the second run's history rows are its scores
    second = history[history["run_id"] == runs["run_id"].iloc[1]].set_index("customer_id")
    scores = tables["customer_scores"].set_index("customer_id")
    pd.testing.assert_series_equal(
        second["clv"].sort_index(), scores["clv"].sort_index(), check_names=False
    )
    # the alert step ran in the second run: what it printed is what it stored
    alerts = tables[ALERTS_TABLE]
    flat = " ".join(printed.out.split())
    assert f"alerts: {len(alerts):,} raised" in flat
    assert set(alerts["run_id"]) <= {runs["run_id"].iloc[1]}


def test_dry_run_prints_the_plan_and_writes_nothing(flow, tmp_path, capsys):
    crm = tmp_path / "crm.db"
    _first_run(flow, crm, capsys)
    before = _read(crm)
    code = run(_score(flow, "world", crm, "--dry-run"))
    printed = capsys.readouterr()
    assert code == 0, printed.err
    flat = " ".join(printed.out.split())
    n_early = len(before["customer_scores"])
    assert "dry run: nothing is written to the CRM" in flat
    assert "Would score with clvml_subscriptions version 1 as of 2025-06-25" in flat
    # the full world adds the customers who signed up after the early day; the rest update
    assert f"would write: {2000 - n_early:,} rows inserted, {n_early:,} rows updated" in flat
    assert "would raise:" in flat and "mean CLV" in flat
    after = _read(crm)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(after[name], frame, obj=name)
    # on an empty CRM it does not even create the database
    fresh = tmp_path / "none.db"
    assert run(_score(flow, "world", fresh, "--dry-run")) == 0
    assert "the table holds no scores" in " ".join(capsys.readouterr().out.split())
    assert not fresh.exists()


def test_a_jump_in_the_distribution_is_refused_without_force(flow, tmp_path, capsys):
    crm = tmp_path / "crm.db"
    _first_run(flow, crm, capsys)
    before = _read(crm)
    # a price feed in cents: every subscriber's value x 100
    cents = tmp_path / "cents"
    shutil.copytree(flow["world"], cents)
    subs = pd.read_parquet(cents / "subscriptions.parquet")
    subs["price_per_period"] *= 100
    subs.to_parquet(cents / "subscriptions.parquet")
    flow = {**flow, "cents": cents}
    code = run(_score(flow, "cents", crm))
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert "ScoreRefusedError" in err and "the mean CLV would move from" in err
    assert "--force" in err
    after = _read(crm)
    for name in ("customer_scores", HISTORY_TABLE, ALERTS_TABLE):
        pd.testing.assert_frame_equal(after[name], before[name], obj=name)
    assert after[RUNS_TABLE]["status"].iloc[-1] == "failed"
    # --force writes them and says what it overrode
    assert run([*_score(flow, "cents", crm), "--force"]) == 0
    assert "--force: the mean CLV would move" in " ".join(capsys.readouterr().out.split())
    written = _read(crm)
    assert written["customer_scores"]["clv"].mean() > 50 * before["customer_scores"]["clv"].mean()
    assert written[HISTORY_TABLE]["run_id"].nunique() == 2


def test_as_of_before_the_training_cut_off_is_refused(flow, tmp_path, capsys):
    crm = tmp_path / "crm.db"
    code = run(_score(flow, "world", crm, "--as-of", "2025-01-31"))
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"before the model's training cut-off ({EARLY.date()})" in err
    sink = CRMSink(f"sqlite:///{crm}")
    try:
        assert sink.read_runs().empty
    finally:
        sink.close()
    assert run(_score(flow, "world", crm, "--as-of", "2025-01-31", "--force")) == 0


def test_a_tampered_subscription_model_is_refused_unless_trusted(flow, tmp_path, capsys):
    """The subscription model is digest-checked as a transaction model is (issue #15)."""
    from urllib.parse import unquote, urlparse

    import mlflow

    from clvml.pipelines.subscriptions import SUBSCRIPTION_MODEL_NAME

    mlflow.set_tracking_uri(f"sqlite:///{flow['store']}")
    client = mlflow.MlflowClient()
    mv = client.get_model_version_by_alias(SUBSCRIPTION_MODEL_NAME, "champion")
    location = client.get_model_version_download_uri(mv.name, mv.version)
    folder = Path(unquote(urlparse(location).path)) if "://" in location else Path(location)
    (pickled,) = [p for p in folder.rglob("*.pkl")]
    original = pickled.read_bytes()
    crm = tmp_path / "crm.db"
    try:
        pickled.write_bytes(original + b"\n")  # still unpickles: only the digest tells
        capsys.readouterr()
        assert run(_score(flow, "early", crm)) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "ModelIntegrityError" in err, err
        if crm.exists():  # the job lock may have created the file: no scores in it
            engine = sa.create_engine(f"sqlite:///{crm}")
            try:
                names = sa.inspect(engine).get_table_names()
            finally:
                engine.dispose()
            assert "customer_scores" not in names or _read(crm)["customer_scores"].empty
        assert run([*_score(flow, "early", crm), "--trust-model"]) == 0
        version = _read(crm)["customer_scores"]["model_version"].unique()
        assert len(version) == 1 and "+unverified-sha256-" in version[0]
    finally:
        pickled.write_bytes(original)
    assert run(_score(flow, "early", tmp_path / "again.db")) == 0  # untouched: loads
