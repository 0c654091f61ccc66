"""Tests of clvml.features.sentiment: rules, both languages, accuracy, offline use."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvml.features import sentiment as sm
from clvml.features.sentiment import (
    SpanishSentimentAnalyzer,
    detect_language,
    load_spanish_lexicon,
    sentiment_labels,
    sentiment_scores,
)

LABELLED = Path(__file__).parent / "data" / "labelled_sentences.csv"


def es(text: str) -> float:
    return SpanishSentimentAnalyzer().polarity_scores(text)["compound"]


def en(text: str) -> float:
    return float(sentiment_scores([text], "en")[0])


# --- rules ----------------------------------------------------------------------------------


def test_english_negation_and_intensifiers():
    assert en("good") > 0
    assert en("not good") < 0
    assert en("very good") > en("good")
    assert en("The order never arrived") < 0  # care verb negated
    assert en("The order arrived") == 0.0  # ... neutral on its own
    assert en("Nobody answers my emails") < 0
    assert en("It doesn't work") < 0


def test_spanish_negation():
    assert es("me gustó") > 0
    assert es("no me gustó") < 0
    assert es("no me gustó nada") < 0  # negative concord: one negation, not two
    assert es("no es bueno") < 0
    assert es("nunca llegó") < 0 and es("llegó") == 0.0
    assert es("no funciona") < 0 and es("funciona") == 0.0
    assert es("sin problemas") > 0
    assert es("jamás vuelvo a comprar algo tan malo") < 0


def test_spanish_negation_stops_at_clause_boundary():
    # "nada" negates "mal" but not "mejor" in the next clause
    assert es("No está nada mal, mejor de lo que esperaba") > es("No está nada mal")


def test_spanish_intensifiers_and_dampeners():
    assert es("muy bueno") > es("bueno") > 0
    assert es("súper bueno") > es("bueno")
    assert es("bastante bueno") > es("bueno")
    assert es("buenísimo") > es("bueno")
    assert es("me gustó muchísimo") > es("me gustó")
    assert es("muy malo") < es("malo") < 0
    assert 0 > es("un poco lento") > es("lento")  # dampener
    assert es("poco útil") < 0 < es("útil")  # "poco" reverses a positive word


def test_spanish_accents_case_and_emphasis():
    assert es("pésimo servicio") == es("pesimo servicio") == es("Pésimo Servicio") < 0
    assert es("¡Genial!!!") > es("Genial") > 0
    assert es("servicio GENIAL y rápido") > es("servicio genial y rápido")
    assert es("envío rápido pero caro") < es("envío caro pero rápido")  # "pero" weighs after


def test_spanish_inflections_found():
    assert es("encantada") == es("encantado") > 0
    assert es("amables") == es("amable") > 0
    assert es("rotas") < 0


def test_scores_in_range_and_labels():
    s = sentiment_scores(
        ["great", "awful", "the box", "genial", "fatal", "la caja"], ["en"] * 3 + ["es"] * 3
    )
    np.testing.assert_array_equal(
        sentiment_labels(s), ["positive", "negative", "neutral", "positive", "negative", "neutral"]
    )


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=80))
def test_compound_is_bounded_for_any_text(text):
    for lang in ("en", "es"):
        c = sentiment_scores([text], lang)[0]
        if text.strip():
            assert -1.0 <= c <= 1.0
        else:
            assert np.isnan(c)  # blank texts have no sentiment


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from([*sorted(load_spanish_lexicon().valence)[:400], "no", "muy", "pero"]),
        max_size=12,
    )
)
def test_spanish_compound_bounded_on_lexicon_words(words):
    c = es(" ".join(w.replace("_", " ") for w in words))
    assert -1.0 <= c <= 1.0


# --- scoring many texts ----------------------------------------------------------------------


def test_distinct_texts_scored_once(monkeypatch):
    calls: list[str] = []

    def fake(text: str) -> float:
        calls.append(text)
        return 0.5

    monkeypatch.setitem(sm._SCORERS, "en", fake)
    texts = ["a b", "c d", "a b", "a b", None, "c d"]
    out = sentiment_scores(texts, "en")
    assert sorted(calls) == ["a b", "c d"]
    np.testing.assert_array_equal(np.isnan(out), [False, False, False, False, True, False])


def test_missing_empty_unsupported_and_per_row_language():
    out = sentiment_scores(
        ["good", "", None, "bonjour", "muy bueno"], ["en", "en", "en", "fr", "ES-mx"]
    )
    assert out[0] > 0 and out[4] > 0
    assert np.isnan(out[1:4]).all()
    # a missing language is detected
    detected = sentiment_scores(["no me gustó nada"], [None])
    assert detected[0] == es("no me gustó nada")
    with pytest.raises(ValueError, match="language has 1 values for 2 texts"):
        sentiment_scores(["a", "b"], ["en"])


def test_same_text_scored_differently_per_language():
    # "no" alone: VADER's lexicon vs the Spanish negator
    out = sentiment_scores(["fatal error", "fatal error"], ["en", "es"])
    assert out[1] == es("fatal error")
    assert out[0] == en("fatal error")


# --- language detection and accuracy on the hand-labelled set ---------------------------------


@pytest.fixture(scope="module")
def labelled() -> pd.DataFrame:
    data = pd.read_csv(LABELLED)
    data["score"] = sentiment_scores(data["text"], data["language"])
    data["pred"] = sentiment_labels(data["score"])
    return data


def test_labelled_set_is_balanced_and_large_enough(labelled):
    counts = labelled.groupby(["language", "label"]).size()
    assert (counts >= 25).all() and len(counts) == 6
    assert labelled.groupby("language").size().min() >= 60


def test_language_detection_accuracy(labelled):
    acc = (detect_language(labelled["text"]) == labelled["language"]).mean()
    assert acc >= 0.97  # measured 1.00 (180 sentences)


@pytest.mark.parametrize(
    ("language", "min_3class", "min_binary"),
    # measured on all 90 sentences per language: en 0.900 / 0.983, es 0.989 / 1.000
    [("en", 0.85, 0.95), ("es", 0.93, 0.95)],
)
def test_accuracy_on_hand_labelled_sentences(labelled, language, min_3class, min_binary):
    d = labelled[labelled["language"] == language]
    three = (d["pred"] == d["label"]).mean()
    polar = d[d["label"] != "neutral"]
    binary = ((polar["score"] > 0) == (polar["label"] == "positive")).mean()
    assert three >= min_3class
    assert binary >= min_binary


def test_accuracy_on_held_out_half(labelled):
    # the "test" half was not looked at while the Spanish lexicon was tuned
    d = labelled[labelled["split"] == "test"]
    for language, floor in (("en", 0.85), ("es", 0.90)):  # measured 0.911, 0.978
        g = d[d["language"] == language]
        assert (g["pred"] == g["label"]).mean() >= floor


# --- generated texts ---------------------------------------------------------------------------


def test_accuracy_on_generated_texts():
    synthetic = pytest.importorskip("clvml.data.synthetic")
    data = synthetic.generate_social_commerce(1500, seed=7)
    truth = data.texts_truth.merge(data.engagement[["event_id", "text", "language"]], on="event_id")
    truth = truth[truth["group"] != "reply"]  # features score the customers' own texts only
    score = sentiment_scores(truth["text"], truth["language"])
    want = np.where(
        truth["polarity"] > 0, "positive", np.where(truth["polarity"] < 0, "negative", "neutral")
    )
    for language, floor in (("en", 0.82), ("es", 0.84)):  # measured 0.872, 0.890 (seed 7)
        m = (truth["language"] == language).to_numpy()
        assert (sentiment_labels(score[m]) == want[m]).mean() >= floor
    assert (detect_language(truth["text"]) == truth["language"]).mean() >= 0.97


# --- offline -----------------------------------------------------------------------------------


def test_lexicons_ship_inside_the_package():
    root = resources.files("clvml.features").joinpath("lexicons")
    for name in ("es_lexicon.tsv", "es_modifiers.tsv", "en_negatable.tsv"):
        assert root.joinpath(name).is_file()
    lex = load_spanish_lexicon()
    assert len(lex.valence) >= 300
    assert all(-4.0 <= v <= 4.0 for v in lex.valence.values())
    assert {"no", "nunca", "nada", "ni", "jamas", "tampoco", "sin"} <= lex.negators
    assert {"muy", "super", "muchisimo", "bastante"} <= set(lex.boosters)
    assert "poco" in lex.weak_negators
    assert not (lex.negators & set(lex.valence))


def test_works_with_network_disabled():
    # clvml is imported first; the analysers and lexicons load lazily, on first use, after the
    # network is gone
    code = (
        "import socket\n"
        "from clvml.features.sentiment import sentiment_scores\n"
        "class Blocked(socket.socket):\n"
        "    def __init__(self, *a, **k):\n"
        "        raise OSError('network disabled in test')\n"
        "def _no(*a, **k):\n"
        "    raise OSError('network disabled in test')\n"
        "socket.socket = Blocked\n"
        "socket.create_connection = _no\n"
        "socket.getaddrinfo = _no\n"
        "import vaderSentiment.vaderSentiment\n"
        "s = sentiment_scores(['not good at all', 'no me gustó nada', 'great!'], None)\n"
        "assert s[0] < 0 and s[1] < 0 and s[2] > 0, s\n"
        "print('ok')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
