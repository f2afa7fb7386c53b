"""Documents that are not HTML: PDF, plain text and JSON bodies, and images."""

from __future__ import annotations

import io
import json

from PIL import Image

from conftest import Custody
from custody.testing.site import Page, SiteServer


def make_pdf(text: str, *, title: str, author: str, created: str) -> bytes:
    """A one-page PDF with real text, built by hand: each object, then the xref table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Title ({title}) /Author ({author}) /CreationDate (D:{created}) >>".encode(),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


def make_jpeg() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2026:01:15 13:54:00"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def test_pdf_json_text_and_image(custody: Custody) -> None:
    pages = {
        "/report.pdf": Page(make_pdf("Detention conditions in Evin prison", title="Field report",
                                     author="Documentation team", created="20260115135400Z"),
                            "application/pdf"),
        "/data.json": Page(json.dumps({"title": "Casualty list", "entries": [
            {"name": "Unknown protester", "city": "Zahedan"}, {"note": "verified twice"}]})
            .encode(), "application/json"),
        "/notes.txt": Page(b"Witness notes: the internet was cut at 19:00.",
                           "text/plain; charset=utf-8"),
        "/photo.jpg": Page(make_jpeg(), "image/jpeg"),
        "/broken.pdf": Page(b"%PDF-1.4 this is not really a pdf", "application/pdf"),
    }
    with SiteServer(pages) as server:
        custody.archive(*(server.url + p for p in pages), extra=("--no-requisites",))
    docs = {d["url"].rsplit("/", 1)[1]: d for d in custody.query(
        "select url, title, author, published, text, extractor, note from documents")}
    pdf = docs["report.pdf"]
    assert "Detention conditions in Evin prison" in pdf["text"]
    assert pdf["title"] == "Field report" and pdf["author"] == "Documentation team"
    assert pdf["published"].startswith("2026-01-15T13:54")
    assert pdf["extractor"].startswith("pypdf ")
    assert docs["data.json"]["title"] == "Casualty list"
    assert "Zahedan" in docs["data.json"]["text"]
    assert docs["notes.txt"]["text"] == "Witness notes: the internet was cut at 19:00."
    assert "unreadable" in (docs["broken.pdf"]["note"] or "") or docs["broken.pdf"]["text"] == ""
    (image,) = custody.query("select url, format, width, height, exif_datetime from images")
    assert (image["format"], image["width"], image["height"]) == ("JPEG", 64, 48)
    assert image["exif_datetime"] == "2026:01:15 13:54:00"
    hits = json.loads(custody.ok("search", "--json", "Evin").stdout)
    assert hits and hits[0]["url"].endswith("/report.pdf")
    assert custody.verify()[0] == 0
    before = custody.query("select url, text_sha256 from documents order by url")
    (custody.root / "custody.db").unlink()
    custody.ok("reindex")
    assert custody.query("select url, text_sha256 from documents order by url") == before
    assert len(custody.query("select * from images")) == 1


def test_a_crawl_s_documents_come_from_the_workers_once_each(custody: Custody) -> None:
    """Past the first dozen, documents go to worker processes in batches: each comes back
    once, the same as `reindex` extracts it again in one process."""
    from conftest import SEEDS
    from custody.testing.site import crawl_site

    with SiteServer(crawl_site(SEEDS, 45)) as site:
        custody.archive(site.url + "/", extra=("--depth", "1"))
    rows = "select url, text_sha256, title, language from documents order by url"
    documents = custody.query(rows)
    pages = [d for d in documents if "/section/" in d["url"]]
    assert len(pages) == 45 and len({d["url"] for d in documents}) == len(documents)
    assert "en" in {d["language"] for d in pages}
    custody.ok("reindex")
    assert custody.query(rows) == documents
    assert custody.verify()[0] == 0
