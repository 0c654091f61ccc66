r"""Per-customer CLV, many ways: one estimator that fits and predicts every method side by side.

:class:`CLVModel` predicts each customer's value over a horizon of ``horizon_weeks``
(times ``margin``, optionally discounted) with the methods of the registry
(:mod:`clvml.models.methods`, one module each): ``closed_form``, ``btyd``,
``btyd_covariates``, the label-free ``pareto_nbd``, ``btyd_all_spend`` and
``pareto_nbd_all_spend``, ``hybrid``, ``ml``, ``ml_two_part``, ``blend`` and the
``past_spend`` baseline. It is a small orchestrator: it checks the inputs, fits the BG/NBD
and Gamma-Gamma models every method may read, builds the supervised design once, fits each
requested method after the steps it ``needs`` (shared parts such as the churn classifier
included), picks the champion, and assembles the methods' outputs
(:class:`~clvml.models.methods.base.MethodOutput`) into one frame.

The BTYD parts are unsupervised and fit on the customer frame at the cut-off. The
supervised parts (churn classifier, value regressors) need ``labelled_features`` and
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

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from clvml._progress import report
from clvml.exceptions import ClvmlError
from clvml.features.frames import CustomerFrame
from clvml.models._binning import binning_batched
from clvml.models._inputs import check_frame, check_labels, check_params, same_cutoff, unwrap
from clvml.models.btyd import BetaGeo, GammaGamma
from clvml.models.engagement_value import ENGAGEMENT_VALUE_COLUMNS
from clvml.models.methods._btyd import (
    RFM_INPUTS,
    STACKED_FEATURES,
    age_floor,
    check_btyd,
    fit_btyd,
    stacked_features,
)
from clvml.models.methods.base import (
    CLVMethod,
    FitData,
    MethodOutput,
    PredictData,
    SkipMethod,
)
from clvml.models.methods.output_frame import CHURN_SOURCES, assemble_frame
from clvml.models.methods.registry import DEFAULT_METHODS, PARTS, REGISTRY, champion_order

__all__ = ["CLVModel"]


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
    methods : sequence of str, default :data:`~clvml.models.methods.DEFAULT_METHODS`
        Methods to fit (any of :data:`~clvml.models.methods.METHODS`).
    champion : str, default "btyd"
        Method whose prediction is the ``clv`` column; when it could not be fitted, the
        first fitted method of :data:`~clvml.models.methods.CHAMPION_ORDER` takes over
        (``champion_`` says which).
    random_state : int, default 0
        Seed of the supervised models and of the bootstrap.
    penalizer : float, default 0.0
        L2 penalty of the BTYD models.
    covariate_penalizer : float or "auto", default "auto"
        L2 penalty of the BTYD-with-covariates models; ``"auto"`` chooses it by
        customer-fold cross-validation of the held-out log-likelihood
        (:mod:`clvml.models.btyd.covariate_selection`; the choice is
        ``covariate_penalizer_``).
    covariates : mapping, optional
        Replaces :data:`DEFAULT_COVARIATES` (name -> (source column, transform,
        linked parameters)).
    stack_btyd : bool, default True
        Add :data:`STACKED_FEATURES` to the features of the supervised models.
    ml_offset : bool or "auto", default "auto"
        With ``stack_btyd``, whether ``ml`` learns a multiplicative correction of the
        BTYD CLV (``offset_column="btyd_clv"``) instead of the value itself; ``"auto"``:
        when the customers of ``features`` are older than every labelled customer
        (trees cannot extrapolate in age). ``ml_offset_`` records the choice.
    ml_cv : int or None, default 3
        Inner cross-validation folds (on the labelled customers only) choosing the
        number of boosting iterations of the ``ml`` regressor, up to ``2 * max_iter``;
        ``None`` uses ``2 * max_iter``.
    max_iter : int, default 300
        Boosting iterations of the churn classifier and of the two-part model;
        ``2 * max_iter`` is the most the ``ml`` regressor uses.
    interval : float or None, default 0.95
        Coverage of the interval of the champion's CLV that comes from the uncertainty
        of the BTYD parameters (BTYD champions, and hybrid with the classifier held
        fixed; see :func:`~clvml.models.btyd.customer_lifetime_value`); NaN for the
        supervised champions ``ml`` and ``closed_form``. ``None`` skips it.
    n_draws : int or None, default None
        ``None``: the interval by the delta method (seconds for a million customers);
        a number: a parametric bootstrap with that many draws (its cost grows with
        the draws: minutes for a million customers at 200).
    closed_form_period_weeks : float, default 52 / 12
        Period of the closed-form formula (a month).
    value_per_advocacy_point : float, default 1.0
        Money per advocacy point of the engagement value.

    Attributes
    ----------
    methods_ : list of str
        Methods fitted.
    skipped_methods_ : dict
        Requested method -> reason it was not fitted.
    champion_ : str
    feature_columns_ : list of str
        Columns ``predict`` needs.
    btyd_params_ : dict
        BG/NBD (``r, alpha, a, b``) and Gamma-Gamma (``p, q, v``) parameters.
    bgnbd_, gamma_gamma_ : BetaGeo, GammaGamma
        The BTYD models every method may read.
    supervised_columns_ : list of str
        Columns of the customer frame in the supervised design (with supervised methods).
    n_labelled_ : int
        Labelled training customers (with supervised methods).
    training_window_ : dict or None
        The cut-offs and label window of the fit, as given to ``fit``.
    n_customers_ : int
    fitted_steps_ : dict of str to tuple of str
        The fitted attributes each step (method or shared part) set, by step.
    Each fitted method adds its own attributes: ``bgnbd_covariates_``,
    ``gamma_gamma_covariates_``, ``covariate_spec_``, ``covariate_params_``
    (``btyd_covariates``); ``churn_classifier_`` and ``churn_shift_`` (the churn part of
    ``closed_form``, ``hybrid``: the classifier and its logit level shift, docs/churn.md);
    ``value_regressor_``, ``ml_offset_`` (``ml``); ``two_part_regressor_``
    (``ml_two_part``); ``blend_scale_`` (``blend``); ``pareto_nbd_`` (``pareto_nbd``,
    ``pareto_nbd_all_spend``), ``gamma_gamma_all_`` (``btyd_all_spend``,
    ``pareto_nbd_all_spend``). A re-fit removes every attribute of
    the previous fit first.

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

    #: The methods this estimator knows (name -> class, in output order).
    registry: ClassVar[Mapping[str, type[CLVMethod]]] = REGISTRY
    #: Shared steps methods may need (name -> class).
    parts: ClassVar[Mapping[str, type[CLVMethod]]] = PARTS

    def __init__(
        self,
        horizon_weeks: float = 52,
        margin: float = 1.0,
        annual_discount_rate: float = 0.0,
        methods: Sequence[str] = DEFAULT_METHODS,
        champion: str = "btyd",
        random_state: int = 0,
        penalizer: float = 0.0,
        covariate_penalizer: float | Literal["auto"] = "auto",
        covariates: Mapping[str, tuple[str, str, Sequence[str]]] | None = None,
        stack_btyd: bool = True,
        ml_offset: bool | Literal["auto"] = "auto",
        ml_cv: int | None = 3,
        max_iter: int = 300,
        interval: float | None = 0.95,
        n_draws: int | None = None,
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

    # ------------------------------------------------------------------ steps
    def _step(self, name: str) -> CLVMethod:
        cls = self.registry.get(name) or self.parts.get(name)
        if cls is None:
            raise ValueError(f"unknown method or part {name!r}")
        return cls()

    def _closure(self, names: Sequence[str]) -> list[str]:
        """``names`` and every step they need, each after what it needs."""
        order: list[str] = []

        def visit(name: str) -> None:
            if name in order:
                return
            for need in self._step(name).needs:
                visit(need)
            order.append(name)

        for name in names:
            visit(name)
        return order

    def _set(self, attrs: Mapping[str, Any]) -> None:
        for key, value in attrs.items():
            if not key.endswith("_"):
                raise ValueError(f"fitted attribute {key!r} must end in '_'")
            setattr(self, key, value)

    def _reset(self) -> None:
        """Remove every fitted attribute of a previous fit."""
        for key in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, key)

    def supervised_frame(
        self, features: pd.DataFrame, models: tuple[BetaGeo, GammaGamma] | None = None
    ) -> pd.DataFrame:
        """The supervised design of a customer frame: its columns plus the stacked BTYD outputs.

        ``models`` replaces the fitted BG/NBD and Gamma-Gamma for the stacked features.
        """
        X = features[self.supervised_columns_]
        if self.stack_btyd:
            bg, gg = models if models is not None else (self.bgnbd_, self.gamma_gamma_)
            X = X.join(stacked_features(float(self.horizon_weeks), bg, gg, features))
        return X

    # ------------------------------------------------------------------ fit
    @binning_batched  # weighted boosting bins each feature with one sort (same edges)
    def fit(
        self,
        features: pd.DataFrame | CustomerFrame,
        labelled_features: pd.DataFrame | CustomerFrame | None = None,
        labels: pd.DataFrame | None = None,
        *,
        btyd: tuple[BetaGeo, GammaGamma] | None = None,
        labelled_btyd: tuple[BetaGeo, GammaGamma] | None = None,
        training_window: Mapping[str, Any] | None = None,
        no_labels_reason: str | None = None,
        reuse: CLVModel | None = None,
    ) -> CLVModel:
        """Fit every requested method whose inputs are present.

        Parameters
        ----------
        features : pandas.DataFrame or CustomerFrame
            The customer frame at the cut-off (:func:`clvml.features.dataset.customer_features`);
            the BTYD models are fitted on it (no labels needed).
        labelled_features : pandas.DataFrame or CustomerFrame, optional
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
        training_window : mapping, optional
            The cut-offs and label window, recorded as ``training_window_``.
        no_labels_reason : str, optional
            Why there are no labelled data, reported for the skipped supervised methods
            (default: that ``labelled_features`` and ``labels`` were not given).
        reuse : CLVModel, optional
            A model already fitted on the same ``features``, ``labelled_features`` and
            ``labels`` with the same parameters (``methods``, ``champion``, ``interval``
            and ``n_draws`` aside, which no step's fit reads), e.g. the comparison's model
            in ``clvml train``: its BTYD models and every step it fitted are taken as they
            are instead of being fitted again (the same result, since each step's fit is
            deterministic given those). Refused (ValueError) when the parameters differ.

        Returns
        -------
        self
        """
        methods = check_params(self)
        reused = self._reusable(reuse, btyd)
        frame, cutoff = unwrap(features)
        frame = age_floor(check_frame(frame, "features", RFM_INPUTS))
        self._reset()
        steps = self._closure([m for m in self.registry if m in methods])
        report("fitting btyd", 0, len(steps) + 1)  # progress for whoever shows it (the CLI)
        if reused is not None:
            assert reuse is not None
            bg, gg = reuse.bgnbd_, reuse.gamma_gamma_
        elif btyd is None:
            bg, gg = fit_btyd(frame, self.penalizer)
        else:
            bg, gg = check_btyd(btyd, "btyd")
        self._set({"bgnbd_": bg, "gamma_gamma_": gg, "btyd_params_": {**bg.params_, **gg.params_}})

        data = FitData(features=frame, predict=lambda name: self._run(frame, [name])[name])
        no_labels = None
        if any(self._step(s).supervised for s in steps):
            if labelled_features is None or labels is None:
                no_labels = no_labels_reason or (
                    "no labelled training data (labelled_features and labels)"
                )
            else:
                self._fit_design(data, frame, cutoff, labelled_features, labels, labelled_btyd)

        skipped: dict[str, str] = {}
        fitted: dict[str, tuple[str, ...]] = {}
        for i, name in enumerate(steps, start=1):
            report(f"fitting {name}", i, len(steps) + 1)
            step = self._step(name)
            failed = [n for n in step.needs if n in skipped]
            if failed:
                skipped[name] = skipped[failed[0]]
            elif step.supervised and no_labels is not None:
                skipped[name] = no_labels
            else:
                try:
                    attrs = reused.get(name) if reused is not None else None
                    if attrs is None:
                        attrs = step.fit(self, data)
                    self._set(attrs)
                    fitted[name] = tuple(attrs)
                except SkipMethod as exc:
                    skipped[name] = str(exc)

        report("fitted", len(steps) + 1, len(steps) + 1)
        self.methods_ = [m for m in self.registry if m in methods and m not in skipped]
        self.skipped_methods_ = {m: skipped[m] for m in self.registry if m in skipped}
        if not self.methods_:
            raise ClvmlError(f"no method could be fitted: {self.skipped_methods_}")
        order = [self.champion, *champion_order(self.registry)]
        self.champion_ = next(m for m in order if m in self.methods_)

        needed = set(RFM_INPUTS) | set(getattr(self, "supervised_columns_", ()))
        for name in self._closure(self.methods_):
            needed |= self._step(name).columns(self, frame)
        if all(c in frame.columns for c in ENGAGEMENT_VALUE_COLUMNS):
            needed |= set(ENGAGEMENT_VALUE_COLUMNS)
        self.feature_columns_ = [str(c) for c in frame.columns if c in needed]
        self.n_customers_ = len(frame)
        self.fitted_steps_ = fitted
        if reuse is not None and reuse.n_customers_ != self.n_customers_:
            raise ValueError(
                f"reuse was fitted on {reuse.n_customers_:,} customers, features have "
                f"{self.n_customers_:,}: not the same customer frame"
            )
        self.training_window_ = dict(training_window) if training_window is not None else None
        return self

    #: Parameters no step's fit reads (see ``fit``'s ``reuse``).
    _REUSE_FREE: ClassVar[frozenset[str]] = frozenset(
        {"methods", "champion", "interval", "n_draws"}
    )

    def _reusable(
        self, reuse: CLVModel | None, btyd: tuple[BetaGeo, GammaGamma] | None
    ) -> dict[str, dict[str, Any]] | None:
        """The fitted attributes of each step of ``reuse``, by step (None: nothing to reuse)."""
        if reuse is None:
            return None
        check_is_fitted(reuse, "fitted_steps_")
        if btyd is not None:
            raise ValueError("pass either btyd or reuse (whose BTYD models are reused)")
        mine, theirs = self.get_params(deep=False), reuse.get_params(deep=False)
        differ = sorted(
            k for k in mine if k not in self._REUSE_FREE and repr(mine[k]) != repr(theirs.get(k))
        )
        if differ:
            raise ValueError(f"reuse has other parameters than this model: {differ}")
        return {
            step: {key: getattr(reuse, key) for key in keys}
            for step, keys in reuse.fitted_steps_.items()
        }

    def _fit_design(
        self,
        data: FitData,
        features: pd.DataFrame,
        cutoff: pd.Timestamp | None,
        labelled_features: pd.DataFrame | CustomerFrame,
        labels: pd.DataFrame,
        labelled_btyd: tuple[BetaGeo, GammaGamma] | None,
    ) -> None:
        """Check the labelled data and build their supervised design into ``data``."""
        labelled, labelled_cutoff = unwrap(labelled_features)
        labelled = age_floor(check_frame(labelled, "labelled_features", RFM_INPUTS))
        labels = check_labels(labelled, labels, self.horizon_weeks)
        aux = None if labelled_btyd is None else check_btyd(labelled_btyd, "labelled_btyd")
        self.supervised_columns_ = [
            str(c) for c in labelled.columns if c in features.columns and c not in STACKED_FEATURES
        ]
        self.n_labelled_ = len(labelled)
        # the stacked BTYD features of the training rows come from BTYD models fitted at
        # the training customers' own cut-off (only their pre-cut-off history): the main
        # models when the labelled customers share the cut-off of ``features``
        if not self.stack_btyd or same_cutoff(labelled, features, labelled_cutoff, cutoff):
            aux = None
        elif aux is None:
            aux = fit_btyd(labelled, self.penalizer)
        data.labelled, data.labels = labelled, labels
        data.X = self.supervised_frame(labelled, aux)

    # ------------------------------------------------------------------ predict
    def _predict_steps(self) -> list[str]:
        steps = list(self.methods_)
        if getattr(self, "churn_classifier_", None) is not None:
            steps.append("churn")
        return self._closure(["btyd", *steps])

    def _run(
        self, features: pd.DataFrame, names: Sequence[str], interval: float | None = None
    ) -> dict[str, MethodOutput]:
        """Outputs of ``names`` and of what they need; ``interval`` for the champion's steps."""
        champion = getattr(self, "champion_", None)
        with_interval = set(self._closure([champion])) if interval and champion else set()
        data = PredictData(features=features, outputs={}, _model=self)
        for name in self._closure(names):
            data.interval = interval if name in with_interval else None
            data.outputs[name] = self._step(name).predict(self, data)
        return data.outputs

    def _frame(self, features: Any) -> pd.DataFrame:
        frame, _ = unwrap(features)
        return age_floor(check_frame(frame, "features", self.feature_columns_))

    def predict_outputs(self, features: pd.DataFrame | CustomerFrame) -> dict[str, MethodOutput]:
        """Each fitted method's output (and the churn part's, when fitted), without interval.

        Returns
        -------
        dict of str to MethodOutput
            Keyed by method (and ``churn``), rows in the order of ``features``.
        """
        check_is_fitted(self, "methods_")
        return self._run(self._frame(features), self._predict_steps())

    def predict(self, features: pd.DataFrame | CustomerFrame) -> pd.DataFrame:
        """Per-customer predictions of every fitted method.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``customer_id``: ``clv`` (the champion's), ``clv_lower``,
            ``clv_upper``, ``p_active`` (P(at least one purchase in the horizon)),
            ``churn_probability`` (P(no purchase in the horizon) = 1 - ``p_active``: the
            champion's when it gives one, as the BTYD methods do in closed form, else
            the classifier's when fitted, else BG/NBD's), ``p_alive_btyd`` (the raw BTYD
            P(alive at the cut-off), 1.0 for every one-time buyer under BG/NBD),
            ``expected_purchases``, ``expected_avg_spend`` (the champion's where it has
            them, else BG/NBD + Gamma-Gamma's), ``engagement_value`` and
            ``clv_<method>`` per fitted method. Value tiers and segments are not the
            model's: the segments layer's ``SegmentScheme`` (fitted on these predictions
            of the training customers, stored with the served model) assigns them.
        """
        check_is_fitted(self, "methods_")
        frame = self._frame(features)
        return assemble_frame(
            frame,
            self._run(frame, self._predict_steps(), self.interval),
            champion=self.champion_,
            methods=[m for m in self.registry if m in self.methods_],
            horizon_weeks=float(self.horizon_weeks),
            value_per_point=self.value_per_advocacy_point,
            annual_discount_rate=self.annual_discount_rate,
        )

    def scoring_steps(self) -> list[str]:
        """The steps :meth:`predict_scores` always runs: BG/NBD, the champion and their needs."""
        check_is_fitted(self, "methods_")
        return self._closure(["btyd", str(self.champion_)])

    def predict_scores(self, features: pd.DataFrame | CustomerFrame) -> pd.DataFrame:
        """:meth:`predict` without the ``clv_<method>`` columns, from the steps its others read.

        What a score table stores (the champion's CLV, interval, activity and expected
        purchases and spend) comes from :meth:`scoring_steps` alone, plus the churn source
        of :meth:`predict` (:data:`~clvml.models.methods.output_frame.CHURN_SOURCES`) when
        the champion gives no churn probability; the other methods are not run (the
        nightly scoring job's cost is the champion's, not every method's). Every column
        returned equals :meth:`predict`'s (``engagement_value`` included).

        Returns
        -------
        pandas.DataFrame
            Indexed by ``customer_id``: ``clv``, ``clv_lower``, ``clv_upper``,
            ``p_active``, ``churn_probability``, ``p_alive_btyd``, ``expected_purchases``,
            ``expected_avg_spend``, ``engagement_value``.
        """
        frame = self._frame(features)
        champion = str(self.champion_)
        steps = self.scoring_steps()
        outputs = self._run(frame, steps, self.interval)
        if not outputs[champion].has("churn_probability"):
            source = next(s for s in CHURN_SOURCES if s in self._predict_steps())
            if source not in outputs:
                outputs = self._run(frame, [*steps, source], self.interval)
        return assemble_frame(
            frame,
            outputs,
            champion=champion,
            methods=[],
            horizon_weeks=float(self.horizon_weeks),
            value_per_point=self.value_per_advocacy_point,
            annual_discount_rate=self.annual_discount_rate,
        )
