"""Engines: where a training run reads, validates and summarises the data.

The train pipeline (:func:`clvml.pipelines.train.train`) is one sequence of steps; an
engine decides where the data-heavy ones run. :class:`TrainEngine` is the protocol:

``read_tables``
    the tables of ``[data]`` and where they came from;
``validate``
    every row checked against the data contracts, with the config's policies;
``last_purchase``
    the last transaction time of the validated data (it places the holdout window);
``customer_frame``
    the validated tables, as pandas, of the customers the driver-side steps see
    (method comparison, supervised parts, holdout evaluation): a reproducible hash sample
    of at most ``local.sample_customers`` (local) or ``spark.sample_customers`` (Spark)
    customers, the same rule and the same customers on both
    (:mod:`clvml.pipelines.sample`); every customer below that size;
``fit_btyd``
    a :data:`BtydFitter` the served model fits its BTYD parts with, on every customer
    when the driver-side steps see a sample (``None``: the model fits its own on the
    customer frame);
``finish``
    release what the engine holds and say what the run should record about it.

:class:`LocalEngine` is the single-machine engine (pandas on this machine); the Spark
engine is :class:`clvml.spark.train.SparkEngine`. Engines are used for one run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from clvml.data.io import ID_COLUMNS, DataSourceError, is_database_url, load_tables, read_table
from clvml.data.policy import ValidationPolicy
from clvml.data.validation import validate_customers, validate_engagement, validate_transactions
from clvml.pipelines.config import ConfigError, TrainConfig, data_source, resolve_source
from clvml.pipelines.steps import Steps
from clvml.tracking.store import redact_uri

__all__ = [
    "TABLES",
    "BtydFitter",
    "EngineRun",
    "LocalEngine",
    "TrainEngine",
    "btyd_fitter",
    "fit_btyd_step",
    "load_tables_of",
    "validate_tables",
]

TABLES = ("transactions", "engagement", "customers")

#: ``fit(day) -> (BetaGeo, GammaGamma)`` fitted on the data up to ``day`` (inclusive).
BtydFitter = Callable[[pd.Timestamp], tuple[Any, Any]]


@dataclass
class EngineRun:
    """What a training run records about its engine.

    Attributes
    ----------
    inputs : dict of str to pandas.DataFrame
        The tables logged as the run's MLflow inputs, by name.
    origins : dict of str to str
        Where each of ``inputs`` came from (URLs without passwords).
    params : dict of str to str
        Run parameters (``engine`` and the engine's own).
    metrics : dict of str to float
        Run metrics (e.g. the customers sampled).
    """

    inputs: dict[str, pd.DataFrame]
    origins: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class TrainEngine(Protocol):
    """Where the data-heavy steps of a training run happen (see the module notes)."""

    name: str

    def read_tables(self, cfg: TrainConfig, steps: Steps) -> tuple[dict[str, Any], dict[str, str]]:
        """The raw tables by name, and where each came from."""
        ...

    def validate(
        self, tables: dict[str, Any], cfg: TrainConfig, steps: Steps
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The validated tables and a validation report per table."""
        ...

    def last_purchase(self, tables: dict[str, Any]) -> pd.Timestamp:
        """The last transaction time of the validated tables."""
        ...

    def customer_frame(
        self, tables: dict[str, Any], cfg: TrainConfig, steps: Steps
    ) -> dict[str, pd.DataFrame]:
        """The validated pandas tables of the customers the driver-side steps see."""
        ...

    def fit_btyd(
        self, tables: dict[str, Any], cfg: TrainConfig, cutoff: pd.Timestamp, steps: Steps
    ) -> BtydFitter | None:
        """The BTYD fitter of the served model, or None to let it fit its own."""
        ...

    def finish(
        self, tables: dict[str, Any], frames: dict[str, pd.DataFrame], origins: dict[str, str]
    ) -> EngineRun:
        """Release the engine's resources; what the run records about it."""
        ...


class LocalEngine:
    """The single-machine engine: every step in pandas.

    Reading, validation and the BTYD models of the served model cover every customer;
    above ``local.sample_customers`` customers, the method comparison, the supervised
    parts and the holdout evaluation see a hash sample of them (the Spark engine's rule,
    :mod:`clvml.pipelines.sample`), as on Spark.
    """

    name = "local"
    _n_total = 0
    _n_sampled = 0

    def read_tables(
        self, cfg: TrainConfig, steps: Steps
    ) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
        """Read ``[data]`` (a folder or a database, per-table overrides)."""
        with steps.step("load data", str(redact_uri(cfg["data"]["source"]))) as note:
            raw, origins = load_tables_of(cfg)
            note(", ".join(f"{k} {len(v):,} rows" for k, v in raw.items()))
        return raw, origins

    def validate(
        self, tables: dict[str, pd.DataFrame], cfg: TrainConfig, steps: Steps
    ) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
        """The pandas validators of :mod:`clvml.data.validation`."""
        with steps.step("validate") as note:
            frames, reports = validate_tables(tables, cfg)
            note(
                ", ".join(
                    f"{k} {r.rows_kept:,} kept / {r.rows_set_aside:,} set aside"
                    for k, r in reports.items()
                )
            )
        return frames, reports

    def last_purchase(self, tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
        """The last transaction time."""
        return pd.Timestamp(tables["transactions"]["timestamp"].max())

    def customer_frame(
        self, tables: dict[str, pd.DataFrame], cfg: TrainConfig, steps: Steps
    ) -> dict[str, pd.DataFrame]:
        """The validated tables, or their rows of the customer sample above the limit."""
        from clvml.pipelines.sample import sample_mask, sample_threshold

        limit = int(cfg["local"]["sample_customers"])
        ids = pd.unique(tables["transactions"]["customer_id"].astype(str).to_numpy())
        self._n_total = self._n_sampled = len(ids)
        if sample_threshold(len(ids), limit) is None:
            return tables
        with steps.step("sample customers", f"at most {limit:,}") as note:
            keep = ids[sample_mask(ids, limit, seed=int(cfg["seed"]))]
            frames = {
                name: frame.loc[frame["customer_id"].astype(str).isin(keep)].reset_index(drop=True)
                for name, frame in tables.items()
            }
            self._n_sampled = len(keep)
            note(
                f"{self._n_sampled:,} of {self._n_total:,} customers, "
                + ", ".join(f"{k} {len(v):,} rows" for k, v in frames.items())
            )
        return frames

    def fit_btyd(
        self,
        tables: dict[str, pd.DataFrame],
        cfg: TrainConfig,
        cutoff: pd.Timestamp,
        steps: Steps,
    ) -> BtydFitter | None:
        """None without a sample (the served model fits its BTYD parts on the customer
        frame itself); with one, :func:`btyd_fitter` on every customer, fitted at the
        cut-off now."""
        if self._n_sampled >= self._n_total:
            return None
        fitter = btyd_fitter(
            tables["transactions"], penalizer=float(cfg["model"]["params"].get("penalizer", 0.0))
        )
        fit_btyd_step(steps, fitter, cutoff)
        return fitter

    def finish(
        self,
        tables: dict[str, pd.DataFrame],
        frames: dict[str, pd.DataFrame],
        origins: dict[str, str],
    ) -> EngineRun:
        """Nothing to release; the inputs are the tables read (a sample is logged as one)."""
        sampled = self._n_sampled < self._n_total
        logged = {f"{k}_sample" if sampled else k: v for k, v in frames.items()}
        return EngineRun(
            inputs=logged,
            origins={f"{k}_sample" if sampled else k: v for k, v in origins.items()},
            params={
                "engine": self.name,
                "local.sampled": str(sampled).lower(),
                "resolved.evaluated_on": "customer sample" if sampled else "every customer",
            },
            metrics={
                "data.customers_total": self._n_total,
                "data.customers_sampled": self._n_sampled,
            },
        )


def fit_btyd_step(steps: Steps, fitter: BtydFitter, cutoff: pd.Timestamp) -> None:
    """Fit the served model's BTYD parts on every customer as of ``cutoff`` in the step
    "fit BTYD", whose line names the customers and distinct rows each model saw (both
    engines)."""
    with steps.step("fit BTYD", f"every customer, cut-off {cutoff.date()}") as note:
        bg, gg = fitter(cutoff)
        note(
            f"BG/NBD on {bg.n_customers_:,.0f} customers ({bg.n_distinct_:,} distinct "
            f"rows), Gamma-Gamma on {gg.n_customers_:,.0f} ({gg.n_distinct_:,})"
        )


def btyd_fitter(transactions: pd.DataFrame, *, penalizer: float = 0.0) -> BtydFitter:
    """``fit(day) -> (BetaGeo, GammaGamma)`` fitted on every customer of ``transactions``.

    The models see what :class:`clvml.models.clv_model.CLVModel` fits its own on: the RFM
    columns of the customer frame as of ``day`` (inclusive;
    :func:`clvml.features.dataset.customer_features` without engagement, so no feature
    work beyond the RFM summary), with the age floor and the zero-spend rule of
    :func:`clvml.models.methods._btyd.fit_btyd`. Fits are cached per day. The local
    counterpart of :func:`clvml.spark.train.btyd_fitter`.
    """
    from clvml.data.dates import as_day
    from clvml.features.dataset import customer_features
    from clvml.models.methods._btyd import age_floor, fit_btyd

    fits: dict[pd.Timestamp, tuple[Any, Any]] = {}

    def fit(day: pd.Timestamp) -> tuple[Any, Any]:
        day = as_day(day, name="cutoff")
        if day not in fits:
            frame = age_floor(customer_features(transactions, cutoff=day))
            fits[day] = fit_btyd(frame, penalizer)
        return fits[day]

    return fit


def load_tables_of(cfg: TrainConfig) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The raw tables of ``[data]`` (folder or database, per-table overrides) and their origins."""
    data = cfg["data"]
    source = data_source(cfg)
    frames: dict[str, pd.DataFrame] = {}
    origins: dict[str, str] = {}
    if source.startswith("table:"):
        raise ConfigError(
            f"data.source {redact_uri(source)}: Spark catalog tables need --engine spark"
        )
    if not is_database_url(source) and not Path(source).is_dir():
        raise FileNotFoundError(f"{source}: no such data folder (data.source / --data)")
    ids = [v for k, v in data["columns"].items() if k.rpartition(".")[2] in ID_COLUMNS]
    base = load_tables(source, text_columns=ids)
    for name, frame in base.items():
        frames[name] = frame
        origins[name] = redact_uri(source) if is_database_url(source) else source
    for name in TABLES:
        override = data[name]
        query = data[f"{name}_query"]
        if override is None and query is None:
            continue
        where = resolve_source(cfg, override) if override is not None else source
        if is_database_url(where):
            frames[name] = (
                read_table(where, query=query) if query else read_table(where, table=name)
            )
        elif query:
            raise ConfigError(f"data.{name}_query needs a database URL, got the file {where}")
        else:
            frames[name] = read_table(where, text_columns=ids)
        origins[name] = redact_uri(where) if is_database_url(where) else where
    if "transactions" not in frames:
        raise DataSourceError(f"{redact_uri(source)}: no transactions table")
    if data["columns"]:
        from clvml.data.mapping import rename_columns

        frames = rename_columns(frames, data["columns"], flag="--columns / data.columns")
    if not cfg["features"]["engagement"]:
        frames.pop("engagement", None)
    if not cfg["features"]["customers"]:
        frames.pop("customers", None)
    return frames, {k: origins[k] for k in frames}


def validation_policy(cfg: TrainConfig, now: object = None) -> ValidationPolicy:
    """The ``[data]`` policies of a training config (policies, ``tz``, ``timestamp_format``)."""
    data = cfg["data"]
    return ValidationPolicy(
        returns=data["returns"],
        duplicates=data["duplicates"],
        invalid=data["invalid"],
        now=now,
        tz=data["tz"],
        timestamp_format=data["timestamp_format"],
    )


def validate_tables(
    frames: dict[str, pd.DataFrame], cfg: TrainConfig
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Every table checked against its contract with the config's policies; (tables, reports)."""
    policy = validation_policy(cfg)
    out: dict[str, pd.DataFrame] = {}
    reports: dict[str, Any] = {}
    out["transactions"], reports["transactions"] = validate_transactions(
        frames["transactions"], policy, return_report=True
    )
    if "engagement" in frames:
        out["engagement"], reports["engagement"] = validate_engagement(
            frames["engagement"], policy, return_report=True
        )
    if "customers" in frames:
        out["customers"], reports["customers"] = validate_customers(
            frames["customers"], policy, return_report=True
        )
    return out, reports
