"""Benchmark: engagement and sentiment features for 1M customers / 10M events.

Generates an event log with numpy (channels, kinds and directions as in the engagement
contract; 20% of inbound events carry one of a few thousand distinct English or Spanish texts,
as template-generated and real logs repeat texts), then times
``EngagementFeatures(cutoff=...).fit_transform(events)`` with texts scored inside it, and again
with a precomputed ``sentiment`` column. Target (issue 5): under 60 s.

Run: ``.venv/bin/python benchmarks/bench_features.py [--customers 1000000 --events 10000000]``
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from clvml.data.contracts import CHANNELS, KINDS
from clvml.features.engagement import EngagementFeatures
from clvml.features.sentiment import sentiment_scores

EN = [
    "great service", "my order never arrived", "where is my {p}?", "love the {p}!",
    "the {p} broke after two days", "thanks for the quick reply", "still waiting for a refund",
    "not good, the {p} is scratched", "very happy with the {p}", "can I change my address?",
]  # fmt: skip
ES = [
    "muy buen servicio", "mi pedido nunca llegó", "¿dónde está mi {p}?", "¡me encanta el {p}!",
    "el {p} se rompió a los dos días", "gracias por la rápida respuesta",
    "sigo esperando el reembolso", "no me gustó, el {p} vino rayado", "muy contento con el {p}",
    "¿puedo cambiar la dirección?",
]  # fmt: skip


def make_events(n_customers: int, n_events: int, n_products: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    products = [f"product {i}" for i in range(n_products)]
    texts = [t.format(p=p) for t in EN for p in products] + [
        t.format(p=p) for t in ES for p in products
    ]
    texts = list(dict.fromkeys(texts))
    langs = np.array(["en" if i < len(texts) // 2 else "es" for i in range(len(texts))])
    cust = rng.integers(0, n_customers, n_events)
    kind = rng.choice(len(KINDS), n_events)
    outbound = (kind == KINDS.index("reply")) & (rng.random(n_events) < 0.7)
    has_text = ~outbound & (rng.random(n_events) < 0.2)
    text_code = np.where(has_text, rng.integers(0, len(texts), n_events), -1)
    start = np.datetime64("2023-01-01T00:00:00", "s")
    ts = start + rng.integers(0, 540 * 86_400, n_events).astype("timedelta64[s]")
    cat = pd.Categorical.from_codes
    text_cat = cat(text_code, categories=texts)
    lang_codes = np.where(has_text, (langs[np.maximum(text_code, 0)] == "es").astype(int), -1)
    return pd.DataFrame(
        {
            "customer_id": pd.Categorical.from_codes(
                cust, [f"c{i:07d}" for i in range(n_customers)]
            ),
            "timestamp": ts.astype("datetime64[ns]"),
            "channel": cat(rng.choice(len(CHANNELS), n_events), categories=list(CHANNELS)),
            "kind": cat(kind, categories=list(KINDS)),
            "direction": cat(outbound.astype(int), categories=["inbound", "outbound"]),
            "text": text_cat,
            "language": cat(lang_codes, categories=["en", "es"]),
            "reach": rng.integers(0, 5000, n_events),
            "resolved": outbound & (rng.random(n_events) < 0.6),
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--products", type=int, default=200, help="distinct texts = 20 x products")
    args = ap.parse_args()
    t0 = time.perf_counter()
    events = make_events(args.customers, args.events, args.products)
    n_texts = events["text"].nunique()
    t_gen = time.perf_counter() - t0
    print(f"generated {len(events):,} events, {n_texts:,} distinct texts in {t_gen:.1f} s")
    cutoff = "2024-04-01"

    t0 = time.perf_counter()
    feats = EngagementFeatures(cutoff=cutoff).fit_transform(events)
    t_all = time.perf_counter() - t0
    print(
        f"fit_transform with text scoring: {t_all:.1f} s -> {feats.shape[0]:,} x {feats.shape[1]}"
    )

    t0 = time.perf_counter()
    events["sentiment"] = sentiment_scores(events["text"], events["language"])
    t_sent = time.perf_counter() - t0
    print(f"sentiment_scores on {len(events):,} rows (cached): {t_sent:.1f} s")
    t0 = time.perf_counter()
    EngagementFeatures(cutoff=cutoff).fit_transform(events.drop(columns=["text", "language"]))
    t_pre = time.perf_counter() - t0
    print(f"fit_transform with precomputed sentiment: {t_pre:.1f} s")

    sample = pd.Series([f"{t} #{i}" for i, t in enumerate(EN * 1000)])
    t0 = time.perf_counter()
    sentiment_scores(sample, "en")
    en_rate = len(sample) / (time.perf_counter() - t0)
    sample = pd.Series([f"{t} #{i}" for i, t in enumerate(ES * 1000)])
    t0 = time.perf_counter()
    sentiment_scores(sample, "es")
    es_rate = len(sample) / (time.perf_counter() - t0)
    print(f"uncached scoring throughput: en {en_rate:,.0f} texts/s, es {es_rate:,.0f} texts/s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
