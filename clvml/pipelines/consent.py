"""Consent at scoring time: profiling consent decides the inputs, marketing consent the lists.

The customers table may carry two optional flags (docs/data_contracts.md,
docs/governance.md):

``consent_profiling``
    False (or missing in a table that has the column) -- the customer is scored on their
    **transactions only**: their engagement rows (texts, sentiment, care, e-mail, visits)
    are dropped before any feature is computed, and their scores come from the served
    model's transaction-only method (:data:`TRANSACTION_ONLY_METHODS`: the champion when it
    is one, else BG/NBD + Gamma-Gamma), with BG/NBD's churn probability and no interval.
    The CRM row's ``scoring_method`` says which method scored it (``<method>
    (transactions only: no profiling consent)``); everyone else's says the champion.
``consent_marketing``
    Written to the CRM row as ``yes``/``no`` (missing -> ``no``); ``clvml segments
    --export`` leaves every ``no`` customer off the marketing lists. Without the column
    the CRM value is empty (consent not recorded) and the lists are as before.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clvml.data.membership import isin

__all__ = [
    "MARKETING",
    "PROFILING",
    "TRANSACTION_ONLY_METHODS",
    "apply_consent",
    "marketing_flags",
    "no_profiling_ids",
    "transaction_only_scores",
    "without_profiling",
]

PROFILING = "consent_profiling"
MARKETING = "consent_marketing"
#: CLV methods reading nothing but the transaction log (RFM), first preferred.
TRANSACTION_ONLY_METHODS: tuple[str, ...] = (
    "btyd",
    "btyd_all_spend",
    "pareto_nbd",
    "pareto_nbd_all_spend",
    "past_spend",
)
NO_PROFILING_NOTE = "transactions only: no profiling consent"


def _granted(customers: pd.DataFrame, column: str) -> pd.Series | None:
    """``customer_id`` -> True/False (missing -> False); None when the column is absent."""
    if customers is None or column not in customers.columns:
        return None
    flags = customers[column].astype("boolean").fillna(False).astype(bool)
    return pd.Series(
        flags.to_numpy(), index=pd.Index(customers["customer_id"].astype(str), name="customer_id")
    )


def no_profiling_ids(customers: pd.DataFrame | None) -> pd.Index:
    """Ids of customers who did not consent to profiling (empty without the column)."""
    g = _granted(customers, PROFILING) if customers is not None else None
    if g is None:
        return pd.Index([], dtype=object, name="customer_id")
    return g.index[~g.to_numpy()]


def without_profiling(frames: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], pd.Index]:
    """The validated tables with the engagement rows of non-consenting customers removed.

    Returns the tables and the ids of the customers without profiling consent.
    """
    ids = no_profiling_ids(frames.get("customers"))
    if len(ids) and "engagement" in frames:
        eng = frames["engagement"]
        keep = ~isin(eng["customer_id"].astype(str), ids.astype(str))
        frames = {**frames, "engagement": eng.loc[keep].reset_index(drop=True)}
    return frames, ids


def marketing_flags(customers: pd.DataFrame | None, ids: Any) -> np.ndarray | None:
    """``yes``/``no`` per id in ``ids`` (ids missing from the table: ``no``); None when the
    customers table has no ``consent_marketing`` column."""
    g = _granted(customers, MARKETING) if customers is not None else None
    if g is None:
        return None
    g = g[~g.index.duplicated(keep="last")]
    got = g.reindex(pd.Index(pd.Series(ids).astype(str))).fillna(False).to_numpy(dtype=bool)
    return np.where(got, "yes", "no").astype(object)


def transaction_only_scores(pyfunc: Any, model_input: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Scores of ``model_input`` from the served model's transaction-only method.

    Parameters
    ----------
    pyfunc : mlflow.pyfunc.PyFuncModel
        A loaded clvml model (its estimator and segment scheme are read).
    model_input : pandas.DataFrame
        Its input rows (``customer_id`` and the feature columns).

    Returns
    -------
    (pandas.DataFrame, str)
        The score columns (``customer_id``, ``clv``, ``p_active``, ``churn_probability``,
        ``p_alive_btyd``,
        ``expected_purchases``, ``expected_avg_spend``, NaN ``clv_lower``/``clv_upper``,
        ``value_tier``/``segment`` from the stored scheme) and the method's name.
    """
    wrapper = pyfunc.unwrap_python_model()
    est = wrapper.model_
    scheme = getattr(wrapper, "scheme_", None)
    fitted = list(getattr(est, "methods_", []))
    champion = getattr(est, "champion_", None)
    if champion in TRANSACTION_ONLY_METHODS:
        method = str(champion)
    else:
        method = next((m for m in TRANSACTION_ONLY_METHODS if m in fitted), "btyd")
    outs = est.predict_outputs(model_input)
    own, base = outs[method], outs["btyd"]

    def pick(field: str) -> np.ndarray:
        return np.asarray(getattr(own if own.has(field) else base, field), dtype=float)

    n = len(model_input)
    out = pd.DataFrame(
        {
            "customer_id": model_input["customer_id"].astype(str).to_numpy()
            if "customer_id" in model_input.columns
            else model_input.index.astype(str).to_numpy(),
            "clv": np.asarray(own.clv, dtype=float),
            "clv_lower": np.full(n, np.nan),
            "clv_upper": np.full(n, np.nan),
            # the transaction-only method's own P(no purchase in the horizon) (BG/NBD's when
            # it has none; the churn classifier reads engagement features), and its
            # complement, the activity shown (issue #14 point 7)
            "p_active": 1.0 - pick("churn_probability"),
            "churn_probability": pick("churn_probability"),
            "p_alive_btyd": pick("p_alive"),
            "expected_purchases": pick("expected_purchases"),
            "expected_avg_spend": pick("expected_spend"),
        }
    )
    if scheme is not None:
        tiers, segments = scheme.labels_for(
            out["clv"].to_numpy(dtype=float), out["churn_probability"].to_numpy(dtype=float)
        )
        out["value_tier"] = pd.Series(tiers, dtype=object).fillna("").to_numpy(dtype=object)
        out["segment"] = pd.Series(segments, dtype=object).fillna("").to_numpy(dtype=object)
    return out, method


def apply_consent(
    model: Any,
    features: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    no_profiling: pd.Index,
    marketing: pd.Series | None,
) -> tuple[pd.DataFrame, int]:
    """The scores with ``scoring_method`` and ``consent_marketing`` set per customer.

    Customers of ``no_profiling`` get the transaction-only scores of the served model
    (:func:`transaction_only_scores`); everyone else keeps the champion's.

    Parameters
    ----------
    model : clvml.tracking.scoring_model.ScoringModel
    features : pandas.DataFrame
        The customer frame the scores were predicted from (indexed by ``customer_id``).
    scores : pandas.DataFrame
        One row per customer of ``features``, in its order (``customer_id`` column).
    no_profiling : pandas.Index
        Ids without profiling consent.
    marketing : pandas.Series or None
        ``customer_id`` -> ``yes``/``no``; None when consent is not recorded.

    Returns
    -------
    (pandas.DataFrame, int)
        The scores, and how many customers were scored on transactions only.

    Raises
    ------
    DataValidationError
        Customers without profiling consent and a served model that is not a clvml CLV
        model (it has no transaction-only method to fall back to).
    """
    from clvml.exceptions import DataValidationError
    from clvml.models.model_input import to_model_input

    out = scores.copy()
    ids = out["customer_id"].astype(str)
    try:
        est = model.pyfunc.unwrap_python_model().model_
        champion = str(est.champion_)
    except Exception:
        est, champion = None, str(model.name)
    out["scoring_method"] = champion
    mask = isin(ids, [str(v) for v in no_profiling])
    n = int(mask.sum())
    if n:
        if est is None:
            raise DataValidationError(
                f"{n:,} customers have no profiling consent, and model {model.name} version "
                f"{model.version} has no transaction-only method to score them with",
                column=PROFILING,
                n_rows=n,
            )
        sub = features.loc[ids[mask].to_numpy()]
        columns = [c for c in model.feature_columns if c in sub.columns]
        fallback, method = transaction_only_scores(model.pyfunc, to_model_input(sub, columns))
        for col in fallback.columns:
            if col in out.columns and col != "customer_id":
                out.loc[mask, col] = fallback[col].to_numpy()
        out.loc[mask, "scoring_method"] = f"{method} ({NO_PROFILING_NOTE})"
    if marketing is not None:
        flags = marketing.reindex(pd.Index(ids)).fillna("no")
        out["consent_marketing"] = flags.to_numpy(dtype=object)
    return out, n
