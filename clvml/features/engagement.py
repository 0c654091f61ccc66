"""Per-customer social-engagement and sentiment features as a scikit-learn transformer.

:class:`EngagementFeatures` turns an engagement-event log (the engagement contract of
:mod:`clvml.data.contracts`) into one row per customer, computed only from events strictly
before a cut-off date, so features for a calibration period never see the holdout. Every
statistic is computed with ``numpy.bincount`` over integer customer codes on the whole log at
once; there is no Python loop over customers. ``docs/features.md`` lists every feature.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from clvml.data.contracts import CHANNELS, KINDS
from clvml.exceptions import DataValidationError
from clvml.features.sentiment import NEGATIVE_THRESHOLD, POSITIVE_THRESHOLD, sentiment_scores

__all__ = ["CARE_REPLY_KINDS", "CARE_TRIGGER_KINDS", "HEALTH_WEIGHTS", "EngagementFeatures"]

#: Inbound kinds that ask the care team for an answer.
CARE_TRIGGER_KINDS: tuple[str, ...] = ("complaint", "direct_message", "mention")
#: Outbound kinds that count as a care-team reply.
CARE_REPLY_KINDS: tuple[str, ...] = ("reply", "direct_message", "comment")
#: Default weights of the health-score components (see :class:`EngagementFeatures`).
HEALTH_WEIGHTS: dict[str, float] = {
    "sentiment": 0.30,
    "recency": 0.20,
    "activity": 0.15,
    "care": 0.15,
    "complaints": 0.10,
    "email": 0.10,
}
_ADVOCACY_SHARE_KINDS = ("share", "retweet")  # positive unless their text is negative
_ADVOCACY_VOICE_KINDS = ("mention", "review", "comment")  # positive when their text is
_RECENCY_HALF_LIFE_DAYS = 30.0
_ACTIVITY_HALF_SATURATION = 5.0  # inbound events in the longest window for activity 0.5 (2^-1)
_NS_PER_DAY = 86_400 * 10**9
_REQUIRED = ("customer_id", "timestamp", "channel", "kind", "direction")


def _factorize(values: pd.Series, sort: bool = False) -> tuple[np.ndarray, pd.Index]:
    """``pandas.factorize`` that reuses the codes of a categorical column (no hashing)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy().astype(np.int64)
        uniques = pd.Index(values.cat.categories)
        if sort and not uniques.is_monotonic_increasing:
            order = np.argsort(uniques.to_numpy(), kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            codes = np.where(codes >= 0, rank[np.maximum(codes, 0)], -1)
            uniques = uniques[order]
        return codes, uniques
    codes, uniques = pd.factorize(values, sort=sort, use_na_sentinel=True)
    return codes, pd.Index(uniques)


def _codes(
    values: pd.Series, categories: tuple[str, ...], column: str, rows: np.ndarray
) -> np.ndarray:
    """Codes in ``categories`` (case and blanks ignored) of ``values`` at positions ``rows``.

    Factorises the whole column (cheap, and instant for categoricals) but checks only ``rows``:
    an unknown value in an event after the cut-off must not change the outcome.
    """
    raw, uniques = _factorize(values)
    names = uniques.astype("string").str.strip().str.lower()
    mapping = np.append(pd.Index(categories).get_indexer(names), -1).astype(np.int64)
    codes = mapping[raw[rows]]  # raw == -1 (missing) picks the trailing -1
    bad = codes < 0
    if bad.any():
        example = values.iloc[rows[bad]].iloc[0]
        raise DataValidationError(
            f"are missing or not one of {list(categories)}",
            column=column,
            n_rows=int(bad.sum()),
            example=None if pd.isna(example) else example,
        )
    return codes


def _group_slope(code: np.ndarray, x: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    """Least-squares slope of y on x within each group; NaN with < 2 points or no spread in x."""
    cnt = np.bincount(code, minlength=n).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):  # empty groups give NaN, masked below
        xbar = np.bincount(code, x, minlength=n) / cnt
        ybar = np.bincount(code, y, minlength=n) / cnt
    dx = x - xbar[code]
    sxx = np.bincount(code, dx * dx, minlength=n)
    sxy = np.bincount(code, dx * (y - ybar[code]), minlength=n)
    ok = (cnt >= 2) & (sxx > 1e-12 * np.maximum(1.0, np.abs(xbar) ** 2 * cnt))
    return np.where(ok, sxy / np.where(ok, sxx, 1.0), np.nan)


def _group_extreme(ufunc: np.ufunc, code: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per-group maximum or minimum (``ufunc``) of ``values``; NaN for empty groups."""
    acc = np.full(n, -np.inf if ufunc is np.maximum else np.inf)
    ufunc.at(acc, code, values)
    return np.where(np.isfinite(acc), acc, np.nan)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den == 0."""
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


class EngagementFeatures(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):  # type: ignore[call-arg]
    """Engagement, care and sentiment features per customer from an event log.

    Turns engagement events (columns ``customer_id``, ``timestamp``, ``channel``, ``kind``,
    ``direction``; optional ``text``, ``language``, ``reach``, ``resolved``, or a precomputed
    ``sentiment`` in [-1, 1]) into one row per customer, using only events with
    ``timestamp < cutoff``. Channel and kind counts describe the customer's own (inbound)
    behaviour; the brand's outbound events enter through the outbound count, the care-team
    features and the e-mail open rate. Texts are scored with
    :func:`clvml.features.sentiment.sentiment_scores` (English and Spanish, offline) unless a
    ``sentiment`` column is given.

    Parameters
    ----------
    cutoff : str or pandas.Timestamp, optional
        Only events strictly before this instant are used; recencies are measured back from it.
        Default: midnight after the last event seen by :meth:`fit`.
    windows : tuple of int, default (30, 90)
        Look-back windows in days for recent counts and sentiment; the longest also bounds the
        e-mail trend and the activity and sentiment parts of the health score.
    health_weights : dict, optional
        Weights of the health-score components, overriding :data:`HEALTH_WEIGHTS` key by key
        (keys ``sentiment``, ``recency``, ``activity``, ``care``, ``complaints``, ``email``).
    fill_value : float, optional
        Replaces the NaN of statistics undefined for a customer (e.g. the median response time
        of a customer who never asked the care team, the mean sentiment of one who never wrote).
        Default None keeps NaN, which gradient-boosted trees handle natively.

    Attributes
    ----------
    cutoff_ : pandas.Timestamp
        The cut-off in use.
    windows_ : tuple of int
        The windows, sorted.
    health_weights_ : dict
        The health-score weights in use.
    feature_names_out_ : numpy.ndarray of str
        Column names of :meth:`transform`'s output.

    Notes
    -----
    Rows: one per customer of ``customers`` (in that order) when given to :meth:`transform`,
    customers without events getting zero counts; otherwise one per customer with at least one
    event before the cut-off, sorted by ``customer_id``. Counts and rates are 0 without
    events; statistics that need events (ratios, medians, slopes, recencies, sentiment) are NaN
    (or ``fill_value``); ``health_score`` is always defined.

    Tenure is the time from the customer's first event (or ``acquisition_date``, if earlier,
    when ``customers`` is a frame that has it) to the cut-off, in weeks, at least one week.

    The **health score** in [0, 100] is a weighted mean of six components in [0, 1]:

    .. math::

        H = 100 \\, \\frac{\\sum_k w_k c_k}{\\sum_k w_k}

    * sentiment: :math:`(\\bar s + 1) / 2`, :math:`\\bar s` the mean sentiment of inbound texts
      in the longest window (all texts if none there; 0.5 without texts);
    * recency: :math:`2^{-d/30}`, *d* the days since the last inbound event (0 if none);
    * activity: :math:`1 - 2^{-n/5}`, *n* the inbound events in the longest window;
    * care: share of care replies that resolved the issue; 0.5 when the customer neither
      asked nor was answered; 0 when they asked and got no reply before the cut-off;
    * complaints: :math:`1 - \\text{complaints} / \\max(\\text{inbound}, 1)`;
    * email: the open rate capped at 1 when e-mails were sent, else
      :math:`1 - 2^{-\\text{opens per week}}`.

    Default weights (:data:`HEALTH_WEIGHTS`): sentiment 0.30, recency 0.20, activity 0.15,
    care 0.15, complaints 0.10, email 0.10.

    Examples
    --------
    >>> import pandas as pd
    >>> events = pd.DataFrame({
    ...     "customer_id": ["a", "a", "b"],
    ...     "timestamp": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-02"]),
    ...     "channel": ["twitter", "twitter", "email"],
    ...     "kind": ["complaint", "reply", "email_open"],
    ...     "direction": ["inbound", "outbound", "inbound"],
    ...     "text": ["My order never arrived", "Sorry, refund sent", None],
    ...     "resolved": [None, True, None],
    ... })
    >>> feats = EngagementFeatures(cutoff="2024-01-08").fit_transform(events)
    >>> feats.loc["a", ["kind_complaint_n", "care_response_hours_median"]].tolist()
    [1.0, 48.0]
    """

    def __init__(
        self,
        cutoff: str | pd.Timestamp | None = None,
        windows: tuple[int, ...] = (30, 90),
        health_weights: Mapping[str, float] | None = None,
        fill_value: float | None = None,
    ) -> None:
        self.cutoff = cutoff
        self.windows = windows
        self.health_weights = health_weights
        self.fill_value = fill_value

    # ------------------------------------------------------------------------------------------
    def fit(
        self, X: pd.DataFrame, y: object = None, customers: object = None
    ) -> EngagementFeatures:
        """Fix the cut-off, windows, weights and output columns.

        Parameters
        ----------
        X : pandas.DataFrame
            Engagement events.
        y : ignored
        customers : ignored
            Accepted for symmetry with :meth:`transform`.

        Returns
        -------
        EngagementFeatures
            self
        """
        ts = self._check_events(X)
        if self.cutoff is not None:
            cutoff = pd.Timestamp(self.cutoff)
            if cutoff.tzinfo is not None:
                cutoff = cutoff.tz_convert("UTC").tz_localize(None)
        elif len(ts):
            cutoff = pd.Timestamp(ts.max()).normalize() + pd.Timedelta(days=1)
        else:
            raise DataValidationError("no events to infer the cut-off from; pass cutoff=")
        windows = tuple(sorted(int(w) for w in self.windows))
        if not windows or windows[0] <= 0 or len(set(windows)) != len(windows):
            raise ValueError(f"windows must be distinct positive day counts, got {self.windows!r}")
        weights = dict(HEALTH_WEIGHTS)
        unknown = set(self.health_weights or {}) - set(weights)
        if unknown:
            raise ValueError(f"unknown health_weights keys {sorted(unknown)}; use {list(weights)}")
        weights.update({k: float(v) for k, v in (self.health_weights or {}).items()})
        if min(weights.values()) < 0 or sum(weights.values()) <= 0:
            raise ValueError("health_weights must be >= 0 with a positive sum")
        self.cutoff_ = cutoff
        self.windows_ = windows
        self.health_weights_ = weights
        self.feature_names_out_ = np.asarray(self._feature_names(windows), dtype=object)
        return self

    def set_output(self, *, transform: str | None = None) -> EngagementFeatures:
        """Accepted for ``Pipeline.set_output``; the output is always a pandas DataFrame.

        Parameters
        ----------
        transform : {"default", "pandas"} or None
            Anything else (e.g. "polars") raises ValueError.
        """
        if transform not in (None, "default", "pandas"):
            raise ValueError(
                f"EngagementFeatures returns a pandas DataFrame; transform={transform!r} "
                "is not supported"
            )
        return self

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Names of the output columns (``input_features`` is ignored)."""
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()

    @staticmethod
    def _feature_names(windows: tuple[int, ...]) -> list[str]:
        names = ["n_events", "n_inbound", "n_outbound", "tenure_weeks", "days_since_last_inbound"]
        for w in windows:
            names += [
                f"n_inbound_last_{w}d",
                f"n_complaints_last_{w}d",
                f"sentiment_mean_last_{w}d",
            ]
        for c in CHANNELS:
            names += [f"channel_{c}_n", f"channel_{c}_per_week"]
        for k in KINDS:
            names += [f"kind_{k}_n", f"kind_{k}_per_week"]
        names += [
            "care_requests",
            "care_replies",
            "care_response_hours_median",
            "care_unanswered_share",
            "care_resolution_share",
            "complaint_share",
            "complaints_turned_praise",
            "emails_sent",
            "email_open_rate",
            "email_opens_per_week",
            "email_click_rate",
            "email_open_trend",
            "site_visit_days",
            "returning_visit_rate",
            "self_help_share",
            "n_texts",
            "sentiment_mean",
            "sentiment_last",
            "sentiment_trend",
            "sentiment_negative_share",
            "advocacy_events",
            "advocacy_reach",
            "advocacy_score",
            "health_score",
        ]
        return names

    # ------------------------------------------------------------------------------------------
    @staticmethod
    def _check_events(X: Any) -> pd.Series:
        if not isinstance(X, pd.DataFrame):
            raise DataValidationError(
                f"expected the events as a pandas DataFrame, got {type(X).__name__}"
            )
        missing = [c for c in _REQUIRED if c not in X.columns]
        if missing:
            raise DataValidationError(
                f"missing from the engagement events (has {list(map(str, X.columns))})",
                column=missing[0],
            )
        ts = pd.to_datetime(X["timestamp"], errors="coerce")
        if getattr(ts.dt, "tz", None) is not None:
            ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
        bad = ts.isna().to_numpy()
        if bad.any():
            raise DataValidationError(
                "are missing or not dates",
                column="timestamp",
                n_rows=int(bad.sum()),
                example=X["timestamp"][bad].iloc[0],
            )
        ids = X["customer_id"]
        if ids.isna().any():
            raise DataValidationError(
                "are missing", column="customer_id", n_rows=int(ids.isna().sum())
            )
        return ts

    @staticmethod
    def _customer_frame(customers: object) -> tuple[pd.Index, pd.Series | None]:
        """Customer ids (and acquisition dates, if any) from an Index, array or frame."""
        acquisition = None
        if isinstance(customers, pd.DataFrame):
            ids = pd.Index(customers.get("customer_id", customers.index))
            if "acquisition_date" in customers:
                acquisition = pd.Series(
                    pd.to_datetime(customers["acquisition_date"].to_numpy(), errors="coerce"),
                    index=ids,
                )
        else:
            ids = pd.Index(customers if isinstance(customers, Iterable) else [customers])
        if ids.has_duplicates:
            dup = ids[ids.duplicated()]
            raise DataValidationError(
                "are duplicated in customers", column="customer_id", n_rows=len(dup), example=dup[0]
            )
        return ids.rename("customer_id"), acquisition

    def transform(self, X: pd.DataFrame, customers: object = None) -> pd.DataFrame:
        """Compute the features from events before :attr:`cutoff_`.

        Parameters
        ----------
        X : pandas.DataFrame
            Engagement events (see the class docstring).
        customers : array-like or pandas.DataFrame, optional
            The customers to return, in order: ids, or a customers frame (``customer_id`` column
            or index, optional ``acquisition_date`` used for tenure). Customers without events
            get zero counts; events of other customers are ignored. Default: every customer with
            an event before the cut-off, sorted.

        Returns
        -------
        pandas.DataFrame
            float64, indexed by ``customer_id``, columns :meth:`get_feature_names_out`.
        """
        check_is_fitted(self, "feature_names_out_")
        ts = self._check_events(X)
        cutoff_ns = self.cutoff_.as_unit("ns").value
        ts_ns = ts.to_numpy(dtype="datetime64[ns]").view(np.int64)
        keep = np.flatnonzero(ts_ns < cutoff_ns)
        raw, uniq = _factorize(X["customer_id"], sort=True)
        raw = raw[keep]
        acquisition = None
        if customers is None:
            present = np.bincount(raw, minlength=len(uniq)) > 0
            codes = (np.cumsum(present) - 1)[raw]
            index = uniq[present].rename("customer_id")
        else:
            index, acquisition = self._customer_frame(customers)
            codes = index.get_indexer(uniq)[raw]
            if len(raw) and len(index) and not (codes >= 0).any():
                raise DataValidationError(
                    "of the events match none of the customers given; check the id types",
                    column="customer_id",
                    n_rows=len(raw),
                    example=uniq[raw[0]],
                )
            mine = codes >= 0
            keep, codes = keep[mine], codes[mine]
        values = self._compute(
            X, keep, codes, ts_ns[keep], cutoff_ns, len(index), acquisition, index
        )
        names = list(self.feature_names_out_)
        block = np.empty((len(index), len(names)), order="F")
        for j, name in enumerate(names):
            block[:, j] = values[name]
        out = pd.DataFrame(block, index=index, columns=names, copy=False)
        if self.fill_value is not None:
            out = out.fillna(float(self.fill_value))
        return out

    def fit_transform(self, X: pd.DataFrame, y: object = None, **fit_params: Any) -> pd.DataFrame:
        """:meth:`fit` then :meth:`transform` (``customers=`` is passed to both)."""
        return self.fit(X, y, **fit_params).transform(X, customers=fit_params.get("customers"))

    # ------------------------------------------------------------------------------------------
    def _compute(
        self,
        X: pd.DataFrame,
        rows: np.ndarray,
        code: np.ndarray,
        ts_ns: np.ndarray,
        cutoff_ns: int,
        n: int,
        acquisition: pd.Series | None,
        index: pd.Index,
    ) -> dict[str, np.ndarray]:
        f: dict[str, np.ndarray] = {}

        def count(mask: np.ndarray | None = None, weights: np.ndarray | None = None) -> np.ndarray:
            c = code if mask is None else code[mask]
            w = weights if mask is None or weights is None else weights[mask]
            return np.bincount(c, weights=w, minlength=n).astype(float)

        chan = _codes(X["channel"], CHANNELS, "channel", rows)
        kind = _codes(X["kind"], KINDS, "kind", rows)
        direction = _codes(X["direction"], ("inbound", "outbound"), "direction", rows)
        inbound = direction == 0
        outbound = ~inbound
        age = (cutoff_ns - ts_ns) / _NS_PER_DAY  # days before the cut-off, > 0
        K = {k: i for i, k in enumerate(KINDS)}

        # --- sentiment of inbound texts ---------------------------------------------------
        sent = np.full(len(rows), np.nan)
        if "sentiment" in X:
            values = pd.to_numeric(X["sentiment"], errors="coerce").to_numpy(float, na_value=np.nan)
            sent[inbound] = values[rows[inbound]]
        elif "text" in X:
            lang = X["language"].iloc[rows[inbound]] if "language" in X else None
            sent[inbound] = sentiment_scores(X["text"].iloc[rows[inbound]], lang)
        has_text = inbound & ~np.isnan(sent)
        sent0 = np.where(has_text, sent, 0.0)

        def is_kind(*names: str) -> np.ndarray:
            table = np.zeros(len(KINDS), dtype=bool)
            table[[K[k] for k in names]] = True
            return table[kind]

        # --- totals, tenure, recency --------------------------------------------------------
        f["n_events"] = count()
        f["n_inbound"] = count(inbound)
        f["n_outbound"] = count(outbound)
        oldest = _group_extreme(np.maximum, code, age, n)
        if acquisition is not None:
            acq = acquisition.reindex(index).to_numpy(dtype="datetime64[ns]").view(np.int64)
            acq_age = np.where(
                acq == np.iinfo(np.int64).min, np.nan, (cutoff_ns - acq) / _NS_PER_DAY
            )
            oldest = np.fmax(oldest, np.where(acq_age > 0, acq_age, np.nan))
        tenure_days = oldest
        weeks = np.maximum(tenure_days / 7.0, 1.0)
        f["tenure_weeks"] = weeks

        weeks_or_1 = np.where(np.isnan(weeks), 1.0, weeks)  # counts are 0 where tenure is NaN

        def per_week(x: np.ndarray) -> np.ndarray:
            return x / (weeks_or_1 if x.ndim == 1 else weeks_or_1[:, None])

        f["days_since_last_inbound"] = _group_extreme(np.minimum, code[inbound], age[inbound], n)

        complaint = inbound & (kind == K["complaint"])
        for w in self.windows_:
            recent = age <= w
            f[f"n_inbound_last_{w}d"] = count(inbound & recent)
            f[f"n_complaints_last_{w}d"] = count(complaint & recent)
            m = has_text & recent
            f[f"sentiment_mean_last_{w}d"] = _ratio(count(m, sent0), count(m))

        # --- channels and kinds (inbound) ----------------------------------------------------
        ci = code[inbound]
        for prefix, names, cat in (("channel", CHANNELS, chan), ("kind", KINDS, kind)):
            by_cat = np.bincount(ci * len(names) + cat[inbound], minlength=n * len(names))
            by_cat = by_cat.reshape(n, len(names)).astype(float)
            cat_rate = per_week(by_cat)
            for j, c in enumerate(names):
                f[f"{prefix}_{c}_n"] = by_cat[:, j]
                f[f"{prefix}_{c}_per_week"] = cat_rate[:, j]

        # --- care team: response time, unanswered, resolution ------------------------------
        trigger = inbound & is_kind(*CARE_TRIGGER_KINDS)
        reply = outbound & is_kind(*CARE_REPLY_KINDS)
        # requests and replies by customer, time, inbound before outbound at equal times
        sub = np.flatnonzero(trigger | reply)
        order = sub[np.lexsort((direction[sub], ts_ns[sub], code[sub]))]
        s_code, s_ts, s_reply = code[order], ts_ns[order], reply[order]
        pos = np.where(s_reply, np.arange(len(order)), len(order))
        next_reply = np.minimum.accumulate(pos[::-1])[::-1]  # first reply at or after each row
        s_trig = trigger[order]
        has_next = next_reply < len(order)
        nr = np.where(has_next, next_reply, 0)
        answered = s_trig & has_next & (s_code[nr] == s_code)
        hours = (s_ts[nr] - s_ts) / 3.6e12
        f["care_requests"] = count(trigger)
        f["care_replies"] = count(reply)
        med = pd.Series(hours[answered]).groupby(s_code[answered]).median()
        f["care_response_hours_median"] = med.reindex(range(n)).to_numpy()
        f["care_unanswered_share"] = _ratio(
            f["care_requests"] - np.bincount(s_code[answered], minlength=n), f["care_requests"]
        )
        if "resolved" in X:
            resolved = X["resolved"].iloc[rows].astype("boolean").fillna(False).to_numpy(bool)
            f["care_resolution_share"] = _ratio(count(reply & resolved), f["care_replies"])
        else:
            f["care_resolution_share"] = np.full(n, np.nan)

        # --- complaints and complaints turned into praise ------------------------------------
        f["complaint_share"] = _ratio(count(complaint), f["n_inbound"])
        praise = has_text & (sent >= POSITIVE_THRESHOLD) & (kind != K["complaint"])
        last_praise = _group_extreme(np.minimum, code[praise], age[praise], n)  # NaN: never
        with np.errstate(invalid="ignore"):
            turned = complaint & (age > last_praise[code])
        f["complaints_turned_praise"] = count(turned)

        # --- e-mail ----------------------------------------------------------------------
        email_chan = chan == CHANNELS.index("email")
        opens = inbound & (kind == K["email_open"])
        sent_mail = outbound & email_chan & ~is_kind("email_open", "email_click")
        f["emails_sent"] = count(sent_mail)
        n_open = count(opens)
        f["email_open_rate"] = _ratio(n_open, f["emails_sent"])
        f["email_opens_per_week"] = per_week(n_open)
        f["email_click_rate"] = _ratio(count(inbound & (kind == K["email_click"])), n_open)
        # slope of weekly opens over the last weeks of tenure within the longest window
        horizon = float(self.windows_[-1])
        n_weeks = np.ceil(np.fmin(tenure_days, horizon) / 7.0)
        week_back = np.ceil(age / 7.0) - 1.0  # week k covers ages (7k, 7k + 7] days
        in_trend = opens & (week_back < n_weeks[code])
        w_fwd = n_weeks[code] - 1 - week_back  # 0 = oldest week in the trend window
        s_wy = count(in_trend, w_fwd)
        n_y = count(in_trend)
        with np.errstate(invalid="ignore", divide="ignore"):
            sxx = n_weeks * (n_weeks**2 - 1) / 12.0
            slope = (s_wy - (n_weeks - 1) / 2.0 * n_y) / sxx
        f["email_open_trend"] = np.where(n_weeks >= 2, slope, np.nan)

        # --- site visits and self-help ---------------------------------------------------
        visit = inbound & (kind == K["site_visit"])
        v_day = np.floor(age[visit]).astype(np.int64)  # day k covers ages [k, k + 1)
        span = int(v_day.max()) + 1 if len(v_day) else 1
        distinct = np.unique(code[visit] * span + v_day)
        days = np.bincount(distinct // span, minlength=n).astype(float)
        visits = f["kind_site_visit_n"]
        f["site_visit_days"] = days
        f["returning_visit_rate"] = _ratio(days - 1.0, visits - 1.0)
        f["self_help_share"] = _ratio(
            f["kind_self_help_view_n"], f["kind_self_help_view_n"] + f["care_requests"]
        )

        # --- sentiment aggregates --------------------------------------------------------
        n_text = count(has_text)
        f["n_texts"] = n_text
        f["sentiment_mean"] = _ratio(count(has_text, sent0), n_text)
        newest = _group_extreme(np.minimum, code[has_text], age[has_text], n)
        with np.errstate(invalid="ignore"):
            at_newest = np.flatnonzero(has_text & (age == newest[code]))
        sentiment_last = np.full(n, np.nan)
        sentiment_last[code[at_newest]] = sent[at_newest]  # ties: the last row in input order
        f["sentiment_last"] = sentiment_last
        f["sentiment_trend"] = _group_slope(code[has_text], -age[has_text] / 7.0, sent[has_text], n)
        f["sentiment_negative_share"] = _ratio(
            count(has_text & (sent <= NEGATIVE_THRESHOLD)), n_text
        )

        # --- advocacy ------------------------------------------------------------------
        share = inbound & is_kind(*_ADVOCACY_SHARE_KINDS)
        with np.errstate(invalid="ignore"):
            share &= ~(sent <= NEGATIVE_THRESHOLD)  # NaN (no text) counts as an endorsement
            voice = has_text & is_kind(*_ADVOCACY_VOICE_KINDS)
            voice &= sent >= POSITIVE_THRESHOLD
        advocacy = share | voice
        if "reach" in X:
            reach = pd.to_numeric(X["reach"], errors="coerce").to_numpy(float, na_value=np.nan)
            reach = reach[rows]
            reach = np.where(np.isfinite(reach) & (reach > 0), reach, 0.0)
        else:
            reach = np.zeros(len(rows))
        f["advocacy_events"] = count(advocacy)
        f["advocacy_reach"] = count(advocacy, reach)
        f["advocacy_score"] = count(advocacy, 1.0 + np.log1p(reach))

        f["health_score"] = self._health(f)
        return f

    def _health(self, f: dict[str, np.ndarray]) -> np.ndarray:
        """The documented health score in [0, 100] (see the class docstring)."""
        longest = self.windows_[-1]
        s_recent = f[f"sentiment_mean_last_{longest}d"]
        s = np.where(np.isnan(s_recent), f["sentiment_mean"], s_recent)
        comp = {
            "sentiment": np.where(np.isnan(s), 0.5, (s + 1.0) / 2.0),
            "recency": np.where(
                np.isnan(f["days_since_last_inbound"]),
                0.0,
                np.exp2(-f["days_since_last_inbound"] / _RECENCY_HALF_LIFE_DAYS),
            ),
            "activity": 1.0 - np.exp2(-f[f"n_inbound_last_{longest}d"] / _ACTIVITY_HALF_SATURATION),
            "care": np.where(
                f["care_replies"] > 0,
                np.nan_to_num(f["care_resolution_share"], nan=0.0),
                np.where(f["care_requests"] > 0, 0.0, 0.5),
            ),
            "complaints": 1.0 - f["kind_complaint_n"] / np.maximum(f["n_inbound"], 1.0),
            "email": np.where(
                f["emails_sent"] > 0,
                np.minimum(np.nan_to_num(f["email_open_rate"], nan=0.0), 1.0),
                1.0 - np.exp2(-f["email_opens_per_week"]),
            ),
        }
        w = self.health_weights_
        total = sum(w.values())
        return 100.0 * sum(w[k] * np.clip(comp[k], 0.0, 1.0) for k in w) / total
