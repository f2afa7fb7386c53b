"""pywb's wayback, run by pywb's own Python (not custody's), its front on a Unix socket
(the workbench's replay and the replay check) or on a port (`custody replay`):

    <pywb>/bin/python -P pywb_socket.py FOLDER/wayback.sock
    <pywb>/bin/python -P pywb_socket.py --tcp HOST PORT      (in FOLDER)

As pywb's `wayback` command runs it (gevent, FrontEndApp, the same handler), with these
changes. Its warcserver (which FrontEndApp serves on a loopback port of its own, and
which lists every collection at `/` and hands out their records) listens on
``warcserver.sock`` in the folder, and pywb's requests to it (to
``http://localhost:<its port>/...``) are sent over that socket: the folder is the run's
own (mode 700), so no other user or program of the machine reaches the collections.

And a guard in front keeps a replayed page inside the archived copy, whatever its
scripts do (pywb alone lets them out):

- a path with a ``.`` or ``..`` segment is refused (pywb would resolve it, past a
  prefix that admits requests);
- pywb's ``id_`` modifier (the record's raw bytes, no rewriting, no Content-Security-
  Policy) and ``sw_`` (a service worker's script) are refused, and so is any request a
  browser makes for a service worker's script, and ``Service-Worker-Allowed`` is taken
  off: a service worker registered by one capture would answer for every capture of
  the origin, in this run and later ones;
- a document (HTML, XML) pywb would serve raw, under a modifier that does not rewrite
  it as a page (``im_``, ``oe_``...), is refused; repeated slashes are read as pywb
  reads them (one);
- every answer carries a Content-Security-Policy that keeps the page to this origin,
  WebSockets included (pywb's own allows ``ws:`` and ``wss:`` to any host, and only on
  its replay pages), with no ``data:`` frames; an SVG document may run no script (it
  gets neither wombat nor custody's script);
- what a captured answer's headers would tell the browser to do elsewhere is taken off
  (``Refresh``, ``Report-To``, ``Reporting-Endpoints``, ``NEL``);
- pywb's listings of the collections (``collinfo.json``, ``cdx``, ``timemap``), and
  the home page asked for by a script rather than opened, are refused: a replayed page
  does not learn the other captures' names;
- every replayed page gets a script that takes WebRTC away (no Content-Security-Policy
  governs it, and wombat does not rewrite it), in its frames too where it can. Where it
  cannot (a frame made by ``setHTMLUnsafe`` or ``execCommand``, a ``srcdoc`` frame's
  own scripts) WebRTC remains: no page-level guard can close it in every browser, and
  the guide says to replay hostile captures in a browser whose WebRTC is off.

This file imports nothing of custody's.
"""

from gevent.monkey import patch_all

patch_all()

import logging  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
from urllib.parse import unquote  # noqa: E402

import pywb.apps.frontendapp as frontendapp  # noqa: E402
import requests  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402
from pywb.utils.geventserver import RequestURIWSGIHandler  # noqa: E402
from requests.adapters import HTTPAdapter  # noqa: E402
from urllib3.connection import HTTPConnection  # noqa: E402
from urllib3.connectionpool import HTTPConnectionPool  # noqa: E402

TCP = sys.argv[1] == "--tcp"
FRONT = "" if TCP else sys.argv[1]
WARCSERVER = os.path.abspath("warcserver.sock") if TCP else \
    os.path.join(os.path.dirname(FRONT), "warcserver.sock")
PORT = 1  # the port pywb writes in its warcserver's URLs; nothing listens on it

CSP = ("default-src 'self' 'unsafe-inline' 'unsafe-eval' data: blob: mediastream:; "
       "frame-src 'self' blob:; form-action 'self'; base-uri 'self'")
# an SVG document's scripts get no wombat and no custody script: none run
CSP_SVG = CSP + "; script-src 'none'"
REFUSED_MODIFIER = re.compile(r"\d*(id_|sw_)")
MODIFIER = re.compile(r"\d*([a-z]+_)")
# modifiers under which pywb rewrites a document as a page (its head insert: wombat and
# custody's script); a document pywb serves under another (im_, oe_: an image's, an
# object's) is its raw bytes, refused
PAGE_MODIFIERS = frozenset({"", "mp_", "if_", "fr_", "bn_", "js_", "cs_"})
DOCUMENTS = ("text/html", "application/xhtml+xml", "text/xml", "application/xml",
             "multipart/x-mixed-replace")  # (an SVG, an image too, runs no script: CSP_SVG)
# what a captured answer may not tell the replaying browser: to go elsewhere, to report
# elsewhere
STRIPPED = frozenset({"service-worker-allowed", "content-security-policy", "refresh",
                      "report-to", "reporting-endpoints", "nel"})
# pywb's listings, which would tell a replayed page every other capture's name
LISTINGS = re.compile(r"/(collinfo\.json|[^/]+/(cdx|timemap)(/.*)?)")
NO_WEBRTC = "custody-no-webrtc.js"
NO_WEBRTC_SCRIPT = b"""(function () {
  var names = ["RTCPeerConnection", "webkitRTCPeerConnection", "RTCDataChannel",
               "RTCIceCandidate", "RTCSessionDescription"];
  function shut(w) {
    names.forEach(function (name) {
      try {
        Object.defineProperty(w, name, {value: undefined, writable: false,
                                        configurable: false});
      } catch (e) {}
    });
  }
  function shutFrames(w) {
    try {
      for (var i = 0; i < w.frames.length; i++) {
        shut(w.frames[i]);
        shutFrames(w.frames[i]);
      }
    } catch (e) {}
  }
  shut(window);
  // a frame's window, as a script asks for it
  var frame = Object.getOwnPropertyDescriptor(HTMLIFrameElement.prototype, "contentWindow");
  if (frame && frame.get) {
    Object.defineProperty(HTMLIFrameElement.prototype, "contentWindow", {
      configurable: true,
      get: function () {
        var w = frame.get.call(this);
        try { if (w) { shut(w); } } catch (e) {}
        return w;
      }
    });
  }
  // and as window.frames gives it: every frame's, once a node is put in the page
  function after(proto, name) {
    var f = proto && proto[name];
    if (typeof f !== "function") { return; }
    proto[name] = function () {
      var out = f.apply(this, arguments);
      shutFrames(window);
      return out;
    };
  }
  [[Node.prototype, ["appendChild", "insertBefore", "replaceChild"]],
   [Element.prototype, ["append", "prepend", "before", "after", "replaceWith",
                        "replaceChildren", "insertAdjacentElement", "insertAdjacentHTML"]],
   [Document.prototype, ["write", "writeln"]],
   [Range.prototype, ["insertNode", "surroundContents"]]].forEach(function (pair) {
    pair[1].forEach(function (name) { after(pair[0], name); });
  });
  [Element.prototype, HTMLElement.prototype].forEach(function (proto) {
    ["innerHTML", "outerHTML"].forEach(function (name) {
      var d = Object.getOwnPropertyDescriptor(proto, name);  // (wombat's, where it has one)
      if (d && d.set) {
        Object.defineProperty(proto, name, {
          configurable: true, enumerable: d.enumerable, get: d.get,
          set: function (v) { d.set.call(this, v); shutFrames(window); }
        });
      }
    });
  });
})();
"""


def _refused(status, why, start_response):
    body = f"custody replay: {why}\n".encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body))),
                            ("Content-Security-Policy", CSP)])
    return [body]


def guard(app):
    """pywb's app behind the checks the module's docstring lists."""

    def guarded(environ, start_response):
        raw = (environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/").split("?")[0]
        decoded = unquote(raw)
        if any(part in (".", "..") for part in decoded.replace("\\", "/").split("/")):
            return _refused("404 Not Found", "no such path", start_response)
        if environ.get("HTTP_SERVICE_WORKER", "").lower() == "script":
            return _refused("403 Forbidden", "no service worker in a replay",
                            start_response)
        # as pywb reads it: repeated slashes are one
        parts = re.sub(r"/{2,}", "/", raw).split("/", 3)  # "", collection, modifier, ...
        if LISTINGS.fullmatch("/".join(parts)) or (
                parts[1:] == [""] and environ.get("HTTP_SEC_FETCH_DEST", "document") !=
                "document"):
            return _refused("404 Not Found", "no listing for a replayed page",
                            start_response)
        modifier = ""
        if len(parts) > 2 and parts[1] != "static":
            if REFUSED_MODIFIER.fullmatch(parts[2]):
                return _refused("403 Forbidden", "this replay serves records rewritten only",
                                start_response)
            found = MODIFIER.fullmatch(parts[2])
            modifier = found.group(1) if found else ""
        if parts[1:3] == ["static", NO_WEBRTC]:
            start_response("200 OK", [("Content-Type", "text/javascript"),
                                      ("Content-Length", str(len(NO_WEBRTC_SCRIPT))),
                                      ("Content-Security-Policy", CSP)])
            return [NO_WEBRTC_SCRIPT]
        refused = []

        def start(status, headers, exc_info=None):
            kind = next((v for k, v in headers if k.lower() == "content-type"), "")
            kind = kind.split(";")[0].strip().lower()
            if kind in DOCUMENTS and modifier not in PAGE_MODIFIERS:
                refused.append(True)
                return start_response("403 Forbidden", [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Security-Policy", CSP)], exc_info)
            kept = [(k, v) for k, v in headers if k.lower() not in STRIPPED]
            policy = CSP_SVG if kind == "image/svg+xml" else CSP
            return start_response(status, [*kept, ("Content-Security-Policy", policy)],
                                  exc_info)

        answer = app(environ, start)

        def body():  # (start may be called as the answer is read: the refusal is seen then)
            try:
                for chunk in answer:
                    if refused:
                        yield b"custody replay: a document is replayed as a page only\n"
                        return
                    yield chunk
            finally:
                if hasattr(answer, "close"):
                    answer.close()

        return body()

    return guarded


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
    front = (sys.argv[2], int(sys.argv[3])) if TCP else listen(FRONT)
    app = frontendapp.FrontEndApp(custom_config={
        "enable_auto_fetch": False, "csp-header": CSP, "inject_scripts": [NO_WEBRTC]})
    WSGIServer(front, guard(app), handler_class=RequestURIWSGIHandler).serve_forever()


if __name__ == "__main__":
    main()
