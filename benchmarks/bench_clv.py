"""CLV with its 95% interval for every customer: the delta method against the bootstrap.

Data: ``--customers`` simulated from BG/NBD and Gamma-Gamma at the CDNOW parameters,
ages uniform over a year at day resolution, in weeks (days/7: hundreds of thousands of
distinct (x, t_x, T) rows at 1M, the shape that does not compress). Both models are
fitted on the data, then ``customer_lifetime_value`` (12 months, period "W") is timed
without an interval, with the delta-method interval (the default) and with the
parametric bootstrap at ``--boot-draws`` draws (its cost grows linearly with the draws;
the figure for the old default of 200 draws is extrapolated from it and printed as
such). CPU and wall seconds; the bounds of the two methods are compared.

    python benchmarks/bench_clv.py --customers 1000000 --boot-draws 10
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

from clvml.data.simulate import simulate_bgnbd, simulate_gamma_gamma
from clvml.models.btyd import BetaGeo, GammaGamma, customer_lifetime_value

BG_TRUTH = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
GG_TRUTH = {"p": 6.25, "q": 3.74, "v": 15.44}


def simulate(n: int, seed: int = 0) -> pd.DataFrame:
    """Day-resolution RFM summary in weeks (see the module docstring)."""
    rng = np.random.default_rng(seed)
    ages = rng.integers(7, 366, size=n) / 7.0
    summary = simulate_bgnbd(n, **BG_TRUTH, T=ages, seed=rng).summary
    recency = np.minimum(np.ceil(summary["recency"].to_numpy() * 7) / 7, ages)
    spend = simulate_gamma_gamma(summary["frequency"].to_numpy(), **GG_TRUTH, seed=rng).summary
    return pd.DataFrame(
        {
            "frequency": summary["frequency"].to_numpy(),
            "recency": recency,
            "T": ages,
            "monetary_value": np.round(spend["monetary_value"].to_numpy(), 2),
        }
    )


def timed(fn):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--boot-draws", type=int, default=10)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    print(f"{os.cpu_count()} CPUs, load average at start {os.getloadavg()}")
    data = simulate(args.customers)
    distinct = len(data[["frequency", "recency", "T"]].drop_duplicates())
    bg = BetaGeo().fit(data)
    gg = GammaGamma().fit(data[data["frequency"] > 0])
    print(f"{len(data):,} customers, {distinct:,} distinct (x, t_x, T) rows")

    def clv(**kw):  # type: ignore[no-untyped-def]
        return customer_lifetime_value(bg, gg, data, 12, period="W", **kw)

    w0, c0, _ = timed(lambda: clv(interval=None))
    print(f"point estimate only        {w0:7.2f} s wall {c0:7.2f} s CPU")
    w1, c1, delta = timed(lambda: clv())
    print(f"with delta-method interval {w1:7.2f} s wall {c1:7.2f} s CPU")
    n = args.boot_draws
    w2, c2, boot = timed(lambda: clv(interval_method="bootstrap", n_draws=n, random_state=0))
    print(
        f"with bootstrap, {n} draws   {w2:7.2f} s wall {c2:7.2f} s CPU "
        f"(200 draws extrapolated: ~{c0 + (c2 - c0) * 200 / n:,.0f} s CPU)"
    )
    finite = np.isfinite(delta[["clv_lower", "clv_upper"]].to_numpy()).all()
    print(f"delta bounds finite for every customer: {finite}")
    for col in ("clv_lower", "clv_upper"):
        gap = np.abs(delta[col] / boot[col] - 1).to_numpy()
        print(
            f"{col}: delta vs {n}-draw bootstrap, median gap {np.median(gap):.2%}, "
            f"99th percentile {np.percentile(gap, 99):.2%}"
        )
    print(f"load average at end {os.getloadavg()}")
    return 0 if finite else 1


if __name__ == "__main__":
    sys.exit(main())
