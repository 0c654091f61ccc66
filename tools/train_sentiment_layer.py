"""Train the learned sentiment layer on the development sets (issue #14 point 9).

Reads ``tests/features/data/dev_care_<lang>.tsv`` only (never the held-out sets), scores each
message with the rule-based analyser (VADER + care rules, or clvml's Spanish analyser),
builds :func:`clvml.features.sentiment.layer_inputs` (numeric inputs and term counts) and
fits a multinomial logistic regression (scikit-learn, L2). The term kinds, the
regularisation ``C`` and the margin by which the layer must prefer its class over the rule
score's before it overrides it are chosen by repeated stratified 5-fold cross-validation on
the dev set; the chosen
model is refitted on the whole dev set and written to
``clvml/features/lexicons/layer_<lang>.json`` with its CV accuracy.

Usage::

    python tools/train_sentiment_layer.py            # both languages, writes the JSON files
    python tools/train_sentiment_layer.py --dry-run  # CV report only
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from clvml.features import sentiment as sm

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "features" / "data"
OUT = ROOT / "clvml" / "features" / "lexicons"
CLASSES = ("negative", "neutral", "positive")
KINDS: tuple[tuple[str, ...], ...] = (("w", "s"), ("w", "c", "s"), ("w", "b", "c", "s"))
CS = (0.1, 0.3, 1.0)
MIN_DF = 2
MARGINS = (0.0, 0.1, 0.2, 0.3)


def read_dev(language: str) -> pd.DataFrame:
    """The development set of ``language`` (label, text)."""
    return pd.read_csv(
        DATA / f"dev_care_{language}.tsv", sep="\t", quoting=3, dtype=str, keep_default_na=False
    )


def inputs(language: str, texts: Sequence[str]) -> tuple[np.ndarray, list[list[str]]]:
    """Numeric inputs and terms of each text, from the rule-based scores."""
    rules = sm._RULES[language]
    numeric, terms = [], []
    for text in texts:
        n, t = sm.layer_inputs(text, rules(text))
        numeric.append(n)
        terms.append(t)
    return np.asarray(numeric, dtype=float), terms


class Model:
    """Standardised numeric inputs + term counts -> logistic regression."""

    def __init__(self, kinds: tuple[str, ...], c: float, min_df: int) -> None:
        self.kinds = tuple(k + ":" for k in kinds)
        self.c, self.min_df = c, min_df

    def _matrix(self, numeric: np.ndarray, terms: list[list[str]]) -> sparse.csr_matrix:
        rows, cols = [], []
        for i, ts in enumerate(terms):
            for t in ts:
                j = self.vocab.get(t)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
        counts = sparse.csr_matrix(  # repeated (row, column) pairs add up: counts
            (np.ones(len(rows)), (rows, cols)), shape=(len(terms), len(self.vocab))
        )
        scaled = sparse.csr_matrix((numeric - self.mean) / self.std)
        return sparse.hstack([scaled, counts]).tocsr()

    def fit(self, numeric: np.ndarray, terms: list[list[str]], y: np.ndarray) -> Model:
        df = Counter(t for ts in terms for t in set(ts) if t[:2] in self.kinds)
        kept = sorted(t for t, n in df.items() if n >= self.min_df)
        self.vocab = {t: j for j, t in enumerate(kept)}
        self.mean = numeric.mean(axis=0)
        self.std = numeric.std(axis=0)
        self.std[self.std == 0] = 1.0
        self.lr = LogisticRegression(C=self.c, max_iter=10_000)
        self.lr.fit(self._matrix(numeric, terms), y)
        assert tuple(self.lr.classes_) == CLASSES
        return self

    def proba(self, numeric: np.ndarray, terms: list[list[str]]) -> np.ndarray:
        return np.asarray(self.lr.predict_proba(self._matrix(numeric, terms)))

    def export(self) -> dict[str, object]:
        """Coefficients with the standardisation folded in (see SentimentLayer)."""
        k = len(sm.LAYER_NUMERIC)
        coef = self.lr.coef_
        w_num = coef[:, :k] / self.std
        intercept = self.lr.intercept_ - w_num @ self.mean
        terms = {
            t: [round(float(v), 5) for v in coef[:, k + j]]
            for t, j in self.vocab.items()
            if np.abs(coef[:, k + j]).max() >= 1e-4
        }
        return {
            "classes": list(CLASSES),
            "numeric": list(sm.LAYER_NUMERIC),
            "intercept": [round(float(v), 6) for v in intercept],
            "coef_numeric": [[round(float(v), 6) for v in row] for row in w_num],
            "terms": terms,
        }


def rule_labels(numeric: np.ndarray) -> np.ndarray:
    """The rule score's class index (0 negative, 1 neutral, 2 positive) from the inputs."""
    positive = numeric[:, sm.LAYER_NUMERIC.index("rule_positive")] > 0
    negative = numeric[:, sm.LAYER_NUMERIC.index("rule_negative")] > 0
    return np.where(positive, 2, np.where(negative, 0, 1))


def decide(proba: np.ndarray, rule: np.ndarray, margin: float) -> np.ndarray:
    """The layer's class where it beats the rule's class by ``margin``, else the rule's
    (as :meth:`clvml.features.sentiment.SentimentLayer.adjust`)."""
    top = proba.argmax(axis=1)
    gain = proba[np.arange(len(top)), top] - proba[np.arange(len(top)), rule]
    return np.asarray(CLASSES)[np.where(gain >= margin, top, rule)]


def cv_proba(
    kinds: tuple[str, ...],
    c: float,
    numeric: np.ndarray,
    terms: list[list[str]],
    y: np.ndarray,
    repeats: int,
) -> list[np.ndarray]:
    """Out-of-fold class probabilities of each repeat of stratified 5-fold CV."""
    out = []
    for seed in range(repeats):
        proba = np.empty((len(y), len(CLASSES)))
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(numeric, y):
            model = Model(kinds, c, MIN_DF).fit(numeric[tr], [terms[i] for i in tr], y[tr])
            proba[te] = model.proba(numeric[te], [terms[i] for i in te])
        out.append(proba)
    return out


def train(language: str, repeats: int) -> tuple[dict[str, object], list[str]]:
    dev = read_dev(language)
    y = dev["label"].to_numpy()
    numeric, terms = inputs(language, list(dev["text"]))
    rule = rule_labels(numeric)
    rules = float((np.asarray(CLASSES)[rule] == y).mean())
    report = [f"{language}: {len(y)} dev messages, rules alone {rules:.3f}"]
    best: tuple[float, tuple[str, ...], float, float] | None = None
    for kinds in ((), *KINDS):
        for c in CS if kinds else (1.0,):
            probas = cv_proba(kinds, c, numeric, terms, y, repeats)
            for margin in MARGINS:
                acc = float(np.mean([(decide(p, rule, margin) == y).mean() for p in probas]))
                name = "+".join(kinds) or "none"
                report.append(f"  terms {name} C={c} margin={margin}: CV {acc:.3f}")
                if best is None or acc > best[0] + 1e-9:
                    best = (acc, kinds, c, margin)
    assert best is not None
    acc, kinds, c, margin = best
    report.append(f"  chosen: terms {'+'.join(kinds)} C={c} margin={margin}, CV {acc:.3f}")
    model = Model(kinds, c, MIN_DF).fit(numeric, terms, y)
    out = model.export()
    # the shipped (rounded) coefficients must reproduce scikit-learn's probabilities
    layer = sm.SentimentLayer(
        out["classes"],
        out["intercept"],
        out["coef_numeric"],
        out["terms"],  # type: ignore[arg-type]
    )
    score = sm._RULES[language]
    ours = np.array([layer.probabilities(t, score(t)) for t in dev["text"]])
    gap = float(np.abs(ours - model.proba(numeric, terms)).max())
    assert gap < 1e-3, gap
    report.append(f"  shipped coefficients reproduce scikit-learn's probabilities to {gap:.1e}")
    out["margin"] = margin
    out["trained_on"] = f"tests/features/data/dev_care_{language}.tsv ({len(y)} messages)"
    out["chosen_by"] = (
        f"{repeats}x stratified 5-fold CV on the dev set over terms {KINDS} (and none), "
        f"C {CS}, margin {MARGINS}; terms seen in >= {MIN_DF} messages"
    )
    out["config"] = {"terms": list(kinds), "C": c, "min_df": MIN_DF, "margin": margin}
    out["cv_accuracy"] = round(acc, 4)
    out["dev_accuracy_rules_alone"] = round(rules, 4)
    out["built"] = dt.date.today().isoformat()
    return out, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", nargs="+", default=["en", "es"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dry-run", action="store_true", help="report CV only, write nothing")
    args = parser.parse_args()
    for language in args.languages:
        layer, report = train(language, args.repeats)
        print("\n".join(report), flush=True)
        if not args.dry_run:
            path = OUT / f"layer_{language}.json"
            path.write_text(json.dumps(layer, ensure_ascii=False, sort_keys=True) + "\n")
            print(f"  wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
