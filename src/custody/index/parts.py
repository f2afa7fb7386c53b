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
    for prefix in PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= _LEAST:
            forms += phrase_forms([prefix, word[len(prefix):]])
            break
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= _LEAST:
            forms += phrase_forms([word[:-len(suffix)], suffix])
            break
    return forms
