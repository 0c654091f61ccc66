"""clvml evaluate: the comparison from the CLI, on a generated folder or transactions only."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import clvml.cli.evaluate  # noqa: F401  (registers the command)
from clvml.cli._app import run
from clvml.data.synthetic import generate_social_commerce, write_dataset


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("world")
    write_dataset(generate_social_commerce(700, seed=2), path, fmt="csv", overwrite=True)
    return path


def _result(out: str) -> str:
    """What evaluate prints after its steps' done lines (``✓ step (s) ...``)."""
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip() and not line.startswith("✓"))
    assert all(line.startswith("✓") for line in lines[:first] if line.strip())
    return "\n".join(lines[first:])


def test_evaluate_generated_folder_writes_json_and_plots(folder, tmp_path, capsys):
    out = tmp_path / "table.json"
    code = run(
        ["evaluate", "--data", str(folder), "--calibration-end", "2025-06-29",
         "--horizon-weeks", "52", "--out", str(out), "--plots", str(tmp_path / "plots")]
    )  # fmt: skip
    printed = capsys.readouterr()
    assert code == 0, printed.err
    for name in ("btyd", "hybrid", "ml", "past spend", "truth", "earlier window"):
        assert name in printed.out
    payload = json.loads(out.read_text())
    methods = [row["method"] for row in payload["methods"]]
    assert methods[-3:] == ["past spend", "oracle", "truth"] and "btyd_covariates" in methods
    # every row's share of the attainable oracle's Gini, and the best method's printed
    shares = {row["method"]: row["oracle_share"] for row in payload["methods"]}
    assert shares["oracle"] == 1.0 and 0 < shares["btyd"] < 1.2
    # (rich wraps lines at the terminal width: compare with the line breaks folded)
    assert "of the attainable oracle's normalised Gini" in " ".join(printed.out.split())
    # the label-free baselines are rows of the comparison (issue #14, point 2)
    assert {"pareto_nbd", "btyd_all_spend", "pareto_nbd_all_spend"} <= set(methods)
    assert payload["holdout_end"] == "2026-06-28"
    assert (tmp_path / "plots" / "gain_curves.png").stat().st_size > 0
    # the deployable result leads (issue #14): after the steps' done lines, the headline, then
    # the table of the time split
    folded = " ".join(_result(printed.out).split())
    assert folded.startswith("Deployable result: best method ")
    assert "deployable time split" in folded and "not deployable" not in folded


def test_evaluate_transactions_only_writes_csv(folder, tmp_path, capsys):
    only = tmp_path / "tx"
    only.mkdir()
    (only / "transactions.csv").write_bytes((folder / "transactions.csv").read_bytes())
    out = tmp_path / "table.csv"
    code = run(
        ["evaluate", "--data", str(only), "--calibration-end", "2025-06-29",
         "--holdout-end", "2026-06-28", "--out", str(out), "--supervised", "customers"]
    )  # fmt: skip
    printed = capsys.readouterr()
    assert code == 0, printed.err
    table = pd.read_csv(out)
    assert {"method", "normalized_gini", "total_bias", "roc_auc"} <= set(table.columns)
    assert "truth" not in set(table["method"]) and "btyd_covariates" not in set(table["method"])
    assert "skipped btyd_covariates" in printed.out and "cross-fitted" in printed.out
    # customer folds: the best label-free row leads; supervised rows follow, labelled
    folded = " ".join(_result(printed.out).split())
    assert folded.startswith("Deployable result: best label-free method ")
    best_free = folded.split("best label-free method ")[1].split(",")[0]
    assert best_free in {"btyd", "pareto_nbd", "btyd_all_spend", "pareto_nbd_all_spend"}
    for m in ("ml", "hybrid", "closed_form", "blend"):
        assert f"│ {m} * " in printed.out
    assert "│ btyd * " not in printed.out and "* not deployable: trained on other" in folded
    lines = printed.out.splitlines()
    first_free = next(i for i, line in enumerate(lines) if line.startswith("│ btyd "))
    first_supervised = next(
        i for i, line in enumerate(lines) if line.startswith("│") and " * " in line
    )
    assert first_free < first_supervised


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--holdout-end", "2026-06-28", "--horizon-weeks", "52"], "exactly one"),
        (["--horizon-weeks", "52", "--out", "x.txt"], ".csv or .json"),
    ],
)
def test_evaluate_user_errors_are_one_line(folder, args, message, capsys):
    code = run(["evaluate", "--data", str(folder), "--calibration-end", "2025-06-29", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
