"""Benchmark: the input checks that issue #15 found quadratic, against their old cost.

* the repeated-column check of validation on a frame of 5,000 and 20,000 columns (was
  1.3 s and 29 s: ``list.count`` per column), timed through ``check_table``'s structure
  step only (``clvml.data._engine._structure``);
* reading a 200,000-column CSV: refused after counting its header fields (pandas alone
  needs about 70 s to parse such a header; ``validate`` ran > 600 s);
* English and Spanish sentiment of one text of 10,000, 40,000 and 160,000 characters
  scored whole (was 0.12 s, 1.7 s and 26 s in English: quadratic), now in pieces of
  1,000 characters; validation keeps at most 10,000 characters per text anyway.

The "peer" of each row is clvml before the fix, whose timings the issue gives (the old
code is gone); the ratio printed is old / new for the same size.

Run: ``.venv/bin/python benchmarks/bench_hostile.py``
"""

from __future__ import annotations

import contextlib
import platform
import random
import tempfile
import time
from pathlib import Path

#: Timings reported in issue #15 for the code before the fix (seconds).
OLD = {
    ("columns", 5_000): 1.3,
    ("columns", 20_000): 29.0,
    ("sentiment en", 10_000): 0.12,
    ("sentiment en", 40_000): 1.7,
    ("sentiment en", 160_000): 26.0,
}


def _time(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def main() -> None:
    import numpy as np
    import pandas as pd

    from clvml.data import _engine
    from clvml.data.contracts import TRANSACTIONS
    from clvml.data.io import DataSourceError, read_table
    from clvml.features.sentiment import _compound_en, _compound_es

    print(
        f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    rows = []
    for n in (5_000, 20_000):
        names = [f"c{i}" for i in range(n - 1)] + ["c7"]
        frame = pd.DataFrame(np.zeros((2, n)), columns=names)
        run = _engine.Run(TRANSACTIONS, frame, collect=True, invalid="error", source=None)
        rows.append(("columns", n, _time(lambda run=run: _engine._structure(run))))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wide.csv"
        header = ",".join(
            ["customer_id", "timestamp", "amount"] + [f"x{i}" for i in range(200_000)]
        )
        path.write_text(header + "\n" + "a,2024-01-02,3" + ",0" * 200_000 + "\n")

        def read() -> None:
            with contextlib.suppress(DataSourceError):
                read_table(path)

        rows.append(("200k-column CSV refused", 200_000, _time(read)))
    words = [
        "great",
        "service",
        "but",
        "slow",
        "not",
        "good",
        "bad",
        "terrible",
        "love",
        "hate",
        "the",
        "a",
        "is",
        "was",
    ]
    rng = random.Random(0)
    _compound_en("warm up")
    _compound_es("warm up")
    for n in (10_000, 40_000, 160_000):
        text = " ".join(rng.choice(words) for _ in range(n // 4))[:n]
        rows.append(("sentiment en", n, _time(lambda t=text: _compound_en(t))))
        rows.append(("sentiment es", n, _time(lambda t=text + " ": _compound_es(t))))
    print(f"{'check':<26}{'size':>9}{'seconds':>10}{'before':>9}{'ratio':>8}")
    for what, n, secs in rows:
        old = OLD.get((what, n))
        ratio = f"{old / secs:7.0f}x" if old else "       -"
        before = f"{old:9.2f}" if old else "        -"
        print(f"{what:<26}{n:>9,}{secs:>10.3f}{before}{ratio}")


if __name__ == "__main__":
    main()
