"""Job events from clients: `job:stdin`, the input of an interactive job
(collab/jobs/interactive.py)."""

from __future__ import annotations

from marshmallow import fields

from collab.jobs import interactive, store
from collab.jobs.store import Status
from collab.realtime.connections import Connection
from collab.realtime.protocol import (
    BAD_REQUEST,
    FORBIDDEN,
    NOT_FOUND,
    NOT_RUNNING,
    TOO_LARGE,
    EventError,
    EventSchema,
    RateLimit,
    on_event,
)

STDIN_LIMIT = RateLimit(rate=50, burst=100)  # events per connection; bytes are per job


class StdinSchema(EventSchema):
    job_id = fields.UUID(required=True)
    data = fields.String(load_default="")
    eof = fields.Boolean(load_default=False)


@on_event("job:stdin", StdinSchema(), limit=STDIN_LIMIT)
def job_stdin(connection: Connection, data: dict) -> dict:
    """Send input to a running interactive job (its submitter only); `eof` closes its stdin."""
    job = store.get(str(data["job_id"]))
    if job is None:
        raise EventError(NOT_FOUND, "Job not found")
    if job.user_id != str(connection.user_id):
        raise EventError(FORBIDDEN, "Only the job's submitter may send it input")
    if not job.interactive:
        raise EventError(BAD_REQUEST, "The job is not interactive")
    if job.status != Status.RUNNING:
        raise EventError(NOT_RUNNING, f"The job is {job.status}, not running")
    size = len(data["data"].encode())
    if size > interactive.MAX_BYTES_PER_SECOND:
        raise EventError(TOO_LARGE, f"At most {interactive.MAX_BYTES_PER_SECOND} bytes an event")
    refused = interactive.take_bytes(job.id, size)
    if refused == TOO_LARGE:
        raise EventError(TOO_LARGE, f"At most {interactive.MAX_BYTES_PER_JOB} bytes per job")
    if refused is not None:
        limit = interactive.MAX_BYTES_PER_SECOND
        raise EventError(refused, f"At most {limit} bytes of input per second; slow down")
    interactive.send(job.id, data["data"], data["eof"])
    return {"bytes": size}
