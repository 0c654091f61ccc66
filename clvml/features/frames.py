"""One customer frame per cut-off: :class:`CustomerFrame` and the :class:`FrameBuilder`.

A :class:`CustomerFrame` is the customer frame of :func:`clvml.features.dataset.customer_features`
together with what it was built at: its cut-off (the last day the frame sees) and its time
unit. Models, comparison and evaluation read the cut-off from it, never from
``DataFrame.attrs``.

A :class:`FrameBuilder` holds one run's tables and builds each cut-off's frame once
(:meth:`FrameBuilder.at` is memoised per cut-off day); the sentiment of each distinct text of
the engagement events is scored once for all cut-offs. Hand one builder to
:func:`clvml.evaluation.comparison.compare_methods` and
:func:`clvml.models.training.fit_clv_model` so a run builds each cut-off once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clvml.data.dates import as_day
from clvml.features import dataset
from clvml.features.sentiment import sentiment_scores

__all__ = ["CustomerFrame", "FrameBuilder"]


@dataclass(frozen=True)
class CustomerFrame:
    """A customer frame and the cut-off it was built at.

    Attributes
    ----------
    frame : pandas.DataFrame
        Indexed by ``customer_id`` (:func:`clvml.features.dataset.customer_features`).
    cutoff : pandas.Timestamp
        The last day (inclusive) of the data the frame sees.
    time_unit : str, default "W"
        Unit of the RFM columns (weeks).

    Examples
    --------
    >>> from clvml.data.datasets import load_cdnow_master
    >>> cf = FrameBuilder(load_cdnow_master()).at("1997-09-30")
    >>> len(cf.frame), str(cf.cutoff.date()), cf.time_unit
    (23570, '1997-09-30', 'W')
    """

    frame: pd.DataFrame
    cutoff: pd.Timestamp
    time_unit: str = "W"

    def __post_init__(self) -> None:
        if not isinstance(self.frame, pd.DataFrame):
            raise TypeError(f"frame must be a pandas DataFrame, got {type(self.frame).__name__}")
        object.__setattr__(self, "cutoff", as_day(self.cutoff, name="cutoff"))

    def __len__(self) -> int:
        return len(self.frame)


class FrameBuilder:
    """Builds the customer frame of one run's tables at any cut-off, each cut-off once.

    Parameters
    ----------
    transactions : pandas.DataFrame
        Validated transactions.
    engagement : pandas.DataFrame, optional
        Validated engagement events. The sentiment of their inbound texts is scored once,
        on first use, and reused at every cut-off (unless they carry a ``sentiment`` column).
    customers : pandas.DataFrame, optional
        Customers table.

    Examples
    --------
    >>> from clvml.data.datasets import load_cdnow_master
    >>> frames = FrameBuilder(load_cdnow_master())
    >>> frames.at("1997-09-30") is frames.at(pd.Timestamp("1997-09-30 12:00"))
    True
    """

    def __init__(
        self,
        transactions: pd.DataFrame,
        engagement: pd.DataFrame | None = None,
        customers: pd.DataFrame | None = None,
    ) -> None:
        self.transactions = transactions
        self.engagement = engagement
        self.customers = customers
        self._frames: dict[pd.Timestamp, CustomerFrame] = {}
        self._scored: pd.DataFrame | None = None

    def _events(self) -> pd.DataFrame | None:
        """The engagement events with every inbound text's sentiment scored once."""
        eng = self.engagement
        if eng is None or "sentiment" in eng.columns or "text" not in eng.columns:
            return eng
        if self._scored is None:
            direction = eng["direction"].astype("string").str.strip().str.lower()
            inbound = (direction == "inbound").fillna(False).to_numpy(dtype=bool)
            sentiment = np.full(len(eng), np.nan)
            if inbound.any():
                lang = eng["language"][inbound] if "language" in eng.columns else None
                sentiment[inbound] = sentiment_scores(eng["text"][inbound], lang)
            self._scored = eng.assign(sentiment=sentiment)
        return self._scored

    def at(self, cutoff: object) -> CustomerFrame:
        """The customer frame as of ``cutoff`` (inclusive day), built once per day.

        Raises
        ------
        DataValidationError
            When no customer had bought by the cut-off (not memoised).
        """
        day = as_day(cutoff, name="cutoff")
        if day not in self._frames:
            frame = dataset.customer_features(
                self.transactions, self._events(), self.customers, cutoff=day
            )
            self._frames[day] = CustomerFrame(frame=frame, cutoff=day)
        return self._frames[day]
