"""A real S3-compatible server on loopback (moto in server mode, from its own venv made
by ``./scripts/setup --test``), for the tests and the benchmark of ``worker --store``.

``pause()``/``resume()`` stop and continue the server's process (SIGSTOP/SIGCONT): to a
client it is a store that stops answering mid-crawl and comes back with its data, as a
store restarted behind a load balancer would; moto keeps its buckets in memory, so a
killed one would come back empty, which no real store does.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .redis_server import free_port

REPO = Path(__file__).resolve().parents[3]


def moto_python() -> str | None:
    found = os.environ.get("CUSTODY_MOTO_PYTHON") or str(REPO / ".venv/tools/moto/bin/python")
    return found if Path(found).exists() else None


class S3Server:
    def __init__(self, folder: Path) -> None:
        python = moto_python()
        if python is None:
            raise RuntimeError("moto is not installed (./scripts/setup --test)")
        self.python = python
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What a custody process needs to find and use this store (boto3's own names)."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "custody-test",
                "AWS_SECRET_ACCESS_KEY": "custody-test", "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true"}

    def start(self) -> S3Server:
        log = open(self.folder / "moto.log", "ab")  # noqa: SIM115 - the server keeps it
        self.process = subprocess.Popen(
            [self.python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("moto ended: " +
                                       (self.folder / "moto.log").read_text()) from None
                time.sleep(0.05)
        raise RuntimeError("moto did not start within 30 s")

    def client(self) -> object:
        import boto3

        env = self.env()
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])

    def bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]
        return name

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


if __name__ == "__main__":  # a store for trying custody by hand: prints what to export
    server = S3Server(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/custody-s3"))
    server.start()
    server.bucket("evidence")
    for name, value in server.env().items():
        print(f"export {name}={value}")
    try:
        assert server.process is not None
        server.process.wait()
    except KeyboardInterrupt:
        server.stop()
