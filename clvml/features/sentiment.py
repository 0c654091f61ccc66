"""Sentiment of customer texts in English and Spanish, offline.

English texts are scored with VADER (Hutto & Gilbert, 2014) from the ``vaderSentiment``
package, whose lexicon ships inside its wheel, extended with one rule: customer-service verbs
that VADER leaves neutral take a negative valence when negated ("never arrived", "doesn't work",
"nobody answers"; ``lexicons/en_negatable.tsv``), and the customer-care rules of
:mod:`clvml.features.care_rules` (ratings, care vocabulary, requests, exasperation,
sarcasm), which the Spanish analyser applies too. Spanish texts are scored by
:class:`SpanishSentimentAnalyzer`, a VADER-style rule-based analyser over a lexicon of
customer-service vocabulary shipped as package data in ``clvml/features/lexicons/``. Neither
downloads anything at run time.

A learned layer (:class:`SentimentLayer`, a logistic regression over the rule scores, the
care-rule flags and word/character terms, trained on the development sets only by
``tools/train_sentiment_layer.py`` and shipped as ``lexicons/layer_<lang>.json``) corrects
the rule score's class where it disagrees with it; ``sentiment_scores(..., layer=False)``
gives the rules alone.

Both return VADER's *compound* score in [-1, 1]. The usual thresholds classify a text as
positive when compound >= 0.05, negative when compound <= -0.05 and neutral otherwise
(:data:`POSITIVE_THRESHOLD`, :data:`NEGATIVE_THRESHOLD`).

:func:`sentiment_scores` scores a column of texts: every distinct (text, language) pair is
scored once (``pandas.factorize``) and results are memoised across calls, because event logs
repeat the same texts many times.

References
----------
Hutto, C. J. & Gilbert, E. (2014). VADER: A parsimonious rule-based model for sentiment
analysis of social media text. Proceedings of ICWSM-14.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from clvml.data.contracts import MAX_TEXT_LENGTH
from clvml.features.care_rules import (
    RATING_VALENCE,
    WEAK_VALENCE,
    exasperation,
    is_request,
    join_phrases,
    load_care_lexicon,
    quoted_spans,
    rating_valence,
    sarcasm_marker,
    short_interjections,
)

__all__ = [
    "LAYER_NUMERIC",
    "NEGATIVE_THRESHOLD",
    "POSITIVE_THRESHOLD",
    "SUPPORTED_LANGUAGES",
    "SentimentLayer",
    "SpanishLexicon",
    "SpanishSentimentAnalyzer",
    "detect_language",
    "layer_inputs",
    "load_english_negatable",
    "load_sentiment_layer",
    "load_spanish_lexicon",
    "normalize_text",
    "sentiment_labels",
    "sentiment_scores",
]

POSITIVE_THRESHOLD = 0.05
"""Compound score at or above which a text counts as positive (VADER's convention)."""
NEGATIVE_THRESHOLD = -0.05
"""Compound score at or below which a text counts as negative (VADER's convention)."""
SUPPORTED_LANGUAGES = ("en", "es")

# VADER's empirically derived constants (Hutto & Gilbert, 2014), reused for Spanish.
_B_INCR = 0.293  # booster increment
_N_SCALAR = -0.74  # negation scalar
_C_INCR = 0.733  # ALL-CAPS emphasis
_ALPHA = 15.0  # normalisation: compound = s / sqrt(s^2 + alpha)
_EXCL_INCR = 0.292  # per exclamation mark, at most 4
_WINDOW = 3  # tokens before a sentiment word that negators and boosters reach
_WINDOW_DECAY = (1.0, 0.95, 0.9)  # booster strength at distance 1, 2, 3 (as VADER)

_POST_BOOSTERS = frozenset({"mucho", "muchisimo", "muchisima", "bastante", "demasiado"})
_TOKEN_RE = re.compile(r"\w+", re.UNICODE)
_CLAUSE_RE = re.compile(r"[,;:.!?¡¿()]+")
_SUPERLATIVE_RE = re.compile(r"^(.{2,}?)isim[oa]s?$")


def normalize_text(text: str) -> str:
    """Lower-case ``text`` and remove accents and diacritics (``"Pésimo"`` -> ``"pesimo"``)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# ---------------------------------------------------------------------------------------------
# Spanish lexicon
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpanishLexicon:
    """Valences and modifiers of the Spanish analyser (keys normalised, phrases joined by ``_``).

    Attributes
    ----------
    valence : dict of str to float
        Sentiment words and phrases on VADER's scale (-4 .. +4).
    negators : frozenset of str
        Words that flip a sentiment word up to three tokens later.
    boosters, dampeners : dict of str to float
        Increments added to / subtracted from the magnitude of the next sentiment word.
    weak_negators : dict of str to float
        ``poco``: reverses a following positive word with this factor, dampens a negative one.
    contrast : frozenset of str
        ``pero``: sentiment before it weighs 0.5, after it 1.5.
    negatable : dict of str to float
        Words neutral on their own that take this valence when negated ("no funciona").
    phrases : dict of tuple to str
        Multi-word terms (as token tuples) and the joined token they become.
    care : frozenset of str
        Terms of the care vocabulary (``es_care.tsv``, :mod:`clvml.features.care_rules`),
        which keep their valence inside requests.
    """

    valence: dict[str, float]
    negators: frozenset[str]
    boosters: dict[str, float]
    dampeners: dict[str, float]
    weak_negators: dict[str, float]
    contrast: frozenset[str]
    negatable: dict[str, float]
    phrases: dict[tuple[str, ...], str]
    care: frozenset[str] = frozenset()


def _read_tsv(name: str) -> list[list[str]]:
    path = resources.files("clvml.features").joinpath("lexicons", name)
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append([field.strip() for field in line.split("\t")])
    return rows


@lru_cache(maxsize=1)
def load_spanish_lexicon() -> SpanishLexicon:
    """Load the Spanish lexicon and modifiers shipped in ``clvml/features/lexicons/``.

    Returns
    -------
    SpanishLexicon
        Read once per process and cached.
    """
    phrases: dict[tuple[str, ...], str] = {}

    def key(term: str) -> str:
        tokens = tuple(_TOKEN_RE.findall(normalize_text(term)))
        if len(tokens) > 1:
            phrases[tokens] = "_".join(tokens)
        return "_".join(tokens)

    valence = {key(term): float(value) for term, value in _read_tsv("es_lexicon.tsv")}
    care = {key(term): value for term, value in load_care_lexicon("es").items()}
    valence.update(care)
    roles: dict[str, dict[str, float]] = {
        r: {} for r in ("negator", "booster", "dampener", "weak_negator", "contrast", "negatable")
    }
    for term, role, value in _read_tsv("es_modifiers.tsv"):
        roles[role][key(term)] = float(value)
    return SpanishLexicon(
        valence=valence,
        negators=frozenset(roles["negator"]),
        boosters=roles["booster"],
        dampeners=roles["dampener"],
        weak_negators=roles["weak_negator"],
        contrast=frozenset(roles["contrast"]),
        negatable=roles["negatable"],
        phrases=phrases,
        care=frozenset(care),
    )


class SpanishSentimentAnalyzer:
    """VADER-style rule-based sentiment for Spanish customer-service text.

    Each sentiment word's valence (from :func:`load_spanish_lexicon`) is adjusted by its context
    and the adjusted valences are summed and squashed into a compound score in [-1, 1]:

    .. math::

        s = \\sum_i w_i v_i + e, \\qquad \\text{compound} = \\frac{s}{\\sqrt{s^2 + 15}}

    where, as in VADER, for the word at position *i*:

    * a booster (``muy``, ``súper``, ``muchísimo``, ``bastante``...) up to three tokens before adds
      its increment (0.293 for ``muy``) to :math:`|v_i|`, scaled 1, 0.95, 0.9 with distance
      (``mucho``, ``muchísimo``, ``bastante``, ``demasiado`` also right after the word:
      ``me gustó mucho``);
      a dampener (``algo``, ``un poco``) subtracts it; a superlative (``rapidísimo``) adds 0.293;
    * a negator (``no``, ``nunca``, ``nada``, ``ni``, ``jamás``, ``tampoco``, ``sin``, ``nadie``...)
      up to three tokens before multiplies :math:`v_i` by -0.74; Spanish negative concord
      (``no me gustó nada``) is one negation, not two; ``poco`` directly before a positive word
      reverses it at half strength (``poco útil``);
    * customer-service verbs that are neutral alone take a negative valence when negated
      (``no funciona``, ``nunca llegó``, ``nadie contesta``);
    * a word in capitals in a text that is not all capitals gains 0.733 in magnitude;
    * negators and boosters act within their clause (they do not cross ``, ; : . ! ?``);
    * :math:`w_i` is 0.5 before ``pero`` and 1.5 after it, 1 otherwise;
    * :math:`e` adds 0.292 per ``!`` (at most four) and 0.18 per ``?`` when there are two or more
      (at most 0.96), in the direction of the sum.

    Accents are removed before look-up, so unaccented informal writing scores the same.
    Adjective inflections (plural, feminine) are resolved by a light suffix rule.

    Parameters
    ----------
    lexicon : SpanishLexicon, optional
        Defaults to the lexicon shipped with clvml.

    Examples
    --------
    >>> sia = SpanishSentimentAnalyzer()
    >>> sia.polarity_scores("El envío fue muy rápido, ¡gracias!")["compound"] > 0.5
    True
    >>> sia.polarity_scores("No me gustó nada")["compound"] < 0
    True
    """

    def __init__(self, lexicon: SpanishLexicon | None = None) -> None:
        self.lexicon = lexicon if lexicon is not None else load_spanish_lexicon()
        self._lookup_cache: dict[str, tuple[float, float] | None] = {}

    # -- lexicon look-up with light morphology ---------------------------------------------
    def _lookup(self, token: str) -> tuple[float, float] | None:
        """Return (valence, extra intensity) of a normalised token, or None."""
        try:
            return self._lookup_cache[token]
        except KeyError:
            pass
        valence = self.lexicon.valence
        found: tuple[float, float] | None = None
        if token in valence:
            found = (valence[token], 0.0)
        elif len(token) >= 4:
            m = _SUPERLATIVE_RE.match(token)
            if m is not None:
                root = m.group(1)
                for cand in (root + "o", root + "e", root, root + "a"):
                    if cand in valence:
                        found = (valence[cand], _B_INCR)
                        break
            if found is None:
                cands = []
                if token.endswith("s"):
                    cands.append(token[:-1])
                if token.endswith("es"):
                    cands.append(token[:-2])
                if token.endswith("as"):
                    cands.append(token[:-2] + "o")
                if token.endswith("a"):
                    cands.append(token[:-1] + "o")
                for cand in cands:
                    if cand in valence:
                        found = (valence[cand], 0.0)
                        break
        self._lookup_cache[token] = found
        return found

    def _tokens(self, text: str) -> tuple[list[str], list[bool], list[int]]:
        """Normalised tokens (phrases joined), their ALL-CAPS flags and clause numbers."""
        raw: list[str] = []
        clause_of: list[int] = []
        for clause_no, clause in enumerate(_CLAUSE_RE.split(text)):
            words = _TOKEN_RE.findall(clause)
            raw.extend(words)
            clause_of.extend([clause_no] * len(words))
        norm = [normalize_text(t) for t in raw]
        shouting = [t.isupper() and len(t) > 1 for t in raw]
        if shouting and all(shouting):  # an all-caps text emphasises nothing in particular
            shouting = [False] * len(raw)
        phrases = self.lexicon.phrases
        out: list[str] = []
        caps: list[bool] = []
        clauses: list[int] = []
        i, n = 0, len(norm)
        while i < n:
            for size in (4, 3, 2):
                if i + size <= n and tuple(norm[i : i + size]) in phrases:
                    out.append(phrases[tuple(norm[i : i + size])])
                    caps.append(any(shouting[i : i + size]))
                    clauses.append(clause_of[i])
                    i += size
                    break
            else:
                out.append(norm[i])
                caps.append(shouting[i])
                clauses.append(clause_of[i])
                i += 1
        return out, caps, clauses

    def polarity_scores(self, text: str) -> dict[str, float]:
        """Score one text.

        Parameters
        ----------
        text : str
            A Spanish text.

        Returns
        -------
        dict
            ``neg``, ``neu``, ``pos`` (proportions of the text, as in VADER) and ``compound``
            (normalised score in [-1, 1]).
        """
        base = self._score(text, mute=is_request(text), flip=False)
        alone = self._score_alone
        if _sarcastic(text, base, self._positive, alone):
            base = self._score(text, mute=is_request(text), flip=True)
        return _add_valence(base, rating_valence(text) + exasperation(text))

    def _score_alone(self, text: str) -> float:
        return self._score(text, mute=False, flip=False)["compound"]

    def _positive(self, word: str) -> bool:
        hit = self._lookup(normalize_text(word))
        return hit is not None and hit[0] > 0

    def _score(self, text: str, *, mute: bool, flip: bool) -> dict[str, float]:
        """VADER-style scores; ``mute``: weak words count 0; ``flip``: praise turns negative."""
        lex = self.lexicon
        tokens, caps, clauses = self._tokens(text)
        scores: list[float] = []
        for i, tok in enumerate(tokens):
            hit = self._lookup(tok)
            start = max(0, i - _WINDOW)
            while clauses[start] != clauses[i]:  # modifiers do not cross , ; : . ! ?
                start += 1
            before = tokens[start:i]
            negated = any(t in lex.negators for t in before)
            if hit is None:
                if negated and tok in lex.negatable:
                    scores.append(lex.negatable[tok])
                else:
                    scores.append(0.0)
                continue
            v, extra = hit
            if v == 0.0 or (mute and abs(v) < WEAK_VALENCE and tok not in lex.care):
                scores.append(0.0)
                continue
            if flip and v > 0:
                v = -v
            sign = 1.0 if v > 0 else -1.0
            v += sign * extra
            if caps[i]:
                v += sign * _C_INCR
            for dist, prev in enumerate(reversed(before)):
                decay = _WINDOW_DECAY[dist]
                if prev in lex.boosters:
                    v += sign * lex.boosters[prev] * decay
                elif prev in lex.dampeners:
                    v -= sign * lex.dampeners[prev] * decay
            after = tokens[i + 1] if i + 1 < len(tokens) and clauses[i + 1] == clauses[i] else ""
            if after in _POST_BOOSTERS:  # "me gustó mucho", "me ayudaron muchísimo"
                v += sign * lex.boosters[after]
            if before and before[-1] in lex.weak_negators:
                v *= -lex.weak_negators[before[-1]] if v > 0 else lex.weak_negators[before[-1]]
            elif negated:
                v *= _N_SCALAR
            scores.append(v)
        contrast_at = next((i for i, t in enumerate(tokens) if t in lex.contrast), None)
        if contrast_at is not None:
            scores = [
                s * (0.5 if i < contrast_at else 1.5) if i != contrast_at else s
                for i, s in enumerate(scores)
            ]
        return _vader_summary(scores, text)


def _sarcastic(text: str, scores: dict[str, float], positive: Any, compound: Any) -> bool:
    """Whether the praise in ``text`` is sarcastic (:mod:`clvml.features.care_rules`).

    An explicit marker, praise in quotation marks, or a short praising interjection
    ("Perfect.", "Oh great,"; its own ``compound`` score positive) in a message that also
    complains (``scores["neg"] > 0``).
    """
    if sarcasm_marker(text):
        return True
    words = (w for span in quoted_spans(text) for w in span.split())
    if any(positive(w) for w in words):
        return True
    if scores["neg"] > 0:
        return any(compound(s) >= POSITIVE_THRESHOLD for s in short_interjections(text))
    return False


def _add_valence(scores: dict[str, float], extra: float) -> dict[str, float]:
    """``scores`` with ``extra`` added to the raw valence sum behind the compound score."""
    if extra == 0.0:
        return scores
    c = max(-0.9999, min(0.9999, scores["compound"]))
    total = c * math.sqrt(_ALPHA) / math.sqrt(1.0 - c * c) + extra
    compound = total / math.sqrt(total * total + _ALPHA)
    return {**scores, "compound": round(max(-1.0, min(1.0, compound)), 4)}


def _punctuation_emphasis(text: str) -> float:
    ep = min(text.count("!"), 4) * _EXCL_INCR
    qm = text.count("?")
    qp = 0.0 if qm <= 1 else (qm * 0.18 if qm <= 3 else 0.96)
    return ep + qp


def _vader_summary(scores: list[float], text: str) -> dict[str, float]:
    """Compound and pos/neg/neu proportions from per-token valences, as VADER computes them."""
    total = math.fsum(scores)
    if total == 0.0:
        return {"neg": 0.0, "neu": 1.0 if scores else 0.0, "pos": 0.0, "compound": 0.0}
    emphasis = _punctuation_emphasis(text)
    total += emphasis if total > 0 else -emphasis
    compound = max(-1.0, min(1.0, total / math.sqrt(total * total + _ALPHA)))
    pos = sum(s + 1 for s in scores if s > 0)
    neg = sum(s - 1 for s in scores if s < 0)
    neu = sum(1 for s in scores if s == 0)
    if pos > abs(neg):
        pos += emphasis
    elif pos < abs(neg):
        neg -= emphasis
    denom = pos + abs(neg) + neu
    return {
        "neg": round(abs(neg) / denom, 3),
        "neu": round(neu / denom, 3),
        "pos": round(pos / denom, 3),
        "compound": round(compound, 4),
    }


# ---------------------------------------------------------------------------------------------
# Language detection
# ---------------------------------------------------------------------------------------------

# Frequent function words, excluding those both languages share ("no", "me", "a", "he", "mi").
_EN_WORDS = """the and is it to of i you was for in this that with have not on are be your my we
    at but so do can what how where when why will has been an just very please thanks thank
    did didn t
    s m ll ve re don doesn isn wasn it's i'm from they their there them our us would could should
    get got about any all if or by after again still never nobody anyone one which who out up
    """
_EN_STOPWORDS = frozenset(_EN_WORDS.split())
_ES_WORDS = """el la los las de del que y en un una unos unas por para con se lo le les su sus
    muy pero más como ya está esta estoy están este eso esto hay qué cómo dónde cuándo cuál
    gracias todo toda nada nunca os vuestro vuestra tenéis sois al ni sin porque también hola
    mis tu tus ha han he sido fue era son es estaba todavía aún otra otro cuando donde quiero
    puedo podéis mucho muchas muchos siempre nadie tiene tengo ningún ninguna después hasta
    entre sobre desde pedido envío"""
_ES_STOPWORDS = frozenset(normalize_text(w) for w in _ES_WORDS.split())
_ES_CHARS = frozenset("ñ¿¡áéíóú")


def _detect_one(text: str, default: str) -> str:
    lowered = text.lower()
    words = _TOKEN_RE.findall(lowered)
    en = sum(w in _EN_STOPWORDS for w in words)
    es = sum(normalize_text(w) in _ES_STOPWORDS for w in words)
    es += 2 * any(c in _ES_CHARS for c in lowered)
    if en == es:
        return default
    return "es" if es > en else "en"


def detect_language(texts: Iterable[object], *, default: str = "en") -> np.ndarray:
    """Guess whether each text is English or Spanish from function words and Spanish letters.

    Counts English and Spanish stopwords (words both languages share are left out) and adds
    two Spanish votes when the text contains ``ñ``, ``¿``, ``¡`` or an accented vowel. Each
    distinct text is examined once.

    Parameters
    ----------
    texts : iterable of str
        Missing values (None, NaN) get ``default``.
    default : {"en", "es"}, default "en"
        Returned on a tie (e.g. "ok", an emoji) or a missing text.

    Returns
    -------
    numpy.ndarray of str
        ``"en"`` or ``"es"`` per text.

    Examples
    --------
    >>> detect_language(["¿Dónde está mi pedido?", "Where is my order?"]).tolist()
    ['es', 'en']
    """
    if default not in SUPPORTED_LANGUAGES:
        raise ValueError(f"default must be one of {SUPPORTED_LANGUAGES}, got {default!r}")
    codes, uniques = pd.factorize(pd.Series(list(texts), dtype=object), use_na_sentinel=True)
    langs = np.array([_detect_one(str(t), default) for t in uniques] + [default], dtype=object)
    return langs[codes].astype(str)  # code -1 (missing) picks the trailing default


# ---------------------------------------------------------------------------------------------
# Learned layer over the rules (issue #14 point 9)
# ---------------------------------------------------------------------------------------------

#: Numeric inputs of the learned layer, in the order of its coefficients.
LAYER_NUMERIC = (
    "compound",
    "pos",
    "neg",
    "neu",
    "rule_positive",
    "rule_negative",
    "request",
    "question",
    "rating",
    "exasperation",
    "sarcasm",
    "exclamations_signed",
)
_SYMBOL_MIN = 0x2000  # characters from here on (emoji, stars, arrows) are features themselves


def layer_inputs(text: str, scores: dict[str, float]) -> tuple[list[float], list[str]]:
    """The learned layer's inputs for one text: numeric features and sparse terms.

    Parameters
    ----------
    text : str
        The message.
    scores : dict
        The rule-based analyser's ``polarity_scores(text)`` (``compound``, ``pos``, ``neg``,
        ``neu``).

    Returns
    -------
    numeric : list of float
        One value per name of :data:`LAYER_NUMERIC`: the rule scores, the rule's class, the
        care-rule flags, and the number of ``!`` (at most 3) signed like the rule score (an
        exclamation mark intensifies; it has no direction of its own).
    terms : list of str
        Present terms: accent-free lower-case words (``w:``; digits become ``0``), word pairs
        (``b:``), character 3- and 4-grams of each word with a space either side (``c:``) and
        symbols such as emoji (``s:``), once per occurrence (the layer reads counts).
    """
    return _numeric_inputs(text, scores), sorted(_terms(text))


def _numeric_inputs(text: str, scores: dict[str, float]) -> list[float]:
    """The numeric inputs of :func:`layer_inputs`."""
    c = scores["compound"]
    stripped = text.strip()
    numeric = [
        c,
        scores["pos"],
        scores["neg"],
        scores["neu"],
        float(c >= POSITIVE_THRESHOLD),
        float(c <= NEGATIVE_THRESHOLD),
        float(is_request(text)),
        float(stripped.endswith("?") or "¿" in stripped),
        rating_valence(text) / RATING_VALENCE,
        float(exasperation(text) != 0.0),
        float(sarcasm_marker(text)),
        math.copysign(min(text.count("!"), 3), c) if c else 0.0,
    ]
    return numeric


def _terms(text: str) -> list[str]:
    """The terms of :func:`layer_inputs`, unsorted and possibly repeated."""
    words = ["0" if w.isdigit() else w for w in _TOKEN_RE.findall(normalize_text(text))]
    out = ["w:" + w for w in words]
    out += ["b:" + a + " " + b for a, b in itertools.pairwise(words)]
    for w in words:
        padded = " " + w + " "
        n = len(padded)
        out += ["c:" + padded[i : i + 3] for i in range(n - 2)]
        out += ["c:" + padded[i : i + 4] for i in range(n - 3)]
    out += ["s:" + ch for ch in text if ord(ch) >= _SYMBOL_MIN]
    return out


class SentimentLayer:
    """A multinomial logistic regression over :func:`layer_inputs`, trained on the dev sets.

    ``tools/train_sentiment_layer.py`` fits it on ``tests/features/data/dev_care_<lang>.tsv``
    (never on the held-out sets) and writes ``lexicons/layer_<lang>.json``. The logit of
    class *k* is ``intercept[k] + numeric . coef_numeric[k] + sum of terms[t][k]`` over each
    occurrence of each term *t* of the text (standardisation folded into the coefficients).
    A word's own terms (the word and its character n-grams) are summed once and memoised, so
    a text costs one look-up per word.

    Parameters
    ----------
    classes : sequence of str
        ``("negative", "neutral", "positive")``.
    intercept : sequence of float
        One per class.
    coef_numeric : sequence of sequence of float
        Per class, one coefficient per name of :data:`LAYER_NUMERIC`.
    terms : dict of str to sequence of float
        Per term, one coefficient per class.
    margin : float, default 0.0
        The layer overrides the rule score's class only when its own class is at least this
        much more probable (chosen by cross-validation with the rest).
    """

    def __init__(
        self,
        classes: Iterable[str],
        intercept: Iterable[float],
        coef_numeric: Iterable[Iterable[float]],
        terms: dict[str, Iterable[float]],
        margin: float = 0.0,
    ) -> None:
        self.classes = tuple(classes)
        self.intercept = tuple(float(v) for v in intercept)
        self.coef_numeric = tuple(tuple(float(v) for v in row) for row in coef_numeric)
        self.terms = {t: tuple(float(v) for v in row) for t, row in terms.items()}
        self.margin = float(margin)
        shapes = {len(self.intercept), len(self.coef_numeric)}
        shapes |= {len(row) for row in self.terms.values()}
        if shapes != {len(self.classes)} or {len(r) for r in self.coef_numeric} != {
            len(LAYER_NUMERIC)
        }:
            raise ValueError(
                f"a layer over {len(self.classes)} classes needs {len(self.classes)} "
                f"intercepts and term coefficients and {len(LAYER_NUMERIC)} numeric "
                "coefficients per class"
            )
        self._words: dict[str, tuple[float, ...]] = {}
        self._zero = (0.0,) * len(self.classes)

    def _add(self, total: list[float], term: str) -> None:
        row = self.terms.get(term)
        if row is not None:
            for k, w in enumerate(row):
                total[k] += w

    def _word(self, word: str) -> tuple[float, ...]:
        """Summed coefficients of a word's own terms (``w:`` and ``c:``), memoised."""
        found = self._words.get(word)
        if found is None:
            total = list(self._zero)
            self._add(total, "w:" + word)
            padded = " " + word + " "
            n = len(padded)
            for size in (3, 4):
                for i in range(n - size + 1):
                    self._add(total, "c:" + padded[i : i + size])
            found = tuple(total)
            if len(self._words) < 2**16:
                self._words[word] = found
        return found

    def logits(self, text: str, scores: dict[str, float]) -> list[float]:
        """The class logits (order of :attr:`classes`) of ``text`` given its rule scores."""
        numeric = _numeric_inputs(text, scores)
        total = [
            b + sum([w * x for w, x in zip(row, numeric, strict=True)])
            for b, row in zip(self.intercept, self.coef_numeric, strict=True)
        ]
        words = ["0" if w.isdigit() else w for w in _TOKEN_RE.findall(normalize_text(text))]
        for w in words:
            for k, v in enumerate(self._word(w)):
                total[k] += v
        for a, b in itertools.pairwise(words):
            self._add(total, "b:" + a + " " + b)
        for ch in text:
            if ord(ch) >= _SYMBOL_MIN:
                self._add(total, "s:" + ch)
        return total

    def probabilities(self, text: str, scores: dict[str, float]) -> list[float]:
        """Class probabilities (order of :attr:`classes`) of ``text`` given its rule scores."""
        logits = self.logits(text, scores)
        top = max(logits)
        exp = [math.exp(z - top) for z in logits]
        total = sum(exp)
        return [e / total for e in exp]

    def adjust(self, text: str, scores: dict[str, float]) -> float:
        """The compound score, moved into the band of the class the layer predicts.

        Where the layer's most probable class is the rule score's class, or beats it by less
        than :attr:`margin` in probability, the rule score is kept. Otherwise the score
        becomes ``P(positive) - P(negative)``, clipped into the predicted band (at least 0.05
        for positive, at most -0.05 for negative), or 0.0 for neutral.
        """
        p = dict(zip(self.classes, self.probabilities(text, scores), strict=True))
        label = max(p, key=p.__getitem__)
        c = scores["compound"]
        rule = (
            "positive"
            if c >= POSITIVE_THRESHOLD
            else "negative"
            if c <= NEGATIVE_THRESHOLD
            else "neutral"
        )
        if label == rule or p[label] - p[rule] < self.margin:
            return float(c)
        if label == "neutral":
            return 0.0
        diff = p["positive"] - p["negative"]
        if label == "positive":
            return round(min(1.0, max(POSITIVE_THRESHOLD, diff)), 4)
        return round(max(-1.0, min(NEGATIVE_THRESHOLD, diff)), 4)


@lru_cache(maxsize=2)
def load_sentiment_layer(language: str) -> SentimentLayer | None:
    """The learned layer of ``language`` (``lexicons/layer_<language>.json``), None without.

    Parameters
    ----------
    language : {"en", "es"}

    Returns
    -------
    SentimentLayer or None
        Read once per process and cached.
    """
    path = resources.files("clvml.features").joinpath("lexicons", f"layer_{language}.json")
    if not path.is_file():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    if tuple(raw["numeric"]) != LAYER_NUMERIC:
        raise ValueError(
            f"layer_{language}.json was trained with numeric inputs {raw['numeric']}, "
            f"expected {list(LAYER_NUMERIC)}; rebuild it with tools/train_sentiment_layer.py"
        )
    return SentimentLayer(
        classes=raw["classes"],
        intercept=raw["intercept"],
        coef_numeric=raw["coef_numeric"],
        terms=raw["terms"],
        margin=raw.get("margin", 0.0),
    )


# ---------------------------------------------------------------------------------------------
# Scoring many texts
# ---------------------------------------------------------------------------------------------


_EN_EXTRA_NEGATORS = frozenset({"no", "nobody", "noone", "nowhere"})


@lru_cache(maxsize=1)
def load_english_negatable() -> dict[str, float]:
    """English care verbs that take a negative valence when negated (``en_negatable.tsv``)."""
    return {word.lower(): float(value) for word, value in _read_tsv("en_negatable.tsv")}


@lru_cache(maxsize=1)
def _english_analyzer() -> Any:  # vaderSentiment has no type hints
    from vaderSentiment import vaderSentiment as vs

    negatable = load_english_negatable()
    care = {term.replace(" ", "_"): v for term, v in load_care_lexicon("en").items()}

    class _CareAwareVader(vs.SentimentIntensityAnalyzer):
        """VADER, plus negated customer-service verbs ("never arrived", "nobody answers")
        and the care rules of :mod:`clvml.features.care_rules`."""

        def __init__(self) -> None:
            super().__init__()
            self.lexicon.update(care)
            self._mute = self._flip = False

        def sentiment_valence(self, valence, sentitext, item, i, sentiments):
            word = item.lower()
            if word in negatable and word not in self.lexicon:
                before = [w.lower() for w in sentitext.words_and_emoticons[max(0, i - 3) : i]]
                if before and (vs.negated(before) or _EN_EXTRA_NEGATORS.intersection(before)):
                    sentiments.append(negatable[word])
                    return sentiments
            v = self.lexicon.get(word)
            if v is not None and self._mute and abs(v) < WEAK_VALENCE and word not in care:
                sentiments.append(0.0)
                return sentiments
            if v is not None and self._flip and v > 0:
                self.lexicon[word] = -v
                try:
                    return super().sentiment_valence(valence, sentitext, item, i, sentiments)
                finally:
                    self.lexicon[word] = v
            return super().sentiment_valence(valence, sentitext, item, i, sentiments)

        def _scores(self, text: str, *, mute: bool, flip: bool) -> dict[str, float]:
            self._mute, self._flip = mute, flip
            try:
                return super().polarity_scores(join_phrases(text, "en"))
            finally:
                self._mute = self._flip = False

        def polarity_scores(self, text):
            request = is_request(text)
            scores = self._scores(text, mute=request, flip=False)
            positive = lambda w: self.lexicon.get(w.lower(), 0.0) > 0  # noqa: E731
            alone = lambda t: self._scores(t, mute=False, flip=False)["compound"]  # noqa: E731
            if _sarcastic(text, scores, positive, alone):
                scores = self._scores(text, mute=request, flip=True)
            return _add_valence(scores, rating_valence(text) + exasperation(text))

    return _CareAwareVader()


@lru_cache(maxsize=1)
def _spanish_analyzer() -> SpanishSentimentAnalyzer:
    return SpanishSentimentAnalyzer()


#: Texts longer than this many characters are scored in pieces of at most this length.
_PIECE = 1_000


def _pieces(text: str) -> list[str]:
    """``text`` cut at spaces into pieces of at most :data:`_PIECE` characters."""
    out, start, n = [], 0, len(text)
    while start < n:
        end = min(start + _PIECE, n)
        if end < n:
            cut = text.rfind(" ", start + 1, end)
            end = cut if cut > start else end
        out.append(text[start:end])
        start = end
    return out


def _by_pieces(score: Any, text: str) -> float:
    """The compound score of ``text``, linear in its length.

    Rule-based scoring of one text takes time growing with the square of its
    length (10,000 characters: 0.36 s). A text longer than :data:`_PIECE` is scored
    in pieces cut at spaces; its score is the pieces' scores weighted by their length.
    ``score`` maps a text to its compound score.
    """
    if len(text) <= _PIECE:
        return float(score(text))
    parts = [p for p in _pieces(text) if p.strip()]
    weights = np.array([len(p) for p in parts], dtype=float)
    scores = np.array([score(p) for p in parts], dtype=float)
    return float(weights @ scores / weights.sum())


def _rules_en(text: str) -> dict[str, float]:
    return _english_analyzer().polarity_scores(text)


def _rules_es(text: str) -> dict[str, float]:
    return _spanish_analyzer().polarity_scores(text)


_RULES = {"en": _rules_en, "es": _rules_es}


def _layered(language: str, text: str) -> float:
    scores = _RULES[language](text)
    layer = load_sentiment_layer(language)
    return scores["compound"] if layer is None else layer.adjust(text, scores)


@lru_cache(maxsize=2**17)
def _compound_en(text: str) -> float:
    return _by_pieces(lambda t: _layered("en", t), text)


@lru_cache(maxsize=2**17)
def _compound_es(text: str) -> float:
    return _by_pieces(lambda t: _layered("es", t), text)


@lru_cache(maxsize=2**17)
def _rules_compound_en(text: str) -> float:
    return _by_pieces(lambda t: _rules_en(t)["compound"], text)


@lru_cache(maxsize=2**17)
def _rules_compound_es(text: str) -> float:
    return _by_pieces(lambda t: _rules_es(t)["compound"], text)


_SCORERS = {"en": _compound_en, "es": _compound_es}
_RULE_SCORERS = {"en": _rules_compound_en, "es": _rules_compound_es}


def _normalize_language(value: object) -> str | None:
    """'EN', 'es-MX', 'es_ES' -> 'en', 'es'; missing -> None; others lower-cased."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip().lower()
    return text[:2] if len(text) >= 2 else (text or None)


def sentiment_scores(
    texts: Iterable[object],
    language: str | Iterable[object] | None = None,
    *,
    default_language: str = "en",
    layer: bool = True,
) -> np.ndarray:
    """Compound sentiment score in [-1, 1] of each text, English or Spanish.

    Parameters
    ----------
    texts : iterable of str
        Texts to score; missing values (None, NaN) and empty strings score NaN.
    language : str or iterable, optional
        ``"en"`` or ``"es"`` for all texts, or one language per text (e.g. the ``language``
        column of the engagement events; regional tags such as ``"es-MX"`` are accepted).
        Texts whose language is missing, or all texts when ``language`` is None, are assigned a
        language by :func:`detect_language`. Texts in any other language score NaN.
    default_language : {"en", "es"}, default "en"
        Language assumed when detection cannot tell.
    layer : bool, default True
        Apply the learned layer (:class:`SentimentLayer`) over the rules: where it predicts
        another class than the rule score's, the score moves into that class's band. False:
        the rule-based score alone.

    Returns
    -------
    numpy.ndarray of float64
        VADER compound score per text (English: vaderSentiment; Spanish:
        :class:`SpanishSentimentAnalyzer`). Each distinct (text, language) pair is scored once
        and memoised for later calls. Time is linear in the text's length: a text longer
        than 1,000 characters is scored in pieces cut at spaces (their scores weighted by
        length), and only its first :data:`~clvml.data.contracts.MAX_TEXT_LENGTH` characters
        are read (validation reports the texts cut, rule ``text_truncated``).

    Examples
    --------
    >>> s = sentiment_scores(["not good", "muy bueno", "not good"], language=["en", "es", "en"])
    >>> bool(s[0] < 0), bool(s[1] > 0), bool(s[0] == s[2])
    (True, True, True)
    """
    text = texts if isinstance(texts, pd.Series) else pd.Series(list(texts), dtype=object)
    n = len(text)
    if n == 0:
        return np.empty(0, dtype=float)
    # everything below works on distinct values only
    t_codes, t_uniq = pd.factorize(text, use_na_sentinel=True)
    t_uniq = np.asarray(t_uniq, dtype=object)
    blank = np.fromiter((not str(u).strip() for u in t_uniq), dtype=bool, count=len(t_uniq))
    if language is None or isinstance(language, str):
        l_codes = np.zeros(n, dtype=np.int64) if language is not None else np.full(n, -1)
        l_norm = [_normalize_language(language)] if language is not None else []
    else:
        lang = (
            language if isinstance(language, pd.Series) else pd.Series(list(language), dtype=object)
        )
        if len(lang) != n:
            raise ValueError(f"language has {len(lang)} values for {n} texts")
        l_codes, l_uniq = pd.factorize(lang, use_na_sentinel=True)
        l_norm = [_normalize_language(v) for v in l_uniq]
    width = len(l_norm) + 1
    pair = np.where(t_codes >= 0, t_codes.astype(np.int64) * width + (l_codes + 1), -1)
    p_codes, p_uniq = pd.factorize(pair, use_na_sentinel=True)
    detected: dict[int, str] = {}
    out_unique = np.full(len(p_uniq) + 1, np.nan)  # trailing NaN for missing texts
    for j, p in enumerate(p_uniq):
        tc, lc = divmod(int(p), width)
        if tc < 0 or blank[tc]:
            continue
        # a bounded prefix (validation cuts texts there too and counts them)
        t = str(t_uniq[tc])[:MAX_TEXT_LENGTH]
        if lc == 0:  # language missing: detect it
            if tc not in detected:
                detected[tc] = _detect_one(t, default_language)
            lang_code: str | None = detected[tc]
        else:
            lang_code = l_norm[lc - 1]
        scorers = _SCORERS if layer else _RULE_SCORERS
        scorer = scorers.get(lang_code) if lang_code is not None else None
        if scorer is not None:
            out_unique[j] = scorer(t)
    return out_unique[p_codes]  # p_codes == -1 (missing text) picks the trailing NaN


def sentiment_labels(scores: np.ndarray | Iterable[float]) -> np.ndarray:
    """Classify compound scores as ``"positive"``, ``"negative"`` or ``"neutral"`` (NaN: ``""``).

    Uses the VADER thresholds :data:`POSITIVE_THRESHOLD` (0.05) and :data:`NEGATIVE_THRESHOLD`
    (-0.05).
    """
    s = np.asarray(scores, dtype=float)
    labels = np.where(
        s >= POSITIVE_THRESHOLD,
        "positive",
        np.where(s <= NEGATIVE_THRESHOLD, "negative", "neutral"),
    )
    return np.where(np.isnan(s), "", labels)
