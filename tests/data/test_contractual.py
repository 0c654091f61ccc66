"""The generated subscription world (``clvml generate --contractual``): recovery and placebo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import clvml.cli.generate  # noqa: F401  (registers the command)
from clvml.cli._app import run
from clvml.data.contractual import generate_contractual
from clvml.data.folder import check_folder
from clvml.data.subscriptions import compress_spells, subscription_spells
from clvml.exceptions import DataValidationError
from clvml.models.subscription import BetaDiscreteWeibull


def _spells(world, **where: object) -> pd.DataFrame:
    spells = subscription_spells(world.subscriptions, as_of=world.observation_end).spells
    truth = world.truth.set_index("customer_id")[["channel", "complained", "treated"]]
    spells = spells.join(truth, on="customer_id")
    return spells[spells["period"] == "month"]


def _fit(spells: pd.DataFrame) -> BetaDiscreteWeibull:
    return BetaDiscreteWeibull().fit(compress_spells(spells))


def test_same_seed_same_world_and_valid_tables() -> None:
    a = generate_contractual(3_000, random_state=5)
    b = generate_contractual(3_000, random_state=5)
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
    subs = a.subscriptions
    assert subs["end"].isna().any() and subs["end"].notna().any()
    assert (subs["end"].dropna() <= a.observation_end).all()
    assert (subs["start"] <= a.calibration_end).all()


def test_the_truth_is_consistent_with_the_tables() -> None:
    world = generate_contractual(20_000, random_state=3)
    truth, subs = world.truth, world.subscriptions
    seen = subs["end"].notna().to_numpy()
    assert (truth["true_end"].to_numpy()[seen] == subs["end"].to_numpy()[seen]).all()
    assert (truth["true_end"].to_numpy()[~seen] > np.datetime64(world.observation_end)).all()
    # replies go to treated complainers only; the control group is a random fifth
    eng = world.tables["engagement"]
    replied = set(eng.loc[eng["direction"] == "outbound", "customer_id"])
    treated = set(truth.loc[truth["treated"], "customer_id"])
    assert replied <= treated and len(treated - replied) == 0
    control = world.tables["customers"]["control_group"].to_numpy()
    assert abs(control.mean() - 0.2) < 0.02
    assert not (truth["treated"].to_numpy() & control).any()
    # the attainable expectation of the holdout renewals agrees with what happened
    alive = truth["alive_at_calibration_end"].to_numpy()
    gap = (
        truth["holdout_renewals"].to_numpy()[alive]
        - truth["expected_holdout_renewals"].to_numpy()[alive]
    )
    assert abs(gap.mean()) < 3 * gap.std() / np.sqrt(alive.sum())


@pytest.mark.parametrize("seed", [1, 2])
def test_planted_bdw_parameters_are_recovered(seed: int) -> None:
    world = generate_contractual(150_000, random_state=seed)
    base = _spells(world)
    base = base[(base["channel"] == "organic") & ~base["complained"]]
    fit = _fit(base)
    for name in ("alpha", "beta", "c"):
        planted = world.params[name]
        assert abs(fit.params_[name] - planted) < 3 * fit.standard_errors_[name], name
    assert fit.params_["c"] < 1 - 5 * fit.standard_errors_["c"]  # duration dependence found


def _care_test(world) -> tuple[float, BetaDiscreteWeibull, BetaDiscreteWeibull]:
    """LR test of separate fits for treated vs control complainers (3 df) and the fits."""
    spells = _spells(world)
    spells = spells[spells["complained"] & (spells["channel"] == "organic")]
    treated, control = spells[spells["treated"]], spells[~spells["treated"]]
    ft, fc, pooled = _fit(treated), _fit(control), _fit(spells)
    lr = 2 * (ft.log_likelihood_ + fc.log_likelihood_ - pooled.log_likelihood_)
    return float(stats.chi2.sf(lr, 3)), ft, fc


def test_the_care_effect_is_found_when_planted() -> None:
    p, treated, control = _care_test(generate_contractual(150_000, random_state=4))
    assert p < 1e-6
    # beta (the "stay" side of theta's distribution) is about e^0.7 = 2.0 times larger
    ratio = treated.params_["beta"] / control.params_["beta"]
    assert 1.5 < ratio < 3.0


@pytest.mark.parametrize("seed", [6, 7])
def test_placebo_finds_no_care_effect(seed: int) -> None:
    p, _, _ = _care_test(generate_contractual(150_000, random_state=seed, care_effect=0.0))
    assert p > 0.01


def test_bad_settings_are_one_line_errors() -> None:
    with pytest.raises(DataValidationError, match=r"c=0\.0; expected a number > 0"):
        generate_contractual(10, c=0.0)
    with pytest.raises(DataValidationError, match=r"control_share=1\.5"):
        generate_contractual(10, control_share=1.5)
    with pytest.raises(DataValidationError, match="before the acquisition window ends"):
        generate_contractual(10, calibration_end="2022-06-01")


def test_cli_writes_a_folder_clvml_validate_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "subs"
    code = run(
        ["generate", "--contractual", "--out", str(out), "-n", "2000", "--seed", "3",
         "--format", "csv", "--placebo"]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "subscriptions  2,000" in printed and "care effect 0;" in printed
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["kind"] == "contractual" and meta["care_effect"] == 0.0
    assert sorted(meta["tables"]) == ["customers", "engagement", "subscriptions", "truth"]
    check = check_folder(out)
    assert check.ok, [o for r in check.reports.values() for o in r.errors]
    assert set(check.frames) == {"subscriptions", "customers", "engagement"}
