"""Formula vs sBG vs BdW on a subscription holdout (issue #19, the side by side)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from clvml.data.contractual import generate_contractual
from clvml.evaluation.subscription_comparison import (
    compare_subscription_clv,
    formula_retention,
    plot_retention_curves,
)
from clvml.exceptions import DataValidationError


@pytest.fixture(scope="module")
def world():
    return generate_contractual(40_000, random_state=11)


@pytest.fixture(scope="module")
def by_cohort(world):
    return compare_subscription_clv(
        world.subscriptions, world.calibration_end, holdout_end=world.observation_end,
        by=("cohort",), cohort="year",
    )  # fmt: skip


def test_formula_retention_by_hand() -> None:
    s = pd.DataFrame(
        {
            "start": pd.to_datetime(["2024-01-05", "2024-01-20", "2024-02-03", "2024-02-15"]),
            "end": pd.to_datetime(["2024-02-10", None, None, "2024-03-15"]),
        }
    )
    # Feb: a, b at its start, b kept (a left) -> 1/2; Mar: b, c, d at its start, d left
    # -> 2/3; Apr is not over on the cut-off. Pooled: (1 + 2) / (2 + 3).
    assert formula_retention(s, "2024-04-15") == pytest.approx(3 / 5)
    assert formula_retention(s, "2024-04-01") == pytest.approx(3 / 5)
    assert np.isnan(formula_retention(s, "2024-02-01"))


def test_realised_renewals_equal_the_generators_truth(world, by_cohort) -> None:
    truth = world.truth.set_index("customer_id").drop(columns="period")
    got = by_cohort.customers.join(truth, on="customer_id")
    assert got["alive_at_calibration_end"].all()
    assert len(got) == int(truth["alive_at_calibration_end"].sum())
    assert (got["realised_renewals"] == got["holdout_renewals"]).all()
    assert (got["tenure"] == got["tenure_at_calibration_end"]).all()
    money = (got["realised_renewals"] * got["price_per_period"]).sum()
    table = by_cohort.table
    body = table[table["cohort"] != "all"]
    assert body["realised"].sum() == pytest.approx(money)
    # the all row compares like with like: the groups every method could predict
    complete = body[["formula", "sbg", "bdw"]].notna().all(axis=1)
    assert not complete.all()  # the 2023 yearly cohort saw no whole calendar year
    assert table.iloc[-1]["realised"] == pytest.approx(body.loc[complete, "realised"].sum())


def test_formula_underpredicts_a_heterogeneous_base_and_bdw_does_not(world, by_cohort) -> None:
    table = by_cohort.table.set_index(["cohort", "period"])
    monthly = table.xs("month", level="period")
    # the churn-prone left first: the survivors renew more than a constant r says
    assert (monthly["formula_error"] < -0.10).all()
    assert (monthly["bdw_error"].abs() < 0.03).all()
    # BdW (the planted model) is at least as close as sBG, and c != 1 is detected
    assert (monthly["bdw_error"].abs() <= monthly["sbg_error"].abs() + 0.005).all()
    assert (monthly["lr_p_value"] < 1e-6).all()
    # BdW's totals sit within 2% of the attainable truth (the customers' own thetas)
    truth = world.truth.set_index("customer_id")[["expected_holdout_renewals", "price_per_period"]]
    got = by_cohort.customers.join(truth, on="customer_id")
    got = got[got["period"] == "month"]
    attainable = (
        (got["expected_holdout_renewals"] * got["price_per_period"]).groupby(got["cohort"]).sum()
    )
    np.testing.assert_allclose(monthly["bdw"].loc[attainable.index], attainable, rtol=0.02)


def test_without_heterogeneity_the_formula_is_right() -> None:
    # theta ~ Beta(300, 2700): every customer churns 10% a month, c = 1 (geometric)
    world = generate_contractual(
        30_000, random_state=2, alpha=300.0, beta=2700.0, c=1.0, care_effect=0.0
    )
    subs = world.subscriptions[world.subscriptions["period"] == "month"]
    got = compare_subscription_clv(
        subs, world.calibration_end, holdout_end=world.observation_end,
        by=("acquisition_channel",), customers=world.tables["customers"],
    ).table.set_index("acquisition_channel")  # fmt: skip
    organic = got.loc["organic"]
    assert organic["retention"] == pytest.approx(0.9, abs=0.005)
    assert abs(organic["formula_error"]) < 0.03
    assert abs(organic["sbg_error"]) < 0.03


def test_groups_from_the_customers_table_and_the_all_row(world) -> None:
    got = compare_subscription_clv(
        world.subscriptions, world.calibration_end, holdout_end=world.observation_end,
        by=("acquisition_channel",), customers=world.tables["customers"],
    ).table  # fmt: skip
    assert set(got["acquisition_channel"]) == {
        "organic", "paid_search", "referral", "social", "all"
    }  # fmt: skip
    body = got[got["acquisition_channel"] != "all"]
    assert got.iloc[-1]["customers"] == body["customers"].sum()
    assert set(body["period"]) == {"month", "year"}  # billing periods never pooled


def test_retention_curves_and_plot(by_cohort) -> None:
    curves = by_cohort.curves
    monthly = curves[(curves["period"] == "month") & (curves["cohort"] == "2022")]
    early, late = monthly["observed"].iloc[0], monthly["observed"].iloc[20]
    assert late > early + 0.1  # observed retention rises with tenure
    assert monthly["formula"].nunique() == 1  # the formula's is flat
    assert monthly["bdw"].iloc[20] > monthly["bdw"].iloc[0]
    ax = plot_retention_curves(by_cohort, "2022")
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["observed", "formula (constant r)", "sBG", "BdW"]
    with pytest.raises(DataValidationError, match="no group '1999'"):
        plot_retention_curves(by_cohort, "1999")


def test_bad_requests_are_one_line_errors(world) -> None:
    subs = world.subscriptions
    with pytest.raises(DataValidationError, match="is not after the cut-off"):
        compare_subscription_clv(subs, "2024-07-01", holdout_end="2024-06-01")
    with pytest.raises(DataValidationError, match="no subscription is active"):
        compare_subscription_clv(subs, "2021-06-01", holdout_end="2022-06-01")
    with pytest.raises(DataValidationError, match="column 'segment'"):
        compare_subscription_clv(subs, world.calibration_end, by=("segment",))


def test_new_customer_value_is_the_sbg_closed_form_del(world, by_cohort) -> None:
    # clv_new sums S(t) / (1 + d)^t numerically; sBG has it in closed form (2F1)
    row = by_cohort.table.set_index(["cohort", "period"]).loc[("2022", "month")]
    sbg = by_cohort.models[("2022", "month")]["sbg"]
    d = 1.10 ** (1 / 12) - 1
    subs = world.subscriptions
    first = subs[(subs["start"].dt.year == 2022) & (subs["period"] == "month")]
    price = first["price_per_period"].mean()
    expected = price * sbg.discounted_expected_lifetime(d)
    assert row["clv_new_sbg"] == pytest.approx(expected, rel=1e-6)
    # the formula's is the geometric lifetime 1 / (1 - r / (1 + d)) at its own r
    r = row["retention"]
    assert row["clv_new_formula"] == pytest.approx(price / (1 - r / (1 + d)), rel=1e-6)
    assert row["clv_new_formula"] < 0.7 * row["clv_new_bdw"]  # heterogeneity ignored
    with pytest.raises(DataValidationError, match="annual_discount_rate=0"):
        compare_subscription_clv(subs, world.calibration_end, annual_discount_rate=0.0)


@pytest.mark.parametrize(
    ("survivors", "r"),
    [
        ([1000, 631, 468, 382, 326, 289, 262, 241], 0.835),  # FH2007 regular
        ([1000, 869, 743, 653, 593, 551, 517, 491], 0.904),  # FH2007 high end
    ],
)
def test_formula_on_a_published_cohort_sees_years_2_to_7(survivors: list[int], r: float) -> None:
    # the cohort starts on 1 January 2000 and loses its customers mid-year; on calendar
    # years its first year's churn is C_N's business, so r pools years 2-7
    s = np.asarray(survivors)
    t0 = pd.Timestamp("2000-01-01")
    ends = [
        t0 + pd.DateOffset(years=t - 1, days=100)
        for t, k in enumerate(s[:-1] - s[1:], 1)
        for _ in range(k)
    ]
    spells = pd.DataFrame({"start": t0, "end": pd.to_datetime(ends + [pd.NaT] * int(s[-1]))})
    got = formula_retention(spells, "2007-01-01", "year")
    assert got == pytest.approx(s[2:].sum() / s[1:-1].sum(), rel=1e-12)
    assert round(got, 3) == r  # docs/subscriptions.md


def test_spells_without_a_price_are_counted_in_the_notes(world) -> None:
    subs = world.subscriptions.copy()
    subs.loc[subs.index[:50], "price_per_period"] = np.nan
    got = compare_subscription_clv(
        subs, world.calibration_end, holdout_end=world.observation_end, by=()
    ).table
    active = world.truth["alive_at_calibration_end"].to_numpy()[:50]
    monthly = (subs["period"].to_numpy()[:50] == "month") & active
    yearly = (subs["period"].to_numpy()[:50] == "year") & active
    notes = dict(zip(got["period"], got["notes"], strict=True))
    assert f"{monthly.sum()} active spells without a price counted at 1" in notes["month"]
    assert f"{yearly.sum()} active spells without a price counted at 1" in notes["year"]
