"""Parameter recovery on data simulated from known parameters (slow).

For each model, 10 seeded simulations of 100,000 customers; every parameter must lie
inside its 95% confidence interval in at least 8 of the 10 fits (nominal coverage
95%), and the mean estimate over the seeds must be within 3 standard errors of the
mean (average standard error / sqrt(10)) of the truth, i.e. no detectable bias.
"""

from __future__ import annotations

import numpy as np
import pytest

from clvml.data.simulate import simulate_bgnbd, simulate_gamma_gamma, simulate_mbgnbd
from clvml.models.btyd import BetaGeo, GammaGamma, ModifiedBetaGeo

N = 100_000
SEEDS = range(10)
COUNTING_TRUTH = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
SPEND_TRUTH = {"p": 6.25, "q": 3.74, "v": 15.44}


def _ages(seed: int) -> np.ndarray:
    # cohorts acquired over a year, observed at week 52 (ages 1..52 weeks)
    return np.random.default_rng(10_000 + seed).uniform(1.0, 52.0, size=N)


def _check_recovery(fits: list, truth: dict[str, float]) -> None:
    for name, value in truth.items():
        inside = sum(
            f.confidence_intervals_.loc[name, "lower 95%"]
            <= value
            <= f.confidence_intervals_.loc[name, "upper 95%"]
            for f in fits
        )
        assert inside >= 8, f"{name}: truth {value} inside the 95% CI in {inside}/10 fits"
        mean = np.mean([f.params_[name] for f in fits])
        se_mean = np.mean([f.standard_errors_[name] for f in fits]) / np.sqrt(len(fits))
        z = (mean - value) / se_mean
        assert abs(z) < 3, f"{name}: mean estimate {mean} vs {value} (z = {z:.2f})"
        assert all(f.converged_ for f in fits)


@pytest.mark.slow
def test_bgnbd_recovers_parameters():
    fits = [
        BetaGeo().fit(simulate_bgnbd(N, **COUNTING_TRUTH, T=_ages(s), random_state=s).summary)
        for s in SEEDS
    ]
    _check_recovery(fits, COUNTING_TRUTH)


@pytest.mark.slow
def test_mbgnbd_recovers_parameters():
    fits = [
        ModifiedBetaGeo().fit(
            simulate_mbgnbd(N, **COUNTING_TRUTH, T=_ages(s), random_state=s).summary
        )
        for s in SEEDS
    ]
    _check_recovery(fits, COUNTING_TRUTH)


@pytest.mark.slow
def test_gamma_gamma_recovers_parameters():
    fits = []
    for s in SEEDS:
        freq = 1 + np.random.default_rng(20_000 + s).poisson(2.0, size=N)
        sim = simulate_gamma_gamma(freq, **SPEND_TRUTH, random_state=s)
        fits.append(GammaGamma().fit(sim.summary))
    _check_recovery(fits, SPEND_TRUTH)
