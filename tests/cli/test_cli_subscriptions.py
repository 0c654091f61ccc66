"""clvml evaluate / train / score on a subscription business (issue #19): a folder with a
``subscriptions`` table (and ``customers``) and no transactions."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import clvml.cli.evaluate
import clvml.cli.score
import clvml.cli.segments
import clvml.cli.train  # noqa: F401  (the four register their commands)
from clvml.cli._app import run
from clvml.data.subscriptions import add_periods
from clvml.exceptions import ConvergenceWarning
from clvml.models.subscription import (
    ShiftedBetaGeometric,
    ShiftedBetaGeometricCovariates,
    likelihood_ratio_test,
)
from clvml.pipelines.subscriptions import evaluate_subscriptions, load_subscriptions, spell_frame

FIRST, LAST = pd.Timestamp("2017-01-01"), pd.Timestamp("2023-12-31")
#: Planted: paid-search subscribers churn more (alpha up), referrals less (beta up).
CHANNELS = {"organic": (0.9, 2.5), "paid_search": (1.8, 2.5), "referral": (0.9, 4.5)}


def write_world(folder: Path, n: int = 2_000, seed: int = 0) -> pd.DataFrame:
    """One spell per customer, monthly (80%) or yearly, churn planted by channel; writes
    subscriptions.csv and customers.csv; returns the spells with their true ``T``."""
    rng = np.random.default_rng(seed)
    channel = rng.choice(list(CHANNELS), n, p=[0.5, 0.3, 0.2])
    a = np.array([CHANNELS[c][0] for c in channel])
    b = np.array([CHANNELS[c][1] for c in channel])
    t = rng.geometric(rng.beta(a, b))
    days = (LAST - FIRST).days
    start = FIRST + pd.to_timedelta(rng.integers(0, days, n), unit="D")
    period = np.where(rng.random(n) < 0.8, "month", "year")
    # the cancellation takes effect on the renewal date that was not paid (as clvml
    # generate --contractual writes it): billed at start + 0 .. t - 1 periods
    end = add_periods(pd.Series(start), t, period)
    end = end.where(end <= LAST)
    subs = pd.DataFrame(
        {
            "customer_id": [f"s{i:05d}" for i in range(n)],
            "start": pd.Series(start).dt.strftime("%Y-%m-%d"),
            "end": end.dt.strftime("%Y-%m-%d"),
            "period": period,
            "plan": np.where(rng.random(n) < 0.7, "basic", "premium"),
            "price_per_period": np.where(period == "year", 100.0, 10.0),
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": subs["customer_id"],
            "acquisition_date": subs["start"],
            "acquisition_channel": channel,
            "acquisition_cost": np.select(
                [channel == "paid_search", channel == "referral"], [60.0, 20.0], 30.0
            ),
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    subs.to_csv(folder / "subscriptions.csv", index=False)
    customers.to_csv(folder / "customers.csv", index=False)
    return subs.assign(T=t)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("subs")
    write_world(path)
    return path


def test_models_fitted_on_the_planted_process_predict_the_holdout(tmp_path: Path) -> None:
    write_world(tmp_path, n=10_000, seed=5)
    res = evaluate_subscriptions(tmp_path, calibration_end="2022-12-31")
    table = res.table.set_index("method")
    assert set(table.index) == {"formula", "sbg", "bdw", "sbg_covariates", "bdw_covariates"}
    # the covariate sBG is the generating process: renewals within 5% of those paid
    assert abs(table.loc["sbg_covariates", "renewals_bias"]) < 0.05
    # the constant retention of the formula misses that survivors are the loyal ones
    assert table.loc["formula", "renewals_bias"] < -0.05
    assert table.loc["formula", "mae_renewals"] > table.loc["sbg_covariates", "mae_renewals"]
    assert table.drop(index="formula")["mae_renewals"].idxmin() == res.champion
    assert res.covariates == ["plan", "acquisition_channel"]
    # the realised renewals are counted from the calendar, independently of the models
    pred = res.predictions
    assert (pred["paid"] <= pred["horizon"]).all() and (pred["paid"] >= 0).all()
    assert table["renewals_paid"].iloc[0] == pred["paid"].sum()


def test_evaluate_prints_the_comparison_and_writes_it(world: Path, tmp_path: Path, capsys) -> None:
    out, preds = tmp_path / "table.json", tmp_path / "pred.csv"
    code = run(
        ["evaluate", "--data", str(world), "--calibration-end", "2022-12-31",
         "--out", str(out), "--predictions", str(preds)]
    )  # fmt: skip
    printed = capsys.readouterr()
    assert code == 0, printed.err
    flat = " ".join(printed.out.split())
    for name in ("formula", "sbg_covariates", "bdw_covariates", "sBG vs BdW", "(CF - CN) / CI"):
        assert name in flat
    rows = json.loads(out.read_text())
    methods = {r["method"] for r in rows}
    assert methods == {"formula", "sbg", "bdw", "sbg_covariates", "bdw_covariates"}
    assert len(pd.read_csv(preds)) == rows[0]["spells"]


def test_train_registers_and_score_writes_the_crm(world: Path, tmp_path: Path, capsys) -> None:
    store = tmp_path / "mlruns.db"
    code = run(["train", "--data", str(world), "--tracking-uri", f"sqlite:///{store}"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    flat = " ".join(printed.out.split())
    assert "is the first champion of clvml_subscriptions" in flat
    assert "LTV:CAC by acquisition channel" in flat
    # planted: referrals churn least and cost least, paid search churns most and costs most
    order = [c for c in ("referral", "organic", "paid_search") if c in flat]
    assert [flat.index(c) for c in order] == sorted(flat.index(c) for c in order)

    crm = tmp_path / "crm.db"
    code = run(
        ["score", "--data", str(world), "--crm-url", f"sqlite:///{crm}",
         "--tracking-uri", f"sqlite:///{store}"]
    )  # fmt: skip
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "Scored subscriptions with clvml_subscriptions version 1" in printed.out
    engine = sa.create_engine(f"sqlite:///{crm}")
    scores = pd.read_sql_table("customer_scores", engine).set_index("customer_id")
    engine.dispose()
    subs = pd.read_csv(world / "subscriptions.csv").set_index("customer_id")
    assert len(scores) == len(subs)
    gone = subs["end"].notna()
    assert (scores.loc[gone[gone].index, "clv"] == 0).all()
    assert (scores.loc[gone[gone].index, "churn_probability"] == 1).all()
    active = scores.loc[gone[~gone].index]
    assert (active["clv"] > 0).all() and active["p_active"].between(0, 1).all()
    np.testing.assert_allclose(active["p_active"] + active["churn_probability"], 1.0)
    # each subscriber's discounted expected residual lifetime (periods): CLV = DERL x margin x
    # price, and nothing left for a cancelled spell
    derl = active["expected_residual_lifetime"]
    assert np.isfinite(derl).all() and (derl >= 1.0).all()
    np.testing.assert_allclose(active["clv"], derl * active["expected_avg_spend"], rtol=1e-9)
    assert (scores.loc[gone[gone].index, "expected_residual_lifetime"] == 0).all()
    assert scores["value_tier"].notna().all() and scores["segment"].notna().all()
    # the tiers are fitted on the active subscribers: the cancelled (worth 0) are the rest
    assert (scores.loc[gone[gone].index, "value_tier"] == "rest").all()
    code = run(["segments", "--crm-url", f"sqlite:///{crm}"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "top 10%" in printed.out and "rest" in printed.out
    # yearly subscribers pay 100 a year, monthly 10 a month
    spend = scores["expected_avg_spend"].reindex(subs.index)
    np.testing.assert_allclose(spend, np.where(subs["period"] == "year", 100.0, 10.0))


def test_score_without_a_trained_model_is_one_line(world: Path, tmp_path: Path, capsys) -> None:
    code = run(
        ["score", "--data", str(world), "--crm-url", f"sqlite:///{tmp_path / 'c.db'}",
         "--tracking-uri", f"sqlite:///{tmp_path / 'none.db'}"]
    )  # fmt: skip
    printed = capsys.readouterr()
    assert code != 0
    assert "Traceback" not in printed.err and "train a model first" in printed.err


def test_evaluate_on_the_generated_contractual_world(tmp_path: Path, capsys) -> None:
    # clvml generate --contractual: BdW churn (c = 0.8), channels, plans, the care effect
    folder = tmp_path / "contractual"
    code = run(["generate", "--contractual", "-n", "4000", "--out", str(folder)])
    assert code == 0, capsys.readouterr().err
    with warnings.catch_warnings():  # the fits' convergence notes are returned, not warned
        warnings.simplefilter("error", ConvergenceWarning)
        res = evaluate_subscriptions(folder, calibration_end="2024-06-30")
    assert all("\n" not in note for note in res.notes)
    table = res.table.set_index("method")
    # the formula's constant retention under-predicts the loyal survivors' renewals; every
    # model conditions on tenure and is closer
    assert table.loc["formula", "renewals_bias"] < -0.10
    models = table.drop(index="formula")
    assert (models["renewals_bias"].abs() < abs(table.loc["formula", "renewals_bias"])).all()
    assert (models["mae_renewals"] < table.loc["formula", "mae_renewals"]).all()
    # the yearly-only plan is constant among the monthly spells: set aside there, silently;
    # the engagement table adds the first period's care contacts
    assert res.covariates == ["plan", "acquisition_channel", "care_contacts", "care_replied"]


@pytest.mark.parametrize("placebo", [False, True])
def test_care_replies_planted_in_the_generated_world_lower_churn(
    tmp_path: Path, capsys, placebo: bool
) -> None:
    # the generator answers a random 80% of first-period complainers; for them beta is
    # multiplied by exp(0.7) (lower churn); --placebo sets that effect to 0
    folder = tmp_path / "w"
    argv = ["generate", "--contractual", "-n", "8000", "--out", str(folder), "--seed", "3"]
    assert run([*argv, "--placebo"] if placebo else argv) == 0, capsys.readouterr().err
    tables = load_subscriptions(folder)
    spells = spell_frame(tables, tables.last_day)
    assert {"care_contacts", "care_replied"} <= set(spells.columns)
    monthly = spells[spells["period"] == "month"]
    complainers = monthly[monthly["care_contacts"] > 0]
    model = ShiftedBetaGeometricCovariates(covariates=["care_replied"]).fit(complainers)
    plain = ShiftedBetaGeometric().fit(complainers)
    lr = likelihood_ratio_test(plain, model)
    replied = pd.DataFrame({"care_replied": [0.0, 1.0]})
    r_no, r_yes = model.renewal_probability(replied, 1)
    if placebo:
        assert lr["p_value"] > 0.001
    else:
        assert lr["p_value"] < 1e-3 and r_yes > r_no
