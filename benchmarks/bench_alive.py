"""P(alive) of every customer: clvml BetaGeo against lifetimes' BetaGeoFitter, same run.

Both at the same parameters (CDNOW's), on whole-week ages, day-resolution ages (days/7)
and continuous times; CPU seconds, minimum of ``--repeat`` interleaved runs; the two
results must agree to 1e-12 (absolute) or the script exits 1. clvml is timed on the
summary itself (validated every call) and on a prepared summary (``bg.prepare``: validated
and compressed once, its cost shown apart), as a scoring job that asks several questions
of the same customers uses it; the last column times P(alive) plus E[X(t)] for both.

    python benchmarks/bench_alive.py --customers 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from clvml.models.btyd.beta_geo import BetaGeo

PARAMS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def histories(n: int, resolution: str, seed: int = 0) -> pd.DataFrame:
    """Ages in weeks up to a year; repeat purchases Poisson(1.5); recency within the age."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(1, 52, n)
    x = rng.poisson(1.5, n).astype(float)
    t_x = np.where(x > 0, rng.uniform(0, 1, n) * T, 0.0)
    if resolution == "week":
        T, t_x = np.ceil(T), np.floor(t_x)
    elif resolution == "day":
        T, t_x = np.round(T * 7) / 7, np.round(t_x * 7) / 7
    return pd.DataFrame({"frequency": x, "recency": np.minimum(t_x, T), "T": T})


def _time_shape(ours: BetaGeo, theirs: Any, data: pd.DataFrame, repeat: int) -> tuple:
    """Best CPU seconds of each timed call (interleaved) and the three P(alive) results."""
    # lifetimes at its best: numpy arrays (pandas Series make it ~4x slower)
    columns = tuple(data[c].to_numpy() for c in ("frequency", "recency", "T"))
    keys = ("clvml", "prepare", "prepared", "lifetimes", "both", "both_lt")
    best = dict.fromkeys(keys, np.inf)

    def timed(key: str, call: Any) -> Any:
        start = time.process_time()
        out = call()
        best[key] = min(best[key], time.process_time() - start)
        return out

    for _ in range(repeat):
        p_ours = timed("clvml", lambda: ours.probability_alive(data))
        rows = timed("prepare", lambda: ours.prepare(data))
        p_prep = timed("prepared", lambda r=rows: ours.probability_alive(r))
        p_theirs = timed("lifetimes", lambda: theirs.conditional_probability_alive(*columns))
        timed("both", lambda r=rows: (ours.probability_alive(r), ours.expected_purchases(r, 10.0)))
        timed(
            "both_lt",
            lambda: (
                theirs.conditional_probability_alive(*columns),
                theirs.conditional_expected_number_of_purchases_up_to_time(10.0, *columns),
            ),
        )
    return best, p_ours, p_prep, p_theirs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    from lifetimes import BetaGeoFitter

    print(f"{os.cpu_count()} CPUs, load average at start {os.getloadavg()}")
    ours = BetaGeo()
    ours.params_ = pd.Series(PARAMS)
    theirs = BetaGeoFitter()
    theirs.params_ = pd.Series(PARAMS)
    bad = 0
    for resolution in ("week", "day", "continuous"):
        data = histories(args.customers, resolution)
        distinct = len(data.drop_duplicates())
        best, p_ours, p_prep, p_theirs = _time_shape(ours, theirs, data, args.repeat)
        diff = float(np.max(np.abs(p_ours.to_numpy() - np.asarray(p_theirs))))
        diff = max(diff, float(np.max(np.abs(p_prep.to_numpy() - np.asarray(p_theirs)))))
        bad += diff > 1e-12
        ratio = best["lifetimes"] / max(best["prepared"], 1e-9)
        print(
            f"P(alive) {resolution:10s} {len(data):,} customers ({distinct:,} distinct): "
            f"clvml on the frame {best['clvml']:.3f} s, prepare once {best['prepare']:.3f} s, "
            f"on the prepared frame {best['prepared']:.3f} s | lifetimes {best['lifetimes']:.3f} s"
            f" | x{best['lifetimes'] / max(best['clvml'], 1e-9):.2f} (frame), x{ratio:.2f} "
            f"(prepared) | P(alive)+E[X(t)] prepared {best['both']:.3f} s vs lifetimes "
            f"{best['both_lt']:.3f} s | max abs diff {diff:.1e}"
        )
    print(f"load average at end {os.getloadavg()}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
