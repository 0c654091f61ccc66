"""Churn probabilities calibrated whatever the row order (issue #14, point 4), on CDNOW.

CDNOW's customer ids follow the acquisition date (Spearman 0.97), so rows in id order are
rows in cohort order: unshuffled calibration folds fitted each member on one cohort and
calibrated it on another (ECE 0.037-0.043 before the fix). The rows are tried in id order
and shuffled; the expected calibration error (10 equal-width bins) must stay within 0.02.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from clvml.evaluation.classification import churn_metrics, expected_calibration_error
from clvml.evaluation.comparison import compare_methods
from clvml.features.dataset import holdout_targets
from clvml.features.frames import FrameBuilder
from clvml.models.churn import (
    fit_offset_stack,
    level_shift,
    make_churn_classifier,
    predict_churn,
    predict_offset_stack,
    shift_probability,
)
from clvml.models.cv_folds import CustomerFolds

RFM = ["frequency", "recency", "T", "monetary_value"]


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    with threadpool_limits(1, user_api="openmp"):
        yield


@pytest.fixture(scope="module")
def cdnow_design(cdnow_transactions):
    frame = FrameBuilder(cdnow_transactions).at("1997-09-30").frame
    y = holdout_targets(cdnow_transactions, frame.index, start="1997-09-30", end="1998-06-30")
    return frame, y["churned"]


@pytest.mark.parametrize("order", ["id", "shuffled"])
def test_calibrated_in_id_order_and_shuffled(cdnow_design, order):
    frame, churned = cdnow_design
    X = frame if order == "id" else frame.sample(frac=1.0, random_state=1)
    y = churned.loc[X.index].to_numpy()
    train = np.arange(len(X)) % 2 == 0  # both halves span every cohort
    model = make_churn_classifier(RFM).fit(X[train], y[train])
    p = predict_churn(model, X[~train]).to_numpy()
    assert expected_calibration_error(y[~train], p) <= 0.02
    # every calibration member sees every cohort: none is off the base rate
    members = model.named_steps["classifier"].calibrated_classifiers_
    Z = model.named_steps["features"].transform(X[~train])
    for member in members:
        assert abs(member.predict_proba(Z)[:, 1].mean() - y[train].mean()) < 0.02


def test_folds_are_shuffled_stratified_and_grouped():
    y = np.array([0, 1] * 30)
    X = pd.DataFrame({"x": np.arange(60)}, index=[f"c{i // 3:02d}" for i in range(60)])
    folds = list(CustomerFolds(3, random_state=0).split(X, y))
    assert len(folds) == 3
    for train, test in folds:  # a customer's rows never straddle a fold
        assert set(X.index[train]).isdisjoint(X.index[test])
    unique = X.reset_index(drop=True)
    tests = [t for _, t in CustomerFolds(3, random_state=0).split(unique, y)]
    assert any(np.diff(t).max() > 1 for t in tests)  # not contiguous blocks
    for t in tests:  # stratified
        assert abs(y[t].mean() - 0.5) < 0.1
    again = [t for _, t in CustomerFolds(3, random_state=0).split(unique, y)]
    assert all(np.array_equal(a, b) for a, b in zip(tests, again, strict=True))


def test_level_shift_hits_the_target_mean_and_keeps_the_order():
    rng = np.random.default_rng(0)
    p = rng.beta(2, 3, 1000)
    for target in (0.1, 0.4, 0.9):
        q = shift_probability(p, level_shift(p, target))
        assert abs(q.mean() - target) < 1e-8
        assert np.array_equal(np.argsort(p, kind="stable"), np.argsort(q, kind="stable"))
    assert level_shift(np.array([0.0, 1.0]), 0.3) == 0.0


def test_offset_stack_recovers_a_planted_offset_the_booster_cannot_see():
    # planted: logit P(churn) = -0.5 + x + 1.5 * logit(o); the booster sees x only, the
    # stack gets o as an offset and must weight it 1.5 (the booster learnt x's slope
    # marginalised over o, attenuated, so the stack weights the booster's logit above 1)
    rng = np.random.default_rng(3)
    n = 6000
    x = rng.normal(size=n)
    o = rng.uniform(0.05, 0.95, n)
    y = rng.random(n) < 1.0 / (1.0 + np.exp(-(-0.5 + x + 1.5 * np.log(o / (1 - o)))))
    X = pd.DataFrame({"x": x}, index=[f"c{i}" for i in range(n)])
    train = np.arange(n) < n // 2
    model = make_churn_classifier(["x"]).fit(X[train], y[train])
    stack = fit_offset_stack(model, X[train], y[train], [o[train]])
    assert abs(stack.coef[1] - 1.5) < 0.15
    assert stack.coef[0] > 1.0
    p = predict_offset_stack(model, stack, X[~train], [o[~train]])
    truth = 1.0 / (1.0 + np.exp(-(-0.5 + x[~train] + 1.5 * np.log(o[~train] / (1 - o[~train])))))
    assert np.abs(p - truth).mean() < 0.05  # measured 0.039 (trees: step functions of x)
    # the classifier alone, blind to o, is far from the truth
    alone = predict_churn(model, X[~train]).to_numpy()
    assert np.abs(alone - truth).mean() > 0.1


def _logrfm(frame: pd.DataFrame) -> np.ndarray:
    cols = [frame[c].fillna(0.0).to_numpy(dtype=float) for c in RFM]
    return np.log1p(np.column_stack(cols))


def _shuffled_ids(transactions: pd.DataFrame) -> pd.DataFrame:
    ids = transactions["customer_id"].unique()
    perm = np.random.default_rng(5).permutation(len(ids))
    new = dict(zip(ids, [f"x{k:05d}" for k in perm], strict=True))
    return transactions.assign(customer_id=transactions["customer_id"].map(new))


@pytest.mark.slow
@pytest.mark.parametrize("order", ["id", "shuffled"])
@pytest.mark.parametrize(
    ("mode", "calibration_end", "max_ece"),
    [
        ("customers", "1997-09-30", 0.02),  # measured 0.006 (id order), 0.008 (shuffled)
        # the time split is NOT within the 0.02: the classifier learns on younger
        # customers (measured 0.021 in id order and 0.028 shuffled with the Pareto/NBD +
        # BG/NBD offset stack; 0.026 / 0.032 with the level shift alone, 0.049 before);
        # see docs/churn.md and test_time_split_target_missed
        ("time", "1997-12-31", 0.04),
    ],
)
def test_compare_methods_churn_calibrated_and_ties_logistic(
    cdnow_transactions, order, mode, calibration_end, max_ece
):
    tx = cdnow_transactions if order == "id" else _shuffled_ids(cdnow_transactions)
    res = compare_methods(
        tx,
        calibration_end=calibration_end,
        holdout_end="1998-06-30",
        supervised=mode,
        methods=("closed_form",),
    )
    pred = res.predictions
    y = pred["churned"].to_numpy()
    p = pred["churn_probability_classifier"].to_numpy()
    m = churn_metrics(y, p)
    assert m["ece"] <= max_ece
    # the baseline: a logistic regression on log RFM, trained the same way
    builder = FrameBuilder(tx)
    c = pd.Timestamp(calibration_end)
    frame = builder.at(c).frame.loc[pred.index]
    if mode == "time":
        c0 = c - (pd.Timestamp("1998-06-30") - c)
        train = builder.at(c0).frame
        y_train = holdout_targets(tx, train.index, start=c0, end=c)["churned"]
        lr = LogisticRegression(max_iter=1000).fit(_logrfm(train), y_train)
        p_lr = lr.predict_proba(_logrfm(frame))[:, 1]
    else:
        p_lr = np.zeros(len(frame))
        for k in np.unique(pred["fold"]):
            test = pred["fold"].to_numpy() == k
            lr = LogisticRegression(max_iter=1000).fit(_logrfm(frame[~test]), y[~test])
            p_lr[test] = lr.predict_proba(_logrfm(frame[test]))[:, 1]
    base = churn_metrics(y, p_lr)
    # ties or beats: Brier no worse; ROC AUC within 0.002 (time split: 0.8059 vs 0.8054)
    assert m["brier"] <= base["brier"]
    assert m["roc_auc"] >= base["roc_auc"] - 0.002


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="issue #14 target ECE <= 0.02 on the CDNOW time split; reached 0.021 (id order), "
    "0.028 (shuffled ids)",
)
def test_time_split_target_missed(cdnow_transactions):
    res = compare_methods(
        cdnow_transactions,
        calibration_end="1997-12-31",
        holdout_end="1998-06-30",
        supervised="time",
        methods=("closed_form",),
    )
    pred = res.predictions
    ece = expected_calibration_error(pred["churned"], pred["churn_probability_classifier"])
    assert ece <= 0.02
