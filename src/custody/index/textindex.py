"""Text as the search index sees it: folded, tokenised and stemmed, the same way for
documents and for queries.

Folding: Unicode NFKC and case folding; Arabic yeh and kaf match Persian yeh and keheh,
the alef forms match bare alef, teh marbuta matches heh, tatweel, harakat and the
invisible marks go (ZWNJ, ZWJ, the bidi marks, the soft hyphen: a word matches with or
without them, as typed or as written), Persian and Arabic-Indic digits become ASCII
digits; Russian ё matches е. Folding is for matching only: the text kept, and the
snippets cut from it, keep every mark.
Stemming: Snowball (PyStemmer), chosen by each word's script and the document's
language, so that `Иран` finds `Ирана` and `massacre` finds `massacres`. Arabic is
stemmed with the letters its stemmer knows (Arabic yeh and kaf, folded to Persian ones
before), so that `المتظاهر` finds `المتظاهرين`; custody.db before schema 7 stemmed the
folded word (``ARABIC_BEFORE_7`` names that language).
Chinese and Japanese are indexed character by character, so any substring is found.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from itertools import pairwise
from typing import Any

# marks that change how a word is drawn, never which word it is: ZWNJ, ZWJ, LRM, RLM, ALM,
# the bidi embeddings and isolates, the soft hyphen, the word joiner, ZWNBSP
_INVISIBLE = ("\u200c\u200d\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e"
              "\u2066\u2067\u2068\u2069\u00ad\u2060\ufeff")
_FOLD = str.maketrans(
    {
        "\u064a": "\u06cc",  # Arabic yeh -> Persian yeh
        "\u0649": "\u06cc",  # alef maksura -> Persian yeh
        "\u0643": "\u06a9",  # Arabic kaf -> keheh
        "\u0623": "\u0627", "\u0625": "\u0627", "\u0622": "\u0627", "\u0671": "\u0627",
        "\u0629": "\u0647",  # teh marbuta -> heh
        "\u0640": None,  # tatweel
        "\u0451": "\u0435",  # ё -> е (after case folding)
    }
    | dict.fromkeys(map(ord, _INVISIBLE))
    | {chr(0x06F0 + d): str(d) for d in range(10)}  # Persian digits
    | {chr(0x0660 + d): str(d) for d in range(10)}  # Arabic-Indic digits
)
_HARAKAT_RANGES = "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
_HARAKAT = re.compile(f"[{_HARAKAT_RANGES}]")
_WORD = re.compile(r"[^\W_]+")
# a word of the unfolded text: what folding deletes joins, not splits, its letters
_TEXT_WORD = re.compile(rf"[^\W_]+(?:[{_INVISIBLE}\u0640{_HARAKAT_RANGES}]+[^\W_]*)*")
_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

# Latin-script languages Snowball stems; any other Latin text is stemmed as English
_LATIN = {
    "en": "english", "fr": "french", "de": "german", "es": "spanish", "pt": "portuguese",
    "it": "italian", "nl": "dutch", "sv": "swedish", "no": "norwegian", "nb": "norwegian",
    "da": "danish", "fi": "finnish", "ro": "romanian", "hu": "hungarian", "tr": "turkish",
    "id": "indonesian", "ca": "catalan", "cs": "czech", "pl": "polish", "lt": "lithuanian",
}
_CYRILLIC = {"ru": "russian", "sr": "serbian"}
STEMMERS = frozenset({*_LATIN.values(), *_CYRILLIC.values(), "arabic", "persian"})


# _FOLD as (character, replacement) pairs: str.translate looks every character up in a
# dict, ten times slower than a replace of each one present; the same result, since no
# replacement is itself replaced
_FOLD_PAIRS = tuple((chr(code), to or "") for code, to in _FOLD.items())
assert not any(to and ord(to) in _FOLD for _, to in _FOLD_PAIRS)


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    if text.isascii():  # every _FOLD and _HARAKAT character is beyond ASCII
        return text
    for char, to in _FOLD_PAIRS:
        if char in text:
            text = text.replace(char, to)
    return _HARAKAT.sub("", text)


ARABIC_BEFORE_7 = "ar@6"  # Arabic as custody.db before schema 7 stemmed it
_TO_ARABIC = str.maketrans("\u06cc\u06a9", "\u064a\u0643")  # folding's yeh and kaf, undone


class _Arabic:
    """Snowball's Arabic stemmer given the letters its suffixes are spelled with, its
    stem folded again."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def stemWord(self, word: str) -> str:  # (PyStemmer's name)
        return fold(self.inner.stemWord(word.translate(_TO_ARABIC)))


@cache
def _stemmer(name: str) -> Any:
    import Stemmer

    # no cache of its own (it triples the cost of a word not seen): ours hold the stems
    made = Stemmer.Stemmer(name.removesuffix("@6"), 0)
    return _Arabic(made) if name == "arabic" else made


def _script(word: str) -> str:
    ch = word[0]
    if "\u0400" <= ch <= "\u04ff":
        return "cyrillic"
    if "\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u077f":
        return "arabic"
    if ch.isascii() or "\u00c0" <= ch <= "\u024f":
        return "latin"
    return "other"


def _stemmers_for(script: str, language: str | None) -> list[str]:
    """The stemmers a word is indexed with (the first) or searched with (all)."""
    lang = (language or "").split("-")[0].lower()
    if script == "latin":
        return list(dict.fromkeys([_LATIN.get(lang, "english"), "english"]))
    if script == "cyrillic":
        return list(dict.fromkeys([_CYRILLIC.get(lang, "russian"), "russian"]))
    if script == "arabic":
        if lang in ("ar", ARABIC_BEFORE_7):
            return ["arabic" if lang == "ar" else "arabic@6"]
        if lang == "fa":
            return ["persian"]
        return []
    return []


# common separators: where a text's only others are white space, a split at them finds
# its words in a third of the time _WORD's scan takes
_SEPARATORS = ".,:;!?\"'()[]/-\u2014\u2019\u201c\u201d\u00ab\u00bb\u060c\u061b"
assert not any(map(str.isalnum, _SEPARATORS))


def _split(folded: str) -> list[str]:
    """_WORD.findall(folded): the maximal runs of characters that are alphanumeric (as
    str.isalnum says, which is what _WORD's class means), found faster where it can."""
    for separator in _SEPARATORS:
        if separator in folded:
            folded = folded.replace(separator, " ")
    found = folded.split()
    if all(map(str.isalnum, found)):
        return found
    return _WORD.findall(folded)


def words(text: str) -> list[str]:
    """Folded words; Chinese and Japanese characters each a word of their own."""
    folded = fold(text)
    if not _CJK.search(folded):
        return _split(folded)
    out: list[str] = []
    for word in _split(folded):
        if _CJK.search(word):
            out += [piece for piece in re.split(f"({_CJK.pattern})", word) if piece]
        else:
            out.append(word)
    return out


def stem(word: str, language: str | None) -> str:
    return _stem(word, (language or "").split("-")[0].lower())


@lru_cache(maxsize=200_000)
def _stem(word: str, lang: str) -> str:
    """A word's stem: texts repeat their words, and each is stemmed once (per language)."""
    return _stem_once(word, lang)


def _stem_once(word: str, lang: str) -> str:
    if word.isdigit() or _CJK.match(word):
        return word
    stemmer = _indexing_stemmer(_script(word), lang)
    return stemmer.stemWord(word) if stemmer is not None else word


@cache
def _indexing_stemmer(script: str, lang: str) -> Any:
    names = _stemmers_for(script, lang)
    return _stemmer(names[0]) if names else None


class _Stems(dict[str, str]):
    """One language's words and their stems, each stemmed when first asked for: a lookup
    of a word already seen stays in C (``map(stems.__getitem__, words)``), where a call
    of a cached function per word cost more than the rest of index_text."""

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang
        # by a word's first character, which alone decides (as in _stem_once) whether
        # a word that is not all digits is stemmed, and by which stemmer: a third of
        # the cost of a word not seen
        self._stemmers: dict[str, Any] = {}

    def __missing__(self, word: str) -> str:
        if word.isdigit():
            stem = word
        else:
            first = word[0]
            stemmer = self._stemmers.get(first, False)
            if stemmer is False:
                stemmer = self._stemmers[first] = (
                    None if _CJK.match(first) else _indexing_stemmer(_script(first), self.lang))
            stem = word if stemmer is None else stemmer.stemWord(word)
        self[word] = stem
        return stem


_STEMS: dict[str, _Stems] = {}
_STEMS_HELD = 200_000  # words, over all languages, before the tables start again


def index_words(text: str | None, language: str | None) -> list[str]:
    """The words of a document's title or text as the full-text index has them."""
    lang = (language or "").split("-")[0].lower()
    if sum(map(len, _STEMS.values())) > _STEMS_HELD:
        _STEMS.clear()
    stems = _STEMS.get(lang)
    if stems is None:
        stems = _STEMS[lang] = _Stems(lang)
    return list(map(stems.__getitem__, words(text or "")))


def index_text(text: str | None, language: str | None) -> str:
    """What goes into the full-text index for a document's title or text."""
    return " ".join(index_words(text, language))


def query_forms(word: str) -> list[str]:
    """Every form a query word may have been indexed under."""
    forms = [word]
    if not word.isdigit() and not _CJK.match(word):
        script = _script(word)
        candidates = {"latin": sorted(set(_LATIN.values())),
                      "cyrillic": sorted(set(_CYRILLIC.values())),
                      "arabic": ["persian", "arabic", "arabic@6"]}.get(script, [])
        forms += [_stemmer(name).stemWord(word) for name in candidates]
    return list(dict.fromkeys(forms))


# every language whose stemmers a document's words may be indexed with (None: a language
# of none of them: Latin words stemmed as English, Cyrillic as Russian, others not)
LANGUAGES: tuple[str | None, ...] = (*_LATIN, *_CYRILLIC, "ar", ARABIC_BEFORE_7, "fa", None)


def phrase_forms(phrase: list[str]) -> list[str]:
    """A phrase's words as the index may hold them: each stemmed as a document in one
    language stems it (a phrase's words are one document's), for every language -- an
    Arabic phrase is found in Arabic pages, a French one in French pages."""
    return list(dict.fromkeys(" ".join(stem(w, language) for w in phrase)
                              for language in LANGUAGES))


def snippet(text: str, query: str, language: str | None, *, width: int = 24) -> str:
    """A window of the original text around the best cluster of matches, marked [like so]."""
    return "".join(f"[{piece}]" if hit else piece
                   for piece, hit in snippet_parts(text, query, language, width=width))


def snippet_parts(text: str, query: str, language: str | None, *,
                  width: int = 24) -> list[tuple[str, bool]]:
    """The snippet as pieces of the original text, each with whether it is a match (for
    a page that marks them up itself, whatever brackets the text holds)."""
    wanted: set[str] = set()
    typed = words(query.replace("*", " "))
    for word in typed:
        wanted.update(query_forms(word))
        wanted.add(stem(word, language))
    for one, other in pairwise(typed):  # Persian parts typed apart, joined in the text
        wanted.update(query_forms(one + other))  # (parts.py)
    prefixes = [fold(t[:-1]) for t in query.split() if t.endswith("*") and len(t) > 1]
    spans = [(m.start(), m.end(), m.group()) for m in _TEXT_WORD.finditer(text)]
    if not spans:
        return []
    hits = []
    for i, (_, _, original) in enumerate(spans):
        folded = fold(original)
        if (folded in wanted or stem(folded, language) in wanted
                or any(folded.startswith(p) for p in prefixes if p)):
            hits.append(i)
    if not hits:
        first = spans[: width]
        return [(text[first[0][0] : first[-1][1]].replace("\n", " ")
                 + ("…" if len(spans) > width else ""), False)]
    best = max(hits, key=lambda i: sum(1 for h in hits if i <= h < i + width))
    start = max(0, best - width // 3)
    stop = min(len(spans), start + width)
    pieces: list[tuple[str, bool]] = [("…", False)] if start > 0 else []
    cursor = spans[start][0]
    marked = set(hits)
    for i in range(start, stop):
        s, e, _ = spans[i]
        pieces.append((text[cursor:s].replace("\n", " "), False))
        pieces.append((text[s:e].replace("\n", " "), i in marked))
        cursor = e
    if stop < len(spans):
        pieces.append(("…", False))
    return [(piece, hit) for piece, hit in pieces if piece]
