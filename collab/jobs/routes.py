"""Code-execution jobs: /api/v1/jobs and /api/v1/languages."""

from __future__ import annotations

import logging

import redis
from flask import request
from flask.views import MethodView
from flask_smorest import abort

from collab.errors import ErrorSchema, error_response
from collab.http import Blueprint
from collab.jobs import service
from collab.jobs.schemas import (
    JobCreateSchema,
    JobListQuerySchema,
    JobSchema,
    LanguageSchema,
    WaitQuerySchema,
)
from collab.permissions import auth_required
from collab.schemas import MessageSchema, message

log = logging.getLogger(__name__)

blp = Blueprint("jobs", __name__, url_prefix="/api/v1", description="Code-execution jobs")

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 200


@blp.errorhandler(redis.RedisError)
def redis_unavailable(error: redis.RedisError):
    log.warning("Redis error in the jobs API: %s", error)
    return error_response(
        503, "The job queue is unavailable; try again later", {"Retry-After": "5"}
    )


def job_location(job_id: str) -> dict[str, str]:
    return {"Location": f"/api/v1/jobs/{job_id}"}


def idempotency_key() -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if len(key) > MAX_IDEMPOTENCY_KEY:
        abort(422, message=f"{IDEMPOTENCY_HEADER} is longer than {MAX_IDEMPOTENCY_KEY}")
    return key or None


@blp.route("/jobs")
class Jobs(MethodView):
    @auth_required(blp)
    @blp.arguments(JobListQuerySchema, location="query")
    @blp.response(
        200, JobSchema(many=True), headers={"X-Total-Count": {"schema": {"type": "integer"}}}
    )
    @blp.alt_response(403, schema=ErrorSchema, description="Not a member of the project")
    @blp.alt_response(404, schema=ErrorSchema, description="No such workspace, or invisible")
    def get(self, query):
        """The caller's jobs, or a workspace's jobs for members of its project, newest first"""
        items, total = service.jobs_for_caller(query)
        return items, {"X-Total-Count": str(total)}

    @auth_required(blp)
    @blp.arguments(JobCreateSchema)
    @blp.response(202, JobSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="A viewer of the workspace's project")
    @blp.alt_response(404, schema=ErrorSchema, description="No such workspace, or invisible")
    @blp.alt_response(429, schema=ErrorSchema, description="Too many unfinished jobs")
    @blp.alt_response(
        503, schema=ErrorSchema, description="Switched off, no worker can run code, queue full"
    )
    def post(self, data):
        """Submit code to run in the sandbox (Idempotency-Key header honoured)"""
        job = service.submit(data, idempotency_key())
        return job, job_location(job.id)


@blp.route("/jobs/<uuid:job_id>")
class JobItem(MethodView):
    @auth_required(blp)
    @blp.arguments(WaitQuerySchema, location="query")
    @blp.response(200, JobSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such job, or not visible")
    def get(self, query, job_id):
        """One job with its result; ?wait=N holds until it is finished (N <= 30 s)"""
        return service.wait_for(str(job_id), query["wait"])


@blp.route("/jobs/<uuid:job_id>/cancel")
class JobCancel(MethodView):
    @auth_required(blp)
    @blp.response(200, MessageSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="Neither submitter nor owner")
    @blp.alt_response(404, schema=ErrorSchema, description="No such job, or not visible")
    @blp.alt_response(409, schema=ErrorSchema, description="Already finished")
    def post(self, job_id):
        """Cancel a pending or running job (submitter and the project's owner)"""
        service.cancel(str(job_id))
        return message("Job cancelled")


@blp.route("/languages")
class Languages(MethodView):
    @auth_required(blp)
    @blp.response(200, LanguageSchema(many=True))
    def get(self):
        """The languages jobs may use now (run by a live worker, switched on), with versions"""
        return service.enabled_languages()
