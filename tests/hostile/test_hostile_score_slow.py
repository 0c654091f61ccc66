"""The heavy cases of the hostile battery (issue #15), end to end through ``clvml score``.

A model is trained with ``clvml train`` on a generated world; then one folder holding
every hostile value at once (ids ``NA``/``null``/``None``/``nan``/``N/A``, an amount of
1e308, a reach of 1e30, a quantity of 1e19, a text of a million characters, an id of
20,000 characters) is scored. The job succeeds; each bad row is quarantined under its
rule, the five ``NA``-like customers are scored, and the counts add up.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from .conftest import cli

pytestmark = pytest.mark.slow

NA_IDS = ["NA", "null", "None", "nan", "N/A"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    from clvml.data.synthetic import generate_social_commerce

    root = tmp_path_factory.mktemp("hostile-score")
    data = generate_social_commerce(500, random_state=0)
    folder = root / "data"
    folder.mkdir()
    for name in ("transactions", "engagement", "customers"):
        getattr(data, name).to_csv(folder / f"{name}.csv", index=False)
    tracking = f"sqlite:///{root / 'mlruns.db'}"
    config = root / "train.toml"
    config.write_text(f'[data]\nsource = "{folder}"\n[model.params]\nn_draws = 20\n')
    result = cli(["train", "--config", str(config), "--tracking-uri", tracking])
    assert result.exit_code == 0, result.output
    return folder, tracking


def test_one_folder_of_every_hostile_value_is_scored_with_each_bad_row_quarantined(
    trained, tmp_path
) -> None:
    clean, tracking = trained
    tx = pd.read_csv(clean / "transactions.csv", dtype={"customer_id": str})
    eng = pd.read_csv(clean / "engagement.csv", dtype={"customer_id": str})
    cust = pd.read_csv(clean / "customers.csv", dtype={"customer_id": str})
    rename = dict(zip(cust["customer_id"].iloc[:5], NA_IDS, strict=True))
    tx, eng, cust = (
        f.assign(customer_id=f["customer_id"].replace(rename)) for f in (tx, eng, cust)
    )
    tx["amount"] = tx["amount"].astype(object)
    tx["quantity"] = tx["quantity"].astype(object)
    eng["reach"] = eng["reach"].astype(object)
    tx.loc[10, "amount"] = "1e308"
    tx.loc[11, "quantity"] = "1e19"
    eng.loc[12, "reach"] = "1e30"
    text_row = int(eng.index[eng["text"].notna()][0])
    eng.loc[text_row, "text"] = "the parcel never arrived and nobody answers " * 23_000
    long_id = "x" * 20_000
    tx.loc[len(tx)] = [long_id, tx.loc[0, "timestamp"], 5.0, 999_999, 1]
    folder = tmp_path / "hostile"
    folder.mkdir()
    for name, frame in (("transactions", tx), ("engagement", eng), ("customers", cust)):
        frame.to_csv(folder / f"{name}.csv", index=False)

    crm = f"sqlite:///{tmp_path / 'crm.db'}"
    result = cli(
        ["score", "--data", str(folder), "--crm-url", crm, "--tracking-uri", tracking,
         "--model", "models:/clvml@champion"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    engine = sa.create_engine(crm)
    with engine.connect() as conn:
        scores = pd.read_sql("SELECT * FROM customer_scores", conn)
        quarantine = pd.read_sql("SELECT * FROM customer_scores_quarantine", conn)
        runs = pd.read_sql("SELECT * FROM clvml_score_runs", conn)
    engine.dispose()
    assert set(NA_IDS) <= set(scores["customer_id"])
    reasons = " ".join(quarantine["reason"])
    for rule in ("amount_out_of_range", "count_out_of_range", "id_too_long"):
        assert f"[{rule}]" in reasons
    assert long_id not in set(scores["customer_id"])
    run = runs.iloc[-1]
    assert run["rows_read"] == run["rows_written"] + run["rows_quarantined"]
