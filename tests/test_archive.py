"""Archiving the sample site: what a capture holds, on disk and in the database."""

from __future__ import annotations

import gzip
import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from conftest import Custody
from custody.testing.raw import RawServer
from custody.testing.site import Page, SiteServer

TEXT_PAGES = ["/en.html", "/fa.html", "/ru.html", "/letter.html", "/labour.html",
              "/signatories.html", "/notes.txt"]


def token_f1(got: str, want: str) -> float:
    a, b = Counter(re.findall(r"\w+", got.lower())), Counter(re.findall(r"\w+", want.lower()))
    common = sum((a & b).values())
    if not common:
        return 0.0
    precision, recall = common / sum(a.values()), common / sum(b.values())
    return 2 * precision * recall / (precision + recall)


def warc_records(root: Path, manifest: dict) -> list:
    out = []
    for entry in manifest["warc_files"]:
        with open(root / entry["path"], "rb") as fh:
            for record in ArchiveIterator(fh, no_record_parse=True):
                raw = record.raw_stream.read()
                out.append((record.rec_headers, raw))
    return out


def test_extracted_text_matches_each_seed_page(custody: Custody, site: SiteServer,
                                               pages: dict[str, Page]) -> None:
    result = custody.archive(*(site.url + p for p in TEXT_PAGES), extra=("--no-requisites",))
    assert result["status"] == "success"
    rows = custody.query("select url, text, charset, language from documents")
    docs = {d["url"]: d for d in rows}
    scores = {p: token_f1(docs[site.url + p]["text"], pages[p].expected_text or "")
              for p in TEXT_PAGES}
    assert all(score >= 0.95 for score in scores.values()), scores
    charsets = {p: docs[site.url + p]["charset"] for p in TEXT_PAGES}
    assert charsets["/ru.html"] == "koi8-r"
    assert charsets["/letter.html"] == "windows-1256"
    assert charsets["/labour.html"] == "windows-1256"  # declared utf-8, detected
    assert charsets["/signatories.html"] == "windows-1252"
    assert docs[site.url + "/fa.html"]["language"] == "fa"


def test_capture_records_every_exchange_as_sent(custody: Custody, site: SiteServer) -> None:
    result = custody.archive(site.url + "/", site.url + "/old", site.url + "/missing.html",
                             site.url + "/error.html")
    manifest = custody.manifest(result["capture_id"])
    records = warc_records(custody.root, manifest)
    types = [h.get_header("WARC-Type") for h, _ in records]
    assert types[0] == "warcinfo"
    responses = {h.get_header("WARC-Target-URI"): (h, raw) for h, raw in records
                 if h.get_header("WARC-Type") == "response"}
    requests = [h for h, _ in records if h.get_header("WARC-Type") == "request"]
    assert len(requests) == len(responses)
    response_ids = {h.get_header("WARC-Record-ID") for h, _ in responses.values()}
    assert {h.get_header("WARC-Concurrent-To") for h in requests} == response_ids
    # the redirect chain, each hop its own exchange, and the requisites, frame included
    for path in ("/old", "/older", "/en.html", "/static/site.css", "/static/print.css",
                 "/static/site.js", "/static/logo.png", "/embed.html", "/static/bg.png"):
        assert site.url + path in responses, path
    assert result["final_urls"][site.url + "/old"] == site.url + "/en.html"
    for path, status in (("/missing.html", 404), ("/error.html", 500), ("/old", 301)):
        assert responses[site.url + path][1].startswith(f"HTTP/1.1 {status} ".encode())
    for headers, _ in responses.values():
        assert headers.get_header("WARC-IP-Address") == "127.0.0.1"
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", headers.get_header("WARC-Block-Digest"))
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", headers.get_header("WARC-Payload-Digest"))
    warcinfo = records[0][1].decode()
    assert "software: custody/" in warcinfo and "operator: tester@example.org" in warcinfo


def test_manifest_holds_what_the_issue_lists(custody: Custody, site: SiteServer) -> None:
    result = custody.archive(site.url + "/en.html")
    m = custody.manifest(result["capture_id"])
    assert m["capture_id"] == result["capture_id"]
    assert m["seed_url"] == site.url + "/en.html" and m["final_url"] == site.url + "/en.html"
    assert m["started_at"].endswith("Z") and m["finished_at"] >= m["started_at"]
    assert {"software", "version", "host", "operator", "key_fingerprint"} <= m["collector"].keys()
    assert m["collector"]["key_fingerprint"].startswith("SHA256:")
    assert m["settings"]["requisites"] is True
    (warc,) = m["warc_files"]
    assert (custody.root / warc["path"]).stat().st_size == warc["bytes"]
    for record in m["records"]:
        assert {"record_id", "type", "target_uri", "offset", "length", "block_sha256",
                "payload_sha256", "http_status", "ip"} <= record.keys()
    (doc,) = m["documents"]
    assert doc["extractor"].startswith("trafilatura ") and len(doc["text_sha256"]) == 64
    assert m["chain"] == {"sequence": 1, "previous_sha256": None}
    second = custody.archive(site.url + "/ru.html")
    m2 = custody.manifest(second["capture_id"])
    first_bytes = (custody.root / "manifests" / f"{result['capture_id']}.json").read_bytes()
    import hashlib

    assert m2["chain"] == {"sequence": 2,
                           "previous_sha256": hashlib.sha256(first_bytes).hexdigest()}


def test_database_schema_and_rows(custody: Custody, site: SiteServer) -> None:
    result = custody.archive(site.url + "/en.html")
    (capture,) = custody.query("select * from captures")
    assert capture["id"] == result["capture_id"] and capture["status"] == "complete"
    resources = custody.query("select * from resources")
    assert {r["url"] for r in resources} >= {site.url + "/en.html", site.url + "/static/site.css"}
    page = next(r for r in resources if r["url"] == site.url + "/en.html")
    assert page["status_code"] == 200 and page["ip"] == "127.0.0.1"
    assert page["warc_path"].startswith("archive/") and page["warc_offset"] > 0
    (doc,) = custody.query("select * from documents")
    assert doc["resource_id"] == page["id"] and doc["title"] == "Statement on the situation in Iran"
    fts = custody.query("select rowid from search_index where search_index match 'blockad'")
    assert [r["rowid"] for r in fts] == [doc["id"]]
    fks = custody.query("select * from pragma_foreign_key_list('documents')")
    assert {f["table"] for f in fks} == {"captures", "resources"}


def test_https_capture_keeps_the_certificate(custody: Custody, tls_site: SiteServer,
                                             ca_file: str) -> None:
    result = custody.archive(tls_site.url + "/en.html", extra=("--ca-bundle", ca_file,
                                                               "--no-requisites"))
    assert result["status"] == "success"
    records = warc_records(custody.root, custody.manifest(result["capture_id"]))
    meta = [(h, raw) for h, raw in records if h.get_header("WARC-Type") == "metadata"]
    (headers, pem) = meta[0]
    assert headers.get_header("Content-Type") == "application/pem-certificate-chain"
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
    response = next(h for h, _ in records if h.get_header("WARC-Type") == "response")
    assert headers.get_header("WARC-Concurrent-To") == response.get_header("WARC-Record-ID")
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(pem)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)


def test_failures_are_recorded_with_their_reason(custody: Custody, site: SiteServer) -> None:
    result = custody("archive", "--json", site.url + "/en.html", "http://127.0.0.1:9/",
                     site.url + "/loop-a")
    assert result.exit_code == 5
    import json

    body = json.loads(result.stdout)
    reasons = {f["url"]: f["kind"] for f in body["failures"]}
    assert reasons["http://127.0.0.1:9/"] == "refused"
    assert reasons[site.url + "/loop-b"] == "redirect-loop"
    rows = custody.query("select url, kind, reason from failures")
    assert {r["kind"] for r in rows} == {"refused", "redirect-loop"}
    m = custody.manifest(body["capture_id"])
    assert {f["kind"] for f in m["failures"]} == {"refused", "redirect-loop"}
    assert m["status"] == "partial"


@pytest.mark.parametrize("encoding", ["gzip", "chunked"])
def test_wire_bytes_are_kept_exactly(custody: Custody, encoding: str) -> None:
    """Header case, order and spacing, chunking and content-encoding survive unchanged."""
    body = b"<html><head><title>t</title></head><body><p>exact bytes</p></body></html>"
    if encoding == "gzip":
        gz = gzip.compress(body)
        head = (b"HTTP/1.1 200 OK\r\ncontent-TYPE:   text/html\r\nX-Odd:  two  spaces \r\n"
                b"Content-Encoding: gzip\r\nContent-Length: " + str(len(gz)).encode() + b"\r\n\r\n")
        wire = head + gz
    else:
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:10], body[10:]))
        wire = (b"HTTP/1.1 200 Fine Thanks\r\nContent-Type: text/html\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
    with RawServer(wire) as url:
        result = custody.archive(url, extra=("--no-requisites",))
    records = warc_records(custody.root, custody.manifest(result["capture_id"]))
    (raw,) = [raw for h, raw in records if h.get_header("WARC-Type") == "response"]
    assert raw == wire
    (doc,) = custody.query("select text from documents")
    assert doc["text"] == "exact bytes"


def test_a_server_that_closes_after_each_answer_loses_no_page(custody: Custody) -> None:
    """It closes every connection after one answer without saying so: a request sent on a
    kept-alive connection as it closes goes unanswered, and is sent again, on another
    connection, as a browser sends it again (about a third of them failed before)."""
    body = b"<html><body><p>one answer a connection</p></body></html>"
    wire = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body), body)
    with RawServer(wire) as url:
        urls = [f"{url}?page={i}" for i in range(120)]
        result = custody("archive", "--json", "--retries", "0", "--no-requisites", *urls)
    assert result.exit_code == 0, result.output
    manifest = custody.manifest(json.loads(result.stdout)["capture_id"])
    assert not manifest["failures"], manifest["failures"][:3]
    answered = [h.get_header("WARC-Target-URI") for h, raw in
                warc_records(custody.root, manifest)
                if h.get_header("WARC-Type") == "response" and raw.endswith(body)]
    assert sorted(answered) == sorted(urls)
    requests = [h for h, _ in warc_records(custody.root, manifest)
                if h.get_header("WARC-Type") == "request"]
    assert len(requests) == len(urls)  # an unanswered request is no evidence


def test_gzip_bomb_is_stored_as_sent_and_not_inflated(custody: Custody) -> None:
    import resource

    bomb = gzip.compress(b"<html><body>" + b" " * (200 * 1024 * 1024), compresslevel=9)
    pages = {"/bomb.html": Page(bomb, "text/html", headers={"Content-Encoding": "gzip"})}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with SiteServer(pages) as server:
        result = custody("archive", server.url + "/bomb.html")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert result.exit_code == 0, result.output
    assert "not extracted" in result.stderr
    assert grown_mb < 150, grown_mb  # 200 MiB inflated would show
    (row,) = custody.query("select warc_length from resources")
    assert row["warc_length"] < 2 * len(bomb)
    assert custody.verify()[0] == 0


def test_slow_response_is_cut_by_the_total_timeout(custody: Custody) -> None:
    import time

    pages = {"/slow.html": Page(b"<html><body><p>" + b"x" * 1000 + b"</p></body></html>",
                                "text/html", dribble=0.4)}
    with SiteServer(pages) as server:
        start = time.monotonic()
        result = custody("archive", "--timeout", "1", server.url + "/slow.html")
        took = time.monotonic() - start
    assert took < 3, took
    assert "truncated (time)" in result.stderr
    (row,) = custody.query("select truncated from resources")
    assert row["truncated"] == "time"
    assert custody.verify()[0] == 0
    shown = custody.ok("show", "--no-check", json.loads(
        custody.ok("list", "--json").stdout)["captures"][0]["id"]).stdout
    assert "[truncated: time, kept as received]" in shown  # show says so too


def test_concurrent_exchanges_never_mix_their_bytes(custody: Custody) -> None:
    """Keep-alive connections pass between worker threads; each record keeps its own bytes."""
    count = 150
    imgs = "".join(f'<img src="/p/{i}">' for i in range(count))
    pages = {"/": Page(f"<html><body>{imgs}</body></html>".encode(), "text/html")}
    for i in range(count):
        pages[f"/p/{i}"] = Page(f"payload of page {i}".encode(), "image/x-test")
    with SiteServer(pages, latency=0.002) as server:
        result = custody.archive(server.url + "/", extra=("--concurrency", "16"))
    assert result["status"] == "success" and result["resources"] == count + 1
    records = warc_records(custody.root, custody.manifest(result["capture_id"]))
    by_id = {h.get_header("WARC-Record-ID"): (h, raw) for h, raw in records}
    checked = 0
    for headers, raw in records:
        if headers.get_header("WARC-Type") != "request":
            continue
        path = headers.get_header("WARC-Target-URI").split(server.url)[1]
        assert raw.startswith(f"GET {path} HTTP/1.1\r\n".encode()), (path, raw[:60])
        _, response = by_id[headers.get_header("WARC-Concurrent-To")]
        if path.startswith("/p/"):
            assert response.endswith(f"payload of page {path[3:]}".encode()), path
            checked += 1
    assert checked == count


def test_the_manifest_names_the_library_versions_that_made_it(custody: Custody,
                                                              site: SiteServer) -> None:
    from importlib.metadata import version

    result = custody.archive(site.url + "/en.html", extra=("--no-requisites",))
    libraries = custody.manifest(result["capture_id"])["collector"]["libraries"]
    for name in ("httpx", "httpcore", "warcio", "trafilatura", "cryptography",
                 "lingua-language-detector", "pystemmer"):
        assert libraries[name] == version(name), name


def test_the_library_list_is_what_importlib_metadata_gives() -> None:
    """collector.libraries reads custody's requirements and the installed versions from
    the path's dist-info folders itself; importlib.metadata gives the same."""
    import re
    from importlib.metadata import PackageNotFoundError, requires, version

    from custody.seal.collector import libraries

    expected = {}
    for requirement in requires("custody") or []:
        name = re.match(r"[A-Za-z0-9._-]+", requirement)
        if name is not None and "extra ==" not in requirement:
            try:
                expected[name.group(0).lower()] = version(name.group(0))
            except PackageNotFoundError:
                continue
    assert libraries() == dict(sorted(expected.items()))


def test_every_stemmer_search_names_is_installed() -> None:
    import Stemmer

    from custody.index import textindex

    assert set(Stemmer.algorithms()) >= textindex.STEMMERS, \
        textindex.STEMMERS - set(Stemmer.algorithms())


def test_a_reader_glancing_at_the_lock_does_not_stop_a_capture(custody: Custody,
                                                                site: SiteServer) -> None:
    """verify asks whether a capture runs by taking the writer's lock shared for an
    instant: a capture starting then waits, while one still held after LOCK_WAIT is
    another writer, refused with exit 3."""
    import fcntl
    import threading
    import time

    from custody.core.archive import LOCK_WAIT, WRITER_LOCK

    def hold(mode: int, seconds: float, held: threading.Event) -> None:
        fd = os.open(custody.root / WRITER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, mode)
            held.set()
            time.sleep(seconds)
        finally:
            os.close(fd)

    held = threading.Event()
    glance = threading.Thread(target=hold, args=(fcntl.LOCK_SH, 0.5, held))
    glance.start()
    held.wait(5)
    result = custody("archive", site.url + "/en.html")
    glance.join()
    assert result.exit_code == 0, result.output

    held = threading.Event()
    writer = threading.Thread(target=hold, args=(fcntl.LOCK_EX, LOCK_WAIT + 2, held))
    writer.start()
    held.wait(5)
    started = time.monotonic()
    refused = custody("archive", site.url + "/en.html")
    waited = time.monotonic() - started
    writer.join()
    assert refused.exit_code == 3, refused.output
    assert "another custody process is writing" in refused.output
    assert LOCK_WAIT - 0.1 <= waited < LOCK_WAIT + 2


def test_https_capture_keeps_every_certificate_the_server_presented(
        custody: Custody, pages: dict, tmp_path: Path) -> None:
    """A server that sends its leaf and an intermediate: both are recorded, from the same
    connection, in the order sent."""
    import ssl

    import trustme
    from cryptography import x509

    from custody.testing.site import SiteServer

    root = trustme.CA()
    intermediate = root.create_child_ca()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    intermediate.issue_cert("localhost").configure_cert(context)
    bundle = tmp_path / "root.pem"
    root.cert_pem.write_to_path(str(bundle))
    with SiteServer(pages, tls=context) as site:
        result = custody.archive(site.url + "/en.html", extra=("--ca-bundle", str(bundle),
                                                               "--no-requisites"))
    assert result["status"] == "success", result
    records = warc_records(custody.root, custody.manifest(result["capture_id"]))
    pem = next(raw for h, raw in records if h.get_header("WARC-Type") == "metadata")
    chain = x509.load_pem_x509_certificates(pem)
    assert len(chain) == 2
    assert chain[0].issuer == chain[1].subject  # the leaf, then the intermediate
    assert chain[1].subject == x509.load_pem_x509_certificate(
        intermediate.cert_pem.bytes()).subject


def test_a_seed_that_answers_an_http_error_shows(custody: Custody, site: SiteServer) -> None:
    """A seed answering 404 or 5xx is sealed as sent, and said: status partial, a note
    naming the seed and the code, exit 5; a seed that answers well beside it changes
    nothing of that."""
    for path, code in (("/missing.html", 404), ("/error.html", 500)):
        result = custody("archive", "--json", site.url + path)
        assert result.exit_code == 5, result.output
        report = json.loads(result.stdout)
        assert report["capture_status"] == "partial" and report["status"] == "partial"
        assert any(site.url + path in n and f"HTTP {code}" in n for n in report["notes"])
        assert not report["failures"]  # an answer, kept as evidence: no failed fetch
    both = custody("archive", "--json", site.url + "/en.html", site.url + "/missing.html")
    assert both.exit_code == 5
    assert json.loads(both.stdout)["capture_status"] == "partial"
    fine = custody("archive", "--json", site.url + "/en.html")
    assert fine.exit_code == 0 and json.loads(fine.stdout)["capture_status"] == "complete"
    assert custody.verify()[0] == 0
