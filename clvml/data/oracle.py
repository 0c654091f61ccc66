r"""The attainable oracle of a generated world: Bayes-optimal expected holdout revenue.

The generator's ``expected_clv`` knows each customer's latent rates and whether they are
still alive at the cut-off, which no method can know. The *attainable* oracle is the best
prediction from what is observable before the cut-off, given the planted model: the
posterior mean of the holdout revenue under the generator's own prior and effects,

.. math::

    \hat V_i = E[N_i(\tau_i, \tau_i + H] \mid \mathcal D_i]\; E[\bar Z_i \mid \mathcal D_i],

where :math:`\mathcal D_i` is the customer's history up to the cut-off: purchase times,
the spend of every purchase (the first included) and the segment, the time of the first
care reply that resolved a complaint, and every engagement event except site visits
(the counts per kind before and after the last purchase, and the polarity each post was
written with). Spend is independent of the rest, and conjugate: with the amounts divided
by the segment factor :math:`m`, :math:`\nu \mid \mathcal D \sim \text{Gamma}(q + pn,
v + S/m)` and :math:`E[\bar Z] = p\,m\,(v + S/m) / (q + pn - 1)`. Purchases: given the
dropout probability, advocacy, satisfaction and engagement propensity
:math:`\theta = (p^0, v, s, e)`, the rate :math:`\lambda_0 \sim \text{Gamma}(r, \alpha)`
integrates out in closed form in each of the two branches the history allows (alive at
the cut-off, or left right after the last purchase), and so does the expected number of
purchases in the horizon of an alive customer, :math:`(1 - e^{-\lambda p H})/p`:

.. math::

    E\left[\frac{1 - e^{-\kappa \lambda_0 p H}}{p}\right] =
        \frac{1}{p}\left(1 - \left(\frac{\alpha + \kappa\tau}{\alpha + \kappa\tau
        + \kappa p H}\right)^{r + x}\right), \quad \kappa = e^{\beta v - \beta^2/2}.

The four remaining latent variables are integrated by self-normalised importance sampling
from their prior (scrambled Sobol points, the same for every customer), the weights being
the likelihood of the observed history in each branch: the purchase process, the Poisson
engagement counts (routine events thinned after the dropout by the disengagement share),
the complaints and the post polarities. Without effects (the placebo world with no
disengagement) the engagement carries no information and the oracle is the BG/NBD
conditional expectation with the planted parameters times the spend above (checked in
``tests/data/test_oracle.py``). Site visits come in sessions of returning visits whose
likelihood has no closed form; they are left out, so the oracle is optimal given the
rest of the history (a method reading site visits could, in principle, beat it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_ndtr, logit
from scipy.stats import beta as beta_dist
from scipy.stats import gamma as gamma_dist
from scipy.stats import norm, qmc

__all__ = ["ObservedHistory", "PlantedModel", "attainable_expectation", "observed_history"]


@dataclass(frozen=True)
class PlantedModel:
    """The generator's settings the oracle needs (weeks, money before the segment factor).

    ``kinds`` holds, per routine engagement kind the oracle reads (site visits excluded),
    ``(log base rate, exponent on satisfaction, exponent on advocacy, exponent on the
    engagement propensity)``; ``complaint`` the same for complaints (never thinned).
    """

    r: float
    alpha: float
    a: float
    b: float
    p: float
    q: float
    v: float
    horizon: float
    advocacy_effect: float
    sentiment_effect: float
    social_effect: float
    disengagement_effect: float
    kinds: np.ndarray
    complaint: np.ndarray


@dataclass(frozen=True)
class ObservedHistory:
    """What each customer shows up to the cut-off (arrays of one row per customer).

    Attributes
    ----------
    tau : ages at the cut-off (weeks).
    x_before, x_after : repeat purchases before / after the care switch.
    t_last : time of the last repeat purchase (0 without one).
    last_after : whether the last repeat purchase came after the care switch.
    switched : whether a resolving care reply came before the cut-off.
    n_spend, spend_scaled : purchases (the first included) and the sum of their amounts
        divided by the segment factor; ``segment_factor`` that factor.
    routine : (n, 4) per customer, sums over routine events (site visits excluded) of
        ``(1, exponent on satisfaction, on advocacy, on propensity)``, and ``log_rates``
        the sum of their log base rates.
    routine_after_last : routine events after the last repeat purchase.
    complaints : complaints before the cut-off.
    polarity : (n, 3) post texts written negative, neutral, positive.
    """

    tau: np.ndarray
    x_before: np.ndarray
    x_after: np.ndarray
    t_last: np.ndarray
    last_after: np.ndarray
    switched: np.ndarray
    n_spend: np.ndarray
    spend_scaled: np.ndarray
    segment_factor: np.ndarray
    routine: np.ndarray
    log_rates: np.ndarray
    routine_after_last: np.ndarray
    complaints: np.ndarray
    polarity: np.ndarray


def _prior_draws(model: PlantedModel, n_draws: int, seed: int) -> dict[str, np.ndarray]:
    u = qmc.Sobol(d=4, scramble=True, seed=seed).random(n_draws)
    u = np.clip(u, 1e-12, 1 - 1e-12)
    p_base = np.clip(beta_dist.ppf(u[:, 0], model.a, model.b), 1e-9, 1 - 1e-9)
    sat, adv = norm.ppf(u[:, 1]), norm.ppf(u[:, 2])
    prop = gamma_dist.ppf(u[:, 3], 2.0, scale=0.5)
    kappa = np.exp(model.advocacy_effect * adv - model.advocacy_effect**2 / 2.0)
    p_pre = expit(logit(p_base) - model.sentiment_effect * sat)
    p_post = expit(logit(p_pre) - model.social_effect)
    log_prop = np.log(prop)
    # total engagement rate of the routine kinds, and of complaints, per draw
    k = model.kinds
    routine_rate = np.exp(k[:, :1] + np.outer(k[:, 1], sat) + np.outer(k[:, 2], adv)).T
    routine_rate = (routine_rate * np.exp(np.outer(log_prop, k[:, 3]))).sum(axis=1)
    c = model.complaint
    complaint_rate = np.exp(c[0] + c[1] * sat + c[2] * adv + c[3] * log_prop)
    # post polarity: +1 if s + 0.25 + N(0, 0.7^2) > 0.4, -1 if below -0.4
    log_neg = log_ndtr((-0.4 - 0.25 - sat) / 0.7)
    log_pos = log_ndtr((sat + 0.25 - 0.4) / 0.7)
    log_zero = np.log(np.clip(1.0 - np.exp(log_neg) - np.exp(log_pos), 1e-300, None))
    return {
        "kappa": kappa,
        "log_kappa": np.log(kappa),
        "p_pre": p_pre,
        "p_post": p_post,
        "phi": np.column_stack([np.zeros_like(sat), sat, adv, log_prop]),
        "routine_rate": routine_rate,
        "complaint_rate": complaint_rate,
        "log_polarity": np.column_stack([log_neg, log_zero, log_pos]),
    }


def _chunk(
    model: PlantedModel, h: ObservedHistory, d: dict[str, np.ndarray], rows: slice
) -> np.ndarray:
    """Posterior expected holdout purchases of the customers in ``rows``."""
    tau, t_last = h.tau[rows, None], h.t_last[rows, None]
    x1, x2 = h.x_before[rows, None], h.x_after[rows, None]
    x = x1 + x2
    kappa, log_kappa = d["kappa"][None, :], d["log_kappa"][None, :]
    log_s_pre, log_s_post = np.log1p(-d["p_pre"])[None, :], np.log1p(-d["p_post"])[None, :]
    r, alpha, delta = model.r, model.alpha, model.disengagement_effect

    # engagement and polarity: the same in both branches, up to the exposure after dropout
    common = h.routine[rows] @ d["phi"].T + h.log_rates[rows, None]
    common += _complaint_loglik(model, h, d, rows)
    common += h.polarity[rows] @ d["log_polarity"].T
    routine_rate = d["routine_rate"][None, :]

    # branch 1: alive at the cut-off
    log_alive = (
        common
        + x * log_kappa
        - (r + x) * np.log(alpha + kappa * tau)
        + x1 * log_s_pre
        + x2 * log_s_post
        - routine_rate * tau
    )
    # branch 2: left right after the last repeat purchase (only with one)
    last_after = h.last_after[rows, None]
    log_p_last = np.where(last_after, np.log(d["p_post"])[None, :], np.log(d["p_pre"])[None, :])
    x1d = x1 - (~last_after & (x > 0))
    x2d = x2 - (last_after & (x > 0))
    exposure = t_last + (1.0 - delta) * (tau - t_last)
    n_after = h.routine_after_last[rows, None]
    with np.errstate(divide="ignore"):
        thinned = n_after * np.log1p(-delta) if delta < 1 else np.where(n_after > 0, -np.inf, 0.0)
    log_dropped = (
        common
        + x * log_kappa
        - (r + x) * np.log(alpha + kappa * t_last)
        + x1d * log_s_pre
        + x2d * log_s_post
        + log_p_last
        - routine_rate * exposure
        + thinned
    )
    log_dropped = np.where(x > 0, log_dropped, -np.inf)

    top = np.maximum(log_alive.max(axis=1, keepdims=True), log_dropped.max(axis=1, keepdims=True))
    w_alive, w_dropped = np.exp(log_alive - top), np.exp(log_dropped - top)
    # expected purchases in the horizon of an alive customer, lambda_0 integrated out
    p_f = np.where(h.switched[rows, None], d["p_post"][None, :], d["p_pre"][None, :])
    a_post = alpha + kappa * tau
    ratio = np.log(a_post) - np.log(a_post + kappa * p_f * model.horizon)
    g = -np.expm1((r + x) * ratio) / p_f
    return (w_alive * g).sum(axis=1) / (w_alive.sum(axis=1) + w_dropped.sum(axis=1))


def _complaint_loglik(
    model: PlantedModel, h: ObservedHistory, d: dict[str, np.ndarray], rows: slice
) -> np.ndarray:
    """Poisson log-likelihood of the complaints (never thinned), up to a constant."""
    c = model.complaint
    log_rate = c[0] + d["phi"][:, 1:] @ c[1:]
    n = h.complaints[rows, None]
    with np.errstate(invalid="ignore"):  # no engagement at all: log rate -inf, no complaint
        counted = np.where(n > 0, n * log_rate[None, :], 0.0)
    return counted - h.tau[rows, None] * d["complaint_rate"][None, :]


def attainable_expectation(
    model: PlantedModel,
    history: ObservedHistory,
    *,
    n_draws: int = 2048,
    seed: int = 0,
    chunk: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior expected holdout purchases and mean spend of each customer.

    Parameters
    ----------
    model : PlantedModel
    history : ObservedHistory
    n_draws : int, default 2048
        Sobol points of the importance sampler (a power of two).
    seed : int, default 0
        Scrambling seed.
    chunk : int, default 256
        Customers per block (memory: ``chunk * n_draws`` floats per array).

    Returns
    -------
    (ndarray, ndarray)
        Expected purchases in the horizon and expected spend per purchase; their
        product is the attainable expected holdout revenue.
    """
    draws = _prior_draws(model, n_draws, seed)
    n = history.tau.size
    purchases = np.empty(n)
    for start in range(0, n, chunk):
        rows = slice(start, min(n, start + chunk))
        purchases[rows] = _chunk(model, history, draws, rows)
    spend = (
        model.p
        * history.segment_factor
        * (model.v + history.spend_scaled)
        / (model.q + model.p * history.n_spend - 1.0)
    )
    return purchases, spend


def observed_history(
    *,
    tau: np.ndarray,
    purchase_index: np.ndarray,
    purchase_time: np.ndarray,
    change_time: np.ndarray,
    spend_index: np.ndarray,
    spend_time: np.ndarray,
    amount: np.ndarray,
    segment_factor: np.ndarray,
    event_index: np.ndarray,
    event_time: np.ndarray,
    event_coef: np.ndarray,
    event_log_rate: np.ndarray,
    routine: np.ndarray,
    complaint: np.ndarray,
    polarity: np.ndarray,
) -> ObservedHistory:
    """Summarise the generator's arrays into each customer's :class:`ObservedHistory`.

    ``purchase_*``: repeat purchases (customer, time); ``spend_*`` and ``amount``: every
    purchase, the first included; ``event_*``: engagement events with, per event, the
    coefficients ``(1, exponent on satisfaction, on advocacy, on propensity)`` and log base
    rate of its kind, whether it is ``routine`` (a kind the oracle reads, thinned after the
    dropout) or a ``complaint``, and the ``polarity`` of a post (-1, 0, +1; any other value
    for events that are not posts). Only what happened up to each customer's ``tau``
    counts.
    """
    n = tau.size
    before = purchase_time <= tau[purchase_index]
    pi, pt = purchase_index[before], purchase_time[before]
    after = pt > change_time[pi]
    x_after = np.bincount(pi, weights=after, minlength=n)
    x_before = np.bincount(pi, minlength=n) - x_after
    t_last = np.zeros(n)
    np.maximum.at(t_last, pi, pt)
    last_after = t_last > change_time
    keep = spend_time <= tau[spend_index]
    si = spend_index[keep]
    n_spend = np.bincount(si, minlength=n).astype(float)
    spend_scaled = np.bincount(si, weights=amount[keep] / segment_factor[si], minlength=n)

    seen = event_time <= tau[event_index]
    ei, et = event_index[seen], event_time[seen]
    rt = routine[seen]
    coef = event_coef[seen]
    sums = np.column_stack(
        [np.bincount(ei[rt], weights=coef[rt, j], minlength=n) for j in range(coef.shape[1])]
    )
    log_rates = np.bincount(ei[rt], weights=event_log_rate[seen][rt], minlength=n)
    after_last = np.bincount(ei[rt & (et > t_last[ei])], minlength=n).astype(float)
    complaints = np.bincount(ei[complaint[seen]], minlength=n).astype(float)
    pol = polarity[seen]
    counts = np.column_stack([np.bincount(ei[pol == v], minlength=n) for v in (-1, 0, 1)]).astype(
        float
    )
    return ObservedHistory(
        tau=tau,
        x_before=x_before.astype(float),
        x_after=x_after.astype(float),
        t_last=t_last,
        last_after=last_after,
        switched=np.isfinite(change_time) & (change_time < tau),
        n_spend=n_spend,
        spend_scaled=spend_scaled,
        segment_factor=segment_factor,
        routine=sums,
        log_rates=log_rates,
        routine_after_last=after_last,
        complaints=complaints,
        polarity=counts,
    )
