"""``clvml evaluate --predictions FILE``: every method's prediction per customer (#14 point 8)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import clvml.cli.evaluate  # noqa: F401  (registers the command)
from clvml.cli._app import run
from clvml.data.synthetic import generate_social_commerce, write_dataset
from clvml.evaluation.metrics import value_metrics


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("world")
    write_dataset(generate_social_commerce(600, random_state=4), path, fmt="csv", overwrite=True)
    return path


def test_predictions_file_reproduces_the_table(folder, tmp_path, capsys):
    out, pred = tmp_path / "table.json", tmp_path / "sub" / "predictions.csv"
    code = run(
        ["evaluate", "--data", str(folder), "--calibration-end", "2025-06-29",
         "--horizon-weeks", "52", "--out", str(out), "--predictions", str(pred)]
    )  # fmt: skip
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "predictions written to" in printed.out
    table = pd.DataFrame(json.loads(out.read_text())["methods"]).set_index("method")
    frame = pd.read_csv(pred, dtype={"customer_id": str})
    assert frame["customer_id"].is_unique and len(frame) > 0
    assert {"realised_revenue", "realised_purchases", "churned", "past_spend", "truth"} <= set(
        frame.columns
    )
    assert not list(tmp_path.joinpath("sub").glob(".*.tmp"))  # atomic write left no temp file
    references = {"past spend": "past_spend", "oracle": "oracle", "truth": "truth"}
    for method in table.index:
        column = references.get(method, f"clv_{method}")
        assert column in frame.columns, method
        m = value_metrics(frame["realised_revenue"].to_numpy(), frame[column].to_numpy())
        for metric in ("normalized_gini", "total_bias"):  # the JSON keeps 10 digits
            assert m[metric] == pytest.approx(table.loc[method, metric], abs=1e-9)


def test_predictions_bad_suffix_is_one_line(folder, tmp_path, capsys):
    code = run(
        ["evaluate", "--data", str(folder), "--calibration-end", "2025-06-29",
         "--horizon-weeks", "52", "--predictions", str(tmp_path / "p.xlsx")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0 and "--predictions must end in" in err and "Traceback" not in err
