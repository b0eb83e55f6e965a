"""The explorer's HTTP server: the standard library's ``ThreadingHTTPServer``, nothing else.

Routes (see ``docs/explorer.md``):

``GET /``                    the page (``static/index.html``)
``GET /static/<file>``       the page's script and style sheet, shipped in this package
``GET /api/meta``            levers, regions, indicators, scenario files
``POST /api/run``            the series to draw
``POST /api/scenario``       the edited scenario as a YAML file
``POST /api/csv``            the results of the drawn scenarios as CSV

Every refused request gets a 4xx answer whose JSON body is ``{"error": message, "status":
code}``; the server never answers 5xx to bad input and keeps serving. When bound to a
loopback address it only answers requests whose ``Host`` is a loopback name, so a web page
elsewhere cannot reach it through DNS rebinding; POST bodies must be ``application/json``,
which a cross-site form cannot send.
"""

from __future__ import annotations

import ipaddress
import json
import sys
import threading
import traceback
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from sdplanner.errors import SdplannerError, quote
from sdplanner.web.explorer import (
    MAX_BODY_BYTES,
    Explorer,
    ExplorerError,
    RequestError,
    parse_json_body,
)

__all__ = ["ExplorerServer", "make_server", "serve_in_thread"]

_STATIC_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "explorer.js": "text/javascript; charset=utf-8",
    "explorer.css": "text/css; charset=utf-8",
}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_GET_ROUTES = {"/", "/index.html", "/api/meta", *(f"/static/{n}" for n in _STATIC_TYPES)}
_POST_ROUTES = {"/api/run", "/api/scenario", "/api/csv"}
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
#: Seconds a client may take to send its request before the connection is dropped.
REQUEST_TIMEOUT = 10.0
#: Most bytes of a refused body read and thrown away before answering.
DRAIN_BYTES = 8 * 1024 * 1024


def _load_static() -> dict[str, bytes]:
    folder = resources.files("sdplanner.web").joinpath("static")
    return {name: folder.joinpath(name).read_bytes() for name in _STATIC_TYPES}


class ExplorerServer(ThreadingHTTPServer):
    """A threading HTTP server that answers with an `Explorer`.

    Parameters
    ----------
    address : tuple
        ``(host, port)``; port 0 picks a free port.
    explorer : Explorer
        The request handler's state.
    quiet : bool, optional
        When True, requests are not logged to stderr.

    Attributes
    ----------
    explorer : Explorer
        The state.
    static : dict
        File name -> bytes of the page's assets.
    loopback : bool
        True when bound to a loopback address (the Host header is then checked).
    """

    daemon_threads = True

    def __init__(self, address: tuple[str, int], explorer: Explorer, *, quiet: bool = False):
        self.explorer = explorer
        self.quiet = quiet
        self.static = _load_static()
        try:
            self.loopback = ipaddress.ip_address(address[0]).is_loopback
        except ValueError:
            self.loopback = address[0] == "localhost"
        super().__init__(address, ExplorerHandler)

    @property
    def url(self) -> str:
        """The page's address, e.g. ``http://127.0.0.1:8765/``."""
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}/"

    def handle_error(self, request, client_address) -> None:
        """Log an error that escaped a handler (a dropped connection) in one line."""
        exc = sys.exc_info()[1]
        if not self.quiet and not isinstance(exc, ConnectionError | TimeoutError):
            print(f"sdplanner serve: {client_address[0]}: {exc!r}", file=sys.stderr)


class ExplorerHandler(BaseHTTPRequestHandler):
    """One request to the explorer."""

    server: ExplorerServer
    server_version = "sdplanner-explorer"
    sys_version = ""
    timeout = REQUEST_TIMEOUT
    error_content_type = "application/json"

    # ---- responses --------------------------------------------------------------------
    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", _CSP)
        self.send_header("Referrer-Policy", "no-referrer")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(data, allow_nan=False, separators=(",", ":")).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8", headers)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._json(status, {"error": message, "status": status}, headers)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None):
        """Answer a request the standard library's parser refuses, as JSON and never 5xx."""
        if code >= 500:  # an unsupported method or HTTP version is the client's mistake
            code = HTTPStatus.BAD_REQUEST
        if self.request_version == "HTTP/0.9":  # answer with a status line and headers
            self.request_version = "HTTP/1.0"
        try:
            text = message or HTTPStatus(code).phrase
        except ValueError:
            text = "bad request"
        self.close_connection = True
        self._error(code, f"request: {text}")

    def log_message(self, format: str, *args) -> None:
        """Log a request to stderr unless the server is quiet."""
        if not self.server.quiet:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    # ---- checks -------------------------------------------------------------------------
    def _host_ok(self) -> bool:
        if not self.server.loopback:
            return True
        host = self.headers.get("Host", "")
        name = urlsplit(f"//{host}").hostname or ""
        return name in _LOOPBACK_NAMES

    def _content_length(self) -> int:
        if self.headers.get("Transfer-Encoding"):
            raise RequestError(
                "request: expected a Content-Length header, found Transfer-Encoding", 411
            )
        lengths = self.headers.get_all("Content-Length") or []
        if len(lengths) > 1:  # two lengths: which one a proxy used is anybody's guess
            raise RequestError(f"request: expected one Content-Length header, found {len(lengths)}")
        length = lengths[0] if lengths else None
        if length is None:
            raise RequestError("request: expected a Content-Length header, found none", 411)
        text = length.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 18:  # int() takes "+1_0"
            raise RequestError(
                f"request: expected a Content-Length in bytes, found {quote(length, 40)}"
            )
        return int(text)

    def _read_body(self) -> bytes:
        size = self._content_length()
        if size > MAX_BODY_BYTES:
            raise RequestError(
                f"request body: expected at most {MAX_BODY_BYTES} bytes, found {size}", 413
            )
        body = self.rfile.read(size)
        self._body_read = True
        if len(body) != size:
            raise RequestError(
                f"request body: expected {size} bytes, found {len(body)} before the end"
            )
        ctype = self.headers.get("Content-Type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            raise RequestError(
                f"request: expected Content-Type application/json, found {ctype[:60]!r}", 415
            )
        return body

    def _discard_body(self) -> None:
        """Read what is left of a refused request's body, so the client gets the answer.

        Closing a socket with unread data resets the connection, and the client would see
        the reset instead of the 4xx answer. At most `DRAIN_BYTES` are read.
        """
        if self._body_read or self.command not in ("POST", "PUT", "PATCH"):
            return
        self._body_read = True
        try:
            size = min(self._content_length(), DRAIN_BYTES)
        except RequestError:  # no usable length: read what has arrived, briefly
            self._drain_available()
            return
        try:
            while size > 0:
                chunk = self.rfile.read(min(size, 65536))
                if not chunk:
                    break
                size -= len(chunk)
        except OSError:
            pass

    def _drain_available(self) -> None:
        try:
            self.connection.settimeout(0.2)
            total = 0
            while total < DRAIN_BYTES:
                chunk = self.rfile.read1(65536)
                if not chunk:
                    break
                total += len(chunk)
        except OSError:
            pass

    # ---- dispatch -----------------------------------------------------------------------
    def _dispatch(self, routes: dict[str, Callable[[], None]]) -> None:
        self._body_read = False
        try:
            if not self._host_ok():
                raise RequestError(
                    "request: expected a Host header naming this computer (localhost or"
                    f" 127.0.0.1), found {self.headers.get('Host', '')[:60]!r}",
                    403,
                )
            path = urlsplit(self.path).path
            route = routes.get(path)
            if route is None:
                if path in _POST_ROUTES or path in _GET_ROUTES:
                    allowed = "POST" if path in _POST_ROUTES else "GET, HEAD"
                    raise RequestError(
                        f"request: {path} expects {allowed}, found {self.command}", 405
                    )
                raise RequestError(f"request: no such page or API: {path[:100]}", 404)
            route()
        except RequestError as exc:
            self.close_connection = True
            self._discard_body()
            self._error(exc.status, str(exc))
        except SdplannerError as exc:  # a scenario or model problem the request led to
            self._error(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc))
        except TimeoutError:
            self.close_connection = True
            try:
                self._error(HTTPStatus.REQUEST_TIMEOUT, "request: the body did not arrive in time")
            except OSError:
                pass
        except ConnectionError:
            self.close_connection = True
        except Exception as exc:  # a bug: say so, keep serving
            if not self.server.quiet:
                traceback.print_exc()
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {exc!r}")

    def _static(self, name: str) -> Callable[[], None]:
        return lambda: self._send(HTTPStatus.OK, self.server.static[name], _STATIC_TYPES[name])

    def do_GET(self) -> None:
        """Serve the page, its assets and ``/api/meta``."""
        routes = {f"/static/{n}": self._static(n) for n in _STATIC_TYPES}
        routes["/"] = routes["/index.html"] = self._static("index.html")
        routes["/api/meta"] = lambda: self._json(HTTPStatus.OK, self.server.explorer.meta())
        self._dispatch(routes)

    def do_HEAD(self) -> None:
        """Answer HEAD like GET without the body."""
        self.do_GET()

    def _post(self, action: Callable[[dict], Any], kind: str) -> Callable[[], None]:
        def route() -> None:
            body = parse_json_body(self._read_body())
            result = action(body)
            if kind == "json":
                self._json(HTTPStatus.OK, result)
                return
            filename, text = result
            ctype = "application/x-yaml" if kind == "yaml" else "text/csv"
            self._send(
                HTTPStatus.OK,
                text.encode("utf-8"),
                f"{ctype}; charset=utf-8",
                {"Content-Disposition": f'attachment; filename="{filename}"'},
            )

        return route

    def do_POST(self) -> None:
        """Answer ``/api/run``, ``/api/scenario`` and ``/api/csv``."""
        ex = self.server.explorer
        self._dispatch(
            {
                "/api/run": self._post(ex.run, "json"),
                "/api/scenario": self._post(ex.scenario_yaml, "yaml"),
                "/api/csv": self._post(ex.results_csv, "csv"),
            }
        )

    def _not_allowed(self) -> None:
        self.close_connection = True
        self._dispatch({})

    def __getattr__(self, name: str):
        # Every other method (PUT, DELETE, OPTIONS, anything) is refused with 405, not 501.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)


def make_server(
    explorer: Explorer, host: str = "127.0.0.1", port: int = 8765, *, quiet: bool = False
) -> ExplorerServer:
    """Bind the explorer to an address.

    Parameters
    ----------
    explorer : Explorer
        The state.
    host : str, optional
        Address to bind; loopback by default (only this computer can connect).
    port : int, optional
        TCP port; 0 picks a free one (read it from ``server.server_address``).
    quiet : bool, optional
        Do not log requests.

    Returns
    -------
    ExplorerServer
        Bound and listening; call ``serve_forever()``, then ``shutdown()`` and
        ``server_close()``.

    Raises
    ------
    ExplorerError
        When the address cannot be bound (port in use, unknown host).
    """
    try:
        return ExplorerServer((host, port), explorer, quiet=quiet)
    except OSError as exc:
        raise ExplorerError(
            f"--host {host} --port {port}: cannot listen ({exc.strerror or exc})"
        ) from None


def serve_in_thread(server: ExplorerServer) -> threading.Thread:
    """Start ``serve_forever`` in a thread (for tests and benchmarks).

    Parameters
    ----------
    server : ExplorerServer
        A bound server.

    Returns
    -------
    threading.Thread
        The running thread; stop with ``server.shutdown()``, ``server.server_close()`` and
        ``thread.join()``.
    """
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    return thread
