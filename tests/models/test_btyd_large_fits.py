"""Large fits: the warm start + Newton path and the skipped compression give the same
estimates as the plain path (L-BFGS-B from the default start on compressed rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from clvml.data.simulate import simulate_bgnbd
from clvml.models.btyd import BetaGeo, ModifiedBetaGeo
from clvml.models.btyd.rows import compression_pays


def _summary(n: int, continuous: bool, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    T = rng.uniform(0.1, 52.0, n) if continuous else rng.integers(1, 53, n).astype(float)
    s = simulate_bgnbd(n, r=0.243, alpha=4.414, a=0.793, b=2.426, T=T, random_state=rng).summary
    x, t_x = s["frequency"].to_numpy(float), s["recency"].to_numpy(float)
    if not continuous:
        t_x = np.where(x > 0, np.clip(np.ceil(t_x), 1.0, T), 0.0)
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": T})


def test_compression_is_skipped_only_when_rows_do_not_repeat():
    cont, weeks = _summary(250_000, True), _summary(250_000, False)
    cols = ("frequency", "recency", "T")
    assert not compression_pays(tuple(cont[c].to_numpy() for c in cols))
    assert compression_pays(tuple(weeks[c].to_numpy() for c in cols))
    small = cont.iloc[:1000]
    assert compression_pays(tuple(small[c].to_numpy() for c in cols))


@pytest.mark.parametrize("model_cls", [BetaGeo, ModifiedBetaGeo])
def test_warm_start_and_uncompressed_rows_give_the_plain_estimate(model_cls):
    data = _summary(250_000, True)
    fast = model_cls().fit(data)  # no compression, sample start, Newton on the exact Hessian
    assert fast.n_distinct_ == len(data)
    # initial_params switches the warm start off: L-BFGS-B from the default start
    plain = model_cls(initial_params={"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0}).fit(data)
    assert fast.converged_ and plain.converged_
    for name in fast.params_:
        assert_allclose(fast.params_[name], plain.params_[name], rtol=1e-5, err_msg=name)
    assert_allclose(fast.log_likelihood_, plain.log_likelihood_, rtol=1e-12)
    assert_allclose(fast.standard_errors_, plain.standard_errors_, rtol=1e-4)
