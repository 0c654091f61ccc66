"""Tests of the marketer segments (clvml.segments)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from clvml.exceptions import DataValidationError
from clvml.segments import (
    DEFAULT_CELLS,
    RFM_SEGMENT_RULES,
    MatrixCell,
    assign_segments,
    export_segment_lists,
    ltv_cac_by_channel,
    rfm_scores,
    rfm_segment_name,
    rfm_segments,
    segment_summary,
    value_risk_matrix,
    value_risk_table,
    value_tiers,
)


def frame(clv, churn=None, ids=None) -> pd.DataFrame:
    n = len(clv)
    ids = ids if ids is not None else [f"c{i:04d}" for i in range(n)]
    df = pd.DataFrame({"customer_id": ids, "clv": np.asarray(clv, dtype=float)})
    if churn is not None:
        df["churn_probability"] = np.asarray(churn, dtype=float)
    return df


# --------------------------------------------------------------------------- value tiers


def test_tiers_hand_checked_200_customers():
    # clv 200, 199, ..., 1: top 1% = ceil(2) = 2 customers, top 10% = 20, top 50% = 100
    df = frame(np.arange(200, 0, -1))
    tiers = value_tiers(df)
    assert tiers.value_counts(sort=False).tolist() == [2, 18, 80, 100]
    assert tiers.iloc[:2].tolist() == ["top 1%", "top 1%"]
    assert tiers.iloc[2] == "top 10%" and tiers.iloc[19] == "top 10%"
    assert tiers.iloc[20] == "next 40%" and tiers.iloc[99] == "next 40%"
    assert tiers.iloc[100] == "rest"
    assert tiers.index.name == "customer_id" and tiers.name == "value_tier"
    # 0.01 * 300 = 3.0000000000000004 in floating point: still 3 customers, not 4
    assert (value_tiers(frame(np.arange(300.0))) == "top 1%").sum() == 3


def test_tiers_ties_broken_by_customer_id():
    df = frame([5.0, 5.0, 5.0, 1.0], ids=["z", "b", "m", "a"])
    tiers = value_tiers(df, cuts=(0.25, 0.5, 0.75), labels=("t1", "t2", "t3", "t4"))
    # equal CLV: ascending id decides -> b, m, z; then a
    assert tiers.to_dict() == {"z": "t3", "b": "t1", "m": "t2", "a": "t4"}


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(st.integers(0, 6), min_size=1, max_size=300),
    seed=st.integers(0, 2**32 - 1),
)
def test_tier_invariants(values, seed):
    df = frame(values)
    tiers = value_tiers(df)
    n = len(df)
    # partition: every customer in exactly one tier, sizes from the cut points
    assert tiers.notna().all() and len(tiers) == n
    sizes = np.diff([0, *[math.ceil(round(c * n, 9)) for c in (0.01, 0.10, 0.50)], n])
    assert tiers.value_counts(sort=False).tolist() == sizes.tolist()
    # the top 1% holds a customer with the maximum CLV and is never empty
    assert df["clv"][tiers.to_numpy() == "top 1%"].max() == df["clv"].max()
    # better tier never has lower CLV than a worse tier
    codes = tiers.cat.codes.to_numpy()
    clv = df["clv"].to_numpy()
    for k in range(3):
        better, worse = clv[codes <= k], clv[codes > k]
        if len(better) and len(worse):
            assert better.min() >= worse.max()
    # deterministic: row order does not change anyone's tier
    shuffled = df.sample(frac=1.0, random_state=np.random.RandomState(seed % 2**31))
    assert value_tiers(shuffled).sort_index().equals(tiers.sort_index())


def test_tier_bad_input():
    with pytest.raises(DataValidationError, match="increasing shares"):
        value_tiers(frame([1.0, 2.0]), cuts=(0.5, 0.1), labels=("a", "b", "c"))
    with pytest.raises(DataValidationError, match="distinct labels"):
        value_tiers(frame([1.0, 2.0]), cuts=(0.5,), labels=("a", "b", "c"))
    with pytest.raises(DataValidationError, match="must be finite"):
        value_tiers(frame([1.0, np.nan]))
    with pytest.raises(DataValidationError, match="duplicated customer ids"):
        value_tiers(frame([1.0, 2.0], ids=["a", "a"]))
    with pytest.raises(DataValidationError, match="customer_id column"):
        value_tiers(pd.DataFrame({"clv": [1.0]}))
    with pytest.raises(DataValidationError, match="empty"):
        value_tiers(frame([]))
    with pytest.raises(DataValidationError, match="missing column"):
        value_tiers(frame([1.0]).rename(columns={"clv": "value"}))


# --------------------------------------------------------------------------- value x risk


def test_matrix_hand_checked_and_thresholds():
    # 10 customers, value by rank: top 20% (2) high, next 30% (3) medium, 5 low
    clv = [100, 90, 80, 70, 60, 50, 40, 30, 20, 10]
    churn = [0.6, 0.59, 0.3, 0.2999, 0.9, 0.1, 0.0, 1.0, 0.45, 0.3]
    m = value_risk_matrix(frame(clv, churn))
    assert m["value_level"].tolist() == ["high"] * 2 + ["medium"] * 3 + ["low"] * 5
    # 0.3 opens medium, 0.6 opens high
    assert m["risk_level"].tolist() == [
        "high",
        "medium",
        "medium",
        "low",
        "high",
        "low",
        "low",
        "high",
        "medium",
        "medium",
    ]
    assert m["cell"].iloc[0] == "high_value_high_risk"
    assert m["action"].iloc[0].startswith("Retention outreach by the social care team")
    assert m["cell_name"].iloc[3] == "Grow"  # medium value, low risk
    assert "Loyalty and referral" in DEFAULT_CELLS[("high", "low")].action
    assert "Low-cost automation" in m["action"].iloc[7]  # low value, high risk
    table = value_risk_table(m)
    assert table.loc["high", "high"] == 1 and table.loc["low", "medium"] == 2
    assert table.to_numpy().sum() == 10 and table.shape == (3, 3)
    by_value = value_risk_table(m, frame(clv).set_index("customer_id")["clv"])
    assert_allclose(by_value.to_numpy().sum(), sum(clv))
    assert_allclose(by_value.loc["high", "high"], 100.0)


def test_matrix_from_p_alive_custom_cells_and_errors():
    df = frame([10.0, 1.0]).assign(p_alive=[0.2, 0.95])
    custom = {("high", "high"): MatrixCell("VIP rescue", "Call them today")}
    m = value_risk_matrix(df, value_cuts=(0.5, 0.75), cells=custom)
    assert m["risk_level"].tolist() == ["high", "low"]  # churn = 1 - p_alive = 0.8, 0.05
    assert m["cell_name"].iloc[0] == "VIP rescue" and m["action"].iloc[0] == "Call them today"
    with pytest.raises(DataValidationError, match="unknown matrix cells"):
        value_risk_matrix(df, cells={("huge", "high"): MatrixCell("x", "y")})
    with pytest.raises(DataValidationError, match="risk_thresholds"):
        value_risk_matrix(df, risk_thresholds=(0.7, 0.3))
    with pytest.raises(DataValidationError, match="churn risk is needed"):
        value_risk_matrix(frame([1.0, 2.0]))
    with pytest.raises(DataValidationError, match=r"\[0, 1\]"):
        value_risk_matrix(frame([1.0, 2.0], [0.5, 1.5]))


# --------------------------------------------------------------------------- RFM


def test_rfm_rules_cover_the_grid_once():
    seen = {}
    for rs, fs, name in RFM_SEGMENT_RULES:
        for r in rs:
            for f in fs:
                assert (r, f) not in seen
                seen[(r, f)] = name
    assert len(seen) == 25
    assert rfm_segment_name(5, 5) == "Champions"
    assert rfm_segment_name(5, 1) == "New customers"
    assert rfm_segment_name(1, 4) == "At risk"
    assert rfm_segment_name(2, 2) == "Hibernating"
    assert rfm_segment_name(3, 4) == "Loyal customers"
    with pytest.raises(DataValidationError, match="1 to 5"):
        rfm_segment_name(0, 3)


def test_rfm_scores_hand_checked():
    # 10 customers, lifetimes layout; time since last purchase = T - recency
    df = pd.DataFrame(
        {
            "customer_id": [f"k{i}" for i in range(10)],
            "frequency": [0, 0, 0, 0, 1, 2, 3, 5, 8, 13],
            "recency": [0, 0, 0, 0, 10, 20, 30, 35, 38, 39],
            "T": [40] * 10,
            "monetary_value": [0, 0, 0, 0, 10, 20, 30, 40, 50, 60],
        }
    )
    s = rfm_segments(df)
    # frequency: four tied zeros share rank 1 -> score 1; then ranks 5..10 -> 1 + floor(5(m-1)/10)
    assert s["f_score"].tolist() == [1, 1, 1, 1, 3, 3, 4, 4, 5, 5]
    # since last purchase: 40 x4, 30, 20, 10, 5, 2, 1 -> smallest is best
    assert s["r_score"].tolist() == [1, 1, 1, 1, 3, 3, 4, 4, 5, 5]
    assert s["m_score"].tolist() == [1, 1, 1, 1, 3, 3, 4, 4, 5, 5]
    assert s["rfm_score"].iloc[-1] == "555"
    assert s["rfm_segment"].tolist() == (
        ["Hibernating"] * 4 + ["Need attention"] * 2 + ["Loyal customers"] * 2 + ["Champions"] * 2
    )
    # recency given directly as time since the last purchase, no monetary score
    direct = df.assign(recency=40 - df["recency"]).drop(columns=["T", "monetary_value"])
    s2 = rfm_scores(direct, T_col=None, monetary_col=None)
    assert s2["r_score"].tolist() == s["r_score"].tolist() and "m_score" not in s2
    assert s2["rfm_score"].iloc[0] == "11"
    # row order does not matter
    back = rfm_segments(df.iloc[::-1])
    assert back.sort_index().equals(s.sort_index())


def test_rfm_bad_input():
    df = pd.DataFrame(
        {
            "customer_id": ["a"],
            "frequency": [1],
            "recency": [5.0],
            "T": [3.0],
            "monetary_value": [1.0],
        }
    )
    with pytest.raises(DataValidationError, match="must not exceed T"):
        rfm_scores(df)
    with pytest.raises(DataValidationError, match="must be >= 0"):
        rfm_scores(df.assign(frequency=[-1], T=[6.0]))
    with pytest.raises(DataValidationError, match="missing column"):
        rfm_scores(df.drop(columns="monetary_value"))


def test_rfm_on_cdnow_summary():
    from clvml.data.datasets import load_cdnow_summary

    summary = load_cdnow_summary(with_spend=True).rename_axis("customer_id")
    seg = rfm_segments(summary)
    assert len(seg) == 2357 and seg["rfm_segment"].notna().all()
    # one-time buyers (1,411 with frequency 0) all share F = 1
    assert (seg.loc[summary.index[summary["frequency"] == 0].astype(str), "f_score"] == 1).all()
    # recency is nearly tie-free: every R quintile holds close to 20% of customers
    shares = seg["r_score"].value_counts(normalize=True)
    assert ((shares > 0.15) & (shares < 0.25)).all()
    assert seg["rfm_segment"].value_counts()["Champions"] > 0


# --------------------------------------------------------------------------- LTV:CAC


def test_ltv_cac_by_channel_hand_checked():
    df = pd.DataFrame(
        {
            "customer_id": list("abcdef"),
            "clv": [300.0, 100.0, 50.0, 40.0, 80.0, 0.0],
            "acquisition_channel": ["social", "social", "search", "search", "referral", "tv"],
            "acquisition_cost": [50.0, 50.0, 25.0, 20.0, 0.0, 0.0],
        }
    )
    t = ltv_cac_by_channel(df)
    # social 400 / 100 = 4; search 90 / 45 = 2; referral 80 / 0 = inf; tv 0 / 0 undefined
    assert t.index.tolist() == ["referral", "social", "search", "tv"]
    assert_allclose(t.loc[["social", "search"], "ltv_cac"], [4.0, 2.0])
    assert np.isinf(t.loc["referral", "ltv_cac"]) and np.isnan(t.loc["tv", "ltv_cac"])
    assert t["healthy"].tolist() == [True, True, False, False]
    assert t.loc["search", "verdict"] == "below 3:1"
    assert t.loc["social", "verdict"] == "healthy (>= 3:1)"
    assert t.loc["tv", "verdict"].startswith("undefined")
    assert_allclose(t.loc["search", ["ltv_mean", "cac_mean"]], [45.0, 22.5])
    # the rule is configurable
    assert not ltv_cac_by_channel(df, healthy_ratio=5.0).loc["social", "healthy"]
    with pytest.raises(DataValidationError, match="acquisition cost must be >= 0"):
        ltv_cac_by_channel(df.assign(acquisition_cost=-1.0))
    with pytest.raises(DataValidationError, match="missing acquisition channel"):
        ltv_cac_by_channel(df.assign(acquisition_channel=[None, *df["acquisition_channel"][1:]]))
    with pytest.raises(DataValidationError, match="missing column"):
        ltv_cac_by_channel(df.drop(columns="acquisition_cost"))


# --------------------------------------------------------------------------- summary and export


def test_segment_summary_hand_checked():
    df = frame([70.0, 20.0, 5.0, 5.0], [0.1, 0.2, 0.5, 0.9]).assign(tier=["x", "x", "y", "y"])
    s = segment_summary(df, by="tier")
    assert s["n_customers"].tolist() == [2, 2]
    assert_allclose(s["share_of_customers"], [0.5, 0.5])
    assert_allclose(s["share_of_value"], [0.9, 0.1])
    assert_allclose(s["mean_clv"], [45.0, 5.0])
    assert_allclose(s["mean_churn_probability"], [0.15, 0.7])
    with pytest.raises(DataValidationError, match="positive total"):
        segment_summary(df.assign(clv=[0.0, 0.0, 0.0, 0.0]), by="tier")
    with pytest.raises(DataValidationError, match="missing segment column"):
        segment_summary(df, by="nope")
    with pytest.raises(DataValidationError, match="without a segment"):
        segment_summary(df.assign(tier=["x", None, "y", "y"]), by="tier")


@settings(max_examples=40, deadline=None)
@given(
    clv=st.lists(st.floats(0.0, 1e5, allow_nan=False), min_size=1, max_size=200),
    seed=st.integers(0, 1000),
)
def test_summary_shares_sum_to_one(clv, seed):
    rng = np.random.default_rng(seed)
    df = frame(np.array(clv) + 0.01, rng.uniform(0, 1, len(clv)))
    assigned = assign_segments(df)
    for by in ("value_tier", "cell"):
        s = segment_summary(assigned, by=by)
        assert s["n_customers"].sum() == len(df)
        assert_allclose(s["share_of_customers"].sum(), 1.0)
        assert_allclose(s["share_of_value"].sum(), 1.0)


@pytest.fixture
def assigned_cdnow():
    from clvml.data.datasets import load_cdnow_summary

    summary = load_cdnow_summary(with_spend=True).rename_axis("customer_id").reset_index()
    rng = np.random.default_rng(7)
    # a simple stand-in prediction: spend x purchases, churn risk falling with recency
    summary["clv"] = summary["monetary_value"] * (summary["frequency"] + 1)
    noise = rng.uniform(0, 0.1, len(summary))
    summary["p_alive"] = np.clip(summary["recency"] / summary["T"] + noise, 0, 1)
    return assign_segments(summary)


def test_assign_segments_on_cdnow(assigned_cdnow):
    a = assigned_cdnow
    expected = {
        "value_tier",
        "value_level",
        "risk_level",
        "cell",
        "cell_name",
        "action",
        "r_score",
        "f_score",
        "m_score",
        "rfm_score",
        "rfm_segment",
        "churn_probability",
    }
    assert expected <= set(a.columns) and len(a) == 2357
    assert a[list(expected)].notna().all().all()
    assert a.loc[a["clv"].idxmax(), "value_tier"] == "top 1%"
    s = segment_summary(a, by="value_tier")
    assert s["n_customers"].tolist() == [24, 212, 943, 1178]
    # value is concentrated: the top 10% hold more than 10% of the predicted value
    assert s.loc[["top 1%", "top 10%"], "share_of_value"].sum() > 0.10


def test_export_segment_lists(tmp_path, assigned_cdnow):
    paths = export_segment_lists(assigned_cdnow, tmp_path, columns=["clv", "action"])
    assert set(paths) == {"top 1%", "top 10%", "next 40%", "rest"}
    assert paths["top 1%"].name == "value_tier_top_1pct.csv"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())
    top = pd.read_csv(paths["top 1%"], dtype={"customer_id": str})
    assert top.columns.tolist() == ["customer_id", "clv", "action"] and len(top) == 24
    assert top["clv"].is_monotonic_decreasing
    total = sum(len(pd.read_csv(p)) for p in paths.values())
    assert total == len(assigned_cdnow)
    cells = export_segment_lists(assigned_cdnow, tmp_path / "cells", by="cell")
    assert all(p.name.startswith("cell_") for p in cells.values())


def test_export_is_all_or_nothing(tmp_path, monkeypatch):
    df = frame([3.0, 2.0, 1.0]).assign(tier=["a", "b", "c"])
    first = export_segment_lists(df, tmp_path, by="tier")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    calls = {"n": 0}
    real = pd.DataFrame.to_csv

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", flaky)
    with pytest.raises(OSError, match="disk full"):
        export_segment_lists(df.assign(clv=[9.0, 8.0, 7.0]), tmp_path, by="tier")
    # no temporary file left behind and the previous lists are untouched
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert len(first) == 3
    with pytest.raises(DataValidationError, match="columns to export not found"):
        export_segment_lists(df, tmp_path, by="tier", columns=["nope"])


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def scored_file(tmp_path):
    rng = np.random.default_rng(3)
    n = 500
    df = pd.DataFrame(
        {
            "customer_id": [f"{i:05d}" for i in range(n)],
            "clv": rng.gamma(1.0, 100.0, n),
            "p_alive": rng.uniform(0, 1, n),
            "value_tier": "stale",  # left over from an earlier run: recomputed
        }
    )
    path = tmp_path / "scores.csv"
    df.to_csv(path, index=False)
    return df, path


def test_cli_segments_from_file_with_export(tmp_path, scored_file, capsys):
    import clvml.cli.segments  # noqa: F401  (registers the command)
    from clvml.cli._app import run

    df, path = scored_file
    customers = pd.DataFrame(
        {
            "customer_id": df["customer_id"],
            "acquisition_channel": np.where(np.arange(len(df)) % 2, "social", "search"),
            "acquisition_cost": 20.0,
        }
    )
    customers.to_csv(tmp_path / "customers.csv", index=False)
    out_dir = tmp_path / "lists"
    code = run(["segments", "--scores", str(path), "--export", str(out_dir),
                "--customers", str(tmp_path / "customers.csv")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "500 customers" in out and "top 1%" in out and "next 40%" in out
    assert "LTV:CAC by acquisition channel" in out and "social" in out
    files = sorted(p.name for p in out_dir.iterdir())
    assert files == ["value_tier_next_40pct.csv", "value_tier_rest.csv",
                     "value_tier_top_10pct.csv", "value_tier_top_1pct.csv"]  # fmt: skip
    top = pd.read_csv(out_dir / "value_tier_top_1pct.csv", dtype={"customer_id": str})
    assert len(top) == 5 and top["customer_id"].iloc[0] == df.loc[df["clv"].idxmax(), "customer_id"]
    assert (top["value_tier"] == "top 1%").all()


def test_cli_segments_from_crm_by_cell(tmp_path, scored_file, capsys, monkeypatch):
    import sqlalchemy as sa

    import clvml.cli._app
    import clvml.cli.segments
    from clvml.cli._app import run

    df, _ = scored_file
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = sa.create_engine(url)
    df.to_sql("customer_scores", engine, index=False)
    engine.dispose()
    monkeypatch.setattr(clvml.cli._app.console, "width", 250)  # one line per table row
    code = run(["segments", "--crm-url", url, "--by", "cell"])
    out = capsys.readouterr().out
    assert code == 0 and "high_value_high_risk" in out and "social care team" in out


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ([], "exactly one of --scores"),
        (["--crm-url", "sqlite:///x.db", "--table", "s; DROP TABLE t"], "table name"),
        (["--scores", "nope.csv"], "no such file"),
        (["--scores", "{scores}", "--by", "nope"], "missing segment column"),
        (["--scores", "{scores}", "--tier-cuts", "a,b"], "comma-separated numbers"),
        (["--scores", "{scores}", "--risk-thresholds", "0.9,0.1"], "risk_thresholds"),
    ],
)
def test_cli_segments_bad_input(tmp_path, scored_file, capsys, monkeypatch, args, match):
    import clvml.cli.segments  # noqa: F401
    from clvml.cli._app import run

    monkeypatch.chdir(tmp_path)
    _, path = scored_file
    code = run(["segments", *(a.replace("{scores}", str(path)) for a in args)])
    err = capsys.readouterr().err
    assert code == 2 and match in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
