"""Customer-care rules shared by the English and Spanish sentiment analysers.

Plain VADER reads sentiment words; customer-care messages often carry their stance in
other ways. These rules add what the words miss (issue #14 point 9). They were written
and tuned on the development sets ``tests/features/data/dev_care_{en,es}.tsv`` only; the
held-out sets ``heldout_care_{en,es}.tsv`` measure them (``docs/features.md``).

* **Ratings**: ``2/5``, ``3 out of 10``, ``1 star``, ``cinco estrellas`` are a stance: a
  share of the scale at most 0.4 adds :data:`RATING_VALENCE` negative, at least 0.7 adds it
  positive, in between nothing.
* **Care vocabulary** (``lexicons/en_care.tsv``, ``es_care.tsv``): events of a failed or a
  good service that VADER's general lexicon leaves neutral or too weak ("snapped", "on
  hold", "no reply", "se cuelga", "un crack"); multi-word terms are joined into one token.
* **Requests and questions** ("Can I pay with PayPal?", "Please send the invoice") carry no
  stance from their weak words: in such a text, words of magnitude below
  :data:`WEAK_VALENCE` count 0 (``gift``, ``safe``, ``free``, ``please``).
* **Exasperation**: ``??``, ``?!`` or ``¿¿`` adds :data:`EXASPERATION` negative.
* **Sarcasm**: an explicit marker (``/s``, an eye-roll emoji, "thanks for nothing", "yeah
  right") or praise set in quotation marks, or a short praising interjection ("Perfect.",
  "Oh great,") in a message that also complains, turns the praise negative.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

__all__ = [
    "EXASPERATION",
    "RATING_VALENCE",
    "WEAK_VALENCE",
    "exasperation",
    "is_request",
    "join_phrases",
    "load_care_lexicon",
    "quoted_spans",
    "rating_valence",
    "sarcasm_marker",
    "short_interjections",
]

#: Valence (VADER scale) of a low or a high rating.
RATING_VALENCE = 3.0
#: Below this magnitude a word carries no stance inside a request or a question.
WEAK_VALENCE = 2.0
#: Valence added by doubled question marks (``??``, ``?!``, ``¿¿``).
EXASPERATION = -1.5

_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "cero": 0, "una": 1, "uno": 1, "un": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5,
}  # fmt: skip
_NUM = r"(\d+(?:[.,]\d+)?|" + "|".join(_NUMBER_WORDS) + r")"
_SCALE_RE = re.compile(_NUM + r"\s*(?:/|out of|de|sobre)\s*(5|10)\b", re.IGNORECASE)
_STARS_RE = re.compile(_NUM + r"\s*(?:stars?|estrellas?)\b", re.IGNORECASE)
_EXASPERATION_RE = re.compile(r"\?\?|\?!|!\?|¿¿")
_REQUEST_RE = re.compile(
    r"^\s*(?:hi|hello|hola)?[,!\s]*(?:please|por favor|can|could|would|do|does|is|are|will|"
    r"what|when|where|which|how|i'?d like|i would like|quisiera|me gustar[ií]a|"
    r"necesito|i need|puedo|podéis|podeis|me podéis|me podeis|¿)",
    re.IGNORECASE,
)
_MARKERS = (
    "/s", "🙄", "😒", "🙃", "thanks for nothing", "thank you for nothing", "yeah right",
    "gracias por nada", "ya, claro", "sí, claro", "si, claro",
)  # fmt: skip
_QUOTED_RE = re.compile(r"[\"“«]([^\"”»]{1,40})[\"”»]")
_SENTENCE_RE = re.compile(r"[^.!?¡¿\n]+")
_WORD_RE = re.compile(r"\w+", re.UNICODE)


def _number(token: str) -> float:
    token = token.lower().replace(",", ".")
    return float(_NUMBER_WORDS[token]) if token in _NUMBER_WORDS else float(token)


def rating_valence(text: str) -> float:
    """Valence of the ratings in ``text`` (``2/5``, ``9 out of 10``, ``1 star``), 0 without.

    Examples
    --------
    >>> rating_valence("2/5, the fabric pilled"), rating_valence("cinco estrellas")
    (-3.0, 3.0)
    >>> rating_valence("3/5, it's fine"), rating_valence("Order 5521")
    (0.0, 0.0)
    """
    shares = [_number(m.group(1)) / float(m.group(2)) for m in _SCALE_RE.finditer(text)]
    shares += [_number(m.group(1)) / 5.0 for m in _STARS_RE.finditer(text)]
    total = 0.0
    for share in shares:
        if share <= 0.4:
            total -= RATING_VALENCE
        elif 0.7 <= share <= 1.0:
            total += RATING_VALENCE
    return max(-RATING_VALENCE, min(RATING_VALENCE, total))


def exasperation(text: str) -> float:
    """:data:`EXASPERATION` when ``text`` has ``??``, ``?!``, ``!?`` or ``¿¿``, else 0."""
    return EXASPERATION if _EXASPERATION_RE.search(text) else 0.0


def is_request(text: str) -> bool:
    """Whether ``text`` is a request or a question (it starts like one or ends with ``?``)."""
    stripped = text.strip()
    return stripped.endswith("?") or _REQUEST_RE.match(stripped) is not None


def sarcasm_marker(text: str) -> bool:
    """Whether ``text`` carries an explicit sarcasm marker (``/s``, 🙄, "thanks for nothing")."""
    lowered = text.lower()
    return any(m in lowered for m in _MARKERS)


def quoted_spans(text: str) -> list[str]:
    """Short spans in quotation marks (scare quotes: the "express" delivery), lower-cased."""
    return [m.group(1).lower() for m in _QUOTED_RE.finditer(text)]


def short_interjections(text: str) -> list[str]:
    """Sentences or clause openings of at most two words ("Perfect.", "Oh great,"), lower-cased.

    Only the opening of a comma clause counts ("Great, another error" -> "great").
    """
    out = []
    for sentence in _SENTENCE_RE.findall(text):
        words = _WORD_RE.findall(sentence.lower())
        if 0 < len(words) <= 2:
            out.append(" ".join(words))
        else:
            head = _WORD_RE.findall(sentence.split(",")[0].lower())
            if 0 < len(head) <= 2 and "," in sentence:
                out.append(" ".join(head))
    return out


@lru_cache(maxsize=2)
def load_care_lexicon(language: str) -> dict[str, float]:
    """The care vocabulary of ``language`` (``lexicons/<language>_care.tsv``), term -> valence.

    Multi-word terms are keyed with spaces (see :func:`join_phrases`).
    """
    path = resources.files("clvml.features").joinpath("lexicons", f"{language}_care.tsv")
    out: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            term, value = (f.strip() for f in line.split("\t"))
            out[term.lower()] = float(value)
    return out


@lru_cache(maxsize=2)
def _phrase_re(language: str) -> re.Pattern[str] | None:
    phrases = sorted((t for t in load_care_lexicon(language) if " " in t), key=len, reverse=True)
    if not phrases:
        return None
    return re.compile(r"\b(" + "|".join(re.escape(p) for p in phrases) + r")\b", re.IGNORECASE)


def join_phrases(text: str, language: str) -> str:
    """``text`` with the care lexicon's multi-word terms joined by ``_`` ("on hold" -> "on_hold").

    Examples
    --------
    >>> join_phrases("Kept me ON HOLD for an hour", "en")
    'Kept me on_hold for an hour'
    """
    pattern = _phrase_re(language)
    if pattern is None:
        return text
    return pattern.sub(lambda m: m.group(1).lower().replace(" ", "_"), text)
