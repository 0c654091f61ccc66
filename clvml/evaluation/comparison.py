"""An honest comparison of every CLV method on the same held-out customers.

:func:`compare_methods` builds the customer frame at the calibration end, predicts each
customer's value over the holdout with every method of
:class:`clvml.models.clv_model.CLVModel`, and judges the predictions on the revenue
each customer really brought in the holdout (:func:`clvml.evaluation.metrics.value_metrics`:
normalised Gini, Spearman, top-decile and top-20% capture, MAE, bias of the total).

Nothing is ever fitted on the holdout of the customers being evaluated:

* the BTYD models are unsupervised and read only the calibration period;
* the supervised parts (churn classifier, value regressors) are trained on an
  **earlier window** of the same length (``supervised="time"`` or ``"auto"``, the
  deployable protocol and the headline: features at ``calibration_end - H``, labels up
  to ``calibration_end``), or, on request only, by **cross-fitting over customer folds**
  (``supervised="customers"``: each customer is predicted by models trained on the
  *other* folds' holdout labels, so the training customers share the holdout's calendar
  period, which no deployment has; reported as not deployable);
* **short history**: when the history before the calibration end is shorter than the
  holdout (no earlier window of its length) or the earlier window cannot be fitted, the
  supervised methods are left out and the label-free methods compared (``mode="none"``),
  the same rule as ``clvml train`` (:func:`clvml.models.training.short_history`); the
  reason is in :attr:`ComparisonResult.supervision` and ``skipped_methods``.

Reference rows: ``past spend`` (the registered baseline method ``past_spend``,
:mod:`clvml.models.methods.past_spend`) ranks customers by their calibration revenue per
week (times the holdout length), the baseline any model must beat. On generated data,
``oracle`` is the attainable oracle (:mod:`clvml.data.oracle`): the Bayes-optimal expected
holdout revenue given what is observable before the cut-off under the planted model, and
``oracle_share`` is each row's normalised Gini as a share of the oracle's; ``truth`` is the
planted expected value given the latent rates and alive state
(:mod:`clvml.data.synthetic`), out of reach of any method by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from clvml.evaluation.classification import churn_metrics
from clvml.evaluation.metrics import HOLDOUT_METRICS, decile_table, value_metrics
from clvml.exceptions import DataValidationError
from clvml.features.dataset import build_customer_dataset, holdout_targets
from clvml.features.frames import FrameBuilder
from clvml.models.clv_model import CLVModel
from clvml.models.methods import BASELINES, METHODS, MethodOutput
from clvml.models.training import short_history, young_window

__all__ = ["REFERENCE_ROWS", "TABLE_COLUMNS", "ComparisonResult", "compare_methods"]

#: Columns of :attr:`ComparisonResult.table`, in order.
TABLE_COLUMNS: tuple[str, ...] = (
    "method",
    *HOLDOUT_METRICS,
    "predicted_total",
    "realised_total",
    "oracle_share",
)
#: Reference rows of the table (not methods).
REFERENCE_ROWS: tuple[str, ...] = ("past spend", "oracle", "truth")


@dataclass
class ComparisonResult:
    """What :func:`compare_methods` measured.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per method (:data:`TABLE_COLUMNS`), then the ``past spend`` baseline and,
        on generated data, the ``oracle`` (when the truth has ``attainable_clv``) and the
        ``truth``; ``oracle_share`` is the row's normalised Gini over the oracle's (NaN
        without an oracle). ``roc_auc``, ``pr_auc`` and ``brier`` judge the
        method's probability of no purchase in the holdout against the realised churn,
        the method's own ``churn_probability`` output
        (:class:`~clvml.models.methods.MethodOutput`): BG/NBD's (with or without
        covariates) on the BTYD rows, the churn classifier's on ``closed_form`` and
        ``hybrid`` (whose alive probability is built from it), the planted one on
        ``truth``; empty for methods with no such probability.
    predictions : pandas.DataFrame
        Per customer: ``clv_<method>``, ``past_spend``, ``oracle`` and ``truth`` (if any),
        ``churn_probability_classifier`` (if fitted), ``realised_revenue``,
        ``realised_purchases``, ``churned`` and ``fold`` (customer folds; 0 otherwise).
    deciles : pandas.DataFrame
        Decile calibration of every row of the table: ``method``, ``decile`` (1 = highest
        predicted), ``customers``, ``mean_predicted``, ``mean_realised``,
        ``total_realised``, ``share_of_realised``.
    supervision : str
        How the supervised parts were trained.
    mode : {"time", "customers", "none"}
    calibration_end, holdout_end : pandas.Timestamp
    horizon_weeks : float
    skipped_methods : dict
        Methods not fitted, with the reason.
    models : list of CLVModel
        The fitted models (one; one per fold with ``mode="customers"``); ``clvml train``
        serves the time split's model's fitted steps instead of fitting them again
        (``CLVModel.fit(reuse=...)``).
    """

    table: pd.DataFrame
    predictions: pd.DataFrame
    deciles: pd.DataFrame
    supervision: str
    mode: str
    calibration_end: pd.Timestamp
    holdout_end: pd.Timestamp
    horizon_weeks: float
    skipped_methods: dict[str, str] = field(default_factory=dict)
    models: list[CLVModel] = field(default_factory=list, repr=False)

    def best(self, metric: str = "normalized_gini") -> str:
        """The method (reference rows excluded) with the highest ``metric``."""
        rows = self.table[~self.table["method"].isin(REFERENCE_ROWS)]
        return str(rows.loc[rows[metric].idxmax(), "method"])


def _resolve_mode(
    transactions: pd.DataFrame, cutoff: pd.Timestamp, holdout_end: pd.Timestamp, supervised: str
) -> tuple[str, str]:
    if supervised not in ("auto", "time", "customers"):
        raise ValueError(f"supervised must be 'auto', 'time' or 'customers', got {supervised!r}")
    holdout = holdout_end - cutoff
    if supervised == "customers":
        return supervised, ""
    short = short_history(transactions, cutoff, holdout)
    if short is not None:
        return "none", short
    if supervised == "time":
        return "time", ""
    first = pd.Timestamp(transactions["timestamp"].min()).normalize()
    why = (
        f"auto: {(cutoff - first).days} days of history before the cut-off cover an earlier "
        f"window as long as the {holdout.days}-day holdout"
    )
    return "time", why


def _churn_row(churned: np.ndarray, p_churn: np.ndarray | None) -> dict[str, float]:
    if p_churn is None:
        return {"roc_auc": np.nan, "pr_auc": np.nan, "brier": np.nan}
    m = churn_metrics(churned, np.clip(p_churn, 0.0, 1.0))
    return {"roc_auc": m["roc_auc"], "pr_auc": m["pr_auc"], "brier": m["brier"]}


def _collect(
    outputs: dict[str, dict[str, np.ndarray]], part: dict[str, MethodOutput], rows: np.ndarray
) -> None:
    """Write the ``clv`` and ``churn_probability`` of each output of ``part`` at ``rows``."""
    for name, o in part.items():
        if name not in outputs:
            n = len(rows)
            outputs[name] = {"clv": np.full(n, np.nan), "churn_probability": np.full(n, np.nan)}
        outputs[name]["clv"][rows] = o.clv
        outputs[name]["churn_probability"][rows] = o.churn_probability


def compare_methods(
    transactions: pd.DataFrame,
    engagement: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
    *,
    calibration_end: object,
    holdout_end: object,
    truth: pd.DataFrame | None = None,
    supervised: Literal["auto", "time", "customers"] = "auto",
    n_folds: int = 2,
    random_state: int = 0,
    methods: tuple[str, ...] | None = None,
    frames: FrameBuilder | None = None,
    **model_params: Any,
) -> ComparisonResult:
    """Predict the holdout value of every customer with every method and judge them.

    Parameters
    ----------
    transactions, engagement, customers : pandas.DataFrame
        Validated tables (engagement and customers optional: without engagement the
        BTYD-with-covariates method is skipped).
    calibration_end : date-like
        Last day (inclusive) of the calibration period. For data from
        :func:`clvml.data.synthetic.generate_social_commerce`, whose
        ``calibration_end`` is an exclusive midnight, pass the day before it.
    holdout_end : date-like
        Last day (inclusive) of the holdout.
    truth : pandas.DataFrame, optional
        The generator's truth (``customer_id``, ``expected_clv``, optionally
        ``churn_probability``), for the reference row; it must describe the same holdout.
    supervised : {"auto", "time", "customers"}, default "auto"
        How the supervised parts are trained (see the module notes).
    n_folds : int, default 2
        Customer folds of ``supervised="customers"``.
    random_state : int, default 0
        Seed of the folds and of the models.
    methods : tuple of str, optional
        Methods to compare; default every method of the registry
        (:data:`clvml.models.methods.METHODS`). The baselines
        (:data:`clvml.models.methods.BASELINES`) are always reported, as reference rows.
    frames : FrameBuilder, optional
        The run's frame builder on the same tables, so that each cut-off's customer frame
        is built once per run (e.g. shared with :func:`clvml.models.training.fit_clv_model`);
        default a new one.
    **model_params
        Further :class:`~clvml.models.clv_model.CLVModel` parameters (``max_iter``, ...).

    Returns
    -------
    ComparisonResult

    Examples
    --------
    >>> from clvml.data.datasets import load_cdnow_master
    >>> res = compare_methods(load_cdnow_master(), calibration_end="1997-09-30",
    ...                       holdout_end="1998-06-30", methods=("btyd",))  # doctest: +SKIP
    >>> res.table.set_index("method").loc["btyd", "normalized_gini"].round(2)  # doctest: +SKIP
    0.67
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    builder = frames if frames is not None else FrameBuilder(transactions, engagement, customers)
    ds = build_customer_dataset(
        transactions, cutoff=calibration_end, holdout_end=holdout_end, frames=builder
    )
    features, targets = ds.features, ds.targets
    c, h_end, H = ds.cutoff, ds.holdout_end, ds.horizon_weeks
    frame = builder.at(c)
    wanted = tuple(methods) if methods is not None else METHODS
    unknown = [m for m in wanted if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {METHODS}")
    wanted = tuple(m for m in wanted if m not in BASELINES)
    params = {"interval": None, **model_params}

    def model() -> CLVModel:
        return CLVModel(
            horizon_weeks=H, methods=(*wanted, *BASELINES), random_state=random_state, **params
        )

    mode, why = _resolve_mode(transactions, c, h_end, supervised)
    fold = np.zeros(len(features), dtype=int)
    if mode == "time":
        c0 = c - (h_end - c)
        try:
            labelled = builder.at(c0)
            young = young_window(labelled.frame, c0)
            if young is not None:
                raise DataValidationError(young)
            labels = holdout_targets(transactions, labelled.frame.index, start=c0, end=c)
            fitted = model().fit(frame, labelled, labels)
        except DataValidationError as exc:
            # the earlier window is too young to fit on (e.g. no repeat purchase yet)
            mode, why = "none", f"the earlier window could not be fitted ({exc}): label-free "
            why += "methods only"
    outputs: dict[str, dict[str, np.ndarray]] = {}
    everyone = np.ones(len(features), dtype=bool)
    if mode == "time":
        _collect(outputs, fitted.predict_outputs(frame), everyone)
        models = [fitted]
        supervision = (
            f"deployable: supervised parts trained on an earlier window: features at "
            f"{c0.date()}, labels {labels.attrs['start']} to {c.date()} "
            f"({labels.attrs['weeks']:.1f} weeks, {len(labelled):,} customers); the evaluated "
            "holdout was never read"
        )
    elif mode == "none":
        fitted = model().fit(frame, no_labels_reason=why)
        _collect(outputs, fitted.predict_outputs(frame), everyone)
        models = [fitted]
        supervision, why = f"short history: {why}", ""
    else:
        rng = np.random.default_rng(random_state)
        fold = rng.permutation(len(features)) % n_folds
        models = []
        for k in range(n_folds):
            test = fold == k
            fitted = model().fit(frame, features.loc[~test], targets.loc[~test])
            _collect(outputs, fitted.predict_outputs(features.loc[test]), test)
            models.append(fitted)
        supervision = (
            f"NOT DEPLOYABLE: supervised parts cross-fitted over {n_folds} customer folds: each "
            "customer is predicted by models trained on the other folds' holdout labels (same "
            "calendar window, never the customer's own outcome), which no deployment has"
        )
    if why:
        supervision = f"{supervision} [{why}]"
    first_model = models[0]
    skipped = {m: r for m, r in first_model.skipped_methods_.items() if m in wanted}

    realised = targets["revenue"].to_numpy(dtype=float)
    churned = targets["churned"].to_numpy(dtype=float)
    out = pd.DataFrame(index=pd.Index(features.index.astype(str), name="customer_id"))
    fitted_methods = [m for m in METHODS if m in wanted and m in first_model.methods_]
    for m in fitted_methods:
        out[f"clv_{m}"] = outputs[m]["clv"]
    baselines = [m for m in BASELINES if m in first_model.methods_]
    for m in baselines:
        out[m] = outputs[m]["clv"]
    truth_churn = None
    if truth is not None:
        tr = truth.assign(customer_id=truth["customer_id"].astype(str)).set_index("customer_id")
        if "expected_clv" not in tr.columns:
            raise DataValidationError("is missing from the truth table", column="expected_clv")
        aligned = tr.reindex(out.index)
        if aligned["expected_clv"].isna().any():
            raise DataValidationError(
                "has no row for some evaluated customers",
                column="expected_clv",
                n_rows=int(aligned["expected_clv"].isna().sum()),
            )
        if "attainable_clv" in aligned.columns:
            out["oracle"] = aligned["attainable_clv"].to_numpy(dtype=float)
        out["truth"] = aligned["expected_clv"].to_numpy(dtype=float)
        if "churn_probability" in aligned.columns:
            truth_churn = aligned["churn_probability"].to_numpy(dtype=float)

    # each method's own probability of no purchase in the horizon (None: it has none)
    churn_by_method: dict[str, np.ndarray | None] = {}
    for m in [*fitted_methods, *baselines]:
        p = outputs[m]["churn_probability"]
        churn_by_method[m] = p if np.isfinite(p).any() else None
    if "churn" in outputs:
        out["churn_probability_classifier"] = outputs["churn"]["churn_probability"]

    rows, deciles = [], []
    columns = [(m, f"clv_{m}", churn_by_method[m]) for m in fitted_methods]
    columns += [(m.replace("_", " "), m, churn_by_method[m]) for m in baselines]
    if "oracle" in out.columns:
        columns.append(("oracle", "oracle", None))
    if "truth" in out.columns:
        columns.append(("truth", "truth", truth_churn))
    oracle_gini = (
        value_metrics(realised, out["oracle"].to_numpy())["normalized_gini"]
        if "oracle" in out.columns
        else np.nan
    )
    for name, col, p_churn in columns:
        v = value_metrics(realised, out[col].to_numpy())
        share = v["normalized_gini"] / oracle_gini
        row = {"method": name, **v, **_churn_row(churned, p_churn), "oracle_share": share}
        rows.append({k: row[k] for k in TABLE_COLUMNS})
        d = decile_table(realised, out[col].to_numpy()).reset_index()
        d.insert(0, "method", name)
        deciles.append(d)
    out["realised_revenue"] = realised
    out["realised_purchases"] = targets["purchases"].to_numpy(dtype=float)
    out["churned"] = churned
    out["fold"] = fold
    return ComparisonResult(
        table=pd.DataFrame(rows, columns=list(TABLE_COLUMNS)),
        predictions=out,
        deciles=pd.concat(deciles, ignore_index=True),
        supervision=supervision,
        mode=mode,
        calibration_end=c,
        holdout_end=h_end,
        horizon_weeks=H,
        skipped_methods=skipped,
        models=models,
    )
