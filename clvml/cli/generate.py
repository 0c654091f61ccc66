"""``clvml generate``: write a synthetic social-commerce data set with its planted truth."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from clvml.cli._app import app, console
from clvml.cli._options import iso


class OutputFormat(StrEnum):
    """File format of the written tables."""

    parquet = "parquet"
    csv = "csv"


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the tables to.")],
    customers: Annotated[
        int, typer.Option("--customers", "-n", min=1, help="Number of customers.")
    ] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 0,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="File format.")] = (
        OutputFormat.parquet
    ),
    social_effect: Annotated[
        float, typer.Option(help="Drop of the dropout log-odds after a resolved care reply.")
    ] = 1.0,
    sentiment_effect: Annotated[
        float, typer.Option(help="Drop of the dropout log-odds per SD of latent satisfaction.")
    ] = 1.0,
    advocacy_effect: Annotated[
        float, typer.Option(help="Log purchase-rate increase per SD of latent advocacy.")
    ] = 0.5,
    disengagement_effect: Annotated[
        float, typer.Option(help="Share of routine engagement that stops after dropout.")
    ] = 0.8,
    control_share: Annotated[
        float, typer.Option(help="Share of customers the care team does not answer.")
    ] = 0.2,
    start: Annotated[
        str | None,
        typer.Option(
            callback=iso("--start"),
            help="Start of the acquisition window [default: 2024-01-01; 2022-01-01 with "
            "--contractual].",
        ),
    ] = None,
    calibration_end: Annotated[
        str | None,
        typer.Option(
            callback=iso("--calibration-end"),
            help="End of the calibration period [default: start + 78 weeks; with "
            "--contractual the end of the 24-month acquisition window + 6 months].",
        ),
    ] = None,
    horizon: Annotated[
        float,
        typer.Option(
            help="Weeks of data after the calibration end (the holdout; whole months, "
            "rounded, with --contractual)."
        ),
    ] = 52.0,
    placebo: Annotated[
        bool, typer.Option("--placebo", help="Set all four effects to 0 (no social signal).")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace OUT if it exists and is not empty.")
    ] = False,
    oracle: Annotated[
        bool,
        typer.Option(
            "--oracle/--no-oracle",
            help="Write the attainable oracle in the truth table (about 1 ms per customer).",
        ),
    ] = True,
    contractual: Annotated[
        bool,
        typer.Option(
            "--contractual",
            help="A subscription world instead: subscriptions, customers, care "
            "engagement and the truth, churn from the beta-discrete-Weibull model "
            "(docs/subscriptions.md).",
        ),
    ] = False,
    care_effect: Annotated[
        float,
        typer.Option(
            help="--contractual: log-multiplier of beta (less churn) for complainers the "
            "care team answers; 0 with --placebo.",
        ),
    ] = 0.7,
    duration_dependence: Annotated[
        float,
        typer.Option(
            help="--contractual: c of the BdW model (1 = sBG; < 1 churn falls with tenure).",
        ),
    ] = 0.8,
) -> None:
    """Generate customers, transactions, engagement events and the truth.

    Purchases follow BG/NBD and spend Gamma-Gamma, shifted by engagement with
    the planted effect sizes; --placebo (or all effects 0) gives a world in
    which the social data carry no signal about purchasing. With --contractual,
    a subscription world: spells whose churn follows the beta-discrete-Weibull
    model with a planted care effect for a randomised treated group.
    """
    if contractual:
        _contractual(
            out,
            customers,
            seed,
            fmt.value,
            care_effect=0.0 if placebo else care_effect,
            c=duration_dependence,
            control_share=control_share,
            start=start or "2022-01-01",
            calibration_end=calibration_end,
            horizon_weeks=horizon,
            overwrite=overwrite,
        )
        return
    from clvml.data.synthetic import TABLES, generate_social_commerce, write_dataset

    start = start or "2024-01-01"
    if placebo:
        social_effect = sentiment_effect = advocacy_effect = disengagement_effect = 0.0
    began = time.perf_counter()
    ds = generate_social_commerce(
        customers,
        seed,
        start=start,
        calibration_end=calibration_end,
        horizon=horizon,
        social_effect=social_effect,
        sentiment_effect=sentiment_effect,
        advocacy_effect=advocacy_effect,
        disengagement_effect=disengagement_effect,
        control_share=control_share,
        oracle=oracle,
    )
    path = write_dataset(ds, out, fmt=fmt.value, overwrite=overwrite)
    elapsed = time.perf_counter() - began

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("file")
    for name in TABLES:
        table.add_row(
            name, f"{len(getattr(ds, name)):,}", escape(str(path / f"{name}.{fmt.value}"))
        )
    console.print(table)
    truth = ds.truth
    console.print(
        f"calibration end {ds.calibration_end.date()}, data end {ds.observation_end.date()}; "
        f"control group {ds.customers['control_group'].mean():.1%}; "
        f"holdout churn {truth['churned'].mean():.1%}; "
        f"effects social={social_effect:g} sentiment={sentiment_effect:g} "
        f"advocacy={advocacy_effect:g} disengagement={disengagement_effect:g}; {elapsed:.1f} s",
        highlight=False,
    )


def _contractual(
    out: Path,
    customers: int,
    seed: int,
    fmt: str,
    *,
    care_effect: float,
    c: float,
    control_share: float,
    start: str,
    calibration_end: str | None,
    horizon_weeks: float,
    overwrite: bool,
) -> None:
    """``clvml generate --contractual``: write the subscription world and print its summary."""
    from clvml.data.contractual import generate_contractual, write_contractual

    began = time.perf_counter()
    months = max(1, round(horizon_weeks * 12 / 52))
    world = generate_contractual(
        customers,
        seed,
        c=c,
        care_effect=care_effect,
        control_share=control_share,
        start=start,
        calibration_end=calibration_end,
        horizon=months,
    )
    path = write_contractual(world, out, fmt, overwrite=overwrite)
    elapsed = time.perf_counter() - began
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("file")
    for name, frame in world.tables.items():
        table.add_row(name, f"{len(frame):,}", escape(str(path / f"{name}.{fmt}")))
    console.print(table)
    truth = world.truth
    subs = world.subscriptions
    console.print(
        f"calibration end {world.calibration_end.date()}, data end "
        f"{world.observation_end.date()} ({months} months of holdout); "
        f"active at the data end {subs['end'].isna().mean():.1%}; "
        f"complained {truth['complained'].mean():.1%}, control group "
        f"{world.tables['customers']['control_group'].mean():.1%}; planted alpha "
        f"{world.params['alpha']:g} beta {world.params['beta']:g} c {c:g} care effect "
        f"{care_effect:g}; {elapsed:.1f} s",
        highlight=False,
    )
