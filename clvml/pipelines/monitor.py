"""``clvml monitor``: how good were the past scoring runs, and have the inputs drifted?

:func:`monitor_model` runs, in order:

1. **read the CRM**: the succeeded scoring runs of the score table (``clvml_score_runs``:
   as-of day, model, version) and their predictions -- from ``customer_score_history``
   when that table exists (every run's rows), else from the score table itself (each
   customer's latest run only);
2. **load the served model** (default the champion) for its horizon, its training cut-off,
   its input features and its holdout Gini;
3. **read and validate the data** (rows breaking a rule are set aside, as scoring does);
   the data end on ``data_through`` (the last purchase day, or ``as_of``);
4. **accuracy**: for every run at least ``min_elapsed_weeks`` old, the realised revenue and
   purchases of its customers over the elapsed part of the horizon against the pro-rated
   predictions, overall and per value tier
   (:func:`clvml.evaluation.monitoring.prediction_accuracy`);
5. **drift**: the model's input features at its training cut-off against the same features
   now (:func:`clvml.evaluation.monitoring.feature_drift`);
6. **verdict**: the champion is *degraded* when the latest judged run's Gini fell more than
   ``max_gini_drop`` below the model's holdout Gini (or below ``min_gini``), or its total
   bias exceeds ``max_abs_bias`` in absolute value; drift above ``max_psi`` is reported
   as a warning and counts only with ``degrade_on_drift`` (cumulative features such as
   ``T`` or ``frequency`` grow with time by construction);
7. **write** the rows to ``model_monitoring`` in one transaction and log a monitoring run
   to MLflow linked to the model (:mod:`clvml.tracking.monitoring`).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from clvml.data.dates import as_day
from clvml.data.io import is_database_url, load_tables
from clvml.data.policy import ValidationPolicy, resolve_policy
from clvml.data.validation import validate_customers, validate_engagement, validate_transactions
from clvml.evaluation.monitoring import feature_drift, prediction_accuracy
from clvml.exceptions import DataValidationError
from clvml.scoring.crm import CRMSink
from clvml.scoring.monitoring import read_monitoring, write_monitoring

__all__ = [
    "HISTORY_TABLE",
    "MonitorResult",
    "MonitorThresholds",
    "latest_monitoring",
    "load_thresholds",
    "monitor_model",
    "read_past_predictions",
]

logger = logging.getLogger(__name__)

#: The per-run score history (written by ``clvml score`` once it keeps one).
HISTORY_TABLE = "customer_score_history"
_PRED_COLUMNS = ("clv", "expected_purchases", "churn_probability", "value_tier")
_VALIDATORS = {
    "transactions": validate_transactions,
    "engagement": validate_engagement,
    "customers": validate_customers,
}


@dataclass(frozen=True)
class MonitorThresholds:
    """When the champion counts as degraded (see the module notes).

    Attributes
    ----------
    max_gini_drop : float, default 0.10
        Largest fall of the normalised Gini below the model's holdout Gini.
    min_gini : float or None, default None
        An absolute floor of the Gini (used alone when the model has no holdout Gini).
    max_abs_bias : float, default 0.25
        Largest absolute total bias (pro-rated predicted / realised revenue - 1).
    max_psi : float, default 0.25
        PSI above which a feature is reported as drifted.
    degrade_on_drift : bool, default False
        Whether a drifted feature also marks the champion degraded.
    min_elapsed_weeks : float, default 4
        Runs younger than this are not judged yet.
    """

    max_gini_drop: float = 0.10
    min_gini: float | None = None
    max_abs_bias: float = 0.25
    max_psi: float = 0.25
    degrade_on_drift: bool = False
    min_elapsed_weeks: float = 4.0


@dataclass(frozen=True)
class MonitorResult:
    """What a monitoring job found and wrote.

    Attributes
    ----------
    monitor_id : str
    rows : pandas.DataFrame
        The rows written to ``model_monitoring``.
    accuracy : pandas.DataFrame
        One row per (run, scope) with the accuracy metrics.
    drift : pandas.DataFrame
        One row per feature (``feature``, ``kind``, ``psi``, ``unseen_share``, ``drifted``).
    degraded : bool
    reasons : list of str
        Why the champion is degraded (empty when it is not).
    warnings : list of str
        Drifted features, runs too recent to judge, where the predictions came from.
    model_name, model_version : str
    data_through : str
        Last day of the data used (``YYYY-MM-DD``).
    mlflow_run_id : str or None
    """

    monitor_id: str
    rows: pd.DataFrame
    accuracy: pd.DataFrame
    drift: pd.DataFrame
    degraded: bool
    reasons: list[str]
    warnings: list[str]
    model_name: str
    model_version: str
    data_through: str
    mlflow_run_id: str | None = None
    reference_gini: float | None = None
    timings: dict[str, float] = field(default_factory=dict)


def load_thresholds(path: str | os.PathLike[str] | None) -> MonitorThresholds:
    """The ``[monitor]`` table of the TOML file ``path`` (None: the defaults).

    Keys are the fields of :class:`MonitorThresholds` (``max_gini_drop``, ``min_gini``,
    ``max_abs_bias``, ``max_psi``, ``degrade_on_drift``, ``min_elapsed_weeks``); anything
    else, or a value of the wrong type, is refused in one line.
    """
    import dataclasses
    import tomllib

    from clvml.pipelines.config import ConfigError

    if path is None:
        return MonitorThresholds()
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such config file")
    try:
        table = tomllib.loads(p.read_text(encoding="utf-8")).get("monitor", {})
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    if not isinstance(table, dict):
        raise ConfigError(f"{p}: [monitor] must be a table")
    fields = {f.name: f for f in dataclasses.fields(MonitorThresholds)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            raise ConfigError(f"{p}: unknown key monitor.{key}; expected one of {sorted(fields)}")
        if key == "degrade_on_drift":
            ok = isinstance(value, bool)
        else:
            ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
        if not ok:
            what = "true or false" if key == "degrade_on_drift" else "a number >= 0"
            raise ConfigError(f"{p}: monitor.{key} must be {what}, got {value!r}")
        values[key] = float(value) if key != "degrade_on_drift" else value
    return MonitorThresholds(**values)


def _reflect(conn: sa.engine.Connection, name: str, schema: str | None) -> sa.Table | None:
    if not sa.inspect(conn).has_table(name, schema=schema):
        return None
    return sa.Table(name, sa.MetaData(schema=schema), autoload_with=conn)


def read_past_predictions(sink: CRMSink) -> tuple[pd.DataFrame, str]:
    """The predictions of every stored run: ``run_id``, ``customer_id`` and the score columns.

    From ``customer_score_history`` when it exists (only this score table's rows when it
    records the table), else from the score table. Returns the rows and where they came from.
    """
    with sink.connect() as conn:
        conn = conn.execution_options(clvml_read_only=True)
        hist = _reflect(conn, HISTORY_TABLE, sink.schema)
        if hist is not None and {"customer_id", "run_id", "clv"} <= set(hist.c.keys()):
            cols = [hist.c[c] for c in ("run_id", "customer_id", *_PRED_COLUMNS) if c in hist.c]
            stmt = sa.select(*cols)
            for key in ("table_name", "score_table"):
                if key in hist.c:
                    stmt = stmt.where(hist.c[key] == sink.table)
            return pd.read_sql(stmt, conn), HISTORY_TABLE
    scores = sink.read_scores()
    keep = [c for c in ("run_id", "customer_id", *_PRED_COLUMNS) if c in scores.columns]
    return scores[keep], sink.table


def _load_data(
    data: str | os.PathLike[str] | dict[str, pd.DataFrame],
    policy: ValidationPolicy | None,
    columns: Mapping[str, str] | None,
) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    if isinstance(data, dict):
        raw = dict(data)
        if columns:
            from clvml.data.mapping import rename_columns

            raw = rename_columns(raw, columns)
    else:
        if not is_database_url(data) and not Path(data).exists():
            raise FileNotFoundError(f"{data}: no such data folder")
        raw = load_tables(data, columns=columns)
    if "transactions" not in raw:
        raise DataValidationError("the data have no transactions table")
    policy = resolve_policy(resolve_policy(policy), invalid="drop")
    frames: dict[str, pd.DataFrame] = {}
    aside: dict[str, int] = {}
    for name, validate in _VALIDATORS.items():
        if name in raw:
            try:
                frames[name], report = validate(raw[name], policy, return_report=True)
            except DataValidationError as exc:
                raise DataValidationError(
                    f"{exc.reason} (table {name})",
                    column=exc.column,
                    n_rows=exc.n_rows,
                    example=exc.example,
                ) from None
            n = 0 if report.set_aside is None else len(report.set_aside)
            if n:
                aside[name] = n
    return frames, aside


def _model_facts(model: Any) -> tuple[float, pd.Timestamp | None]:
    """(horizon in weeks, training cut-off) of a served clvml model."""
    from clvml.pipelines.score_checks import training_cutoff

    try:
        horizon = float(model.pyfunc.unwrap_python_model().model_.horizon_weeks)
    except Exception:
        raise DataValidationError(
            f"model {model.name} version {model.version} does not record its horizon; "
            "clvml monitor judges clvml CLV models only"
        ) from None
    return horizon, training_cutoff(model.pyfunc)


def _features(frames: dict[str, pd.DataFrame], cutoff: pd.Timestamp) -> pd.DataFrame:
    from clvml.features.dataset import customer_features

    return customer_features(
        frames["transactions"], frames.get("engagement"), frames.get("customers"), cutoff=cutoff
    )


def _accuracy(
    preds: pd.DataFrame,
    runs: pd.DataFrame,
    tx: pd.DataFrame,
    *,
    horizon: float,
    through: pd.Timestamp,
    min_elapsed: float,
    warnings: list[str],
) -> pd.DataFrame:
    from clvml.features.dataset import holdout_targets

    out = []
    for run in runs.itertuples(index=False):
        mine = preds[preds["run_id"] == run.run_id]
        if mine.empty or run.as_of is None or pd.isna(run.as_of):
            continue
        day = pd.Timestamp(run.as_of)
        elapsed = (through - day) / pd.Timedelta(weeks=1)
        if elapsed < max(min_elapsed, 1 / 7):  # at least a day
            warnings.append(
                f"run {run.run_id} (as of {day.date()}) is {max(elapsed, 0):.1f} weeks old: "
                f"judged once {min_elapsed:g} weeks have passed"
            )
            continue
        end = min(through, day + pd.Timedelta(weeks=horizon))
        elapsed = min(elapsed, horizon)
        p = mine.drop_duplicates("customer_id", keep="last").set_index("customer_id")
        real = holdout_targets(tx, p.index, start=day, end=end)
        acc = prediction_accuracy(p, real, elapsed_weeks=elapsed, horizon_weeks=horizon)
        acc.insert(0, "score_run_id", run.run_id)
        acc.insert(1, "model_name", run.model_name)
        acc.insert(2, "model_version", run.model_version)
        acc.insert(3, "scored_as_of", day.date())
        acc.insert(4, "elapsed_weeks", elapsed)
        out.append(acc)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def _verdict(
    accuracy: pd.DataFrame,
    drift: pd.DataFrame,
    thresholds: MonitorThresholds,
    reference_gini: float | None,
) -> list[str]:
    reasons: list[str] = []
    if not accuracy.empty:
        overall = accuracy[accuracy["scope"] == "overall"]
        last = overall.sort_values(["scored_as_of", "elapsed_weeks"]).iloc[-1]
        gini, bias = float(last["normalized_gini"]), float(last["total_bias"])
        when = f"run as of {last['scored_as_of']}"
        if np.isfinite(gini):
            if reference_gini is not None and gini < reference_gini - thresholds.max_gini_drop:
                reasons.append(
                    f"Gini {gini:.3f} on the {when} is {reference_gini - gini:.3f} below the "
                    f"model's holdout Gini {reference_gini:.3f} "
                    f"(allowed {thresholds.max_gini_drop:g})"
                )
            if thresholds.min_gini is not None and gini < thresholds.min_gini:
                reasons.append(
                    f"Gini {gini:.3f} on the {when} is below the floor {thresholds.min_gini:g}"
                )
        if np.isfinite(bias) and abs(bias) > thresholds.max_abs_bias:
            reasons.append(
                f"total bias {bias:+.1%} on the {when} exceeds ±{thresholds.max_abs_bias:.0%}"
            )
    if thresholds.degrade_on_drift and not drift.empty and drift["drifted"].any():
        names = drift.loc[drift["drifted"], "feature"].tolist()
        reasons.append(
            f"{len(names)} input feature(s) drifted (PSI > {thresholds.max_psi:g}): "
            f"{', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
        )
    return reasons


def _rows(
    monitor_id: str,
    table: str,
    accuracy: pd.DataFrame,
    drift: pd.DataFrame,
    *,
    model_name: str,
    model_version: str,
    horizon: float,
    through: pd.Timestamp,
    degraded: bool,
    reasons: list[str],
) -> pd.DataFrame:
    from clvml.evaluation.monitoring import ACCURACY_METRICS

    base = {
        "monitor_id": monitor_id,
        "score_table": table,
        "data_through": through.date(),
        "horizon_weeks": horizon,
    }
    parts = []
    if not accuracy.empty:
        long = accuracy.melt(
            id_vars=[
                "score_run_id",
                "model_name",
                "model_version",
                "scored_as_of",
                "elapsed_weeks",
                "scope",
            ],
            value_vars=[*ACCURACY_METRICS, "fraction"],
            var_name="metric",
            value_name="value",
        )
        long["kind"] = "accuracy"
        parts.append(long)
    if not drift.empty:
        d = drift.melt(
            id_vars=["feature"], value_vars=["psi", "unseen_share"], var_name="metric"
        ).dropna(subset=["value"])
        d = d.assign(
            scope="feature:" + d["feature"],
            kind="drift",
            score_run_id="",
            model_name=model_name,
            model_version=model_version,
        ).drop(columns=["feature"])
        parts.append(d)
    parts.append(
        pd.DataFrame(
            [
                {
                    "score_run_id": "",
                    "model_name": model_name,
                    "model_version": model_version,
                    "kind": "status",
                    "scope": "champion",
                    "metric": "degraded",
                    "value": 1.0 if degraded else 0.0,
                    "note": "; ".join(reasons) if reasons else "healthy",
                }
            ]
        )
    )
    rows = pd.concat(parts, ignore_index=True)
    for k, v in base.items():
        rows[k] = v
    return rows


def _summary_metrics(accuracy: pd.DataFrame, drift: pd.DataFrame) -> dict[str, float]:
    out: dict[str, float] = {}
    if not accuracy.empty:
        last_day = accuracy["scored_as_of"].max()
        for row in accuracy[accuracy["scored_as_of"] == last_day].itertuples(index=False):
            for m in ("normalized_gini", "total_bias", "purchases_bias", "churn_ece"):
                out[f"accuracy.{row.scope}.{m}"] = float(getattr(row, m))
        out["accuracy.runs_judged"] = float(accuracy["score_run_id"].nunique())
    if not drift.empty:
        out["drift.max_psi"] = float(drift["psi"].max())
        out["drift.features_drifted"] = float(drift["drifted"].sum())
        for row in drift.itertuples(index=False):
            out[f"drift.psi.{row.feature}"] = float(row.psi)
    return out


def monitor_model(
    crm_url: str,
    data: str | os.PathLike[str] | dict[str, pd.DataFrame],
    *,
    model_uri: str | None = None,
    table: str = "customer_scores",
    schema: str | None = None,
    as_of: object = None,
    thresholds: MonitorThresholds | None = None,
    policy: ValidationPolicy | None = None,
    columns: Mapping[str, str] | None = None,
    tracking_uri: str | None = None,
    workdir: str | os.PathLike[str] | None = None,
    trust_model: bool = False,
    log_to_mlflow: bool = True,
    monitor_id: str | None = None,
) -> MonitorResult:
    """Judge the past scoring runs of a score table and the drift of the inputs.

    Parameters
    ----------
    crm_url : str
        The CRM database the scoring runs wrote to.
    data : path, SQLAlchemy URL or dict of frames
        The data as they are now (later than the runs' as-of days).
    model_uri : str, optional
        The served model (default ``models:/clvml@champion``).
    table, schema : str
        The score table and its PostgreSQL schema.
    as_of : date-like, optional
        Use the data up to this day (default: the last purchase day).
    thresholds : MonitorThresholds, optional
    policy, columns : optional
        Validation policy and column mapping of the data (as ``clvml score``).
    tracking_uri, workdir, trust_model : optional
        Where the model and the MLflow store are (as ``clvml score``).
    log_to_mlflow : bool, default True
        Log the monitoring run to MLflow.
    monitor_id : str, optional
        Identifier of this job's rows (default: a new UUID).

    Returns
    -------
    MonitorResult

    Raises
    ------
    DataValidationError
        No succeeded scoring run in the table, data without transactions, a model that
        is not a clvml CLV model.
    """
    from clvml.tracking.scoring_model import DEFAULT_MODEL_URI, load_scoring_model

    thresholds = thresholds or MonitorThresholds()
    sink = CRMSink(crm_url, table=table, schema=schema)
    with sink:
        runs = sink.read_runs()
        runs = runs[runs["status"] == "succeeded"]
        if runs.empty:
            raise DataValidationError(
                f"table {table!r} in {sink.safe_url} has no succeeded scoring run to judge; "
                "run clvml score first"
            )
        preds, source = read_past_predictions(sink)
        model = load_scoring_model(
            model_uri or DEFAULT_MODEL_URI,
            tracking_uri=tracking_uri,
            workdir=workdir,
            trust_model=trust_model,
        )
        horizon, cutoff = _model_facts(model)
        frames, _aside = _load_data(data, policy, columns)
        tx = frames["transactions"]
        last = as_day(tx["timestamp"].max(), name="the last day of the data")
        through = last if as_of is None else as_day(as_of, name="as_of")
        if through > last:
            raise DataValidationError(
                f"as_of {through.date()} is after the last purchase in the data ({last.date()})"
            )
        tx = tx[tx["timestamp"] < through + pd.Timedelta(days=1)]
        frames = {**frames, "transactions": tx}
        warnings: list[str] = []
        if source != HISTORY_TABLE:
            warnings.append(
                f"no {HISTORY_TABLE} table: judged each customer's latest scores in {table!r} only"
            )
        accuracy = _accuracy(
            preds,
            runs,
            tx,
            horizon=horizon,
            through=through,
            min_elapsed=thresholds.min_elapsed_weeks,
            warnings=warnings,
        )
        drift = pd.DataFrame(columns=["feature", "kind", "psi", "unseen_share", "drifted"])
        if cutoff is not None and cutoff < through:
            ref = _features(frames, cutoff)
            cur = _features(frames, through)
            cols = [c for c in model.feature_columns if c in ref.columns and c in cur.columns]
            drift = feature_drift(ref, cur, cols)
            drift["drifted"] = drift["psi"] > thresholds.max_psi
            n = int(drift["drifted"].sum())
            if n:
                names = drift.loc[drift["drifted"], "feature"].tolist()
                warnings.append(
                    f"{n} input feature(s) drifted since the training cut-off {cutoff.date()} "
                    f"(PSI > {thresholds.max_psi:g}): {', '.join(names[:6])}"
                    f"{' ...' if n > 6 else ''}"
                )
        else:
            warnings.append("the model records no training cut-off before the data's end: no drift")
        ref_gini = model.metrics.get("holdout.normalized_gini")
        reasons = _verdict(accuracy, drift, thresholds, ref_gini)
        degraded = bool(reasons)
        monitor_id = monitor_id or str(uuid.uuid4())
        rows = _rows(
            monitor_id,
            table,
            accuracy,
            drift,
            model_name=model.name,
            model_version=model.version,
            horizon=horizon,
            through=through,
            degraded=degraded,
            reasons=reasons,
        )
        with sink.connect() as conn, conn.begin():
            write_monitoring(conn, rows, schema=schema, now=datetime.now(UTC))
    run_id = None
    if log_to_mlflow:
        from clvml.tracking.monitoring import log_monitoring_run

        run_id = log_monitoring_run(
            model_name=model.name,
            model_version=model.version,
            model_run_id=model.run_id,
            metrics=_summary_metrics(accuracy, drift),
            params={
                "monitor_id": monitor_id,
                "score_table": table,
                "data_through": str(through.date()),
                "horizon_weeks": horizon,
                "max_gini_drop": thresholds.max_gini_drop,
                "max_abs_bias": thresholds.max_abs_bias,
                "max_psi": thresholds.max_psi,
            },
            rows=rows,
            degraded=degraded,
            reasons=reasons,
            tracking_uri=tracking_uri,
            workdir=workdir,
        )
    return MonitorResult(
        monitor_id=monitor_id,
        rows=rows,
        accuracy=accuracy,
        drift=drift,
        degraded=degraded,
        reasons=reasons,
        warnings=warnings,
        model_name=model.name,
        model_version=model.version,
        data_through=str(through.date()),
        mlflow_run_id=run_id,
        reference_gini=ref_gini,
    )


def latest_monitoring(
    crm_url: str, *, table: str | None = None, schema: str | None = None
) -> pd.DataFrame:
    """The rows of the latest monitoring job in ``model_monitoring`` (empty when none),
    of score table ``table`` when given."""
    sink = CRMSink(crm_url, schema=schema)
    filters = {"score_table": table} if table is not None else None
    with sink, sink.connect() as conn:
        rows = read_monitoring(
            conn.execution_options(clvml_read_only=True), schema=schema, filters=filters
        )
    if rows.empty:
        return rows
    last = rows.sort_values("monitored_at")["monitor_id"].iloc[-1]
    return rows[rows["monitor_id"] == last].reset_index(drop=True)
