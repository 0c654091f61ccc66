"""Vectorised simulators of the buy-till-you-die (BTYD) processes.

Each simulator draws the latent customer parameters from the model's mixing
distributions and then the observable purchase history, with numpy only (no
Python loop over customers or purchases), so a million customers take about a
second. They serve as the planted truth for parameter-recovery tests, for the
synthetic social-commerce data (:mod:`clvml.data.synthetic`) and for
benchmarks. The functions are independent of each other; new simulators (for
example Pareto/NBD) can be added beside them.

Time is measured from each customer's first purchase (time 0), in whatever
unit the rate parameters use (weeks for the CDNOW-style parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clvml._deprecated import renamed_kwarg

__all__ = [
    "Simulation",
    "bgnbd_process",
    "simulate_beta_geo_beta",
    "simulate_bgnbd",
    "simulate_gamma_gamma",
    "simulate_mbgnbd",
    "simulate_pareto_nbd",
]

SeedLike = int | np.random.Generator | None


@dataclass(frozen=True)
class Simulation:
    """Result of a simulator.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per customer, indexed by ``customer_id`` (0, 1, ...); the
        observable summary columns plus the latent parameters.
    transactions : pandas.DataFrame or None
        The flat log (one row per purchase) when requested, else ``None``.
    """

    summary: pd.DataFrame
    transactions: pd.DataFrame | None = None


def _rng(seed: SeedLike) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _check_positive(**params: float) -> None:
    for name, value in params.items():
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _check_n(n: int) -> None:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")


def _horizons(T: float | np.ndarray, n: int) -> np.ndarray:
    """``T`` broadcast to one (writable) entry per customer, each finite and >= 0."""
    T_arr = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    if np.any(~np.isfinite(T_arr)) or np.any(T_arr < 0):
        raise ValueError("T must be finite and >= 0")
    return T_arr


def _bgnbd_phase(
    lam: np.ndarray, p: np.ndarray, length: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One stretch of the BG/NBD process for customers alive at its start.

    Purchases arrive as a Poisson process of rate ``lam``; after each purchase
    the customer drops out with probability ``p``. Over a stretch of ``length``
    the number of Poisson arrivals is ``N ~ Poisson(lam * length)`` and the
    purchase at which the customer leaves is ``J ~ Geometric(p)`` (support
    1, 2, ...), independent of ``N``. The customer drops out inside the stretch
    iff ``J <= N``; the purchases made are ``min(J, N)``. The time of the last
    of them is the ``k``-th order statistic of ``N`` uniforms on the stretch,
    ``length * Beta(k, N - k + 1)`` (with ``k = N``: the maximum, ``Beta(N, 1)``).

    Returns
    -------
    count, last, dropped
        Purchases in the stretch, time of the last one since the stretch start
        (0 when none), and whether the customer dropped out at that purchase.
    """
    n_arrivals = rng.poisson(lam * length)
    j = rng.geometric(p)
    dropped = j <= n_arrivals
    count = np.where(dropped, j, n_arrivals)
    a = np.maximum(count, 1)
    b = np.where(dropped, n_arrivals - j + 1, 1)
    last = np.where(count > 0, length * rng.beta(a, b), 0.0)
    return count, last, dropped


def _times_before(
    count: np.ndarray, last: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Flat purchase times given per-customer counts and the last time.

    Given the last of ``count`` purchases at ``last``, the other ``count - 1``
    are i.i.d. uniform on ``(0, last)`` (order statistics of a Poisson process).
    They are drawn already sorted, without a sort: with ``S_j`` the partial
    sums of ``count`` standard exponentials, ``S_j / S_count`` (j < count) are
    the order statistics of ``count - 1`` uniforms, and ``j = count`` gives
    exactly ``last``. Returns the customer index (grouped, ascending) and the
    time of each purchase (ascending within each customer).
    """
    idx = np.repeat(np.arange(count.size), count)
    if idx.size == 0:
        return idx, np.zeros(0)
    csum = np.cumsum(rng.standard_exponential(idx.size))
    ends = np.cumsum(count) - 1
    base = np.concatenate([[0.0], csum])[ends + 1 - count]  # partial sum before each group
    total = csum[ends] - base
    t = (csum - base[idx]) / total[idx] * last[idx]
    return idx, t


def _concat_by_customer(
    n: int, parts: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate per-customer grouped event lists, customer by customer, without sorting.

    Each part is ``(idx, t)`` with ``idx`` grouped in ascending order; within a
    customer the rows of part 0 come first, then part 1, and so on.
    """
    counts = [np.bincount(idx, minlength=n) for idx, _ in parts]
    total = np.sum(counts, axis=0)
    start = np.cumsum(total) - total
    out_idx = np.repeat(np.arange(n), total)
    out_t = np.empty(out_idx.size)
    offset = np.zeros(n, dtype=np.int64)
    for (idx, t), count in zip(parts, counts, strict=True):
        rank = np.arange(idx.size) - (np.cumsum(count) - count)[idx]
        out_t[start[idx] + offset[idx] + rank] = t
        offset += count
    return out_idx, out_t


def bgnbd_process(
    lam: np.ndarray,
    p: np.ndarray,
    T: np.ndarray,
    random_state: SeedLike = None,
    *,
    seed: SeedLike = None,
    change_time: np.ndarray | None = None,
    p_after: np.ndarray | None = None,
    purchase_times: bool = False,
) -> dict[str, np.ndarray]:
    """Simulate the individual-level BG/NBD process for given latent parameters.

    Customer ``i`` buys at time 0, then as a Poisson process of rate
    ``lam[i]``; after every repeat purchase they become inactive with
    probability ``p[i]`` (Fader, Hardie & Lee 2005). Optionally the dropout
    probability switches to ``p_after[i]`` at ``change_time[i]`` (for example
    after a helpful reply from the care team); by memorylessness the process
    simply restarts there with the new probability.

    Parameters
    ----------
    lam, p : numpy.ndarray
        Purchase rate (> 0) and dropout probability (in (0, 1]) per customer.
    T : numpy.ndarray
        Observation length per customer (time since the first purchase).
    random_state : int or numpy.random.Generator, optional
        Random seed or generator.
    seed : int or numpy.random.Generator, optional
        Deprecated spelling of ``random_state``.
    change_time, p_after : numpy.ndarray, optional
        Time since the first purchase at which ``p`` switches to ``p_after``
        (``inf`` or beyond ``T`` for no switch within the observation).
    purchase_times : bool, default False
        Also return the time of every purchase.

    Returns
    -------
    dict of numpy.ndarray
        ``frequency`` (repeat purchases in ``(0, T]``), ``recency`` (time of
        the last purchase, 0 if none), ``dropout_time`` (time of the purchase
        after which the customer left; beyond ``T`` for customers still alive
        at ``T``, drawn from the same process; ``inf`` only if ``lam`` is 0),
        ``alive`` (still active at ``T``), ``p_final`` (the dropout
        probability in force at ``T``) and, with ``purchase_times``,
        ``customer_index`` and ``time`` of each repeat purchase, sorted by
        customer and time (the time-0 purchase is not included).
    """
    rng = _rng(renamed_kwarg("bgnbd_process", "seed", "random_state", seed, random_state, None))
    lam = np.asarray(lam, dtype=float)
    p = np.asarray(p, dtype=float)
    T = np.broadcast_to(np.asarray(T, dtype=float), lam.shape)
    if change_time is None:
        change = np.full(lam.shape, np.inf)
        p2 = p
    else:
        change = np.broadcast_to(np.asarray(change_time, dtype=float), lam.shape)
        p2 = np.asarray(p_after if p_after is not None else p, dtype=float)
    c = np.clip(change, 0.0, T)

    count1, last1, dropped1 = _bgnbd_phase(lam, p, c, rng)
    # Second stretch (c, T] for those alive at c; zero length when there is no switch.
    length2 = np.where(dropped1, 0.0, T - c)
    count2, last2, dropped2 = _bgnbd_phase(lam, p2, length2, rng)
    dropped = dropped1 | dropped2
    frequency = count1 + count2
    recency = np.where(count2 > 0, c + last2, last1)
    p_final = np.where(change < T, p2, p)

    # Customers alive at T leave at the J-th future purchase: a Gamma(J, lam) wait.
    j_future = rng.geometric(p_final)
    with np.errstate(divide="ignore"):
        scale = np.where(lam > 0, 1.0 / np.where(lam > 0, lam, 1.0), np.inf)
    wait = np.where(lam > 0, rng.gamma(j_future, np.where(lam > 0, scale, 1.0)), np.inf)
    dropout_time = np.where(dropped, recency, T + wait)

    out = {
        "frequency": frequency.astype(np.int64),
        "recency": recency,
        "dropout_time": dropout_time,
        "alive": ~dropped,
        "p_final": p_final,
    }
    if purchase_times:
        idx1, t1 = _times_before(count1, last1, rng)
        idx2, t2 = _times_before(count2, last2, rng)
        # Second-stretch purchases all follow the first stretch's: no sort needed.
        idx, t = _concat_by_customer(lam.size, [(idx1, t1), (idx2, t2 + c[idx2])])
        out["customer_index"] = idx
        out["time"] = t
    return out


def simulate_bgnbd(
    n: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: float | np.ndarray,
    random_state: SeedLike = None,
    *,
    seed: SeedLike = None,
    transactions: bool = False,
) -> Simulation:
    r"""Simulate customers from the BG/NBD model.

    .. math::

        \lambda_i \sim \mathrm{Gamma}(r, \text{rate}=\alpha), \quad
        p_i \sim \mathrm{Beta}(a, b),

    then purchases as a Poisson process of rate :math:`\lambda_i` from the
    first purchase at time 0, with dropout with probability :math:`p_i` after
    each repeat purchase (Fader, Hardie & Lee 2005, "Counting your customers
    the easy way", Marketing Science 24(2)). The population mean number of
    repeat purchases in :math:`(0, t]` is their equation (9),

    .. math::

        E[X(t)] = \frac{a + b - 1}{a - 1}\left[1 - \left(\frac{\alpha}{\alpha + t}
        \right)^{r} {}_2F_1\left(r, b; a + b - 1; \frac{t}{\alpha + t}\right)\right].

    Parameters
    ----------
    n : int
        Number of customers.
    r, alpha, a, b : float
        BG/NBD parameters (rate ``alpha`` in the time unit of ``T``).
    T : float or array of length n
        Observation length per customer since their first purchase.
    random_state : int or numpy.random.Generator, optional
        Random seed or generator; the same seed gives the same customers.
    seed : int or numpy.random.Generator, optional
        Deprecated spelling of ``random_state``.
    transactions : bool, default False
        Also return the purchase log.

    Returns
    -------
    Simulation
        ``summary`` indexed by ``customer_id`` with ``frequency``, ``recency``,
        ``T`` (the lifetimes layout) and the latent ``lambda``, ``p``,
        ``dropout_time`` (time since the first purchase of the purchase after
        which the customer left, possibly beyond ``T``) and ``alive`` (at
        ``T``). With ``transactions=True``, ``transactions`` has one row per
        purchase, ``customer_id`` and ``t`` (time since the first purchase),
        including the first purchase at ``t = 0``.

    Examples
    --------
    >>> sim = simulate_bgnbd(1000, r=0.243, alpha=4.414, a=0.793, b=2.426, T=39, random_state=1)
    >>> list(sim.summary.columns)
    ['frequency', 'recency', 'T', 'lambda', 'p', 'dropout_time', 'alive']
    >>> bool((sim.summary["recency"] <= sim.summary["T"]).all())
    True
    """
    _check_positive(r=r, alpha=alpha, a=a, b=b)
    _check_n(n)
    rng = _rng(renamed_kwarg("simulate_bgnbd", "seed", "random_state", seed, random_state, None))
    T_arr = _horizons(T, n)
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    res = bgnbd_process(lam, p, T_arr, rng, purchase_times=transactions)
    index = pd.RangeIndex(n, name="customer_id")
    summary = pd.DataFrame(
        {
            "frequency": res["frequency"],
            "recency": res["recency"],
            "T": T_arr,
            "lambda": lam,
            "p": p,
            "dropout_time": res["dropout_time"],
            "alive": res["alive"],
        },
        index=index,
    )
    log = None
    if transactions:
        idx, t = _concat_by_customer(
            n, [(np.arange(n), np.zeros(n)), (res["customer_index"], res["time"])]
        )
        log = pd.DataFrame({"customer_id": idx, "t": t})
    return Simulation(summary=summary, transactions=log)


def simulate_gamma_gamma(
    frequency: int | np.ndarray,
    p: float,
    q: float,
    v: float,
    random_state: SeedLike = None,
    *,
    seed: SeedLike = None,
    transactions: bool = False,
) -> Simulation:
    r"""Simulate spend per transaction from the Gamma-Gamma model.

    .. math::

        \nu_i \sim \mathrm{Gamma}(q, \text{rate}=v), \quad
        z_{ij} \mid \nu_i \sim \mathrm{Gamma}(p, \text{rate}=\nu_i),

    so the customer's mean spend is :math:`E[Z_i] = p / \nu_i` and the
    population mean is :math:`p v / (q - 1)` for :math:`q > 1` (Fader, Hardie
    & Lee 2005, "RFM and CLV: using iso-value curves", JMR 42(4)).

    Parameters
    ----------
    frequency : int or array of int
        Number of transactions per customer; an int ``n`` means ``n``
        customers with one transaction each.
    p, q, v : float
        Gamma-Gamma parameters.
    random_state : int or numpy.random.Generator, optional
        Random seed or generator.
    seed : int or numpy.random.Generator, optional
        Deprecated spelling of ``random_state``.
    transactions : bool, default False
        Also return every amount.

    Returns
    -------
    Simulation
        ``summary`` indexed by ``customer_id`` with ``frequency``,
        ``monetary_value`` (mean of the drawn amounts, 0 when there are none,
        as in lifetimes), the latent ``nu`` and ``mean_spend`` (``p / nu``);
        with ``transactions=True`` a log with ``customer_id`` and ``amount``.

    Examples
    --------
    >>> sim = simulate_gamma_gamma(np.array([1, 3, 0]), p=6.25, q=3.74, v=15.44, random_state=0)
    >>> sim.summary["frequency"].tolist()
    [1, 3, 0]
    """
    _check_positive(p=p, q=q, v=v)
    rng = _rng(
        renamed_kwarg("simulate_gamma_gamma", "seed", "random_state", seed, random_state, None)
    )
    if np.ndim(frequency) == 0:
        counts = np.ones(int(frequency), dtype=np.int64)
    else:
        counts = np.asarray(frequency, dtype=np.int64)
    if np.any(counts < 0):
        raise ValueError("frequency must be >= 0")
    n = counts.size
    nu = rng.gamma(q, 1.0 / v, size=n)
    idx = np.repeat(np.arange(n), counts)
    amount = rng.gamma(p, 1.0 / nu[idx])
    totals = np.bincount(idx, weights=amount, minlength=n)
    monetary = np.divide(totals, counts, out=np.zeros(n), where=counts > 0)
    summary = pd.DataFrame(
        {"frequency": counts, "monetary_value": monetary, "nu": nu, "mean_spend": p / nu},
        index=pd.RangeIndex(n, name="customer_id"),
    )
    log = pd.DataFrame({"customer_id": idx, "amount": amount}) if transactions else None
    return Simulation(summary=summary, transactions=log)


def simulate_mbgnbd(
    n: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: float | np.ndarray,
    random_state: SeedLike = None,
    *,
    seed: SeedLike = None,
) -> Simulation:
    r"""Simulate customers from the MBG/NBD model (Batislam, Denizel & Filiztekin 2007).

    As :func:`simulate_bgnbd`, except that a customer can also drop out right after
    the first purchase (at time 0) with the same probability :math:`p_i`; after that
    the BG/NBD process (:func:`bgnbd_process`) runs.

    Parameters
    ----------
    n : int
        Number of customers.
    r, alpha, a, b : float
        MBG/NBD parameters (rate ``alpha`` in the time unit of ``T``).
    T : float or array of length n
        Observation length per customer since their first purchase.
    random_state : int or numpy.random.Generator, optional
        Random seed or generator.
    seed : int or numpy.random.Generator, optional
        Deprecated spelling of ``random_state``.

    Returns
    -------
    Simulation
        ``summary`` indexed by ``customer_id`` with ``frequency``, ``recency``, ``T``,
        the latent ``lambda`` and ``p``, and ``alive`` (at ``T``).

    Examples
    --------
    >>> sim = simulate_mbgnbd(1000, r=0.525, alpha=6.18, a=0.891, b=1.614, T=39, random_state=1)
    >>> bool((sim.summary["recency"] <= sim.summary["T"]).all())
    True
    """
    _check_positive(r=r, alpha=alpha, a=a, b=b)
    _check_n(n)
    rng = _rng(renamed_kwarg("simulate_mbgnbd", "seed", "random_state", seed, random_state, None))
    T_arr = _horizons(T, n)
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    gone_at_start = rng.random(n) < p
    stay = ~gone_at_start
    frequency = np.zeros(n, dtype=np.int64)
    recency = np.zeros(n)
    alive = np.zeros(n, dtype=bool)
    res = bgnbd_process(lam[stay], p[stay], T_arr[stay], rng)
    frequency[stay] = res["frequency"]
    recency[stay] = res["recency"]
    alive[stay] = res["alive"]
    summary = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": recency,
            "T": T_arr,
            "lambda": lam,
            "p": p,
            "alive": alive,
        },
        index=pd.RangeIndex(n, name="customer_id"),
    )
    return Simulation(summary=summary)


# --------------------------------------------------------------------------- with covariates
def _covariate_effects(
    covariates: pd.DataFrame, coefficients: dict[str, float] | None, what: str
) -> np.ndarray:
    """``covariates @ coefficients`` (coefficients by column name; absent names are 0)."""
    coefs = dict(coefficients or {})
    unknown = sorted(set(coefs) - set(map(str, covariates.columns)))
    if unknown:
        raise ValueError(f"{what} coefficients name unknown covariates {unknown}")
    eta = np.zeros(len(covariates))
    for name, g in coefs.items():
        values = covariates[name].to_numpy(dtype=float)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"covariate {name!r} has non-finite values")
        eta += float(g) * values
    return eta


def simulate_bgnbd_covariates(
    covariates: pd.DataFrame,
    r: float,
    alpha0: float,
    a0: float,
    b0: float,
    T: float | np.ndarray,
    random_state: SeedLike = None,
    *,
    seed: SeedLike = None,
    coefficients: dict[str, dict[str, float]] | None = None,
) -> Simulation:
    r"""Simulate BG/NBD customers whose parameters depend on static covariates.

    With covariates :math:`x_i` (one row of ``covariates`` per customer),

    .. math::

        \lambda_i \sim \mathrm{Gamma}(r, \text{rate}=\alpha_0 e^{-\gamma_\alpha^\top x_i}),
        \quad p_i \sim \mathrm{Beta}(a_0 e^{\gamma_a^\top x_i}, b_0 e^{\gamma_b^\top x_i}),

    then the BG/NBD purchase process (:func:`bgnbd_process`), as in Fader & Hardie's
    note 019 ("Incorporating time-invariant covariates into the Pareto/NBD and BG/NBD
    models", 2007). A positive ``alpha`` coefficient raises purchasing, a positive ``a``
    coefficient raises dropout, a positive ``b`` coefficient lowers it.

    Parameters
    ----------
    covariates : pandas.DataFrame
        Numeric covariates, one row per customer (its length is the number of customers).
    r, alpha0, a0, b0 : float
        Baseline parameters (the values at covariates 0; ``alpha0`` in the unit of ``T``).
    T : float or array
        Observation length per customer.
    random_state : int or numpy.random.Generator, optional
        Random seed or generator.
    seed : int or numpy.random.Generator, optional
        Deprecated spelling of ``random_state``.
    coefficients : dict, optional
        ``{"alpha": {column: gamma}, "a": {...}, "b": {...}}``; absent entries are 0.

    Returns
    -------
    Simulation
        ``summary`` indexed by ``customer_id`` with ``frequency``, ``recency``, ``T``, the
        covariate columns, the individual ``alpha``, ``a``, ``b``, the latent ``lambda``
        and ``p``, and ``alive`` (at ``T``).

    Examples
    --------
    >>> z = pd.DataFrame({"x1": np.random.default_rng(0).normal(size=1000)})
    >>> sim = simulate_bgnbd_covariates(z, 0.6, 8.0, 1.2, 4.0, T=52, random_state=1,
    ...                                 coefficients={"alpha": {"x1": 0.5}, "b": {"x1": 0.3}})
    >>> sim.summary.columns[:4].tolist()
    ['frequency', 'recency', 'T', 'x1']
    """
    _check_positive(r=r, alpha0=alpha0, a0=a0, b0=b0)
    coefs = dict(coefficients or {})
    unknown = sorted(set(coefs) - {"alpha", "a", "b"})
    if unknown:
        raise ValueError(f"coefficients has unknown keys {unknown}; expected 'alpha', 'a', 'b'")
    n = len(covariates)
    rng = _rng(
        renamed_kwarg("simulate_bgnbd_covariates", "seed", "random_state", seed, random_state, None)
    )
    T_arr = _horizons(T, n)
    alpha = alpha0 * np.exp(-_covariate_effects(covariates, coefs.get("alpha"), "alpha"))
    a = a0 * np.exp(_covariate_effects(covariates, coefs.get("a"), "a"))
    b = b0 * np.exp(_covariate_effects(covariates, coefs.get("b"), "b"))
    lam = rng.gamma(r, 1.0 / alpha)
    p = rng.beta(a, b)
    res = bgnbd_process(lam, p, T_arr, rng)
    summary = pd.DataFrame(
        {"frequency": res["frequency"], "recency": res["recency"], "T": T_arr},
        index=pd.RangeIndex(n, name="customer_id"),
    )
    for col in covariates.columns:
        summary[str(col)] = covariates[col].to_numpy()
    latent = {"alpha": alpha, "a": a, "b": b, "lambda": lam, "p": p, "alive": res["alive"]}
    for name, values in latent.items():
        summary[name] = values
    return Simulation(summary=summary)


def simulate_gamma_gamma_covariates(
    frequency: np.ndarray,
    covariates: pd.DataFrame,
    p: float,
    q: float,
    v0: float,
    random_state: SeedLike = None,
    *,
    seed: SeedLike = None,
    coefficients: dict[str, float] | None = None,
) -> Simulation:
    r"""Simulate Gamma-Gamma spend whose scale depends on static covariates.

    .. math::

        \nu_i \sim \mathrm{Gamma}(q, \text{rate}=v_0 e^{\gamma_v^\top x_i}), \quad
        z_{ij} \mid \nu_i \sim \mathrm{Gamma}(p, \text{rate}=\nu_i),

    so a customer's expected spend per transaction is :math:`p v_0 e^{\gamma_v^\top x_i} /
    (q - 1)`: a positive coefficient raises spend.

    Parameters
    ----------
    frequency : array of int
        Transactions per customer (same length as ``covariates``).
    covariates : pandas.DataFrame
        Numeric covariates, one row per customer.
    p, q, v0 : float
        Baseline parameters (``v0`` at covariates 0).
    random_state : int or numpy.random.Generator, optional
        Random seed or generator.
    seed : int or numpy.random.Generator, optional
        Deprecated spelling of ``random_state``.
    coefficients : dict, optional
        ``{column: gamma_v}``; absent columns have 0.

    Returns
    -------
    Simulation
        ``summary`` indexed by ``customer_id`` with ``frequency``, ``monetary_value`` (0
        without transactions), the covariate columns, the individual ``v``, the latent
        ``nu`` and ``mean_spend`` (``p / nu``).

    Examples
    --------
    >>> z = pd.DataFrame({"vip": [0.0, 1.0, 1.0]})
    >>> sim = simulate_gamma_gamma_covariates(np.array([2, 1, 0]), z, 6.0, 4.0, 15.0,
    ...                                       random_state=0, coefficients={"vip": 0.5})
    >>> sim.summary["frequency"].tolist()
    [2, 1, 0]
    """
    _check_positive(p=p, q=q, v0=v0)
    counts = np.asarray(frequency, dtype=np.int64)
    if counts.shape != (len(covariates),):
        raise ValueError("frequency must hold one count per row of covariates")
    if np.any(counts < 0):
        raise ValueError("frequency must be >= 0")
    rng = _rng(
        renamed_kwarg(
            "simulate_gamma_gamma_covariates", "seed", "random_state", seed, random_state, None
        )
    )
    n = counts.size
    v = v0 * np.exp(_covariate_effects(covariates, coefficients, "v"))
    nu = rng.gamma(q, 1.0 / v)
    idx = np.repeat(np.arange(n), counts)
    amount = rng.gamma(p, 1.0 / nu[idx])
    totals = np.bincount(idx, weights=amount, minlength=n)
    monetary = np.divide(totals, counts, out=np.zeros(n), where=counts > 0)
    summary = pd.DataFrame(
        {"frequency": counts, "monetary_value": monetary},
        index=pd.RangeIndex(n, name="customer_id"),
    )
    for col in covariates.columns:
        summary[str(col)] = covariates[col].to_numpy()
    summary["v"] = v
    summary["nu"] = nu
    summary["mean_spend"] = p / nu
    return Simulation(summary=summary)


__all__ += ["simulate_bgnbd_covariates", "simulate_gamma_gamma_covariates"]


def simulate_pareto_nbd(
    n: int,
    r: float,
    alpha: float,
    s: float,
    beta: float,
    T: float | np.ndarray,
    random_state: SeedLike = None,
    *,
    seed: SeedLike = None,
    transactions: bool = False,
) -> Simulation:
    r"""Simulate customers from the Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).

    .. math::

        \lambda_i \sim \mathrm{Gamma}(r, \text{rate}=\alpha), \quad
        \mu_i \sim \mathrm{Gamma}(s, \text{rate}=\beta), \quad
        \tau_i \sim \mathrm{Exponential}(\mu_i),

    then repeat purchases as a Poisson process of rate :math:`\lambda_i` on
    :math:`(0, \min(\tau_i, T_i)]`. Given their number, the purchase times are
    i.i.d. uniform on that window, so the recency is the window times the
    maximum of ``frequency`` uniforms. The population mean of repeat purchases
    in :math:`(0, t]` is :math:`\frac{r\beta}{\alpha(s-1)}[1 - (\beta/(\beta+t))^{s-1}]`.

    Parameters
    ----------
    n : int
        Number of customers.
    r, alpha, s, beta : float
        Pareto/NBD parameters (rates ``alpha`` and ``beta`` in the time unit of ``T``).
    T : float or array of length n
        Observation length per customer since their first purchase.
    random_state : int or numpy.random.Generator, optional
        Random seed or generator; the same seed gives the same customers.
    seed : int or numpy.random.Generator, optional
        Deprecated spelling of ``random_state``.
    transactions : bool, default False
        Also return the purchase log (``customer_id``, ``t``), first purchase at 0.

    Returns
    -------
    Simulation
        ``summary`` indexed by ``customer_id`` with ``frequency``, ``recency``, ``T``
        and the latent ``lambda``, ``mu``, ``lifetime`` and ``alive`` (at ``T``).

    Examples
    --------
    >>> sim = simulate_pareto_nbd(1000, r=0.553, alpha=10.578, s=0.606, beta=11.669, T=39,
    ...                           random_state=1)
    >>> bool((sim.summary["recency"] <= sim.summary["T"]).all())
    True
    """
    _check_positive(r=r, alpha=alpha, s=s, beta=beta)
    _check_n(n)
    rng = _rng(
        renamed_kwarg("simulate_pareto_nbd", "seed", "random_state", seed, random_state, None)
    )
    T_arr = _horizons(T, n)
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    mu = rng.gamma(s, 1.0 / beta, size=n)
    lifetime = rng.exponential(1.0, size=n) / mu
    window = np.minimum(lifetime, T_arr)
    frequency = rng.poisson(lam * window)
    with np.errstate(divide="ignore"):
        u_max = rng.random(n) ** (1.0 / np.maximum(frequency, 1))
    recency = np.where(frequency > 0, window * u_max, 0.0)
    summary = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": recency,
            "T": T_arr,
            "lambda": lam,
            "mu": mu,
            "lifetime": lifetime,
            "alive": lifetime > T_arr,
        },
        index=pd.RangeIndex(n, name="customer_id"),
    )
    log = None
    if transactions:
        idx, t = _times_before(frequency, recency, rng)
        idx = np.concatenate([np.arange(n), idx])
        t = np.concatenate([np.zeros(n), t])
        order = np.lexsort((t, idx))
        log = pd.DataFrame({"customer_id": idx[order], "t": t[order]})
    return Simulation(summary=summary, transactions=log)


def simulate_beta_geo_beta(
    n: int,
    alpha: float,
    beta: float,
    gamma: float,
    delta: float,
    n_periods: int | np.ndarray,
    random_state: SeedLike = None,
    *,
    seed: SeedLike = None,
) -> Simulation:
    r"""Simulate customers from the BG/BB model (Fader, Hardie & Shang 2010).

    .. math::

        p_i \sim \mathrm{Beta}(\alpha, \beta), \quad \theta_i \sim \mathrm{Beta}(\gamma, \delta);

    at each of ``n_periods`` discrete opportunities after the first purchase a
    customer alive at its start dies with probability :math:`\theta_i` and
    otherwise buys with probability :math:`p_i`. The number of opportunities
    alive is geometric, so nothing loops over periods or customers.

    Parameters
    ----------
    n : int
        Number of customers.
    alpha, beta, gamma, delta : float
        BG/BB parameters.
    n_periods : int or array of length n
        Transaction opportunities observed per customer.
    random_state : int or numpy.random.Generator, optional
        Random seed or generator.
    seed : int or numpy.random.Generator, optional
        Deprecated spelling of ``random_state``.

    Returns
    -------
    Simulation
        ``summary`` indexed by ``customer_id`` with ``frequency`` (opportunities
        with a purchase), ``recency`` (the last such opportunity, 0 if none),
        ``n_periods`` and the latent ``p``, ``theta`` and ``alive`` (at the last
        opportunity).

    Examples
    --------
    >>> sim = simulate_beta_geo_beta(1000, 1.204, 0.750, 0.657, 2.783, n_periods=6, random_state=1)
    >>> bool((sim.summary["frequency"] <= sim.summary["recency"]).all())
    True
    """
    _check_positive(alpha=alpha, beta=beta, gamma=gamma, delta=delta)
    _check_n(n)
    rng = _rng(
        renamed_kwarg("simulate_beta_geo_beta", "seed", "random_state", seed, random_state, None)
    )
    periods = np.broadcast_to(np.asarray(n_periods), (n,)).astype(np.int64)
    if np.any(periods < 0):
        raise ValueError("n_periods must be >= 0")
    p = rng.beta(alpha, beta, size=n)
    theta = rng.beta(gamma, delta, size=n)
    # opportunities survived: dies at the start of opportunity k with prob theta (geometric)
    alive_for = np.minimum(rng.geometric(np.clip(theta, 1e-300, 1.0)) - 1, periods)
    frequency = rng.binomial(alive_for, p)
    # recency: the last of `frequency` distinct opportunities among 1..alive_for chosen
    # uniformly; its distribution is that of the maximum of a uniform random subset.
    u = rng.random(n)
    k, m = frequency.astype(float), alive_for.astype(float)
    # P(max <= j) = C(j, k) / C(m, k); invert by searching j from m downwards in log space
    recency = _max_of_subset(k, m, u)
    summary = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": recency,
            "n_periods": periods,
            "p": p,
            "theta": theta,
            "alive": alive_for == periods,
        },
        index=pd.RangeIndex(n, name="customer_id"),
    )
    return Simulation(summary=summary)


def _max_of_subset(k: np.ndarray, m: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Maximum of a uniformly random ``k``-subset of {1..m}, by inverting its CDF.

    ``P(max <= j) = C(j, k) / C(m, k)``; the smallest ``j >= k`` with CDF >= ``u``
    is found by bisection on ``j`` (vectorised; 0 where ``k == 0``).
    """
    from scipy.special import gammaln

    def log_cdf(j: np.ndarray) -> np.ndarray:
        return gammaln(j + 1) - gammaln(j - k + 1) - gammaln(m + 1) + gammaln(m - k + 1)

    lo = k.copy()  # CDF(k - 1) = 0 < u, answer in [k, m]
    hi = m.copy()
    log_u = np.log(u)
    while np.any(hi > lo):
        mid = np.floor((lo + hi) / 2)
        ok = log_cdf(mid) >= log_u
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid + 1)
    return np.where(k > 0, lo, 0).astype(np.int64)
