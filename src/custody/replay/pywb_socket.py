"""pywb's wayback on Unix sockets only, run by pywb's own Python (not custody's):

    <pywb>/bin/python -P pywb_socket.py FOLDER/wayback.sock

As pywb's `wayback` command runs it (gevent, FrontEndApp, the same handler), with two
changes. Its front listens on the socket named, not a port. And its warcserver (which
FrontEndApp serves on a loopback port of its own, and which lists every collection at
`/` and hands out their records) listens on ``warcserver.sock`` beside it, and pywb's
requests to it (to ``http://localhost:<its port>/...``) are sent over that socket: the
folder is the run's own (mode 700), so no other user or program of the machine reaches
the collections. This file imports nothing of custody's.
"""

from gevent.monkey import patch_all

patch_all()

import logging  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402

import pywb.apps.frontendapp as frontendapp  # noqa: E402
import requests  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402
from pywb.utils.geventserver import RequestURIWSGIHandler  # noqa: E402
from requests.adapters import HTTPAdapter  # noqa: E402
from urllib3.connection import HTTPConnection  # noqa: E402
from urllib3.connectionpool import HTTPConnectionPool  # noqa: E402

FRONT = sys.argv[1]
WARCSERVER = os.path.join(os.path.dirname(FRONT), "warcserver.sock")
PORT = 1  # the port pywb writes in its warcserver's URLs; nothing listens on it


def listen(path: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(128)
    return listener


class UnixServer:
    """In place of pywb's GeventServer for its warcserver: served on WARCSERVER."""

    def __init__(self, app, port=0, hostname="localhost", handler_class=None, direct=False):
        self.port = PORT
        self.server = WSGIServer(listen(WARCSERVER), app, handler_class=handler_class)
        self.server.start()  # served by gevent's greenlets, beside the front

    def stop(self):
        self.server.stop()


class UnixConnection(HTTPConnection):
    def _new_conn(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(WARCSERVER)
        return sock


class UnixPool(HTTPConnectionPool):
    ConnectionCls = UnixConnection


class UnixAdapter(HTTPAdapter):
    """requests' adapter for the warcserver's URLs: a connection over WARCSERVER."""

    def __init__(self):
        super().__init__()
        self.pool = UnixPool("localhost", PORT)

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        return self.pool

    def get_connection(self, url, proxies=None):
        return self.pool

    def close(self):
        self.pool.close()


def main():
    logging.basicConfig(format="%(asctime)s: [%(levelname)s]: %(message)s",
                        level=logging.INFO)
    session = requests.Session()
    session.mount(f"http://localhost:{PORT}/", UnixAdapter())
    requests.get, requests.post = session.get, session.post  # pywb calls these
    frontendapp.GeventServer = UnixServer
    os.umask(0o077)
    front = listen(FRONT)
    app = frontendapp.FrontEndApp(custom_config={"enable_auto_fetch": False})
    WSGIServer(front, app, handler_class=RequestURIWSGIHandler).serve_forever()


if __name__ == "__main__":
    main()
