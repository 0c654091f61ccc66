"""Subscription methods: the contractual retention models as servable, comparable methods.

The transaction methods of :data:`~clvml.models.methods.registry.REGISTRY` read a
customer frame of purchases; a subscription business's customers renew or cancel, so
its methods read *spells* (``duration``, ``censored``: :mod:`clvml.models.subscription.spells`,
built from the ``subscriptions`` table by :mod:`clvml.data.subscriptions`) and live in
their own registry, :data:`SUBSCRIPTION_METHODS`:

* ``sbg``, ``bdw``: :class:`~clvml.models.subscription.ShiftedBetaGeometric` and
  :class:`~clvml.models.subscription.BetaDiscreteWeibull`;
* ``sbg_covariates``, ``bdw_covariates``: the same with the customers' covariates on
  the churn-probability distribution (:mod:`clvml.models.subscription.covariates`),
  fitted only when covariates are given.

:class:`SubscriptionModel` fits the requested methods per billing period (monthly and
yearly subscribers are different processes), chooses the champion (lowest BIC summed
over the periods, unless named) and predicts for every active spell of tenure ``n``:
``p_renew`` (probability of renewing at the end of the current period), its complement
``churn_probability``, ``derl`` (discounted expected residual lifetime, in periods) and
``clv = derl x margin x price_per_period`` (the renewals still to come), each method's
``clv_<method>``; :meth:`SubscriptionModel.new_customer_value` gives the value of a new
customer at acquisition (``DEL x margin x price``: the first billing included), the ``ltv``
of LTV:CAC by acquisition channel. Categorical covariates (plan, acquisition channel)
are encoded as 0/1 columns against their most frequent level, stored at fit.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from clvml.exceptions import DataValidationError
from clvml.models.btyd.covariate_design import CovariateWarning
from clvml.models.subscription import (
    BetaDiscreteWeibull,
    BetaDiscreteWeibullCovariates,
    ShiftedBetaGeometric,
    ShiftedBetaGeometricCovariates,
    likelihood_ratio_test,
)

__all__ = ["PERIODS_PER_YEAR", "SUBSCRIPTION_METHODS", "SubscriptionMethod", "SubscriptionModel"]

#: Billing periods per year, by the subscriptions contract's ``period`` values.
PERIODS_PER_YEAR: dict[str, int] = {"month": 12, "year": 1}


class SubscriptionMethod:
    """One subscription method: a name, whether it reads covariates, its estimator."""

    name: ClassVar[str]
    uses_covariates: ClassVar[bool] = False
    estimator: ClassVar[type]

    @classmethod
    def make(cls, max_iter: int) -> Any:
        """A fresh, unfitted estimator."""
        return cls.estimator(max_iter=max_iter)


class SBG(SubscriptionMethod):
    """Shifted-beta-geometric (constant individual churn, heterogeneous across customers)."""

    name = "sbg"
    estimator = ShiftedBetaGeometric


class BdW(SubscriptionMethod):
    """Beta-discrete-Weibull (individual churn may rise or fall with tenure)."""

    name = "bdw"
    estimator = BetaDiscreteWeibull


class SBGCovariates(SubscriptionMethod):
    """sBG with the customers' covariates on alpha and beta."""

    name = "sbg_covariates"
    uses_covariates = True
    estimator = ShiftedBetaGeometricCovariates


class BdWCovariates(SubscriptionMethod):
    """BdW with the customers' covariates on alpha and beta."""

    name = "bdw_covariates"
    uses_covariates = True
    estimator = BetaDiscreteWeibullCovariates


#: The subscription methods, name -> class, in the order of the output columns.
SUBSCRIPTION_METHODS: dict[str, type[SubscriptionMethod]] = {
    m.name: m for m in (SBG, BdW, SBGCovariates, BdWCovariates)
}


def _categorical(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


class SubscriptionModel(BaseEstimator):
    """The subscription methods fitted per billing period, with a champion.

    Parameters
    ----------
    methods : sequence of str, default ("sbg", "bdw", "sbg_covariates", "bdw_covariates")
        Methods of :data:`SUBSCRIPTION_METHODS` to fit (the covariate ones only when
        ``covariates`` are given).
    champion : str, default "auto"
        The served method, or ``"auto"``: the lowest BIC summed over the periods.
    covariates : sequence of str, optional
        Columns of the spells used as covariates; text columns (plan, acquisition
        channel) become 0/1 columns against their most frequent level.
    annual_discount_rate : float, default 0.1
        Converted to a rate per billing period, ``(1 + r) ** (1 / periods per year) - 1``.
    margin : float, default 1.0
        Share of the price kept as margin.
    covariate_penalizer : float, default 0.001
        L2 penalty of the covariate methods (on the baseline at mean covariates and the
        per-SD coefficients, per spell): keeps a covariate level seen on few spells of a
        billing period from running off to the parameter bound. The plain models are
        fitted unpenalised (they reproduce the published estimates).
    max_iter : int, default 2000
        Maximum optimiser iterations per fit.

    Attributes
    ----------
    models_ : dict
        ``{(method, period): fitted estimator}``.
    champion_ : str
        The served method.
    bic_ : dict of str to float
        BIC of each method summed over the periods.
    lr_tests_ : dict of str to dict
        Per period: the likelihood-ratio test of ``sbg`` against ``bdw`` (when both fitted).
    skipped_ : dict of str to str
        Methods not fitted, with the reason.
    levels_ : dict of str to list
        The levels of each text covariate (the first is the reference).
    set_aside_ : dict
        ``{(method, period): [columns]}``: covariate columns constant within a billing
        period (e.g. a yearly-only plan among the monthly spells), left out of that fit.

    Examples
    --------
    >>> from clvml.models.subscription import survival_to_spells
    >>> spells = survival_to_spells([1000, 631, 468, 382, 326, 289, 262, 241])
    >>> m = SubscriptionModel(methods=("sbg", "bdw")).fit(spells)
    >>> m.champion_ in ("sbg", "bdw"), sorted(m.models_)
    (True, [('bdw', 'month'), ('sbg', 'month')])
    """

    def __init__(
        self,
        methods: Sequence[str] = ("sbg", "bdw", "sbg_covariates", "bdw_covariates"),
        champion: str = "auto",
        covariates: Sequence[str] | None = None,
        annual_discount_rate: float = 0.1,
        margin: float = 1.0,
        covariate_penalizer: float = 0.001,
        max_iter: int = 2000,
    ) -> None:
        self.methods = methods
        self.champion = champion
        self.covariates = covariates
        self.annual_discount_rate = annual_discount_rate
        self.margin = margin
        self.covariate_penalizer = covariate_penalizer
        self.max_iter = max_iter

    # ------------------------------------------------------------------ design
    def _design(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The covariates as numeric columns (text ones as 0/1 columns of the fitted levels)."""
        out = {}
        for col in self.covariates or ():
            if col not in frame.columns:
                raise DataValidationError(
                    f"covariate missing from the data (has {list(map(str, frame.columns))})",
                    column=col,
                )
            if col in self.levels_:
                values = frame[col].astype("string")
                levels = self.levels_[col]
                unknown = ~values.isin(levels) | values.isna()
                if unknown.any():
                    raise DataValidationError(
                        f"has values not seen when the model was fitted (known: {levels})",
                        column=col,
                        n_rows=int(unknown.sum()),
                        example=values[unknown].iloc[0],
                    )
                for level in levels[1:]:
                    out[f"{col}={level}"] = (values == level).to_numpy(dtype=float)
            else:
                out[col] = frame[col]
        return pd.DataFrame(out, index=frame.index)

    def _periods(self, frame: pd.DataFrame) -> pd.Series:
        if "period" not in frame.columns:
            return pd.Series("month", index=frame.index)
        period = frame["period"].astype(str).str.lower()
        bad = ~period.isin(list(PERIODS_PER_YEAR))
        if bad.any():
            raise DataValidationError(
                "must be month or year",
                column="period",
                n_rows=int(bad.sum()),
                example=str(frame.loc[bad, "period"].iloc[0]),
            )
        return period

    # ------------------------------------------------------------------ fit
    def fit(self, spells: pd.DataFrame) -> SubscriptionModel:
        """Fit every requested method on ``spells`` (``duration``, ``censored``, optional
        ``weight``, ``period`` and the covariate columns)."""
        unknown = [m for m in self.methods if m not in SUBSCRIPTION_METHODS]
        if unknown or not self.methods:
            raise ValueError(
                f"unknown subscription method(s) {unknown}; expected some of "
                f"{list(SUBSCRIPTION_METHODS)}"
            )
        if self.champion != "auto" and self.champion not in self.methods:
            raise ValueError(
                f"champion {self.champion!r} is not among methods {list(self.methods)}"
            )
        if not isinstance(spells, pd.DataFrame) or spells.empty:
            raise DataValidationError("there are no spells to fit (0 rows)", column="duration")
        self.levels_ = {}
        for col in self.covariates or ():
            if col in spells.columns and _categorical(spells[col]):
                counts = spells[col].astype("string").value_counts(dropna=True)
                ordered = sorted(counts.index, key=lambda v: (-counts[v], str(v)))
                self.levels_[col] = [str(v) for v in ordered]
        design = self._design(spells)
        periods = self._periods(spells)
        base = spells[[c for c in ("duration", "censored", "weight") if c in spells.columns]]
        self.models_, self.skipped_, self.lr_tests_, self.set_aside_ = {}, {}, {}, {}
        bic: dict[str, float] = {}
        for period in sorted(periods.unique()):
            rows = (periods == period).to_numpy()
            data = pd.concat([base.loc[rows], design.loc[rows]], axis=1)
            for name in self.methods:
                method = SUBSCRIPTION_METHODS[name]
                if method.uses_covariates and design.shape[1] == 0:
                    self.skipped_[name] = "no covariates given"
                    continue
                est = method.make(self.max_iter)
                if method.uses_covariates:
                    est.set_params(
                        covariates=list(design.columns), penalizer=self.covariate_penalizer
                    )
                with warnings.catch_warnings(record=True) as caught:
                    # a level absent from this billing period (the yearly plan among the
                    # monthly spells) is constant there: set aside, recorded, not warned
                    warnings.simplefilter("always", CovariateWarning)
                    est.fit(data)
                for w in caught:
                    if issubclass(w.category, CovariateWarning):
                        self.set_aside_[(name, period)] = [
                            c for c in design.columns if c not in est.covariate_columns_
                        ]
                    else:
                        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
                self.models_[(name, period)] = est
                bic[name] = bic.get(name, 0.0) + float(est.bic_)
            if ("sbg", period) in self.models_ and ("bdw", period) in self.models_:
                self.lr_tests_[period] = likelihood_ratio_test(
                    self.models_[("sbg", period)], self.models_[("bdw", period)]
                )
        complete = {
            n: v for n, v in bic.items() if all((n, p) in self.models_ for p in periods.unique())
        }
        self.bic_ = complete
        if self.champion != "auto":
            if self.champion not in complete:
                raise ValueError(
                    f"champion {self.champion!r} could not be fitted: "
                    f"{self.skipped_.get(self.champion, 'not fitted')}"
                )
            self.champion_ = self.champion
        else:
            self.champion_ = min(complete, key=lambda n: (complete[n], n))
        self.periods_ = sorted(periods.unique())
        return self

    # ------------------------------------------------------------------ predict
    def _check(self) -> None:
        if not hasattr(self, "models_"):
            raise NotFittedError(
                "This SubscriptionModel instance is not fitted yet; call fit first."
            )

    def discount_rate(self, period: str) -> float:
        """The discount rate per billing ``period`` from the annual rate."""
        return float((1.0 + self.annual_discount_rate) ** (1.0 / PERIODS_PER_YEAR[period]) - 1.0)

    def _price(self, frame: pd.DataFrame) -> np.ndarray:
        if "price_per_period" not in frame.columns:
            return np.ones(len(frame))
        price = pd.to_numeric(frame["price_per_period"], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(price) | (price < 0)
        if bad.any():
            raise DataValidationError(
                "must be a number >= 0 for every active subscription scored",
                column="price_per_period",
                n_rows=int(bad.sum()),
                example=frame["price_per_period"].to_numpy()[bad][0],
            )
        return price

    def _one(
        self, name: str, period: str, design: pd.DataFrame, n: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        est = self.models_[(name, period)]
        d = self.discount_rate(period)
        if SUBSCRIPTION_METHODS[name].uses_covariates:
            return (
                est.renewal_probability(design, n),
                est.discounted_expected_residual_lifetime(design, n, d),
            )
        return est.renewal_probability(n), est.discounted_expected_residual_lifetime(n, d)

    def predict(self, spells: pd.DataFrame) -> pd.DataFrame:
        """Predictions for spells active at the cut-off (``censored`` True; tenure
        ``n = duration + 1``); cancelled spells get ``p_renew`` 0 and no residual value.

        Returns
        -------
        pandas.DataFrame
            Same index: ``tenure``, ``p_renew``, ``churn_probability``, ``derl``, ``clv``
            (the champion's), and ``clv_<method>`` and ``p_renew_<method>`` for every
            fitted method.
        """
        self._check()
        active = spells["censored"].astype(bool).to_numpy()
        n = spells["duration"].to_numpy(dtype=float) + 1.0
        periods = self._periods(spells)
        unknown = ~periods.isin(self.periods_)
        if unknown.any():
            raise DataValidationError(
                f"has billing periods the model was not fitted on (fitted: {self.periods_})",
                column="period",
                n_rows=int(unknown.sum()),
                example=str(periods[unknown].iloc[0]),
            )
        design = self._design(spells)
        price = self._price(spells) * float(self.margin)
        fitted = [m for m in self.methods if all((m, p) in self.models_ for p in self.periods_)]
        out = pd.DataFrame(index=spells.index)
        out["tenure"] = np.where(active, n, spells["duration"].to_numpy(dtype=float))
        cols = {m: np.zeros(len(spells)) for m in fitted}
        renew = {m: np.zeros(len(spells)) for m in fitted}
        derl = {m: np.zeros(len(spells)) for m in fitted}
        for period in self.periods_:
            rows = (periods == period).to_numpy() & active
            if not rows.any():
                continue
            for name in fitted:
                p, life = self._one(name, period, design.loc[rows], n[rows])
                renew[name][rows], derl[name][rows] = p, life
                cols[name][rows] = life * price[rows]
        champ = self.champion_
        out["p_renew"] = renew[champ]
        out["churn_probability"] = np.where(active, 1.0 - renew[champ], 1.0)
        out["derl"] = derl[champ]
        out["clv"] = cols[champ]
        for name in fitted:
            out[f"clv_{name}"] = cols[name]
        for name in fitted:
            out[f"p_renew_{name}"] = renew[name]
        return out

    def expected_renewals(self, spells: pd.DataFrame, horizon: Any) -> pd.DataFrame:
        """Expected billings of each active spell in its next ``horizon`` billing periods
        (one value or one per row; 0 for cancelled spells), undiscounted, per method:
        columns ``renewals_<method>`` and ``renewals`` (the champion's)."""
        self._check()
        active = spells["censored"].astype(bool).to_numpy()
        n = spells["duration"].to_numpy(dtype=float) + 1.0
        h = np.broadcast_to(np.asarray(horizon, dtype=float), n.shape)
        periods = self._periods(spells)
        design = self._design(spells)
        fitted = [m for m in self.methods if all((m, p) in self.models_ for p in self.periods_)]
        out = pd.DataFrame(
            {f"renewals_{m}": np.zeros(len(spells)) for m in fitted}, index=spells.index
        )
        for period in self.periods_:
            rows = (periods == period).to_numpy() & active
            if not rows.any():
                continue
            for name in fitted:
                est = self.models_[(name, period)]
                if SUBSCRIPTION_METHODS[name].uses_covariates:
                    value = est.expected_renewals(design.loc[rows], n[rows], h[rows])
                else:
                    value = est.expected_renewals(n[rows], h[rows])
                out.loc[rows, f"renewals_{name}"] = value
        out.insert(0, "renewals", out[f"renewals_{self.champion_}"])
        return out

    def new_customer_value(self, customers: pd.DataFrame) -> np.ndarray:
        """Value of a new customer at acquisition: ``DEL x margin x price`` (the first
        billing included), from the champion, per row (``period``, ``price_per_period`` and
        the covariates of ``customers``); the ``ltv`` of LTV:CAC."""
        self._check()
        periods = self._periods(customers)
        design = self._design(customers)
        price = self._price(customers) * float(self.margin)
        out = np.empty(len(customers))
        for period in periods.unique():
            rows = (periods == period).to_numpy()
            d = self.discount_rate(period)
            z = 1.0 / (1.0 + d)
            _, derl1 = self._one(self.champion_, period, design.loc[rows], np.ones(int(rows.sum())))
            out[rows] = (1.0 + z * derl1) * price[rows]
        return out
