"""Request and response shapes of the jobs API."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from collab.documents.paths import is_valid_path
from collab.jobs import sandbox, testcases
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


def valid_path(value: str) -> None:
    if not is_valid_path(value):
        raise ValidationError("Not a file path: [A-Za-z0-9._-] segments separated by '/'.")


class JobCreateSchema(Schema):
    language = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=50),
        metadata={"description": "Required with code; with entry, by default its extension's"},
    )
    code = fields.String(
        load_default=None,
        validate=max_utf8_bytes(MAX_CODE_BYTES),
        metadata={
            "description": f"Source code, at most {MAX_CODE_BYTES} bytes (UTF-8); "
            "either code or entry"
        },
    )
    entry = fields.String(
        load_default=None,
        validate=valid_path,
        metadata={
            "description": "Run the workspace (workspace_id): its documents become files and "
            "this one runs (e.g. main.py); either code or entry"
        },
    )
    stdin = fields.String(
        load_default="",
        metadata={"description": f"Standard input, at most {MAX_STDIN_BYTES} bytes (413)"},
    )
    # Out-of-range limits are clamped to what the sandbox allows (GET shows the effective
    # ones); only values that cannot be a limit at all are refused.
    timeout = fields.Float(
        load_default=DEFAULT_TIMEOUT,
        validate=validate.Range(min=0, min_inclusive=False),
        metadata={
            "description": "Wall-clock limit in seconds (> 0), clamped to "
            f"{sandbox.MINIMUM.wall_seconds}..{sandbox.MAXIMUM.wall_seconds}"
        },
    )
    memory_mb = fields.Integer(
        load_default=DEFAULT_MEMORY_MB,
        strict=True,
        validate=validate.Range(min=1),
        metadata={
            "description": "Memory limit in MiB (>= 1), clamped to "
            f"{sandbox.MINIMUM.memory_mb}..{sandbox.MAXIMUM.memory_mb}"
        },
    )
    workspace_id = fields.UUID(load_default=None, allow_none=True)
    # Test cases (collab/jobs/testcases.py).
    tests = fields.List(
        fields.Nested(testcases.TestCaseSchema),
        load_default=None,
        validate=validate.Length(min=1, max=testcases.MAX_TESTS),
        metadata={
            "description": f"At most {testcases.MAX_TESTS} tests, "
            f"{testcases.MAX_TESTS_BYTES // (1024 * 1024)} MiB of stdin and expected_output "
            "in all (413 beyond): the program is built once and run once per test"
        },
    )
    compare = fields.String(
        load_default=testcases.TRIMMED,
        validate=validate.OneOf([testcases.TRIMMED, testcases.EXACT]),
        metadata={"description": "trimmed: trailing whitespace and blank lines do not count"},
    )
    stop_on_failure = fields.Boolean(
        load_default=False, metadata={"description": "Skip the tests after the first failure"}
    )
    interactive = fields.Boolean(
        load_default=False,
        metadata={"description": "stdin stays open, fed by the submitter's job:stdin events"},
    )

    @validates_schema
    def interactive_has_no_tests(self, data: dict, **kwargs) -> None:
        if data.get("interactive") and data.get("tests"):
            raise ValidationError("An interactive job has no tests.", "interactive")

    @validates_schema
    def code_or_entry(self, data: dict, **_) -> None:
        if data["code"] is not None and data["entry"] is not None:
            raise ValidationError("Give code or entry, not both.", "entry")
        if data["entry"] is not None and data["workspace_id"] is None:
            raise ValidationError("An entry runs a workspace: give its workspace_id.", "entry")
        if data["entry"] is None:
            for name in ("code", "language"):
                if data[name] is None:
                    raise ValidationError("Missing data for required field.", name)


class JobFileSchema(Schema):
    doc_id = fields.String()
    name = fields.String(metadata={"description": "Its path under the job's directory"})
    seq = fields.Integer(metadata={"description": "The document's seq that was run"})
    bytes = fields.Integer()


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
    entry = fields.String(allow_none=True, metadata={"description": "A workspace run's entry"})
    files = fields.List(
        fields.Nested(JobFileSchema),
        allow_none=True,
        metadata={"description": "A workspace run: the documents run, as of submission"},
    )
    skipped = fields.List(
        fields.String(),
        allow_none=True,
        metadata={"description": "A workspace run: documents whose names are not file paths"},
    )
    output_seq = fields.Integer(
        allow_none=True,
        metadata={"description": "The last job:output chunk that output and stderr include"},
    )
    tests = fields.List(fields.Nested(testcases.TestResultSchema), allow_none=True)
    summary = fields.Nested(testcases.SummarySchema, allow_none=True)
    compare = fields.String(allow_none=True)
    stop_on_failure = fields.Boolean(allow_none=True)
    interactive = fields.Boolean(allow_none=True)
    attempts = fields.Integer(
        metadata={"description": "Runs started: more than 1 after a worker or the queue lost it"}
    )


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
