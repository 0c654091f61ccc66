"""clvml.data.membership.isin: the same answer as pandas' isin on object columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvml.data.membership import isin


def _ids(rng: np.random.Generator, n: int) -> list[object]:
    out: list[object] = [f"c{v}" for v in rng.integers(0, 2 * n, n)]
    for k in rng.choice(n, n // 10, replace=False):
        out[k] = None
    return out


@pytest.mark.parametrize("with_missing", [False, True])
@pytest.mark.parametrize("kind", ["series", "index", "list", "set", "object-series"])
def test_isin_matches_pandas_on_objects(kind: str, with_missing: bool) -> None:
    rng = np.random.default_rng(7)
    values = _ids(rng, 2_000)
    cand: list[object] = [f"c{v}" for v in rng.integers(0, 4_000, 1_500)]
    if with_missing:
        cand.append(None)
    expected = pd.Series(values, dtype=object).isin(cand).to_numpy()
    assert expected.any() and not expected.all()
    given: object = {
        "series": pd.Series(cand, dtype="str"),
        "index": pd.Index(cand, dtype="str"),
        "list": cand,
        "set": set(cand),
        "object-series": pd.Series(cand, dtype=object),
    }[kind]
    for v in (pd.Series(values, dtype="str"), pd.Index(values, dtype="str")):
        got = isin(v, given)  # type: ignore[arg-type]
        assert got.dtype == bool
        np.testing.assert_array_equal(got, expected)


def test_isin_falls_back_to_pandas_for_other_types() -> None:
    ints = pd.Series([1, 2, 3, 4])
    np.testing.assert_array_equal(isin(ints, [2, 4]), [False, True, False, True])
    text = pd.Series(["1", "2", "x"], dtype="str")
    np.testing.assert_array_equal(isin(text, [1, "x"]), text.isin([1, "x"]).to_numpy())
    np.testing.assert_array_equal(isin(text, []), [False, False, False])
    large = pd.Series(["a", "b"], dtype=pd.ArrowDtype(__import__("pyarrow").large_string()))
    np.testing.assert_array_equal(isin(large, ["b"]), [False, True])
