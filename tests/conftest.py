"""Fixtures: the sample site over HTTP and HTTPS, an archive root with its own key, the CLI."""

from __future__ import annotations

import json
import os
import shutil
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from click.testing import CliRunner, Result

from custody.cli import main
from custody.testing.site import Page, SiteServer, build_site

DATA = Path(__file__).parent / "data"
SEEDS = DATA / "seeds"  # the seed texts the sample site is built from
CHROMIUM = os.environ.get("CUSTODY_CHROMIUM", "/usr/bin/chromium")
# the mark of tests that drive Debian's Chromium (CI installs it: a skip there is a fault)
needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"no Chromium at {CHROMIUM}: ./scripts/setup --test installs it (as root)")


@pytest.fixture(scope="session")
def pages() -> dict[str, Page]:
    return build_site(SEEDS)


@pytest.fixture(scope="session")
def site(pages: dict[str, Page]) -> Iterator[SiteServer]:
    with SiteServer(pages) as server:
        yield server


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def tls_site(pages: dict[str, Page], ca: trustme.CA) -> Iterator[SiteServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    with SiteServer(pages, tls=context) as server:
        yield server


@dataclass
class Custody:
    """Runs the real CLI in-process against one archive root with its own key."""

    root: Path
    key: Path

    def __call__(self, *args: str, input: str | None = None) -> Result:
        env = {"CUSTODY_ROOT": str(self.root), "CUSTODY_KEY": str(self.key)}
        return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result

    def archive(self, *urls: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
        result = self("archive", "--json", *extra, *urls)
        assert result.exit_code in (0, 5), result.output
        return json.loads(result.stdout)

    def verify(self, *ids: str) -> tuple[int, dict[str, Any]]:
        result = self("verify", "--json", *ids)
        return result.exit_code, json.loads(result.stdout)

    def manifest(self, capture_id: str) -> dict[str, Any]:
        return json.loads((self.root / "manifests" / f"{capture_id}.json").read_text())

    def query(self, sql: str) -> list[dict[str, Any]]:
        return json.loads(self.ok("query", sql, "--json").stdout)


@pytest.fixture
def custody(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Custody:
    monkeypatch.delenv("CUSTODY_KEY_PASSPHRASE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    runner = Custody(tmp_path / "evidence", tmp_path / "keys" / "id_ed25519")
    runner.ok("init", "--no-tsa", "--operator", "tester@example.org")
    return runner


@pytest.fixture(scope="session")
def sealed_template(tmp_path_factory: pytest.TempPathFactory, site: SiteServer) -> Custody:
    """One archive of the sample site, made once; tests that tamper work on copies of it."""
    base = tmp_path_factory.mktemp("template")
    saved = {k: os.environ.get(k) for k in ("CUSTODY_KEY_PASSPHRASE",)}
    os.environ.pop("CUSTODY_KEY_PASSPHRASE", None)
    runner = Custody(base / "evidence", base / "keys" / "id_ed25519")
    runner.ok("init", "--no-tsa", "--operator", "tester@example.org")
    runner.archive(*(site.url + p for p in ("/", "/en.html", "/fa.html", "/ru.html", "/old",
                                             "/missing.html", "/error.html")))
    for k, v in saved.items():
        if v is not None:
            os.environ[k] = v
    return runner


@pytest.fixture
def sealed(sealed_template: Custody, tmp_path: Path) -> Custody:
    """A fresh copy of the sealed sample archive, with the same key."""
    root = tmp_path / "copy"
    shutil.copytree(sealed_template.root, root)
    return Custody(root, sealed_template.key)


@pytest.fixture
def three(sealed: Custody, site: SiteServer) -> Custody:
    """The sealed sample and two captures more: three leaves, three checkpoints."""
    sealed.archive(site.url + "/en.html")
    sealed.archive(site.url + "/fa.html")
    assert len(chain_ids(sealed)) == 3
    return sealed


def chain_ids(runner: Custody) -> list[str]:
    """Capture ids in chain order (ids made in the same second do not sort by time)."""
    paths = (runner.root / "manifests").glob("*.json")
    found = {p.stem: json.loads(p.read_text())["chain"]["sequence"] for p in paths}
    return sorted(found, key=found.__getitem__)


def capture_id_of(runner: Custody) -> str:
    """The newest capture."""
    return chain_ids(runner)[-1]


@pytest.fixture(scope="session")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from custody.testing.tsa import LocalTSA

    with LocalTSA(tmp_path_factory.mktemp("tsa")) as authority:
        yield authority


def trust_tsa(runner: Custody, authority: Any) -> None:
    """Name the test TSA's root as trusted, and ask it after every capture."""
    shutil.copy(authority.root_pem, runner.root / "tsa-roots.pem")
    (runner.root / "custody.toml").write_text(
        f'[timestamp]\ntsa = ["{authority.url}"]\nroots = ["tsa-roots.pem"]\n')


@pytest.fixture(scope="session")
def stamped_template(tmp_path_factory: pytest.TempPathFactory, site: SiteServer,
                     tsa: Any) -> Custody:
    """Three timestamped captures in one archive, made once; tests work on copies."""
    base = tmp_path_factory.mktemp("stamped")
    os.environ.pop("CUSTODY_KEY_PASSPHRASE", None)
    runner = Custody(base / "evidence", base / "keys" / "id_ed25519")
    runner.ok("init", "--no-tsa", "--operator", "tester@example.org")
    trust_tsa(runner, tsa)
    for path in ("/en.html", "/fa.html", "/ru.html"):
        runner.archive(site.url + path)
    return runner


@pytest.fixture
def stamped(stamped_template: Custody, tmp_path: Path) -> Custody:
    root = tmp_path / "copy"
    shutil.copytree(stamped_template.root, root)
    key = tmp_path / "key" / "id_ed25519"  # a copy: a test may rotate it
    key.parent.mkdir()
    shutil.copy2(stamped_template.key, key)
    return Custody(root, key)


PYWB = Path(__file__).parent.parent / ".venv" / "tools" / "pywb" / "bin"  # scripts/setup


@pytest.fixture
def wayback(tmp_path: Path) -> Iterator[Any]:
    """pywb's wayback on loopback, over a collection the test fills with ``add`` (WARC
    files, or a WACZ unpacked as ``wb-manager add --unpack-wacz`` does)."""
    import socket
    import subprocess
    import time

    if not (PYWB / "wayback").exists():
        pytest.skip(f"no pywb at {PYWB}: ./scripts/setup --test installs it")
    folder = tmp_path / "pywb"
    folder.mkdir()
    subprocess.run([str(PYWB / "wb-manager"), "init", "evidence"], cwd=folder, check=True,
                   capture_output=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(PYWB / "wayback"), "-b", "127.0.0.1", "-p", str(port)],
                              cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    class Wayback:
        base = f"http://127.0.0.1:{port}/evidence"

        def add(self, *files: str, wacz: bool = False) -> None:
            unpack = ["--unpack-wacz"] if wacz else []
            subprocess.run([str(PYWB / "wb-manager"), "add", *unpack, "evidence", *files],
                           cwd=folder, check=True, capture_output=True)

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "wayback did not start"
                time.sleep(0.1)
        yield Wayback()
    finally:
        server.terminate()
        server.wait(10)


# the test files that take longest, started first, so that two workers end together
# rather than one finishing them alone at the end
SLOW_FIRST = ("test_store_pieces", "test_store", "test_queue", "test_queue_fence",
              "test_watch", "test_browser", "test_crash", "test_serve_browser",
              "test_every_byte", "test_import", "test_postgres", "test_extract_crash",
              "test_prepared", "test_queue_trust", "test_media")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))


def _custody_children() -> list[int]:
    """The custody processes this test process started that are still running: what a
    test stopped by a failed assertion leaves (a queue worker it meant to stop later)."""
    found = []
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = stat.rsplit(")", 1)[1].split()[1]
        if parent == me and any(part.endswith(b"/custody") for part in cmdline[:2]):
            found.append(int(entry.name))
    return found


@pytest.fixture(autouse=True)
def _no_custody_left_running() -> Iterator[None]:
    """Each test ends with none of the custody commands it started still running, passed
    or failed: a worker left over would take the next test's jobs. (Those a module's
    fixture started before, a `custody serve`, run on for the module's next tests.)"""
    before = set(_custody_children())
    yield
    import signal

    for pid in set(_custody_children()) - before:
        try:
            os.kill(pid, signal.SIGCONT)  # one a test paused
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
