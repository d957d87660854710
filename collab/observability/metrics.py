"""Prometheus metrics, in a registry of the app's own (the test suite builds many apps in one
process; the library's global registry would refuse their second set of metrics).

Measured by this process: HTTP requests by route template (the url rule, never the raw path,
so ids cannot multiply the series), method and status; its Socket.IO connections.

Read at scrape time, for the whole deployment (every web instance reports the same values:
aggregate them with max, not sum):
- jobs by status, one `$group` over MongoDB's `jobs` under a short timeout;
- the depth of each RQ queue, and the job-duration histogram, from Redis.
A store that does not answer sets `collab_jobs_scrape_error` / `collab_redis_scrape_error` to 1
and leaves its series out; the scrape itself still succeeds.

Job durations are observed by the workers, which Prometheus does not scrape (and on a platform
like Heroku could not). A histogram in a worker's memory would be lost with the process, and
prometheus_client's multiprocess mode needs web and workers to share a directory on one host.
So each worker adds the finished job to bucket counters in a Redis hash (one MULTI: count,
bucket, sum), and the web process reads them as a cumulative histogram: `rate()` and
`histogram_quantile()` work across every worker, and a counter reset (Redis lost its data) is
handled by Prometheus like any restart.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import pymongo
import redis
from flask import Flask, Response, current_app, request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString
from pymongo.errors import PyMongoError
from rq import Queue

from collab.extensions import mongo, redis_client
from collab.jobs.store import COLLECTION as JOBS_COLLECTION
from collab.jobs.store import JobDocument, Status
from collab.observability.request_ids import elapsed
from collab.realtime.connections import live
from collab.tasks import QUEUE_NAMES

log = logging.getLogger(__name__)

UNMATCHED_ROUTE = "<unmatched>"
KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, math.inf)
JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, math.inf)
JOB_DURATIONS_KEY = "collab:metrics:job_duration_seconds"
MONGODB_TIMEOUT_SECONDS = 1.0


class Metrics:
    """The app's registry and the metrics this process measures itself."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["method", "route", "status"]
        self.requests = Counter(
            "collab_http_requests",
            "HTTP requests served, by route template, method and status",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "collab_http_request_duration_seconds",
            "Time from the request reaching the app to its response, by route, method, status",
            labels,
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        Gauge(
            "collab_socketio_connections",
            "Authenticated Socket.IO connections held by this process",
            registry=self.registry,
        ).set_function(lambda: len(live))
        self.registry.register(JobsCollector())
        self.registry.register(RedisCollector())
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)


def init_metrics(app: Flask) -> None:
    disable_created_metrics()  # no `_created` series: they would double the series count
    app.extensions["collab_metrics"] = Metrics()
    app.after_request(observe_request)


def app_metrics() -> Metrics:
    return current_app.extensions["collab_metrics"]


def observe_request(response: Response) -> Response:
    method = request.method if request.method in KNOWN_METHODS else "other"
    route = request.url_rule.rule if request.url_rule else UNMATCHED_ROUTE
    labels = (method, route, str(response.status_code))
    metrics = app_metrics()
    metrics.requests.labels(*labels).inc()
    metrics.latency.labels(*labels).observe(elapsed())
    return response


class JobsCollector:
    """collab_jobs{status} from MongoDB, at scrape time (needs the app context of /metrics)."""

    def describe(self) -> Iterator[Metric]:
        yield from self.families()

    def collect(self) -> Iterator[Metric]:
        try:
            counts = stored_jobs_by_status()
        except PyMongoError as error:
            log.warning("metrics: MongoDB did not answer the jobs count: %s", error)
            counts = None
        yield from self.families(counts)

    @staticmethod
    def families(counts: dict[str, int] | None = None) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "collab_jobs",
            "Jobs stored in MongoDB by status (finished ones until JOB_RETENTION_DAYS)",
            labels=["status"],
        )
        if counts is not None:
            for status in Status:
                jobs.add_metric([status.value], counts.get(status.value, 0))
        yield jobs
        yield GaugeMetricFamily(
            "collab_jobs_scrape_error",
            "1 if MongoDB did not answer the jobs count at this scrape (collab_jobs is absent)",
            value=0 if counts is not None else 1,
        )


def stored_jobs_by_status() -> dict[str, int]:
    # The $match on the indexed status lets MongoDB count from the index alone.
    pipeline = [
        {"$match": {"status": {"$in": [status.value for status in Status]}}},
        {"$group": {"_id": "$status", "count": {"$sum": 1}}},
    ]
    with pymongo.timeout(MONGODB_TIMEOUT_SECONDS):
        rows = list(mongo.db[JOBS_COLLECTION].aggregate(pipeline))
    return {row["_id"]: row["count"] for row in rows}


class RedisCollector:
    """RQ queue depths and the job-duration histogram, in one Redis round trip per scrape."""

    def describe(self) -> Iterator[Metric]:
        yield from self.families()

    def collect(self) -> Iterator[Metric]:
        pipeline = redis_client.pipeline(transaction=False)
        for name in QUEUE_NAMES:
            pipeline.llen(Queue.redis_queue_namespace_prefix + name)
        pipeline.hgetall(JOB_DURATIONS_KEY)
        try:
            *depths, durations = pipeline.execute()
        except redis.RedisError as error:
            log.warning("metrics: Redis did not answer: %s", error)
            yield from self.families(error=True)
            return
        yield from self.families(dict(zip(QUEUE_NAMES, depths, strict=True)), durations)

    @staticmethod
    def families(
        depths: dict[str, int] | None = None, durations: dict | None = None, error: bool = False
    ) -> Iterator[Metric]:
        queues = GaugeMetricFamily(
            "collab_rq_queue_depth", "Jobs waiting in each RQ queue", labels=["queue"]
        )
        for name, depth in (depths or {}).items():
            queues.add_metric([name], depth)
        yield queues
        yield job_duration_family(durations or {})
        yield GaugeMetricFamily(
            "collab_redis_scrape_error",
            "1 if Redis did not answer at this scrape (queue depths and job durations are absent)",
            value=1 if error else 0,
        )


def bucket_field(status: str, bound: float) -> str:
    return f"{status}:{floatToGoString(bound)}"


def job_duration_family(fields: dict[str, str]) -> HistogramMetricFamily:
    """The Redis hash (per status: one counter per bucket, not cumulative, and the sum) as a
    Prometheus histogram (cumulative buckets)."""
    family = HistogramMetricFamily(
        "collab_job_duration_seconds",
        "Code-execution jobs from started to finished, by final status (all workers)",
        labels=["status"],
    )
    for status in sorted({field.partition(":")[0] for field in fields}):
        total, buckets = 0, []
        for bound in JOB_BUCKETS:
            total += int(fields.get(bucket_field(status, bound), 0))
            buckets.append((floatToGoString(bound), total))
        family.add_metric([status], buckets, float(fields.get(f"{status}:sum", 0)))
    return family


def record_job_duration(job: JobDocument) -> None:
    """Count a finished job in the shared histogram (best effort: never fails the job)."""
    if job.started_at is None or job.finished_at is None:
        return
    seconds = max(0.0, (job.finished_at - job.started_at).total_seconds())
    bound = next(bound for bound in JOB_BUCKETS if seconds <= bound)
    try:
        redis_client.pipeline().hincrby(
            JOB_DURATIONS_KEY, bucket_field(job.status, bound), 1
        ).hincrbyfloat(JOB_DURATIONS_KEY, f"{job.status}:sum", seconds).execute()
    except redis.RedisError:
        log.warning("could not count the duration of job %s", job.id, exc_info=True)
