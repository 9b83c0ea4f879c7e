"""Guess a message's language cheaply: frequent short words of six languages, counted."""

from __future__ import annotations

import re
from functools import lru_cache

LANGUAGE_SAMPLE = 2000  # characters of subject and body the language is guessed from

_STOPWORDS = {  # frequent short words; a word of two languages counts for both
    "en": "the and is are to of you that it this with for have not my we please can be on i our your will from but "
          "they what when would could has been there",
    "de": "der die das und ist nicht ich sie wir mit ein eine einen auf für es zu den dem bitte auch haben sind wie "
          "oder kann können keine noch bei von im sich uns ihr mein meine aber danke hallo wird wurde er",
    "fr": "le la les et est une un je nous vous pas que qui pour dans avec sur ce cette mais ne des du au merci "
          "bonjour il elle sont ai avons mon ma votre nos de en plus",
    "es": "el la los las y es una un que por para con no se mi del lo está gracias hola pero muy como tengo "
          "nuestro nuestra nuestras nos de en al su sus hay estoy esta favor",
    "it": "il lo la gli le e è che non una un per con sono mi della del grazie ciao ma anche questo come ho nel "
          "alla di da buongiorno abbiamo siamo i no se",
    "nl": "de het een en is niet ik we wij van dat met voor op zijn maar ook heeft hebben bedankt graag werkt dit "
          "er u uw mijn naar kan kunnen ons onze jullie die",
}
LANGUAGES: tuple[str, ...] = tuple(_STOPWORDS)
_WORDS = re.compile(r"[^\W\d_]+")
_LANGUAGES_OF: dict[str, tuple[str, ...]] = {}
for _code, _words in _STOPWORDS.items():
    for _word in _words.split():
        _LANGUAGES_OF[_word] = tuple(dict.fromkeys(_LANGUAGES_OF.get(_word, ()) + (_code,)))


def detect_language(text: str) -> str:
    """The ISO 639-1 code of the language ``text`` is most likely in (en, de, fr, es, it, nl); "" when unsure."""
    counts = dict.fromkeys(LANGUAGES, 0)
    for word in _WORDS.findall(text[:LANGUAGE_SAMPLE].lower()):
        for code in _LANGUAGES_OF.get(word, ()):
            counts[code] += 1
    (best, most), (_, next_most) = sorted(counts.items(), key=lambda kv: -kv[1])[:2]
    return best if most >= 2 and most >= 1.5 * next_most else ""


@lru_cache(maxsize=64)
def language_of(sample: str) -> str:
    """``detect_language`` remembered, so many ``language`` rules cost one guess per message."""
    return detect_language(sample)
