"""A page the browser loaded, into the WARC: every exchange it made through the recording
proxy, then what it rendered -- the screenshot with its band, the screenshot as it was,
the PDF, the DOM -- tied to the page's response, and the visit's summary for the manifest.

The visit object comes from ``custody.browser`` (a PageVisit); capture reads it by its
fields alone, so that capture never imports the browser package, which builds on it.
"""

from __future__ import annotations

from typing import Any

from ..core.urls import normalise
from ..warc.records import warc_date
from .links import Links, html_links
from .sink import Sink
from .state import Target


def main_exchange(visit: Any) -> Any:
    """The response the page itself came in: the last top-level navigation."""
    navigations = [seen for seen in visit.seen if seen.navigation and seen.frame == "document"]
    return navigations[-1] if navigations else None


DOM_TYPE = "text/html; charset=utf-8"  # a rendered DOM's record


def record_visit(sink: Sink, visit: Any,
                 target: Target) -> tuple[dict[str, Any], Links | None, list[Any]]:
    """Write the visit; its summary (with its records' ids), the links of its rendered DOM,
    and the exchanges that got no response (for the caller to record as failures). When
    the page's own response never came, only the exchanges are written, and the summary
    says so in its error."""
    main = main_exchange(visit)
    page_entry = None
    failed = []
    for seen in visit.seen:
        kind = target.kind if seen is main else "requisite"
        sink.store(seen.exchange, Target(seen.exchange.url, target.seed, kind, target.depth))
        if seen is main and seen.exchange.ok:
            page_entry = sink.last_response
        if not seen.exchange.ok:
            failed.append(seen.exchange)
        seen.exchange.close()
    summary = visit.summary()
    if page_entry is None:  # the browser showed custody's own error page: not evidence
        why = (main.exchange.error if main is not None else None) or "no response"
        summary["error"] = visit.error or f"the page itself was not fetched: {why}"
        summary["response_record"] = None
        summary["records"] = {}
        return summary, None, failed
    renders = []
    if visit.screenshot:
        renders.append(("screenshot", "image/png",
                        visit.banded_screenshot(getattr(sink, "band", ""))))
        renders.append(("screenshot-unmarked", "image/png", visit.screenshot))
    if visit.pdf:
        renders.append(("pdf", "application/pdf", visit.pdf))
    if visit.dom is not None:  # (in UTF-8, whatever charset its meta tag still names)
        renders.append(("dom", DOM_TYPE, visit.dom.encode("utf-8")))
    ids = sink.store_renders(visit.final_url, renders, page_entry, warc_date(visit.finished))
    frames = {}
    unfetched = {normalise(exchange.url) for exchange in failed}  # (a frame's URL keeps
    for url, html in visit.frames:  # its #fragment) a frame's DOM, under its own URL
        if normalise(url) in unfetched:  # it showed custody's own error page: not evidence
            summary["notes"].append(f"the frame {url} is not kept: it could not be fetched")
            continue
        frame_ids = sink.store_renders(url, [("dom", DOM_TYPE, html.encode("utf-8"))],
                                       page_entry, warc_date(visit.finished))
        frames[url] = frame_ids["dom"]
    summary["response_record"] = page_entry["record_id"]
    summary["records"] = {**ids, "frames": frames} if frames else ids
    links = html_links(visit.dom, visit.final_url) if visit.dom else None
    return summary, links, failed
