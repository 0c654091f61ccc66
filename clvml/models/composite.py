r"""Per-customer CLV, many ways: one estimator that fits and predicts every method side by side.

:class:`CLVModel` predicts each customer's value over a horizon of ``horizon_weeks``
(times ``margin``, optionally discounted) with up to six methods:

``closed_form``
    The marketing formula :math:`m\,\bar v f \sum_{t=1}^{K} q^t`, :math:`q = r_i/(1+d)`,
    per customer (:func:`clvml.models.closed_form.clv_formula` with the first period
    excluded, as the customer must be retained into it): :math:`\bar v` the customer's
    mean spend per purchase, :math:`f` their purchases per period of observed tenure
    (``n_purchases / (T / period + 1)``, the acquisition period included),
    :math:`K = H / \text{period}` periods of ``closed_form_period_weeks`` (a month by
    default) and the per-period retention from the churn classifier,
    :math:`r_i = (1 - \hat P(\text{churn in } H))^{\text{period} / H}`.
``btyd``
    BG/NBD + Gamma-Gamma (:func:`clvml.models.btyd.customer_lifetime_value`).
``btyd_covariates``
    BG/NBD and Gamma-Gamma whose parameters depend on engagement and sentiment
    covariates (:data:`DEFAULT_COVARIATES`); needs the engagement features.
``hybrid``
    BG/NBD's expected purchases with the alive probability implied by the churn
    classifier (:mod:`clvml.models.hybrid`: a probability combination, exact BG/NBD when
    the classifier agrees with it), times Gamma-Gamma spend.
``ml``
    Gradient-boosted trees with the Poisson deviance fitted directly to the value in
    the window, zeros included (:class:`PoissonValueRegressor`), with the BG/NBD
    outputs (expected purchases, P(alive), P(purchase), expected spend, CLV) stacked as
    extra features; they are computed from data before each frame's cut-off, so the
    stacking is leakage-free. The log link keeps predictions positive and the
    Poisson score equations keep the predicted total equal to the realised one on the
    training window. The number of boosting iterations is chosen by an inner
    cross-validation on the labelled customers only (``ml_cv``).
``ml_two_part`` (on request)
    The two-part (ZILN-style) alternative, P(value > 0) x E[value | value > 0]
    (:class:`clvml.models.value_regressor.TwoPartValueRegressor`), same features.
``blend`` (on request)
    The equal-weight geometric mean of ``ml`` and ``closed_form``, rescaled to the
    level of ``ml``:

    .. math::

        \hat V^{\text{blend}}_i = k \sqrt{\hat V^{\text{ml}}_i \, \hat V^{\text{cf}}_i},
        \qquad k = \frac{\sum_{j \in L} \hat V^{\text{ml}}_j}
                         {\sum_{j \in L} \sqrt{\hat V^{\text{ml}}_j \hat V^{\text{cf}}_j}},

    :math:`L` the customers of the frame at the cut-off passed to ``fit`` (their
    features only, no label). Its ranking comes from both models
    (log-linear pooling of two multiplicative forecasts that err differently: the
    trees on the stacked BTYD outputs, the formula on the customer's own spend
    rate and the classifier's retention); its level from ``ml``, whose total is
    calibrated (the closed form's is not: it ignores the decay of purchasing among
    the retained). The weight 1/2 is fixed, not tuned. ``k`` is a single number fixed
    in ``fit``, so a customer's prediction does not depend on who else is scored.

The BTYD parts are unsupervised and fit on the customer frame at the cut-off. The
supervised parts (churn classifier, value regressor) need ``labelled_features`` and
``labels`` (``revenue``, ``churned`` in a window of the same length ``horizon_weeks``),
from an earlier window of the same customers or from other customers; they are never
fitted on the holdout of the customers they are judged on. A method whose inputs are
missing is skipped and listed in ``skipped_methods_`` with the reason.

Discounting convention
----------------------
``annual_discount_rate`` :math:`d` is converted to a rate per step of (about) one week,
:math:`(1 + d)^{\Delta/52} - 1`, and the expected purchases of each week of the horizon
are discounted to the cut-off at the end of their week (BTYD and hybrid, exactly);
the ML forecast, which is a total over the window, is multiplied by the mean
continuous discount factor :math:`(1 - e^{-\rho H}) / (\rho H)`,
:math:`\rho = \log(1 + d) / 52` (value spread evenly over the window); the closed form
discounts per period. The default ``d = 0`` (no discounting) is what the comparison on
realised revenue uses.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import xlogy
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.utils.validation import check_is_fitted

from clvml.exceptions import ClvmlError, DataValidationError
from clvml.models.btyd import BetaGeo, GammaGamma, customer_lifetime_value
from clvml.models.closed_form import expected_lifetime
from clvml.models.engagement_value import (
    ENGAGEMENT_VALUE_COLUMNS,
    engagement_value,
    mean_discount_factor,
)
from clvml.models.hybrid import bgnbd_probability_purchase_if_alive, hybrid_probability_alive
from clvml.models.value_regressor import TwoPartValueRegressor
from clvml.segments.matrix import DEFAULT_CELLS, DEFAULT_RISK_THRESHOLDS, DEFAULT_VALUE_CUTS, LEVELS
from clvml.segments.tiers import DEFAULT_TIER_CUTS, DEFAULT_TIER_LABELS

__all__ = [
    "DEFAULT_COVARIATES",
    "DEFAULT_METHODS",
    "METHODS",
    "RFM_INPUTS",
    "STACKED_FEATURES",
    "SUPERVISED_METHODS",
    "VALUE_MONOTONICITY",
    "CLVModel",
    "PoissonValueRegressor",
    "fit_clv_model",
]

#: Every method, in the order of the output columns.
METHODS: tuple[str, ...] = (
    "closed_form",
    "btyd",
    "btyd_covariates",
    "hybrid",
    "ml",
    "ml_two_part",
    "blend",
)
#: Methods fitted by default (``ml_two_part`` is the alternative ML model, on request).
DEFAULT_METHODS: tuple[str, ...] = METHODS[:5]
#: Methods that need labelled training data.
SUPERVISED_METHODS: frozenset[str] = frozenset(
    {"closed_form", "hybrid", "ml", "ml_two_part", "blend"}
)
#: Columns every method needs.
RFM_INPUTS: tuple[str, ...] = (
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "n_purchases",
    "mean_spend",
    "total_spend",
)
#: BG/NBD + Gamma-Gamma outputs stacked into the supervised models' features.
STACKED_FEATURES: tuple[str, ...] = (
    "btyd_expected_purchases",
    "btyd_p_alive",
    "btyd_p_purchase",
    "btyd_expected_spend",
    "btyd_clv",
)
#: Covariates of the BTYD-with-covariates models: source column of the customer frame,
#: transform, and the parameters it is linked to (BG/NBD: alpha = purchase rate; a, b =
#: dropout; Gamma-Gamma: v = spend scale). Missing values (no events, no texts) are 0.
DEFAULT_COVARIATES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "cov_advocacy": ("advocacy_score", "log1p", ("alpha",)),
    "cov_engagement": ("n_inbound", "log1p_per_week", ("alpha", "a", "b")),
    "cov_sentiment": ("sentiment_mean", "identity", ("a", "b")),
    "cov_complaints": ("kind_complaint_n", "log1p", ("a", "b")),
    "cov_care_resolved": ("care_resolution_share", "identity", ("a", "b")),
}
_SPEND_LINKS = frozenset({"v"})


def _weeks_since_first(features: pd.DataFrame) -> np.ndarray:
    return features["T"].to_numpy(dtype=float)


def _covariate_frame(
    features: pd.DataFrame, spec: Mapping[str, tuple[str, str, Sequence[str]]]
) -> pd.DataFrame:
    """RFM columns plus the transformed covariates of ``spec`` (NaN -> 0)."""
    out = features[["frequency", "recency", "T", "monetary_value"]].copy()
    for name, (source, transform, _) in spec.items():
        raw = pd.to_numeric(features[source], errors="coerce").to_numpy(dtype=float)
        raw = np.where(np.isfinite(raw), raw, 0.0)
        if transform == "log1p":
            value = np.log1p(np.maximum(raw, 0.0))
        elif transform == "log1p_per_week":
            weeks = (
                features["tenure_weeks"].to_numpy(dtype=float)
                if "tenure_weeks" in features
                else _weeks_since_first(features)
            )
            weeks = np.where(np.isfinite(weeks), np.maximum(weeks, 1.0), 1.0)
            value = np.log1p(np.maximum(raw, 0.0) / weeks)
        elif transform == "identity":
            value = raw
        else:
            raise ValueError(f"unknown covariate transform {transform!r} for {name}")
        out[name] = value
    return out


def _spend_frame(features: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The summary Gamma-Gamma is fitted on, and the mask of $0-spend repeat buyers.

    Customers whose repeat purchases were all $0 have no positive spend to fit; they are
    fitted as if they had no repeat purchase (frequency 0) and predicted with the
    population mean spend, which is exact under Gamma-Gamma:
    :math:`E[Z \\mid x, \\bar z = pv/(q-1)] = pv/(q-1)`.
    """
    zero = ((features["frequency"] > 0) & ~(features["monetary_value"] > 0)).to_numpy()
    if not zero.any():
        return features, zero
    freq = features["frequency"].where(~zero, 0.0)
    return features.assign(frequency=freq, recency=features["recency"].where(~zero, 0.0)), zero


#: Youngest age (weeks) the BTYD models see: one day.
MIN_AGE_WEEKS = 1 / 7


def _age_floor(features: pd.DataFrame) -> pd.DataFrame:
    """Customers first seen on the cut-off day (``T = 0``) are treated as one day old.

    The BTYD likelihoods need ``T > 0``; a customer with ``T = 0`` carries no
    information about the rates anyway (likelihood 1), and a day of age changes their
    prediction by a day's worth of purchasing.
    """
    T = features["T"].to_numpy(dtype=float)
    young = T < MIN_AGE_WEEKS
    if not young.any():
        return features
    return features.assign(T=np.where(young, MIN_AGE_WEEKS, T))


def _same_cutoff(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether two customer frames were built at the same cut-off."""
    ca, cb = a.attrs.get("cutoff"), b.attrs.get("cutoff")
    if ca is not None and cb is not None:
        return bool(ca == cb)
    common = a.index.intersection(b.index)
    if len(common) == 0:
        return False
    return bool(np.allclose(a.loc[common, "T"].to_numpy(float), b.loc[common, "T"].to_numpy(float)))


def _spend_summary(frame: pd.DataFrame, spend_model: Any) -> pd.DataFrame:
    """``frame`` with the $0 repeat buyers' mean spend set to their population mean.

    Under Gamma-Gamma :math:`E[Z \\mid x, \\bar z] = \\frac{q-1}{px+q-1}\\mu
    + \\frac{px}{px+q-1}\\bar z` with :math:`\\mu = pv/(q-1)` (``p v_i / (q - 1)`` with
    covariates), so :math:`\\bar z = \\mu` gives exactly :math:`\\mu` whatever :math:`x`:
    these customers are predicted as if they had no spend history, while the
    transaction model still reads their real purchase history.
    """
    _, zero = _spend_frame(frame)
    if not zero.any():
        return frame
    rows = frame.loc[zero].assign(frequency=0.0, recency=0.0, monetary_value=0.0)
    mu = np.asarray(spend_model.expected_average_spend(rows), dtype=float)
    m = frame["monetary_value"].to_numpy(dtype=float).copy()
    m[zero] = mu
    return frame.assign(monetary_value=m)


def _all_nan_numeric(col: pd.Series) -> bool:
    if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        return False
    return not np.isfinite(pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)).any()


#: Monotone shape of the value in some features (+1 never decreasing, -1 never increasing):
#: more purchases, more spend and a higher BTYD forecast never lower a customer's value;
#: a longer time since the last purchase never raises it.
VALUE_MONOTONICITY: dict[str, int] = {
    "frequency": 1,
    "n_purchases": 1,
    "total_spend": 1,
    "recency": 1,
    "weeks_since_last_purchase": -1,
    "btyd_expected_purchases": 1,
    "btyd_p_alive": 1,
    "btyd_p_purchase": 1,
    "btyd_clv": 1,
}


class PoissonValueRegressor(RegressorMixin, BaseEstimator):
    """Gradient-boosted trees with the Poisson deviance on a non-negative value (zeros included).

    ``E[V | z] = exp(f(z))`` with ``f`` a sum of trees fitted to the Poisson deviance.
    The deviance is proper for any non-negative target (not only counts), its score
    equations with an intercept preserve the total of the training window, and one
    model ranks buyers and non-buyers together. String columns are categorical
    features (native categorical splits; unseen levels are missing values).

    Parameters
    ----------
    max_iter : int, default 600
        Boosting iterations.
    learning_rate : float, default 0.02
    max_leaf_nodes : int, default 7
    min_samples_leaf : int, default 100
        Shallow trees with large leaves and slow learning: heavy-tailed values make
        small leaves overfit.
    l2_regularization : float, default 1.0
    monotonic : mapping of str to int, optional
        Monotone constraints by column (+1, -1), default :data:`VALUE_MONOTONICITY`
        without an offset and none with one, since the correction of a baseline that
        already grows with those features need not (columns absent from ``X`` are
        ignored; pass ``{}`` for none). Shape constraints from domain knowledge
        regularise the trees where the heavy-tailed values are noisy.
    offset_column : str, optional
        A column of ``X`` holding a baseline prediction :math:`b(z) > 0` of the value
        (e.g. ``"btyd_clv"``); the trees then learn a multiplicative correction,
        :math:`E[V \\mid z] = b(z)\\,e^{f(z)}`, fitted as a Poisson model of
        :math:`V / b` with weights :math:`b` (the same deviance as a log-link offset).
        Where the training customers do not cover the customers scored (e.g. older
        customers than any in an earlier training window), the correction stays
        bounded while the baseline carries the extrapolation.
    cv : int, optional
        When given (>= 2), the number of boosting iterations is chosen by ``cv``-fold
        cross-validation *on the training rows passed to* ``fit``: for every
        candidate (multiples of ``max_iter / 24`` up to ``max_iter``), the mean Poisson
        deviance of the held-out inner folds (staged predictions of one fit per fold);
        the model is then refitted on all training rows with the best number
        (``n_iter_``). Nothing outside ``X`` and ``y`` is read, so with customer
        cross-fitting the evaluated fold never informs the choice. ``None`` (default)
        uses ``max_iter``.
    random_state : int, default 0

    Attributes
    ----------
    features_ : list of str
        Columns used: those of ``X`` with at least one finite value in ``fit``.
    categories_ : dict
        Levels of the string columns seen in ``fit``.
    regressor_ : HistGradientBoostingRegressor
    n_iter_ : int
        Boosting iterations of ``regressor_``.
    cv_deviance_ : pandas.Series or None
        Mean inner-fold Poisson deviance per candidate number of iterations (with ``cv``).
    """

    def __init__(
        self,
        max_iter: int = 600,
        learning_rate: float = 0.02,
        max_leaf_nodes: int = 7,
        min_samples_leaf: int = 100,
        l2_regularization: float = 1.0,
        monotonic: Mapping[str, int] | None = None,
        offset_column: str | None = None,
        cv: int | None = None,
        random_state: int = 0,
    ) -> None:
        self.monotonic = monotonic
        self.offset_column = offset_column
        self.cv = cv
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.features_ if c not in X.columns]
        if missing:
            raise DataValidationError("is missing from X", column=missing[0], n_rows=len(X))
        out = np.empty((len(X), len(self.features_)))
        for j, c in enumerate(self.features_):
            if c in self.categories_:
                codes = pd.Categorical(X[c].astype(str), categories=self.categories_[c]).codes
                out[:, j] = np.where(codes >= 0, codes, np.nan)
            else:
                out[:, j] = pd.to_numeric(X[c], errors="coerce").to_numpy(dtype=float)
        return out

    def fit(self, X: pd.DataFrame, y: Any) -> PoissonValueRegressor:
        """Fit on customer features ``X`` and the value ``y`` (>= 0) in the window."""
        if not isinstance(X, pd.DataFrame):
            raise DataValidationError(f"expected a pandas DataFrame, got {type(X).__name__}")
        target = np.asarray(y, dtype=float).ravel()
        bad = ~np.isfinite(target) | (target < 0)
        if target.shape != (len(X),) or bad.any():
            raise DataValidationError(
                "must hold one finite value >= 0 per row of X",
                column="y",
                n_rows=int(bad.sum()) if target.shape == (len(X),) else len(X),
            )
        if not (target > 0).any():
            raise DataValidationError("is 0 for every customer: nothing to learn", column="y")
        # a column without any value carries nothing (and the binning cannot cut it)
        self.features_ = [
            str(c) for c in X.columns if X[c].notna().any() and not _all_nan_numeric(X[c])
        ]
        self.categories_ = {
            c: sorted(X[c].astype(str).unique().tolist())
            for c in self.features_
            if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))
        }
        mask = np.array([c in self.categories_ for c in self.features_])
        default = {} if self.offset_column is not None else VALUE_MONOTONICITY
        shape = default if self.monotonic is None else self.monotonic
        base = self._offset(X)
        Z = self._matrix(X)
        # with an offset b: a Poisson model of V / b with weights b (same deviance)
        z_target = target if base is None else target / base
        weight = None if base is None else base

        monotone = np.array(
            [0 if c in self.categories_ else int(shape.get(c, 0)) for c in self.features_]
        )

        def regressor(n_iter: int, keep: np.ndarray | None = None) -> HistGradientBoostingRegressor:
            """The booster on the columns ``keep`` (default all)."""
            cols = np.ones(len(self.features_), dtype=bool) if keep is None else keep
            return HistGradientBoostingRegressor(
                loss="poisson",
                max_iter=n_iter,
                learning_rate=self.learning_rate,
                max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=self.min_samples_leaf,
                l2_regularization=self.l2_regularization,
                categorical_features=mask[cols] if mask[cols].any() else None,
                monotonic_cst=monotone[cols].tolist(),
                early_stopping=False,
                random_state=self.random_state,
            )

        n_iter = int(self.max_iter)
        self.cv_deviance_: pd.Series | None = None
        if self.cv is not None:
            self.cv_deviance_ = self._inner_cv(regressor, Z, z_target, weight)
            n_iter = int(self.cv_deviance_.idxmin())
        self.regressor_ = regressor(n_iter).fit(Z, z_target, sample_weight=weight)
        self.n_iter_ = n_iter
        return self

    def _inner_cv(
        self,
        regressor: Any,
        Z: np.ndarray,
        target: np.ndarray,
        weight: np.ndarray | None,
    ) -> pd.Series:
        """Mean held-out Poisson deviance per candidate number of iterations."""
        k = int(self.cv)  # type: ignore[arg-type]
        if k < 2 or k > len(Z):
            raise ValueError(f"cv must be between 2 and the number of rows, got {self.cv!r}")
        n_max = int(self.max_iter)
        step = max(1, round(n_max / 24))
        grid = np.unique(np.append(np.arange(step, n_max + 1, step), n_max))
        fold = np.random.default_rng(self.random_state).permutation(len(Z)) % k
        w = np.ones(len(Z)) if weight is None else weight
        dev = np.zeros(n_max)
        for j in range(k):
            test = fold == j
            # a column without any value in this inner training part is left out of it
            keep = ~np.isnan(Z[~test]).all(axis=0)
            model = regressor(n_max, keep).fit(
                Z[~test][:, keep],
                target[~test],
                sample_weight=None if weight is None else w[~test],
            )
            y, wt = target[test], w[test]
            for i, mu in enumerate(model.staged_predict(Z[test][:, keep])):
                # weighted Poisson deviance 2 w (y log(y / mu) - y + mu), mu > 0
                dev[i] += 2.0 * float(np.sum(wt * (xlogy(y, y) - xlogy(y, mu) - y + mu))) / k
        return pd.Series(dev[grid - 1], index=pd.Index(grid, name="n_iter"), name="deviance")

    def _offset(self, X: pd.DataFrame) -> np.ndarray | None:
        if self.offset_column is None:
            return None
        if self.offset_column not in X.columns:
            raise DataValidationError("is missing from X", column=self.offset_column)
        base = pd.to_numeric(X[self.offset_column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(base) | (base < 0)
        if bad.any():
            raise DataValidationError(
                "must be a finite baseline >= 0", column=self.offset_column, n_rows=int(bad.sum())
            )
        return np.maximum(base, 1e-9)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Expected value in the window."""
        check_is_fitted(self, "regressor_")
        pred = self.regressor_.predict(self._matrix(X))
        base = self._offset(X)
        return pred if base is None else base * pred


class CLVModel(BaseEstimator):
    """Every CLV method of clvml in one scikit-learn estimator (see the module notes).

    Parameters
    ----------
    horizon_weeks : float, default 52
        Horizon of the prediction, in weeks; the supervised parts must be trained on
        labels over a window of this length.
    margin : float, default 1.0
        Margin applied to revenue (1 = revenue).
    annual_discount_rate : float, default 0.0
        Yearly discount rate (see the module notes).
    methods : sequence of str, default :data:`DEFAULT_METHODS`
        Methods to fit (any of :data:`METHODS`).
    champion : str, default "btyd"
        Method whose prediction is the ``clv`` column; when it could not be fitted,
        the first fitted method of ``("btyd", "hybrid", "ml", "btyd_covariates",
        "closed_form")`` takes over (``champion_`` says which).
    random_state : int, default 0
        Seed of the supervised models and of the bootstrap.
    penalizer : float, default 0.0
        L2 penalty of the BTYD models.
    covariate_penalizer : float, default 0.01
        L2 penalty of the BTYD-with-covariates models.
    covariates : mapping, optional
        Replaces :data:`DEFAULT_COVARIATES` (name -> (source column, transform,
        linked parameters)).
    stack_btyd : bool, default True
        Add :data:`STACKED_FEATURES` to the features of the supervised models.
    ml_offset : bool or "auto", default "auto"
        With ``stack_btyd``, whether the ``ml`` regressor learns a multiplicative
        correction of the BG/NBD + Gamma-Gamma CLV (``offset_column="btyd_clv"`` of
        :class:`PoissonValueRegressor`) instead of the value itself. ``"auto"`` uses the
        offset when the customers of ``features`` are older than every labelled
        customer (an earlier training window of a growing customer base: trees cannot
        extrapolate in age, the BTYD baseline can) and the direct, monotone model
        otherwise (training customers like the scored ones, e.g. other customers at
        the same cut-off). ``ml_offset_`` records the choice.
    ml_cv : int or None, default 3
        Inner cross-validation folds (on the labelled customers only) choosing the
        number of boosting iterations of the ``ml`` regressor, up to ``2 * max_iter``
        (:class:`PoissonValueRegressor` ``cv``); ``None`` uses ``2 * max_iter``.
    max_iter : int, default 300
        Boosting iterations of the churn classifier and of the two-part model;
        ``2 * max_iter`` is the most the ``ml`` regressor uses.
    interval : float or None, default 0.95
        Coverage of the parametric-bootstrap interval of the champion's CLV (BTYD
        champions, and hybrid with the classifier held fixed); NaN for the
        supervised champions ``ml`` and ``closed_form``. ``None`` skips it.
    n_draws : int, default 200
        Bootstrap draws.
    closed_form_period_weeks : float, default 52 / 12
        Period of the closed-form formula (a month).
    value_per_advocacy_point : float, default 1.0
        Money per advocacy point of the engagement value.

    Attributes
    ----------
    methods_ : list of str
        Methods fitted.
    skipped_methods_ : dict
        Method -> reason it was not fitted.
    champion_ : str
    feature_columns_ : list of str
        Columns ``predict`` needs.
    btyd_params_ : dict
        BG/NBD (``r, alpha, a, b``) and Gamma-Gamma (``p, q, v``) parameters.
    covariate_params_ : dict
        Parameters of the covariate models (empty when not fitted).
    bgnbd_, gamma_gamma_, bgnbd_covariates_, gamma_gamma_covariates_ :
        The fitted BTYD models (or None).
    churn_classifier_, value_regressor_, two_part_regressor_ :
        The fitted supervised models (or None): the churn classifier
        (:func:`clvml.models.churn.make_churn_classifier`), the ``ml`` and the
        ``ml_two_part`` regressors.
    tier_thresholds_ : ndarray
        CLV values opening the tiers ``top 1%``, ``top 10%``, ``next 40%`` (from the
        fitted customers' predictions), so that scoring in chunks gives the same tiers.
    value_level_thresholds_ : ndarray
        CLV values opening the ``high`` and ``medium`` value levels of the segment.
    blend_scale_ : float
        The factor :math:`k` of ``blend`` (NaN when not fitted).
    n_customers_, n_labelled_ : int

    Examples
    --------
    >>> import pandas as pd
    >>> from clvml.data.datasets import load_cdnow_master
    >>> from clvml.features.dataset import customer_features
    >>> X = customer_features(load_cdnow_master(), cutoff="1997-09-30")
    >>> model = CLVModel(horizon_weeks=39, methods=("btyd",), interval=None).fit(X)
    >>> out = model.predict(X)
    >>> round(float(out["clv"].sum()), -3)
    642000.0
    """

    def __init__(
        self,
        horizon_weeks: float = 52,
        margin: float = 1.0,
        annual_discount_rate: float = 0.0,
        methods: Sequence[str] = DEFAULT_METHODS,
        champion: str = "btyd",
        random_state: int = 0,
        penalizer: float = 0.0,
        covariate_penalizer: float = 0.01,
        covariates: Mapping[str, tuple[str, str, Sequence[str]]] | None = None,
        stack_btyd: bool = True,
        ml_offset: bool | Literal["auto"] = "auto",
        ml_cv: int | None = 3,
        max_iter: int = 300,
        interval: float | None = 0.95,
        n_draws: int = 200,
        closed_form_period_weeks: float = 52 / 12,
        value_per_advocacy_point: float = 1.0,
    ) -> None:
        self.horizon_weeks = horizon_weeks
        self.margin = margin
        self.annual_discount_rate = annual_discount_rate
        self.methods = methods
        self.champion = champion
        self.random_state = random_state
        self.penalizer = penalizer
        self.covariate_penalizer = covariate_penalizer
        self.covariates = covariates
        self.stack_btyd = stack_btyd
        self.ml_offset = ml_offset
        self.ml_cv = ml_cv
        self.max_iter = max_iter
        self.interval = interval
        self.n_draws = n_draws
        self.closed_form_period_weeks = closed_form_period_weeks
        self.value_per_advocacy_point = value_per_advocacy_point

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> list[str]:
        methods = list(dict.fromkeys(str(m) for m in self.methods))
        unknown = [m for m in methods if m not in METHODS]
        if unknown or not methods:
            raise ValueError(f"methods must be a non-empty subset of {METHODS}, got {unknown}")
        if self.champion not in METHODS:
            raise ValueError(f"champion must be one of {METHODS}, got {self.champion!r}")
        h = float(self.horizon_weeks)
        if not (np.isfinite(h) and h > 0):
            raise ValueError(f"horizon_weeks must be > 0, got {self.horizon_weeks!r}")
        if not (np.isfinite(self.margin) and self.margin >= 0):
            raise ValueError(f"margin must be >= 0, got {self.margin!r}")
        if not (np.isfinite(self.annual_discount_rate) and self.annual_discount_rate > -1):
            raise ValueError(f"annual_discount_rate must be > -1, got {self.annual_discount_rate}")
        return methods

    @staticmethod
    def _check_frame(features: Any, name: str, columns: Sequence[str]) -> pd.DataFrame:
        if not isinstance(features, pd.DataFrame):
            raise DataValidationError(f"{name} must be a pandas DataFrame, got {type(features)}")
        missing = [c for c in columns if c not in features.columns]
        if missing:
            raise DataValidationError(
                f"{name} lacks the column(s) {missing} (build it with "
                "clvml.features.dataset.customer_features)",
                column=missing[0],
                n_rows=len(features),
            )
        if len(features) == 0:
            raise DataValidationError(f"{name} has no customers")
        return features

    def _check_labels(self, labelled: pd.DataFrame, labels: Any) -> pd.DataFrame:
        if not isinstance(labels, pd.DataFrame):
            raise DataValidationError(
                f"labels must be a DataFrame with revenue and churned, got {type(labels)}"
            )
        for col in ("revenue", "churned"):
            if col not in labels.columns:
                raise DataValidationError("is missing from labels", column=col)
        if len(labels) != len(labelled) or not labels.index.equals(labelled.index):
            try:
                labels = labels.loc[labelled.index]
            except KeyError as exc:
                raise DataValidationError(
                    "labels must have a row for every customer of labelled_features",
                    n_rows=len(labelled),
                ) from exc
        weeks = labels.attrs.get("weeks")
        if weeks is not None and abs(float(weeks) - float(self.horizon_weeks)) > 1 / 7 + 1e-9:
            raise DataValidationError(
                f"the labels cover {float(weeks):.2f} weeks but horizon_weeks is "
                f"{float(self.horizon_weeks):g}: train the supervised parts on a window of the "
                "horizon's length"
            )
        return labels

    # ------------------------------------------------------------------ BTYD pieces
    def _fit_btyd(self, features: pd.DataFrame) -> tuple[BetaGeo, GammaGamma]:
        bg = BetaGeo(penalizer=self.penalizer).fit(features[["frequency", "recency", "T"]])
        spend, _ = _spend_frame(features[["frequency", "recency", "T", "monetary_value"]])
        gg = GammaGamma(penalizer=self.penalizer).fit(spend)
        return bg, gg

    @staticmethod
    def _check_btyd(models: Any, name: str) -> tuple[BetaGeo, GammaGamma]:
        try:
            bg, gg = models
        except (TypeError, ValueError):
            raise ValueError(
                f"{name} must be a (BetaGeo, GammaGamma) pair, got {models!r}"
            ) from None
        if not (isinstance(bg, BetaGeo) and isinstance(gg, GammaGamma)):
            raise ValueError(
                f"{name} must be a (BetaGeo, GammaGamma) pair, got "
                f"({type(bg).__name__}, {type(gg).__name__})"
            )
        if not (hasattr(bg, "params_") and hasattr(gg, "params_")):
            raise ValueError(f"{name}: the BetaGeo and GammaGamma models must be fitted")
        return bg, gg

    def _steps(self) -> tuple[int, float, float]:
        """Horizon steps, step length (weeks) and the discount rate per step."""
        h = float(self.horizon_weeks)
        if self.annual_discount_rate == 0:
            return 1, h, 0.0
        steps = max(1, math.ceil(h - 1e-9))
        step = h / steps
        return steps, step, (1.0 + self.annual_discount_rate) ** (step / 52.0) - 1.0

    def _btyd_clv(
        self, tx_model: Any, spend_model: Any, frame: pd.DataFrame, interval: float | None
    ) -> pd.DataFrame:
        steps, step, rate = self._steps()
        return customer_lifetime_value(
            tx_model,
            spend_model,
            _spend_summary(frame, spend_model),
            horizon=steps,
            discount_rate=rate,
            period=step,
            margin=float(self.margin),
            interval=interval,
            n_draws=int(self.n_draws),
            random_state=self.random_state,
        )

    def _btyd_parts(self, tx_model: Any, spend_model: Any, frame: pd.DataFrame) -> dict[str, Any]:
        h = float(self.horizon_weeks)
        summary = _spend_summary(frame, spend_model)
        spend = np.asarray(spend_model.expected_average_spend(summary), dtype=float)
        p_alive = np.asarray(tx_model.probability_alive(frame), dtype=float)
        purchases = np.asarray(tx_model.expected_purchases(frame, t=h), dtype=float)
        return {"p_alive": p_alive, "purchases": purchases, "spend": spend}

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        features: pd.DataFrame,
        labelled_features: pd.DataFrame | None = None,
        labels: pd.DataFrame | None = None,
        *,
        btyd: tuple[BetaGeo, GammaGamma] | None = None,
        labelled_btyd: tuple[BetaGeo, GammaGamma] | None = None,
    ) -> CLVModel:
        """Fit every method whose inputs are present.

        Parameters
        ----------
        features : pandas.DataFrame
            The customer frame at the cut-off (:func:`clvml.features.dataset.customer_features`);
            the BTYD models are fitted on it (no labels needed).
        labelled_features : pandas.DataFrame, optional
            Customer frame of the supervised training customers (an earlier cut-off, or
            other customers).
        labels : pandas.DataFrame, optional
            ``revenue`` and ``churned`` of ``labelled_features``' customers over a window
            of ``horizon_weeks`` after their cut-off
            (:func:`clvml.features.dataset.holdout_targets`).
        btyd : (BetaGeo, GammaGamma), optional
            Fitted BG/NBD and Gamma-Gamma models to use instead of fitting them on
            ``features``: models fitted on every customer when ``features`` is a sample
            (:mod:`clvml.spark.train` fits them from Spark's compressed summaries). They
            must have been fitted on the same cut-off and time unit (weeks).
        labelled_btyd : (BetaGeo, GammaGamma), optional
            Likewise for the stacked BTYD features of ``labelled_features`` when they
            have another cut-off than ``features``.

        Returns
        -------
        self
        """
        methods = self._check_params()
        features = _age_floor(self._check_frame(features, "features", RFM_INPUTS))
        skipped: dict[str, str] = {}
        spec: dict[str, tuple[str, str, Sequence[str]]] = dict(
            self.covariates if self.covariates is not None else DEFAULT_COVARIATES
        )

        self.bgnbd_, self.gamma_gamma_ = (
            self._fit_btyd(features) if btyd is None else self._check_btyd(btyd, "btyd")
        )
        self.btyd_params_ = {**self.bgnbd_.params_, **self.gamma_gamma_.params_}
        if "btyd" not in methods:
            skipped["btyd"] = "not requested"

        self.bgnbd_covariates_: Any = None
        self.gamma_gamma_covariates_: Any = None
        self.covariate_params_: dict[str, float] = {}
        self.covariate_spec_: dict[str, tuple[str, str, tuple[str, ...]]] = {}
        if "btyd_covariates" in methods:
            reason = self._fit_covariates(features, spec)
            if reason:
                skipped["btyd_covariates"] = reason

        self.churn_classifier_: Any = None
        self.value_regressor_: Any = None
        self.two_part_regressor_: Any = None
        self.blend_scale_ = float("nan")
        self.supervised_columns_: list[str] = []
        wanted = [m for m in methods if m in SUPERVISED_METHODS]
        if wanted:
            if labelled_features is None or labels is None:
                for m in wanted:
                    skipped[m] = "no labelled training data (labelled_features and labels)"
            else:
                labelled_features = _age_floor(
                    self._check_frame(labelled_features, "labelled_features", RFM_INPUTS)
                )
                labels = self._check_labels(labelled_features, labels)
                aux = None
                if labelled_btyd is not None:
                    aux = self._check_btyd(labelled_btyd, "labelled_btyd")
                self._fit_supervised(features, labelled_features, labels, wanted, skipped, aux)

        self.methods_ = [m for m in METHODS if m in methods and m not in skipped]
        self.skipped_methods_ = {m: skipped[m] for m in METHODS if m in skipped}
        if not self.methods_:
            raise ClvmlError(f"no method could be fitted: {self.skipped_methods_}")
        order = [self.champion, "btyd", "hybrid", "ml", "blend", "ml_two_part", "btyd_covariates"]
        order.append("closed_form")
        self.champion_ = next(m for m in order if m in self.methods_)

        needed = set(RFM_INPUTS) | set(self.supervised_columns_)
        needed |= {src for src, _, _ in self.covariate_spec_.values()}
        if self.covariate_spec_ and "tenure_weeks" in features.columns:
            needed.add("tenure_weeks")
        if all(c in features.columns for c in ENGAGEMENT_VALUE_COLUMNS):
            needed |= set(ENGAGEMENT_VALUE_COLUMNS)
        self.feature_columns_ = [str(c) for c in features.columns if c in needed]
        self.n_customers_ = len(features)

        # tier and segment thresholds from the fitted customers' predictions
        clv = self._predict_values(features, interval=None)["clv"].to_numpy()
        ranked = np.sort(clv)[::-1]
        n = ranked.size
        self.tier_thresholds_ = np.array(
            [ranked[min(n - 1, max(0, math.ceil(c * n) - 1))] for c in DEFAULT_TIER_CUTS]
        )
        self.value_level_thresholds_ = np.array(
            [ranked[min(n - 1, max(0, math.ceil(c * n) - 1))] for c in DEFAULT_VALUE_CUTS]
        )
        return self

    def _fit_covariates(
        self, features: pd.DataFrame, spec: dict[str, tuple[str, str, Sequence[str]]]
    ) -> str | None:
        usable = {k: v for k, v in spec.items() if v[0] in features.columns}
        if not usable:
            return "no engagement columns in the features (BTYD with covariates needs them)"
        try:
            from clvml.models.btyd.beta_geo_covariates import BetaGeoCovariates
            from clvml.models.btyd.gamma_gamma_covariates import GammaGammaCovariates
        except ImportError as exc:  # pragma: no cover - engine without covariate models
            return f"BTYD with covariates unavailable ({exc})"
        frame = _covariate_frame(features, usable)
        # drop covariates constant over the customers (no information, singular fit)
        usable = {k: v for k, v in usable.items() if np.ptp(frame[k].to_numpy()) > 0}
        if not usable:
            return "the engagement covariates are constant over the customers"
        tx_links: dict[str, list[str]] = {}
        spend_cols: list[str] = []
        for name, (_, _, links) in usable.items():
            for link in links:
                if link in _SPEND_LINKS:
                    spend_cols.append(name)
                else:
                    tx_links.setdefault(link, []).append(name)
        frame = frame[["frequency", "recency", "T", "monetary_value", *usable]]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                bgc = BetaGeoCovariates(penalizer=self.covariate_penalizer, covariates=tx_links)
                bgc.fit(frame[["frequency", "recency", "T", *usable]])
                spend, _ = _spend_frame(frame)
                if spend_cols:
                    ggc = GammaGammaCovariates(
                        penalizer=self.covariate_penalizer, covariates={"v": spend_cols}
                    ).fit(spend[["frequency", "monetary_value", *spend_cols]])
                else:
                    ggc = self.gamma_gamma_
        except (ClvmlError, ValueError, RuntimeWarning) as exc:
            return f"BTYD with covariates failed to fit: {exc}"
        self.bgnbd_covariates_, self.gamma_gamma_covariates_ = bgc, ggc
        self.covariate_spec_ = {k: (v[0], v[1], tuple(v[2])) for k, v in usable.items()}
        self.covariate_params_ = {**bgc.params_, **ggc.params_}
        return None

    def _stacked(self, bg: BetaGeo, gg: GammaGamma, frame: pd.DataFrame) -> pd.DataFrame:
        h = float(self.horizon_weeks)
        parts = self._btyd_parts(bg, gg, frame)
        r, alpha = bg.params_["r"], bg.params_["alpha"]
        if_alive = bgnbd_probability_purchase_if_alive(
            r, alpha, frame["frequency"].to_numpy(dtype=float), frame["T"].to_numpy(dtype=float), h
        )
        return pd.DataFrame(
            {
                "btyd_expected_purchases": parts["purchases"],
                "btyd_p_alive": parts["p_alive"],
                "btyd_p_purchase": parts["p_alive"] * if_alive,
                "btyd_expected_spend": parts["spend"],
                "btyd_clv": parts["purchases"] * parts["spend"],
            },
            index=frame.index,
        )

    def _supervised_frame(
        self, frame: pd.DataFrame, models: tuple[BetaGeo, GammaGamma] | None = None
    ) -> pd.DataFrame:
        X = frame[self.supervised_columns_]
        if self.stack_btyd:
            bg, gg = models if models is not None else (self.bgnbd_, self.gamma_gamma_)
            X = X.join(self._stacked(bg, gg, frame))
        return X

    def _fit_supervised(
        self,
        features: pd.DataFrame,
        labelled: pd.DataFrame,
        labels: pd.DataFrame,
        wanted: list[str],
        skipped: dict[str, str],
        aux: tuple[BetaGeo, GammaGamma] | None = None,
    ) -> None:
        from clvml.models.churn import make_churn_classifier

        self.supervised_columns_ = [
            str(c) for c in labelled.columns if c in features.columns and c not in STACKED_FEATURES
        ]
        self.n_labelled_ = len(labelled)
        # the stacked BTYD features of the training rows come from BTYD models fitted at
        # the training customers' own cut-off (only their pre-cut-off history): the main
        # models when the labelled customers share the cut-off of ``features``
        if not self.stack_btyd or _same_cutoff(labelled, features):
            aux = None
        elif aux is None:
            aux = self._fit_btyd(labelled)
        X = self._supervised_frame(labelled, aux)
        churned = labels["churned"].to_numpy(dtype=float)
        revenue = labels["revenue"].to_numpy(dtype=float)
        need_clf = any(m in wanted for m in ("closed_form", "hybrid", "blend"))
        if need_clf:
            if churned.min() == churned.max():
                for m in ("closed_form", "hybrid", "blend"):
                    if m in wanted:
                        skipped[m] = "the churn labels have a single class"
            else:
                clf = make_churn_classifier(
                    list(X.columns), random_state=self.random_state, max_iter=self.max_iter
                )
                self.churn_classifier_ = clf.fit(X, churned)
        if "ml" in wanted or "blend" in wanted:
            use = self.ml_offset
            if use == "auto":
                use = float(features["T"].max()) > float(labelled["T"].max()) + 1.0
            self.ml_offset_ = bool(use and self.stack_btyd)
            offset = "btyd_clv" if self.ml_offset_ else None
            self.value_regressor_ = PoissonValueRegressor(
                max_iter=2 * self.max_iter,
                offset_column=offset,
                cv=self.ml_cv,
                random_state=self.random_state,
            ).fit(X, revenue * float(self.margin))
        self.blend_scale_ = float("nan")
        if "blend" in wanted and "blend" not in skipped:
            # the level of the blend: ml's total over the customers at the cut-off (their
            # features only; an earlier training window's customers are younger, so a
            # ratio fitted there would not carry over)
            from clvml.models.churn import predict_churn

            factor = mean_discount_factor(float(self.horizon_weeks), self.annual_discount_rate)
            Xf = self._supervised_frame(features)
            ml = self.value_regressor_.predict(Xf) * factor
            cf = self._closed_form(features, predict_churn(self.churn_classifier_, Xf).to_numpy())
            pooled = np.sqrt(ml * cf).sum()
            if not pooled > 0:
                skipped["blend"] = "the closed form predicts no value for any customer"
            else:
                self.blend_scale_ = float(ml.sum() / pooled)
        if "ml_two_part" in wanted:
            try:
                self.two_part_regressor_ = TwoPartValueRegressor(
                    features=list(X.columns),
                    max_iter=self.max_iter,
                    random_state=self.random_state,
                ).fit(X, revenue * float(self.margin))
            except ValueError as exc:  # DataValidationError, or a degenerate column
                skipped["ml_two_part"] = f"value regressor not fitted: {exc}"

    # ------------------------------------------------------------------ predict
    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Per-customer predictions of every fitted method.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``customer_id``: ``clv`` (the champion's), ``clv_lower``,
            ``clv_upper``, ``p_alive``, ``churn_probability`` (P(no purchase in the
            horizon): the classifier's when fitted, else BG/NBD's),
            ``expected_purchases``, ``expected_avg_spend``, ``engagement_value``,
            ``value_tier``, ``segment`` and ``clv_<method>`` per fitted method.
        """
        check_is_fitted(self, "methods_")
        out = self._predict_values(features, interval=self.interval)
        return self._add_segments(out)

    def _predict_values(self, features: pd.DataFrame, interval: float | None) -> pd.DataFrame:
        features = self._check_frame(features, "features", getattr(self, "feature_columns_", ()))
        features = _age_floor(features)
        h = float(self.horizon_weeks)
        idx = features.index
        bg, gg = self.bgnbd_, self.gamma_gamma_
        cols: dict[str, Any] = {}
        champion = self.champion_ if hasattr(self, "champion_") else None

        base = self._btyd_parts(bg, gg, features)
        want_interval = interval if champion in ("btyd", "hybrid") else None
        btyd = self._btyd_clv(bg, gg, features, want_interval)
        x = features["frequency"].to_numpy(dtype=float)
        T = features["T"].to_numpy(dtype=float)
        if_alive = bgnbd_probability_purchase_if_alive(
            bg.params_["r"], bg.params_["alpha"], x, T, h
        )
        p_alive, purchases, spend = base["p_alive"], base["purchases"], base["spend"]
        churn = 1.0 - p_alive * if_alive
        lower = upper = np.full(len(features), np.nan)
        if want_interval is not None:
            lower, upper = btyd["clv_lower"].to_numpy(), btyd["clv_upper"].to_numpy()
        champ_vals = {
            "p_alive": p_alive,
            "purchases": purchases,
            "spend": spend,
            "lower": lower,
            "upper": upper,
        }
        if "btyd" in self.methods_:
            cols["clv_btyd"] = btyd["clv"].to_numpy()

        if "btyd_covariates" in self.methods_:
            frame = _covariate_frame(features, self.covariate_spec_)
            bgc, ggc = self.bgnbd_covariates_, self.gamma_gamma_covariates_
            cinterval = interval if champion == "btyd_covariates" else None
            cov = self._btyd_clv(bgc, ggc, frame, cinterval)
            cols["clv_btyd_covariates"] = cov["clv"].to_numpy()
            if champion == "btyd_covariates":
                parts = self._btyd_parts(bgc, ggc, frame)
                champ_vals = {
                    "p_alive": parts["p_alive"],
                    "purchases": parts["purchases"],
                    "spend": parts["spend"],
                    "lower": cov["clv_lower"].to_numpy() if cinterval else lower * np.nan,
                    "upper": cov["clv_upper"].to_numpy() if cinterval else upper * np.nan,
                }

        supervised = any(
            m is not None
            for m in (self.churn_classifier_, self.value_regressor_, self.two_part_regressor_)
        )
        X = self._supervised_frame(features) if supervised else None
        if self.churn_classifier_ is not None:
            from clvml.models.churn import predict_churn

            churn = predict_churn(self.churn_classifier_, X).to_numpy()
            p_buy = 1.0 - churn
            if "hybrid" in self.methods_:
                p_hyb = hybrid_probability_alive(p_buy, if_alive)
                ratio = np.divide(p_hyb, p_alive, out=np.zeros_like(p_hyb), where=p_alive > 0)
                cols["clv_hybrid"] = cols.get("clv_btyd", btyd["clv"].to_numpy()) * ratio
                if champion == "hybrid":
                    champ_vals = {
                        "p_alive": p_hyb,
                        "purchases": purchases * ratio,
                        "spend": spend,
                        "lower": lower * ratio,
                        "upper": upper * ratio,
                    }
            if "closed_form" in self.methods_ or "blend" in self.methods_:
                closed_form = self._closed_form(features, churn)
                if "closed_form" in self.methods_:
                    cols["clv_closed_form"] = closed_form
        factor = mean_discount_factor(h, self.annual_discount_rate)
        if self.value_regressor_ is not None:
            ml = self.value_regressor_.predict(X)
            if "ml" in self.methods_:
                cols["clv_ml"] = ml * factor
            if "blend" in self.methods_:
                cols["clv_blend"] = self.blend_scale_ * np.sqrt(ml * factor * closed_form)
        if self.two_part_regressor_ is not None and "ml_two_part" in self.methods_:
            cols["clv_ml_two_part"] = self.two_part_regressor_.predict(X) * factor

        if champion is None:  # during fit, before the champion is chosen
            champion = next(m for m in METHODS if f"clv_{m}" in cols)
        clv = cols[f"clv_{champion}"] if f"clv_{champion}" in cols else btyd["clv"].to_numpy()
        if all(c in features.columns for c in ENGAGEMENT_VALUE_COLUMNS):
            ev = engagement_value(
                features,
                h,
                champ_vals["p_alive"],
                value_per_point=self.value_per_advocacy_point,
                annual_discount_rate=self.annual_discount_rate,
            ).to_numpy()
        else:
            ev = np.full(len(features), np.nan)
        out = pd.DataFrame(
            {
                "clv": clv,
                "clv_lower": champ_vals["lower"],
                "clv_upper": champ_vals["upper"],
                "p_alive": champ_vals["p_alive"],
                "churn_probability": churn,
                "expected_purchases": champ_vals["purchases"],
                "expected_avg_spend": champ_vals["spend"],
                "engagement_value": ev,
            },
            index=pd.Index(idx.astype(str), name="customer_id"),
        )
        for m in METHODS:
            if f"clv_{m}" in cols:
                out[f"clv_{m}"] = cols[f"clv_{m}"]
        return out

    def _closed_form(self, features: pd.DataFrame, churn: np.ndarray) -> np.ndarray:
        h = float(self.horizon_weeks)
        period = float(self.closed_form_period_weeks)
        k = max(1, round(h / period))
        retention = np.clip(1.0 - churn, 0.0, 1.0) ** (period / h)
        d = (1.0 + self.annual_discount_rate) ** (period / 52.0) - 1.0
        q = retention / (1.0 + max(d, 0.0))
        # sum_{t=1}^{K} q^t = q * L_{d,K}: the customer must be retained into each period
        lifetime = (
            retention
            / (1.0 + max(d, 0.0))
            * expected_lifetime(retention, max_periods=k, discount_rate=max(d, 0.0))
        )
        del q
        tenure_periods = features["T"].to_numpy(dtype=float) / period + 1.0
        rate = features["n_purchases"].to_numpy(dtype=float) / tenure_periods
        value = np.maximum(features["mean_spend"].to_numpy(dtype=float), 0.0)
        return float(self.margin) * value * rate * lifetime

    def _add_segments(self, out: pd.DataFrame) -> pd.DataFrame:
        clv = out["clv"].to_numpy()
        # tier j holds customers whose CLV reaches threshold j but not threshold j-1
        tier_code = len(DEFAULT_TIER_CUTS) - np.searchsorted(
            self.tier_thresholds_[::-1], clv, side="right"
        )
        tiers = pd.Categorical.from_codes(
            tier_code, categories=list(DEFAULT_TIER_LABELS), ordered=True
        )
        at = list(out.columns).index("engagement_value") + 1
        out.insert(at, "value_tier", tiers)
        value_code = len(DEFAULT_VALUE_CUTS) - np.searchsorted(
            self.value_level_thresholds_[::-1], clv, side="right"
        )
        t = np.asarray(DEFAULT_RISK_THRESHOLDS, dtype=float)
        risk_code = 2 - np.searchsorted(t, out["churn_probability"].to_numpy(), side="right")
        names = [DEFAULT_CELLS[(a, b)].name for a in LEVELS for b in LEVELS]
        categories = list(dict.fromkeys(names))
        code_of = np.array([categories.index(nm) for nm in names])
        out.insert(
            at + 1,
            "segment",
            pd.Categorical.from_codes(code_of[value_code * 3 + risk_code], categories=categories),
        )
        return out


def fit_clv_model(
    transactions: pd.DataFrame,
    engagement: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
    *,
    cutoff: object,
    horizon_weeks: float = 52,
    supervised: Literal["time", "customers"] | None = "time",
    btyd_fitter: Callable[[pd.Timestamp], tuple[BetaGeo, GammaGamma]] | None = None,
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
    from clvml.features.dataset import customer_features, holdout_targets

    if supervised not in ("time", "customers", None):
        raise ValueError(f"supervised must be 'time', 'customers' or None, got {supervised!r}")
    h = float(horizon_weeks)
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"horizon_weeks must be > 0, got {horizon_weeks!r}")
    features = customer_features(transactions, engagement, customers, cutoff=cutoff)
    c = pd.Timestamp(features.attrs["cutoff"])
    span = pd.Timedelta(days=round(7 * h))
    window: dict[str, Any] = {"cutoff": str(c.date()), "supervised": supervised}
    labelled = labels = None
    note = None
    if supervised == "time":
        c0 = c - span
        try:
            labelled = customer_features(transactions, engagement, customers, cutoff=c0)
        except DataValidationError:
            note = f"no customer had bought by {c0.date()}, one horizon before the cut-off"
        else:
            labels = holdout_targets(transactions, labelled.index, start=c0, end=c)
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
        labels = holdout_targets(transactions, features.index, start=c, end=end)
        window.update(train_cutoff=str(c.date()), label_start=labels.attrs["start"])
        window["label_end"] = labels.attrs["end"]
    fits: dict[str, Any] = {}
    if btyd_fitter is not None:
        fits["btyd"] = btyd_fitter(c)
        if labelled is not None and supervised == "time":
            fits["labelled_btyd"] = btyd_fitter(c - span)
    model = CLVModel(horizon_weeks=h, **params).fit(features, labelled, labels, **fits)
    if note is not None:
        for m in list(model.skipped_methods_):
            if m in SUPERVISED_METHODS and "labelled" in model.skipped_methods_[m]:
                model.skipped_methods_[m] = note
    model.training_window_ = window
    return model
