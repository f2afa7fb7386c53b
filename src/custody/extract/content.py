"""Text and metadata from an archived payload: charset decoding, then trafilatura.

The bytes come from the WARC, never from the live response, so the text in the
database is the text of the evidence. Charsets are taken from the HTTP header,
then a byte-order mark, then the HTML meta tag; a declared charset that does
not decode the body, or decodes it into mojibake, gives way to detection.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from .language import detect_language, detector_version

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset({"text/plain"})
JSON_TYPES = frozenset({"application/json", "text/json", "application/ld+json"})
PDF_TYPES = frozenset({"application/pdf"})
# yt-dlp's info JSON for a video (custody's name: the record's Content-Type is JSON),
# and the subtitles it fetched
MEDIA_INFO_TYPE = "application/x-yt-dlp-info+json"
SUBTITLE_TYPES = frozenset({"text/vtt"})
POST_TYPE = "application/x-custody-post+html"  # one post of a feed page (feeds.py)
EXTRACTABLE = HTML_TYPES | TEXT_TYPES | JSON_TYPES | PDF_TYPES | SUBTITLE_TYPES | {
    MEDIA_INFO_TYPE, POST_TYPE}
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/tiff"})

_META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([a-zA-Z0-9_:.\-]+)""", re.IGNORECASE
)
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# a declared charset whose decoding looks messier than this gives way to detection
_MESS_LIMIT = 0.15


@dataclass
class Document:
    url: str
    title: str | None
    author: str | None
    published: str | None
    sitename: str | None
    language: str | None
    text: str
    text_sha256: str
    charset: str | None
    extractor: str
    note: str | None = None
    record_id: str | None = None  # the WARC response record it was read from
    source: str = "http"  # http: the payload as served; rendered: the DOM after scripts ran

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@cache
def extractor_version() -> str:
    from importlib.metadata import version

    return f"trafilatura {version('trafilatura')}"


def header_charset(content_type: str) -> str | None:
    match = re.search(r"charset\s*=\s*[\"']?([^\s;\"']+)", content_type, re.IGNORECASE)
    return match.group(1) if match else None


def _codec(name: str | None) -> str | None:
    import codecs

    if not name:
        return None
    try:
        codec = codecs.lookup(name.strip().lower()).name
    except LookupError:
        return None
    # the names the web uses (WHATWG labels), not Python's aliases
    return f"windows-{codec[2:]}" if re.fullmatch(r"cp12[5-9]\d", codec) else codec


def decode(body: bytes, declared_http: str | None) -> tuple[str, str, str | None]:
    """The body's text, the charset used, and a note when the declaration was not trusted."""
    from charset_normalizer import from_bytes
    from charset_normalizer.md import mess_ratio

    for bom, name in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(name, errors="replace"), name, None
    meta = _META_CHARSET.search(body[:8192])
    in_meta = _codec(meta.group(1).decode()) if meta else None
    declared = [c for c in (_codec(declared_http), in_meta) if c]
    rejected = []
    for codec in dict.fromkeys(declared):
        try:
            text = body.decode(codec)
        except UnicodeDecodeError:
            rejected.append(codec)
            continue
        sample = _letters_sample(text)
        if codec == "utf-8" or mess_ratio(sample, _MESS_LIMIT) < _MESS_LIMIT:
            return text, codec, None
        rejected.append(codec)
    best = from_bytes(body).best()
    if best is not None and best.encoding:
        codec = _codec(best.encoding) or best.encoding
        note = f"declared charset {', '.join(rejected)} does not fit the body" if rejected else None
        return str(best), codec, note
    codec = declared[0] if declared else "utf-8"
    note = "charset unknown; undecodable bytes replaced"
    return body.decode(codec, errors="replace"), codec, note


def _letters_sample(text: str) -> str:
    """The text without markup, which would otherwise dilute the mess measure."""
    stripped = re.sub(r"<[^>]*>", " ", text[:200_000])
    return re.sub(r"\s+", " ", stripped)


def extract(
    url: str, content_type: str, content_type_header: str, body: bytes
) -> Document | None:
    """A document from a payload, or None when the type is not one custody extracts."""
    if content_type not in EXTRACTABLE:
        return None
    if content_type in PDF_TYPES:
        return _from_pdf(url, body)
    if content_type == POST_TYPE:
        from .feeds import document_fields

        fields = document_fields(body)
        clean = normalise_text(fields.pop("text"))
        return _document(url, clean, "utf-8", None, fields, extractor="telegram-post",
                         language=detect_language(clean))
    text, charset, note = decode(body, header_charset(content_type_header))
    if content_type == MEDIA_INFO_TYPE:
        return _from_media_info(url, text, charset, note)
    if content_type in SUBTITLE_TYPES:
        clean = normalise_text(_subtitle_text(text))
        return _document(url, clean, charset, note, None, extractor="webvtt",
                         language=detect_language(clean))
    if content_type in JSON_TYPES:
        return _from_json(url, text, charset, note)
    if content_type in TEXT_TYPES:
        clean = normalise_text(text)
        return _document(url, clean, charset, note, None, extractor="text",
                         language=detect_language(clean))
    return _from_html(url, text, charset, note)


def normalise_text(text: str) -> str:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return text.strip()


def _from_html(url: str, html: str, charset: str, note: str | None) -> Document:
    from .marks import Marks, protect
    from .prepared import trafilatura as prepared

    trafilatura = prepared()  # (before trafilatura's own modules are imported)
    from trafilatura.utils import load_html
    metadata: dict[str, Any] = {}
    result = None
    tree = load_html(html) if html.strip() else None  # parsed as trafilatura parses it
    # what trafilatura would drop or unescape again (ZWNJ, bidi marks, a shown "&lt;")
    marks = protect(tree) if tree is not None else Marks()
    own_title = _title_element(tree) if tree is not None else None
    if tree is not None:
        result = trafilatura.bare_extraction(
            tree,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            favor_precision=True,  # fallbacks stay on: without them F1 drops below 0.95
        )
    if result is not None:
        found = result if isinstance(result, dict) else result.as_dict()
        metadata = {name: marks.restore(value) for name, value in found.items()}
    if own_title:  # what the page calls itself, as a browser's tab shows it
        metadata["title"] = marks.restore(own_title)
    elif metadata.get("title"):  # none: trafilatura's choice stands, and says so
        note = "; ".join(filter(None, [note, "the page has no <title>: its title here is "
                                       "its og:title or first heading"]))
    text = normalise_text(metadata.get("text") or "")
    if not text:
        note = "; ".join(filter(None, [note, "no text extracted"]))
    declared = metadata.get("language") or _html_lang(html)
    return _document(url, text, charset, note, metadata,
                     language=detect_language(text) or declared)


_NOT_THE_PAGES = {"svg", "math", "template", "noscript"}  # a <title> there is not the page's
MAX_TITLE = 2000  # characters: a longer title is cut here, and ends in "…"


def _title_element(tree: Any) -> str | None:
    """The text of the page's own ``<title>`` as a browser's tab shows it -- the first
    not inside an SVG image, MathML, a template or noscript -- its runs of white space
    made one space, at most MAX_TITLE characters; None when there is none or it is empty.
    trafilatura's title prefers og:title or the first heading, and cuts a site's name off
    after " | " or " - ": not what the page says it is."""
    for element in tree.iter("title"):
        if any(str(a.tag).rpartition("}")[2].lower() in _NOT_THE_PAGES
               for a in element.iterancestors()):
            continue
        text = unicodedata.normalize("NFC", " ".join("".join(element.itertext()).split()))
        return (text[:MAX_TITLE - 1] + "…" if len(text) > MAX_TITLE else text) or None
    return None


def _from_json(url: str, text: str, charset: str, note: str | None) -> Document:
    """The JSON's string values, one per line: what a person would search for."""
    import json

    try:
        data = json.loads(text)
    except ValueError:
        return _document(url, normalise_text(text), charset,
                         "; ".join(filter(None, [note, "not valid JSON; kept as text"])),
                         None, extractor="json")
    strings: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if value.strip():
                strings.append(value.strip())
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(data)
    clean = normalise_text("\n".join(strings))
    title = data.get("title") or data.get("name") if isinstance(data, dict) else None
    return _document(url, clean, charset, note, {"title": title if isinstance(title, str)
                                                 else None},
                     extractor="json", language=detect_language(clean))


def _from_media_info(url: str, text: str, charset: str, note: str | None) -> Document:
    """A video as yt-dlp described it: its title, uploader, upload date, and the text a
    person would search for (title, description, tags, chapter titles)."""
    import json

    try:
        info = json.loads(text)
    except ValueError:
        info = None
    if not isinstance(info, dict):
        return _document(url, "", charset, "; ".join(filter(None, [note, "not yt-dlp's JSON"])),
                         None, extractor="yt-dlp-info")
    chapters = [c.get("title") for c in info.get("chapters") or [] if isinstance(c, dict)]
    tags = " ".join(str(t) for t in info.get("tags") or [])
    lines = [info.get("title"), info.get("description"), tags, *chapters]
    clean = normalise_text("\n".join(str(line) for line in lines if line))
    uploaded = str(info.get("upload_date") or "")
    published = (f"{uploaded[:4]}-{uploaded[4:6]}-{uploaded[6:8]}"
                 if len(uploaded) == 8 and uploaded.isdigit() else None)
    meta = {"title": info.get("title"), "author": info.get("uploader") or info.get("channel"),
            "date": published, "sitename": info.get("extractor_key")}
    return _document(url, clean, charset, note, meta, extractor="yt-dlp-info",
                     language=detect_language(clean))


def _subtitle_text(text: str) -> str:
    """The words of WebVTT cues: no header, cue numbers, timings or tags."""
    lines = []
    block: list[str] = []
    for raw in [*text.splitlines(), ""]:
        line = raw.strip()
        if line:
            block.append(line)
            continue
        if block and not block[0].startswith(("WEBVTT", "NOTE", "STYLE", "REGION")):
            cue = block[1:] if "-->" not in block[0] and len(block) > 1 else block
            lines += [re.sub(r"<[^>]+>", "", c) for c in cue if "-->" not in c]
        block = []
    return "\n".join(line for line in lines if line)


def _from_pdf(url: str, body: bytes) -> Document:
    """Text of every page, and the PDF's title, author and creation date (pypdf)."""
    import io
    import logging
    from importlib.metadata import version

    import pypdf

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # damaged PDFs are evidence too
    extractor = f"pypdf {version('pypdf')}"
    meta: dict[str, Any] = {}
    try:
        reader = pypdf.PdfReader(io.BytesIO(body))
        if reader.is_encrypted:
            reader.decrypt("")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
        if info is not None:
            created = info.creation_date
            meta = {"title": info.title, "author": info.author,
                    "date": created.isoformat() if created else None}
        text = normalise_text("\n\n".join(p.strip() for p in pages if p.strip()))
        note = None if text else "no text extracted (a scanned PDF?)"
    except Exception as exc:  # pypdf raises many kinds on damaged or encrypted files
        text, note = "", f"PDF unreadable: {exc.__class__.__name__}: {exc}"
    return _document(url, text, None, note, meta, extractor=extractor,
                     language=detect_language(text))


def image_info(body: bytes) -> dict[str, Any] | None:
    """Format, dimensions and the EXIF capture date of an image, or None."""
    import io

    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = 200_000_000  # a decompression bomb is refused, not decoded
    try:
        with Image.open(io.BytesIO(body)) as image:
            exif = image.getexif()
            taken = exif.get_ifd(0x8769).get(0x9003) or exif.get(0x0132)  # DateTimeOriginal
            return {"format": image.format, "width": image.width, "height": image.height,
                    "exif_datetime": str(taken) if taken else None}
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


def _html_lang(html: str) -> str | None:
    match = re.search(r"<html[^>]*\blang\s*=\s*[\"']?([a-zA-Z\-]+)", html[:4096], re.IGNORECASE)
    return match.group(1).lower() if match else None


def _document(
    url: str,
    text: str,
    charset: str | None,
    note: str | None,
    metadata: dict[str, Any] | None,
    *,
    extractor: str | None = None,
    language: str | None = None,
) -> Document:
    meta = metadata or {}
    return Document(
        url=url,
        title=meta.get("title"),
        author=meta.get("author"),
        published=meta.get("date"),
        sitename=meta.get("sitename"),
        language=language,
        text=text,
        text_sha256=text_sha256(text),
        charset=charset,
        # what made the text; and what named its language, which can change on its own
        extractor=f"{extractor or extractor_version()}; {detector_version()}",
        note=note,
    )
