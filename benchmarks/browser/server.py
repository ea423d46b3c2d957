"""A local HTTP server that sends the first N bytes of a file (then stops, or stalls).

``GET /file/<name>?n=N`` answers ``200`` with the file's first ``N`` bytes as the whole
response (``Content-Length: N``): the download ends there, the browser's load event
fires, and it draws what those bytes hold. With ``&hold=1`` it announces the whole
file's ``Content-Length`` instead, writes the first ``N`` bytes and holds the connection
open (up to ``hold_s`` seconds, or until the server stops) without sending more, as a
stalled network would (Chromium draws the same; but no event says when it has, so the
benchmark uses the first form). Without ``n`` (or ``n`` >= the size) the whole file goes
out. ``GET /page/<name>?n=N`` is a page showing that image at its natural size
at the top-left corner of a magenta page (a colour no decoded pixel is mistaken for
"nothing drawn yet"). ``GET /static/<name>`` serves a registered file whole.
Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import http.server
import threading
import urllib.parse

__all__ = ["BACKGROUND", "PartialServer"]

#: The page's background, (R, G, B).
BACKGROUND = (255, 0, 255)

TYPES = {".jxl": "image/jxl", ".png": "image/png", ".jpg": "image/jpeg", ".html": "text/html"}


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args):  # quiet
        pass

    def _send(self, body: bytes, content_type: str, length=None):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self):  # noqa: N802 - http.server's name
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        kind, _, name = url.path.lstrip("/").partition("/")
        data = self.server.files.get(name)
        if data is None or kind not in ("file", "page", "static"):
            self.send_error(404)
            return
        limit = int(query["n"][0]) if "n" in query else len(data)
        hold = query.get("hold", ["0"])[0] == "1"
        if kind == "page":
            r, g, b = BACKGROUND
            html = (
                f'<!doctype html><html><head><meta charset="utf-8"><style>html,body'
                f"{{margin:0;padding:0;background:rgb({r},{g},{b})}}img{{display:block}}"
                f'</style></head><body><img id="image" src="/file/{name}?n={limit}'
                f'{"&hold=1" if hold else ""}"></body></html>'
            )
            self._send(html.encode(), "text/html; charset=utf-8")
            return
        suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
        content_type = TYPES.get(suffix, "application/octet-stream")
        if kind == "static" or limit >= len(data):
            self._send(data, content_type)
            return
        try:
            self._send(data[: max(0, limit)], content_type, length=len(data) if hold else None)
        except (BrokenPipeError, ConnectionResetError):
            return
        if hold:
            self.server.stopping.wait(self.server.hold_s)  # the rest never comes


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class PartialServer:
    """Serves registered files on ``127.0.0.1:<free port>`` in a background thread.

    Use as a context manager; :meth:`add` registers ``name -> bytes``; :meth:`url` builds
    the page or file address.
    """

    def __init__(self, hold_s: float = 30.0):
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.files = {}
        self._server.hold_s = float(hold_s)
        self._server.stopping = threading.Event()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def add(self, name: str, data: bytes) -> str:
        self._server.files[name] = bytes(data)
        return name

    def remove(self, name: str) -> None:
        """Forgets a registered file (no error if it is not there)."""
        self._server.files.pop(name, None)

    def url(self, kind: str, name: str, n_bytes=None, hold: bool = False) -> str:
        query = "" if n_bytes is None else f"?n={int(n_bytes)}" + ("&hold=1" if hold else "")
        return f"http://127.0.0.1:{self.port}/{kind}/{urllib.parse.quote(name)}{query}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
