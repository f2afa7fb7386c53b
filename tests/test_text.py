"""What the database says is the page's text, exactly: every character of it -- the
zero-width non-joiner Persian writes inside words, the joiner, the bidi marks, a "&lt;"
the page shows -- in documents, titles, snippets, diff, the report and pages.jsonl,
checked char for char against the seed texts the site is built from. Search matches
with or without the invisible marks."""

from __future__ import annotations

import html
import json
import zipfile
from pathlib import Path

import pytest

from conftest import SEEDS, Custody, capture_id_of
from custody.testing.site import (
    Page,
    SiteServer,
    legacy_persian,
    page_html,
    persian_orthography,
    seed_sections,
)

ZWNJ, ZWJ, LRM, RLM, ALM, SHY = "\u200c", "\u200d", "\u200e", "\u200f", "\u061c", "\u00ad"


def flat(text: str) -> str:
    """Whitespace aside: every run of it one space."""
    return " ".join(text.split())


def marked_page() -> tuple[str, list[str], bytes]:
    """The seeds' Persian statement as a Persian site writes it (ZWNJ in words, RLM after
    Latin), with every other mark besides, some written as references: its title, the
    paragraphs a browser shows, and the page."""
    title, paragraphs = seed_sections(SEEDS)["fa"]
    title = persian_orthography(title) + ZWJ + "\u0640"  # a joiner at the end, as in abbr.
    shown = [persian_orthography(p) for p in paragraphs]
    shown[0] = f"{LRM}Iran International{LRM} {ALM}۱۲{ALM} حقوق{SHY}بشر {shown[0]}"
    shown[1] = shown[1] + " <p> AT&T &amp; &zwnj;"  # what the page shows, escaped below
    sources = [html.escape(p, quote=False) for p in shown]
    # the same marks written as character references, as many pages write them
    sources[2] = sources[2].replace(ZWNJ, "&zwnj;", 3).replace(ZWNJ, "&#x200C;", 3) \
        .replace(ZWNJ, "&#8204;", 3)
    markup = page_html(title, [], lang="fa", rtl=True, meta_charset="utf-8")
    body = "\n".join(f"<p>{p}</p>" for p in sources) + f"\n<p>{RLM}&rlm;&#x200F;{LRM}</p>"
    markup = markup.replace("</h1>", "</h1>\n" + body, 1)
    return title, [*shown, RLM * 3 + LRM], markup.encode("utf-8")


@pytest.fixture(scope="module")
def marked() -> tuple[str, list[str], bytes]:
    return marked_page()


def documents(custody: Custody) -> dict[str, dict[str, str]]:
    return {d["url"].rsplit("/", 1)[1]: d for d in custody.query(
        "select url, title, text from documents")}


def test_the_seed_pages_keep_every_character(custody: Custody, pages: dict[str, Page],
                                             site: SiteServer) -> None:
    """fa.html in UTF-8, letter.html in windows-1256, labour.html in windows-1256 served
    as UTF-8: the document is the page's heading and the seed's paragraphs, char for
    char, and its title the page's."""
    persian = {"fa": "utf-8", "letter": "windows-1256", "labour": "windows-1256"}
    custody.archive(*(f"{site.url}/{p}.html" for p in persian), extra=("--no-requisites",))
    docs = documents(custody)
    sections = seed_sections(SEEDS)
    for name, codec in persian.items():
        expected = pages[f"/{name}.html"].expected_text or ""
        assert expected.count(ZWNJ) > 20, name  # the site writes Persian as Persian sites do
        title = persian_orthography(sections[name][0])
        if codec != "utf-8":
            title = legacy_persian(title).encode(codec, errors="replace").decode(codec)
        doc = docs[f"{name}.html"]
        assert doc["title"] == title
        assert flat(doc["text"]) == flat(f"{title}\n{expected}"), name


def test_every_mark_and_every_shown_character_is_kept(custody: Custody,
                                                      marked: tuple[str, list[str], bytes],
                                                      tmp_path: Path) -> None:
    title, shown, body = marked
    with SiteServer({"/marks.html": Page(body, "text/html; charset=utf-8")}) as server:
        custody.archive(server.url + "/marks.html", extra=("--no-requisites",))
    doc = documents(custody)["marks.html"]
    assert doc["title"] == title
    # char for char, whitespace aside: the heading, then the paragraphs as a browser shows
    assert flat(doc["text"]) == flat("\n".join([title, *shown]))
    cid = capture_id_of(custody)

    # the title as the report and the WACZ's pages.jsonl give it
    custody.ok("report", cid, "-o", str(tmp_path / "report.html"))
    assert title in (tmp_path / "report.html").read_text(encoding="utf-8")
    custody.ok("export", cid, "-o", str(tmp_path / "out.wacz"))
    with zipfile.ZipFile(tmp_path / "out.wacz") as package:
        lines = package.read("pages/pages.jsonl").decode("utf-8").splitlines()
    assert [json.loads(line).get("title") for line in lines[1:]] == [title]
    # reindex extracts again from the WARC: the same text
    (custody.root / "custody.db").unlink()
    custody.ok("reindex")
    assert documents(custody)["marks.html"] == doc
    assert custody.verify()[0] == 0


@pytest.mark.parametrize("typed", ["سازمان‌ها", "سازمانها", "می‌کنیم", "میکنیم",
                                   "Iran International", f"{LRM}Iran"])
def test_search_matches_with_or_without_the_marks(custody: Custody, typed: str,
                                                  marked: tuple[str, list[str], bytes]) -> None:
    _, _, body = marked
    with SiteServer({"/marks.html": Page(body, "text/html; charset=utf-8")}) as server:
        custody.archive(server.url + "/marks.html", extra=("--no-requisites",))
    (hit,) = json.loads(custody.ok("search", "--json", typed).stdout)
    assert hit["url"].endswith("/marks.html")
    word = typed.replace(LRM, "").split()[0]
    written = {"سازمانها": "سازمان‌ها", "میکنیم": "می‌کنیم"}.get(word, word)
    assert f"[{written}" in hit["snippet"], hit["snippet"]  # as the page writes it


def test_diff_shows_the_text_as_written(custody: Custody,
                                        marked: tuple[str, list[str], bytes]) -> None:
    _, shown, body = marked
    pages = {"/marks.html": Page(body, "text/html; charset=utf-8")}
    changed = shown[3].replace("می‌", "نمی‌", 1)
    assert changed != shown[3]
    with SiteServer(pages) as server:
        url = server.url + "/marks.html"
        first = custody.archive(url, extra=("--no-requisites",))["capture_id"]
        pages["/marks.html"] = Page(body.replace(html.escape(shown[3], quote=False).encode(),
                                                 html.escape(changed, quote=False).encode()),
                                    "text/html; charset=utf-8")
        second = custody.archive(url, extra=("--no-requisites",))["capture_id"]
    result = custody("diff", first, second, url)
    assert result.exit_code == 1, result.output
    removed = [line[1:] for line in result.stdout.splitlines() if line.startswith("-")
               and not line.startswith("---")]
    added = [line[1:] for line in result.stdout.splitlines() if line.startswith("+")
             and not line.startswith("+++")]
    assert [flat(line) for line in removed] == [flat(shown[3])]
    assert [flat(line) for line in added] == [flat(changed)]


def test_the_text_is_the_evidence_s_not_the_live_body(custody: Custody) -> None:
    """Extraction reads the payload back from the WARC, never the live response: with
    --max-bytes the WARC holds the first bytes of the gzip stream the server sent, and the
    text is what those bytes inflate to -- not the whole page, which the server did send
    and httpx would have decoded. Fed the live body, the text would hold its last words
    (or there would be no document)."""
    import gzip
    import random
    import zlib

    from custody.extract.content import extract
    from test_archive import warc_records

    rng = random.Random(27)

    def words(count: int) -> str:
        return " ".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz")
                                for _ in range(rng.randint(3, 9))) for _ in range(count))

    last = "final words the server sent past the cut"
    markup = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>cut</title></head>"
              f"<body><article><h1>cut</h1><p>Opening paragraph {words(80)}</p>"
              f"<p>{words(900)}</p><p>{last}</p></article></body></html>").encode()
    sent = gzip.compress(markup)
    page = Page(sent, "text/html; charset=utf-8", headers={"Content-Encoding": "gzip"})
    limit = len(sent) // 3
    with SiteServer({"/cut.html": page}) as server:
        url = server.url + "/cut.html"
        result = custody.archive(url, extra=("--no-requisites", "--max-bytes", str(limit)))
    manifest = custody.manifest(result["capture_id"])
    (stored,) = [raw for headers, raw in warc_records(custody.root, manifest)
                 if headers.get_header("WARC-Type") == "response"]
    body = stored.split(b"\r\n\r\n", 1)[1]
    assert body == sent[:limit]  # the WARC holds the first bytes of what was sent
    inflated = zlib.decompressobj(wbits=31).decompress(body)
    assert markup.startswith(inflated) and len(inflated) < len(markup)
    evidence = extract(url, "text/html", "text/html; charset=utf-8", inflated)
    whole = extract(url, "text/html", "text/html; charset=utf-8", markup)
    assert evidence is not None and whole is not None and last in whole.text
    (doc,) = custody.query(f"select text from documents where url = '{url}'")
    assert doc["text"] == evidence.text and last not in doc["text"]
    assert doc["text"].startswith("cut\nOpening paragraph")


def test_the_title_is_the_pages_own(custody: Custody) -> None:
    """The page's <title>, whole (a site's name after " | " kept), white space made one
    space: not og:title, not the first heading, not an SVG icon's title. A page without
    one takes the heading. Reindex gives the same, and verify passes."""
    own = "بیانیه‌ی   دیده‌بان\n درباره‌ی بازداشت‌ها | Rights Watch"
    body = (f'<html><head><meta property="og:title" content="Shared title">'
            f"<title>{html.escape(own)}</title></head><body>"
            '<svg><title>icon</title></svg><h1>A heading</h1>'
            + "<p>" + "متن بیانیه درباره‌ی بازداشت‌ها. " * 20 + "</p></body></html>")
    bare = ("<html><body><h1>Only a heading</h1><p>" + "Some words of the page. " * 20
            + "</p></body></html>")
    pages = {"/titled.html": Page(body.encode(), "text/html; charset=utf-8"),
             "/bare.html": Page(bare.encode(), "text/html; charset=utf-8")}
    with SiteServer(pages) as server:
        custody.archive(server.url + "/titled.html", server.url + "/bare.html",
                        extra=("--no-requisites",))
    want = {"titled.html": " ".join(own.split()), "bare.html": "Only a heading"}
    assert {k: v["title"] for k, v in documents(custody).items()} == want
    assert ZWNJ in want["titled.html"]
    custody.ok("reindex")
    assert {k: v["title"] for k, v in documents(custody).items()} == want
    assert custody.verify()[0] == 0


@pytest.mark.parametrize(("head", "body", "title"), [
    ("<template><title>Spam casino</title></template><title>Ministry</title>", "", "Ministry"),
    ("", "<svg><title>icon</title></svg><math><title>x</title></math><title>Later</title>",
     "Later"),
    ("<noscript><title>Enable scripts</title></noscript><title>Real</title>", "", "Real"),
    (f"<title>{'long ' * 1000}</title>", "", ("long " * 399) + "long…"),
])
def test_the_title_is_the_one_a_browser_shows(head: str, body: str, title: str) -> None:
    from custody.extract.content import extract

    page = (f"<html><head>{head}</head><body>{body}<h1>Heading</h1><p>"
            + "Words of the page itself. " * 20 + "</p></body></html>")
    doc = extract("http://127.0.0.1/p.html", "text/html", "text/html; charset=utf-8",
                  page.encode())
    assert doc is not None and doc.title == title


def test_a_title_that_is_no_title_element_says_where_it_came_from() -> None:
    """A page without <title> gets trafilatura's choice (og:title, else its first
    heading) as its title, and its document's note says the page has none."""
    from custody.extract.content import extract

    text = "<p>" + "The statement was published on the site this morning. " * 4 + "</p>"
    for head, title in (("", "The heading"),
                        ('<meta property="og:title" content="Shared as">', "Shared as")):
        page = f"<html><head>{head}</head><body><h1>The heading</h1>{text}</body></html>"
        found = extract("http://x/", "text/html", "text/html; charset=utf-8", page.encode())
        assert found is not None and found.title == title
        assert found.note and "has no <title>" in found.note
    own = extract("http://x/", "text/html", "text/html", f"<title>Own</title>{text}".encode())
    assert own is not None and own.title == "Own" and not own.note
