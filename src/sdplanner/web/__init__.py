"""The scenario explorer: a local web page that reruns the model as levers move.

`Explorer` validates requests and runs the fast engine; `make_server` binds it to an address
with the standard library's ``ThreadingHTTPServer``; the page (``static/``) is plain
JavaScript with its own SVG chart, so it works with no network access. The JSON API is
described in ``docs/explorer.md``.
"""

from sdplanner.web.explorer import Explorer, ExplorerError, RequestError
from sdplanner.web.server import ExplorerServer, make_server, serve_in_thread

__all__ = [
    "Explorer",
    "ExplorerError",
    "ExplorerServer",
    "RequestError",
    "make_server",
    "serve_in_thread",
]
