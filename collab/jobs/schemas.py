"""Request and response shapes of the jobs API."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from collab.jobs import sandbox
from collab.jobs.store import Status
from collab.schemas import PaginationSchema

MAX_CODE_BYTES = 256 * 1024
MAX_STDIN_BYTES = 1024 * 1024
DEFAULT_TIMEOUT = 10
DEFAULT_MEMORY_MB = 256


def max_utf8_bytes(limit: int):
    def check(value: str) -> None:
        if len(value.encode("utf-8")) > limit:
            raise ValidationError(f"At most {limit} bytes (UTF-8).")

    return check


class JobCreateSchema(Schema):
    language = fields.String(required=True, validate=validate.Length(min=1, max=50))
    code = fields.String(
        required=True,
        validate=max_utf8_bytes(MAX_CODE_BYTES),
        metadata={"description": f"Source code, at most {MAX_CODE_BYTES} bytes (UTF-8)"},
    )
    stdin = fields.String(
        load_default="",
        validate=max_utf8_bytes(MAX_STDIN_BYTES),
        metadata={"description": "Standard input; the 1 MiB request body cap applies too"},
    )
    timeout = fields.Float(
        load_default=DEFAULT_TIMEOUT,
        validate=validate.Range(min=sandbox.MINIMUM.wall_seconds, max=sandbox.MAXIMUM.wall_seconds),
        metadata={"description": "Wall-clock limit in seconds; out of range: 422"},
    )
    memory_mb = fields.Integer(
        load_default=DEFAULT_MEMORY_MB,
        validate=validate.Range(min=sandbox.MINIMUM.memory_mb, max=sandbox.MAXIMUM.memory_mb),
        metadata={"description": "Memory limit in MiB; out of range: 422"},
    )
    workspace_id = fields.UUID(load_default=None, allow_none=True)


class UsageSchema(Schema):
    cpu_ms = fields.Integer()
    wall_ms = fields.Integer()
    memory_peak_kb = fields.Integer()


class JobSchema(Schema):
    id = fields.String()
    status = fields.String(validate=validate.OneOf([s.value for s in Status]))
    language = fields.String()
    user_id = fields.String()
    workspace_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    message = fields.String(allow_none=True)
    output = fields.String(allow_none=True)
    stderr = fields.String(allow_none=True)
    exit_code = fields.Integer(allow_none=True)
    signal = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    execution_time = fields.Float(allow_none=True, metadata={"description": "Seconds (wall)"})
    usage = fields.Nested(UsageSchema, allow_none=True)
    limits = fields.Dict()
    stdout_truncated = fields.Boolean(allow_none=True)
    stderr_truncated = fields.Boolean(allow_none=True)
    runtime = fields.String(allow_none=True)


class JobListQuerySchema(PaginationSchema):
    status = fields.String(validate=validate.OneOf([s.value for s in Status]))
    workspace_id = fields.UUID()


class WaitQuerySchema(Schema):
    wait = fields.Float(
        load_default=0,
        validate=validate.Range(min=0, max=30),
        metadata={"description": "Seconds to hold the request until the job is finished"},
    )


class LanguageSchema(Schema):
    name = fields.String()
    version = fields.String()
    compiled = fields.Boolean()
