"""Persian writes a word's parts apart, joined, or with a zero-width non-joiner between
them: می شود, میشود and می‌شود; بین المللی, بینالمللی and بین‌المللی; کتاب ها and
کتاب‌ها. Folding deletes the joiner (textindex.fold), so the index holds one word where a
text joined the parts and two where it spaced them, and a search finds a page only as
it was typed. So a query word of Arabic script is also asked for joined to the word
typed beside it (two words typed apart find the page that joins them), and, where it
begins with a verbal prefix or ends with a plural or comparative suffix, as its two
parts side by side (a word typed joined finds the page that spaces it)."""

from __future__ import annotations

from .textindex import phrase_forms, query_forms

PREFIXES = ("نمی", "می")  # (folded: the Persian yeh)
SUFFIXES = ("ترین", "های", "ها", "تر")
_LEAST = 2  # letters at least left beside a prefix or suffix taken off


def arabic_script(word: str) -> bool:
    return bool(word) and ("\u0600" <= word[0] <= "\u06ff" or "\u0750" <= word[0] <= "\u077f")


def parts_of(word: str, before: str | None, after: str | None) -> list[str]:
    """What else a (folded) query word may be indexed as, each a word or a phrase: joined
    to the word typed before it and to the one after it, and as its two parts."""
    if not arabic_script(word):
        return []
    forms: list[str] = []
    if before is not None and arabic_script(before):
        forms += query_forms(before + word)
    if after is not None and arabic_script(after):
        forms += query_forms(word + after)
    for apart in _apart(word):
        forms += phrase_forms(apart)
    return forms


def phrase_parts(phrase: list[str]) -> list[str]:
    """A phrase's forms as the index may hold them (textindex.phrase_forms), and those of
    the phrase with two Persian words side by side joined, or a word apart at its prefix
    or suffix: one change at a time."""
    variants = [phrase]
    for i in range(len(phrase) - 1):
        if arabic_script(phrase[i]) and arabic_script(phrase[i + 1]):
            variants.append([*phrase[:i], phrase[i] + phrase[i + 1], *phrase[i + 2:]])
    for i, word in enumerate(phrase):
        if arabic_script(word):
            variants += [[*phrase[:i], *apart, *phrase[i + 1:]] for apart in _apart(word)]
    return [form for variant in variants for form in phrase_forms(variant)]


def _apart(word: str) -> list[list[str]]:
    """The word written apart at its prefix, and at its suffix, where it has them."""
    found = []
    prefix = next((p for p in PREFIXES if word.startswith(p)), None)
    if prefix is not None and len(word) - len(prefix) >= _LEAST:
        found.append([prefix, word[len(prefix):]])
    suffix = next((s for s in SUFFIXES if word.endswith(s)), None)
    if suffix is not None and len(word) - len(suffix) >= _LEAST:
        found.append([word[:-len(suffix)], suffix])
    return found
