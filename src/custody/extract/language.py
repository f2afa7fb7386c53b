"""The language a text is written in, as an ISO 639-1 code.

lingua (statistical n-gram models for 75 languages, bundled with the package) chooses
among the languages below: those Snowball stems for search, and the other major ones of
the material custody keeps. scripts/bench_language.py measures it against py3langid on
the seed texts, real pages and short titles: py3langid, which custody used before, calls
Persian written with Arabic letter forms (as windows-1256 sites write it) Egyptian
Arabic, and so `--lang fa` missed it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

# ISO 639-1 codes lingua may answer with
CANDIDATES = (
    "en", "fr", "de", "es", "pt", "it", "nl", "sv", "nb", "da", "fi", "ro", "hu", "tr", "id",
    "ca", "cs", "pl", "lt", "lv", "et", "sk", "sl", "hr", "bs", "sr", "bg", "mk", "uk", "be",
    "ru", "el", "hy", "ka", "az", "kk", "ar", "fa", "ur", "he", "hi", "bn", "ta", "zh", "ja",
    "ko", "th", "vi", "ms", "sw", "so",
)
MINIMUM_LETTERS = 40  # fewer letters than this say too little to tell a language by


def detect_language(text: str, *, minimum: int = MINIMUM_LETTERS) -> str | None:
    """ISO 639-1 code of the text's main language; None for too little text, or when no
    language stands out."""
    sample = text[:5000]
    letters = list(filter(str.isalpha, sample))
    if len(letters) < minimum:
        return None
    script = _main_script(letters)
    if script not in _SCRIPTS:
        return None
    load_models(script)
    found = _detector().detect_language_of(sample)
    return found.iso_code_639_1.name.lower() if found is not None else None


# Scripts the candidates are written in; a text mostly in another (Burmese, Khmer,
# Amharic...) is in no candidate language, and its language is left unnamed rather than
# guessed (an n-gram model asked about Burmese says English).
_SCRIPTS = ("LATIN", "CYRILLIC", "ARABIC", "GREEK", "HEBREW", "ARMENIAN", "GEORGIAN",
            "DEVANAGARI", "BENGALI", "TAMIL", "CJK", "HIRAGANA", "KATAKANA", "HANGUL", "THAI")


def _main_script(letters: list[str]) -> str:
    from collections import Counter

    # counted by letter, then by script: a script's first letter comes first, so the
    # first of equal counts wins, as Counter.most_common has it
    scripts: dict[str, int] = {}
    for letter, count in Counter(letters[:2000]).items():
        script = _script(letter)
        scripts[script] = scripts.get(script, 0) + count
    return max(scripts, key=scripts.__getitem__)


@cache
def _script(letter: str) -> str:
    """The first word of a letter's Unicode name (LATIN, CYRILLIC...): looked up once per
    letter, which a page repeats thousands of times."""
    import unicodedata

    return unicodedata.name(letter, "?").split(" ")[0]


# The candidates lingua weighs, by the script of the text, where it needs their models:
# it reads a language's trigram model the first time it weighs the language, one after
# another (some 10 ms each; 0.26 s for the 30 of a first text in Latin letters). A
# script of one candidate (Greek, Hebrew, Thai...), and Chinese and Japanese, it tells
# by its rules alone.
_MODELS_BY_SCRIPT = {
    "LATIN": ("en", "fr", "de", "es", "pt", "it", "nl", "sv", "nb", "da", "fi", "ro", "hu",
              "tr", "id", "ca", "cs", "pl", "lt", "lv", "et", "sk", "sl", "hr", "bs", "az",
              "vi", "ms", "sw", "so"),
    "CYRILLIC": ("sr", "bg", "mk", "uk", "be", "ru", "kk"),
    "ARABIC": ("ar", "fa", "ur"),
}
_loaded: set[str] = set()


def load_models(script: str, *, unless: Callable[[], bool] | None = None) -> None:
    """Have lingua read the models of a script's candidates at once, on every core (its
    preloading runs in its thread pool), rather than one by one as it first weighs them.
    They are the same models, kept where the detector looks them up, so what it answers
    is unchanged; only when they are read is. Models a text of the script turns out not
    to need (lingua's rules may leave fewer candidates) are read for nothing.

    ``unless``: asked between pairs of models; when it says so, the rest are left
    to be read when needed (a warm worker stops reading ahead when a job comes)."""
    if script in _loaded:
        return
    from lingua import LanguageDetectorBuilder

    codes = _MODELS_BY_SCRIPT.get(script, ())
    step = max(1, len(codes)) if unless is None else 2
    for start in range(0, len(codes), step):
        if unless is not None and unless():
            return
        group = codes[start:start + step]
        if len(group) == 1:  # a detector of one language reads other models besides
            group = codes[-2:]
        LanguageDetectorBuilder.from_languages(*map(_language, group)) \
            .with_low_accuracy_mode().with_preloaded_language_models().build()
    _loaded.add(script)


def _language(code: str) -> Any:
    from lingua import IsoCode639_1, Language

    return Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))


@cache
def _detector() -> Any:
    from lingua import LanguageDetectorBuilder

    languages = [_language(code) for code in CANDIDATES]
    # low-accuracy mode (trigrams only): 135 MB and 0.4 s to load, against 950 MB and 11 s
    # for all n-grams, for the same answers on whole texts (scripts/bench_language.py)
    return LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()


@cache
def detector_version() -> str:
    from importlib.metadata import version

    return f"lingua {version('lingua-language-detector')}"
