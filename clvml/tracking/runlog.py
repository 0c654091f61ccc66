"""What a training run records in MLflow, apart from the model: parameters, data, plots.

Helpers of the train pipeline (:func:`clvml.pipelines.train.train`): the run parameters with
passwords masked (:func:`run_params`), content digests of the data sets
(:func:`content_digest`), the git commit (:func:`git_commit`), the inputs
(:func:`log_inputs`), the fitted BTYD parameters (:func:`log_fitted_params`),
the validation reports (:func:`log_validation`), the plots (:func:`draw_plots`)
and the nested comparison runs (:func:`log_comparison`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import subprocess
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clvml._version import __version__
from clvml.data.secrets import scrub
from clvml.evaluation.comparison import ComparisonResult
from clvml.evaluation.value_plots import save_comparison_plots
from clvml.tracking.store import redact_uri

__all__ = [
    "SCHEMA_SAMPLE_ROWS",
    "bounded_schema",
    "btyd_models",
    "content_digest",
    "data_metrics",
    "draw_plots",
    "finite",
    "git_commit",
    "log_comparison",
    "log_fitted_params",
    "log_inputs",
    "log_validation",
    "run_params",
]


def btyd_models(model: Any) -> dict[str, Any]:
    """The fitted BTYD sub-models of the composite (anything with params and standard errors)."""
    out = {}
    for name, value in sorted(vars(model).items()):
        if name.endswith("_") and hasattr(value, "params_") and hasattr(value, "standard_errors_"):
            out[name.rstrip("_")] = value
    return out


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


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, f"{key}."))
        else:
            out[key] = v
    return out


def safe_param(value: Any) -> str:
    """Parameter text with passwords of URLs masked."""
    if isinstance(value, list | tuple):
        return json.dumps([safe_param(v) for v in value])
    return scrub(value)[:500]


def run_params(
    config: Mapping[str, Any], origins: dict[str, str], tracking_uri: str | None = None
) -> dict[str, str]:
    """The MLflow parameters of a training run: the config, data origins and versions.

    Every URL has its password masked (:func:`~clvml.tracking.store.redact_uri`);
    no customer data are included (only settings, paths and versions).

    Examples
    --------
    >>> run_params({"data": {"source": "postgresql://me:secret@db/shop"}}, {})["data.source"]
    'postgresql://me:***@db/shop'
    """
    import mlflow

    params = {k: safe_param(v) for k, v in flatten(config).items() if v is not None}
    params.update({f"data.origin.{k}": safe_param(v) for k, v in origins.items()})
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


def finite(values: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in values.items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out[k] = f
    return out


def draw_plots(
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


def data_metrics(reports: dict, ds: Any) -> dict[str, float]:
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


#: Non-missing values per column from which a logged data set's column types are inferred.
SCHEMA_SAMPLE_ROWS = 1_000


def bounded_schema(frame: pd.DataFrame, sample_rows: int = SCHEMA_SAMPLE_ROWS) -> Any:
    """MLflow's schema of ``frame`` without a Python pass over every value.

    MLflow infers a data set's schema value by value (every value of every column is
    checked for None/NaN in Python, and object or string columns are turned into
    lists): about 2 s per million rows and string column, minutes for a million
    customers' event log. Here the type of each column is MLflow's inference on its
    first ``sample_rows`` non-missing values (numeric columns are typed by their dtype
    alone, text columns hold one type), and ``required`` is a vectorised
    ``isna().any()`` over the whole column, so the result is MLflow's for frames
    without ``NaT``/``pd.NA`` (which MLflow counts as present).
    """
    from mlflow.types import ColSpec, Schema
    from mlflow.types.utils import _infer_pandas_column

    specs: list[Any] = []
    for name in frame.columns:
        column = frame[name]
        missing = column.isna()
        sample = column[~missing].iloc[:sample_rows] if missing.any() else column.iloc[:sample_rows]
        if sample.empty:
            sample = column.iloc[:sample_rows]
        specs.append(
            ColSpec(type=_infer_pandas_column(sample), name=name, required=not missing.any())
        )
    return Schema(specs)


def _with_bounded_schema(dataset: Any, frame: pd.DataFrame) -> Any:
    """``dataset`` (an MLflow ``PandasDataset``) with its schema from :func:`bounded_schema`."""
    try:
        schema = bounded_schema(frame)
    except Exception:  # MLflow cannot type a column either way: it logs no schema
        schema = None
    dataset.__dict__["schema"] = schema  # PandasDataset.schema is a cached_property
    return dataset


def log_inputs(frames: dict[str, pd.DataFrame], origins: dict[str, str], ds: Any) -> None:
    """Log the tables and the customer frame as MLflow inputs: schema, size, content digest.

    Only the schema and the row count are stored, never the content (customer
    posts, ids): the digest identifies the data without revealing it. Schemas come
    from :func:`bounded_schema` (MLflow's own inference reads every value).
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
            if "://" in where or not Path(where).is_absolute():
                # a database (password already masked) or a Spark catalog: no MLflow type
                source = CodeDatasetSource({"source": where})
            else:
                source = resolve_dataset_source(Path(where).as_uri())
            dataset = from_pandas(frame, source=source, name=name, digest=content_digest(frame))
            mlflow.log_input(_with_bounded_schema(dataset, frame), context="training")
        flat = feats.reset_index(drop=True)
        dataset = from_pandas(
            flat,
            source=CodeDatasetSource({"source": "customer_features"}),
            name="customer_features",
            targets="holdout_revenue",
            digest=content_digest(feats),
        )
        mlflow.log_input(_with_bounded_schema(dataset, flat), context="evaluation")


def log_comparison(table: pd.DataFrame, comparison: Any, cutoff, holdout_end) -> dict[str, str]:
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
            finite({f"{c}.{m}": v for m, row in table.iterrows() for c, v in row.items()})
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
                mlflow.log_metrics(finite(row.to_dict()))
    return ids


def log_fitted_params(model: Any) -> None:
    """Log each fitted BTYD sub-model's parameters and standard errors (metrics and a CSV).

    Metric names: ``param.<model>.<name>`` and ``param_se.<model>.<name>``,
    e.g. ``param.bgnbd.r``; the summary table goes to ``params/<model>.csv``.
    """
    import mlflow

    for name, sub in btyd_models(model).items():
        mlflow.log_metrics(finite({f"param.{name}.{p}": v for p, v in sub.params_.items()}))
        mlflow.log_metrics(
            finite({f"param_se.{name}.{p}": v for p, v in sub.standard_errors_.items()})
        )
        mlflow.log_text(sub.summary.to_csv(), f"params/{name}.csv")


def log_validation(reports: dict[str, Any]) -> None:
    """Log the validation reports as ``validation/validation_<table>.csv``.

    The ``example`` column is left out: an offending value may be customer data.
    """
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        for table, report in reports.items():
            frame = report.to_frame().drop(columns="example")
            frame.to_csv(Path(tmp) / f"validation_{table}.csv", index=False)
        mlflow.log_artifacts(tmp, "validation")
