"""The closed form's layout and conventions: a leaf formula module, the data layer's
validators, ``cutoff`` as the last day seen and an annual discount rate.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

import clvml.models.closed_form as closed_form_pkg
from clvml.data import validation
from clvml.exceptions import DataValidationError
from clvml.models.closed_form import closed_form_clv, expected_lifetime
from clvml.models.closed_form.formula import clv_formula, ltv_cac_ratio

from .test_closed_form import tiny_customers, tiny_log


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_formula_is_a_leaf_and_segments_use_it():
    formula = Path(closed_form_pkg.__file__).with_name("formula.py")
    assert _imports(formula) <= {"__future__", "numpy", "clvml.exceptions"}
    ltv_cac = Path(importlib.import_module("clvml.segments.ltv_cac").__file__ or "")
    clvml_imports = {m for m in _imports(ltv_cac) if m.startswith("clvml.models")}
    assert clvml_imports == {"clvml.models.closed_form.formula"}
    # the old public path still answers with the same objects
    assert closed_form_pkg.ltv_cac_ratio is ltv_cac_ratio
    assert closed_form_pkg.clv_formula is clv_formula


def test_btyd_and_closed_form_import_no_segments():
    root = Path(closed_form_pkg.__file__).parents[1]
    for path in [*root.glob("closed_form/*.py"), *root.glob("btyd/*.py")]:
        bad = {m for m in _imports(path) if m.startswith("clvml.segments")}
        assert not bad, f"{path} imports {bad}"


def test_tables_are_checked_by_the_data_layer(monkeypatch):
    calls = []
    original_tx, original_cust = validation.validate_transactions, validation.validate_customers

    def spy_tx(frame, **kw):
        calls.append("transactions")
        return original_tx(frame, **kw)

    def spy_cust(frame, **kw):
        calls.append("customers")
        return original_cust(frame, **kw)

    from clvml.models.closed_form import inputs

    monkeypatch.setattr(inputs, "validate_transactions", spy_tx)
    monkeypatch.setattr(inputs, "validate_customers", spy_cust)
    closed_form_clv(tiny_log(), period="Q", customers=tiny_customers())
    assert calls == ["transactions", "customers"]
    # the caller's column names appear in the error, with the row count
    renamed = tiny_log().rename(columns={"amount": "spend"})
    renamed.loc[0, "spend"] = -1.0
    with pytest.raises(DataValidationError, match=r"column 'spend': 1 row is negative"):
        closed_form_clv(renamed, period="Q", monetary_value_col="spend")
    assert not hasattr(closed_form_pkg, "_validate_transactions")


def test_annual_discount_rate_is_compounded_to_the_period():
    # quarterly periods: a per-quarter rate d is the annual rate (1 + d)**4 - 1
    per_quarter = 0.1
    annual = (1 + per_quarter) ** 4 - 1
    res = closed_form_clv(tiny_log(), period="Q", annual_discount_rate=annual)
    assert_allclose(res.overall["lifetime"], expected_lifetime(0.5, discount_rate=per_quarter))
    assert_allclose(res.overall["lifetime"], 1.1 / 0.6)
    with pytest.warns(DeprecationWarning, match="discount_rate= .*per period.* deprecated"):
        old = closed_form_clv(tiny_log(), period="Q", discount_rate=per_quarter)
    assert_allclose(old.overall["lifetime"], res.overall["lifetime"], rtol=1e-12)
    monthly = closed_form_clv(tiny_log(), period="M", allow_empty_periods=True, undefined="nan")
    assert np.isfinite(monthly.overall["retention"])
    with pytest.raises(DataValidationError, match="annual_discount_rate must be >= 0"):
        closed_form_clv(tiny_log(), period="Q", annual_discount_rate=-0.1)
    with pytest.raises(TypeError, match="annual_discount_rate= only"):
        closed_form_clv(tiny_log(), annual_discount_rate=0.1, discount_rate=0.02)


def test_cutoff_is_the_last_day_seen_and_observation_end_its_old_name():
    # 2020-09-29 is inside Q3: Q3 is incomplete and dropped with its two transactions
    res = closed_form_clv(tiny_log(), period="Q", cutoff="2020-09-29")
    assert res.n_transactions_set_aside == 2
    complete = closed_form_clv(tiny_log(), period="Q", cutoff="2020-09-30")
    assert complete.n_transactions_set_aside == 0
    with pytest.warns(DeprecationWarning, match="observation_end= is deprecated; use cutoff="):
        old = closed_form_clv(tiny_log(), period="Q", observation_end="2020-09-29")
    assert old.summary.equals(res.summary)
    with pytest.raises(DataValidationError, match="'cutoff'"):
        closed_form_clv(tiny_log(), period="Q", cutoff="not a date")
