"""Hostile files (issue #15): damaged, empty, badly encoded, very wide, 'NA' ids.

Every case ends in one line naming the file (exit code 2) or in rows counted under a
named rule; ids are text, so ``NA``, ``null``, ``None``, ``nan`` and ``N/A`` are customers.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvml.data.contracts import MAX_COLUMNS
from clvml.data.io import DataSourceError, read_table
from clvml.data.validation import check_table
from clvml.pipelines.score import prepare_inputs

from .conftest import cli, one_line_error

NOW = ["--now", "2030-01-01"]
NA_IDS = ["NA", "null", "None", "nan", "N/A"]


def _spoil(folder: Path, name: str, content: bytes) -> Path:
    (folder / "transactions.csv").unlink()
    path = folder / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("case", "name", "content", "says"),
    [
        ("empty", "transactions.csv", b"", "the file is empty"),
        ("truncated gzip", "transactions.csv.gz", None, "cannot read as CSV"),
        ("not gzip", "transactions.csv.gz", b"customer_id,timestamp\n", "cannot read as CSV"),
        ("latin-1", "transactions.csv", "customer_id,timestamp,amount\nJosé,2024-01-02,3\n"
         .encode("latin-1"), "not UTF-8 text"),
        ("open quote", "transactions.csv", b'customer_id,timestamp,amount\n"a,2024-01-02,3\n',
         "cannot read as CSV"),
        ("ragged row", "transactions.csv", b"customer_id,timestamp,amount\na,2024-01-02,3,4,5\n",
         "cannot read as CSV"),
    ],
)  # fmt: skip
def test_unreadable_files_are_one_line_naming_the_file(
    write_folder, clean_tables, case, name, content, says
) -> None:
    folder = write_folder()
    if content is None:  # a .csv.gz cut short in the middle of its stream
        csv = clean_tables["transactions"].to_csv(index=False).encode()
        content = gzip.compress(csv)[:200]
    path = _spoil(folder, name, content)
    with pytest.raises(DataSourceError, match=says) as err:
        read_table(path)
    assert str(path) in str(err.value)
    for command in (["validate", "--data", str(folder), *NOW],):
        line = one_line_error(cli(command))
        assert str(path) in line and says in line


def test_a_very_wide_file_is_refused_before_it_is_parsed(write_folder, clean_tables) -> None:
    # pandas alone takes about 70 s to parse this header (quadratic in its width)
    folder = write_folder()
    header = ",".join(["customer_id", "timestamp", "amount"] + [f"x{i}" for i in range(200_000)])
    row = "a,2024-01-02,3" + ",0" * 200_000
    for name in ("transactions.csv", "engagement.csv"):
        (folder / name).write_text(f"{header}\n{row}\n{row}\n")
    line = one_line_error(cli(["validate", "--data", str(folder), *NOW]))
    assert "transactions.csv: 200,003 columns" in line
    assert f"at most {MAX_COLUMNS:,}" in line
    path = folder / "wide.csv.gz"
    path.write_bytes(gzip.compress(f"{header}\n{row}\n".encode()))
    with pytest.raises(DataSourceError, match=r"wide\.csv\.gz: 200,003 columns"):
        read_table(path)


def test_too_many_columns_in_a_frame_is_one_error() -> None:
    frame = pd.DataFrame(
        np.zeros((2, MAX_COLUMNS + 1)), columns=[f"c{i}" for i in range(MAX_COLUMNS + 1)]
    )
    _, report = check_table(frame, "transactions")
    assert [o.rule for o in report.errors] == ["too_many_columns"]
    assert f"{MAX_COLUMNS + 1:,} columns" in report.errors[0].message


def test_repeated_columns_among_thousands_are_named_with_their_count() -> None:
    names = [f"c{i}" for i in range(MAX_COLUMNS - 3)] + ["customer_id", "c7", "c7"]
    frame = pd.DataFrame(np.zeros((2, len(names))), columns=names)
    _, report = check_table(frame, "transactions")
    assert [(o.rule, o.column, o.message) for o in report.errors] == [
        ("repeated_column", "c7", "appears 3 times in transactions")
    ]


def test_missing_column_message_of_a_wide_table_stays_short() -> None:
    frame = pd.DataFrame(np.zeros((1, 5_000)), columns=[f"c{i}" for i in range(5_000)])
    _, report = check_table(frame, "transactions")
    messages = [o.message for o in report.errors]
    assert all(len(m) < 800 for m in messages)
    assert "(5,000 columns)" in messages[0]


def test_na_like_ids_are_customers(write_folder, clean_tables) -> None:
    ids = clean_tables["customers"]["customer_id"].iloc[: len(NA_IDS)].tolist()
    rename = dict(zip(ids, NA_IDS, strict=True))
    frames = {
        t: f.assign(customer_id=f["customer_id"].replace(rename)) for t, f in clean_tables.items()
    }
    folder = write_folder(**frames)
    tx = read_table(folder / "transactions.csv")
    assert set(NA_IDS) <= set(tx["customer_id"])
    assert tx["customer_id"].notna().all()
    result = cli(["validate", "--data", str(folder), *NOW])
    assert result.exit_code == 0, result.output
    assert "missing_id" not in result.output
    prep = prepare_inputs(folder)
    assert set(NA_IDS) <= set(prep.features.index)
    assert prep.rejected.empty
    # only an empty field is a missing id; NA text in other columns is still missing
    text = "customer_id,timestamp,amount\nNA,2024-01-02,3\n,2024-01-02,4\nnull,2024-01-03,NA\n"
    path = folder / "t.csv"
    path.write_text(text)
    got = read_table(path)
    assert got["customer_id"].tolist()[0] == "NA" and pd.isna(got["customer_id"].iloc[1])
    assert got["customer_id"].iloc[2] == "null" and np.isnan(got["amount"].iloc[2])
