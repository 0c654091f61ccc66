"""One customer, one answer: the CRM rows, the report and ``clvml segments`` agree.

The user's path, through the CLI (``clvml.cli.run``), on the demo data (data/social)
and on a generated world: ``clvml train`` -> ``clvml score`` (twice, in chunks of
different sizes) -> ``clvml report`` -> ``clvml segments --export``. For every
customer, the ``value_tier`` and ``segment`` of the CRM row equal what the report's
inputs resolve to and what the exported lists of ``clvml segments`` hold; the counts
printed by the report and by ``clvml segments`` equal the CRM's counts; every
exported file holds only its own segment. Ranking the scored customers among
themselves (what the report and ``clvml segments`` did before the scheme was stored)
is checked to disagree with the CRM, so the agreement is not trivially true.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

import clvml.cli  # noqa: F401  (registers every command)
from clvml.cli._app import run

ROOT = Path(__file__).resolve().parents[2]

#: Two methods, the churn probability from the hybrid's classifier; short boosting.
FAST_CONFIG = """
seed = 3

[model]
methods = ["btyd", "hybrid"]

[model.params]
max_iter = 30
n_draws = 20
"""


def _read_crm(url: str) -> pd.DataFrame:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            frame = pd.read_sql_table("customer_scores", conn)
    finally:
        engine.dispose()
    return frame.astype({"customer_id": str}).set_index("customer_id").sort_index()


def _cli(args: list[str], capsys=None) -> str:
    with threadpool_limits(1, user_api="openmp"):
        code = run(args)
    if capsys is None:  # module fixtures: the output goes to the terminal
        assert code == 0, args
        return ""
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


@pytest.fixture(scope="module", params=["demo", "generated"])
def scored(request, tmp_path_factory):
    """Train on one data set and score it twice (chunks of 100,000 and 333) through the CLI."""
    root = tmp_path_factory.mktemp(f"agree_{request.param}")
    if request.param == "demo":
        data = root / "social"
        shutil.copytree(ROOT / "data" / "social", data)
    else:
        data = root / "world"
        _cli(["generate", "--out", str(data), "--customers", "3000", "--seed", "11"])
    config = root / "fast.toml"
    config.write_text(FAST_CONFIG)
    store = f"sqlite:///{root / 'mlruns.db'}"
    _cli(["train", "--data", str(data), "--config", str(config), "--tracking-uri", store])
    crm = {}
    for chunk in (100_000, 333):
        crm[chunk] = f"sqlite:///{root / f'crm_{chunk}.db'}"
        _cli(
            ["score", "--data", str(data), "--crm-url", crm[chunk], "--tracking-uri", store,
             "--chunk-size", str(chunk)]
        )  # fmt: skip
    return {
        "root": root,
        "data": data,
        "store": store,
        "crm": crm[100_000],
        "crm_chunked": crm[333],
    }


def test_chunks_of_different_sizes_give_identical_tiers(scored):
    whole, chunked = _read_crm(scored["crm"]), _read_crm(scored["crm_chunked"])
    assert len(whole) >= 3000 and whole.index.equals(chunked.index)
    assert whole["value_tier"].notna().all() and whole["segment"].notna().all()
    pd.testing.assert_series_equal(whole["value_tier"], chunked["value_tier"])
    pd.testing.assert_series_equal(whole["segment"], chunked["segment"])
    # more than one tier and segment are used: the comparison is not between constants
    assert whole["value_tier"].nunique() == 4 and whole["segment"].nunique() >= 6


def test_crm_rows_are_the_stored_scheme_and_ranking_would_disagree(scored):
    from clvml.segments import SegmentScheme
    from clvml.tracking.pyfunc import scheme_of
    from clvml.tracking.scoring_model import load_scoring_model

    crm = _read_crm(scored["crm"])
    loaded = load_scoring_model("models:/clvml@champion", tracking_uri=scored["store"])
    scheme = scheme_of(loaded.pyfunc)
    assert scheme is not None and scheme.n_customers_ > 0
    estimator = loaded.pyfunc.unwrap_python_model().model_
    if hasattr(estimator, "tier_thresholds_"):  # the estimator's own thresholds, while it has them
        np.testing.assert_array_equal(scheme.tier_thresholds_, estimator.tier_thresholds_)
        np.testing.assert_array_equal(
            scheme.value_level_thresholds_, estimator.value_level_thresholds_
        )
    # the CRM's labels are the scheme's thresholds applied to the CRM's own numbers
    again = scheme.assign(crm.reset_index()[["customer_id", "clv", "churn_probability"]])
    assert (again["value_tier"].astype(str) == crm["value_tier"]).all()
    assert (again["segment"].astype(str) == crm["segment"]).all()
    # ... and not a ranking of the scored customers: re-ranking disagrees for many of them
    ranked = SegmentScheme().rank(crm.reset_index())
    differ = (ranked["segment"].astype(str) != crm["segment"]) | (
        ranked["value_tier"].astype(str) != crm["value_tier"]
    )
    assert differ.sum() > 0.01 * len(crm)


def _report_counts(section: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", section, flags=re.S)
    cells = [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)] for r in rows]
    return [c for c in cells if c]  # the header row has <th> cells only


def test_report_counts_and_rows_equal_the_crm(scored, tmp_path, capsys):
    from clvml.pipelines.report import load_report_inputs
    from clvml.segments import resolve_segments

    crm = _read_crm(scored["crm"])
    # the report's inputs, resolved as build_report resolves them: per customer
    inputs = load_report_inputs(crm_url=scored["crm"], tracking_uri=scored["store"])
    assigned, how = resolve_segments(inputs.scores, inputs.scheme)
    assert how == "record"
    assigned = assigned.sort_index()
    assert assigned.index.equals(crm.index)
    assert (assigned["value_tier"].astype(str) == crm["value_tier"]).all()
    assert (assigned["segment"].astype(str) == crm["segment"]).all()
    assert (assigned["cell_name"].astype(str) == crm["segment"]).all()

    out = tmp_path / "report.html"
    _cli(["report", "--out", str(out), "--crm-url", scored["crm"],
          "--tracking-uri", scored["store"], "--top", "1000"], capsys)  # fmt: skip
    page = out.read_text(encoding="utf-8")
    tiers = _report_counts(page.split('id="tiers"')[1].split("</section>")[0])
    shown = {r[0]: int(r[1].replace(",", "")) for r in tiers}
    assert shown == crm["value_tier"].value_counts().to_dict()
    cells = _report_counts(page.split('id="matrix"')[1].split("</section>")[0])
    shown = {r[0]: int(r[3].replace(",", "")) for r in cells}
    assert shown == crm["segment"].value_counts().to_dict()
    # the one list of customers the report shows: high value at high risk, with their tier
    top = _report_counts(page.split('id="top-risk"')[1].split("</section>")[0])
    save_now = crm.index[crm["segment"] == "Save now"]
    assert len(top) == min(1000, len(save_now)) > 0
    for row in top:
        assert crm.loc[row[0], "segment"] == "Save now"
        assert crm.loc[row[0], "value_tier"] == row[-1]


@pytest.mark.parametrize("by", ["segment", "value_tier"])
def test_segments_command_lists_and_counts_equal_the_crm(scored, tmp_path, capsys, monkeypatch, by):
    import clvml.cli._app

    crm = _read_crm(scored["crm"])
    monkeypatch.setattr(clvml.cli._app.console, "width", 250)  # one line per table row
    lists = tmp_path / "lists"
    out = _cli(["segments", "--crm-url", scored["crm"], "--by", by, "--export", str(lists)], capsys)
    assert "as stored with the scores (the record)" in out
    # printed counts per segment
    counts = crm[by].value_counts()
    for label, n in counts.items():
        assert re.search(rf"│ {re.escape(label)}\s+│\s+{n:,} │", out), (label, n)
    # exported lists: each file holds only its own segment; together, every CRM row
    files = sorted(lists.iterdir())
    assert len(files) == len(counts)
    seen = []
    for path in files:
        part = pd.read_csv(path, dtype={"customer_id": str})
        labels = part[by].unique()
        assert len(labels) == 1, (path.name, labels)
        assert path.name == f"{by}_{_slug(labels[0])}.csv"
        if by == "segment":
            assert (part["cell_name"] == labels[0]).all()
        seen.append(part.set_index("customer_id")[["value_tier", "segment"]])
    listed = pd.concat(seen).sort_index()
    assert listed.index.equals(crm.index)
    assert (listed["value_tier"] == crm["value_tier"]).all()
    assert (listed["segment"] == crm["segment"]).all()


def _slug(label: str) -> str:
    text = label.strip().lower().replace("%", "pct").replace("'", "")
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")
