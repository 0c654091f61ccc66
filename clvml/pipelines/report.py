"""The report's inputs: scores, data and holdout metrics gathered for :mod:`clvml.reporting`.

:func:`load_report_inputs` gathers what the report shows: the scores (from the
CRM table ``clvml score`` wrote, or a CSV/Parquet file), optionally the data
folder (customers for LTV:CAC by channel; transactions, engagement and
customers for the social-care impact measures) and the model's holdout metrics
(the ``holdout.*`` metrics of the MLflow run behind ``--model``, of the model
version named in the CRM run table, or a comparison table file). The renderer,
:func:`clvml.reporting.report.build_report`, only draws what it is handed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from clvml.evaluation.metrics import HOLDOUT_METRICS
from clvml.exceptions import DataValidationError
from clvml.reporting.report import ReportInputs
from clvml.segments import has_record

__all__ = ["load_report_inputs"]

#: Holdout metrics a comparison table may give the report (the evaluation layer's list).
_METRICS = tuple(HOLDOUT_METRICS)


def _metrics_frame(holdout: dict[str, float], label: str) -> pd.DataFrame | None:
    row = {k.split(".", 1)[1]: v for k, v in holdout.items() if k.startswith("holdout.")}
    if not row:
        return None
    return pd.DataFrame([row], index=pd.Index([label], name="method"))


def _registry_metrics(name: str, version: str, tracking_uri: str | None) -> dict[str, float]:
    """Holdout metrics of a registered version, if a tracking store is configured and has it."""
    from clvml.tracking.store import resolve_tracking

    uri = resolve_tracking(tracking_uri).tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///") :]).is_file():
        return {}  # no embedded store here: do not create one
    try:
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        mv = client.get_model_version(name, version)
        metrics = client.get_run(mv.run_id).data.metrics if mv.run_id else {}
    except Exception:  # a nicety: the report says the metrics are missing
        return {}
    return {k: float(v) for k, v in metrics.items() if k.startswith("holdout.")}


def _read_data(
    data: str | os.PathLike[str],
    policy: Any = None,
    columns: Mapping[str, str] | None = None,
) -> dict[str, pd.DataFrame]:
    from clvml.data.io import load_tables
    from clvml.data.validation import (
        ValidationPolicy,
        validate_customers,
        validate_engagement,
        validate_transactions,
    )

    raw = load_tables(data, columns=columns)
    policy = policy or ValidationPolicy(returns="net", invalid="drop", duplicates="keep")
    out: dict[str, pd.DataFrame] = {}
    out["transactions"] = validate_transactions(raw["transactions"], policy)
    if "engagement" in raw:
        out["engagement"] = validate_engagement(raw["engagement"], policy)
    if "customers" in raw:
        out["customers"] = validate_customers(raw["customers"], policy)
    return out


def load_report_inputs(
    *,
    crm_url: str | None = None,
    scores: str | os.PathLike[str] | None = None,
    table: str = "customer_scores",
    data: str | os.PathLike[str] | None = None,
    model: str | None = None,
    comparison: str | os.PathLike[str] | None = None,
    tracking_uri: str | None = None,
    policy: Any = None,
    columns: Mapping[str, str] | None = None,
    trust_model: bool = False,
) -> ReportInputs:
    """Read the scores, the data and the model's holdout metrics for a report.

    Parameters
    ----------
    crm_url : str, optional
        CRM database holding the score table (exactly one of ``crm_url`` and ``scores``).
    scores : path, optional
        Scores as CSV or Parquet (``customer_id``, ``clv``, ``churn_probability`` ...).
    table : str, default "customer_scores"
        Score table in the CRM database.
    data : path or URL, optional
        Data folder or database (transactions, engagement, customers).
    model : str, optional
        Model URI or folder whose training run's ``holdout.*`` metrics to show.
    comparison : path, optional
        A comparison table (CSV/Parquet, one row per method, metric columns),
        e.g. ``compare_methods(...).table`` saved to a file.
    tracking_uri : str, optional
        MLflow store (default ``MLFLOW_TRACKING_URI``, else ``./mlruns.db`` if it exists).
    policy : ValidationPolicy, optional
        How ``data`` are validated (default: net returns, keep duplicates, set aside rows
        breaking a rule: the report describes the data, it does not refuse them).
    columns : mapping, optional
        Contract column -> the source's column (``--columns``, :mod:`clvml.data.mapping`).
    trust_model : bool, default False
        Load ``model`` even if its files do not match their recorded digests
        (``--trust-model``; see :func:`clvml.tracking.scoring_model.load_scoring_model`).
    """
    from clvml.data.io import read_table

    if (crm_url is None) == (scores is None):
        raise DataValidationError("give exactly one of --crm-url URL or --scores FILE")
    inputs = ReportInputs(scores=pd.DataFrame())
    if crm_url is not None:
        from clvml.scoring.crm import CRMSink

        with CRMSink(crm_url, table=table) as sink:
            frame = sink.read_scores()
            runs = sink.read_attempts()  # every attempt: the last success counts
        inputs.monitoring = _latest_monitoring(crm_url, table)
        if frame.empty:
            raise DataValidationError(
                f"no scores in table {table} of {sink.safe_url}; run clvml score first"
            )
        done = runs.loc[runs["status"] == "succeeded"] if len(runs) else runs
        if len(done):
            last = done.iloc[-1]
            inputs.model_name, inputs.model_version = last["model_name"], last["model_version"]
            inputs.as_of = None if pd.isna(last["as_of"]) else str(last["as_of"])[:10]
    else:
        frame = read_table(scores)  # type: ignore[arg-type]
        for col, attr in (("model_name", "model_name"), ("model_version", "model_version")):
            if col in frame.columns and frame[col].nunique() == 1:
                setattr(inputs, attr, str(frame[col].iloc[0]))
    if "customer_id" not in frame.columns:
        raise DataValidationError("the scores have no customer_id column", column="customer_id")
    inputs.scores = frame.assign(customer_id=frame["customer_id"].astype(str))

    if data is not None:
        tables = _read_data(data, policy, columns)
        inputs.transactions = tables.get("transactions")
        inputs.engagement = tables.get("engagement")
        inputs.customers = tables.get("customers")

    if comparison is not None:
        comp = read_table(comparison)
        if "method" in comp.columns:
            comp = comp.set_index("method")
        known = [c for c in _METRICS if c in comp.columns]
        if not known:
            raise DataValidationError(
                f"{comparison}: no metric columns (expected some of {list(_METRICS)})"
            )
        inputs.metrics = comp[known]
    elif model is not None:
        from clvml.tracking.scoring_model import load_scoring_model

        loaded = load_scoring_model(model, tracking_uri=tracking_uri, trust_model=trust_model)
        inputs.metrics = _metrics_frame(loaded.metrics, loaded.name)
        inputs.model_name = inputs.model_name or loaded.name
        inputs.model_version = inputs.model_version or loaded.version
    elif inputs.model_name and inputs.model_version:
        found = _registry_metrics(inputs.model_name, inputs.model_version, tracking_uri)
        inputs.metrics = _metrics_frame(found, inputs.model_name)
    if not has_record(inputs.scores):  # no stored value_tier/segment: the model's scheme
        _model_scheme(inputs, model, tracking_uri, trust_model)
    return inputs


def _latest_monitoring(crm_url: str, table: str) -> pd.DataFrame | None:
    """The latest ``clvml monitor`` job's rows for score table ``table`` (None when none)."""
    from clvml.pipelines.monitor import latest_monitoring

    rows = latest_monitoring(crm_url, table=table)
    return None if rows.empty else rows


def _model_scheme(
    inputs: ReportInputs, model: str | None, tracking_uri: str | None, trust_model: bool = False
) -> None:
    """The segment scheme of ``model`` (or of the model version the scores name), if loadable."""
    from clvml.tracking.pyfunc import scheme_of
    from clvml.tracking.scoring_model import load_scoring_model

    if model is None and inputs.model_name and inputs.model_version:
        from clvml.tracking.store import resolve_tracking

        uri = resolve_tracking(tracking_uri).tracking_uri
        if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///") :]).is_file():
            return  # no embedded store here: do not create one
        model = f"models:/{inputs.model_name}/{inputs.model_version}"
    if model is None:
        return
    try:
        loaded = load_scoring_model(model, tracking_uri=tracking_uri, trust_model=trust_model)
    except ValueError as exc:  # ModelLoadError: the report says the segments were ranked
        inputs.notes.append(f"segment scheme of {model} not loaded: {exc}")
        return
    inputs.scheme = scheme_of(loaded.pyfunc)
    inputs.scheme_model = f"{loaded.name} {loaded.version}"
