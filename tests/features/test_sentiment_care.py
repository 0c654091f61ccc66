"""Customer-care sentiment (issue #14 point 9): the care rules and the held-out sets.

``data/heldout_care_{en,es}.tsv`` (>= 200 messages per language) were written for this
test and committed before anything was measured on them; the rules of
:mod:`clvml.features.care_rules` and the learned layer of :mod:`clvml.features.sentiment`
were tuned and trained on ``data/dev_care_{en,es}.tsv`` only. The floors below are the
measured accuracies rounded down (a regression guard); the issue's target of 0.90 is a
strict xfail until it is reached.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvml.features.care_rules import (
    exasperation,
    is_request,
    join_phrases,
    rating_valence,
    sarcasm_marker,
    short_interjections,
)
from clvml.features.sentiment import sentiment_labels, sentiment_scores

DATA = Path(__file__).parent / "data"
TARGET = 0.90


def _read(kind: str, language: str) -> pd.DataFrame:
    return pd.read_csv(
        DATA / f"{kind}_care_{language}.tsv",
        sep="\t",
        quoting=3,  # texts keep their quotation marks
        dtype=str,
        keep_default_na=False,
    )


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (95% by default)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _accuracy(language: str, *, layer: bool = True) -> tuple[int, int]:
    d = _read("heldout", language)
    pred = sentiment_labels(sentiment_scores(d["text"], language, layer=layer))
    return int((pred == d["label"].to_numpy()).sum()), len(d)


# --- the rules ---------------------------------------------------------------------------------


def test_ratings_are_a_stance():
    assert rating_valence("2/5, it pilled") < 0 < rating_valence("9 out of 10")
    assert rating_valence("1 star") < 0 < rating_valence("cinco estrellas")
    assert rating_valence("3/5") == 0.0 and rating_valence("order 5521, size 42") == 0.0
    assert sentiment_scores(["2/5"], "en")[0] < 0 < sentiment_scores(["4/5"], "es")[0]


def test_weak_words_carry_no_stance_in_requests_but_strong_ones_do():
    assert is_request("Can I pay with PayPal?") and is_request("Please send the invoice")
    assert not is_request("The parcel came today.")
    texts = ["Do you have gift wrapping?", "¿Tenéis papel de regalo?"]
    np.testing.assert_array_equal(sentiment_scores(texts, ["en", "es"]), [0.0, 0.0])
    assert sentiment_scores(["Why is the service so terrible?"], "en")[0] < 0
    assert sentiment_scores(["gift wrapping was lovely"], "en")[0] > 0  # not a request


def test_exasperation_and_negation_still_work():
    assert exasperation("Why 3 weeks??") < 0 == exasperation("Why 3 weeks?")
    s = sentiment_scores(["not good", "no es bueno", "Why does it take 3 weeks??"], "en")
    assert (s < 0).all()


def test_sarcasm_turns_praise_negative():
    assert sarcasm_marker("Impressive. /s") and sarcasm_marker("Gracias por nada")
    assert short_interjections("Great, another error. Perfect.") == ["great", "perfect"]
    en = [
        "Wow, six weeks for socks. Impressive. /s",
        'Thanks for the "free" trial that charged my card twice',
        "The box was broken and wet. Perfect.",
    ]
    assert (sentiment_scores(en, "en") < 0).all()
    # the same praise without a complaint stays praise
    assert sentiment_scores(["Arrived early. Perfect."], "en")[0] > 0
    assert sentiment_scores(["Genial, el pedido llegó roto otra vez"], "es")[0] < 0


def test_care_phrases_are_joined():
    assert join_phrases("I was ON HOLD twice", "en") == "I was on_hold twice"
    assert sentiment_scores(["I was on hold for an hour"], "en")[0] < 0


# --- held-out accuracy -------------------------------------------------------------------------


def test_held_out_sets_are_large_disjoint_from_the_dev_sets_and_labelled():
    for language in ("en", "es"):
        held, dev = _read("heldout", language), _read("dev", language)
        assert len(held) >= 200 and not held["text"].duplicated().any()
        assert set(held["label"]) == {"positive", "negative", "neutral"}
        assert held["label"].value_counts().min() >= 50
        assert not set(held["text"]) & set(dev["text"])


@pytest.mark.parametrize(
    ("language", "floor", "rules_floor"), [("en", 0.89, 0.75), ("es", 0.89, 0.77)]
)
def test_held_out_accuracy_with_its_interval(language, floor, rules_floor):
    # measured with the learned layer: en 194/217 = 0.894 (Wilson 95% 0.846-0.928);
    # es 197/219 = 0.8995 (0.853-0.933). Rules alone: en 165/217 = 0.760, es 171/219 = 0.781
    k, n = _accuracy(language)
    low, high = wilson(k, n)
    assert k / n >= floor
    assert low < k / n < high and high - low < 0.13
    k_rules, _ = _accuracy(language, layer=False)
    assert k_rules / n >= rules_floor
    assert k >= k_rules + 0.10 * n  # the layer adds at least 10 points to the rules


@pytest.mark.xfail(
    strict=True, reason="issue #14 target 0.90 missed: en 0.894 (194/217), es 0.8995 (197/219)"
)
@pytest.mark.parametrize("language", ["en", "es"])
def test_held_out_accuracy_target(language):
    k, n = _accuracy(language)
    assert k / n >= TARGET


@pytest.mark.parametrize(
    ("layer", "min_fixed", "min_gain"),
    # measured: rules alone change 31 of plain VADER's labels, 26 become right, 4 wrong
    # (0.760 vs 0.659); with the learned layer 63 change, 55 right, 4 wrong (0.894)
    [(False, 20, 0.07), (True, 45, 0.20)],
)
def test_english_rules_change_labels_plain_vader_gets_wrong(layer, min_fixed, min_gain):
    vader = pytest.importorskip("vaderSentiment.vaderSentiment").SentimentIntensityAnalyzer()
    d = _read("heldout", "en")
    truth = d["label"].to_numpy()
    ours = sentiment_labels(sentiment_scores(d["text"], "en", layer=layer))
    plain = sentiment_labels([vader.polarity_scores(t)["compound"] for t in d["text"]])
    changed = ours != plain
    fixed, broken = int((changed & (ours == truth)).sum()), int((changed & (plain == truth)).sum())
    assert changed.sum() >= 25 and fixed >= min_fixed and fixed >= 3 * broken
    assert (ours == truth).mean() > (plain == truth).mean() + min_gain
