"""What is handed over never carries the archivist's secrets unless told to.

Every form of a credential field is redacted in the WARC; a seed's user:password@ is sent
as Basic authentication and written nowhere; and before a bundle, an export or a report
is written, every known value of the session is searched for in what it would carry --
a session id a server put in a redirect URL, or echoed in a page, a JSON body or the
DOM -- and nothing is written where one appears, unless --allow-secrets."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import socket
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from conftest import Custody
from custody.capture.redact import MARK, Redactor
from custody.report.secrets import Matcher, Secret
from custody.testing.members import PRIVATE_TEXT, MembersSite
from custody.testing.raw import Loopback
from test_crash import run_custody

WARCIO = str(Path(sys.executable).with_name("warcio"))


@pytest.fixture
def members() -> Iterator[MembersSite]:
    with MembersSite() as site:
        yield site


def holding(folder: Path, values: list[str]) -> dict[str, list[str]]:
    """Which of the ``values`` each file under ``folder`` holds, gzip and ZIP opened."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.suffix == ".gz":
            data += gzip.decompress(data)
        if path.suffix == ".wacz":
            with zipfile.ZipFile(path) as package:
                data += b"".join(gzip.decompress(package.read(n)) if n.endswith(".gz")
                                 else package.read(n) for n in package.namelist())
        held = [v for v in values if v.encode() in data]
        if held:
            found[str(path.relative_to(folder))] = held
    return found


def http_heads(root: Path) -> list[tuple[str, str, bytes]]:
    """(WARC-Type, target URI, HTTP head as stored) of every request and response."""
    out = []
    for warc in sorted((root / "archive").rglob("*.warc.gz")):
        with open(warc, "rb") as fh:
            for record in ArchiveIterator(fh, no_record_parse=True):
                block = record.raw_stream.read()
                if record.rec_type in ("request", "response"):
                    out.append((record.rec_type,
                                record.rec_headers.get_header("WARC-Target-URI"),
                                block.split(b"\r\n\r\n")[0]))
    return out


def test_every_header_form_is_redacted() -> None:
    """Folded, repeated and comma-joined Set-Cookie, Set-Cookie2, bare LF line ends,
    Cookie, Authorization and Proxy-Authorization: no value stays, the body is as sent."""
    redactor = Redactor(b"k" * 32)
    secrets = ["TRACK0123456789", "FOLD0123456789", "SECOND0123456789", "LEAK0123456789",
               "V2SECRET01234", "PLAIN0123456789"]
    head = ("HTTP/1.1 302 Found\n"
            f"Set-Cookie: pref=dark; Path=/, track={secrets[0]}; Path=/; HttpOnly; "
            "Expires=Wed, 21 Oct 2026 07:28:00 GMT\n"
            f"Set-Cookie:\n folded={secrets[1]};\n\tPath=/\n"
            f"set-cookie: a=1; Path=/, c={secrets[2]}; Path=/, b=2; Path=/, {secrets[3]}\n"
            f"Set-Cookie2: v2={secrets[4]}; Version=1\n"
            f"Set-Cookie: {secrets[5]}\n"
            "Content-Length: 30\n\n").encode()
    body = b"Set-Cookie: body=NOT-A-HEADER1"
    spool, size, items = redactor.response(io.BytesIO(head + body), len(head + body))
    stored = spool.read()
    assert size == len(stored) and stored.endswith(b"\n\n" + body)
    assert not [s for s in secrets if s.encode() in stored[:-len(body)]], stored
    assert all(any(secret in i["value"] for i in items) for secret in secrets), items
    assert stored.count(MARK.encode()) >= 8
    assert b"Expires=Wed, 21 Oct 2026 07:28:00 GMT" in stored  # attributes stay
    request = (b"GET / HTTP/1.1\r\nHost: h\r\nCookie: a=COOKIEVALUE1; b=COOKIEVALUE2\r\n"
               b"Cookie: c=COOKIEVALUE3\r\nProxy-Authorization: Basic UFJPWFk6U0VDUkVU\r\n"
               b"Authorization: Bearer TOKEN0123 456\r\n\r\n")
    sent, items = redactor.request(request)
    assert not [v for v in (b"COOKIEVALUE", b"UFJPWFk6", b"TOKEN0123") if v in sent], sent
    assert {i["field"] for i in items} == {"Cookie", "Proxy-Authorization", "Authorization"}


class Replies(Loopback):
    """A loopback server whose answer is not well-formed HTTP, a Set-Cookie in it."""

    def __init__(self, secret: str) -> None:
        super().__init__(backlog=8)
        self.secret = secret
        self.url = self.base + "/"
        self.start()

    def answer(self, conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nSet-Cookie: s=" + self.secret.encode() +
                     b"\r\nthis line is no header\r\n\r\nbody")


def test_a_reply_that_is_not_http_is_redacted_too(custody: Custody, tmp_path: Path) -> None:
    secret = "broken-" + "ab12" * 8
    server = Replies(secret)
    try:
        cookies = tmp_path / "cookies.txt"
        cookies.write_text("# Netscape HTTP Cookie File\n"
                           "127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tsess-0123456789\n")
        result = custody("archive", "--json", "--retries", "0", "--cookies", str(cookies),
                         server.url)
        assert result.exit_code == 5, result.output
    finally:
        server.close()
    assert holding(custody.root, [secret, "sess-0123456789"]) == {
        str(p.relative_to(custody.root)): [secret, "sess-0123456789"]
        for p in (custody.root / ".custody" / "credentials").glob("*.json")}
    assert custody.verify()[0] == 0


def test_a_redirect_session_id_and_echoes_stop_the_handover(
        custody: Custody, members: MembersSite, tmp_path: Path) -> None:
    cookies = members.cookies_txt(tmp_path / "cookies.txt")
    out = custody.archive(members.url + "/account",
                          extra=("--cookies", str(cookies), "--depth", "1"))
    cid = out["capture_id"]
    assert out["final_urls"][members.url + "/account"].endswith(
        f"sid={members.sid}&visit={members.visit}")
    # the folded and comma-joined cookies are in no record; the session id stays in URLs
    s = members.secrets()
    held = custody.manifest(cid)["redactions"]
    kept = json.loads((custody.root / held["credentials_file"]["path"]).read_text())
    assert {s["track"], s["folded"]} <= {v["value"] for v in kept["values"]}
    assert [(x["where"], x["name"], x["value"]) for x in kept["secrets"]] == \
        [("url", "sid", members.sid), ("url", "visit", members.visit)]
    assert [x["name"] for x in held["secrets"]] == ["sid", "visit"]
    for _, uri, head in http_heads(custody.root):
        assert s["track"].encode() not in head and s["folded"].encode() not in head, uri
    (warc,) = custody.manifest(cid)["warc_files"]
    check = subprocess.run([WARCIO, "check", "-v", str(custody.root / warc["path"])],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    assert custody.verify()[0] == 0
    # what custody secrets finds, named without the value
    listed = custody("secrets", "--json", cid)
    assert listed.exit_code == 1, listed.output
    found = json.loads(listed.stdout)["found"]
    wheres = [f["where"] for f in found]
    for part in ("HTTP field Location", "request line", "HTTP field Referer",
                 "WARC field WARC-Target-URI", "its block", "documents.text",
                 "final_urls", "records["):
        assert any(part in w for w in wheres), (part, wheres)
    assert {f["name"] for f in found} == {"sid", "visit", "session"}
    # a value cut across two reads of a block, and one only a gzipped body holds
    assert any("/long.txt" in w and w.endswith("its block") for w in wheres), wheres
    assert any("/packed.txt" in w and w.endswith("its body, decoded") for w in wheres)
    assert not [w for w in wheres for v in s.values() if v in w]
    # bundle, export and report refuse, write nothing, and say where
    for args, made in ((("bundle", cid, "-o", str(tmp_path / "b")), tmp_path / "b"),
                       (("export", cid, "-o", str(tmp_path / "e.wacz")), tmp_path / "e.wacz"),
                       (("report", cid, "-o", str(tmp_path / "r.html")), tmp_path / "r.html")):
        result = custody(*args)
        assert result.exit_code == 11, result.output
        assert not made.exists()
        lines = result.stderr.splitlines()
        assert lines[-1].startswith("custody: error: the session's secrets appear in")
        assert any(line.startswith("custody: secret: URL sid (") for line in lines)
        assert not [v for v in s.values() if v in result.stderr]
    # unless told to: then the files hold them (the search was right), and the log says so
    custody.ok("bundle", cid, "-o", str(tmp_path / "b"), "--allow-secrets")
    custody.ok("export", cid, "-o", str(tmp_path / "e.wacz"), "--allow-secrets")
    custody.ok("report", cid, "-o", str(tmp_path / "r.html"), "--allow-secrets")
    assert "sid" in str(holding(tmp_path / "b", [members.sid]))
    assert holding(tmp_path, [members.sid])["e.wacz"]
    assert holding(tmp_path, [members.sid])["r.html"]
    assert "2 session values the servers put in URLs" in (tmp_path / "r.html").read_text()
    events = [e for e in json.loads(custody.ok("log", "--json").stdout)
              if e["event"] in ("bundled", "exported", "reported")]
    assert len(events) == 3
    for event in events:
        assert event["details"]["secrets"]["allowed"] is True
        assert event["details"]["secrets"]["places"] > 0
    # without the credentials file the values cannot be searched for: refused too
    (custody.root / held["credentials_file"]["path"]).unlink()
    assert custody("secrets", cid).exit_code == 6
    result = custody("bundle", cid, "-o", str(tmp_path / "b2"))
    assert result.exit_code == 11 and "is gone" in result.stderr, result.output
    assert custody.verify()[0] == 0


def test_each_form_of_a_value_is_found() -> None:
    secret = Secret("Cookie", "c", MARK + "0" * 64, "ab+/cd==Z9yx")
    matcher = Matcher([secret])
    for text in (b"?c=ab%2B%2Fcd%3D%3DZ9yx&", b"?c=ab%2b%2fcd%3d%3dZ9yx", b"ab%2B%2Fcd",
                 b'{"c": "ab+\\/cd==Z9yx"}', b"AB+/CD==z9YX", b"ab+/cd==Z9yx"):
        assert matcher.find(text) == ([] if text == b"ab%2B%2Fcd" else [secret]), text
    assert matcher.mask("http://h/?c=ab%2B%2Fcd%3D%3DZ9yx") == "http://h/?c=[c]"


def test_a_session_that_nothing_echoes_is_handed_over(custody: Custody, members: MembersSite,
                                                      tmp_path: Path) -> None:
    cookies = members.cookies_txt(tmp_path / "cookies.txt")
    cid = custody.archive(members.url + "/members", extra=("--cookies", str(cookies),
                                                           "--no-requisites"))["capture_id"]
    assert custody("secrets", cid).exit_code == 0
    custody.ok("bundle", cid, "-o", str(tmp_path / "b"))
    (event,) = [e for e in json.loads(custody.ok("log", "--json").stdout)
                if e["event"] == "bundled"]
    assert event["details"]["secrets"] == {"searched": 2, "too_short": 0, "places": 0,
                                           "unsearchable": 0, "pictures": 0,
                                           "allowed": False}


def test_a_seed_login_is_sent_as_basic_and_written_nowhere(
        custody: Custody, members: MembersSite, tmp_path: Path) -> None:
    port = members.url.rsplit(":", 1)[1]
    seed = f"http://{members.user}:{members.password}@127.0.0.1:{port}/private/"
    out = custody.archive(seed, extra=("--depth", "1", "--allow-private"))
    cid = out["capture_id"]
    manifest = custody.manifest(cid)
    assert manifest["seed_url"] == f"http://127.0.0.1:{port}/private/"
    docs = custody.query("SELECT url, text FROM documents")
    assert any(PRIVATE_TEXT in (d["text"] or "") for d in docs), docs
    basic = base64.b64encode(f"{members.user}:{members.password}".encode()).decode()
    held = manifest["redactions"]["credentials_file"]["path"]
    assert holding(custody.root, [members.password, basic]) == {held: [basic]}
    statuses = {r["url"]: r["status_code"] for r in custody.query(
        "SELECT url, status_code FROM resources")}
    # a link's own user:password@ is dropped; the login goes to its origin, no other
    assert statuses[f"http://127.0.0.1:{port}/private/linked"] == 200
    assert statuses[f"http://localhost:{port}/private/elsewhere"] == 401
    assert not [u for u in statuses if "@" in u]
    heads = {(kind, uri): head for kind, uri, head in http_heads(custody.root)}
    assert b"Authorization: Basic " + MARK.encode() in \
        heads[("request", f"http://127.0.0.1:{port}/private/")]
    assert b"Authorization" not in heads[("request",
                                          f"http://localhost:{port}/private/elsewhere")]
    assert custody.verify()[0] == 0
    assert custody("secrets", cid).exit_code == 0
    custody.ok("bundle", cid, "-o", str(tmp_path / "b"))
    assert holding(tmp_path / "b", [members.password, basic]) == {}


def test_a_login_is_refused_where_it_would_travel_in_clear(custody: Custody) -> None:
    result = custody("archive", "--queue", "redis://127.0.0.1:1/0",
                     "https://someone:secret-password@example.org/")
    assert result.exit_code == 2 and "user:password" in result.stderr, result.output
    assert result.stderr.count("\n") == 1
    result = custody("archive", "https://a:one@example.org/", "https://a:two@example.org/x")
    assert result.exit_code == 2 and "two logins for" in result.stderr
    assert not list((custody.root / "manifests").glob("*.json"))


@pytest.mark.parametrize("changed", ["value", "value and hash"])
def test_credentials_that_do_not_give_the_records_hashes_fail_verify(
        custody: Custody, members: MembersSite, tmp_path: Path, changed: str) -> None:
    """A credentials file sealed as it is (its state changed before the seal), whose
    value is not the one the records' keyed hash was made from: the HMAC comparison
    tells; with a hash made anew from the other value, the records tell."""
    cookies = members.cookies_txt(tmp_path / "cookies.txt")
    killed = run_custody(custody, "archive", "--cookies", str(cookies), "--no-requisites",
                         members.url + "/members", fault="seal.journal")
    assert killed.returncode == -9, killed.stderr
    (state,) = (custody.root / ".custody" / "crawls").glob("*/state.db")
    conn = sqlite3.connect(state)
    with conn:
        (key,) = conn.execute("SELECT value FROM meta WHERE key = 'redaction_key'").fetchone()
        redactor = Redactor(bytes.fromhex(json.loads(key)))
        for row_id, text in conn.execute("SELECT id, json FROM redactions").fetchall():
            items = json.loads(text)
            for item in items:
                item["value"] = item["value"].replace("sess-", "ssss-")
                if changed == "value and hash":
                    item["hmac"] = redactor.mark(item["value"])
            conn.execute("UPDATE redactions SET json = ? WHERE id = ?",
                         [json.dumps(items), row_id])
    conn.close()
    done = run_custody(custody, "reindex")
    assert done.returncode == 0, done.stderr
    code, report = custody.verify()
    failed = [c for c in report["checks"] if c["outcome"] == "failed"]
    assert code == 1 and [c["check"] for c in failed] == ["credentials"], failed
    assert ("do not give the hashes" if changed == "value" else "does not hold the hash") \
        in failed[0]["detail"]


CHROMIUM = os.environ.get("CUSTODY_CHROMIUM", "/usr/bin/chromium")


@pytest.mark.skipif(not Path(CHROMIUM).exists(),
                    reason=f"no Chromium at {CHROMIUM}: ./scripts/setup --browser installs it")
def test_a_secret_a_script_writes_into_the_dom_is_found(custody: Custody, members: MembersSite,
                                                        tmp_path: Path) -> None:
    """The page's HTML holds the session cookie only reversed; the browser's DOM holds it
    as it is: found in the DOM's record, in the rendered document's text, and the render
    URNs carry the session id of the URL."""
    cookies = members.cookies_txt(tmp_path / "cookies.txt")
    out = custody.archive(members.url + "/account",
                          extra=("--browser", "--cookies", str(cookies), "--no-requisites"))
    cid = out["capture_id"]
    result = custody("secrets", "--json", cid)
    assert result.exit_code == 1, result.output
    listed = json.loads(result.stdout)
    session = [f["where"] for f in listed["found"] if f["name"] == "session"]
    assert any("(resource urn:dom:" in w and w.endswith("its block") for w in session), session
    assert any("documents.text" in w for w in session), session
    assert not any("(response " in w for w in session), session  # the HTML holds it reversed
    assert any("urn:screenshot:" in f["where"] and "WARC-Target-URI" in f["where"]
               for f in listed["found"] if f["name"] == "sid")
    assert listed["pictures"] >= 2
    result = custody("bundle", cid, "-o", str(tmp_path / "b"))
    assert result.exit_code == 11 and not (tmp_path / "b").exists(), result.output
    custody.ok("bundle", cid, "-o", str(tmp_path / "b"), "--allow-secrets")
    assert "screenshots and PDFs" in custody("bundle", cid, "-o", str(tmp_path / "c"),
                                             "--allow-secrets").stderr
    assert holding(tmp_path / "b", [members.session])


def test_a_session_in_a_path_parameter_is_a_secret_of_the_url() -> None:
    """`;jsessionid=...` in a URL's path, as Java servers write it, is a session value
    as much as `?sid=...` is: each is named with its value, the rest are not."""
    from custody.capture.redact import Redactor

    redactor = Redactor(b"k" * 32)
    found = redactor.url_secrets("https://h.example/shop;jsessionid=A1B2C3D4E5F6/cart"
                                 "?session=Z9Y8X7W6V5&page=2")
    assert [(f["name"], f["value"]) for f in found] == [
        ("jsessionid", "A1B2C3D4E5F6"), ("session", "Z9Y8X7W6V5")]
