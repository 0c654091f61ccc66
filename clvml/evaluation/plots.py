"""Plots of model evaluation; every function draws on an Axes and returns it.

Matplotlib is imported inside the functions, so importing this module costs
nothing and no backend is chosen at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from clvml.evaluation.classification import _check, expected_calibration_error

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_calibration_curve", "plot_permutation_importance"]


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new = plt.subplots(figsize=(5.5, 4.5))
    return new


def plot_calibration_curve(
    y_true: Any,
    y_prob: Any,
    ax: Axes | None = None,
    *,
    n_bins: int = 10,
    strategy: Literal["quantile", "uniform"] = "quantile",
    label: str | None = None,
) -> Axes:
    """Reliability diagram: observed churn rate against mean predicted probability per bin.

    Uses :func:`sklearn.calibration.calibration_curve`; points on the
    diagonal are perfectly calibrated. The legend shows the expected
    calibration error with the same bins
    (:func:`clvml.evaluation.classification.expected_calibration_error`).
    Call it again with the same ``ax`` to overlay models.

    Parameters
    ----------
    y_true, y_prob : array-like
        Realised labels (0/1) and predicted probabilities.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure by default.
    n_bins : int, default 10
    strategy : {"quantile", "uniform"}, default "quantile"
        Equal-mass or equal-width bins.
    label : str, optional
        Legend label of the curve (default "model").

    Returns
    -------
    matplotlib.axes.Axes
    """
    from sklearn.calibration import calibration_curve

    y, p = _check(y_true, y_prob)
    frac_pos, mean_pred = calibration_curve(y, p, n_bins=n_bins, strategy=strategy)
    ece = expected_calibration_error(y, p, n_bins=n_bins, strategy=strategy)
    ax = _axes(ax)
    if not any(line.get_gid() == "diagonal" for line in ax.get_lines()):
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, gid="diagonal", label="perfect")
    ax.plot(mean_pred, frac_pos, marker="o", label=f"{label or 'model'} (ECE {ece:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted churn probability")
    ax.set_ylabel("observed churn rate")
    ax.set_title("Calibration")
    ax.legend(loc="upper left")
    return ax


def plot_permutation_importance(
    model: Any,
    X: pd.DataFrame,
    y: Any,
    ax: Axes | None = None,
    *,
    top: int = 15,
    scoring: str = "roc_auc",
    n_repeats: int = 5,
    random_state: int = 0,
) -> Axes:
    """Permutation importance of the columns of ``X`` for a fitted model, as box plots.

    Uses :func:`sklearn.inspection.permutation_importance`: the drop of
    ``scoring`` when one column of the customer frame is shuffled, over
    ``n_repeats`` shuffles. Compute it on evaluation data, not the training
    frame, to see what generalises. Correlated features share their
    importance, so a low value does not mean a feature is useless alone.

    Parameters
    ----------
    model : fitted estimator
        E.g. the pipeline of :func:`clvml.models.churn.make_churn_classifier`.
    X : pandas.DataFrame
        Customer frame the model reads.
    y : array-like
        Labels of ``X``.
    ax : matplotlib.axes.Axes, optional
    top : int, default 15
        Number of features shown, largest mean drop first (at the top).
    scoring : str, default "roc_auc"
    n_repeats : int, default 5
    random_state : int, default 0

    Returns
    -------
    matplotlib.axes.Axes
        One horizontal box per feature (the ``n_repeats`` drops), the most
        important at the top.
    """
    from sklearn.inspection import permutation_importance

    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    result = permutation_importance(
        model, X, y, scoring=scoring, n_repeats=n_repeats, random_state=random_state
    )
    order = np.argsort(-result.importances_mean, kind="stable")[:top][::-1]
    names = [str(X.columns[i]) for i in order]
    ax = _axes(ax)
    ax.boxplot(result.importances[order].T, orientation="horizontal", tick_labels=names)
    ax.axvline(0.0, color="grey", ls="--", lw=1)
    ax.set_xlabel(f"drop in {scoring} when shuffled")
    ax.set_title("Permutation importance")
    return ax
