"""What a page chose to say is printed so that it cannot rewrite the investigator's
terminal or make a line read otherwise: escape sequences, line breaks and the
bidirectional overrides are shown escaped; Persian's joiners and marks are kept."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import Custody
from custody.core.terminal import for_terminal

TITLE = "Statement \u202egnp.exe\u202c \x1b[2J\u2028and روزنامه\u200cنگاران \u200f"


def test_what_is_escaped_and_what_is_kept() -> None:
    shown = for_terminal(TITLE)
    assert "\\u202e" in shown and "\\u202c" in shown and "\\x1b[2J" in shown
    assert "\\u2028" in shown
    assert "روزنامه\u200cنگاران" in shown and "\u200f" in shown  # ZWNJ and RLM kept
    assert for_terminal("plain text") == "plain text"


@pytest.fixture
def hostile() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = (f"<html><head><title>{TITLE}</title></head><body><p>A statement of "
                    "some length, to be extracted as the page's text.</p></body></html>"
                    ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/statement"
    server.shutdown()
    server.server_close()


def test_show_list_and_search_print_a_hostile_title_escaped(custody: Custody,
                                                            hostile: str) -> None:
    captured = custody.archive(hostile)
    capture_id = captured["capture_id"]
    for args in (("show", capture_id), ("list",), ("search", "statement")):
        out = custody.ok(*args).stdout
        assert "\x1b" not in out and "\u202e" not in out and "\u2028" not in out, args
        assert "\\u202e" in out, (args, out)
