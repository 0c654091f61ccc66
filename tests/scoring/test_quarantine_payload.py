"""The quarantine keeps the offending values (issue #16), bounded, never what customers wrote."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from clvml.cli import app  # noqa: F401  (registers every command)
from clvml.cli._app import run as cli_run
from clvml.pipelines.score import PAYLOAD_CHARS
from clvml.scoring.crm import CRMSink

ROOT = Path(__file__).resolve().parents[2]
SECRET = "please call me at my home address, 12 Secret Street"


@pytest.fixture
def dirty(tmp_path) -> Path:
    from clvml.data.synthetic import load_social_commerce

    data = load_social_commerce()
    ids = set(data.customers["customer_id"].iloc[:200])
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("transactions", "engagement", "customers"):
        frame = getattr(data, name)
        frame = frame.loc[frame["customer_id"].isin(ids)].reset_index(drop=True)
        if name == "transactions":
            frame = frame.astype({"amount": object, "timestamp": str})
            frame.loc[3, "amount"] = "12,50 EUR"
            frame.loc[4, "amount"] = "9" * 500  # an absurdly long value: cut
        if name == "engagement":
            frame = frame.astype({"timestamp": str})
            frame.loc[0, "timestamp"] = "not a date"
            frame.loc[0, "text"] = SECRET
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def test_payload_keeps_the_bad_values_cut_and_withholds_text(dirty, tmp_path, capsys):
    crm = f"sqlite:///{tmp_path / 'crm.db'}"
    with threadpool_limits(1, user_api="openmp"):
        code = cli_run(
            [
                "score",
                "--model",
                str(ROOT / "models" / "clvml"),
                "--data",
                str(dirty),
                "--crm-url",
                crm,
            ]
        )
    assert code == 0, capsys.readouterr().err
    q = CRMSink(crm).read_quarantine()
    by_reason = {r.split(":")[0]: p for r, p in zip(q["reason"], q["payload"], strict=True)}
    tx3 = by_reason["transactions row 3"]
    assert tx3["amount"] == "12,50 EUR" and tx3["customer_id"]
    tx4 = by_reason["transactions row 4"]
    assert len(tx4["amount"]) == PAYLOAD_CHARS and tx4["amount"].endswith("…")
    ev = by_reason["engagement row 0"]
    assert ev["timestamp"] == "not a date"
    assert ev["text"] == f"<withheld: {len(SECRET)} characters>"
    assert "Secret" not in q["payload"].astype(str).str.cat()
    # customers the job could not place have no row to keep
    others = q.loc[~q["reason"].str.contains(" row ")]
    assert others["payload"].map(lambda p: p is None or pd.isna(p)).all()
