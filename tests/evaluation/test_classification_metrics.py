"""Churn metrics: hand-checked values, parity with scikit-learn, invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from clvml.evaluation.classification import churn_metrics, expected_calibration_error, lift_at
from clvml.exceptions import DataValidationError

Y = [0, 0, 1, 1, 1, 0]
P = [0.1, 0.2, 0.3, 0.6, 0.7, 0.8]


def test_ece_equal_mass_by_hand():
    # 2 equal-mass bins split at the median 0.45:
    # {0.1, 0.2, 0.3}: churn rate 1/3, mean p 0.2 -> gap 2/15
    # {0.6, 0.7, 0.8}: churn rate 2/3, mean p 0.7 -> gap 1/30
    # ECE = 0.5 * 2/15 + 0.5 * 1/30 = 1/12
    assert_allclose(expected_calibration_error(Y, P, n_bins=2), 1 / 12, rtol=1e-12)


def test_ece_equal_width_by_hand():
    # edges 0, .2, .4, .6, .8, 1 (right-closed): {0.1, 0.2} {0.3} {0.6} {0.7, 0.8}
    # |0 - 0.3| + |1 - 0.3| + |1 - 0.6| + |1 - 1.5| = 1.9 over 6 customers
    got = expected_calibration_error(Y, P, n_bins=5, strategy="uniform")
    assert_allclose(got, 1.9 / 6, rtol=1e-12)


def test_ece_is_zero_for_calibrated_bins_and_ties_share_a_bin():
    # every bin's mean prediction equals its churn rate
    y = [0, 1, 0, 1, 1, 1, 1, 0]
    p = [0.5, 0.5, 0.5, 0.5, 0.75, 0.75, 0.75, 0.75]
    assert expected_calibration_error(y, p, n_bins=4) == pytest.approx(0.0, abs=1e-15)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1)), min_size=1, max_size=60),
    st.integers(1, 12),
    st.sampled_from(["quantile", "uniform"]),
    st.randoms(use_true_random=False),
)
def test_ece_bounded_and_order_free(pairs, n_bins, strategy, rnd):
    y, p = map(np.array, zip(*pairs, strict=True))
    e = expected_calibration_error(y, p, n_bins=n_bins, strategy=strategy)
    assert 0.0 <= e <= 1.0 + 1e-12
    # never more than the mean absolute error (Jensen within each bin)
    assert e <= np.mean(np.abs(y - p)) + 1e-12
    perm = list(range(len(y)))
    rnd.shuffle(perm)
    assert_allclose(
        expected_calibration_error(y[perm], p[perm], n_bins=n_bins, strategy=strategy),
        e,
        atol=1e-12,
    )


def test_lift_by_hand_with_ties_at_the_boundary():
    # 10 customers, base rate 0.3; top decile = 1 position, taken from the tied group
    # {0.9, 0.9} with churn 1 and 0 -> 0.5 expected churners in the top position
    y = [1, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    p = [0.9, 0.9, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1, 0.1, 0.0]
    assert_allclose(lift_at(y, p, 0.1), 0.5 / 0.3)
    # top 30%: the tied pair (1 churner) and 0.5 (churner): 2 / 3 over 0.3
    assert_allclose(lift_at(y, p, 0.3), (2 / 3) / 0.3)
    assert_allclose(lift_at(y, p, 1.0), 1.0)


def test_lift_without_ties_matches_sorting():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p = rng.random(200)
    top = np.argsort(-p)[:20]
    assert_allclose(lift_at(y, p, 0.1), y[top].mean() / y.mean())


def test_churn_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    p = rng.random(500)
    y = (rng.random(500) < p).astype(int)
    m = churn_metrics(y, p)
    assert_allclose(m["roc_auc"], roc_auc_score(y, p))
    assert_allclose(m["pr_auc"], average_precision_score(y, p))
    assert_allclose(m["brier"], brier_score_loss(y, p))
    assert_allclose(m["log_loss"], log_loss(y, p))
    assert_allclose(m["churn_rate"], y.mean())
    assert m["ece"] < 0.08  # probabilities drawn calibrated: only sampling noise
    assert set(m) >= {"roc_auc", "pr_auc", "brier", "log_loss", "ece", "lift_top_decile"}


def test_churn_metrics_degenerate_and_bad_input():
    m = churn_metrics([1, 1], [0.2, 0.9])
    assert np.isnan(m["roc_auc"]) and np.isnan(m["pr_auc"])
    assert np.isfinite(m["log_loss"])  # clipped, not infinite
    with pytest.raises(DataValidationError, match=r"y_prob.*probabilities"):
        churn_metrics([0, 1], [0.2, 1.5])
    with pytest.raises(DataValidationError, match=r"y_true.*0 or 1"):
        churn_metrics([0, 2], [0.2, 0.5])
    with pytest.raises(DataValidationError, match="3 values but y_prob has 2"):
        churn_metrics([0, 1, 1], [0.2, 0.5])
    with pytest.raises(DataValidationError, match="no churner"):
        lift_at([0, 0], [0.1, 0.2])
