"""GET /metrics: Prometheus' text format, for a scraper holding METRICS_TOKEN.

Not found at all while METRICS_TOKEN is unset; 401 without the right bearer token. Exempt from
the rate limiter (a scraper polls); maintenance mode refuses only writes, so it never applies.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, request
from flask_smorest import abort
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from collab.extensions import limiter
from collab.observability.metrics import app_metrics

blp = Blueprint("metrics", __name__)


def presented_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@blp.get("/metrics")
@limiter.exempt
def metrics() -> Response:
    """Prometheus metrics of this process and, read at scrape time, of the deployment."""
    expected = current_app.config["METRICS_TOKEN"]
    if not expected:
        abort(404)
    if not hmac.compare_digest(presented_token().encode(), expected.encode()):
        abort(
            401,
            message="A valid metrics token is required (Authorization: Bearer ...)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Response(generate_latest(app_metrics().registry), content_type=CONTENT_TYPE_LATEST)
