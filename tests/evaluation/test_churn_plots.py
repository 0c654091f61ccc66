"""Calibration-curve and permutation-importance plots of the churn classifier."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.calibration import calibration_curve
from threadpoolctl import threadpool_limits

from clvml.evaluation.plots import plot_calibration_curve, plot_permutation_importance
from clvml.models.churn import make_churn_classifier


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_calibration_curve_points_and_overlay():
    rng = np.random.default_rng(0)
    p = rng.random(400)
    y = (rng.random(400) < p).astype(int)
    ax = plot_calibration_curve(y, p, label="calibrated", n_bins=5)
    frac, mean = calibration_curve(y, p, n_bins=5, strategy="quantile")
    lines = ax.get_lines()
    assert lines[0].get_gid() == "diagonal"
    assert_allclose(lines[1].get_xdata(), mean)
    assert_allclose(lines[1].get_ydata(), frac)
    _, ax2 = plt.subplots()
    assert plot_calibration_curve(y, p, ax=ax2) is ax2
    plot_calibration_curve(y, np.clip(p * 0.5, 0, 1), ax=ax2, label="shrunk")
    assert len(ax2.get_lines()) == 3  # one diagonal, two models
    assert "ECE" in ax2.get_legend().get_texts()[-1].get_text()


def test_permutation_importance_ranks_the_planted_feature_first():
    rng = np.random.default_rng(1)
    n = 1200
    X = pd.DataFrame({"signal": rng.normal(size=n), "noise_a": rng.normal(size=n),
                      "noise_b": rng.normal(size=n)})  # fmt: skip
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * X["signal"]))).astype(int)
    with threadpool_limits(1, user_api="openmp"):
        model = make_churn_classifier(calibration="sigmoid", max_iter=40).fit(X, y)
        ax = plot_permutation_importance(model, X, y, top=2, n_repeats=3)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 2 and labels[-1] == "signal"  # the most important is drawn on top
    with pytest.raises(ValueError, match="top must be"):
        plot_permutation_importance(model, X, y, top=0)
