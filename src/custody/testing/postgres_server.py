"""A real PostgreSQL (Debian's) on loopback, in a folder of its own, for the tests:
``initdb`` and ``postgres`` run as the ``postgres`` user when the tests run as root
(PostgreSQL refuses root), with trust authentication on 127.0.0.1 only."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .redis_server import free_port


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    def __init__(self) -> None:
        binaries = postgres_bin()
        if binaries is None:
            raise RuntimeError("PostgreSQL is not installed (./scripts/setup --test)")
        self.bin = binaries
        # under /tmp, not the tests' folder: the postgres user must reach it
        self.folder = Path(tempfile.mkdtemp(prefix="custody-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            os.chmod(self.folder, 0o700)
            self._as = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*self._as, str(self.bin / "initdb"), "-D", str(self.data), "-U",
                        "custody", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
                       check=True, capture_output=True)

    @property
    def url(self) -> str:
        return f"postgresql://custody@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        self.process = subprocess.Popen(
            [*self._as, str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-h", "127.0.0.1", "-k", str(self.folder), "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = subprocess.run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p",
                                    str(self.port)], capture_output=True)
            if ready.returncode == 0:
                return self
            if self.process.poll() is not None:
                raise RuntimeError("postgres ended at start")
            time.sleep(0.1)
        raise RuntimeError("postgres did not start within 30 s")

    def stop(self) -> None:
        if self.process is None:
            return
        subprocess.run([*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data), "stop",
                        "-m", "fast"], capture_output=True)
        self.process.wait(timeout=30)
        self.process = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
