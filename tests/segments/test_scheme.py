"""Tests of the segment scheme: fitted thresholds, the record, storage with the model."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from clvml.exceptions import DataValidationError
from clvml.segments import (
    DEFAULT_CELLS,
    MatrixCell,
    SegmentScheme,
    assign_segments,
    resolve_segments,
)


def frame(clv, churn, ids=None) -> pd.DataFrame:
    n = len(clv)
    return pd.DataFrame(
        {
            "customer_id": ids if ids is not None else [f"c{i:05d}" for i in range(n)],
            "clv": np.asarray(clv, dtype=float),
            "churn_probability": np.asarray(churn, dtype=float),
        }
    )


def random_scores(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Random scores of ``n`` customers (log-normal clv, uniform churn probability)."""
    rng = np.random.default_rng(seed)
    return frame(rng.lognormal(3.0, 1.2, n), rng.uniform(0, 1, n))


def test_thresholds_hand_checked_and_ties_go_to_the_better_tier():
    # clv 200, 199, ..., 1: the top 1% closes after 2 customers (clv 199), 10% after 20 (181),
    # 50% after 100 (101); the value levels after 40 (161) and 100 (101)
    train = frame(np.arange(200, 0, -1), np.full(200, 0.5))
    scheme = SegmentScheme().fit(train)
    assert scheme.tier_thresholds_.tolist() == [199.0, 181.0, 101.0]
    assert scheme.value_level_thresholds_.tolist() == [161.0, 101.0]
    assert scheme.n_customers_ == 200
    new = frame([500.0, 199.0, 198.9, 181.0, 101.0, 100.99, -3.0], [0.0, 0.3, 0.59, 0.6, 1, 0, 0])
    out = scheme.assign(new)
    assert out["value_tier"].tolist() == [
        "top 1%", "top 1%", "top 10%", "top 10%", "next 40%", "rest", "rest",
    ]  # fmt: skip
    assert out["value_level"].tolist() == ["high"] * 4 + ["medium", "low", "low"]
    assert out["risk_level"].tolist() == ["low", "medium", "medium", "high", "high", "low", "low"]
    assert out["segment"].tolist() == [
        "Champions", "Watch closely", "Watch closely", "Save now", "Win back",
        "Develop cheaply", "Develop cheaply",
    ]  # fmt: skip
    assert (out["cell_name"] == out["segment"]).all()
    assert out["action"].iloc[3] == DEFAULT_CELLS[("high", "high")].action
    # on the fitted customers with distinct CLVs, thresholds and ranks agree exactly
    pd.testing.assert_frame_equal(scheme.assign(train), scheme.rank(train))
    # tied CLVs at a cut all go to the better tier: 3 customers share the top CLV
    tied = SegmentScheme().fit(frame([9.0, 9.0, 9.0] + [1.0] * 97, np.zeros(100)))
    assert (tied.assign(frame([9.0, 9.0, 9.0], np.zeros(3)))["value_tier"] == "top 1%").all()


def test_the_scheme_reproduces_the_model_thresholds_rule():
    """The rule CLVModel used at fit time: the CLV of the last customer inside each share."""
    clv = random_scores(4321, seed=5)["clv"].to_numpy()
    ranked = np.sort(clv)[::-1]
    expected = [ranked[int(np.ceil(c * clv.size)) - 1] for c in (0.01, 0.10, 0.50)]
    scheme = SegmentScheme().fit(random_scores(4321, seed=5))
    np.testing.assert_array_equal(scheme.tier_thresholds_, expected)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 400), min_size=1, max_size=6),
    seed=st.integers(0, 10_000),
    ties=st.booleans(),
)
def test_chunk_independent(sizes, seed, ties):
    rng = np.random.default_rng(seed)
    scheme = SegmentScheme().fit(random_scores(500, seed=seed))
    n = sum(sizes)
    clv = rng.lognormal(3.0, 1.2, n)
    if ties:  # many customers exactly at the thresholds
        clv[: n // 2] = rng.choice(scheme.tier_thresholds_, n // 2)
    scored = frame(clv, rng.uniform(0, 1, n))
    whole = scheme.assign(scored)
    bounds = np.cumsum([0, *sizes])
    parts = [scheme.assign(scored.iloc[a:b]) for a, b in itertools.pairwise(bounds)]
    chunked = pd.concat(parts)
    for col in ("value_tier", "segment", "value_level", "risk_level", "cell", "action"):
        assert (chunked[col].astype(str) == whole[col].astype(str)).all()
    # row order does not matter either
    shuffled = scheme.assign(scored.sample(frac=1.0, random_state=seed)).loc[whole.index]
    assert (shuffled["segment"].astype(str) == whole["segment"].astype(str)).all()


def test_labels_for_matches_assign_and_leaves_bad_rows_empty():
    scheme = SegmentScheme().fit(random_scores())
    scored = random_scores(300, seed=9)
    tiers, segments = scheme.labels_for(scored["clv"], scored["churn_probability"])
    out = scheme.assign(scored)
    assert tiers.tolist() == out["value_tier"].astype(str).tolist()
    assert segments.tolist() == out["segment"].astype(str).tolist()
    tiers, segments = scheme.labels_for(
        np.array([np.nan, 5.0, 5.0, np.inf]), np.array([0.5, np.nan, 1.5, 0.5])
    )
    assert tiers.tolist() == [None] * 4 and segments.tolist() == [None] * 4


def test_read_record_keeps_the_stored_labels():
    scheme = SegmentScheme().fit(random_scores())
    scored = random_scores(800, seed=1)
    stored = scheme.assign(scored)
    crm = scored.assign(
        value_tier=stored["value_tier"].astype(str).to_numpy(),
        segment=stored["segment"].astype(str).to_numpy(),
    )
    # a record is read, never re-ranked: a default scheme reading it changes nothing
    read = SegmentScheme().read_record(crm)
    cols = ["value_tier", "value_level", "risk_level", "cell", "segment", "cell_name", "action"]
    for col in cols:
        assert (read[col].astype(str) == stored[col].astype(str)).all(), col
    assert list(read["value_tier"].cat.categories) == ["top 1%", "top 10%", "next 40%", "rest"]
    # ranking these customers would have given other answers for some of them
    ranked = SegmentScheme().rank(crm)
    assert (ranked["segment"].astype(str) != read["segment"].astype(str)).any()
    with pytest.raises(DataValidationError, match=r"segment.*unknown to the segment scheme"):
        SegmentScheme().read_record(crm.assign(segment="VIP"))
    with pytest.raises(DataValidationError, match=r"value_tier.*without a stored value"):
        SegmentScheme().read_record(crm.assign(value_tier=[None] + ["rest"] * 799))
    with pytest.raises(DataValidationError, match=r"segment.*lack this column"):
        SegmentScheme().read_record(crm.drop(columns="segment"))


def test_resolve_segments_prefers_the_record():
    scheme = SegmentScheme().fit(random_scores())
    scored = random_scores(600, seed=2)
    stored = scheme.assign(scored)
    crm = scored.assign(
        value_tier=stored["value_tier"].astype(str).to_numpy(),
        segment=stored["segment"].astype(str).to_numpy(),
    )
    out, how = resolve_segments(crm)
    assert how == "record" and (out["segment"] == stored["segment"]).all()
    out, how = resolve_segments(crm, SegmentScheme(value_cuts=(0.05, 0.1)).fit(random_scores()))
    assert how == "record" and (out["segment"] == stored["segment"]).all()
    out, how = resolve_segments(scored, scheme)
    assert how == "scheme" and (out["segment"] == stored["segment"]).all()
    # empty stored columns (e.g. NULL in the CRM) are no record
    out, how = resolve_segments(scored.assign(value_tier=None, segment=None), scheme)
    assert how == "scheme"
    out, how = resolve_segments(scored)
    assert how == "ranked"
    assert out["value_tier"].value_counts()["top 1%"] == 6  # ceil(1% of 600)
    out, how = resolve_segments(crm, refit=SegmentScheme(tier_cuts=(0.5,), tier_labels="ab"))
    assert how == "ranked" and out["value_tier"].value_counts().to_dict() == {"a": 300, "b": 300}


def test_storage_round_trip_and_estimator_conventions():
    cells = {("high", "high"): MatrixCell("VIP rescue", "Call them today")}
    scheme = SegmentScheme(cells=cells, risk_thresholds=(0.2, 0.7))
    assert clone(scheme).get_params() == scheme.get_params()
    with pytest.raises(NotFittedError):
        scheme.assign(random_scores(10))
    with pytest.raises(NotFittedError):
        scheme.to_dict()
    fitted = scheme.fit(random_scores())
    assert fitted is scheme and not hasattr(clone(scheme), "tier_thresholds_")
    again = SegmentScheme.from_dict(json.loads(json.dumps(scheme.to_dict())))
    scored = random_scores(500, seed=4)
    pd.testing.assert_frame_equal(again.assign(scored), scheme.assign(scored))
    assert "VIP rescue" in set(again.assign(scored)["segment"].astype(str))


def test_bad_parameters_and_input_are_clvml_errors():
    with pytest.raises(DataValidationError, match="increasing shares"):
        SegmentScheme(tier_cuts=(0.5, 0.1), tier_labels="abc").fit(random_scores(10))
    with pytest.raises(DataValidationError, match="distinct labels"):
        SegmentScheme(tier_labels=("a", "b")).fit(random_scores(10))
    with pytest.raises(DataValidationError, match="value_cuts"):
        SegmentScheme(value_cuts=(0.5,)).fit(random_scores(10))
    with pytest.raises(DataValidationError, match="risk_thresholds"):
        SegmentScheme(risk_thresholds=(0.7, 0.3)).fit(random_scores(10))
    with pytest.raises(DataValidationError, match="unknown matrix cells"):
        SegmentScheme(cells={("huge", "high"): MatrixCell("x", "y")}).fit(random_scores(10))
    scheme = SegmentScheme().fit(random_scores(10))
    with pytest.raises(DataValidationError, match="must be finite"):
        scheme.assign(frame([1.0, np.nan], [0.1, 0.2]))
    with pytest.raises(DataValidationError, match="churn risk is needed"):
        scheme.assign(random_scores(5).drop(columns="churn_probability"))


def test_assign_segments_is_the_scheme_ranking_plus_rfm():
    scored = random_scores(700, seed=8)
    a = assign_segments(scored)
    r = SegmentScheme().rank(scored)
    pd.testing.assert_frame_equal(a, r)
