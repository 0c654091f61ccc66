"""P(alive) of BG/NBD and MBG/NBD evaluates every row as it is (no compression, #17):
same values as the per-row formula, same checks and error counts as the other predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from clvml.exceptions import DataValidationError
from clvml.models.btyd.beta_geo import BetaGeo, bgnbd_probability_alive
from clvml.models.btyd.modified_beta_geo import ModifiedBetaGeo, mbgnbd_probability_alive

PARAMS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def _fitted(cls):
    model = cls()
    model.params_ = pd.Series(PARAMS)
    return model


@pytest.mark.parametrize(
    ("cls", "formula"),
    [(BetaGeo, bgnbd_probability_alive), (ModifiedBetaGeo, mbgnbd_probability_alive)],
)
def test_probability_alive_is_the_formula_per_row(cls, formula):
    rng = np.random.default_rng(5)
    n = 2_000
    T = np.round(rng.uniform(1, 40, n) * 7) / 7
    x = rng.poisson(1.5, n).astype(float)
    t_x = np.where(x > 0, np.round(rng.uniform(0, 1, n) * T * 7) / 7, 0.0)
    frame = pd.DataFrame({"frequency": x, "recency": t_x, "T": T}, index=np.arange(n) * 3 + 1)
    model = _fitted(cls)
    series = model.probability_alive(frame)
    expected = formula(np.array(list(PARAMS.values())), x, t_x, T)
    assert_array_equal(series.to_numpy(), expected)
    assert series.index.equals(frame.index) and series.name == "probability_alive"
    as_array = model.probability_alive(frame.to_numpy())
    assert isinstance(as_array, np.ndarray)
    assert_array_equal(as_array, expected)


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
def test_probability_alive_counts_every_bad_row(cls):
    frame = pd.DataFrame(
        {"frequency": [1, 2, 2, 2, 0], "recency": [1.0, -1.0, -1.0, -2.0, 0.0], "T": [5.0] * 5}
    )
    with pytest.raises(DataValidationError) as err:
        _fitted(cls).probability_alive(frame)
    assert err.value.n_rows == 3
    with pytest.raises(DataValidationError):
        _fitted(cls).probability_alive(frame.drop(columns="T"))


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("frequency", np.nan),
        ("frequency", 1.5),
        ("frequency", -1.0),
        ("recency", np.inf),
        ("recency", 9.0),  # > T
        ("T", -1.0),
    ],
)
def test_quick_row_check_lets_no_bad_row_through(cls, column, value):
    # the vectorised pre-check only skips the full validation when every row passes the
    # contract's rules; one bad row among many still gets the contract's error
    rng = np.random.default_rng(1)
    n = 5_000
    T = rng.uniform(1.0, 8.0, n)
    x = rng.poisson(1.5, n).astype(float)
    frame = pd.DataFrame({"frequency": x, "recency": np.where(x > 0, T / 2, 0.0), "T": T})
    frame.loc[1234, column] = value
    with pytest.raises(DataValidationError) as err:
        _fitted(cls).probability_alive(frame)
    assert err.value.n_rows == 1


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
def test_grid_rows_and_zero_ages_pass_the_quick_check(cls):
    frame = pd.DataFrame(
        {
            "frequency": [0.0, 3.0, 0.0, 2.0],
            "recency": [2.0, 0.0, 0.0, 1.0],
            "T": [4.0, 4.0, 0.0, 4.0],
        }
    )
    out = _fitted(cls).probability_alive(frame)
    expected = (bgnbd_probability_alive if cls is BetaGeo else mbgnbd_probability_alive)(
        np.array(list(PARAMS.values())), *(frame[c].to_numpy() for c in frame)
    )
    assert_array_equal(out.to_numpy(), expected)
