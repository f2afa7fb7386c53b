"""A search as the user types it -- words, "phrases", AND/OR/NOT, (groups), prefix* --
made into an FTS5 expression over the index's folded and stemmed words (textindex.py),
and checked for what is not well formed."""

from __future__ import annotations

import re

from .parts import parts_of, phrase_parts
from .textindex import LANGUAGES, query_forms, stem, words


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


_QUERY_TOKEN = re.compile(r'"[^"]*"?|\(|\)|[^\s()"]+')
_OPERATORS = {"AND", "OR", "NOT"}


class QuerySyntaxError(ValueError):
    """A search the user typed that is not a well-formed query; the message says why."""


def compile_query(query: str) -> str:
    """The user's query -- words, "phrases", AND/OR/NOT, (groups), prefix* -- as FTS5.

    QuerySyntaxError when it is not well formed: an unclosed phrase or bracket, an
    operator with nothing on one side of it (a query cannot start with NOT: it names
    what to leave out of something), or nothing to search for at all.
    """
    parts: list[str] = []
    tokens = _QUERY_TOKEN.findall(query)
    for i, token in enumerate(tokens):
        if token in _OPERATORS or token in ("(", ")"):
            parts.append(token)
        elif token.startswith('"'):
            if len(token) < 2 or not token.endswith('"'):
                raise QuerySyntaxError(f"the phrase {token} is not closed with a \"")
            inner = words(token.strip('"'))
            if inner:
                parts.append(_any(phrase_parts(inner)))
        elif token.endswith("*") and len(token.rstrip("*")) > 0:
            inner = words(token.rstrip("*"))
            if inner:
                *head, last = inner
                # the last word as typed, and stemmed: `evidence*` is indexed as `evidenc`
                forms = [" ".join([*(stem(w, language) for w in head), end])
                         for language in LANGUAGES for end in (last, stem(last, language))]
                parts.append(_any(forms, "*"))
        else:
            inner = words(token)
            if len(inner) == 1:  # as typed; or, in Persian, joined to a word beside it,
                # or apart at its prefix or suffix (parts.py)
                before = _word(tokens[i - 1]) if i else None
                after = _word(tokens[i + 1]) if i + 1 < len(tokens) else None
                parts.append(_any(query_forms(inner[0]) + parts_of(inner[0], before, after)))
            elif inner:  # e-mail, 中国, بین-المللی: the pieces as a phrase
                parts.append(_any(phrase_parts(inner)))
    _check_structure(parts)
    return _with_ands(parts)


def _word(token: str) -> str | None:
    """The one word a token typed beside another is (None: an operator, a bracket, a
    phrase, a prefix, or more words than one)."""
    if token in _OPERATORS or token in ("(", ")") or token.startswith('"') or \
            token.endswith("*"):
        return None
    found = words(token)
    return found[0] if len(found) == 1 else None


def _check_structure(parts: list[str]) -> None:
    depth = 0
    previous = None  # None (the start), "(", an operator, or "term"
    for part in parts:
        if part == "(":
            depth += 1
            previous = "("
        elif part == ")":
            if previous in (None, "("):
                raise QuerySyntaxError("a bracket holds nothing to search for")
            if previous in _OPERATORS:
                raise QuerySyntaxError(f"{previous} needs something after it")
            depth -= 1
            if depth < 0:
                raise QuerySyntaxError("a closing bracket has no opening one")
            previous = "term"
        elif part in _OPERATORS:
            if previous in (None, "(") or previous in _OPERATORS:
                if part == "NOT":
                    raise QuerySyntaxError("NOT needs something before it: say what to find, "
                                           "then what to leave out ('iran NOT massacre')")
                raise QuerySyntaxError(f"{part} needs something before it")
            previous = part
        else:
            previous = "term"
    if depth:
        raise QuerySyntaxError("an opening bracket is not closed")
    if previous in _OPERATORS:
        raise QuerySyntaxError(f"{previous} needs something after it")
    if previous is None:
        raise QuerySyntaxError("nothing to search for (no words in the query)")


def _with_ands(parts: list[str]) -> str:
    """FTS5 does not AND two bracketed groups side by side: say it."""
    out: list[str] = []
    for part in parts:
        if out and out[-1] not in (*_OPERATORS, "(") and part not in (*_OPERATORS, ")"):
            out.append("AND")
        out.append(part)
    return " ".join(out)




def _any(forms: list[str], suffix: str = "") -> str:
    """One of the forms, as FTS5 says it (each a phrase, ``suffix`` "*" for a prefix)."""
    unique = list(dict.fromkeys(forms))
    return "(" + " OR ".join(_quote(f) + suffix for f in unique) + ")"
