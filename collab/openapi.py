"""The OpenAPI document's shared parts: the bearer scheme, and the error answers that
request-wide rules give on every operation."""

from __future__ import annotations

import copy

from apispec import BasePlugin

from collab.http import WRITE_METHODS, maintenance_exempt

BEARER_SCHEME = {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}

ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
INTEGER = {"schema": {"type": "integer"}}
RATE_LIMITED = {
    "description": "Rate limit exceeded: retry after Retry-After seconds",
    "content": ERROR_CONTENT,
    "headers": {
        "Retry-After": {**INTEGER, "description": "Seconds until a request is accepted again"},
        "X-RateLimit-Limit": {**INTEGER, "description": "Requests allowed in the window"},
        "X-RateLimit-Remaining": {**INTEGER, "description": "Requests left in the window"},
        "X-RateLimit-Reset": {**INTEGER, "description": "Unix time the window resets at"},
    },
}
IN_MAINTENANCE = {
    "description": "Maintenance mode: writes are refused for now",
    "content": ERROR_CONTENT,
}
# Lazily registered by flask-smorest for every HTTP status, in the Error shape.
BODY_ERRORS = {
    "400": "BAD_REQUEST",
    "413": "REQUEST_ENTITY_TOO_LARGE",
    "415": "UNSUPPORTED_MEDIA_TYPE",
}


class RequestRulesDocPlugin(BasePlugin):
    """apispec plugin: documents on each operation the errors that request-wide rules give
    (rate limiting, maintenance mode, malformed, oversized or non-JSON bodies), which no
    view's own decorators mention."""

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        rule = kwargs.get("rule")
        endpoint = rule.endpoint if rule is not None else ""
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            add_response(responses, "429", RATE_LIMITED)
            if method.upper() in WRITE_METHODS and not maintenance_exempt(endpoint):
                add_response(responses, "503", IN_MAINTENANCE)
            if "requestBody" in operation:
                for status, name in BODY_ERRORS.items():
                    responses.setdefault(status, name)


def add_response(responses: dict, status: str, rule: dict) -> None:
    """Document the rule's answer `status`. A view that documents the same status for its
    own reason (views key them by number: 503 and "503" would both reach the JSON, one
    silently replacing the other) keeps its answer, with the rule's reason and headers
    added to it."""
    own = responses.pop(int(status), None) or responses.get(status)
    if own is None or isinstance(own, str):
        responses[status] = copy.deepcopy(rule)
        return
    own = copy.deepcopy(own)
    own["description"] = f"{own.get('description', '')}; or: {rule['description']}".lstrip("; ")
    if "headers" in rule:
        own["headers"] = {**copy.deepcopy(rule["headers"]), **own.get("headers", {})}
    responses[status] = own


def spec_kwargs() -> dict:
    return {
        "components": {"securitySchemes": BEARER_SCHEME},
        "extra_plugins": [RequestRulesDocPlugin()],
    }
