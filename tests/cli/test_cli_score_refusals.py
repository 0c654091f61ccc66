"""Refusals before damage (issue #16): ``clvml score`` and ``clvml export`` on real files.

The model is the committed champion (``models/clvml``, trained with the cut-off 2025-06-29
recorded in its training window) and the data the first 800 customers of the bundled
data/social, so every command here is what a user types in the repository.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from clvml.cli import app  # noqa: F401  (registers every command)
from clvml.cli._app import run as cli_run
from clvml.scoring.crm import CRMSink

ROOT = Path(__file__).resolve().parents[2]
MODEL = str(ROOT / "models" / "clvml")
CUTOFF = "2025-06-29"  # models/clvml/artifacts: training_window_["cutoff"]


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    with threadpool_limits(1, user_api="openmp"):
        yield


@pytest.fixture(scope="module")
def social(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from clvml.data.synthetic import load_social_commerce

    data = load_social_commerce()
    folder = tmp_path_factory.mktemp("refusals") / "data"
    folder.mkdir()
    ids = set(data.customers["customer_id"].iloc[:800])
    for name in ("transactions", "engagement", "customers"):
        frame = getattr(data, name)
        frame.loc[frame["customer_id"].isin(ids)].to_parquet(folder / f"{name}.parquet")
    return folder


def _last_day(folder: Path) -> dt.date:
    days = [pd.read_parquet(folder / f"{t}.parquet")["timestamp"].max() for t in ("transactions",)]
    return pd.Timestamp(max(days)).date()


def _score(social: Path, crm: str, *extra: str) -> list[str]:
    return ["score", "--model", MODEL, "--data", str(social), "--crm-url", crm, *extra]


def _fails_in_one_line(capsys, argv: list[str], *needles: str) -> str:
    code = cli_run(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture(scope="module")
def scored(social: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A CRM holding the scores of a first, ordinary run (as of the last day of the data)."""
    crm = f"sqlite:///{tmp_path_factory.mktemp('crm') / 'crm.db'}"
    assert cli_run(_score(social, crm)) == 0
    return crm


def _snapshot(crm: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    sink = CRMSink(crm)
    try:
        return sink.read_scores(), sink.read_runs()
    finally:
        sink.close()


def test_as_of_after_the_data_and_after_today_is_refused_and_the_crm_kept(social, scored, capsys):
    before = _snapshot(scored)
    last = _last_day(social)
    err = _fails_in_one_line(
        capsys,
        _score(social, scored, "--as-of", "2031-12-31"),
        "ScoreRefusedError",
        f"after the last day of the data ({last})",
        "after today",
        "--force",
    )
    assert f"{(dt.date(2031, 12, 31) - last).days:,} days" in err
    after = _snapshot(scored)
    pd.testing.assert_frame_equal(after[0], before[0])
    pd.testing.assert_frame_equal(after[1], before[1])  # not even a run row


def test_as_of_before_the_models_training_cut_off_is_refused(social, scored, capsys):
    before = _snapshot(scored)
    _fails_in_one_line(
        capsys,
        _score(social, scored, "--as-of", "2025-03-31"),
        f"before the model's training cut-off ({CUTOFF})",
    )
    pd.testing.assert_frame_equal(_snapshot(scored)[0], before[0])


@pytest.mark.parametrize("value", ["31/01/2026", "01/06/2026", "20260131", "Jan 31 2026"])
def test_as_of_must_be_iso(social, scored, capsys, value):
    _fails_in_one_line(capsys, _score(social, scored, "--as-of", value), "YYYY-MM-DD", repr(value))


def test_dry_run_reports_the_changes_a_real_run_then_makes(social, scored, tmp_path, capsys):
    before = _snapshot(scored)
    as_of = "2026-01-31"
    assert cli_run(_score(social, scored, "--as-of", as_of, "--dry-run")) == 0
    out = capsys.readouterr().out
    after = _snapshot(scored)
    pd.testing.assert_frame_equal(after[0], before[0])
    pd.testing.assert_frame_equal(after[1], before[1])
    # the same run, for real, on a copy of the CRM: the plan is what happens
    copy = tmp_path / "copy.db"
    shutil.copy(scored.removeprefix("sqlite:///"), copy)
    assert cli_run(_score(social, f"sqlite:///{copy}", "--as-of", as_of, "--force")) == 0
    sink = CRMSink(f"sqlite:///{copy}")
    new, last_run = sink.read_scores(), sink.read_runs()["run_id"].iloc[-1]
    old = before[0].set_index("customer_id")
    written = new.loc[new["run_id"] == last_run].set_index("customer_id")
    inserted = int((~written.index.isin(old.index)).sum())
    updated = len(written) - inserted
    moved = (old["value_tier"].reindex(written.index) != written["value_tier"])[
        written.index.isin(old.index)
    ]
    plural = {1: ""}
    assert (
        f"{inserted:,} row{plural.get(inserted, 's')} inserted, "
        f"{updated:,} row{plural.get(updated, 's')} updated, "
        f"{int(moved.sum()):,} customer{plural.get(int(moved.sum()), 's')} change value tier"
    ) in " ".join(out.split())
    assert updated > 0 and moved.sum() > 0
    mean_before, mean_after = old["clv"].mean(), new["clv"].mean()
    assert f"mean CLV {mean_before:,.2f} -> {mean_after:,.2f}" in out


def test_dry_run_creates_no_database(social, tmp_path, capsys):
    db = tmp_path / "absent.db"
    assert cli_run(_score(social, f"sqlite:///{db}", "--dry-run")) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "rows updated" in out and "the table holds no scores" in out
    assert not db.exists()
    # --currency: the money of the summary is written in it (issue 16)
    assert cli_run(_score(social, f"sqlite:///{db}", "--dry-run", "--currency", "eur")) == 0
    assert "mean CLV €" in capsys.readouterr().out
    assert not db.exists()


def test_a_jump_in_the_score_distribution_is_refused_with_the_numbers(
    social, scored, tmp_path, capsys
):
    copy = tmp_path / "crm.db"
    shutil.copy(scored.removeprefix("sqlite:///"), copy)
    crm = f"sqlite:///{copy}"
    before = _snapshot(crm)[0]
    # scoring seven months earlier moves the mean CLV by about 13 %; a 5 % limit refuses it
    argv = _score(social, crm, "--as-of", "2025-12-01", "--max-clv-change", "0.05")
    err = _fails_in_one_line(capsys, argv, "the mean CLV would move from", "more than the 5%")
    assert f"from {before['clv'].mean():,.2f} to" in err
    pd.testing.assert_frame_equal(_snapshot(crm)[0], before)
    runs = _snapshot(crm)[1]
    assert runs["status"].iloc[-1] == "failed" and "ScoreRefusedError" in runs["error"].iloc[-1]
    # --force writes them, and says what it overrode
    assert cli_run([*argv, "--force"]) == 0
    assert "--force: the mean CLV would move" in " ".join(capsys.readouterr().out.split())
    assert not _snapshot(crm)[0]["clv"].equals(before["clv"])


def test_export_refuses_to_overwrite_without_the_flag(tmp_path, capsys):
    target = tmp_path / "models" / "clvml"
    target.mkdir(parents=True)
    (target / "keep.txt").write_text("mine")
    _fails_in_one_line(
        capsys,
        ["export", "--out", str(target), "--tracking-uri", f"sqlite:///{tmp_path / 'none.db'}"],
        "already exists; pass --overwrite",
    )
    assert (target / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate", "--data", "data/social", "--calibration-end", "01/06/2025"],
        [
            "evaluate",
            "--data",
            "data/social",
            "--calibration-end",
            "2025-06-01",
            "--holdout-end",
            "30/06/2026",
        ],
        ["train", "--data", "data/social", "--calibration-end", "06/01/2025"],
        ["impact", "--data", "data/social", "--calibration-end", "1.6.2025"],
        ["validate", "--data", "data/social", "--now", "12/31/2026"],
        ["generate", "--start", "01/02/2024", "--out", "never-written"],
    ],
    ids=["evaluate", "evaluate-holdout", "train", "impact", "validate-now", "generate"],
)
def test_every_date_flag_takes_iso_only(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    _fails_in_one_line(capsys, argv, "is not a date in the expected form", "YYYY-MM-DD")
    assert not (ROOT / "never-written").exists()


def test_the_cli_defaults_are_the_documented_thresholds():
    import clvml.cli.score as cli
    from clvml.pipelines import score_checks

    assert cli.MAX_MEAN_CLV_CHANGE == score_checks.MAX_MEAN_CLV_CHANGE == 0.5
    assert cli.MAX_TIER_SHARE_PP == 100 * score_checks.MAX_TIER_SHARE_CHANGE == 15.0
