"""``clvml segments`` and the report read the stored value_tier/segment instead of re-ranking."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import clvml.cli._app
import clvml.cli.segments
from clvml.cli._app import run
from clvml.reporting import ReportInputs, build_report
from clvml.segments import SegmentScheme


@pytest.fixture
def crm_rows() -> tuple[pd.DataFrame, SegmentScheme]:
    """Scores labelled by a scheme fitted on other (training) customers, as the CRM holds them."""
    rng = np.random.default_rng(12)
    train = pd.DataFrame(
        {"customer_id": [f"t{i}" for i in range(1000)], "clv": rng.lognormal(3.0, 1.0, 1000)}
    )
    scheme = SegmentScheme().fit(train)
    n = 700
    scores = pd.DataFrame(
        {
            "customer_id": [f"{i:05d}" for i in range(n)],
            "clv": rng.lognormal(2.6, 1.0, n),  # a later, poorer population: ranks differ
            "churn_probability": rng.uniform(0, 1, n),
        }
    )
    tiers, segments = scheme.labels_for(scores["clv"], scores["churn_probability"])
    return scores.assign(value_tier=tiers, segment=segments), scheme


def test_segments_cli_shows_and_exports_the_record(tmp_path, crm_rows, capsys, monkeypatch):
    scores, _ = crm_rows
    ranked = SegmentScheme().rank(scores.drop(columns=["value_tier", "segment"]))
    assert (ranked["segment"].astype(str).to_numpy() != scores["segment"].to_numpy()).sum() > 50
    path = tmp_path / "scores.csv"
    scores.to_csv(path, index=False)
    monkeypatch.setattr(clvml.cli._app.console, "width", 250)
    out_dir = tmp_path / "lists"
    code = run(["segments", "--scores", str(path), "--by", "segment", "--export", str(out_dir)])
    out = capsys.readouterr().out
    assert code == 0 and "(the record)" in out
    counts = scores["segment"].value_counts()
    for label, n in counts.items():
        assert re.search(rf"│ {re.escape(label)}\s+│\s+{n:,} │", out), (label, n)
    by_id = scores.set_index("customer_id")
    files = sorted(out_dir.iterdir())
    assert len(files) == len(counts)
    for f in files:
        part = pd.read_csv(f, dtype={"customer_id": str})
        assert part["segment"].nunique() == 1 and (part["cell_name"] == part["segment"]).all()
        assert (by_id.loc[part["customer_id"], "segment"].to_numpy() == part["segment"]).all()
        assert (by_id.loc[part["customer_id"], "value_tier"].to_numpy() == part["value_tier"]).all()
    assert sum(len(pd.read_csv(f)) for f in files) == len(scores)


def test_segments_cli_what_if_ranks_and_says_so(tmp_path, crm_rows, capsys, monkeypatch):
    scores, _ = crm_rows
    monkeypatch.setattr(clvml.cli._app.console, "width", 250)
    path = tmp_path / "scores.csv"
    scores.to_csv(path, index=False)
    code = run(["segments", "--scores", str(path), "--tier-cuts", "0.5"])
    out = capsys.readouterr().out
    assert code == 0 and "a what-if, not the stored record" in out
    assert "top 50%" in out and "350" in out


def test_segments_cli_model_without_scheme_source_is_one_line(tmp_path, crm_rows, capsys):
    scores, _ = crm_rows
    path = tmp_path / "scores.csv"
    scores.drop(columns=["value_tier", "segment"]).to_csv(path, index=False)
    code = run(["segments", "--scores", str(path), "--model", str(tmp_path / "no-model")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1


def _tier_counts(page: str) -> dict[str, int]:
    section = page.split('id="tiers"')[1].split("</section>")[0]
    rows = re.findall(r"<tr><td>([^<]+)</td><td class=\"n\">([\d,]+)</td>", section)
    return {k: int(v.replace(",", "")) for k, v in rows}


def test_report_counts_the_record_or_applies_the_scheme(crm_rows):
    scores, scheme = crm_rows
    expected = scores["value_tier"].value_counts().to_dict()
    page = build_report(ReportInputs(scores=scores), lang="en")
    assert _tier_counts(page) == expected
    assert "the ones stored with the scores" in page
    bare = scores.drop(columns=["value_tier", "segment"])
    page = build_report(ReportInputs(scores=bare, scheme=scheme, scheme_model="clvml 3"))
    assert _tier_counts(page) == expected and "stored with model clvml 3" in page
    page = build_report(ReportInputs(scores=bare), lang="en")
    assert _tier_counts(page) != expected and "ranked among themselves" in page
