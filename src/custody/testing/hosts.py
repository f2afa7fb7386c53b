"""Many hosts on loopback: each 127.0.0.N is a host of its own to the crawler (and to
each host's politeness), serving numbered report pages after ``latency`` seconds and
recording when each request began and ended. For the queue's tests and benchmark."""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def report_page(address: str, number: str) -> bytes:
    return (f"<html><head><title>Report {number} from {address}</title></head>"
            f"<body><h1>Report {number}</h1><p>Witnesses at {address} described the "
            f"events of day {number} in detail, and their statements were recorded by the "
            "documentation team.</p></body></html>").encode()


class Host:
    def __init__(self, address: str, *, latency: float = 0.0, pages: int = 50) -> None:
        log: list[tuple[str, float, float]] = []
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body in two writes: no 40 ms stall

            def do_GET(self) -> None:
                began = time.monotonic()
                time.sleep(latency)
                number = self.path.strip("/").removeprefix("p").removesuffix(".html")
                if not number.isdigit() or int(number) >= pages:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = report_page(address, number)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                with lock:
                    log.append((self.path, began, time.monotonic()))

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((address, 0), Handler)
        self.server.daemon_threads = True
        self.log = log
        self.base = f"http://{address}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def urls(self, count: int, start: int = 0) -> list[str]:
        return [f"{self.base}/p{i}.html" for i in range(start, start + count)]

    def most_at_once(self) -> int:
        """The most requests that were being answered at one moment."""
        events = sorted([(b, 1) for _, b, _ in self.log] + [(e, -1) for _, _, e in self.log])
        now = peak = 0
        for _, step in events:
            now += step
            peak = max(peak, now)
        return peak

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _serve(address: str, latency: float, pages: int, conn: Any) -> None:
    host = Host(address, latency=latency, pages=pages)
    conn.send(host.base)
    conn.recv()
    host.close()


@contextlib.contextmanager
def served_hosts(count: int, *, latency: float, pages: int) -> Iterator[list[str]]:
    """``count`` hosts (127.0.0.1 to 127.0.0.N), each in a process of its own so that none
    shares a GIL with the others or with the benchmark; their base URLs."""
    context = multiprocessing.get_context("spawn")
    pipes, procs = [], []
    try:
        for n in range(1, count + 1):
            here, there = context.Pipe()
            proc = context.Process(target=_serve, args=(f"127.0.0.{n}", latency, pages, there),
                                   daemon=True)
            proc.start()
            pipes.append(here)
            procs.append(proc)
        yield [pipe.recv() for pipe in pipes]
    finally:
        for pipe in pipes:
            with contextlib.suppress(OSError):
                pipe.send("stop")
        for proc in procs:
            proc.join(10)
