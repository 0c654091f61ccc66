"""The optimiser of the BTYD fits: L-BFGS-B in log-parameters, Newton polish, checks.

Pure functions of an objective ``fg(theta) -> (value, gradient)`` (the weighted mean
negative log-likelihood plus penalty, in log-parameters), shared by
:class:`~clvml.models.btyd.base.BTYDModel` and the covariate models:

* :func:`minimise` runs L-BFGS-B with bounds ``|theta| <= LOG_BOUND``, raises
  :class:`~clvml.exceptions.ConvergenceError` at a non-finite optimum, then polishes
  with up to three Newton steps on the finite-difference Hessian (:func:`hessian`);
* :func:`check_convergence` decides convergence (every gradient component below
  ``GRAD_TOL``, parameters on a bound left out) and raises the two
  :class:`~clvml.exceptions.ConvergenceWarning` s: a parameter on its bound, or an
  optimiser that stopped early;
* :func:`inverse_information` inverts the observed information (pseudo-inverse with a
  warning when it is singular).

Fitting conventions
-------------------
The objective is the weighted mean negative log-likelihood on the rescaled data
plus ``penalizer * sum(params**2)`` on the rescaled natural parameters (the same
convention as ``lifetimes``, which also rescales max(T) to 1). It is minimised over
``theta = log(params)`` with L-BFGS-B (bounds ``|theta| <= 25``) and the analytic
gradient (central differences of the objective when the model declares none), then
polished with up to three Newton steps on the finite-difference Hessian. A model with a
one-pass value, gradient and exact Hessian (Pareto/NBD) is instead minimised by damped
Newton (:func:`newton`) from the same start, L-BFGS-B only when Newton fails. It counts as
converged when every component of the gradient of the mean objective is below 1e-6;
otherwise, or when a parameter sits on a bound, a ``ConvergenceWarning`` says what to
try next, and a non-finite optimum raises ``ConvergenceError``. ``log_likelihood_``
is re-evaluated on the original data in its own time unit, so it is comparable
with the papers. The covariance is the inverse observed information of the total
(penalised) negative log-likelihood in ``theta``, mapped to natural parameters by
the delta method, ``Cov(p) = diag(p) Cov(theta) diag(p)``; confidence intervals
are ``exp(theta +- z * se(theta))`` (always positive).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from clvml.exceptions import ConvergenceError, ConvergenceWarning

__all__ = [
    "GRAD_TOL",
    "LOG_BOUND",
    "central_gradient",
    "check_convergence",
    "hessian",
    "information_is_singular",
    "inverse_information",
    "log_hessian",
    "log_normal_summary",
    "log_objective",
    "log_objective_newton",
    "minimise",
    "newton",
]

Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]
ObjectiveH = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]

LOG_BOUND = 25.0  # |log(param)| <= 25 on the rescaled data: params in [1.4e-11, 7.2e10]
GRAD_TOL = 1e-6  # max |gradient| of the mean objective accepted as converged


def minimise(
    fg: Objective,
    theta0: np.ndarray,
    *,
    max_iter: int,
    owner: str,
    analytic: bool,
    hess_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    newton_first: bool = False,
) -> tuple[np.ndarray, float, np.ndarray, Any]:
    """L-BFGS-B in log-parameters, then Newton polish; returns theta, f, Hessian, result.

    ``analytic`` says whether ``fg``'s gradient is analytic (the Hessian then takes
    central differences of it) or itself a finite difference (second differences of
    the value). ``hess_fn(theta)``, when given, is the exact Hessian of the objective
    and replaces the finite differences; with ``newton_first`` (a start near the
    optimum, e.g. from a subsample) damped Newton steps are tried before L-BFGS-B.
    """
    if hess_fn is not None and newton_first:
        found = _newton(fg, hess_fn, theta0)
        if found is not None:
            return found
    res = optimize.minimize(
        fg,
        theta0,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-LOG_BOUND, LOG_BOUND)] * len(theta0),
        options={"maxiter": int(max_iter), "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20},
    )
    theta, fun = np.asarray(res.x, dtype=float), float(res.fun)
    if not np.isfinite(fun) or fun >= 1e300:
        raise ConvergenceError(
            f"{owner}: the optimiser ended at a non-finite likelihood "
            f"({res.message}). Try penalizer=0.001 (or larger), other initial_params, "
            "or check the data for extreme values."
        )

    def hess_at(t: np.ndarray) -> np.ndarray:
        return hess_fn(t) if hess_fn is not None else hessian(fg, t, analytic)

    theta, fun, hess = _newton_polish(fg, theta, fun, hess_at(theta), hess_at)
    return theta, fun, hess, res


def _newton(
    fg: Objective, hess_fn: Callable[[np.ndarray], np.ndarray], theta: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray, Any] | None:
    """Damped Newton on the exact Hessian from a start near the optimum.

    Returns what :func:`minimise` returns, or ``None`` (the caller then runs L-BFGS-B)
    when a Hessian is not positive definite, a step leaves the bounds, or 30 steps do
    not bring the gradient below ``GRAD_TOL / 100``.
    """
    fun, g = fg(theta)
    if not np.isfinite(fun) or fun >= 1e300:
        return None
    for it in range(30):
        H = hess_fn(theta)
        if not np.all(np.isfinite(H)) or np.linalg.eigvalsh(H).min() <= 0:
            return None
        if np.max(np.abs(g)) < GRAD_TOL / 100:
            res = optimize.OptimizeResult(x=theta, fun=fun, nit=it, message="Newton converged")
            return theta, fun, H, res
        step = np.linalg.solve(H, g)
        step *= min(1.0, 2.0 / max(float(np.max(np.abs(step))), 1e-300))
        t = 1.0
        for _ in range(20):
            cand = theta - t * step
            if np.max(np.abs(cand)) > LOG_BOUND:
                return None
            f_cand, g_cand = fg(cand)
            if f_cand <= fun - 1e-4 * t * float(g @ step) or (
                f_cand <= fun and np.max(np.abs(g_cand)) < np.max(np.abs(g))
            ):
                break
            t /= 2
        else:
            return None
        theta, fun, g = cand, f_cand, g_cand
    return None


def check_convergence(
    fg: Objective, theta: np.ndarray, res: Any, owner: str, names: Sequence[str], hint: str
) -> bool:
    """Whether the fit converged; warns when a parameter is on its bound or it stopped early.

    ``names`` label the entries of ``theta``; ``hint`` is what to try besides the
    usual advice (e.g. "fewer covariates").
    """
    grad = fg(theta)[1]
    on_bound = np.abs(theta) >= LOG_BOUND - 1e-6
    converged = bool(np.max(np.abs(grad[~on_bound]), initial=0.0) < GRAD_TOL)
    if on_bound.any():
        hit = [p for p, b in zip(names, on_bound, strict=True) if b]
        warnings.warn(
            f"{owner}: {hit} reached the bound exp(+-{LOG_BOUND:g}) of the "
            "rescaled parameters; the data may not identify them (e.g. no visible dropout). "
            f"Try penalizer=0.001{hint} or a simpler model.",
            ConvergenceWarning,
            stacklevel=3,
        )
    elif not converged:
        warnings.warn(
            f"{owner}: the optimiser stopped with gradient "
            f"{np.max(np.abs(grad)):.2e} > {GRAD_TOL:g} ({res.message}). Try "
            f"penalizer=0.001, other initial_params{hint} or a larger max_iter.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return converged


def hessian(fg: Objective, theta: np.ndarray, analytic: bool) -> np.ndarray:
    """Symmetrised finite-difference Hessian of the objective.

    Central differences of the analytic gradient when there is one; otherwise second
    differences of the objective itself (step 1e-4, error about 1e-8).
    """
    k = theta.size
    H = np.empty((k, k))
    if analytic:
        h = 1e-5 * np.maximum(1.0, np.abs(theta))
        for j in range(k):
            e = np.zeros(k)
            e[j] = h[j]
            H[:, j] = (fg(theta + e)[1] - fg(theta - e)[1]) / (2 * h[j])
        return (H + H.T) / 2
    h = 1e-4 * np.maximum(1.0, np.abs(theta))
    f0 = fg(theta)[0]
    eye = np.diag(h)
    for i in range(k):
        H[i, i] = (fg(theta + eye[i])[0] - 2 * f0 + fg(theta - eye[i])[0]) / h[i] ** 2
        for j in range(i):
            pp = fg(theta + eye[i] + eye[j])[0]
            pm = fg(theta + eye[i] - eye[j])[0]
            mp = fg(theta - eye[i] + eye[j])[0]
            mm = fg(theta - eye[i] - eye[j])[0]
            H[i, j] = H[j, i] = (pp - pm - mp + mm) / (4 * h[i] * h[j])
    return H


def _newton_polish(
    fg: Objective,
    theta: np.ndarray,
    fun: float,
    hess: np.ndarray,
    hess_at: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, float, np.ndarray]:
    """Up to three Newton steps from the L-BFGS-B point, each kept only if it helps.

    The Hessian is evaluated again after a step only when the step moved a
    log-parameter by more than ``_REHESSIAN_STEP`` (after L-BFGS-B's tight tolerances the
    step is usually far smaller, and the Hessian's change with it).
    """
    g = fg(theta)[1]
    for _ in range(3):
        if np.max(np.abs(g)) < 1e-12:
            break
        try:
            step = np.linalg.solve(hess, g)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)) or np.max(np.abs(step)) > 1.0:
            break
        cand = np.clip(theta - step, -LOG_BOUND, LOG_BOUND)
        f_cand, g_cand = fg(cand)
        if not (f_cand <= fun and np.max(np.abs(g_cand)) < np.max(np.abs(g))):
            break
        theta, fun, g = cand, f_cand, g_cand
        if np.max(np.abs(step)) > _REHESSIAN_STEP:
            hess = hess_at(theta)
    return theta, fun, hess


#: a Newton step longer than this (in log-parameters) is followed by a new Hessian
_REHESSIAN_STEP = 1e-6


def central_gradient(f: Callable[[np.ndarray], float], theta: np.ndarray) -> np.ndarray:
    """Central finite-difference gradient (for models without an analytic gradient)."""
    g = np.empty_like(theta)
    h = 1e-6 * np.maximum(1.0, np.abs(theta))
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h[j]
        g[j] = (f(theta + e) - f(theta - e)) / (2 * h[j])
    return g


def information_is_singular(hess_total: np.ndarray) -> bool:
    """Whether an observed information matrix is not finite or not positive definite."""
    if not np.all(np.isfinite(hess_total)):
        return True
    eig = np.linalg.eigvalsh(hess_total)
    return not eig.min() > 1e-10 * max(1.0, eig.max())


def inverse_information(hess_total: np.ndarray, owner: str, hint: str) -> np.ndarray:
    """Symmetric inverse of an observed-information matrix (the Hessian of the total NLL).

    Falls back to a pseudo-inverse, with a :class:`ConvergenceWarning` naming ``owner`` and
    saying what to try (``hint``), when the matrix is singular or not positive definite.
    """
    if not information_is_singular(hess_total):
        cov = np.linalg.inv(hess_total)
    else:
        warnings.warn(
            f"{owner}: the Hessian is singular or not positive definite at the estimate; "
            f"standard errors use a pseudo-inverse and are unreliable. {hint}",
            ConvergenceWarning,
            stacklevel=4,
        )
        cov = np.linalg.pinv(np.nan_to_num(hess_total))
    return (cov + cov.T) / 2


def log_normal_summary(
    params: np.ndarray, cov_theta: np.ndarray, names: list[str]
) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """Covariance, standard errors and 95% intervals of positive ``params`` from Cov(log p).

    The delta method gives ``Cov(p) = diag(p) Cov(theta) diag(p)``; the intervals are
    ``exp(theta +- z * se(theta))`` (always positive). A parameter the data do not pin
    down (a huge ``se(theta)``) gets the interval ``(0, inf)``, without an overflow warning.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        cov = pd.DataFrame(cov_theta * np.outer(params, params), index=names, columns=names)
        se_theta = np.sqrt(np.clip(np.diag(cov_theta), 0, None))
        se = pd.Series(params * se_theta, index=names, name="se(coef)")
        z = stats.norm.ppf(0.975)
        intervals = pd.DataFrame(
            {
                "lower 95%": np.exp(np.log(params) - z * se_theta),
                "upper 95%": np.exp(np.log(params) + z * se_theta),
            },
            index=names,
        )
    return cov, se, intervals


def log_objective(
    loglik: Callable[..., np.ndarray],
    loglik_grad: Callable[..., np.ndarray] | None,
    kernel: Callable[..., tuple[float, np.ndarray]] | None,
    problem: Any,
    penalizer: float,
) -> Objective:
    """``fg(theta)``: weighted mean NLL + ``penalizer * sum(p**2)`` at ``p = exp(theta)``.

    On ``problem.scaled`` with weights ``problem.counts``; the gradient is analytic
    (from ``kernel``, else ``loglik_grad``) or central differences when neither is
    given. A non-finite value is returned as 1e300 with a zero gradient.
    """
    cols = problem.scaled
    wn = problem.counts / problem.counts.sum()
    pen = float(penalizer)

    def f(theta: np.ndarray) -> float:
        p = np.exp(theta)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            val = -float(wn @ loglik(p, *cols)) + pen * float(p @ p)
        return val if np.isfinite(val) else 1e300

    last: list[Any] = [None, None]  # the latest (theta, result): Newton asks twice

    def fg(theta: np.ndarray) -> tuple[float, np.ndarray]:
        if last[0] is not None and np.array_equal(last[0], theta):
            return last[1][0], last[1][1].copy()
        out = _fg(theta)
        last[0], last[1] = np.array(theta, dtype=float), out
        return out[0], out[1].copy()

    def _fg(theta: np.ndarray) -> tuple[float, np.ndarray]:
        p = np.exp(theta)
        if kernel is None and loglik_grad is None:
            return f(theta), central_gradient(f, theta)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if kernel is not None:
                ll, dll = kernel(p, wn, *cols)
            else:
                assert loglik_grad is not None
                ll, dll = float(wn @ loglik(p, *cols)), wn @ loglik_grad(p, *cols)
            val = -ll + pen * float(p @ p)
            g = -dll * p + 2 * pen * p * p
        if not (np.isfinite(val) and np.all(np.isfinite(g))):
            return 1e300, np.zeros_like(theta)
        return val, g

    return fg


def log_hessian(
    fg: Objective,
    hess_kernel: Callable[..., np.ndarray],
    problem: Any,
    penalizer: float,
) -> Callable[[np.ndarray], np.ndarray]:
    """Exact Hessian in ``theta = log(p)`` of the objective ``fg`` of :func:`log_objective`.

    ``hess_kernel`` is the Hessian of the weighted log-likelihood in the natural
    parameters; with ``g_theta`` the objective's gradient in ``theta`` (from ``fg``, which
    remembers its latest point), ``H_theta = diag(p) H_p diag(p) + diag(g_theta)``.
    """
    cols = problem.scaled
    wn = problem.counts / problem.counts.sum()
    pen = float(penalizer)

    def hess(theta: np.ndarray) -> np.ndarray:
        p = np.exp(theta)
        g_theta = fg(theta)[1]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            H = -hess_kernel(p, wn, *cols) + 2 * pen * np.eye(p.size)
            out = H * np.outer(p, p) + np.diag(g_theta)
        return (out + out.T) / 2

    return hess


def log_objective_newton(
    kernel: Callable[..., tuple[float, np.ndarray, np.ndarray]],
    fg: Objective,
    problem: Any,
    penalizer: float,
) -> tuple[ObjectiveH, Objective]:
    """``fgh(theta)``: the objective of :func:`log_objective`, its gradient and exact Hessian.

    ``kernel(p, weights, *columns)`` returns the weighted log-likelihood, its gradient and
    its Hessian in the natural parameters from one pass; in ``theta = log(p)``,
    ``H_theta = diag(p) H_p diag(p) + diag(g_theta)``. Also returns ``fg`` wrapped to
    answer from the latest ``fgh`` point (the convergence check asks there again) and
    otherwise to call the cheaper ``fg``. A non-finite value gives ``(1e300, 0, NaN)``.
    """
    cols = problem.scaled
    wn = problem.counts / problem.counts.sum()
    pen = float(penalizer)
    last: list[Any] = [None, None]

    def fgh(theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        p = np.exp(theta)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ll, dll, Hp = kernel(p, wn, *cols)
            val = -float(ll) + pen * float(p @ p)
            g = -dll * p + 2 * pen * p * p
            H = (-Hp + 2 * pen * np.eye(p.size)) * np.outer(p, p) + np.diag(g)
        if not (np.isfinite(val) and np.all(np.isfinite(g))):
            return 1e300, np.zeros_like(theta), np.full((p.size, p.size), np.nan)
        last[0], last[1] = np.array(theta, dtype=float), (val, g.copy())
        return val, g, (H + H.T) / 2

    def fg_shared(theta: np.ndarray) -> tuple[float, np.ndarray]:
        if last[0] is not None and np.array_equal(last[0], theta):
            return last[1][0], last[1][1].copy()
        return fg(theta)

    return fgh, fg_shared


def newton(
    fgh: ObjectiveH, theta: np.ndarray, *, max_iter: int = 100, tol: float = GRAD_TOL / 100
) -> tuple[np.ndarray, float, np.ndarray, Any] | None:
    """Levenberg-damped Newton on the exact Hessian, from any start; ``None`` if it fails.

    Each iteration solves ``(H + lam I) step = g`` (``lam = 0`` while ``H`` is positive
    definite and the quadratic model predicts the decrease well; raised when the
    Cholesky factorisation fails or a step does not decrease the objective), caps the
    step at 2 in every log-parameter and evaluates value, gradient and Hessian at the
    candidate in one call. Converged when every gradient component is below ``tol``.
    Returns what :func:`minimise` returns, the Hessian at the optimum included, or
    ``None`` (the caller then runs L-BFGS-B) when the start or a step leaves the bounds,
    the start is not finite, the damping grows without a decrease, or ``max_iter``
    iterations do not converge.
    """
    fun, g, H = fgh(theta)
    if not np.isfinite(fun) or fun >= 1e300:
        return None
    k = theta.size
    eye = np.eye(k)
    lam = 0.0
    for it in range(max_iter):
        if np.max(np.abs(g)) < tol:
            res = optimize.OptimizeResult(
                x=theta, fun=fun, jac=g, nit=it, message="Newton converged", success=True
            )
            return theta, fun, H, res
        scale = max(float(np.max(np.abs(np.diag(H)))), 1e-12)
        while True:
            try:
                np.linalg.cholesky(H + lam * eye)
                break
            except np.linalg.LinAlgError:
                lam = max(4.0 * lam, 1e-6 * scale)
                if lam > 1e12 * scale:
                    return None
        step = np.linalg.solve(H + lam * eye, g)
        step *= min(1.0, 2.0 / max(float(np.max(np.abs(step))), 1e-300))
        cand = theta - step
        if np.max(np.abs(cand)) > LOG_BOUND:
            return None
        predicted = float(g @ step) - 0.5 * float(step @ (H + lam * eye) @ step)
        f_cand, g_cand, H_cand = fgh(cand)
        if np.isfinite(f_cand) and f_cand < 1e300 and f_cand <= fun and predicted > 0:
            rho = (fun - f_cand) / predicted
            theta, fun, g, H = cand, f_cand, g_cand, H_cand
            lam = 0.0 if rho > 0.5 else max(lam, 1e-6 * scale) * (1.0 if rho > 0.1 else 4.0)
        else:
            if np.max(np.abs(step)) < 1e-12 * max(1.0, float(np.max(np.abs(theta)))):
                return None
            lam = max(4.0 * lam, 1e-3 * scale)
            if lam > 1e12 * scale:
                return None
    return None
