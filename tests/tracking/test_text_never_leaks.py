"""What customers wrote is used to compute features and never stored anywhere else.

Every message text of the input carries a planted marker (``qxvlk<n>zz``). A training run
(MLflow params, tags, metrics, inputs, artifacts, the registered model), an exported model
folder, a scoring run into the CRM (scores, runs, quarantine -- with engagement rows set
aside for a bad channel, text included), a monitoring run, the logs (DEBUG) and the console
output are then scanned for the marker, byte by byte and inside every Parquet file. The
scan is checked on the input folder first, where it must find the marker.
"""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from threadpoolctl import threadpool_limits

MARKER = re.compile(rb"qxvlk\d+zz")


def _plant(folder: Path, small_social: Path, *, bad_rows: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for p in small_social.iterdir():
        if p.suffix != ".parquet":
            (folder / p.name).write_bytes(p.read_bytes())
            continue
        frame = pd.read_parquet(p)
        if p.stem == "engagement":
            has = frame["text"].notna()
            n = int(has.sum())
            frame.loc[has, "text"] = [
                f"{t} qxvlk{i}zz" for i, t in enumerate(frame.loc[has, "text"], start=1)
            ]
            assert n > 100
            if bad_rows:
                bad = frame.loc[has].head(bad_rows).index
                frame.loc[bad, "channel"] = "carrier_pigeon"  # set aside, text and all
        frame.to_parquet(folder / p.name, index=False)
    return folder


def _hits_in_file(path: Path) -> list[str]:
    data = path.read_bytes()
    hits = [m.decode() for m in MARKER.findall(data)]
    if path.suffix == ".parquet" or data[:4] == b"PAR1":
        frame = pd.read_parquet(path)
        text = frame.astype(str).to_csv(index=False).encode()
        hits += [m.decode() for m in MARKER.findall(text)]
    return hits


def _scan(*roots: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for root in roots:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for p in files:
            hits = _hits_in_file(p)
            if hits:
                found[str(p)] = hits[:3]
    return found


def _scan_database(url: str) -> dict[str, int]:
    """Every row of every table of a database, as text."""
    engine = sa.create_engine(url)
    found: dict[str, int] = {}
    try:
        with engine.connect() as conn:
            for name in sa.inspect(conn).get_table_names():
                t = sa.Table(name, sa.MetaData(), autoload_with=conn)
                rows = pd.read_sql(sa.select(t), conn).astype(str).to_csv(index=False)
                n = len(MARKER.findall(rows.encode()))
                if n:
                    found[name] = n
    finally:
        engine.dispose()
    return found


@pytest.fixture(scope="module")
def planted(small_social, tmp_path_factory):
    root = tmp_path_factory.mktemp("leak")
    return (
        _plant(root / "train_data", small_social),
        _plant(root / "score_data", small_social, bad_rows=5),
        root,
    )


def test_the_scan_finds_planted_text_in_the_input(planted):
    train_data, score_data, _ = planted
    assert _scan(train_data / "engagement.parquet")
    assert _scan(score_data / "engagement.parquet")


@pytest.fixture(scope="module")
def trained(planted):
    """One training run and export on the planted data; its DEBUG logs are kept."""
    from clvml.pipelines.train import train
    from clvml.tracking.export import export_model

    train_data, _, root = planted
    store = root / "store"
    config = root / "leak.toml"
    config.write_text(
        'seed = 3\n\n[model]\nmethods = ["btyd", "hybrid"]\n\n'
        "[model.params]\nmax_iter = 30\nn_draws = 20\n"
    )
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    root_logger = logging.getLogger()
    level = root_logger.level
    root_logger.addHandler(handler)
    root_logger.setLevel(logging.DEBUG)
    try:
        with threadpool_limits(1, user_api="openmp"):
            result = train(config, data=str(train_data), workdir=store)
            export_model(
                "models:/clvml@champion", root / "exported", tracking_uri=result.tracking_uri
            )
    finally:
        root_logger.removeHandler(handler)
        root_logger.setLevel(level)
    return store, result.tracking_uri, logs.getvalue()


def _score_and_monitor(planted, trained, crm: str) -> None:
    from clvml.pipelines.monitor import monitor_model
    from clvml.pipelines.score import score_customers

    _, score_data, _ = planted
    store, tracking_uri, _ = trained
    with threadpool_limits(1, user_api="openmp"):
        job = score_customers(
            "models:/clvml@champion", score_data, crm, workdir=store, tracking_uri=tracking_uri
        )
        assert job.set_aside.get("engagement") == 5  # the planted bad rows went to quarantine
        monitor_model(crm, score_data, tracking_uri=tracking_uri, workdir=store)


def test_no_text_in_mlflow_models_crm_quarantine_or_logs(
    planted, trained, tmp_path, caplog, capsys
):
    caplog.set_level(logging.DEBUG)
    crm = f"sqlite:///{tmp_path / 'crm.db'}"
    _score_and_monitor(planted, trained, crm)
    # the quarantine holds the set-aside engagement rows, without their text
    engine = sa.create_engine(crm)
    with engine.connect() as conn:
        q = pd.read_sql(sa.text("SELECT * FROM customer_scores_quarantine"), conn)
    engine.dispose()
    assert q["reason"].str.contains("engagement").sum() == 5
    store = trained[0]
    leaks = _scan(store, planted[2] / "exported", tmp_path)
    assert leaks == {}, leaks
    assert _scan_database(crm) == {}
    out = capsys.readouterr()
    logs = trained[2] + caplog.text + out.out + out.err
    assert "scoring" in logs  # the logs were captured
    assert not MARKER.findall(logs.encode())


@pytest.mark.postgres
def test_no_text_in_a_postgresql_crm(planted, trained, pg_url):
    _score_and_monitor(planted, trained, pg_url)
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        n = conn.exec_driver_sql("SELECT COUNT(*) FROM customer_scores_quarantine").scalar_one()
    engine.dispose()
    assert n >= 5
    assert _scan_database(pg_url) == {}
