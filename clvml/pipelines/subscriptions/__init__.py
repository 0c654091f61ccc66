"""The subscription workflows: ``clvml evaluate``, ``train`` and ``score`` on a
``subscriptions`` table (issue #19).

A data folder (or database) holding ``subscriptions`` and no ``transactions`` is a
subscription business: its customers renew or cancel each billing period.

* :func:`evaluate_subscriptions` fits every subscription method
  (:data:`~clvml.models.methods.subscription.SUBSCRIPTION_METHODS`) on the spells known on
  the calibration end and judges each, beside the marketing formula's constant retention
  (:func:`clvml.evaluation.subscription_comparison.compare_subscription_clv`, which also
  counts each spell's billing dates in the holdout and the renewals it paid), on the
  holdout: for every spell active on the cut-off, the renewals it was expected to pay up
  to the holdout end against those it paid, and the value (renewals x price x margin);
  the first renewal's probability by its Brier score.
* :func:`train_subscriptions` runs that comparison, fits the champion on every spell known
  on the data's last day, fits the value tiers (:class:`~clvml.segments.SegmentScheme`) on
  its predictions for the active subscribers and logs the model to MLflow (registered,
  ``champion`` alias moved only when it beats the current one on the holdout MAE of
  renewals).
* :func:`score_subscriptions` loads a registered subscription model and writes each
  customer's latest spell to the CRM score table: ``clv`` (residual CLV = DERL x margin x
  price), ``p_active`` (the probability of renewing at the end of the current period),
  ``churn_probability`` (its complement), ``expected_purchases`` (renewals expected in
  the next year), ``expected_avg_spend`` (price per period x margin), ``value_tier``,
  ``segment``. A customer whose last spell is cancelled on ``as_of`` is written with value
  0 and churn probability 1.

Covariates: ``plan`` (subscriptions), ``acquisition_channel`` (customers) and the first
billing period's care contacts, social and owned-channel engagement and message sentiment
(engagement, :func:`first_period_engagement`) when present and not constant. LTV:CAC by
acquisition channel (:func:`subscription_ltv_cac`) values each customer at acquisition
(``DEL x margin x price``) against ``acquisition_cost``.

The parts: :mod:`~clvml.pipelines.subscriptions.inputs` (tables, spells, covariates),
:mod:`~clvml.pipelines.subscriptions.evaluate`, :mod:`~clvml.pipelines.subscriptions.train` and
:mod:`~clvml.pipelines.subscriptions.score`.
"""

from __future__ import annotations

from clvml.pipelines.subscriptions.evaluate import SubscriptionEvaluation, evaluate_subscriptions
from clvml.pipelines.subscriptions.inputs import (
    COVARIATES,
    OWNED_KINDS,
    SOCIAL_KINDS,
    SubscriptionTables,
    first_period_care,
    first_period_engagement,
    is_subscription_source,
    load_subscriptions,
    spell_frame,
)
from clvml.pipelines.subscriptions.score import (
    SubscriptionScoreResult,
    score_subscriptions,
    training_cutoff,
)
from clvml.pipelines.subscriptions.train import (
    GATE_METRIC,
    SUBSCRIPTION_MODEL_NAME,
    SubscriptionTrainResult,
    subscription_ltv_cac,
    train_subscriptions,
)

__all__ = [
    "COVARIATES",
    "GATE_METRIC",
    "OWNED_KINDS",
    "SOCIAL_KINDS",
    "SUBSCRIPTION_MODEL_NAME",
    "SubscriptionEvaluation",
    "SubscriptionScoreResult",
    "SubscriptionTables",
    "SubscriptionTrainResult",
    "evaluate_subscriptions",
    "first_period_care",
    "first_period_engagement",
    "is_subscription_source",
    "load_subscriptions",
    "score_subscriptions",
    "spell_frame",
    "subscription_ltv_cac",
    "train_subscriptions",
    "training_cutoff",
]
