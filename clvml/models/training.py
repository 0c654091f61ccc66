"""Fit a :class:`~clvml.models.clv_model.CLVModel` from the raw tables at a cut-off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pandas as pd

from clvml.exceptions import DataValidationError
from clvml.features.dataset import holdout_targets
from clvml.features.frames import CustomerFrame, FrameBuilder
from clvml.models.btyd import BetaGeo, GammaGamma
from clvml.models.clv_model import CLVModel

__all__ = [
    "fit_clv_model",
    "short_history",
]


def short_history(
    transactions: pd.DataFrame, cutoff: pd.Timestamp, span: pd.Timedelta
) -> str | None:
    """Why no earlier training window of length ``span`` fits before ``cutoff`` (None: it fits).

    The one rule of ``clvml train`` and ``clvml evaluate`` (docs/model_comparison.md, "Short
    history"): the supervised methods learn on the window of the horizon's length before the
    cut-off; when the history before the cut-off is shorter, they are left out and the
    label-free methods are compared and served.
    """
    first = pd.Timestamp(transactions["timestamp"].min()).normalize()
    history = cutoff - first
    if history >= span:
        return None
    return (
        f"{history.days} days of history before the cut-off {cutoff.date()} are shorter than "
        f"the {span.days}-day horizon, so there is no earlier window of the horizon's length to "
        "train the supervised methods on: label-free methods only"
    )


#: Repeat buyers the earlier window needs by its cut-off to fit the BTYD parts there.
MIN_REPEAT_BUYERS = 20


def young_window(labelled: pd.DataFrame, c0: pd.Timestamp) -> str | None:
    """Why the customer frame at the earlier cut-off ``c0`` is too young to train on (or None).

    The supervised parts read BG/NBD and Gamma-Gamma fitted at ``c0``, which need repeat
    purchases: with fewer than :data:`MIN_REPEAT_BUYERS` repeat buyers by then the window is
    treated as missing (the same fallback as :func:`short_history`).
    """
    repeat = int((labelled["frequency"] > 0).sum())
    if repeat >= MIN_REPEAT_BUYERS:
        return None
    return (
        f"only {repeat} customer{'s' if repeat != 1 else ''} had a repeat purchase by the "
        f"earlier cut-off {c0.date()} (at least {MIN_REPEAT_BUYERS} needed to fit the BTYD parts "
        "there), so the earlier window is too young to train the supervised methods on: "
        "label-free methods only"
    )


def _same_fit(reuse: CLVModel, model: CLVModel, fits: dict[str, Any], labelled: bool) -> bool:
    """Whether ``reuse`` can stand for ``model``'s fit (see :func:`fit_clv_model`)."""
    if fits or not hasattr(reuse, "fitted_steps_"):
        return False
    mine, theirs = model.get_params(deep=False), reuse.get_params(deep=False)
    free = CLVModel._REUSE_FREE
    if any(repr(v) != repr(theirs.get(k)) for k, v in mine.items() if k not in free):
        return False
    return labelled == hasattr(reuse, "n_labelled_")


def fit_clv_model(
    transactions: pd.DataFrame,
    engagement: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
    *,
    cutoff: object,
    horizon_weeks: float = 52,
    supervised: Literal["time", "customers"] | None = "time",
    btyd_fitter: Callable[[pd.Timestamp], tuple[BetaGeo, GammaGamma]] | None = None,
    frames: FrameBuilder | None = None,
    reuse: CLVModel | None = None,
    **params: Any,
) -> CLVModel:
    """Build the customer frames and fit a :class:`CLVModel` at ``cutoff``.

    Parameters
    ----------
    transactions, engagement, customers : pandas.DataFrame
        Validated tables (:func:`clvml.features.dataset.customer_features`).
    cutoff : date-like
        Last day (inclusive) of the data the model may read for the BTYD parts.
    horizon_weeks : float, default 52
        Prediction horizon.
    supervised : {"time", "customers"} or None, default "time"
        How the supervised parts are trained:

        * ``"time"``: on the customer frame at ``cutoff - horizon`` with labels from
          then up to ``cutoff`` (an earlier window of the same length; nothing after the
          cut-off is read). When no customer had bought by then, the supervised methods
          are skipped (see ``skipped_methods_``).
        * ``"customers"``: on the customer frame at ``cutoff`` with labels from
          ``(cutoff, cutoff + horizon]``: for data that extend past the cut-off, e.g. to
          fit on one group of customers and score another. Never evaluate such a model
          on the customers it was fitted on (:func:`clvml.evaluation.comparison.compare_methods`
          cross-fits over folds instead).
        * ``None``: unsupervised methods only.
    btyd_fitter : callable, optional
        ``btyd_fitter(day) -> (BetaGeo, GammaGamma)`` fitted on the customers as of
        ``day`` (inclusive), called for the cut-off and, with ``supervised="time"``, for
        the training cut-off; it replaces the fits on ``transactions``' customers (see
        :meth:`CLVModel.fit` ``btyd``). The Spark engine passes fits on every customer
        while ``transactions`` holds a sample of them.
    frames : FrameBuilder, optional
        The run's frame builder (built on the same tables), so that a cut-off another step
        of the run already built is not built again; default a new one.
    reuse : CLVModel, optional
        A model fitted on the same customer frame at ``cutoff``, the same labelled frame
        and labels (the window one horizon before it) and the same parameters
        (``methods``, ``champion`` and ``interval`` aside): the comparison's model of
        ``clvml train``, whose fitted steps are served instead of being fitted again
        (:meth:`CLVModel.fit`). The caller vouches for the frames; it is ignored when a
        ``btyd_fitter`` is given, when the parameters differ, or when one of the two has
        labels and the other not (e.g. the earlier window was refused here only).
    **params
        :class:`CLVModel` parameters.

    Returns
    -------
    CLVModel
        Fitted; ``training_window_`` records the frames' cut-offs and label window.

    Examples
    --------
    >>> from clvml.data.datasets import load_cdnow_master
    >>> m = fit_clv_model(load_cdnow_master(), cutoff="1997-09-30", horizon_weeks=39,
    ...                   supervised=None, interval=None)
    >>> m.methods_, m.champion_
    (['btyd'], 'btyd')
    """
    if supervised not in ("time", "customers", None):
        raise ValueError(f"supervised must be 'time', 'customers' or None, got {supervised!r}")
    h = float(horizon_weeks)
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"horizon_weeks must be > 0, got {horizon_weeks!r}")
    builder = frames if frames is not None else FrameBuilder(transactions, engagement, customers)
    features = builder.at(cutoff)
    c = features.cutoff
    span = pd.Timedelta(days=round(7 * h))
    window: dict[str, Any] = {"cutoff": str(c.date()), "supervised": supervised}
    labelled: CustomerFrame | None = None
    labels = None
    note = None
    if supervised == "time" and (note := short_history(transactions, c, span)) is not None:
        window["supervised"] = "none (short history)"
    elif supervised == "time":
        c0 = c - span
        try:
            labelled = builder.at(c0)
        except DataValidationError:
            note = f"no customer had bought by {c0.date()}, one horizon before the cut-off"
        else:
            note = young_window(labelled.frame, c0)
        if note is not None:
            labelled = None
            window["supervised"] = "none (short history)"
        else:
            assert labelled is not None
            labels = holdout_targets(transactions, labelled.frame.index, start=c0, end=c)
            window.update(train_cutoff=str(c0.date()), label_start=labels.attrs["start"])
            window["label_end"] = labels.attrs["end"]
    elif supervised == "customers":
        end = c + span
        last = pd.Timestamp(transactions["timestamp"].max())
        if last < end - pd.Timedelta(weeks=1):
            raise DataValidationError(
                f"supervised='customers' needs transactions up to {end.date()} (cut-off plus the "
                f"horizon); they end on {last.date()}",
                column="timestamp",
            )
        labelled = features
        labels = holdout_targets(transactions, features.frame.index, start=c, end=end)
        window.update(train_cutoff=str(c.date()), label_start=labels.attrs["start"])
        window["label_end"] = labels.attrs["end"]
    fits: dict[str, Any] = {}
    if btyd_fitter is not None:
        fits["btyd"] = btyd_fitter(c)
        if labelled is not None and supervised == "time":
            fits["labelled_btyd"] = btyd_fitter(c - span)
    model = CLVModel(horizon_weeks=h, **params)
    if reuse is not None and not _same_fit(reuse, model, fits, labelled is not None):
        reuse = None
    try:
        return model.fit(
            features,
            labelled,
            labels,
            training_window=window,
            no_labels_reason=note,
            reuse=reuse,
            **fits,
        )
    except DataValidationError as exc:
        if labelled is None or supervised != "time":
            raise
        # the earlier window exists but is too young to fit on (e.g. no repeat purchase yet)
        note = f"the earlier window could not be fitted ({exc}): label-free methods only"
        window = {"cutoff": window["cutoff"], "supervised": "none (short history)"}
        fits.pop("labelled_btyd", None)
        return model.fit(features, training_window=window, no_labels_reason=note, **fits)
