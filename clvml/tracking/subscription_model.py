"""The subscription model as an MLflow pyfunc: the fitted
:class:`~clvml.models.methods.subscription.SubscriptionModel` with its
:class:`~clvml.segments.SegmentScheme`, logged by ``clvml train`` on a subscription
business's data and loaded by ``clvml score`` (:mod:`clvml.pipelines.subscriptions`).

``predict`` takes the spells of the customers to score (``customer_id``, ``duration``,
``censored``, ``period``, ``price_per_period`` and the covariates) and returns the CRM
score columns of :func:`score_frame`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["RENEWAL_HORIZON_MONTHS", "log_subscription_model", "score_frame", "unwrap"]

#: ``expected_purchases`` of a subscriber: the renewals expected over the next year.
RENEWAL_HORIZON_MONTHS = 12


def score_frame(model: Any, scheme: Any, spells: pd.DataFrame) -> pd.DataFrame:
    """CRM score columns of each spell (one per customer) from the model and the scheme.

    ``clv`` is the residual CLV, ``p_active`` the probability of renewing at the end of
    the current period, ``churn_probability`` its complement, ``expected_purchases`` the
    renewals expected over the next 12 months (1 for yearly billing), ``expected_avg_spend``
    the price per period times the margin, ``expected_residual_lifetime`` the discounted
    expected residual lifetime (DERL, in billing periods); ``value_tier`` and ``segment``
    from ``scheme``.
    """
    pred = model.predict(spells)
    yearly = spells["period"].astype(str).str.lower().eq("year").to_numpy()
    horizon = np.where(yearly, RENEWAL_HORIZON_MONTHS // 12, RENEWAL_HORIZON_MONTHS)
    renewals = model.expected_renewals(spells, horizon)["renewals"].to_numpy()
    price = (
        pd.to_numeric(spells["price_per_period"], errors="coerce").to_numpy(dtype=float)
        if "price_per_period" in spells.columns
        else np.ones(len(spells))
    )
    out = pd.DataFrame(
        {
            "customer_id": spells["customer_id"].astype(str).to_numpy(),
            "clv": pred["clv"].to_numpy(),
            "clv_lower": np.nan,
            "clv_upper": np.nan,
            "p_active": pred["p_renew"].to_numpy(),  # active in the next period
            "churn_probability": pred["churn_probability"].to_numpy(),
            "expected_purchases": renewals,
            "expected_avg_spend": price * float(model.margin),
            "expected_residual_lifetime": pred["derl"].to_numpy(),
        }
    )
    if scheme is not None:
        seg = scheme.assign(out[["customer_id", "clv", "churn_probability"]])
        out["value_tier"] = seg["value_tier"].astype(str).to_numpy()
        out["segment"] = seg["segment"].astype(str).to_numpy()
    return out


def _pyfunc_class() -> type:
    from mlflow.pyfunc import PythonModel

    class SubscriptionPyfunc(PythonModel):
        """The fitted subscription model and segment scheme, scoring spells."""

        def __init__(self, model: Any, scheme: Any) -> None:
            self.model = model
            self.scheme = scheme

        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
            return score_frame(self.model, self.scheme, model_input)

    return SubscriptionPyfunc


def log_subscription_model(
    model: Any, scheme: Any, example: pd.DataFrame, registered_model_name: str
) -> Any:
    """Log the model to the active MLflow run and register it; returns the ModelInfo."""
    import logging
    import warnings

    import mlflow

    wrapper = _pyfunc_class()(model, scheme)
    log = logging.getLogger("mlflow")
    level = log.level
    # MLflow warns that a Python object is cloudpickled and that a DataFrame -> Any hint
    # gives no signature: both are so by design here (the input is the spells frame)
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Operation with range is deprecated")
            info = mlflow.pyfunc.log_model(
                name="subscription_model",
                python_model=wrapper,
                registered_model_name=registered_model_name,
                pip_requirements=[],
                metadata={"clvml_kind": "subscriptions"},
            )
    finally:
        log.setLevel(level)
    from clvml.tracking.registry_integrity import record_model_digests

    # the SHA-256 of every logged file, in the tracking database: checked before loading
    record_model_digests(info, registered_model_name)
    return info


def unwrap(
    uri: str, *, version: Any | None = None, trust_model: bool = False
) -> tuple[Any, Any, str | None]:
    """``(SubscriptionModel, SegmentScheme, unverified)`` of a logged subscription model.

    The model is copied from the tracking store and its files checked against the
    SHA-256 digests recorded when it was logged, before its pickle loads
    (:func:`clvml.tracking.registry_integrity.fetch_verified`); ``trust_model`` loads a
    model without (matching) digests. ``version`` is the registry's ModelVersion behind
    a ``models:/`` URI, when known. ``unverified`` is None for a checked model, else the
    12 hex of the loaded files' manifest digest (``--trust-model`` let it through).
    """
    import tempfile

    import mlflow
    from mlflow.exceptions import MlflowException

    from clvml.tracking.registry_integrity import fetch_verified
    from clvml.tracking.scoring_model import ModelLoadError

    with tempfile.TemporaryDirectory(prefix="clvml-model-") as dst:
        try:
            ident = fetch_verified(
                uri, dst, client=mlflow.MlflowClient(), version=version, trust=trust_model
            )
        except (MlflowException, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(f"{uri}: cannot copy the model ({first})") from None
        loaded = mlflow.pyfunc.load_model(ident.path)
    inner = loaded.unwrap_python_model()
    return inner.model, inner.scheme, None if ident.verified else ident.digest
