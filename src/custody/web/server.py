"""`custody serve`: the workbench and its replay, two servers on two ports in one process
(uvicorn), with pywb as a child on a Unix socket in the run's own folder, and the capture
and verify workers beside them. Ends cleanly on Ctrl-C or SIGTERM: a capture running then
is told to stop and seal what it has, as `custody archive` does on Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..core.archive import Archive
from ..core.errors import UsageError
from .accounts import Accounts
from .capturing import Captures
from .events import Recorder
from .security import GuardSettings, url_host
from .sessions import Sessions
from .shared_index import SharedIndex
from .verification import Verifier
from .workbench import Workbench

log = logging.getLogger("custody.serve")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class Options:
    host: str = "127.0.0.1"
    port: int = 8000
    replay_port: int = 0  # 0: a free one
    replay_host: str | None = None
    public_names: tuple[str, ...] = ()  # --host: the names the team's browsers use
    accounts: Path | None = None  # --host: the accounts file
    queue_url: str | None = None
    db_url: str | None = None  # the team's shared index in PostgreSQL
    certfile: str | None = None
    keyfile: str | None = None
    replay: bool = True


def free_port(host: str, *also: str) -> int:
    """A port free on ``host`` (and on the ``also`` addresses, if it can be found)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        if all(_free(other, port) for other in also):
            break
    return port


def _free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def listen(host: str, port: int, option: str = "--port") -> socket.socket:
    """The server's socket, bound and listening before anything is said (UsageError when
    the port is taken or the address not this machine's), so that a URL printed is one
    that answers: a browser that connects before the server has started waits in the
    socket's backlog, where a socket bound but not yet listening refuses it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # each connection takes it from here: without it, an answer's last segment waits
    # for the browser's delayed ACK, 40 ms a request on a kept-alive connection
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)  # uvicorn's backlog; it listens on it again when it starts
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host} port {port}: {exc.strerror or exc} "
                         f"(another {option}, or --host)") from exc
    return sock


def hosts_for(names: list[str], port: int) -> frozenset[str]:
    out = set()
    for name in names:
        shown = url_host(name)
        out.add(f"{shown}:{port}".lower())
        if port in (80, 443):
            out.add(shown.lower())
    return frozenset(out)


def serve(archive: Archive, options: Options, *, key: Any, principal: str | None,
          say: Callable[[str], None]) -> None:
    """Run until stopped. ``key``: the archivist's (None: a workbench that reads only)."""
    import uvicorn

    from ..core import scratch
    from .app import make_app

    options = replace(options, host=options.host.strip("[]"))  # [::1] as a URL writes it
    team = options.host not in LOOPBACK
    if team and options.accounts is None:
        raise UsageError("--host for a team needs accounts (custody account add NAME "
                         "--role ROLE), kept in --accounts FILE")
    accounts = Accounts(options.accounts) if team and options.accounts else None
    if accounts is not None and not any(a.role == "admin" and not a.disabled
                                        for a in accounts.accounts.values()):
        raise UsageError("a team's workbench needs an admin account first: custody "
                         "account add NAME --role admin")
    port = options.port or free_port(options.host)
    # on loopback, the replay's other site is a loopback name (localhost, 127.0.0.1, or
    # --replay-host's), which resolvers take for 127.0.0.1, ::1 or both: it listens on
    # each loopback this machine has
    replay_also = [] if team else [
        other for other in ("127.0.0.1", "::1")
        if other != {"localhost": "127.0.0.1"}.get(options.host, options.host)
        and _free(other, 0)]
    replay_port = options.replay_port or free_port(options.host, *replay_also)
    public = list(options.public_names)
    if team and not public:  # the names this machine goes by, as a browser would use them
        public = list(dict.fromkeys([socket.getfqdn(), socket.gethostname()]))
        if options.host not in ("0.0.0.0", "::"):
            public.append(options.host)
    names = [*LOOPBACK, *public] if not team else public
    replay_names = [*names, *([options.replay_host] if options.replay_host else [])]
    recorder = Recorder(archive, key, principal)
    key_bytes = None
    if key is not None:
        from ..core.agent import AgentKey

        if not isinstance(key, AgentKey):
            key_bytes = key.private_bytes_raw()
    sessions = Sessions()
    token = None if team else secrets.token_urlsafe(24)
    with scratch.folder("custody-serve-") as folder:
        replay = wayback = None
        if options.replay:
            from ..replay import pywb
            from .replay_proxy import ReplayProxy

            try:
                engine = pywb.pywb_bin()
            except UsageError as exc:
                say(f"custody: note: no replay in the workbench: {exc}")
            else:
                wayback = pywb.Wayback(folder / "pywb", engine)
                replay = ReplayProxy(archive, folder / "pywb", secrets.token_urlsafe(18),
                                     wayback.socket, hosts_for(replay_names, replay_port),
                                     "https" if options.certfile else "http")
        index = None
        if options.db_url is not None:  # before anything starts: one line if it is away
            index = SharedIndex(options.db_url)
            index.open()
        captures = Captures(archive, recorder, key_bytes=key_bytes, queue_url=options.queue_url,
                            db_url=options.db_url)
        verifier = Verifier(archive, recorder)
        bench = Workbench(archive, recorder, sessions, captures, verifier, accounts=accounts,
                          replay=replay, local_only_paths=not team, index=index)
        guard = GuardSettings(hosts_for(names, port), sessions,
                              replay_port if replay else None, options.replay_host, token,
                              (principal or "archivist", "admin"),
                              secure_cookie=options.certfile is not None)
        app = make_app(bench, guard)
        tls: dict[str, Any] = {"ssl_certfile": options.certfile, "ssl_keyfile": options.keyfile} \
            if options.certfile else {}
        main = _make_server(uvicorn.Config(app, host=options.host, port=port,
                                             log_level="warning", access_log=False,
                                             server_header=False, **tls))
        servers = [(main, [listen(options.host, port)])]
        if replay is not None:
            servers.append((_make_server(uvicorn.Config(
                replay, host=options.host, port=replay_port, log_level="warning",
                access_log=False, server_header=False, **tls)),
                [listen(host, replay_port, "--replay-port")
                 for host in [options.host, *replay_also]]))
        scheme = "https" if options.certfile else "http"
        shown_host = url_host(public[0] if public else options.host)
        address = f"{scheme}://{shown_host}:{port}/"
        try:
            if wayback is not None:
                wayback.wait_ready()
            say(f"custody serve: {archive.root}")
            if index is not None:
                say(f"custody: note: lists and search from the shared index {index.shown}")
            if team:
                say(f"custody: note: answering to Host {', '.join(public)} only (--name)")
            say(f"open {address}?token={token}" if token else f"open {address} and sign in")
            say("(Ctrl-C stops)")
            asyncio.run(_run_all(servers))
        finally:
            for _, socks in servers:
                for sock in socks:
                    sock.close()
            captures.close()
            verifier.close()
            if index is not None:
                index.close()
            if wayback is not None:
                wayback.stop()


def _server_class() -> Any:
    import contextlib

    import uvicorn

    class Server(uvicorn.Server):
        """A uvicorn server that leaves signals to _run_all: two servers each taking
        them would undo each other's handlers."""

        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            yield

    return Server


def _make_server(config: Any) -> Any:
    return _server_class()(config)


async def _run_all(listening: list[tuple[Any, list[socket.socket]]]) -> None:
    """Both servers, each on its sockets, until Ctrl-C or SIGTERM, or until either stops;
    then both."""
    import signal

    loop = asyncio.get_running_loop()
    servers = [server for server, _ in listening]

    def stop() -> None:
        for server in servers:
            if server.should_exit:
                server.force_exit = True  # a second Ctrl-C: no waiting for connections
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        tasks = [asyncio.create_task(s.serve(sockets=socks)) for s, socks in listening]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
