"""The language a text is written in, as an ISO 639-1 code.

lingua (statistical n-gram models for 75 languages, bundled with the package) chooses
among the languages below: those Snowball stems for search, and the other major ones of
the material custody keeps. scripts/bench_language.py measures it against py3langid on
the seed texts, real pages and short titles: py3langid, which custody used before, calls
Persian written with Arabic letter forms (as windows-1256 sites write it) Egyptian
Arabic, and so `--lang fa` missed it.
"""

from __future__ import annotations

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
    if len(letters) < minimum or not _known_script(letters):
        return None
    found = _detector().detect_language_of(sample)
    return found.iso_code_639_1.name.lower() if found is not None else None


# Scripts the candidates are written in; a text mostly in another (Burmese, Khmer,
# Amharic...) is in no candidate language, and its language is left unnamed rather than
# guessed (an n-gram model asked about Burmese says English).
_SCRIPTS = ("LATIN", "CYRILLIC", "ARABIC", "GREEK", "HEBREW", "ARMENIAN", "GEORGIAN",
            "DEVANAGARI", "BENGALI", "TAMIL", "CJK", "HIRAGANA", "KATAKANA", "HANGUL", "THAI")


def _known_script(letters: list[str]) -> bool:
    from collections import Counter

    # counted by letter, then by script: a script's first letter comes first, so the
    # first of equal counts wins, as Counter.most_common has it
    scripts: dict[str, int] = {}
    for letter, count in Counter(letters[:2000]).items():
        script = _script(letter)
        scripts[script] = scripts.get(script, 0) + count
    return max(scripts, key=scripts.__getitem__) in _SCRIPTS


@cache
def _script(letter: str) -> str:
    """The first word of a letter's Unicode name (LATIN, CYRILLIC...): looked up once per
    letter, which a page repeats thousands of times."""
    import unicodedata

    return unicodedata.name(letter, "?").split(" ")[0]


@cache
def _detector() -> Any:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))
                 for code in CANDIDATES]
    # low-accuracy mode (trigrams only): 135 MB and 0.4 s to load, against 950 MB and 11 s
    # for all n-grams, for the same answers on whole texts (scripts/bench_language.py)
    return LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()


@cache
def detector_version() -> str:
    from importlib.metadata import version

    return f"lingua {version('lingua-language-detector')}"
