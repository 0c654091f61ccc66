"""From a subscriptions table to fitted retention models (issue 19, the data path).

Times each step a user's 1M-row ``subscriptions`` table goes through before and during the
fit: validation against the contract (dates parsed, overlaps checked), tenure as of a
cut-off on calendar anniversaries (:func:`clvml.data.subscriptions.subscription_spells`),
compression to distinct ``(duration, censored)`` rows per billing period, the sBG and BdW
fits, the cohort survival table, and the whole formula-vs-sBG-vs-BdW comparison. CPU time
and wall time, best of ``--repeat``; the table comes from ``clvml generate --contractual``'s
generator, with its dates as ISO text (as read from a CSV).

    python benchmarks/bench_subscription_table.py --spells 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from clvml.data.contractual import generate_contractual
from clvml.data.subscriptions import cohort_survival, compress_spells, subscription_spells
from clvml.data.validation import validate_subscriptions
from clvml.evaluation.subscription_comparison import compare_subscription_clv
from clvml.models.subscription import BetaDiscreteWeibull, ShiftedBetaGeometric


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Best wall and CPU seconds of ``repeat`` runs, and the last result."""
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--spells", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    world = generate_contractual(args.spells, random_state=1)
    raw = world.subscriptions.copy()
    for col in ("start", "end"):
        raw[col] = raw[col].dt.strftime("%Y-%m-%d").where(raw[col].notna(), "")
    cut, now = world.calibration_end, world.observation_end

    rows = []
    wall, cpu, subs = _best(lambda: validate_subscriptions(raw, now=now), args.repeat)
    rows.append(("validate (parse dates, overlaps, rules)", wall, cpu, f"{len(subs):,} rows"))
    wall, cpu, table = _best(lambda: subscription_spells(subs, as_of=cut), args.repeat)
    rows.append(("tenure as of the cut-off", wall, cpu, f"{len(table.spells):,} spells"))
    monthly = table.spells[table.spells["period"] == "month"]
    wall, cpu, compressed = _best(lambda: compress_spells(monthly), args.repeat)
    rows.append(("compress (monthly plans)", wall, cpu, f"{len(compressed)} distinct rows"))
    fit_rows = compressed[["duration", "censored", "weight"]]
    wall, cpu, sbg = _best(lambda: ShiftedBetaGeometric().fit(fit_rows), args.repeat)
    p = sbg.params_
    rows.append(("sBG fit", wall, cpu, f"alpha {p['alpha']:.4f} beta {p['beta']:.4f}"))
    wall, cpu, bdw = _best(lambda: BetaDiscreteWeibull().fit(fit_rows), args.repeat)
    rows.append(("BdW fit", wall, cpu, f"c {bdw.params_['c']:.4f} (planted 0.8)"))
    wall, cpu, surv = _best(lambda: cohort_survival(table, by=["cohort", "plan"]), args.repeat)
    rows.append(("cohort survival table (cohort x plan)", wall, cpu, f"{len(surv):,} cells"))
    wall, cpu, res = _best(
        lambda: compare_subscription_clv(subs, cut, holdout_end=now, by=("cohort",)), args.repeat
    )
    err = res.table.iloc[-1]
    rows.append(
        (
            "formula vs sBG vs BdW comparison (by cohort)",
            wall,
            cpu,
            f"errors formula {err['formula_error']:+.1%} sBG {err['sbg_error']:+.1%} "
            f"BdW {err['bdw_error']:+.1%}",
        )
    )
    print(f"{args.spells:,} subscriptions, best of {args.repeat}")
    print(f"{'step':46s} {'wall s':>8s} {'CPU s':>8s}  result")
    for name, wall, cpu, note in rows:
        print(f"{name:46s} {wall:8.3f} {cpu:8.3f}  {note}")
    path = sum(r[2] for r in rows[:5])
    print(f"table -> fitted sBG and BdW (first five steps), CPU: {path:.3f} s")


if __name__ == "__main__":
    main()
