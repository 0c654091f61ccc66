r"""``ml_anchored``: a learned correction of the best label-free model, at its level.

A supervised method for the deployable time split (issue #14, points 3 and 6), where the
training window is younger than the customers scored:

* **anchor**: of the two label-free models on all purchases, BG/NBD + Gamma-Gamma
  (``btyd_all_spend``) and Pareto/NBD + Gamma-Gamma (``pareto_nbd_all_spend``), the one
  whose CLV ranks the **training window's** revenue better (normalised Gini, each model
  fitted at the training customers' own cut-off). The evaluated holdout is never read:
  the choice uses the earlier window's labels only (``anchor_`` and ``anchor_gini_``
  record it);
* **correction**: gradient-boosted Poisson trees
  (:class:`~clvml.models.poisson_value.PoissonValueRegressor`, inner cross-validation of
  the iterations as ``ml``) with the anchor's CLV as offset, :math:`E[V \mid z] =
  \text{CLV}^{a}(z)\,e^{f(z)}`, on the supervised design (customer frame, engagement
  features, stacked BG/NBD outputs) plus the anchor's outputs (``anchor_clv``,
  ``anchor_p_alive``, ``anchor_purchases``, ``anchor_spend``). The anchor carries the
  extrapolation to customers older than any in the training window, the trees only a
  bounded multiplicative correction from what the anchor does not read (engagement,
  sentiment, spend pattern);
* **level**: one scale :math:`k = \sum_i \text{CLV}^{a}_i / \sum_i \hat V_i` over the
  customers of the frame at the cut-off passed to ``fit`` (features only, no label), so
  the total is the anchor's, whose level carries over to older customers where a level
  learned on the younger training window does not (``docs/model_comparison.md``).

``k`` is fixed at fit, so a customer's prediction does not depend on who else is scored.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from clvml.exceptions import ClvmlError
from clvml.models.methods._btyd import btyd_clv, btyd_parts, fit_btyd
from clvml.models.methods.base import CLVMethod, FitData, MethodOutput, PredictData, SkipMethod
from clvml.models.poisson_value import PoissonValueRegressor
from clvml.models.spend import all_purchases_spend_frame

__all__ = ["ANCHORS", "ANCHOR_FEATURES", "MLAnchored", "ranking_gini"]

#: The label-free candidates for the anchor, in order of preference on a tie.
ANCHORS: tuple[str, ...] = ("btyd_all_spend", "pareto_nbd_all_spend")
#: The anchor's outputs added to the supervised design.
ANCHOR_FEATURES: tuple[str, ...] = (
    "anchor_clv",
    "anchor_p_alive",
    "anchor_purchases",
    "anchor_spend",
)


def ranking_gini(realised: np.ndarray, predicted: np.ndarray) -> float:
    """Normalised Gini of ``realised`` ranked by ``predicted`` (tied predictions share ranks).

    The area under the cumulative-gain curve of the ranking by ``predicted`` over that of
    the perfect ranking, each minus 1/2 (the same quantity as
    :func:`clvml.evaluation.metrics.normalized_gini`, which the models layer does not
    import); NaN when every customer realised the same value.
    """
    y = np.asarray(realised, dtype=float)
    n, total = y.size, float(y.sum())
    if n < 2 or total <= 0 or np.ptp(y) == 0:
        return float("nan")

    def area(score: np.ndarray) -> float:
        # a customer ranked r-th from the top (mid-ranks for ties) adds y (n - r + 1/2) / n
        from_top = n + 1 - rankdata(score, method="average")
        return float(np.sum(y * (n - from_top + 0.5)) / (n * total)) - 0.5

    return area(np.asarray(predicted, dtype=float)) / area(y)


def _anchor_columns(clv: Any, p_alive: Any, purchases: Any, spend: Any, index: pd.Index) -> Any:
    values = [clv, p_alive, purchases, spend]
    return pd.DataFrame(
        {k: np.asarray(v, dtype=float) for k, v in zip(ANCHOR_FEATURES, values, strict=True)},
        index=index,
    )


def _training_anchors(model: Any, labelled: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The candidates' outputs on the training customers, fitted at their own cut-off."""
    from clvml.models.btyd import ParetoNBD
    from clvml.models.btyd.gamma_gamma_all import GammaGammaAllPurchases

    try:
        bg, _ = fit_btyd(labelled, model.penalizer)
        pn = ParetoNBD(penalizer=model.penalizer).fit(labelled[["frequency", "recency", "T"]])
        spend = all_purchases_spend_frame(labelled[["n_purchases", "mean_spend"]])
        gga = GammaGammaAllPurchases(penalizer=model.penalizer).fit(spend)
    except (ClvmlError, ValueError) as exc:
        raise SkipMethod(f"label-free models of the training window failed: {exc}") from exc
    frame = all_purchases_spend_frame(labelled)
    out = {}
    for name, tx in zip(ANCHORS, (bg, pn), strict=True):
        parts = btyd_parts(float(model.horizon_weeks), tx, gga, frame)
        clv = btyd_clv(model, tx, gga, frame, None)["clv"].to_numpy()  # as the method's own
        out[name] = _anchor_columns(
            clv, parts["p_alive"], parts["purchases"], parts["spend"], labelled.index
        )
    return out


def _output_columns(out: MethodOutput, index: pd.Index) -> pd.DataFrame:
    return _anchor_columns(out.clv, out.p_alive, out.expected_purchases, out.expected_spend, index)


class MLAnchored(CLVMethod):
    """Poisson trees correcting the best label-free model (chosen on the training window)."""

    name = "ml_anchored"
    supervised = True
    needs = ANCHORS
    fallback_rank = 4

    def fit(self, model: Any, data: FitData) -> dict[str, Any]:
        assert data.X is not None and data.labels is not None and data.labelled is not None
        revenue = data.labels["revenue"].to_numpy(dtype=float) * float(model.margin)
        candidates = _training_anchors(model, data.labelled)
        gini = {
            name: ranking_gini(revenue, cols["anchor_clv"].to_numpy())
            for name, cols in candidates.items()
        }
        scored = {k: v for k, v in gini.items() if np.isfinite(v)}
        if not scored:
            raise SkipMethod("no revenue varies in the training window: no anchor to choose")
        anchor = max(scored, key=lambda k: (scored[k], -ANCHORS.index(k)))
        X = data.X.join(candidates[anchor])
        regressor = PoissonValueRegressor(
            max_iter=2 * model.max_iter,
            offset_column="anchor_clv",
            cv=model.ml_cv,
            random_state=model.random_state,
        ).fit(X, revenue)
        # the level: the anchor's total over the customers at the cut-off (no labels)
        lf = data.predict(anchor)
        features = data.features
        Xf = model.supervised_frame(features).join(_output_columns(lf, features.index))
        raw = float(regressor.predict(Xf).sum())
        if not raw > 0:
            raise SkipMethod("the regressor predicts no value for any customer")
        return {
            "anchor_": anchor,
            "anchor_gini_": gini,
            "anchored_regressor_": regressor,
            "anchored_scale_": float(lf.clv.sum()) / raw,
        }

    def predict(self, model: Any, data: PredictData) -> MethodOutput:
        lf = data.outputs[model.anchor_]
        X = data.X().join(_output_columns(lf, data.features.index))
        value = model.anchored_regressor_.predict(X) * model.anchored_scale_
        return MethodOutput(clv=np.asarray(value, dtype=float))
