"""compare_methods: every method judged on the same holdout, never fitted on it."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from clvml.evaluation.comparison import TABLE_COLUMNS, _resolve_mode, compare_methods
from clvml.evaluation.value_plots import (
    plot_decile_chart,
    plot_gain_curves,
    save_comparison_plots,
)

matplotlib.use("Agg")
FAST = {"max_iter": 30}


@pytest.fixture(scope="module")
def world(make_world):
    return make_world(1200, random_state=5)


def _window(w):
    return {
        "calibration_end": w.calibration_end - pd.Timedelta(days=1),
        "holdout_end": w.observation_end - pd.Timedelta(days=1),
    }


@pytest.fixture(scope="module")
def result(world):
    w = world
    return compare_methods(
        w.transactions, w.engagement, w.customers, truth=w.truth, **_window(w), **FAST
    )


def test_table_rows_columns_and_reference_rows(result):
    t = result.table
    assert list(t.columns) == list(TABLE_COLUMNS)
    assert list(t["method"]) == [
        "closed_form", "btyd", "btyd_covariates", "pareto_nbd", "btyd_all_spend",
        "pareto_nbd_all_spend", "hybrid", "ml", "ml_two_part", "blend", "ml_level", "ml_anchored",
        "past spend", "oracle",
        "truth",
    ]  # fmt: skip
    assert result.mode == "time" and "earlier window" in result.supervision
    by = t.set_index("method")
    # planted truth ranks best; every model beats random; past spend has no churn columns
    assert (by.loc["truth", "normalized_gini"] > by["normalized_gini"].drop("truth")).all()
    assert (by["normalized_gini"] > 0.3).all()
    assert by.loc["past spend", ["roc_auc", "pr_auc", "brier"]].isna().all()
    assert by.loc[["btyd", "hybrid", "truth"], "roc_auc"].between(0.6, 1).all()
    # BG/NBD + GG is nearly unbiased on a BG/NBD + GG world
    assert abs(by.loc["btyd", "total_bias"]) < 0.15
    realised = result.predictions["realised_revenue"].sum()
    np.testing.assert_allclose(by["realised_total"], realised)
    assert result.best() in set(t["method"]) - {"truth", "past spend", "oracle"}
    # the attainable oracle: each row's Gini as a share of the oracle's
    np.testing.assert_allclose(
        by["oracle_share"], by["normalized_gini"] / by.loc["oracle", "normalized_gini"]
    )
    assert by.loc["oracle", "oracle_share"] == 1.0
    # Bayes-optimal given the history: it out-ranks every method, and the truth (which
    # knows the latent state) out-ranks it
    methods = by.drop(["oracle", "truth", "past spend"])
    assert (methods["oracle_share"] < 1).all() and by.loc["truth", "oracle_share"] > 1


def test_deciles_and_predictions(result):
    d = result.deciles
    assert set(d["method"]) == set(result.table["method"])
    assert (d.groupby("method")["customers"].sum() == len(result.predictions)).all()
    np.testing.assert_allclose(d.groupby("method")["share_of_realised"].sum(), 1.0)
    p = result.predictions
    assert {"clv_btyd", "past_spend", "truth", "realised_revenue", "churned", "fold"} <= set(p)


def test_time_split_never_reads_the_holdout(world):
    """Changing every purchase after the calibration end leaves every prediction unchanged."""
    w = world
    win = _window(w)
    tx = w.transactions
    after = tx["timestamp"] >= w.calibration_end
    rng = np.random.default_rng(0)
    changed = tx.assign(
        amount=np.where(after, tx["amount"] * rng.uniform(0.1, 5, len(tx)), tx["amount"])
    )
    kw = {"supervised": "time", "methods": ("btyd", "hybrid", "ml", "blend"), **FAST}
    a = compare_methods(tx, w.engagement, w.customers, **win, **kw).predictions
    b = compare_methods(changed, w.engagement, w.customers, **win, **kw).predictions
    cols = ["clv_btyd", "clv_hybrid", "clv_ml", "clv_blend"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert not np.allclose(a["realised_revenue"], b["realised_revenue"])


def test_customer_folds_never_read_the_evaluated_customers_holdout(world):
    """A customer's own holdout purchases do not change that customer's prediction."""
    w = world
    win = _window(w)
    kw = {"supervised": "customers", "methods": ("btyd", "ml", "blend"), **FAST}
    a = compare_methods(w.transactions, **win, **kw)
    fold0 = a.predictions.index[a.predictions["fold"] == 0]
    tx = w.transactions
    mask = tx["customer_id"].astype(str).isin(fold0) & (tx["timestamp"] >= w.calibration_end)
    changed = tx.assign(amount=np.where(mask, tx["amount"] * 7.0, tx["amount"]))
    b = compare_methods(changed, **win, **kw)
    assert a.mode == b.mode == "customers" and "cross-fitted over 2" in a.supervision
    cols = ["clv_btyd", "clv_ml", "clv_blend"]
    pd.testing.assert_frame_equal(a.predictions.loc[fold0, cols], b.predictions.loc[fold0, cols])
    other = a.predictions.index[a.predictions["fold"] == 1]
    # the other fold's models did learn from the changed labels
    assert not np.allclose(a.predictions.loc[other, "clv_ml"], b.predictions.loc[other, "clv_ml"])


def test_auto_mode_follows_the_history_length():
    tx = pd.DataFrame({"timestamp": pd.to_datetime(["2024-01-01", "2024-06-01"])})
    mode, why = _resolve_mode(tx, pd.Timestamp("2024-06-30"), pd.Timestamp("2024-12-15"), "auto")
    assert mode == "time" and "auto" in why
    # too short for an earlier window: label-free methods only (the rule train follows too),
    # whether asked for "auto" or "time"; customer folds only when asked for
    for asked in ("auto", "time"):
        mode, why = _resolve_mode(tx, pd.Timestamp("2024-03-31"), pd.Timestamp("2024-12-31"), asked)
        assert mode == "none" and "shorter than" in why and "label-free" in why
    mode, _ = _resolve_mode(tx, pd.Timestamp("2024-03-31"), pd.Timestamp("2024-12-31"), "customers")
    assert mode == "customers"
    with pytest.raises(ValueError, match="supervised"):
        _resolve_mode(tx, pd.Timestamp("2024-03-31"), pd.Timestamp("2024-12-31"), "x")


def test_plots(result, tmp_path):
    p = result.predictions
    ax = plot_decile_chart(p["realised_revenue"], p["clv_btyd"])
    assert len(ax.patches) == 20
    ax = plot_gain_curves(p["realised_revenue"], {"btyd": p["clv_btyd"], "ml": p["clv_ml"]})
    assert len(ax.lines) == 4
    files = save_comparison_plots(result, tmp_path)
    assert {f.name for f in files} >= {
        "gain_curves.png",
        "deciles_btyd.png",
        "deciles_past_spend.png",
    }
    assert all(f.stat().st_size > 0 for f in files)


@pytest.mark.slow
def test_cdnow_full_comparison_against_the_published_references():
    """Full CDNOW log, 39-week calibration and holdout (references in issue 6 / data README)."""
    from clvml.data.datasets import CDNOW_CALIBRATION_END, CDNOW_OBSERVATION_END, load_cdnow_master

    res = compare_methods(
        load_cdnow_master(),
        calibration_end=CDNOW_CALIBRATION_END,
        holdout_end=CDNOW_OBSERVATION_END,
        methods=("closed_form", "btyd", "hybrid", "ml", "blend"),
        supervised="customers",
    )
    by = res.table.set_index("method")
    # 272 days of history before the cut-off: no earlier 39-week window; the customer folds
    # (asked for: the default would leave the supervised methods out) are not deployable
    assert res.mode == "customers" and "NOT DEPLOYABLE" in res.supervision
    # lifetimes' BG/NBD + Gamma-Gamma: Gini 0.68, total -14%; ranking by past spend: 0.69
    assert by.loc["btyd", "normalized_gini"] == pytest.approx(0.68, abs=0.015)
    assert -0.20 < by.loc["btyd", "total_bias"] < -0.10
    assert by.loc["past spend", "normalized_gini"] == pytest.approx(0.69, abs=0.015)
    # the stacked ML model beats both references and gets the total within 5%
    assert by.loc["ml", "normalized_gini"] > by.loc[["btyd", "past spend"], "normalized_gini"].max()
    assert abs(by.loc["ml", "total_bias"]) < 0.05
    # issue 6's target: the best method (blend of ml and the closed form) at a normalised
    # Gini of at least 0.72 with the total within 5%
    assert by.loc["blend", "normalized_gini"] >= 0.72
    assert abs(by.loc["blend", "total_bias"]) < 0.05
