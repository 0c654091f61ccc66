"""Plots of value predictions judged on the holdout: decile charts and cumulative gain curves.

Each function draws on a matplotlib ``Axes`` (a new figure when none is given) and
returns it; nothing is shown or saved here except by :func:`save_comparison_plots`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from clvml.evaluation.metrics import decile_table, gain_curve

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from clvml.evaluation.comparison import ComparisonResult

__all__ = ["plot_decile_chart", "plot_gain_curves", "save_comparison_plots"]


def _axes(ax: Axes | None, size: tuple[float, float] = (6.5, 4.5)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=size)
    return ax


def plot_decile_chart(
    y_true: Any, y_pred: Any, *, title: str | None = None, ax: Axes | None = None
) -> Axes:
    """Mean predicted vs mean realised value per decile of prediction (1 = highest).

    A well-calibrated model has the two bars of each decile at the same height; a good
    ranking has realised value falling from decile 1 to 10.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> ax = plot_decile_chart([0, 10, 0, 30] * 5, range(20))
    >>> len(ax.patches)
    20
    """
    table = decile_table(y_true, y_pred)
    ax = _axes(ax)
    x = table.index.to_numpy()
    width = 0.4
    ax.bar(x - width / 2, table["mean_predicted"], width, label="predicted", color="#4c72b0")
    ax.bar(x + width / 2, table["mean_realised"], width, label="realised", color="#dd8452")
    ax.set_xticks(x)
    ax.set_xlabel("decile of predicted value (1 = highest)")
    ax.set_ylabel("mean value per customer")
    ax.set_title(title or "Decile calibration")
    ax.legend()
    return ax


def plot_gain_curves(
    y_true: Any,
    predictions: Mapping[str, Any],
    *,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Cumulative gain (Lorenz) curves: share of realised value captured by the top customers.

    Parameters
    ----------
    y_true : array-like
        Realised value per customer.
    predictions : mapping of str to array-like
        Method name -> predicted value per customer (same order as ``y_true``).

    The diagonal is a random ranking and the dashed curve the perfect one (ranking by
    the realised value itself); the normalised Gini is the area between a curve and the
    diagonal over the same area of the perfect curve.
    """
    ax = _axes(ax)
    y = np.asarray(y_true, dtype=float)
    for name, pred in predictions.items():
        xs, ys = gain_curve(y, pred)
        ax.plot(xs, ys, label=str(name), lw=1.5)
    xs, ys = gain_curve(y, y)
    ax.plot(xs, ys, "k--", lw=1, label="perfect")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, label="random")
    ax.set_xlabel("share of customers (ranked by prediction)")
    ax.set_ylabel("share of realised value")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_title(title or "Cumulative gain")
    ax.legend(loc="lower right", fontsize="small")
    return ax


def save_comparison_plots(result: ComparisonResult, folder: str | Path) -> list[Path]:
    """Write ``gain_curves.png`` and one ``deciles_<method>.png`` per row of the comparison.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    preds = result.predictions
    y = preds["realised_revenue"].to_numpy()
    columns = {
        name: (
            "past_spend"
            if name == "past spend"
            else name
            if name in ("truth", "oracle")
            else f"clv_{name}"
        )
        for name in result.table["method"]
    }
    written = []
    fig, ax = plt.subplots(figsize=(7, 5))
    plot_gain_curves(
        y,
        {name: preds[col].to_numpy() for name, col in columns.items()},
        title=f"Cumulative gain, {result.horizon_weeks:.0f}-week holdout",
        ax=ax,
    )
    fig.tight_layout()
    path = out / "gain_curves.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)
    for name, col in columns.items():
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        plot_decile_chart(y, preds[col].to_numpy(), title=f"Deciles: {name}", ax=ax)
        fig.tight_layout()
        path = out / f"deciles_{pd.Series([name]).str.replace(' ', '_').iloc[0]}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
