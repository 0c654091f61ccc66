"""Benchmark: uncached sentiment throughput, the rules alone vs the rules + learned layer.

Scores every message of the development care sets, each repeated ``--copies`` times with a
distinct suffix (so each text is new to the memo), with ``sentiment_scores(..., layer=False)``
and with the learned layer (the default), in the same run. CPU time (``time.process_time``),
so a busy machine inflates it less than wall time; the load average is printed beside it.

    python benchmarks/bench_sentiment.py --copies 8
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd

from clvml.features import sentiment as sm

DATA = Path(__file__).resolve().parents[1] / "tests" / "features" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=8, help="distinct copies of each dev message")
    args = ap.parse_args()
    for language in ("en", "es"):
        dev = pd.read_csv(
            DATA / f"dev_care_{language}.tsv",
            sep="\t",
            quoting=3,
            dtype=str,
            keep_default_na=False,
        )
        texts = [f"{t} #{k}" for k in range(args.copies) for t in dev["text"]]
        sm.sentiment_scores(["warm up"], language)  # load the analysers and the layer
        rates = {}
        for layer in (False, True):
            for memo in (sm._compound_en, sm._compound_es):
                memo.cache_clear()
            for memo in (sm._rules_compound_en, sm._rules_compound_es):
                memo.cache_clear()
            start = time.process_time()
            sm.sentiment_scores(texts, language, layer=layer)
            cpu = time.process_time() - start
            rates[layer] = len(texts) / cpu
            label = "rules + layer" if layer else "rules alone"
            rate = f"{rates[layer]:,.0f}/s"
            print(f"{language} {label}: {len(texts):,} texts, {cpu:.2f} s CPU, {rate}")
        print(f"{language} layer / rules throughput ratio: {rates[True] / rates[False]:.2f}")
    print("load average:", ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
