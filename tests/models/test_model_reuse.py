"""``clvml train`` serves the comparison's fitted steps instead of fitting them again.

The comparison (time split) and the served model are fitted on the same frames, labels and
parameters (methods, champion and interval aside); ``CLVModel.fit(reuse=...)`` takes the
comparison's fitted steps. The property: the served model predicts exactly what a model
fitted afresh predicts (every column, every customer), and it is cheaper because the fitted
estimators are the comparison's own objects.
"""

from __future__ import annotations

import pandas as pd
import pytest

from clvml.evaluation.comparison import compare_methods
from clvml.features.frames import FrameBuilder
from clvml.models.clv_model import CLVModel
from clvml.models.methods import DEFAULT_METHODS
from clvml.models.training import fit_clv_model

FAST = {"max_iter": 30}


@pytest.fixture(scope="module")
def fitted(make_world):
    w = make_world(1200, random_state=5)
    cutoff = w.calibration_end - pd.Timedelta(days=1)
    holdout_end = w.observation_end - pd.Timedelta(days=1)
    builder = FrameBuilder(w.transactions, w.engagement, w.customers)
    comparison = compare_methods(
        w.transactions,
        w.engagement,
        w.customers,
        calibration_end=cutoff,
        holdout_end=holdout_end,
        frames=builder,
        **FAST,
    )
    h = comparison.horizon_weeks
    kw = dict(cutoff=cutoff, horizon_weeks=h, frames=builder, methods=DEFAULT_METHODS, **FAST)
    tables = (w.transactions, w.engagement, w.customers)
    fresh = fit_clv_model(*tables, **kw)
    reused = fit_clv_model(*tables, reuse=comparison.models[0], **kw)
    return comparison, fresh, reused, builder.at(cutoff)


def test_the_served_model_equals_a_fresh_fit(fitted):
    comparison, fresh, reused, frame = fitted
    assert comparison.mode == "time"
    assert reused.methods_ == fresh.methods_ and reused.champion_ == fresh.champion_
    assert reused.feature_columns_ == fresh.feature_columns_
    assert reused.skipped_methods_ == fresh.skipped_methods_
    assert reused.btyd_params_ == fresh.btyd_params_
    pd.testing.assert_frame_equal(reused.predict(frame), fresh.predict(frame))


def test_the_served_model_holds_the_comparisons_estimators(fitted):
    comparison, fresh, reused, _ = fitted
    source = comparison.models[0]
    assert reused.value_regressor_ is source.value_regressor_
    assert reused.churn_classifier_ is source.churn_classifier_
    assert fresh.value_regressor_ is not source.value_regressor_
    # only the served methods' steps: nothing of ml_two_part, blend or ml_level comes along
    assert not hasattr(reused, "two_part_regressor_") and not hasattr(reused, "blend_scale_")
    assert set(reused.fitted_steps_) <= set(source.fitted_steps_)


def test_reuse_with_other_parameters_is_refused(fitted):
    comparison, _, _, frame = fitted
    other = CLVModel(horizon_weeks=comparison.horizon_weeks, max_iter=31)
    with pytest.raises(ValueError, match="max_iter"):
        other.fit(frame, reuse=comparison.models[0])


def test_fit_clv_model_fits_afresh_when_the_parameters_differ(fitted, make_world):
    comparison, _, _, _ = fitted
    w = make_world(1200, random_state=5)
    model = fit_clv_model(
        w.transactions,
        w.engagement,
        w.customers,
        cutoff=w.calibration_end - pd.Timedelta(days=1),
        horizon_weeks=comparison.horizon_weeks,
        reuse=comparison.models[0],
        methods=("btyd", "ml"),
        max_iter=20,
    )
    assert model.value_regressor_ is not comparison.models[0].value_regressor_
