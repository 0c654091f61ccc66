r"""Synthetic social-commerce data with a planted, known truth.

:func:`generate_social_commerce` builds a world of customers who buy, engage
on social channels, write texts in English and Spanish, complain and get (or,
in the randomised control group, do not get) answers from a social care team.
Purchases follow the BG/NBD process and spend the Gamma-Gamma model, with the
latent rates shifted by engagement, so the value of social features is known:

* **Purchases** (Fader, Hardie & Lee 2005): customer :math:`i` makes a first
  purchase at acquisition, then buys as a Poisson process of rate
  :math:`\lambda_i` per week and, after each repeat purchase, leaves for good
  with probability :math:`p_i`.

  .. math::

      \lambda_i = \lambda^0_i \exp(\beta_{adv} v_i - \beta_{adv}^2 / 2), \quad
      \lambda^0_i \sim \mathrm{Gamma}(r, \text{rate}=\alpha)

  where :math:`v_i \sim N(0, 1)` is the latent advocacy that also drives
  likes, shares, retweets and mentions (``advocacy_effect`` =
  :math:`\beta_{adv}`; the :math:`-\beta^2/2` keeps the mean rate unchanged).
  Equivalently :math:`\lambda_i \sim \mathrm{Gamma}(r, \alpha e^{-\beta_{adv}
  v_i + \beta_{adv}^2/2})`, the time-invariant-covariate BG/NBD.
* **Dropout**: with :math:`p^0_i \sim \mathrm{Beta}(a, b)` and latent
  satisfaction :math:`s_i \sim N(0, 1)`,

  .. math::

      \operatorname{logit} p_i = \operatorname{logit} p^0_i
          - \beta_{sent} s_i - \beta_{care} \mathbb{1}[t > c_i],

  where ``sentiment_effect`` = :math:`\beta_{sent}` (dissatisfied customers,
  who complain and write negative texts, leave more) and ``social_effect`` =
  :math:`\beta_{care}` acts from :math:`c_i`, the time of the customer's first
  care reply that resolved a complaint, if that reply came before the
  calibration end (later replies are generated but change nothing, so the
  truth below is exact). Control customers never get replies, so for them the
  care term is absent: treated vs control is a randomised contrast.
* **Spend**: :math:`\nu_i \sim \mathrm{Gamma}(q, \text{rate}=v)`, each order
  :math:`z \sim \mathrm{Gamma}(p, \text{rate}=\nu_i)` times a segment factor.
* **Engagement** is generated from the latent satisfaction, advocacy and an
  engagement propensity (Poisson events per kind over the customer's whole
  observation), not from the purchase process, with one exception: a share
  ``disengagement_effect`` of the routine events (all but complaints, care
  replies and praise) after the customer's dropout is removed, as people who
  have left stop opening emails and visiting. With ``social_effect =
  sentiment_effect = advocacy_effect = disengagement_effect = 0`` the
  engagement data are independent of purchasing and dropout: the placebo world.
* **Care**: each complaint of a treated customer is answered with probability
  ``answer_rate`` after a log-normal delay (median 3 hours); the reply resolves
  it with probability 0.8 if it came within 6 hours, else 0.5, independently
  of the customer. A resolved complaint is followed by praise (a positive
  mention, or a review for email and phone complaints) with probability
  ``praise_rate``.
* **Texts** (mentions, comments, direct messages, reviews) have polarity +1,
  0 or -1 as :math:`s_i + 0.25 + \varepsilon` (:math:`\varepsilon \sim
  N(0, 0.7^2)`) is above 0.4, between, or below -0.4; complaints are negative,
  praise positive, care replies neutral. The polarity each text was written
  with is in ``texts_truth``.

Truth (one row per customer), with :math:`\tau_i` the customer's age at the
calibration end, :math:`H` the horizon in weeks and :math:`p_i` the dropout
probability in force at the calibration end:

* ``expected_purchases`` :math:`= \mathbb{1}[\text{alive at } \tau_i]\,
  (1 - e^{-\lambda_i p_i H}) / p_i`, the expected number of purchases in
  :math:`(\tau_i, \tau_i + H]` (FHL 2005, eq. 5 for known :math:`\lambda, p`),
  and ``expected_clv`` = ``expected_purchases`` x ``mean_spend``: undiscounted
  expected revenue over the horizon given the latent parameters and the
  (normally hidden) alive state. It is the conditional mean of
  ``realised_revenue``.
* ``churn_probability`` :math:`= 1 - e^{-\Lambda_i}(1 - e^{-\lambda_i H})`,
  the probability of no purchase in the horizon, where :math:`\Lambda_i =
  \lambda_i \int_0^{\tau_i} p_i(t)\,dt` is the integrated dropout hazard (dropout
  events form a Poisson process of rate :math:`\lambda_i p_i(t)`);
  ``churn_probability_untreated`` is the same without the care term, so their
  difference is each customer's planted causal effect of social care.
* ``attainable_purchases`` and ``attainable_clv``: the attainable oracle
  (:mod:`clvml.data.oracle`), the posterior expected holdout purchases and revenue given
  only what is observable before the calibration end (the planted model applied to the
  observed purchases, spend, care replies and engagement): the best any method can do in
  expectation, unlike ``expected_clv``, which knows the latent state.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from clvml._deprecated import renamed_kwarg
from clvml.data._social_texts import LANGUAGES, build_text_table, draw_text_codes, n_products
from clvml.data.dates import as_day
from clvml.data.simulate import _concat_by_customer, bgnbd_process
from clvml.exceptions import ClvmlError, DataValidationError

__all__ = [
    "CHANNELS",
    "KINDS",
    "OutputExistsError",
    "SocialCommerceData",
    "generate_social_commerce",
    "load_social_commerce",
    "read_dataset",
    "write_dataset",
    "write_tables",
]

CHANNELS = ("twitter", "facebook", "instagram", "linkedin", "email", "web", "app", "phone")
KINDS = (
    "reply", "mention", "like", "share", "retweet", "comment", "direct_message",
    "email_open", "email_click", "site_visit", "self_help_view", "complaint", "review",
)  # fmt: skip
DIRECTIONS = ("inbound", "outbound")
ACQUISITION_CHANNELS = (
    "organic_search",
    "paid_search",
    "paid_social",
    "referral",
    "email",
    "affiliate",
)
_ACQ_SHARE = np.array([0.30, 0.25, 0.20, 0.10, 0.08, 0.07])
_ACQ_COST_MEAN = np.array([2.0, 35.0, 28.0, 15.0, 5.0, 20.0])
SEGMENTS = ("student", "young_professional", "family", "premium")
_SEG_SHARE = np.array([0.20, 0.35, 0.35, 0.10])
_SEG_SPEND = np.array([0.7, 1.0, 1.1, 1.8])
TABLES = ("customers", "transactions", "engagement", "truth", "texts_truth")

_WEEK = np.timedelta64(7 * 86_400_000_000_000, "ns")
_NS_PER_WEEK = 7 * 86_400 * 10**9
_CH = {c: i for i, c in enumerate(CHANNELS)}
_KIND = {k: i for i, k in enumerate(KINDS)}
_CARE_KINDS = np.array([_KIND["complaint"], _KIND["reply"]], dtype=np.int8)

# kind: (base rate per week, {channel: share}, carries text, public (has reach),
#        exponents on (satisfaction, advocacy), exponent on engagement propensity)
_SPECS: dict[str, tuple[float, dict[str, float], bool, bool, tuple[float, float], float]] = {
    "email_open": (0.02, {"email": 1.0}, False, False, (0.5, 0.0), 1.0),
    "email_click": (0.004, {"email": 1.0}, False, False, (0.5, 0.0), 1.0),
    "self_help_view": (0.004, {"web": 0.7, "app": 0.3}, False, False, (-0.3, 0.0), 1.0),
    "like": (
        0.01, {"twitter": 0.3, "facebook": 0.3, "instagram": 0.35, "linkedin": 0.05},
        False, False, (0.0, 1.0), 1.0,
    ),
    "share": (
        0.004, {"twitter": 0.3, "facebook": 0.35, "instagram": 0.25, "linkedin": 0.1},
        False, True, (0.2, 1.0), 1.0,
    ),
    "retweet": (0.003, {"twitter": 1.0}, False, True, (0.0, 1.0), 1.0),
    "mention": (
        0.005, {"twitter": 0.45, "facebook": 0.2, "instagram": 0.3, "linkedin": 0.05},
        True, True, (0.0, 0.7), 1.0,
    ),
    "comment": (
        0.002, {"twitter": 0.1, "facebook": 0.4, "instagram": 0.45, "linkedin": 0.05},
        True, True, (0.0, 0.0), 1.0,
    ),
    "direct_message": (
        0.001, {"twitter": 0.3, "facebook": 0.4, "instagram": 0.3}, True, False, (0.0, 0.0), 1.0,
    ),
    "review": (0.0015, {"web": 0.7, "app": 0.3}, True, True, (0.0, 0.0), 0.5),
    "complaint": (
        0.008, {"twitter": 0.35, "facebook": 0.2, "instagram": 0.1, "email": 0.2, "phone": 0.15},
        True, True, (-0.7, 0.0), 0.5,
    ),
}  # fmt: skip
_SOCIAL = np.isin(
    np.arange(len(CHANNELS)), [_CH[c] for c in ("twitter", "facebook", "instagram", "linkedin")]
)


class OutputExistsError(ClvmlError, FileExistsError):
    """The output directory exists and is not empty, and overwriting was not asked for."""


@dataclass(frozen=True)
class SocialCommerceData:
    """A generated social-commerce world: the input tables and the truth.

    Attributes
    ----------
    customers : pandas.DataFrame
        ``customer_id``, ``acquisition_date``, ``acquisition_channel``,
        ``acquisition_cost``, ``segment``, ``control_group``.
    transactions : pandas.DataFrame
        ``customer_id``, ``timestamp``, ``amount``, ``order_id``, ``quantity``;
        the first purchase is on the acquisition date.
    engagement : pandas.DataFrame
        ``event_id``, ``customer_id``, ``timestamp``, ``channel``, ``kind``,
        ``direction``, ``text``, ``language``, ``reach``, ``resolved``.
    truth : pandas.DataFrame
        Latent parameters and outcomes per customer (see the module docstring).
    texts_truth : pandas.DataFrame
        ``event_id``, ``polarity`` (-1, 0, +1, the sentiment each text was
        written with) and ``group`` (post, complaint, praise, reply).
    calibration_end, observation_end : pandas.Timestamp
        End of the calibration period and of the data (calibration end plus
        the horizon).
    params : dict
        The generation settings, JSON-serialisable.
    """

    customers: pd.DataFrame
    transactions: pd.DataFrame
    engagement: pd.DataFrame
    truth: pd.DataFrame
    texts_truth: pd.DataFrame
    calibration_end: pd.Timestamp
    observation_end: pd.Timestamp
    params: dict[str, Any] = field(default_factory=dict)


def _pick(rng: np.random.Generator, shares: np.ndarray, size: int) -> np.ndarray:
    """Categorical draws by inverse CDF (vectorised)."""
    cdf = np.cumsum(shares / shares.sum())
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), shares.size - 1)


def _poisson_times(
    rate: np.ndarray, length: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Homogeneous Poisson events on ``(0, length_i)`` per customer: (index, time)."""
    counts = rng.poisson(rate * length)
    idx = np.repeat(np.arange(rate.size), counts)
    return idx, rng.random(idx.size) * length[idx]


def _customer_ids(n: int) -> pd.Index:
    width = max(6, len(str(max(n - 1, 0))))
    return pd.Index(np.char.add("C", np.char.zfill(np.arange(n).astype("U"), width)), dtype="str")


class _Events:
    """Accumulates engagement events as parallel integer/float arrays."""

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(
        self, idx: np.ndarray, t: np.ndarray, kind: str, channel: np.ndarray, **cols: Any
    ) -> None:
        n = idx.size
        part = {
            "idx": idx,
            "t": t,
            "kind": np.full(n, _KIND[kind], dtype=np.int8),
            "channel": channel.astype(np.int8),
            "direction": np.full(n, 1 if kind == "reply" else 0, dtype=np.int8),
            "text": np.full(n, -1, dtype=np.int64),
            "polarity": np.zeros(n, dtype=np.int8),
            "group": np.full(n, -1, dtype=np.int8),
            "reach": np.zeros(n, dtype=np.int64),
            "resolved": np.full(n, -1, dtype=np.int8),
        }
        for key, value in cols.items():
            part[key] = np.broadcast_to(value, (n,)).astype(part[key].dtype)
        self.parts.append(part)

    def lapse(self, dropout_time: np.ndarray, share: float, rng: np.random.Generator) -> None:
        """Thin routine events after each customer's dropout, keeping ``1 - share`` of them."""
        for part in self.parts:
            u = rng.random(part["idx"].size)
            routine = ~np.isin(part["kind"], _CARE_KINDS) & (part["group"] != 2)
            drop = routine & (part["t"] > dropout_time[part["idx"]]) & (u < share)
            if drop.any():
                for key in part:
                    part[key] = part[key][~drop]

    def concat(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}


def _attainable(
    planted: dict[str, float],
    scale: float,
    e: dict[str, np.ndarray],
    tau: np.ndarray,
    sim: dict[str, np.ndarray],
    change: np.ndarray,
    spend: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """The attainable oracle (:mod:`clvml.data.oracle`) of the generated customers."""
    from clvml.data.oracle import PlantedModel, attainable_expectation, observed_history

    with np.errstate(divide="ignore"):
        log_scale = np.log(scale)
    coef = np.zeros((len(KINDS), 4))
    log_rate = np.full(len(KINDS), -np.inf)
    for kind, (rate, _, _, _, (k_sat, k_adv), k_eng) in _SPECS.items():
        coef[_KIND[kind]] = (1.0, k_sat, k_adv, k_eng)
        log_rate[_KIND[kind]] = log_scale + np.log(rate)
    known = np.isin(e["kind"], [_KIND[k] for k in _SPECS])
    complaint = e["kind"] == _KIND["complaint"]
    routine = known & ~complaint & (e["group"] != 2)  # praise is not routine
    routine_kinds = [_KIND[k] for k in _SPECS if k != "complaint"]
    c = _KIND["complaint"]
    model = PlantedModel(
        **planted,
        kinds=np.column_stack([log_rate[routine_kinds], coef[routine_kinds, 1:]]),
        complaint=np.array([log_rate[c], *coef[c, 1:]]),
    )
    t_idx, t_w, amount, factor = spend
    history = observed_history(
        tau=tau,
        purchase_index=sim["customer_index"],
        purchase_time=sim["time"],
        change_time=change,
        spend_index=t_idx,
        spend_time=t_w,
        amount=amount,
        segment_factor=factor,
        event_index=e["idx"],
        event_time=e["t"],
        event_coef=coef[e["kind"]],
        event_log_rate=np.where(routine, log_rate[e["kind"]], 0.0),
        routine=routine,
        complaint=complaint,
        polarity=np.where(e["group"] == 0, e["polarity"], 9),
    )
    return attainable_expectation(model, history)


def generate_social_commerce(
    n_customers: int = 10_000,
    random_state: int | None = 0,
    *,
    seed: int | None = None,
    start: str | pd.Timestamp = "2024-01-01",
    calibration_end: str | pd.Timestamp | None = None,
    horizon: float = 52.0,
    social_effect: float = 1.0,
    sentiment_effect: float = 1.0,
    advocacy_effect: float = 0.5,
    disengagement_effect: float = 0.8,
    control_share: float = 0.2,
    spanish_share: float = 0.3,
    answer_rate: float = 0.9,
    praise_rate: float = 0.5,
    engagement_scale: float = 1.0,
    bgnbd: tuple[float, float, float, float] = (0.6, 8.0, 1.25, 5.0),
    gamma_gamma: tuple[float, float, float] = (6.0, 4.0, 15.0),
    oracle: bool = True,
) -> SocialCommerceData:
    """Generate a social-commerce world whose ground truth is known.

    Parameters
    ----------
    n_customers : int, default 10_000
        Number of customers.
    random_state : int, optional
        Random seed; the same seed and settings give identical tables.
    seed : int, optional
        Deprecated spelling of ``random_state``.
    start : str or Timestamp, default "2024-01-01"
        Start of the acquisition window.
    calibration_end : str or Timestamp, optional
        End of the calibration period; default ``start`` + 78 weeks. Customers
        are acquired uniformly between ``start`` and one week before it.
    horizon : float, default 52
        Length in weeks of the holdout (prediction horizon) after the
        calibration end; the data end at ``calibration_end + horizon``.
    social_effect : float, default 1.0
        Drop of the dropout log-odds after a care reply resolved a complaint.
    sentiment_effect : float, default 1.0
        Drop of the dropout log-odds per standard deviation of latent
        satisfaction (unhappy customers leave more).
    advocacy_effect : float, default 0.5
        Log purchase-rate increase per standard deviation of latent advocacy.
    disengagement_effect : float, default 0.8
        Share of a customer's routine engagement (everything but complaints,
        care replies and praise) that stops after they drop out: 0 keeps
        engagement blind to dropout, 1 silences it.
    control_share : float, default 0.2
        Share of customers randomised to the control group (no care replies).
    spanish_share : float, default 0.3
        Share of customers writing in Spanish.
    answer_rate : float, default 0.9
        Probability that the care team answers a complaint of a treated customer.
    praise_rate : float, default 0.5
        Probability that a resolved complaint is followed by praise.
    engagement_scale : float, default 1.0
        Multiplier of every inbound engagement rate.
    bgnbd : tuple, default (0.6, 8.0, 1.25, 5.0)
        BG/NBD ``(r, alpha, a, b)`` in weeks, before engagement effects.
    gamma_gamma : tuple, default (6.0, 4.0, 15.0)
        Gamma-Gamma ``(p, q, v)`` before the segment spend factor.
    oracle : bool, default True
        Also write the attainable oracle in ``truth`` (``attainable_purchases``,
        ``attainable_clv``; :mod:`clvml.data.oracle`): the Bayes-optimal expected holdout
        purchases and revenue given the history before the calibration end. It costs
        about 0.3-1.5 ms per customer (2,048 importance draws); ``False`` skips it.

    Returns
    -------
    SocialCommerceData

    Examples
    --------
    >>> ds = generate_social_commerce(500, random_state=1)
    >>> sorted(ds.customers.columns)[:3]
    ['acquisition_channel', 'acquisition_cost', 'acquisition_date']
    >>> bool(ds.truth["expected_clv"].ge(0).all())
    True
    """
    if n_customers < 1:
        raise DataValidationError(f"n_customers must be >= 1, got {n_customers}")
    shares = {
        "control_share": control_share,
        "spanish_share": spanish_share,
        "answer_rate": answer_rate,
        "praise_rate": praise_rate,
    }
    for name, value in shares.items():
        if not 0.0 <= value <= 1.0:
            raise DataValidationError(f"{name} must be in [0, 1], got {value}")
    if not horizon > 0 or engagement_scale < 0:
        raise DataValidationError("horizon must be > 0 and engagement_scale >= 0")
    named = dict(zip(("r", "alpha", "a", "b", "p", "q", "v"), (*bgnbd, *gamma_gamma), strict=True))
    for name, value in named.items():
        if not (np.isfinite(value) and value > 0):
            raise DataValidationError(
                f"model parameter {name} must be a finite number > 0, got {value!r}"
            )
    start_ts = as_day(start, name="start")
    cal_end = (
        as_day(calibration_end, name="calibration_end")
        if calibration_end is not None
        else start_ts + 78 * pd.Timedelta(weeks=1)
    )
    acq_weeks = (cal_end - start_ts) / pd.Timedelta(weeks=1) - 1.0
    if acq_weeks <= 0:
        raise DataValidationError("calibration_end must be more than one week after start")
    obs_end = cal_end + pd.Timedelta(weeks=horizon)
    r, alpha, a, b = bgnbd
    gg_p, gg_q, gg_v = gamma_gamma

    seed = renamed_kwarg("generate_social_commerce", "seed", "random_state", seed, random_state, 0)
    ss = np.random.SeedSequence(seed)
    rng_c, rng_e, rng_b, rng_s = (np.random.default_rng(s) for s in ss.spawn(4))
    n = n_customers

    # ---- customers and latent traits -------------------------------------------------
    first_w = rng_c.random(n) * acq_weeks  # weeks since start of the first purchase
    first_ns = start_ts.value + np.round(first_w * _NS_PER_WEEK / 1e9).astype(np.int64) * 10**9
    T = (obs_end.value - first_ns) / _NS_PER_WEEK
    tau = (cal_end.value - first_ns) / _NS_PER_WEEK
    acq_ch = _pick(rng_c, _ACQ_SHARE, n)
    acq_cost = np.round(rng_c.gamma(2.0, _ACQ_COST_MEAN[acq_ch] / 2.0), 2)
    seg = _pick(rng_c, _SEG_SHARE, n)
    control = rng_c.random(n) < control_share
    lang = (rng_c.random(n) < spanish_share).astype(np.int8)
    satisfaction = rng_c.standard_normal(n)
    advocacy = rng_c.standard_normal(n)
    propensity = rng_c.gamma(2.0, 1.0 / 2.0, n)
    followers = np.exp(rng_c.normal(4.0, 1.3, n))
    lam0 = rng_c.gamma(r, 1.0 / alpha, n)
    p_base = np.clip(rng_c.beta(a, b, n), 1e-9, 1 - 1e-9)
    nu = rng_c.gamma(gg_q, 1.0 / gg_v, n)

    # ---- engagement (depends on latent traits only) ------------------------------------
    table = build_text_table()
    ev = _Events()
    for kind, (rate, channels, texts, public, (k_sat, k_adv), k_eng) in _SPECS.items():
        lam_k = (
            engagement_scale * rate * propensity**k_eng
            * np.exp(k_sat * satisfaction + k_adv * advocacy)
        )  # fmt: skip
        idx, t = _poisson_times(lam_k, T, rng_e)
        ch_names = list(channels)
        ch = np.array([_CH[c] for c in ch_names])[
            _pick(rng_e, np.array(list(channels.values())), idx.size)
        ]
        cols: dict[str, Any] = {}
        if public:
            reach = followers[idx] * np.exp(rng_e.normal(0.0, 0.5, idx.size))
            cols["reach"] = np.where(_SOCIAL[ch] | (kind == "review"), np.floor(reach), 0)
        if texts:
            products = rng_e.integers(0, n_products(), idx.size)
            if kind == "complaint":
                pol = np.full(idx.size, -1, dtype=np.int8)
                group = "complaint"
                complaint_products = products
            else:
                score = satisfaction[idx] + 0.25 + rng_e.normal(0.0, 0.7, idx.size)
                pol = np.where(score > 0.4, 1, np.where(score < -0.4, -1, 0)).astype(np.int8)
                group = "post"
            cols["text"] = draw_text_codes(table, lang[idx], group, pol, rng_e, products)
            cols["polarity"] = pol
            cols["group"] = ("post", "complaint", "praise", "reply").index(group)
        ev.add(idx, t, kind, ch, **cols)
        if kind == "complaint":
            complaints = (idx, t, ch)

    # Site visits come in sessions with returning visits a few days apart.
    idx, t = _poisson_times(engagement_scale * 0.012 * propensity, T, rng_e)
    n_ret = rng_e.geometric(0.55, idx.size) - 1
    ridx = np.repeat(np.arange(idx.size), n_ret)
    gaps = rng_e.exponential(2.0 / 7.0, ridx.size)
    csum = np.cumsum(gaps)
    offsets = np.concatenate([[0.0], csum])[np.cumsum(n_ret) - n_ret][ridx]
    rt = t[ridx] + csum - offsets
    keep = rt < T[idx[ridx]]
    v_idx = np.concatenate([idx, idx[ridx][keep]])
    v_t = np.concatenate([t, rt[keep]])
    v_ch = np.where(rng_e.random(v_idx.size) < 0.6, _CH["web"], _CH["app"])
    ev.add(v_idx, v_t, "site_visit", v_ch)

    # Care replies to complaints of treated customers; resolved more often when fast.
    c_idx, c_t, c_ch = complaints
    answered = (~control[c_idx]) & (rng_e.random(c_idx.size) < answer_rate)
    delay_h = np.exp(rng_e.normal(np.log(3.0), 1.1, c_idx.size))
    resolved = rng_e.random(c_idx.size) < np.where(delay_h < 6.0, 0.8, 0.5)
    reply_t = c_t + delay_h / 168.0
    ok = answered & (reply_t < T[c_idx])
    r_idx, r_t, r_ch, r_res = c_idx[ok], reply_t[ok], c_ch[ok], resolved[ok]
    r_prod = complaint_products[ok]
    zeros = np.zeros(r_idx.size, np.int8)
    r_text = draw_text_codes(table, lang[r_idx], "reply", zeros, rng_e, r_prod)
    ev.add(r_idx, r_t, "reply", r_ch, text=r_text, group=3, resolved=r_res.astype(np.int8))

    # Complaints turned into praise: some resolved complaints are followed by a public rave.
    praise = r_res & (rng_e.random(r_idx.size) < praise_rate)
    p_t = r_t[praise] + rng_e.exponential(3.0 / 7.0, int(praise.sum()))
    p_idx, p_ch, p_prod = r_idx[praise], r_ch[praise], r_prod[praise]
    keep = p_t < T[p_idx]
    p_idx, p_t, p_ch, p_prod = p_idx[keep], p_t[keep], p_ch[keep], p_prod[keep]
    on_social = _SOCIAL[p_ch]
    ones = np.ones(p_idx.size, np.int8)
    p_text = draw_text_codes(table, lang[p_idx], "praise", ones, rng_e, p_prod)
    p_reach = np.floor(followers[p_idx] * np.exp(rng_e.normal(0.0, 0.5, p_idx.size)))
    for mask, kind, ch in (
        (on_social, "mention", p_ch),
        (~on_social, "review", np.full(p_idx.size, _CH["web"])),
    ):
        ev.add(
            p_idx[mask],
            p_t[mask],
            kind,
            ch[mask],
            text=p_text[mask],
            polarity=1,
            group=2,
            reach=p_reach[mask],
        )

    # ---- purchases -------------------------------------------------------------------
    # First resolving reply before the calibration end switches the dropout probability.
    change = np.full(n, np.inf)
    before = r_res & (r_t < tau[r_idx])
    np.minimum.at(change, r_idx[before], r_t[before])
    treated = np.isfinite(change)
    lam = lam0 * np.exp(advocacy_effect * advocacy - advocacy_effect**2 / 2.0)
    p0 = expit(logit(p_base) - sentiment_effect * satisfaction)
    p1 = expit(logit(p0) - social_effect)
    sim = bgnbd_process(lam, p0, T, rng_b, change_time=change, p_after=p1, purchase_times=True)
    ev.lapse(sim["dropout_time"], disengagement_effect, rng_e)

    # ---- transactions ----------------------------------------------------------------
    first = (np.arange(n), np.zeros(n))
    t_idx, t_w = _concat_by_customer(n, [first, (sim["customer_index"], sim["time"])])
    spend_mult = _SEG_SPEND[seg]
    amount = np.maximum(np.round(rng_s.gamma(gg_p, 1.0 / nu[t_idx]) * spend_mult[t_idx], 2), 0.01)
    quantity = 1 + rng_s.poisson(0.4, t_idx.size)
    ts = first_ns[t_idx] + np.round(t_w * _NS_PER_WEEK / 1e9).astype(np.int64) * 10**9

    ids = _customer_ids(n)
    transactions = pd.DataFrame(
        {
            "customer_id": ids.take(t_idx),
            "timestamp": pd.DatetimeIndex(ts.astype("datetime64[ns]")),
            "amount": amount,
            "order_id": np.arange(1, t_idx.size + 1, dtype=np.int64),
            "quantity": quantity.astype(np.int64),
        }
    )

    # ---- truth -----------------------------------------------------------------------
    in_holdout = t_w > tau[t_idx]
    realised_n = np.bincount(t_idx[in_holdout], minlength=n)
    realised_rev = np.bincount(t_idx[in_holdout], weights=amount[in_holdout], minlength=n)
    alive_cal = sim["dropout_time"] > tau
    p_cal = np.where(treated, p1, p0)
    exp_n = np.where(alive_cal, -np.expm1(-lam * p_cal * horizon) / p_cal, 0.0)
    mean_spend = gg_p / nu * spend_mult
    c = np.minimum(change, tau)
    hazard = lam * (p0 * c + p1 * (tau - c))
    hazard_untreated = lam * p0 * tau
    buy_h = -np.expm1(-lam * horizon)
    dropped_by_end = sim["dropout_time"] <= T
    drop_w = np.where(dropped_by_end, sim["dropout_time"], 0.0)
    drop_ns = first_ns + np.round(drop_w * _NS_PER_WEEK / 1e9).astype(np.int64) * 10**9
    nat = np.iinfo(np.int64).min
    dropout_time = pd.DatetimeIndex(np.where(dropped_by_end, drop_ns, nat).astype("datetime64[ns]"))
    truth = pd.DataFrame(
        {
            "customer_id": ids,
            "purchase_rate": lam,
            "dropout_probability": p_cal,
            "dropout_probability_untreated": p0,
            "mean_spend": mean_spend,
            "satisfaction": satisfaction,
            "advocacy": advocacy,
            "engagement_propensity": propensity,
            "care_resolved_before_calibration": treated,
            "alive_at_calibration_end": alive_cal,
            "dropout_time": dropout_time,
            "expected_purchases": exp_n,
            "expected_clv": exp_n * mean_spend,
            "realised_purchases": realised_n.astype(np.int64),
            "realised_revenue": np.round(realised_rev, 2),
            "churned": realised_n == 0,
            "churn_probability": 1.0 - np.exp(-hazard) * buy_h,
            "churn_probability_untreated": 1.0 - np.exp(-hazard_untreated) * buy_h,
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "acquisition_date": pd.DatetimeIndex(first_ns.astype("datetime64[ns]")).floor("D"),
            "acquisition_channel": pd.Index(ACQUISITION_CHANNELS, dtype="str").take(acq_ch),
            "acquisition_cost": acq_cost,
            "segment": pd.Index(SEGMENTS, dtype="str").take(seg),
            "control_group": control,
        }
    )

    # ---- engagement table ------------------------------------------------------------
    e = ev.concat()
    planted = dict(
        r=r, alpha=alpha, a=a, b=b, p=gg_p, q=gg_q, v=gg_v, horizon=float(horizon),
        advocacy_effect=advocacy_effect, sentiment_effect=sentiment_effect,
        social_effect=social_effect, disengagement_effect=disengagement_effect,
    )  # fmt: skip
    if oracle:
        purchases, spend = _attainable(
            planted, engagement_scale, e, tau, sim, change, (t_idx, t_w, amount, spend_mult)
        )
        truth["attainable_purchases"] = purchases
        truth["attainable_clv"] = purchases * spend
    # Sort by customer, then time to the second, on one int64 key (much faster than lexsort).
    secs = np.round(e["t"] * (_NS_PER_WEEK // 10**9)).astype(np.int64)
    if secs.size and secs.max() >= 2**32:
        raise DataValidationError("the observation window is too long (over 136 years)")
    order = np.argsort((e["idx"].astype(np.int64) << 32) | secs)
    e = {k: v[order] for k, v in e.items()}
    e_ts = first_ns[e["idx"]] + secs[order] * 10**9
    event_id = np.arange(1, e["idx"].size + 1, dtype=np.int64)
    has_text = e["text"] >= 0
    engagement = pd.DataFrame(
        {
            "event_id": event_id,
            "customer_id": ids.take(e["idx"]),
            "timestamp": pd.DatetimeIndex(e_ts.astype("datetime64[ns]")),
            "channel": pd.Index(CHANNELS, dtype="str").take(e["channel"]),
            "kind": pd.Index(KINDS, dtype="str").take(e["kind"]),
            "direction": pd.Index(DIRECTIONS, dtype="str").take(e["direction"]),
            "text": table.strings.take(e["text"], allow_fill=True, fill_value=None),
            "language": pd.Index(LANGUAGES, dtype="str").take(lang[e["idx"]]),
            "reach": e["reach"],
            "resolved": pd.arrays.BooleanArray(e["resolved"] == 1, e["resolved"] < 0),
        }
    )
    texts_truth = pd.DataFrame(
        {
            "event_id": event_id[has_text],
            "polarity": e["polarity"][has_text],
            "group": pd.Index(("post", "complaint", "praise", "reply"), dtype="str").take(
                e["group"][has_text]
            ),
        }
    )
    params = {
        "n_customers": n,
        "seed": seed,
        "start": str(start_ts),
        "calibration_end": str(cal_end),
        "observation_end": str(obs_end),
        "horizon_weeks": float(horizon),
        "social_effect": float(social_effect),
        "sentiment_effect": float(sentiment_effect),
        "advocacy_effect": float(advocacy_effect),
        "disengagement_effect": float(disengagement_effect),
        "control_share": float(control_share),
        "spanish_share": float(spanish_share),
        "answer_rate": float(answer_rate),
        "praise_rate": float(praise_rate),
        "engagement_scale": float(engagement_scale),
        "bgnbd": dict(zip(("r", "alpha", "a", "b"), map(float, bgnbd), strict=True)),
        "gamma_gamma": dict(zip(("p", "q", "v"), map(float, gamma_gamma), strict=True)),
        "time_unit": "weeks",
        "oracle": bool(oracle),
    }
    return SocialCommerceData(
        customers=customers,
        transactions=transactions,
        engagement=engagement,
        truth=truth,
        texts_truth=texts_truth,
        calibration_end=cal_end,
        observation_end=obs_end,
        params=params,
    )


def write_dataset(
    ds: SocialCommerceData,
    out_dir: str | os.PathLike[str],
    fmt: str = "parquet",
    *,
    overwrite: bool = False,
) -> Path:
    """Write the tables of ``ds`` to ``out_dir`` atomically.

    Every table goes to ``<name>.parquet`` (or ``.csv``) and the settings to
    ``metadata.json`` inside a temporary directory next to ``out_dir``, which
    is then renamed into place, so readers never see a half-written data set.

    Parameters
    ----------
    ds : SocialCommerceData
    out_dir : path
        Target directory.
    fmt : {"parquet", "csv"}
    overwrite : bool, default False
        Replace the data set in an existing non-empty ``out_dir`` (other
        files there, such as a README, are kept); otherwise raise.

    Returns
    -------
    pathlib.Path
        ``out_dir``.
    """
    frames = {name: getattr(ds, name) for name in TABLES}
    return write_tables(frames, ds.params, out_dir, fmt, overwrite=overwrite)


def write_tables(
    frames: dict[str, pd.DataFrame],
    params: dict[str, Any],
    out_dir: str | os.PathLike[str],
    fmt: str = "parquet",
    *,
    overwrite: bool = False,
) -> Path:
    """Write ``frames`` (name -> table) and ``params`` to ``out_dir`` atomically.

    The engine of :func:`write_dataset` (and of the contractual world's writer): every
    table to ``<name>.<fmt>``, the settings to ``metadata.json``, in a temporary
    directory renamed into place; other files already in ``out_dir`` are kept.
    """
    if fmt not in ("parquet", "csv"):
        raise DataValidationError(f"fmt must be 'parquet' or 'csv', got {fmt!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"{out} exists and is not empty; overwrite it with overwrite=True (--overwrite)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkdtemp: its 0700 mode would stick to the renamed folder; mkdir honours umask.
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        for name, frame in frames.items():
            if fmt == "parquet":
                frame.to_parquet(tmp / f"{name}.parquet", index=False)
            else:
                frame.to_csv(tmp / f"{name}.csv", index=False)
        meta = dict(params, format=fmt, tables=list(frames))
        (tmp / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
        if out.exists():
            # Keep files that are not ours (a README, say) across the swap.
            ours = {f"{name}.{ext}" for name in frames for ext in ("parquet", "csv")}
            for item in out.iterdir():
                if item.name not in ours | {"metadata.json"} and not (tmp / item.name).exists():
                    if item.is_dir():
                        shutil.copytree(item, tmp / item.name)
                    else:
                        shutil.copy2(item, tmp / item.name)
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def load_social_commerce() -> SocialCommerceData:
    """Load the small social-commerce data set shipped with clvml (``data/social``).

    5,000 customers generated by ``clvml generate --customers 5000 --seed 2026
    --out data/social`` with the default effects; see ``data/social/README.md``.

    Examples
    --------
    >>> ds = load_social_commerce()
    >>> len(ds.customers), str(ds.calibration_end.date())
    (5000, '2025-06-30')
    """
    from clvml.data.datasets import data_path

    return read_dataset(data_path("social/metadata.json").parent)


def read_dataset(path: str | os.PathLike[str]) -> SocialCommerceData:
    """Read a data set written by :func:`write_dataset` (Parquet or CSV).

    Raises
    ------
    FileNotFoundError
        If ``path`` has no ``metadata.json`` or a table is missing.
    """
    root = Path(path)
    meta_path = root / "metadata.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} not found: not a data set written by clvml generate")
    meta = json.loads(meta_path.read_text())
    fmt = meta.get("format", "parquet")
    frames: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        file = root / f"{name}.{fmt}"
        if not file.is_file():
            raise FileNotFoundError(f"{file} not found")
        if fmt == "parquet":
            frames[name] = pd.read_parquet(file)
        else:
            frames[name] = _read_csv_table(file, name)
    params = {k: v for k, v in meta.items() if k not in ("format", "tables")}
    return SocialCommerceData(
        **frames,
        calibration_end=pd.Timestamp(meta["calibration_end"]),
        observation_end=pd.Timestamp(meta["observation_end"]),
        params=params,
    )


_DATES = {
    "customers": ["acquisition_date"],
    "transactions": ["timestamp"],
    "engagement": ["timestamp"],
    "truth": ["dropout_time"],
    "texts_truth": [],
}


def _read_csv_table(file: Path, name: str) -> pd.DataFrame:
    frame = pd.read_csv(file, dtype={"customer_id": "str"}, parse_dates=_DATES[name])
    for col in _DATES[name]:
        frame[col] = frame[col].astype("datetime64[ns]")
    if name == "engagement":
        frame["resolved"] = frame["resolved"].astype("boolean")
    return frame
