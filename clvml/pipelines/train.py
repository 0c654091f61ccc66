"""Training tracked in MLflow: data → validation → features → models → evaluation → registry.

:func:`train` runs the whole path for a :class:`~clvml.pipelines.config.TrainConfig`
and records it in one parent MLflow run with nested runs:

* parent run ``train <model> @ <cut-off> +<h>w``: the config as parameters
  (URLs without passwords, no customer data), the git commit and package
  version as tags, the data sets as MLflow inputs with a content digest,
  validation counts, the fitted BTYD parameters and standard errors, the
  served model's holdout metrics (``holdout.<metric>``), every method's
  comparison metrics (``<metric>.<method>``, e.g. ``normalized_gini.btyd``),
  plots, the pyfunc model, and the champion/challenger decision;
* child run ``compare ...``: the comparison table, deciles and supervision;
* one child run ``method <name>`` per method, with its metrics under their
  plain names, so methods can be compared side by side in the MLflow UI.

Time is split honestly: the models see the data up to ``calibration_end``
(inclusive day); the holdout is the ``horizon_weeks`` after it. The served
model is fitted on the data up to the cut-off, its supervised parts on the
window before it, and judged on the holdout, which decides the gate.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from clvml._version import __version__
from clvml.data.dates import as_day
from clvml.data.io import is_database_url
from clvml.evaluation.comparison import compare_methods
from clvml.exceptions import DataValidationError
from clvml.features.frames import FrameBuilder
from clvml.models.methods import DEFAULT_METHODS
from clvml.pipelines.config import GATE_METRICS, TrainConfig, data_source, load_config
from clvml.pipelines.engine import BtydFitter, LocalEngine, TrainEngine
from clvml.pipelines.evaluate import (
    champion_on_holdout,
    comparison_table,
    gate_value,
    holdout_metrics,
)
from clvml.pipelines.steps import Steps
from clvml.tracking.registry import GateDecision, current_champion, promote_if_better
from clvml.tracking.runlog import (
    data_metrics,
    draw_plots,
    finite,
    git_commit,
    log_comparison,
    log_fitted_params,
    log_inputs,
    log_validation,
    run_params,
)
from clvml.tracking.store import configure_mlflow, redact_uri

__all__ = ["Prepared", "TrainResult", "prepare", "train"]


@dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes
    ----------
    run_id : str
        The parent MLflow run.
    child_run_ids : dict of str to str
        Nested runs: ``"comparison"`` and ``"method <name>"``.
    experiment_id, tracking_uri : str
        Where the runs are (the URI without a password).
    comparison : pandas.DataFrame
        One row per method, the comparison metrics on the holdout.
    holdout : dict of str to float
        Metrics of the served model on the holdout (``clv`` and ``churn_probability``).
    decision : GateDecision or None
        The champion/challenger decision (None when not registering).
    model_uri : str
        URI of the logged pyfunc model.
    registered_version : str or None
        Version in the registry.
    calibration_end, holdout_end : str
        The time split.
    timings : dict of str to float
        Seconds per step.
    skipped_plots : dict of str to str
        Plots not drawn, with the reason (a plotting function not available).
    model : CLVModel
        The fitted model that was logged.
    """

    run_id: str
    experiment_id: str
    tracking_uri: str
    comparison: pd.DataFrame
    holdout: dict[str, float]
    model_uri: str
    calibration_end: str
    holdout_end: str
    decision: GateDecision | None = None
    registered_version: str | None = None
    child_run_ids: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    skipped_plots: dict[str, str] = field(default_factory=dict)
    model: Any = field(default=None, repr=False)


def calibration_end(cfg: TrainConfig, last: pd.Timestamp) -> pd.Timestamp:
    """The last day of the calibration period.

    ``window.calibration_end`` when given, else the generator's ``metadata.json`` of a
    data folder, else one horizon before ``last`` (the last transaction).
    """
    given = cfg["window"]["calibration_end"]
    if given is not None:
        return as_day(given, name="window.calibration_end")
    source = data_source(cfg)
    meta = Path(source) / "metadata.json"
    if not is_database_url(source) and meta.is_file():
        value = json.loads(meta.read_text()).get("calibration_end")
        if value:
            # the generator's calibration end is an exclusive midnight: the day before is the
            # last day of the calibration period
            return as_day(value, name=f"calibration_end in {meta}", exclusive=True)
    return as_day(last, name="the last transaction") - pd.Timedelta(
        days=round(7 * cfg["window"]["horizon_weeks"])
    )


# ---------------------------------------------------------------------------- models
def model_params(cfg: TrainConfig, *, with_methods: bool) -> dict[str, Any]:
    m = cfg["model"]
    params: dict[str, Any] = dict(
        margin=float(m["margin"]),
        annual_discount_rate=float(m["annual_discount_rate"]),
        **m["params"],
    )
    if with_methods and m["methods"] is not None:
        params["methods"] = tuple(m["methods"])
    return params


def fit_served_model(
    tx: pd.DataFrame,
    eng: pd.DataFrame | None,
    cust: pd.DataFrame | None,
    *,
    cutoff: pd.Timestamp,
    cfg: TrainConfig,
    btyd_fitter: BtydFitter | None = None,
    frames: FrameBuilder | None = None,
    reuse: Any = None,
) -> Any:
    """Fit the served model on the data up to ``cutoff`` only (nothing of the holdout).

    Supervised parts learn from the window of ``horizon_weeks`` before the cut-off
    (``model.supervised = "time"``) or are left out (``"none"``). ``btyd_fitter`` is
    passed to :func:`clvml.models.training.fit_clv_model` (the Spark engine fits the
    BTYD parts on every customer while the tables here are a sample), and so is
    ``frames``, the run's :class:`~clvml.features.frames.FrameBuilder` (a frame at a
    cut-off sees nothing after it, so the run's one builder serves here too), and
    ``reuse``, the comparison's model when it was fitted on the same frames (its fitted
    steps are served instead of being fitted again; see :func:`fit_clv_model`).
    """
    from clvml.models.training import fit_clv_model

    m = cfg["model"]
    params = model_params(cfg, with_methods=True)
    params.update(champion=m["champion"], random_state=cfg["seed"])
    if "methods" not in params and m["champion"] not in DEFAULT_METHODS:
        # a champion outside the default methods (e.g. pareto_nbd_all_spend) is fitted
        # beside them, so that it is the one served
        params["methods"] = (*DEFAULT_METHODS, m["champion"])
    upto = cutoff + pd.Timedelta(days=1)
    tx = tx.loc[tx["timestamp"] < upto]
    eng = None if eng is None else eng.loc[eng["timestamp"] < upto]
    supervised = None if m["supervised"] == "none" else m["supervised"]
    return fit_clv_model(
        tx,
        eng,
        cust,
        cutoff=cutoff,
        horizon_weeks=float(cfg["window"]["horizon_weeks"]),
        supervised=supervised,
        btyd_fitter=btyd_fitter,
        frames=frames,
        reuse=reuse,
        **params,
    )


# ---------------------------------------------------------------------------- train
def step_metrics(timings: dict[str, float]) -> dict[str, float]:
    """``time.<step>`` seconds of each step (``compare_methods``, ...) and ``peak_rss_mib``.

    The peak resident memory of this process so far (Linux reports it in KiB), for the
    issue's memory targets; a step of an engine that runs elsewhere (Spark) is its driver's.
    """
    import re
    import resource

    out = {
        "time." + re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_"): float(secs)
        for name, secs in timings.items()
    }
    out["time.total"] = float(sum(timings.values()))
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


@dataclass
class Prepared:
    """Everything a training engine hands to :func:`log_training`.

    ``frames`` are the validated pandas tables the driver-side steps read (the whole
    data on the pandas engine, a customer sample on Spark), ``reports`` the validation
    reports of the whole data, ``ds`` the customer frame at the cut-off with its holdout
    targets, ``table``/``comparison`` the method comparison and ``model``/``pred``/``holdout``
    the served model, its predictions on ``ds`` and their holdout metrics. ``params``
    and ``metrics`` are logged as they are (engine details).
    """

    frames: dict[str, pd.DataFrame]
    origins: dict[str, str]
    reports: dict[str, Any]
    ds: Any
    table: pd.DataFrame
    comparison: Any
    model: Any
    pred: pd.DataFrame
    holdout: dict[str, float]
    cutoff: pd.Timestamp
    holdout_end: pd.Timestamp
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


def holdout_window(cfg: TrainConfig, last: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The calibration end and the holdout end; refuses data ending before the holdout does."""
    cutoff = calibration_end(cfg, last)
    h = float(cfg["window"]["horizon_weeks"])
    holdout_end = cutoff + pd.Timedelta(days=round(7 * h))
    if last < holdout_end - pd.Timedelta(weeks=1):
        raise DataValidationError(
            f"the transactions end on {last.date()}, before the holdout end {holdout_end.date()} "
            f"(calibration end {cutoff.date()} + {h:g} weeks); move window.calibration_end "
            "earlier or shorten window.horizon_weeks",
            column="timestamp",
        )
    return cutoff, holdout_end


def compare_and_fit(
    steps: Steps,
    cfg: TrainConfig,
    frames: dict[str, pd.DataFrame],
    *,
    cutoff: pd.Timestamp,
    holdout_end: pd.Timestamp,
    btyd_fitter: BtydFitter | None = None,
) -> tuple[Any, pd.DataFrame, Any, Any, pd.DataFrame, dict[str, float]]:
    """Features, method comparison, served model and its holdout metrics on ``frames``.

    One :class:`~clvml.features.frames.FrameBuilder` serves the whole run: the holdout
    features, the comparison and the served model's fit read each cut-off's customer
    frame from it, so each distinct cut-off is built once and each distinct text's
    sentiment scored once.

    Returns ``(ds, table, comparison, model, pred, holdout)``.
    """
    from clvml.features.dataset import build_customer_dataset

    tx, eng, cust = frames["transactions"], frames.get("engagement"), frames.get("customers")
    metric = cfg["gate"]["metric"]
    builder = FrameBuilder(tx, eng, cust)
    with steps.step("features", f"cut-off {cutoff.date()}") as note:
        ds = build_customer_dataset(
            tx, eng, cust, cutoff=cutoff, holdout_end=holdout_end, frames=builder
        )
        note(f"{len(ds.features):,} customers x {ds.features.shape[1]} features")
    with steps.step("compare methods", f"holdout to {holdout_end.date()}") as note:
        comparison = compare_methods(
            tx,
            eng,
            cust,
            calibration_end=cutoff,
            holdout_end=holdout_end,
            supervised=cfg["evaluation"]["supervised"],
            n_folds=cfg["evaluation"]["n_folds"],
            random_state=int(cfg["seed"]),
            frames=builder,
            **model_params(cfg, with_methods=True),
        )
        table = comparison_table(comparison)
        note(f"{len(table)} methods; {comparison.supervision}")
    with steps.step("fit model", "up to the cut-off") as note:
        model = fit_served_model(
            tx,
            eng,
            cust,
            cutoff=cutoff,
            cfg=cfg,
            btyd_fitter=btyd_fitter,
            frames=builder,
            reuse=comparison_model(comparison, cfg, cutoff, holdout_end, btyd_fitter),
        )
        note(
            f"champion method {getattr(model, 'champion_', '?')}, "
            f"methods {', '.join(getattr(model, 'methods_', []))}; {training_window_text(model)}"
        )
    with steps.step("evaluate model") as note:
        from clvml.models.model_input import predict_frame

        pred = predict_frame(model, ds.features)
        pred = pred.set_index(pred["customer_id"]).drop(columns="customer_id")
        holdout = holdout_metrics(pred, ds.targets)
        note(f"{metric} {holdout.get(metric, float('nan')):.4f}")
    return ds, table, comparison, model, pred, holdout


def comparison_model(
    comparison: Any,
    cfg: TrainConfig,
    cutoff: pd.Timestamp,
    holdout_end: pd.Timestamp,
    btyd_fitter: BtydFitter | None,
) -> Any:
    """The comparison's model when the served model would be fitted on the same frames.

    The comparison (``mode`` ``"time"``) fits on the frame at the cut-off with labels from
    the window one holdout before it; the served model (``model.supervised = "time"``)
    on the frame at the cut-off with labels from the window one horizon before it: the
    same fit when the holdout is the horizon (in days) and the BTYD parts are fitted on
    the same customers (no ``btyd_fitter``). Without labels on both sides (short
    history, ``mode`` ``"none"``) likewise. The parameters are checked by the fit.
    """
    models = getattr(comparison, "models", None)
    if btyd_fitter is not None or not models or comparison.mode not in ("time", "none"):
        return None
    span = pd.Timedelta(days=round(7 * float(cfg["window"]["horizon_weeks"])))
    if holdout_end - cutoff != span:
        return None
    if comparison.mode == "time" and cfg["model"]["supervised"] != "time":
        return None
    return models[0]


def training_window_text(model: Any) -> str:
    """Which window the served model's supervised parts learnt on, or why none."""
    window = getattr(model, "training_window_", None) or {}
    if window.get("label_start"):
        return (
            f"supervised parts trained on features at {window['train_cutoff']} and labels "
            f"{window['label_start']} to {window['label_end']}"
        )
    reasons = [r for m, r in getattr(model, "skipped_methods_", {}).items() if m != "churn"]
    if str(window.get("supervised", "")).startswith("none (short history)") and reasons:
        return f"short history: {reasons[0]}"
    return "no supervised parts"


def prepare(cfg: TrainConfig, steps: Steps, engine: TrainEngine) -> Prepared:
    """The training steps up to logging, with the data-heavy ones on ``engine``.

    Read, validate, place the holdout window, take the customer frame the driver-side
    steps see, fit the BTYD parts where the engine fits them, then compare the methods,
    fit the served model and judge it on the holdout.
    """
    raw, origins = engine.read_tables(cfg, steps)
    tables, reports = engine.validate(raw, cfg, steps)
    cutoff, holdout_end = holdout_window(cfg, engine.last_purchase(tables))
    frames: dict[str, pd.DataFrame] = {}
    try:
        frames = engine.customer_frame(tables, cfg, steps)
        fitter = engine.fit_btyd(tables, cfg, cutoff, steps)
        ds, table, comparison, model, pred, holdout = compare_and_fit(
            steps, cfg, frames, cutoff=cutoff, holdout_end=holdout_end, btyd_fitter=fitter
        )
    finally:
        run = engine.finish(tables, frames, origins)
    return Prepared(
        frames=run.inputs,
        origins=run.origins,
        reports=reports,
        ds=ds,
        table=table,
        comparison=comparison,
        model=model,
        pred=pred,
        holdout=holdout,
        cutoff=cutoff,
        holdout_end=holdout_end,
        params=run.params,
        metrics=run.metrics,
    )


def train(
    config: TrainConfig | str | os.PathLike[str] | None = None,
    *,
    console: Any | None = None,
    workdir: str | os.PathLike[str] | None = None,
    engine: TrainEngine | None = None,
    steps: Steps | None = None,
    **overrides: Any,
) -> TrainResult:
    """Train, evaluate, log to MLflow and register the CLV model.

    Parameters
    ----------
    config : TrainConfig, path or None
        The configuration (a TOML file or a loaded config); None uses the defaults.
    console : rich.console.Console, optional
        Shows a progress line per step when given; nothing is printed otherwise.
    workdir : path-like, optional
        Folder of the embedded tracking store (default: the working directory).
    engine : TrainEngine, optional
        Where the data-heavy steps run (:mod:`clvml.pipelines.engine`); default a
        :class:`~clvml.pipelines.engine.LocalEngine`.
    steps : Steps, optional
        The run's progress display, when the caller has begun it (default: a new one
        on ``console``).
    **overrides
        Values that override the config, as the CLI flags: ``data``,
        ``tracking_uri``, ``model_name``, ``experiment``, ``calibration_end``,
        ``horizon_weeks``, ``seed`` (None means not given).

    Returns
    -------
    TrainResult

    See Also
    --------
    clvml.spark.train.train : the same on Spark (BTYD fits on every customer).

    Examples
    --------
    >>> result = train(data="data/social", workdir="/tmp/clvml-runs")  # doctest: +SKIP
    >>> result.decision.summary  # doctest: +SKIP
    'version 1 (normalized_gini 0.6012) is the first champion of clvml'
    """
    cfg = config if isinstance(config, TrainConfig) else load_config(config)
    cfg = cfg.override(**overrides)
    # the tracking store first: a bad URI or a silent server fails now, in one line,
    # not after minutes of fitting
    configure_mlflow(cfg["tracking"]["uri"], cfg["tracking"]["experiment"], workdir)
    steps = steps or Steps(console)
    prep = prepare(cfg, steps, engine or LocalEngine())
    return log_training(cfg, steps, prep, workdir=workdir)


def log_training(
    cfg: TrainConfig,
    steps: Steps,
    prep: Prepared,
    *,
    workdir: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Log a prepared training to MLflow, register the model and apply the gate."""
    import mlflow

    seed = int(cfg["seed"])
    metric = cfg["gate"]["metric"]
    tracking = cfg["tracking"]
    h = float(cfg["window"]["horizon_weeks"])
    frames, origins, reports, ds = prep.frames, prep.origins, prep.reports, prep.ds
    table, comparison, model, pred = prep.table, prep.comparison, prep.model, prep.pred
    holdout, cutoff, holdout_end = prep.holdout, prep.cutoff, prep.holdout_end

    cfg_track = configure_mlflow(tracking["uri"], tracking["experiment"], workdir)
    client = mlflow.MlflowClient()
    methods = list(getattr(model, "methods_", table.index))
    run_name = (
        f"train {tracking['model_name']}: {getattr(model, 'champion_', '')} of "
        f"{len(methods)} methods @ {cutoff.date()} +{h:g}w seed {seed}"
    )
    commit, dirty = git_commit()
    tags = {
        "clvml.version": __version__,
        "clvml.step": "train",
        "clvml.calibration_end": str(cutoff.date()),
    }
    if commit:
        tags.update(
            {
                "mlflow.source.git.commit": commit,
                "clvml.git_commit": commit,
                "clvml.git_dirty": str(dirty).lower(),
            }
        )
    child_ids: dict[str, str] = {}
    decision: GateDecision | None = None
    version: str | None = None
    with mlflow.start_run(run_name=run_name, tags=tags) as run:
        with steps.step("log to MLflow", redact_uri(cfg_track.tracking_uri)):
            params = run_params(cfg.values, origins, cfg_track.tracking_uri)
            params.update(
                {
                    "resolved.calibration_end": str(cutoff.date()),
                    "resolved.holdout_end": str(holdout_end.date()),
                    "resolved.methods": json.dumps(methods),
                    "resolved.champion_method": str(getattr(model, "champion_", "")),
                    "resolved.supervision": str(getattr(comparison, "supervision", "")),
                    "git_commit": commit or "unknown",
                }
            )
            params.update(prep.params)
            mlflow.log_params(params)
            log_inputs(frames, origins, ds)
            mlflow.log_metrics(data_metrics(reports, ds))
            mlflow.log_metrics(finite(prep.metrics))
            mlflow.log_metrics(finite({f"holdout.{k}": v for k, v in holdout.items()}))
            per_method = {f"{c}.{m}": v for m, row in table.iterrows() for c, v in row.items()}
            mlflow.log_metrics(finite(per_method))
            log_fitted_params(model)
            log_validation(reports)
            figures, skipped = draw_plots(model, pred, ds.features, ds.targets, h)
            for file, fig in figures.items():
                mlflow.log_figure(fig, f"plots/{file}")
            import matplotlib.pyplot as plt

            plt.close("all")
            if skipped:
                mlflow.log_dict(skipped, "plots/skipped.json")
            from clvml.evaluation.metrics import decile_table

            mlflow.log_text(
                decile_table(ds.targets["revenue"].reindex(pred.index), pred["clv"]).to_csv(),
                "evaluation/served_model_deciles.csv",
            )
            child_ids.update(log_comparison(table, comparison, cutoff, holdout_end))
        with steps.step("log model", "pyfunc with signature") as note:
            from clvml.tracking.pyfunc import log_clv_model

            register = bool(tracking["register"])
            name = tracking["model_name"]
            champ_value, champ_how = None, ""
            if register and current_champion(client, name) is not None:
                champ_value, champ_how = champion_on_holdout(name, metric, ds.features, ds.targets)
            from clvml.segments import SegmentScheme

            # tiers and segments: thresholds from the served model's fitted customers
            scheme = SegmentScheme().fit(pred)
            info = log_clv_model(
                model,
                ds.features,
                scheme=scheme,
                registered_model_name=name if register else None,
            )
            note(info.model_uri)
            version = (
                None
                if info.registered_model_version is None
                else str(info.registered_model_version)
            )
        if register and version is not None:
            with steps.step("champion/challenger gate", metric) as note:
                decision = promote_if_better(
                    client,
                    name,
                    version,
                    metric,
                    gate_value(metric, holdout),
                    greater_is_better=GATE_METRICS[metric],
                    champion_value=champ_value,
                )
                gate_metrics = {"gate.new_value": decision.new_value}
                if decision.champion_value is not None:
                    gate_metrics["gate.champion_value"] = decision.champion_value
                mlflow.log_metrics(finite(gate_metrics))
                mlflow.set_tags(
                    {
                        "gate.promoted": str(decision.promoted).lower(),
                        "gate.decision": decision.summary[:5000],
                        "gate.metric": metric,
                        "gate.champion_value_source": champ_how or "none",
                    }
                )
                mlflow.log_dict(
                    {**decision.as_dict(), "champion_value_source": champ_how}, "gate_decision.json"
                )
                note(decision.summary)
        # every step's seconds and the process's peak memory, in the run itself
        mlflow.log_metrics(step_metrics(steps.timings))
    return TrainResult(
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        tracking_uri=redact_uri(cfg_track.tracking_uri),
        comparison=table,
        holdout=holdout,
        model_uri=info.model_uri,
        calibration_end=str(cutoff.date()),
        holdout_end=str(holdout_end.date()),
        decision=decision,
        registered_version=version,
        child_run_ids=child_ids,
        timings=steps.timings,
        skipped_plots=skipped,
        model=model,
    )
