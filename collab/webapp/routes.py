"""The web app's page and assets, with their Content-Security-Policy.

The built files are committed in static/ (like Swagger UI's and rq-dashboard's assets), so
`make run` serves the app with only Python on the machine; `make client` rebuilds them from
clients/web. The app routes with the History API: a reload of an app route (/projects/...)
gets index.html, while any other unknown path, /api/... included, keeps its JSON 404.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, Response, request, send_from_directory
from flask.typing import ResponseReturnValue

from collab.extensions import limiter

STATIC = Path(__file__).resolve().parent / "static"
ASSETS_URL = "/assets"

blp = Blueprint("webapp", __name__, static_folder=STATIC, static_url_path=ASSETS_URL)
limiter.exempt(blp)  # static files: the API's per-user budget is for the API

# The paths the client-side router knows (clients/web/src/router.js): a reload there is the app.
APP_ROUTES = ("/", "/signin", "/register", "/projects", "/projects/<path:rest>", "/join")

# A Host header goes into the policy only when it is a plain host[:port].
PLAIN_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")


def index(rest: str | None = None) -> ResponseReturnValue:
    """The single page; the client-side router renders the route."""
    response = send_from_directory(STATIC, "index.html")
    response.headers["Cache-Control"] = "no-cache"
    return response


for rule in APP_ROUTES:
    blp.add_url_rule(rule, "index", index)


def content_security_policy(host: str) -> str:
    """Scripts and styles from the app only (styles may also be set inline: CodeMirror and
    y-codemirror.next set `style` attributes); API calls and the Socket.IO WebSocket to this
    host only. 'self' covers ws:/wss: of the same host in CSP 3; they are named for older
    browsers."""
    connect = ["'self'"]
    if PLAIN_HOST.fullmatch(host):
        connect += [f"ws://{host}", f"wss://{host}"]
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self' 'unsafe-inline'",
        "img-src": "'self' data:",
        "font-src": "'self'",
        "connect-src": " ".join(connect),
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


@blp.after_request
def secure_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = content_security_policy(request.host)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint == "webapp.static":
        response.headers["Cache-Control"] = "no-cache"  # fixed names: revalidate (ETag)
    return response
