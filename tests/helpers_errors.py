"""Assertions shared by the test modules (plain functions, no fixtures)."""

from __future__ import annotations

from http import HTTPStatus

ERROR_KEYS = {"code", "status", "message", "errors"}


def assert_error(response, status: int, message: str | None = None) -> dict:
    """The response is the API's one error shape {code, status, message, errors?} for `status`
    (nothing else: no token or credential ever rides along), with `message` if given."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/json", response.headers
    body = response.get_json()
    assert isinstance(body, dict), body
    assert set(body) <= ERROR_KEYS, body
    assert body["code"] == status, body
    assert body["status"] == HTTPStatus(status).phrase, body
    assert isinstance(body["message"], str), body
    assert body["message"].strip(), body
    if message is not None:
        assert body["message"] == message, body
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
