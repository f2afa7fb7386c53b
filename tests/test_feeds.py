"""Public feeds that page by URL: a Telegram channel preview walked with --depth and
--scope prefix, each post its own document with its own URL, author and time."""

from __future__ import annotations

from conftest import Custody
from custody.testing.site import SiteServer
from custody.testing.telegram import CHANNEL, OWNER, channel_pages, post_text, post_time


def test_a_channel_preview_is_walked_and_each_post_is_a_document(custody: Custody) -> None:
    with SiteServer(channel_pages(50)) as site:
        out = custody.archive(f"{site.url}/s/{CHANNEL}",
                              extra=("--depth", "5", "--scope", "prefix"))
    assert out["capture_status"] == "complete", out
    manifest = custody.manifest(out["capture_id"])
    pages = [r["target_uri"] for r in manifest["records"] if r["type"] == "response"]
    assert len(pages) == 3  # /s/CHANNEL and its two "load more" pages
    posts = custody.query("SELECT url, title, author, published, text FROM documents "
                          "WHERE source = 'post' ORDER BY published")
    assert [p["url"] for p in posts] == [f"https://t.me/{CHANNEL}/{n}" for n in range(1, 51)]
    for number, post in enumerate(posts, start=1):
        assert post["author"] == OWNER
        assert post["published"].startswith(post_time(number)[:19])
        assert post["text"].startswith(post_text(number))
        assert f"second line of post {number}" in post["text"]
    # searchable in their own script, found as the post, not only as the page
    found = custody.ok("search", "Гуманитарный", "--json").stdout
    assert f"https://t.me/{CHANNEL}/" in found
    code, report = custody.verify()
    assert code == 0, report
    # reindex rebuilds the same posts from the sealed records
    custody.ok("reindex")
    again = custody.query("SELECT url, published, text FROM documents WHERE source = 'post' "
                          "ORDER BY published")
    assert again == [{k: p[k] for k in ("url", "published", "text")} for p in posts]
