"""The report's charts: matplotlib figures rendered to base64 PNG data URIs.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot
state, nothing shown, safe in threads and servers) with the Agg canvas.
Every function takes already-computed tables and the translator ``t``.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "channel_chart",
    "distribution_chart",
    "matrix_chart",
    "retention_chart",
    "tier_chart",
    "to_data_uri",
]

LIGHT, DARK, ACCENT, GREY = "#9ecae1", "#08519c", "#d94801", "#6b6b6b"
_DPI = 110


def _figure(width: float = 7.0, height: float = 3.6) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def to_data_uri(fig: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _style(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)


def distribution_chart(clv: np.ndarray, t: Callable[..., str]) -> Figure:
    """Histogram of predicted CLV on a log axis (customers at 0 shown in their own bar)."""
    fig = _figure()
    ax = fig.add_subplot()
    positive = clv[clv > 0]
    if len(positive):
        lo, hi = np.quantile(positive, [0.001, 1.0])
        lo = max(lo, positive.min())
        bins = np.geomspace(lo, max(hi, lo * 1.01), 40)
        ax.hist(np.clip(positive, lo, None), bins=list(bins), color=DARK, alpha=0.85)
        ax.set_xscale("log")
        median = float(np.median(clv))
        if median > 0:
            ax.axvline(median, color=ACCENT, linestyle="--", linewidth=1.2)
    ax.set_xlabel(t("x_clv"))
    ax.set_ylabel(t("y_customers"))
    _style(ax)
    return fig


def tier_chart(
    summary: pd.DataFrame, t: Callable[..., str], names: Callable[[str], str] = str
) -> Figure:
    """Share of customers vs share of value per value tier (horizontal bars)."""
    fig = _figure(7.0, 0.6 + 0.55 * len(summary))
    ax = fig.add_subplot()
    y = np.arange(len(summary))
    h = 0.38
    ax.barh(y - h / 2, summary["share_of_customers"], h, color=LIGHT, label=t("share_customers"))
    ax.barh(y + h / 2, summary["share_of_value"], h, color=DARK, label=t("share_value"))
    ax.set_yticks(y, [names(str(i)) for i in summary.index])
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def matrix_chart(
    counts: pd.DataFrame,
    value_share: pd.DataFrame,
    t: Callable[..., str],
    num: Callable[[float], str] = lambda x: f"{x:,.0f}",
) -> Figure:
    """3 x 3 heat map: colour = share of value, text = customers (value rows, risk columns)."""
    fig = _figure(5.6, 4.2)
    ax = fig.add_subplot()
    im = ax.imshow(value_share.to_numpy(dtype=float), cmap="Blues", vmin=0)
    levels = [t(f"level_{lv}") for lv in counts.index]
    ax.set_xticks(range(counts.shape[1]), [t(f"level_{lv}") for lv in counts.columns])
    ax.set_yticks(range(counts.shape[0]), levels)
    ax.set_xlabel(t("risk_level"))
    ax.set_ylabel(t("value_level"))
    top = float(np.nanmax(value_share.to_numpy())) if value_share.size else 0.0
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            share = float(value_share.iat[i, j])
            colour = "white" if top and share > 0.55 * top else "black"
            ax.text(
                j,
                i,
                f"{num(float(counts.iat[i, j]))}\n{100 * share:.0f}%",
                ha="center",
                va="center",
                color=colour,
                fontsize=10,
            )
    cbar = fig.colorbar(im, ax=ax, shrink=0.85)
    cbar.ax.yaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
    cbar.set_label(t("share_value"))
    return fig


def channel_chart(table: pd.DataFrame, t: Callable[..., str], healthy: float = 3.0) -> Figure:
    """LTV:CAC per acquisition channel with the 3:1 line."""
    fig = _figure(7.0, 0.6 + 0.5 * len(table))
    ax = fig.add_subplot()
    ratio = table["ltv_cac"].to_numpy(dtype=float)
    finite = np.where(np.isfinite(ratio), ratio, np.nan)
    cap = np.nanmax(finite) * 1.15 if np.isfinite(finite).any() else healthy * 2
    shown = np.where(np.isinf(ratio), cap, np.nan_to_num(ratio, nan=0.0))
    colours = [DARK if r >= healthy else ACCENT for r in shown]
    y = np.arange(len(table))
    ax.barh(y, shown, color=colours)
    ax.axvline(healthy, color=GREY, linestyle="--", linewidth=1.2)
    ax.set_yticks(y, [str(c) for c in table.index])
    ax.invert_yaxis()
    ax.set_xlabel(t("ltv_cac"))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def retention_chart(groups: pd.DataFrame, t: Callable[..., str]) -> Figure:
    """Retention by care group with interval whiskers (``estimate``, ``ci_low``, ``ci_high``)."""
    fig = _figure(6.0, 3.4)
    ax = fig.add_subplot()
    est = groups["estimate"].to_numpy(dtype=float)
    err = np.vstack([est - groups["ci_low"].to_numpy(), groups["ci_high"].to_numpy() - est])
    x = np.arange(len(groups))
    ax.bar(x, est, color=[DARK, LIGHT, GREY][: len(groups)], yerr=err, capsize=6)
    ax.set_xticks(x, [t(f"g_{g}") for g in groups["group"]])
    ax.set_ylabel(t("y_retention"))
    ax.yaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
    ax.set_ylim(0, min(1.0, float(np.nanmax(groups["ci_high"])) * 1.2 or 1.0))
    _style(ax)
    return fig
