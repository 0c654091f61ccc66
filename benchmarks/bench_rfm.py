"""Benchmark: clvml.rfm_summary against lifetimes on 1M and 10M daily transactions.

Generates a seeded transaction log (one customer per 10 transactions on average, the number of
purchases per customer 1 + negative binomial with mean 9, first purchases spread over two years,
repeat purchases uniform between the first purchase and the end, times of day to the second,
amounts gamma distributed, rows in time order like an event log) with integer and with string
customer IDs (``"C00000042"``, pandas' default ``str`` dtype; ``--ids sparse``: random 63-bit
integers; ``--ids uuid``: random version-4 UUID strings), writes it to Parquet once, then
runs ``summary_data_from_transaction_data`` (lifetimes) and ``rfm_summary`` (clvml) on it in
separate subprocesses, freq="D" with the monetary value. Each subprocess reads the data, resets
its peak-RSS counter (``/proc/self/clear_refs``), runs the summary ``--repeat`` times and reports
the best wall time, the best CPU time (less sensitive to other jobs on a shared machine) and
the peak resident memory the call added on top of the loaded data. The
two results are compared (``assert_frame_equal``; monetary values to rtol 1e-12, as the summing
order differs); the script exits with status 1 if they differ.

Run: ``.venv/bin/python benchmarks/bench_rfm.py [--sizes 1M 10M] [--ids int str] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def make_transactions(n_tx: int, ids: str, seed: int = 0) -> pd.DataFrame:
    """Seeded daily transaction log with about ``n_tx // 10`` customers over two years."""
    rng = np.random.default_rng(seed)
    n_customers = max(n_tx // 10, 1)
    per_customer = 1 + rng.negative_binomial(1, 0.1, n_customers)
    cust = np.repeat(np.arange(n_customers), per_customer)[:n_tx]
    if len(cust) < n_tx:
        cust = np.concatenate([cust, rng.integers(0, n_customers, n_tx - len(cust))])
    horizon = 730 * 86_400
    birth = rng.integers(0, horizon, n_customers)
    seconds = birth[cust] + (rng.random(n_tx) * (horizon - birth[cust])).astype(np.int64)
    first = np.r_[True, cust[1:] != cust[:-1]]
    seconds[first] = birth[cust[first]]
    order = np.argsort(seconds, kind="stable")
    start = np.datetime64("2022-01-01T00:00:00", "s")
    timestamp = (start + seconds[order].astype("timedelta64[s]")).astype("datetime64[us]")
    cust = cust[order]
    if ids == "str":
        labels = pd.Series([f"C{i:08d}" for i in range(n_customers)], dtype="str")
        customer_id = labels.take(cust).reset_index(drop=True)
    elif ids == "uuid":  # random (version 4) UUIDs, as many systems issue them
        raw = np.random.default_rng(seed + 1).bytes(16 * n_customers)
        uuids = [
            str(uuid.UUID(bytes=raw[16 * i : 16 * i + 16], version=4)) for i in range(n_customers)
        ]
        customer_id = pd.Series(uuids, dtype="str").take(cust).reset_index(drop=True)
    elif ids == "sparse":  # random positive 63-bit integers (hashed or snowflake-like keys)
        keys = np.random.default_rng(seed + 1).integers(1, 2**63 - 1, n_customers)
        customer_id = pd.Series(keys[cust])
    else:
        customer_id = pd.Series(cust.astype(np.int64) + 100_000)
    amount = np.round(rng.gamma(2.0, 20.0, n_tx), 2)
    return pd.DataFrame({"customer_id": customer_id, "timestamp": timestamp, "amount": amount})


# ----------------------------------------------------------------------------- child process


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _child(impl: str, data: Path, out: Path, repeat: int) -> None:
    warnings.simplefilter("ignore")  # lifetimes' pandas deprecation noise
    if impl == "lifetimes":
        from lifetimes.utils import summary_data_from_transaction_data as summary
    else:
        from clvml.features.rfm import rfm_summary as summary
    df = pd.read_parquet(data)
    times, cpu, peaks = [], [], []
    for _ in range(repeat):
        result = None  # free the previous run's result before measuring the next
        # Without a resettable peak counter (not Linux) the peak includes the loaded data.
        before = _status_kib("VmRSS") if _reset_peak() else 0
        t0, c0 = time.perf_counter(), time.process_time()
        result = summary(df, "customer_id", "timestamp", "amount", freq="D")
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        peaks.append((_status_kib("VmHWM") - before) / 1024)
    result.attrs = {}
    result.to_parquet(out)
    stats = {"seconds": min(times), "cpu_seconds": min(cpu), "peak_mib": max(peaks)}
    print(json.dumps(stats))


# ----------------------------------------------------------------------------- parent


def _size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def _run(impl: str, data: Path, out: Path, repeat: int) -> dict:
    cmd = [sys.executable, __file__, "--child", impl, str(data), str(out), str(repeat)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{impl} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _same(expected: pd.DataFrame, actual: pd.DataFrame) -> str | None:
    try:
        exact = ["frequency", "recency", "T"]
        pd.testing.assert_frame_equal(expected[exact], actual[exact], check_exact=True)
        pd.testing.assert_frame_equal(
            expected[["monetary_value"]], actual[["monetary_value"]], check_exact=False, rtol=1e-12
        )
    except AssertionError as exc:
        return str(exc)
    return None


def _machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            model = next(line.split(":", 1)[1].strip() for line in fh if "model name" in line)
        with open("/proc/meminfo") as fh:
            mem = int(next(line.split()[1] for line in fh if line.startswith("MemTotal")))
        with open("/proc/loadavg") as fh:
            load = fh.read().split()[:3]
    except (OSError, StopIteration):
        return model
    return (
        f"{model}, {os.cpu_count()} CPUs, {mem / 2**20:.1f} GiB RAM, "
        f"load average {' '.join(load)}; Python {platform.python_version()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1M", "10M"], help="e.g. 100k 1M 10M")
    parser.add_argument(
        "--ids", nargs="+", default=["int", "str"], choices=["int", "str", "sparse", "uuid"]
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per implementation (best)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        impl, data, out, repeat = args.child
        _child(impl, Path(data), Path(out), int(repeat))
        return 0

    from importlib.metadata import version

    print(f"machine: {_machine()}")
    print(
        f"pandas {pd.__version__}, numpy {np.__version__}, lifetimes {version('lifetimes')}, "
        f"clvml {version('clvml')}; freq='D' with monetary value; best of {args.repeat}\n"
    )
    header = (
        f"{'transactions':>12} {'ids':>4} {'customers':>9} {'lifetimes s':>11} {'clvml s':>8} "
        f"{'speed-up':>8} {'cpu: lifetimes':>14} {'clvml':>6} {'speed-up':>8} "
        f"{'lifetimes MiB':>13} {'clvml MiB':>9}  equal"
    )
    print(header)
    print("-" * len(header))
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for size in map(_size, args.sizes):
            for ids in args.ids:
                data = Path(tmp) / f"tx_{size}_{ids}.parquet"
                make_transactions(size, ids).to_parquet(data)
                res = {}
                for impl in ("lifetimes", "clvml"):
                    res[impl] = _run(impl, data, Path(tmp) / f"{impl}.parquet", args.repeat)
                diff = _same(
                    pd.read_parquet(Path(tmp) / "lifetimes.parquet"),
                    pd.read_parquet(Path(tmp) / "clvml.parquet"),
                )
                failed |= diff is not None
                lt, cv = res["lifetimes"], res["clvml"]
                n_customers = len(pd.read_parquet(Path(tmp) / "clvml.parquet", columns=["T"]))
                print(
                    f"{size:>12,} {ids:>4} {n_customers:>9,} {lt['seconds']:>11.2f} "
                    f"{cv['seconds']:>8.3f} {lt['seconds'] / cv['seconds']:>7.1f}x "
                    f"{lt['cpu_seconds']:>14.2f} {cv['cpu_seconds']:>6.3f} "
                    f"{lt['cpu_seconds'] / cv['cpu_seconds']:>7.1f}x "
                    f"{lt['peak_mib']:>13,.0f} {cv['peak_mib']:>9,.0f}  "
                    f"{'yes' if diff is None else 'NO'}",
                    flush=True,
                )
                if diff is not None:
                    print(f"    results differ: {diff}")
                data.unlink()
    with open("/proc/loadavg") as fh:
        print(f"\nload average at the end: {' '.join(fh.read().split()[:3])}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
