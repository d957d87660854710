"""One error shape everywhere: flask-smorest's {code, status, message, errors?}."""

from __future__ import annotations

import logging
from http import HTTPStatus

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from flask_smorest import abort
from flask_smorest.error_handler import ErrorSchema  # noqa: F401 - documents every error answer
from pymongo.errors import PyMongoError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from collab.documents.content import DocumentError
from collab.extensions import db

log = logging.getLogger(__name__)


def error_response(status: int, message: str, headers: dict | None = None) -> ResponseReturnValue:
    body = {"code": status, "status": HTTPStatus(status).phrase, "message": message}
    return jsonify(body), status, headers or {}


def handle_integrity_error(error: IntegrityError) -> ResponseReturnValue:
    # A unique constraint lost a race that the view's own check could not see.
    db.session.rollback()
    return error_response(409, "Conflicts with an existing record")


def handle_stale_data(error: StaleDataError) -> ResponseReturnValue:
    db.session.rollback()
    return error_response(412, "The resource was changed by someone else; reload and retry")


def handle_mongo_unavailable(error: PyMongoError) -> ResponseReturnValue:
    # MongoDB holds jobs and the activity feed; its client times out after 2 s.
    log.warning("MongoDB unavailable: %s", error)
    return error_response(
        503, "Job and activity storage is unavailable; try again later", {"Retry-After": "5"}
    )


def handle_document_error(error: DocumentError) -> ResponseReturnValue:
    headers = {"Retry-After": "5"} if error.status == 503 else None
    return error_response(error.status, str(error), headers)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DocumentError, handle_document_error)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(StaleDataError, handle_stale_data)
    app.register_error_handler(PyMongoError, handle_mongo_unavailable)


def not_found(what: str) -> None:
    abort(404, message=f"{what} not found")


def forbidden(message: str = "You do not have permission to do this") -> None:
    abort(403, message=message)
