"""Money is summed exactly: per-group sums equal math.fsum and ignore the row order.

The property behind engine parity (issue 13): the monetary features depend on the multiset
of amounts only, so pandas and Spark, which add rows in different orders, agree bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from clvml.features.exact_sum import exact_group_sums, limb_plan, round_limbs, split_limbs
from clvml.features.rfm import calibration_holdout_summary, rfm_summary


def _fsums(groups: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.array([math.fsum(values[groups == g]) for g in range(n)])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.floats(allow_nan=False, allow_infinity=False, width=64)),
        min_size=1,
        max_size=60,
    )
)
def test_exact_group_sums_equal_fsum(pairs):
    groups = np.array([g for g, _ in pairs])
    values = np.array([v for _, v in pairs])
    with np.errstate(over="ignore"):
        magnitude = np.abs(values).sum()
    if not np.isfinite(magnitude):  # sums past the float64 range overflow in fsum
        return
    assert_array_equal(exact_group_sums(groups, values, 5), _fsums(groups, values, 5))


@pytest.mark.parametrize("seed", range(5))
def test_exact_group_sums_on_hard_cases(seed):
    """Cancellation, ties to even decided by a tiny tail, and amounts of every magnitude."""
    rng = np.random.default_rng(seed)
    n = 3000
    groups = rng.integers(0, 40, n)
    values = np.concatenate(
        [
            np.round(rng.gamma(2.0, 30.0, n // 3), 2),  # cents
            rng.choice([2.0**53, -(2.0**53), 1.0, 0.5, 2.0**-40, 0.1, -0.1], n // 3),
            np.ldexp(rng.normal(size=n - 2 * (n // 3)), rng.integers(-1070, 900, n - 2 * (n // 3))),
        ]
    )
    assert_array_equal(exact_group_sums(groups, values, 40), _fsums(groups, values, 40))


def test_limbs_hold_the_amounts_exactly():
    values = np.array([0.1, 120.1, 1e-3, 99999.99, 0.0, 5e-324])
    plan = limb_plan(float(np.abs(values).max()), 5e-324, len(values))
    limbs = split_limbs(values, plan)
    for i, v in enumerate(values):  # the limbs of one amount add up to it exactly
        assert math.fsum(limb[i] for limb in limbs) == v
    sums = [np.ldexp(limb, -p) for limb, p in zip(limbs, plan.positions, strict=True)]
    assert_array_equal(round_limbs(sums, plan), values)


def _log(n_rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": rng.integers(0, n_rows // 8, n_rows),
            "timestamp": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 300 * 86400, n_rows), unit="s"),
            # cents, and amounts with more decimals than cents
            "amount": np.where(
                rng.random(n_rows) < 0.5,
                np.round(rng.gamma(2.0, 25.0, n_rows), 2),
                rng.gamma(2.0, 25.0, n_rows),
            ),
        }
    )


@pytest.mark.parametrize("include_first", [False, True])
def test_monetary_features_do_not_depend_on_the_row_order(include_first):
    tx = _log(40_000, seed=3)
    kw = dict(monetary_value_col="amount", freq="D", include_first_transaction=include_first)
    expected = rfm_summary(tx, **kw)
    hold_kw = dict(calibration_period_end="2024-08-01", monetary_value_col="amount")
    expected_hold = calibration_holdout_summary(tx, **hold_kw)
    rng = np.random.default_rng(0)
    differs = False
    for _ in range(3):
        shuffled = tx.iloc[rng.permutation(len(tx))].reset_index(drop=True)
        got = rfm_summary(shuffled, **kw)
        assert_array_equal(got["monetary_value"].to_numpy(), expected["monetary_value"].to_numpy())
        got_hold = calibration_holdout_summary(shuffled, **hold_kw)
        for col in ("monetary_value_cal", "monetary_value_holdout"):
            assert_array_equal(got_hold[col].to_numpy(), expected_hold[col].to_numpy())
        # a plain float sum over the shuffled rows does differ in the last bit somewhere
        naive = shuffled.groupby("customer_id")["amount"].sum()
        differs |= bool((naive != tx.groupby("customer_id")["amount"].sum()).any())
    assert differs


def test_customer_frame_money_does_not_depend_on_the_row_order():
    from clvml.data.synthetic import generate_social_commerce
    from clvml.features.dataset import customer_features

    world = generate_social_commerce(2000, random_state=4)
    expected = customer_features(world.transactions, cutoff=world.calibration_end)
    tx = world.transactions
    shuffled = tx.iloc[np.random.default_rng(1).permutation(len(tx))].reset_index(drop=True)
    got = customer_features(shuffled, cutoff=world.calibration_end)
    for col in ("monetary_value", "total_spend", "mean_spend"):
        assert_array_equal(got[col].to_numpy(), expected[col].to_numpy(), err_msg=col)
