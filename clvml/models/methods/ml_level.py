r"""``ml_level``: ML ranking on the label-free stack, the level of the best label-free model.

A supervised method built for the deployable time split (issue #14, point 3), where the
training window is younger than the customers scored:

* **ranking**: gradient-boosted Poisson trees
  (:class:`~clvml.models.poisson_value.PoissonValueRegressor`, no offset, inner
  cross-validation of the iterations as ``ml``) on the supervised design (customer frame
  and stacked BG/NBD outputs) plus the outputs of Pareto/NBD + Gamma-Gamma on all
  purchases (``lf_clv``, ``lf_p_alive``, ``lf_purchases``, ``lf_spend``), each computed
  from models fitted on the frame the row comes from (the training customers' at their
  own cut-off), so nothing after a cut-off enters its row;
* **level**: one scale :math:`k = \sum_i \text{CLV}^{lf}_i / \sum_i \hat V_i` over the
  customers of the frame at the cut-off passed to ``fit`` (features only, no label),
  so its total is that of ``pareto_nbd_all_spend``, whose level carries over to older
  customers (on CDNOW the label-free model is −14% on the younger training window and
  −0.7% on the evaluated customers, so a level learned on the training window's own
  error would not carry over; ``docs/model_comparison.md``).

``k`` is fixed at fit, so a customer's prediction does not depend on who else is scored.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clvml.exceptions import ClvmlError
from clvml.models.methods._btyd import btyd_clv, btyd_parts
from clvml.models.methods.base import CLVMethod, FitData, MethodOutput, PredictData, SkipMethod
from clvml.models.poisson_value import PoissonValueRegressor
from clvml.models.spend import all_purchases_spend_frame

__all__ = ["LABEL_FREE_FEATURES", "MLLevel"]

#: Outputs of Pareto/NBD + Gamma-Gamma on all purchases added to the supervised design.
LABEL_FREE_FEATURES: tuple[str, ...] = ("lf_clv", "lf_p_alive", "lf_purchases", "lf_spend")


def _label_free_columns(model: Any, frame: pd.DataFrame, pn: Any, gga: Any) -> pd.DataFrame:
    spend = all_purchases_spend_frame(frame)
    h = float(model.horizon_weeks)
    parts = btyd_parts(h, pn, gga, spend)
    clv = btyd_clv(model, pn, gga, spend, None)["clv"].to_numpy()
    values = [clv, parts["p_alive"], parts["purchases"], parts["spend"]]
    return pd.DataFrame(dict(zip(LABEL_FREE_FEATURES, values, strict=True)), index=frame.index)


def _output_columns(out: MethodOutput, index: pd.Index) -> pd.DataFrame:
    values = [out.clv, out.p_alive, out.expected_purchases, out.expected_spend]
    return pd.DataFrame(dict(zip(LABEL_FREE_FEATURES, values, strict=True)), index=index)


class MLLevel(CLVMethod):
    """Poisson trees on the label-free stack, rescaled to Pareto/NBD + GG-all's total."""

    name = "ml_level"
    supervised = True
    needs = ("pareto_nbd_all_spend",)
    fallback_rank = 4

    def fit(self, model: Any, data: FitData) -> dict[str, Any]:
        assert data.X is not None and data.labels is not None and data.labelled is not None
        from clvml.models.btyd import ParetoNBD
        from clvml.models.btyd.gamma_gamma_all import GammaGammaAllPurchases

        labelled = data.labelled
        try:  # label-free models at the training customers' own cut-off
            pn = ParetoNBD(penalizer=model.penalizer).fit(labelled[["frequency", "recency", "T"]])
            spend = all_purchases_spend_frame(labelled[["n_purchases", "mean_spend"]])
            gga = GammaGammaAllPurchases(penalizer=model.penalizer).fit(spend)
        except (ClvmlError, ValueError) as exc:
            raise SkipMethod(f"label-free models of the training window failed: {exc}") from exc
        X = data.X.join(_label_free_columns(model, labelled, pn, gga))
        revenue = data.labels["revenue"].to_numpy(dtype=float)
        regressor = PoissonValueRegressor(
            max_iter=2 * model.max_iter, cv=model.ml_cv, random_state=model.random_state
        ).fit(X, revenue * float(model.margin))
        # the level: the label-free total over the customers at the cut-off (no labels)
        lf = data.predict("pareto_nbd_all_spend")
        features = data.features
        Xf = model.supervised_frame(features).join(_output_columns(lf, features.index))
        raw = regressor.predict(Xf).sum()
        if not raw > 0:
            raise SkipMethod("the regressor predicts no value for any customer")
        return {"level_regressor_": regressor, "level_scale_": float(lf.clv.sum() / raw)}

    def predict(self, model: Any, data: PredictData) -> MethodOutput:
        lf = data.outputs["pareto_nbd_all_spend"]
        X = data.X().join(_output_columns(lf, data.features.index))
        value = model.level_regressor_.predict(X) * model.level_scale_
        return MethodOutput(clv=np.asarray(value, dtype=float))
