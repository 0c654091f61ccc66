"""Training tracked in MLflow: data → validation → features → models → evaluation → registry.

:func:`train` runs the whole path for a :class:`~clvml.tracking.config.TrainConfig`
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

import hashlib
import json
import math
import os
import platform
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clvml._version import __version__
from clvml.data.io import DataSourceError, is_database_url, load_tables, read_table
from clvml.data.validation import validate_customers, validate_engagement, validate_transactions
from clvml.evaluation.comparison import ComparisonResult, compare_methods
from clvml.evaluation.value_plots import save_comparison_plots
from clvml.exceptions import DataValidationError
from clvml.tracking.config import GATE_METRICS, ConfigError, TrainConfig, load_config
from clvml.tracking.registry import GateDecision, current_champion, promote_if_better
from clvml.tracking.store import configure_mlflow, redact_uri

__all__ = ["TrainResult", "content_digest", "git_commit", "run_params", "train"]

TABLES = ("transactions", "engagement", "customers")
_VALUE_METRICS = (
    "normalized_gini",
    "spearman",
    "top_decile_capture",
    "top20_capture",
    "mae",
    "total_bias",
)
_CHURN_METRICS = ("roc_auc", "pr_auc", "brier")


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


# ---------------------------------------------------------------------------- helpers
def content_digest(df: pd.DataFrame) -> str:
    """SHA-256 (first 16 hex digits) of a frame's full content: values, index, columns, dtypes.

    Unlike MLflow's default digest (a sample of rows), every row counts.
    """
    h = hashlib.sha256()
    h.update(json.dumps([[str(c), str(t)] for c, t in df.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return h.hexdigest()[:16]


def git_commit(path: str | os.PathLike[str] | None = None) -> tuple[str | None, bool | None]:
    """The commit of the git checkout holding ``path`` (default: clvml's source) and dirtiness.

    Returns ``(None, None)`` when there is no git or no checkout; never raises.
    """
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
        if sha.returncode != 0:
            return None, None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return sha.stdout.strip(), bool(dirty.stdout.strip()) if dirty.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None, None


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, f"{key}."))
        else:
            out[key] = v
    return out


def _safe_param(value: Any) -> str:
    """Parameter text with passwords of URLs masked."""
    if isinstance(value, list | tuple):
        return json.dumps([_safe_param(v) for v in value])
    text = str(value)
    if "://" in text:
        text = redact_uri(text)
    return text[:500]


def run_params(
    cfg: TrainConfig, origins: dict[str, str], tracking_uri: str | None = None
) -> dict[str, str]:
    """The MLflow parameters of a training run: the config, data origins and versions.

    Every URL has its password masked (:func:`~clvml.tracking.store.redact_uri`);
    no customer data are included (only settings, paths and versions).

    Examples
    --------
    >>> from clvml.tracking.config import load_config
    >>> cfg = load_config().override(data="postgresql://me:secret@db/shop")
    >>> run_params(cfg, {})["data.source"]
    'postgresql://me:***@db/shop'
    """
    import mlflow

    params = {k: _safe_param(v) for k, v in _flatten(cfg.values).items() if v is not None}
    params.update({f"data.origin.{k}": _safe_param(v) for k, v in origins.items()})
    if tracking_uri is not None:
        params["tracking.uri"] = redact_uri(tracking_uri)
    params.update(
        {
            "clvml_version": __version__,
            "mlflow_version": mlflow.__version__,
            "python_version": platform.python_version(),
        }
    )
    return params


def _finite(values: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in values.items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out[k] = f
    return out


class _Steps:
    """Progress display and timings of the pipeline's steps (rich, when a console is given)."""

    def __init__(self, console: Any | None) -> None:
        self.console = console
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, name: str, detail: str = "") -> Iterator[Callable[[str], None]]:
        notes: list[str] = []
        began = time.perf_counter()
        if self.console is None:
            yield notes.append
        else:
            with self.console.status(f"[bold]{name}[/] {detail}", spinner="dots"):
                yield notes.append
        took = time.perf_counter() - began
        self.timings[name] = took
        if self.console is not None:
            extra = f" — {'; '.join(notes)}" if notes else ""
            self.console.print(f"[green]✓[/] {name} [dim]({took:.1f} s)[/]{extra}", highlight=False)


# ---------------------------------------------------------------------------- data
def _resolve(cfg: TrainConfig, source: str) -> str:
    if is_database_url(source):
        return source
    p = Path(source)
    return str(p if p.is_absolute() else (cfg.base_dir / p).resolve())


def _load(cfg: TrainConfig) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    data = cfg["data"]
    source = _resolve(cfg, data["source"])
    frames: dict[str, pd.DataFrame] = {}
    origins: dict[str, str] = {}
    if not is_database_url(source) and not Path(source).is_dir():
        raise FileNotFoundError(f"{source}: no such data folder (data.source / --data)")
    base = load_tables(source)
    for name, frame in base.items():
        frames[name] = frame
        origins[name] = redact_uri(source) if is_database_url(source) else source
    for name in TABLES:
        override = data[name]
        query = data[f"{name}_query"]
        if override is None and query is None:
            continue
        where = _resolve(cfg, override) if override is not None else source
        if is_database_url(where):
            frames[name] = (
                read_table(where, query=query) if query else read_table(where, table=name)
            )
        elif query:
            raise ConfigError(f"data.{name}_query needs a database URL, got the file {where}")
        else:
            frames[name] = read_table(where)
        origins[name] = redact_uri(where) if is_database_url(where) else where
    if "transactions" not in frames:
        raise DataSourceError(f"{redact_uri(source)}: no transactions table")
    if not cfg["features"]["engagement"]:
        frames.pop("engagement", None)
    if not cfg["features"]["customers"]:
        frames.pop("customers", None)
    return frames, {k: origins[k] for k in frames}


def _validate(frames: dict[str, pd.DataFrame], cfg: TrainConfig) -> tuple[dict, dict]:
    policies = {k: cfg["data"][k] for k in ("duplicates", "invalid")}
    out, reports = {}, {}
    out["transactions"], reports["transactions"] = validate_transactions(
        frames["transactions"], returns=cfg["data"]["returns"], return_report=True, **policies
    )
    if "engagement" in frames:
        out["engagement"], reports["engagement"] = validate_engagement(
            frames["engagement"], return_report=True, **policies
        )
    if "customers" in frames:
        out["customers"], reports["customers"] = validate_customers(
            frames["customers"], return_report=True, **policies
        )
    return out, reports


def _calibration_end(cfg: TrainConfig, tx: pd.DataFrame) -> pd.Timestamp:
    given = cfg["window"]["calibration_end"]
    if given is not None:
        return pd.Timestamp(given).normalize()
    source = _resolve(cfg, cfg["data"]["source"])
    meta = Path(source) / "metadata.json"
    if not is_database_url(source) and meta.is_file():
        value = json.loads(meta.read_text()).get("calibration_end")
        if value:
            # the generator's calibration end is an exclusive midnight: the day before is the
            # last day of the calibration period
            return (pd.Timestamp(value) - pd.Timedelta(microseconds=1)).normalize()
    last = tx["timestamp"].max().normalize()
    return last - pd.Timedelta(days=round(7 * cfg["window"]["horizon_weeks"]))


# ---------------------------------------------------------------------------- models
def _model_params(cfg: TrainConfig, *, with_methods: bool) -> dict[str, Any]:
    m = cfg["model"]
    params: dict[str, Any] = dict(
        margin=float(m["margin"]),
        annual_discount_rate=float(m["annual_discount_rate"]),
        **m["params"],
    )
    if with_methods and m["methods"] is not None:
        params["methods"] = tuple(m["methods"])
    return params


def _fit(tx, eng, cust, *, cutoff: pd.Timestamp, cfg: TrainConfig) -> Any:
    """Fit the served model on the data up to ``cutoff`` only (nothing of the holdout).

    Supervised parts learn from the window of ``horizon_weeks`` before the cut-off
    (``model.supervised = "time"``) or are left out (``"none"``).
    """
    from clvml.models.composite import fit_clv_model

    m = cfg["model"]
    params = _model_params(cfg, with_methods=True)
    params.update(champion=m["champion"], random_state=cfg["seed"])
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
        **params,
    )


def _btyd_models(model: Any) -> dict[str, Any]:
    """The fitted BTYD sub-models of the composite (anything with params and standard errors)."""
    out = {}
    for name, value in sorted(vars(model).items()):
        if name.endswith("_") and hasattr(value, "params_") and hasattr(value, "standard_errors_"):
            out[name.rstrip("_")] = value
    return out


def _holdout_metrics(pred: pd.DataFrame, targets: pd.DataFrame) -> dict[str, float]:
    from clvml.evaluation.classification import churn_metrics
    from clvml.evaluation.metrics import value_metrics

    y = targets["revenue"].reindex(pred.index).to_numpy(dtype=float)
    out = value_metrics(y, pred["clv"].to_numpy(dtype=float))
    if "churn_probability" in pred:
        churned = targets["churned"].reindex(pred.index).to_numpy(dtype=float)
        p = pred["churn_probability"].to_numpy(dtype=float)
        if np.isfinite(p).all() and 0 < churned.mean() < 1:
            out.update(churn_metrics(churned, p))
    return out


def _gate_value(metric: str, metrics: dict[str, float]) -> float:
    value = float(metrics.get(metric, float("nan")))
    return abs(value) if metric == "total_bias" else value


def _champion_on_holdout(name: str, metric: str, features, targets) -> tuple[float | None, str]:
    """Re-score the current champion on this holdout; (None, why) when it cannot be."""
    import mlflow

    try:
        loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
        from clvml.tracking.pyfunc import to_model_input

        pred = loaded.predict(to_model_input(features))
        pred = pred.set_index(pred["customer_id"].astype(str))
        return _gate_value(metric, _holdout_metrics(pred, targets)), "re-scored on this holdout"
    except Exception as exc:
        return None, f"stored value (could not re-score: {type(exc).__name__})"


# ---------------------------------------------------------------------------- plots
def _plots(
    model: Any,
    pred: pd.DataFrame,
    features: pd.DataFrame,
    targets: pd.DataFrame,
    horizon_weeks: float,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Draw the available plots; returns ({file: figure}, {plot: reason skipped})."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    y = targets["revenue"].reindex(pred.index).to_numpy(dtype=float)
    churned = targets["churned"].reindex(pred.index).to_numpy(dtype=float)

    def draw(file: str, module: str, func: str, *args: Any, **kw: Any) -> None:
        import importlib

        try:
            fn = getattr(importlib.import_module(module), func)
        except (ImportError, AttributeError):
            skipped[file] = f"{module}.{func} not available"
            return
        fig, ax = plt.subplots(figsize=(6, 4.5))
        try:
            fn(*args, ax=ax, **kw)
            fig.tight_layout()
            figures[file] = fig
        except Exception as exc:
            plt.close(fig)
            skipped[file] = f"{type(exc).__name__}: {exc}"

    bg = getattr(model, "bgnbd_", None)
    if bg is not None:
        btyd = "clvml.models.btyd.plotting"
        max_f = max(int(np.ceil(features["frequency"].quantile(0.99))), 1)
        max_r = float(np.ceil(features["T"].max()))
        draw(
            "diagnostics/period_transactions.png",
            btyd,
            "plot_period_transactions",
            bg,
            features[["frequency", "recency", "T"]],
        )
        draw(
            "diagnostics/frequency_recency_matrix.png",
            btyd,
            "plot_frequency_recency_matrix",
            bg,
            max_f,
            max_r,
        )
        draw(
            "diagnostics/probability_alive_matrix.png",
            btyd,
            "plot_probability_alive_matrix",
            bg,
            max_f,
            max_r,
        )
        cal_hold = pd.DataFrame(
            {
                "frequency_cal": features["frequency"],
                "recency_cal": features["recency"],
                "T_cal": features["T"],
                "frequency_holdout": targets["purchases"].reindex(features.index),
                "duration_holdout": horizon_weeks,
            }
        )
        draw(
            "diagnostics/calibration_vs_holdout_purchases.png",
            btyd,
            "plot_calibration_purchases_vs_holdout_purchases",
            bg,
            cal_hold,
        )
    gg = getattr(model, "gamma_gamma_", None)
    if gg is not None:
        spenders = features.loc[(features["frequency"] > 0) & (features["monetary_value"] > 0)]
        draw(
            "diagnostics/spend_fit.png",
            "clvml.models.btyd.plotting",
            "plot_spend_fit",
            gg,
            spenders[["frequency", "monetary_value"]],
        )
    ev = "clvml.evaluation.plots"
    if "churn_probability" in pred and np.isfinite(pred["churn_probability"]).all():
        draw(
            "evaluation/churn_calibration.png",
            ev,
            "plot_calibration_curve",
            churned,
            pred["churn_probability"].to_numpy(dtype=float),
            label="served model",
        )
    clv = pred["clv"].to_numpy(dtype=float)
    vp = "clvml.evaluation.value_plots"
    draw(
        "evaluation/decile_chart.png",
        vp,
        "plot_decile_chart",
        y,
        clv,
        title="Served model: predicted vs realised value by decile",
    )
    curves = {"served model (clv)": clv}
    curves.update(
        {
            c.removeprefix("clv_"): pred[c].to_numpy(dtype=float)
            for c in pred.columns
            if c.startswith("clv_") and c not in ("clv_lower", "clv_upper")
        }
    )
    draw("evaluation/gain_chart.png", vp, "plot_gain_curves", y, curves)
    return figures, skipped


# ---------------------------------------------------------------------------- train
def train(
    config: TrainConfig | str | os.PathLike[str] | None = None,
    *,
    console: Any | None = None,
    workdir: str | os.PathLike[str] | None = None,
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
    **overrides
        Values that override the config, as the CLI flags: ``data``,
        ``tracking_uri``, ``model_name``, ``experiment``, ``calibration_end``,
        ``horizon_weeks``, ``seed`` (None means not given).

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> result = train(data="data/social", workdir="/tmp/clvml-runs")  # doctest: +SKIP
    >>> result.decision.summary  # doctest: +SKIP
    'version 1 (normalized_gini 0.6012) is the first champion of clvml'
    """
    import mlflow

    cfg = config if isinstance(config, TrainConfig) else load_config(config)
    cfg = cfg.override(**overrides)
    steps = _Steps(console)
    seed = int(cfg["seed"])
    metric = cfg["gate"]["metric"]
    tracking = cfg["tracking"]

    with steps.step("load data", str(redact_uri(cfg["data"]["source"]))) as note:
        raw, origins = _load(cfg)
        note(", ".join(f"{k} {len(v):,} rows" for k, v in raw.items()))
    with steps.step("validate") as note:
        frames, reports = _validate(raw, cfg)
        note(
            ", ".join(
                f"{k} {r.rows_kept:,} kept / {r.rows_set_aside:,} set aside"
                for k, r in reports.items()
            )
        )
    tx, eng, cust = frames["transactions"], frames.get("engagement"), frames.get("customers")
    cutoff = _calibration_end(cfg, tx)
    h = float(cfg["window"]["horizon_weeks"])
    holdout_end = cutoff + pd.Timedelta(days=round(7 * h))
    last = tx["timestamp"].max()
    if last < holdout_end - pd.Timedelta(weeks=1):
        raise DataValidationError(
            f"the transactions end on {last.date()}, before the holdout end {holdout_end.date()} "
            f"(calibration end {cutoff.date()} + {h:g} weeks); move window.calibration_end "
            "earlier or shorten window.horizon_weeks",
            column="timestamp",
        )
    with steps.step("features", f"cut-off {cutoff.date()}") as note:
        from clvml.features.dataset import build_customer_dataset

        ds = build_customer_dataset(tx, eng, cust, cutoff=cutoff, holdout_end=holdout_end)
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
            random_state=seed,
            **_model_params(cfg, with_methods=True),
        )
        table = comparison.table
        if "method" in table.columns:
            table = table.set_index("method")
        table.index = [str(m).replace(" ", "_") for m in table.index]
        table.index.name = "method"
        note(f"{len(table)} methods")
    with steps.step("fit model", "up to the cut-off") as note:
        model = _fit(tx, eng, cust, cutoff=cutoff, cfg=cfg)
        note(
            f"champion method {getattr(model, 'champion_', '?')}, "
            f"methods {', '.join(getattr(model, 'methods_', []))}"
        )
    with steps.step("evaluate model") as note:
        from clvml.tracking.pyfunc import predict_frame

        pred = predict_frame(model, ds.features)
        pred = pred.set_index(pred["customer_id"]).drop(columns="customer_id")
        holdout = _holdout_metrics(pred, ds.targets)
        note(f"{metric} {holdout.get(metric, float('nan')):.4f}")

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
            params = run_params(cfg, origins, cfg_track.tracking_uri)
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
            mlflow.log_params(params)
            _log_inputs(frames, origins, ds)
            mlflow.log_metrics(_data_metrics(reports, ds))
            mlflow.log_metrics(_finite({f"holdout.{k}": v for k, v in holdout.items()}))
            per_method = {f"{c}.{m}": v for m, row in table.iterrows() for c, v in row.items()}
            mlflow.log_metrics(_finite(per_method))
            for name, sub in _btyd_models(model).items():
                mlflow.log_metrics(
                    _finite({f"param.{name}.{p}": v for p, v in sub.params_.items()})
                )
                mlflow.log_metrics(
                    _finite({f"param_se.{name}.{p}": v for p, v in sub.standard_errors_.items()})
                )
                mlflow.log_text(sub.summary.to_csv(), f"params/{name}.csv")
            with tempfile.TemporaryDirectory() as tmp:
                for t, rep in reports.items():
                    frame = rep.to_frame().drop(
                        columns="example"
                    )  # examples may hold customer data
                    frame.to_csv(Path(tmp) / f"validation_{t}.csv", index=False)
                mlflow.log_artifacts(tmp, "validation")
            figures, skipped = _plots(model, pred, ds.features, ds.targets, h)
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
            child_ids.update(_log_comparison(table, comparison, cutoff, holdout_end))
        with steps.step("log model", "pyfunc with signature") as note:
            from clvml.tracking.pyfunc import log_clv_model

            register = bool(tracking["register"])
            name = tracking["model_name"]
            champ_value, champ_how = None, ""
            if register and current_champion(client, name) is not None:
                champ_value, champ_how = _champion_on_holdout(name, metric, ds.features, ds.targets)
            info = log_clv_model(
                model, ds.features, registered_model_name=name if register else None
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
                    _gate_value(metric, holdout),
                    greater_is_better=GATE_METRICS[metric],
                    champion_value=champ_value,
                )
                gate_metrics = {"gate.new_value": decision.new_value}
                if decision.champion_value is not None:
                    gate_metrics["gate.champion_value"] = decision.champion_value
                mlflow.log_metrics(_finite(gate_metrics))
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


def _data_metrics(reports: dict, ds: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for t, r in reports.items():
        out[f"data.{t}.rows_read"] = r.rows_read
        out[f"data.{t}.rows_kept"] = r.rows_kept
        out[f"data.{t}.rows_set_aside"] = r.rows_set_aside
    out["data.customers_at_cutoff"] = len(ds.features)
    out["data.features"] = ds.features.shape[1]
    out["data.holdout_revenue"] = float(ds.targets["revenue"].sum())
    out["data.holdout_churn_rate"] = float(ds.targets["churned"].mean())
    return out


def _log_inputs(frames: dict[str, pd.DataFrame], origins: dict[str, str], ds: Any) -> None:
    """Log the tables and the customer frame as MLflow inputs: schema, size, content digest.

    Only the schema and the row count are stored, never the content (customer
    posts, ids): the digest identifies the data without revealing it.
    """
    import mlflow
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source import DatasetSource
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.pandas_dataset import from_pandas

    feats = ds.features.join(ds.targets[["revenue"]].rename(columns={"revenue": "holdout_revenue"}))
    with warnings.catch_warnings():
        # "" and "file" schemes both map to MLflow's local artifact source: same thing
        warnings.filterwarnings("ignore", "The specified dataset source can be interpreted")
        # MLflow's hint about integer columns concerns model signatures, not data sets
        warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer")
        for name, frame in frames.items():
            where = origins[name]
            source: DatasetSource
            if "://" in where:  # a database (password already masked): no MLflow source type
                source = CodeDatasetSource({"source": where})
            else:
                source = resolve_dataset_source(Path(where).as_uri())
            dataset = from_pandas(frame, source=source, name=name, digest=content_digest(frame))
            mlflow.log_input(dataset, context="training")
        dataset = from_pandas(
            feats.reset_index(drop=True),
            source=CodeDatasetSource({"source": "customer_features"}),
            name="customer_features",
            targets="holdout_revenue",
            digest=content_digest(feats),
        )
        mlflow.log_input(dataset, context="evaluation")


def _log_comparison(table: pd.DataFrame, comparison: Any, cutoff, holdout_end) -> dict[str, str]:
    import mlflow

    ids = {}
    with mlflow.start_run(
        run_name=f"compare {len(table)} methods: {cutoff.date()} -> {holdout_end.date()}",
        nested=True,
        tags={"clvml.step": "comparison"},
    ) as child:
        ids["comparison"] = child.info.run_id
        mlflow.log_params(
            {
                "calibration_end": str(cutoff.date()),
                "holdout_end": str(holdout_end.date()),
                "supervision": str(getattr(comparison, "supervision", "")),
            }
        )
        mlflow.log_text(table.to_csv(), "comparison.csv")
        deciles = getattr(comparison, "deciles", None)
        if isinstance(deciles, pd.DataFrame):
            mlflow.log_text(deciles.to_csv(), "deciles.csv")
        elif isinstance(deciles, dict):
            for m, d in deciles.items():
                mlflow.log_text(pd.DataFrame(d).to_csv(), f"deciles/{m}.csv")
        mlflow.log_metrics(
            _finite({f"{c}.{m}": v for m, row in table.iterrows() for c, v in row.items()})
        )
        if isinstance(comparison, ComparisonResult):
            with tempfile.TemporaryDirectory() as tmp:
                save_comparison_plots(comparison, tmp)  # gain curves, a decile chart per method
                mlflow.log_artifacts(tmp, "plots")
        for method, row in table.iterrows():
            with mlflow.start_run(
                run_name=f"method {method}",
                nested=True,
                tags={"clvml.step": "method", "clvml.method": str(method)},
            ) as r:
                ids[f"method {method}"] = r.info.run_id
                mlflow.log_param("method", str(method))
                mlflow.log_metrics(_finite(row.to_dict()))
    return ids
