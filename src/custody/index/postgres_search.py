"""custody search against the index in PostgreSQL (postgres.py): the same query language,
filters, snippets and window as against custody.db (search.py).

The query is custody's own compiled query written out as a tsquery literal (as the
documents' terms went in as tsvector literals), so PostgreSQL's parser, dictionaries and
locale never touch a word.

As in custody.db, only the newest WINDOW matching documents are ranked: PostgreSQL
walks the documents from the newest until that many match, or takes them all from the
GIN index, whichever its planner finds cheaper. Either costs about a microsecond a
document it looks at: 0.15 s for a word in 4% of a million documents, 0.03 s for one in
a third of them. (Looking through widening spans of the newest documents first was
slower: the planner walks each span rather than asking the GIN index.)
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from .postgres import lexeme, reading

_FTS_TOKEN = re.compile(r'"((?:[^"]|"")*)"(\*?)|\(|\)|AND|OR|NOT')


def tsquery(expression: str) -> str:
    """textindex.compile_query's FTS5 expression as a PostgreSQL tsquery: a phrase's words
    joined by <->, prefix* as :*, AND &, OR |, a NOT b as a & !b."""
    out = []
    for match in _FTS_TOKEN.finditer(expression):
        token = match.group(0)
        if match.group(1) is not None:
            words = match.group(1).replace('""', '"').split()
            star = ":*" if match.group(2) else ""
            quoted = [lexeme(w) for w in words]
            if quoted:
                quoted[-1] += star
            out.append("(" + " <-> ".join(quoted) + ")" if len(quoted) > 1 else quoted[0])
        else:
            out.append({"AND": "&", "OR": "|", "NOT": "& !"}.get(token, token))
    return " ".join(out)


_FROM = ("FROM search_index s JOIN documents d ON d.id = s.document_id "
         "JOIN captures c ON c.id = d.capture_id "
         "LEFT JOIN resources r ON r.id = d.resource_id "
         "WHERE s.terms @@ CAST(%s AS tsquery)")


def search_rows(conn: Any, words: str, filters: Any, *, window: int | None, limit: int,
                offset: int) -> list[Any]:
    """Rows as search.hits takes them, each ending with how many documents matched (up
    to ``window`` + 1; all are ranked when ``window`` is None), on a connection in a
    read-only transaction. UsageError for a query or a filter that is not well formed."""
    from .search import prepare

    compiled, where, params = prepare(words, filters)
    query = tsquery(compiled)
    where = where.replace("?", "%s")
    # the newest matches, each scored as it is found; each page of a
    # capture once, the better ranked of its documents; only the page's hits joined
    sql = ("WITH matched AS (SELECT d.id AS id, d.capture_id AS capture_id, d.url AS url, "
           "ts_rank('{0.2, 0.2, 0.2, 1.0}', s.terms, CAST(%s AS tsquery)) AS score "
           f"{_FROM}{where} ORDER BY s.document_id DESC LIMIT %s), "
           "ranked AS (SELECT id, score, row_number() OVER (PARTITION BY capture_id, url "
           "ORDER BY score DESC, id) AS n FROM (SELECT * FROM matched ORDER BY id DESC "
           "LIMIT %s) m), "
           "top AS (SELECT id, score FROM ranked WHERE n = 1 ORDER BY score DESC, id "
           "LIMIT %s OFFSET %s) "
           "SELECT d.url, d.title, d.capture_id, coalesce(r.fetched_at, c.started_at), d.text, "
           "d.language, c.status LIKE 'imported%%', (SELECT count(*) FROM matched) "
           "FROM top k JOIN documents d ON d.id = k.id JOIN captures c ON c.id = d.capture_id "
           "LEFT JOIN resources r ON r.id = d.resource_id ORDER BY k.score DESC, k.id")
    return list(conn.execute(sql, [query, query, *params,
                                   None if window is None else window + 1, window, limit,
                                   offset]).fetchall())


def search(url: str, words: str, *, limit: int, filters: Any, timeout: float,
           window: int | None) -> Any:
    """custody search against PostgreSQL (a ``search.Found``)."""
    from .search import found_in

    with reading(url, timeout) as conn:
        rows = search_rows(conn, words, filters, window=window, limit=limit, offset=0)
    return found_in(rows, words, window)


def own_hits(conn: sqlite3.Connection | None, found: list[dict[str, Any]],
             words: str) -> list[dict[str, Any]]:
    """Search hits from the index, each of a capture held here made again from this
    archive's own document (title, URL, time, snippet) when this archive's own index
    finds the words in it, and left out when it does not; the others marked as sealed
    elsewhere."""
    from .query_syntax import compile_query
    from .search import hits

    expression = compile_query(words)  # (the index's search took it: well formed)
    out = []
    for hit in found:
        if conn is None or conn.execute("SELECT 1 FROM captures WHERE id = ?",
                                        [hit["capture_id"]]).fetchone() is None:
            if hit["url"] and hit["capture_id"]:  # (a row of the index's without: out)
                out.append({**hit, "elsewhere": True, "url": hit["url"][:4000],
                            "title": (hit["title"] or "")[:2000] or None})
            continue
        for doc_id, *row in conn.execute(  # the page's documents here (one or two)
                "SELECT d.id, d.url, d.title, d.capture_id, coalesce(r.fetched_at, "
                "c.started_at), d.text, d.language, c.status LIKE 'imported%' FROM documents "
                "d JOIN captures c ON c.id = d.capture_id LEFT JOIN resources r ON r.id = "
                "d.resource_id WHERE d.capture_id = ? AND d.url = ? ORDER BY d.id",
                [hit["capture_id"], hit["url"]]).fetchall():
            (own,) = hits([row], words, marked=True)
            # its text shows the words (marked), or its own index finds them (a title)
            if any(matched for _, matched in own["marked"]) or conn.execute(
                    "SELECT 1 FROM search_index WHERE search_index MATCH ? AND rowid = ?",
                    [expression, doc_id]).fetchone():
                out.append(own)
                break
    return out
