"""Value metrics: invariants and hand-checked values."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from clvml.evaluation.metrics import (
    decile_table,
    gain_curve,
    normalized_gini,
    top_share_capture,
    value_metrics,
)
from clvml.exceptions import DataValidationError


def test_gini_perfect_random_and_reversed():
    y = np.arange(100, dtype=float)
    assert normalized_gini(y, y) == pytest.approx(1.0)
    assert normalized_gini(y, -y) == pytest.approx(-1.0)
    assert normalized_gini(y, np.ones(100)) == pytest.approx(0.0)


def test_gini_matches_sorting_definition_without_ties():
    # Classic definition (Kaggle): sum of cumulative shares of the actual sorted by prediction.
    rng = np.random.default_rng(0)
    y, p = rng.gamma(0.5, 10, 500), rng.normal(size=500)

    def gini(a, q):
        a = a[np.argsort(-q)]
        return (np.cumsum(a) / a.sum()).sum() / len(a) - (len(a) + 1) / (2 * len(a))

    assert_allclose(normalized_gini(y, p), gini(y, p) / gini(y, y), rtol=1e-12)


def test_ties_do_not_depend_on_row_order():
    y = np.array([0.0, 10, 0, 30, 5, 0])
    p = np.array([1.0, 1, 1, 2, 0, 0])
    perm = np.array([5, 3, 1, 0, 4, 2])
    assert_allclose(normalized_gini(y, p), normalized_gini(y[perm], p[perm]))
    assert_allclose(top_share_capture(y, p, 0.5), top_share_capture(y[perm], p[perm], 0.5))


def test_hand_checked_capture_and_bias():
    y = [0, 10, 0, 30]
    p = [1, 2, 3, 4]
    # top 25% = the customer predicted 4, who realised 30 of 40
    assert top_share_capture(y, p, 0.25) == pytest.approx(0.75)
    m = value_metrics(y, p)
    assert m["total_bias"] == pytest.approx(10 / 40 - 1)
    assert m["mae"] == pytest.approx((1 + 8 + 3 + 26) / 4)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e4), st.floats(-1e3, 1e3)), min_size=2, max_size=60))
def test_gain_curve_invariants(rows):
    y = np.array([r[0] for r in rows])
    p = np.array([r[1] for r in rows])
    if y.sum() <= 0:
        return
    _, g = gain_curve(y, p)
    assert g[0] == 0 and g[-1] == pytest.approx(1.0)
    assert np.all(np.diff(g) >= -1e-12)
    _, best = gain_curve(y, y)
    assert np.all(g <= best + 1e-9)  # no ranking beats the perfect one
    gi = normalized_gini(y, p)
    assert np.isnan(gi) or -1 - 1e-9 <= gi <= 1 + 1e-9


def test_decile_table_partitions_customers():
    rng = np.random.default_rng(1)
    y, p = rng.gamma(1, 5, 1000), rng.gamma(1, 5, 1000)
    tab = decile_table(y, p)
    assert tab["customers"].sum() == 1000
    assert_allclose(tab["share_of_realised"].sum(), 1.0)
    assert list(tab.index) == list(range(1, 11))


def test_bad_input_named():
    with pytest.raises(DataValidationError, match=r"y_pred.*1 row"):
        value_metrics([1.0, 2.0], [1.0, np.nan])
    with pytest.raises(DataValidationError, match="one per customer"):
        value_metrics([1.0, 2.0], [1.0])
