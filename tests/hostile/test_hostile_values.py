"""Hostile values (issue #15): numbers beyond int64, 1e308 amounts, huge ids and texts.

``validate`` flags them (one line naming column and rows); ``score`` sets the rows aside
with the rule as reason and scores everyone else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvml.data.contracts import MAX_AMOUNT, MAX_ID_LENGTH, MAX_TEXT_LENGTH
from clvml.data.validation import check_table, validate_engagement, validate_transactions
from clvml.exceptions import DataValidationError
from clvml.features.sentiment import sentiment_scores
from clvml.pipelines.score import prepare_inputs

from .conftest import cli, one_line_error

NOW = ["--now", "2030-01-01"]


def _with(frame: pd.DataFrame, column: str, row: int, value: object) -> pd.DataFrame:
    out = frame.copy()
    out[column] = out[column].astype(object)
    out.loc[row, column] = value
    return out


def _reasons(prep) -> list[str]:
    return prep.rejected["reason"].tolist()


@pytest.mark.parametrize(
    ("table", "column", "value", "rule"),
    [
        ("engagement", "reach", "1e30", "count_out_of_range"),
        ("transactions", "quantity", "1e19", "count_out_of_range"),
        ("transactions", "quantity", 2.0**63, "count_out_of_range"),
        ("transactions", "amount", "1e308", "amount_out_of_range"),
        ("transactions", "amount", -1e300, "amount_out_of_range"),
        ("customers", "acquisition_cost", "1e300", "amount_out_of_range"),
    ],
)
def test_out_of_range_numbers_are_flagged_and_quarantined(
    write_folder, clean_tables, table, column, value, rule
) -> None:
    frame = _with(clean_tables[table], column, 3, value)
    folder = write_folder(**{table: frame})
    line = one_line_error(cli(["validate", "--data", str(folder), *NOW]))
    assert f"column {column!r}: 1 row" in line and f"(table {table}" in line
    prep = prepare_inputs(folder)  # the score job's steps before the model
    # a customer set aside makes their purchases those of an unknown customer
    assert prep.set_aside[table] == 1 and set(prep.set_aside) <= {table, "unknown_customer"}
    reason = _reasons(prep)[0]
    assert reason.startswith(f"{table} row 3: {column}:") and reason.endswith(f"[{rule}]")
    assert prep.rejected["customer_id"].iloc[0] == frame["customer_id"].iloc[3]
    n_scored = clean_tables["customers"]["customer_id"].nunique() - (table == "customers")
    assert len(prep.features) == n_scored


def test_counts_near_int64_max_are_kept_exactly() -> None:
    tx = pd.DataFrame(
        {"customer_id": ["a", "b"], "timestamp": ["2024-01-02", "2024-01-03"],
         "amount": [1.0, 2.0], "quantity": [2.0**62, 3.0]}
    )  # fmt: skip
    out = validate_transactions(tx)
    assert out["quantity"].dtype == np.int64 and out["quantity"].iloc[0] == 2**62


def test_amounts_at_the_bound_sum_to_a_finite_total() -> None:
    tx = pd.DataFrame(
        {"customer_id": ["a"] * 3, "timestamp": ["2024-01-02", "2024-01-03", "2024-01-04"],
         "amount": [MAX_AMOUNT, MAX_AMOUNT, 1.0]}
    )  # fmt: skip
    from clvml.features.rfm import rfm_summary

    out = validate_transactions(tx)
    summary = rfm_summary(out, "customer_id", "timestamp", "amount")
    assert np.isfinite(summary.to_numpy(dtype=float)).all()


@pytest.mark.parametrize("column", ["customer_id", "order_id"])
def test_float_ids_beyond_2_53_are_invalid_not_a_traceback(tmp_path, clean_tables, column):
    tx = clean_tables["transactions"].copy()
    codes = pd.factorize(tx["customer_id"])[0]
    tx[column] = (codes if column == "customer_id" else np.arange(len(tx))).astype(float)
    tx.loc[0, column] = 1e20
    folder = tmp_path / "data"
    folder.mkdir()
    tx.to_parquet(folder / "transactions.parquet")
    line = one_line_error(cli(["validate", "--data", str(folder), *NOW]))
    assert f"column {column!r}: 1 row is floats of 2**53 or more" in line
    prep = prepare_inputs(folder)
    assert prep.set_aside == {"transactions": 1}
    assert _reasons(prep)[0].endswith("[invalid_id]")
    # whole floats below 2**53 are still their decimal text
    assert column == "order_id" or {"1", "2"} <= set(prep.features.index)


def test_ids_longer_than_the_bound_are_set_aside(clean_tables) -> None:
    tx = _with(clean_tables["transactions"], "customer_id", 0, "x" * 20_000)
    with pytest.raises(DataValidationError, match=r"1 row is longer than 256 characters") as err:
        validate_transactions(tx, now="2030-01-01")
    assert "20,000 characters" in str(err.value) and len(str(err.value)) < 400
    kept = validate_transactions(tx, now="2030-01-01", invalid="drop")
    assert len(kept) == len(tx) - 1
    assert kept["customer_id"].str.len().max() <= MAX_ID_LENGTH


def test_long_texts_are_cut_counted_and_scored_in_linear_time(clean_tables) -> None:
    eng = clean_tables["engagement"]
    row = int(np.flatnonzero(eng["text"].notna().to_numpy())[0])
    huge = "the blender never arrived and nobody answers " * 25_000  # 1.1 million characters
    spoiled = _with(eng, "text", row, huge)
    frame, report = check_table(spoiled, "engagement")
    (note,) = [o for o in report.outcomes if o.rule == "text_truncated"]
    assert (note.n_rows, note.action, note.column) == (1, "adjusted", "text")
    assert note.example == f"row {row}"  # the row, never the customer's text
    assert report.rows_kept == len(eng)
    assert frame["text"].str.len().max() == MAX_TEXT_LENGTH
    assert frame["text"].iloc[row] == huge[:MAX_TEXT_LENGTH]
    # before: quadratic, > 900 s for this text; now it is scored piece by piece
    (score,) = sentiment_scores([huge], language="en")
    assert -1 <= score < -0.05
    assert validate_engagement(spoiled)["text"].iloc[row] == huge[:MAX_TEXT_LENGTH]


def test_sentiment_of_a_long_text_is_the_length_weighted_score_of_its_pieces() -> None:
    from clvml.features.sentiment import _PIECE, _pieces

    good, bad = "I love this shop, great service. " * 40, "terrible, never again. " * 30
    text = good + bad
    pieces = _pieces(text)
    assert "".join(pieces) == text and all(len(p) <= _PIECE for p in pieces)
    s = sentiment_scores(pieces, language="en")
    lengths = np.array([len(p) for p in pieces])
    assert sentiment_scores([text], language="en")[0] == pytest.approx(lengths @ s / lengths.sum())
    assert sentiment_scores([good[:_PIECE]], language="en")[0] > 0.05
