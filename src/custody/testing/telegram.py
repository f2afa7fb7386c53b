"""A public Telegram channel preview, shaped as https://t.me/s/CHANNEL serves it: twenty
posts a page, newest last, and a "load more" link to the page before (``?before=N``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape

from .site import Page

CHANNEL = "witnesses"
OWNER = "Witnesses of the Square"
PER_PAGE = 20


def post_text(number: int) -> str:
    words = ["Checkpoint report", "Гуманитарный коридор", "گزارش از میدان", "Road closed"]
    return f"{words[number % len(words)]} number {number}: convoy seen at dawn"


def post_time(number: int) -> str:
    start = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    return (start + timedelta(hours=number)).isoformat()


def _post(number: int) -> str:
    return f"""<div class="tgme_widget_message_wrap js-widget_message_wrap">
<div class="tgme_widget_message text_not_supported_wrap js-widget_message"
     data-post="{CHANNEL}/{number}" data-view="x">
 <div class="tgme_widget_message_bubble">
  <div class="tgme_widget_message_author accent_color"><a class="tgme_widget_message_owner_name"
   href="https://t.me/{CHANNEL}"><span dir="auto">{escape(OWNER)}</span></a></div>
  <div class="tgme_widget_message_text js-message_text" dir="auto">{escape(post_text(number))}<br/>
   second line of post {number}</div>
  <div class="tgme_widget_message_footer compact js-message_footer">
   <div class="tgme_widget_message_info short js-message_info">
    <span class="tgme_widget_message_views">{number * 13}</span>
    <span class="tgme_widget_message_meta"><a class="tgme_widget_message_date"
     href="https://t.me/{CHANNEL}/{number}"><time datetime="{post_time(number)}"
     class="time">{post_time(number)[11:16]}</time></a></span>
   </div></div></div></div></div>"""


def channel_pages(posts: int = 50) -> dict[str, Page]:
    """The channel's preview pages: ``/s/CHANNEL`` with the newest posts, each page linking
    to the one before; ``posts`` in all."""
    pages = {}
    newest = posts
    first = True
    while newest > 0:
        oldest = max(1, newest - PER_PAGE + 1)
        more = (f'<a class="tme_messages_more js-messages_more" data-before="{oldest}" '
                f'href="/s/{CHANNEL}?before={oldest}"></a>' if oldest > 1 else "")
        body = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{escape(OWNER)} – '
                f'Telegram</title></head><body><section class="tgme_channel_history '
                f'js-message_history">{more}'
                + "".join(_post(n) for n in range(oldest, newest + 1))
                + "</section></body></html>")
        key = f"/s/{CHANNEL}" if first else f"/s/{CHANNEL}?before={newest + 1}"
        pages[key] = Page(body.encode(), "text/html; charset=utf-8")
        first = False
        newest = oldest - 1
    return pages
