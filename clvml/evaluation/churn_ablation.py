r"""Which features predict churn: one table from RFM alone to every feature, against an oracle.

:func:`churn_ablation` fits the calibrated churn classifier of
:func:`clvml.models.churn.make_churn_classifier` on nested feature sets (the
groups of :func:`clvml.features.dataset.feature_groups`) with a time-based
split (:func:`clvml.models.churn_labels.time_split_training_frames`: trained on
the window before the cut-off, judged on the window after it) and reports the
metrics of :func:`clvml.evaluation.classification.churn_metrics` per row.

On generated data (:func:`clvml.data.synthetic.generate_social_commerce`) the
``truth`` table adds two oracles computed from the latent quantities, which no
model can see:

``oracle``
    Knows whether each customer is still alive at the calibration end and
    their purchase rate :math:`\lambda_i`. A dropped-out customer surely makes
    no purchase; an alive one makes none in :math:`H` weeks with probability
    :math:`e^{-\lambda_i H}` (in the BG/NBD process dropout happens only at a
    purchase). The future depends on nothing else, so this is the Bayes
    probability given everything and its AUC is the best achievable: each
    row's ``auc_vs_oracle`` is its ROC AUC as a fraction of this one.
``oracle_rates``
    Knows :math:`\lambda_i` and the dropout probability :math:`p_i` but not the
    alive state, which it infers from the purchase history as a BG/NBD with
    known parameters would (Fader, Hardie & Lee 2005, eq. 11 given
    :math:`\lambda, p`):

    .. math::

        P(\text{alive}) = \Bigl(1 + \mathbb{1}[x > 0]\,\tfrac{p_i}{1 - p_i}
            e^{\lambda_i (T - t_x)}\Bigr)^{-1}, \qquad
        P(\text{churn}) = 1 - P(\text{alive})\,(1 - e^{-\lambda_i H}).

    It is what a perfect purchase-history model would reach; a model can beat
    it only with information beyond purchases (engagement that lapses after
    dropout, sentiment that reveals :math:`p_i`). :math:`p_i` is the value in
    force at the calibration end (``dropout_probability``); for the few
    customers whose care reply changed it after their last purchase this is an
    approximation.

The oracles describe the world at the generator's calibration end: pass
``cutoff = calibration_end - 1 day`` (the inclusive last day) and a horizon no
longer than the generated one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import expit

from clvml.evaluation.classification import churn_metrics
from clvml.exceptions import DataValidationError
from clvml.features.dataset import feature_groups
from clvml.models.churn import make_churn_classifier, predict_churn
from clvml.models.churn_labels import time_split_training_frames

__all__ = ["ABLATION_COLUMNS", "ablation_feature_sets", "churn_ablation", "oracle_churn"]

#: Metric columns of the ablation table, in order.
ABLATION_COLUMNS: tuple[str, ...] = (
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "ece",
    "lift_top_decile",
)


def ablation_feature_sets(columns: pd.Index | list[str]) -> dict[str, list[str]]:
    """The nested feature sets of the ablation, by row name.

    ``rfm``; ``rfm+engagement``; ``rfm+sentiment``; ``rfm+engagement+sentiment``;
    ``all`` (adds the static attributes: acquisition cost, channel, control
    group). Rows whose added group is empty (no engagement data) are left out.

    Examples
    --------
    >>> sorted(ablation_feature_sets(["frequency", "recency", "acquisition_cost"]))
    ['all', 'rfm']
    """
    g = feature_groups(columns)
    if not g["rfm"]:
        raise DataValidationError("the customer frame has no RFM columns", column="frequency")
    candidates = {
        "rfm": g["rfm"],
        "rfm+engagement": g["rfm"] + g["engagement"],
        "rfm+sentiment": g["rfm"] + g["sentiment"],
        "rfm+engagement+sentiment": g["rfm"] + g["engagement"] + g["sentiment"],
        "all": g["rfm"] + g["engagement"] + g["sentiment"] + g["static"],
    }
    out: dict[str, list[str]] = {}
    seen: set[tuple[str, ...]] = set()
    for name, cols in candidates.items():
        key = tuple(sorted(cols))
        if key not in seen:
            out[name] = cols
            seen.add(key)
    if "all" not in out:  # "all" equals an earlier row: keep the name "all" for the largest set
        last = list(out)[-1]
        if last != "rfm":
            out["all"] = out.pop(last)
    return out


def oracle_churn(truth: pd.DataFrame, X: pd.DataFrame, *, horizon_weeks: float) -> pd.DataFrame:
    """Oracle churn probabilities of the customers of ``X`` (see the module docstring).

    Parameters
    ----------
    truth : pandas.DataFrame
        ``truth`` of :func:`~clvml.data.synthetic.generate_social_commerce`:
        ``customer_id``, ``purchase_rate``, ``dropout_probability``,
        ``alive_at_calibration_end``.
    X : pandas.DataFrame
        Customer frame at the calibration end (``frequency``, ``recency``, ``T``).
    horizon_weeks : float
        Label window length ``H``.

    Returns
    -------
    pandas.DataFrame
        Columns ``oracle`` and ``oracle_rates``, indexed like ``X``.
    """
    need = ["customer_id", "purchase_rate", "dropout_probability", "alive_at_calibration_end"]
    missing = [c for c in need if c not in truth.columns]
    if missing:
        raise DataValidationError(
            f"truth lacks the columns {missing} (expected the generator's truth table)",
            column=missing[0],
            n_rows=len(truth),
        )
    t = truth.assign(customer_id=truth["customer_id"].astype(str)).set_index("customer_id")
    absent = ~X.index.isin(t.index)
    if absent.any():
        raise DataValidationError(
            "customers of the frame are absent from truth",
            column="customer_id",
            n_rows=int(absent.sum()),
            example=X.index[absent][0],
        )
    t = t.reindex(X.index)
    lam = t["purchase_rate"].to_numpy(dtype=float)
    p = t["dropout_probability"].to_numpy(dtype=float)
    alive = t["alive_at_calibration_end"].to_numpy(dtype=bool)
    no_buy = np.exp(-lam * horizon_weeks)
    x = X["frequency"].to_numpy(dtype=float)
    gap = (X["T"] - X["recency"]).to_numpy(dtype=float)
    with np.errstate(divide="ignore"):  # p = 1 gives log(0) = -inf: surely gone after a purchase
        log_odds = np.log1p(-p) - np.log(p) - lam * gap
    p_alive = np.where(x > 0, expit(log_odds), 1.0)
    return pd.DataFrame(
        {
            "oracle": np.where(alive, no_buy, 1.0),
            "oracle_rates": 1.0 - p_alive * (1.0 - no_buy),
        },
        index=X.index,
    )


def churn_ablation(
    transactions: pd.DataFrame,
    engagement: pd.DataFrame | None,
    customers: pd.DataFrame | None,
    *,
    cutoff: object,
    horizon_weeks: float,
    truth: pd.DataFrame | None = None,
    calibration: Literal["isotonic", "sigmoid"] = "isotonic",
    random_state: int = 0,
    hgb_params: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Ablation table of the churn classifier: one row per feature set (and oracle).

    Parameters
    ----------
    transactions, engagement, customers : pandas.DataFrame
        Input tables (engagement and customers may be None).
    cutoff : date-like
        Last day of the evaluation features; the model trains on features at
        ``cutoff - H`` with labels in ``(cutoff - H, cutoff]``.
    horizon_weeks : float
        Label window ``H`` in weeks.
    truth : pandas.DataFrame, optional
        The generator's truth table: adds the rows ``oracle`` and
        ``oracle_rates`` and the column ``auc_vs_oracle``.
    calibration : {"isotonic", "sigmoid"}, default "isotonic"
        Calibration of every model.
    random_state : int, default 0
        Seed of every model.
    hgb_params : mapping, optional
        Boosting parameters passed to every model.

    Returns
    -------
    pandas.DataFrame
        Index ``model``; columns :data:`ABLATION_COLUMNS`, ``n_features``,
        ``churn_rate`` and (with ``truth``) ``auc_vs_oracle``. ``attrs``
        holds the split windows and the customer counts.

    Examples
    --------
    >>> import pandas as pd
    >>> from clvml.data.synthetic import generate_social_commerce
    >>> w = generate_social_commerce(1500, random_state=0)
    >>> table = churn_ablation(w.transactions, w.engagement, w.customers,
    ...     cutoff=w.calibration_end - pd.Timedelta(days=1), horizon_weeks=26, truth=w.truth)
    >>> list(table.index)  # doctest: +NORMALIZE_WHITESPACE
    ['rfm', 'rfm+engagement', 'rfm+sentiment', 'rfm+engagement+sentiment', 'all',
     'oracle', 'oracle_rates']
    """
    frames = time_split_training_frames(
        transactions, engagement, customers, cutoff=cutoff, horizon_weeks=horizon_weeks
    )
    X_train, y_train, X_eval, y_eval = frames
    for name, y in (("training", y_train), ("evaluation", y_eval)):
        if y.nunique() < 2:
            raise DataValidationError(
                f"the {name} window has only one class (churn rate {y.mean():.2f}); "
                "change the cut-off or the horizon",
                column="churned",
                n_rows=len(y),
            )
    weeks = float(y_eval.attrs["weeks"])
    rows: dict[str, dict[str, float]] = {}
    for name, cols in ablation_feature_sets(X_train.columns).items():
        model = make_churn_classifier(
            cols, calibration=calibration, random_state=random_state, **dict(hgb_params or {})
        )
        p = predict_churn(model.fit(X_train, y_train), X_eval)
        rows[name] = {**churn_metrics(y_eval, p), "n_features": float(len(cols))}
    if truth is not None:
        oracles = oracle_churn(truth, X_eval, horizon_weeks=weeks)
        for name in oracles.columns:
            rows[name] = {**churn_metrics(y_eval, oracles[name]), "n_features": float("nan")}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    columns = [*ABLATION_COLUMNS, "n_features", "churn_rate"]
    if truth is not None:
        table["auc_vs_oracle"] = table["roc_auc"] / table.loc["oracle", "roc_auc"]
        columns.append("auc_vs_oracle")
    table = table[columns]
    table.attrs = {
        **frames.windows,
        "n_train": len(y_train),
        "n_eval": len(y_eval),
        "calibration": calibration,
    }
    return table
