"""Observability: Prometheus metrics at /metrics, structured logs, request ids.

request_ids.py  X-Request-ID: an incoming one honoured, else generated; returned on every response
logs.py         LOG_FORMAT (json or text) on stderr; request, user and job ids in every record
metrics.py      the app's own registry: HTTP metrics, and collectors read at scrape time
routes.py       GET /metrics, for a scraper holding METRICS_TOKEN
"""

from __future__ import annotations

from flask import Flask


def init_observability(app: Flask) -> None:
    """Called last by the factory: the request-id middleware must wrap every other one."""
    from collab.observability.logs import log_request
    from collab.observability.metrics import init_metrics
    from collab.observability.request_ids import RequestIdMiddleware

    init_metrics(app)
    if app.config["LOG_REQUESTS"]:
        app.after_request(log_request)
    app.wsgi_app = RequestIdMiddleware(app.wsgi_app)
