"""RQ worker: python worker.py [queue ...]

Runs with the app's context, so jobs can use the database and the other extensions. SIGTERM
is a warm shutdown: the current job finishes, then the worker exits (Heroku-style).
"""

from __future__ import annotations

import sys

from dotenv import load_dotenv
from rq import Queue, SimpleWorker
from rq.job import Job

from collab import create_app
from collab.activity.recorder import start_flusher
from collab.history.service import start_versioning
from collab.jobs import workers
from collab.jobs.recovery import start_maintenance
from collab.observability.logs import job_context
from collab.tasks import JOBS_QUEUE, QUEUE_NAMES, rq_connection


class CollabWorker(SimpleWorker):
    """Every log line written while a job runs, RQ's and the job's own, carries its job_id."""

    def execute_job(self, job: Job, queue: Queue) -> None:
        with job_context(job.id):
            super().execute_job(job, queue)


def queues_to_serve(queue_names: list[str]) -> tuple[list[str], workers.Report | None]:
    """The queues this worker takes jobs from, and its sandbox report if it serves the jobs
    queue. A worker whose sandbox runs nothing leaves the jobs queue to the others: every job
    it took would fail."""
    names = queue_names or QUEUE_NAMES
    if JOBS_QUEUE not in names:
        return names, None
    report = workers.probe()
    workers.log_report(report)
    if not report.can_run_jobs:
        names = [name for name in names if name != JOBS_QUEUE]
    return names, report


def main(queue_names: list[str]) -> None:
    load_dotenv()  # a local .env, if any; real environment variables win
    app = create_app()
    with app.app_context():
        names, report = queues_to_serve(queue_names)
        if not names:
            sys.exit(f"worker: nothing to do: the sandbox cannot run code ({report.sandbox})")
        # Fails jobs whose worker died and stores results parked during a MongoDB outage.
        start_maintenance(app)
        # Moves activity events to MongoDB, also those a web process left behind in Redis.
        start_flusher(app)
        # Makes the documents' automatic versions and thins the old ones (collab/history).
        start_versioning(app)
        # SimpleWorker runs each job in this process instead of a forked work horse: user code is
        # isolated by the sandbox, not by the fork, and the fork (with new MongoDB and Redis
        # connections in every horse) cost ~30 ms per job: p50 85 -> 57 ms, 17 -> 28 jobs/s
        # (bench/jobs). RQ's job timeout (SIGALRM) and the warm SIGTERM shutdown work the same;
        # a SIGKILL takes the running job's sandbox down with the worker (die-with-parent).
        worker = CollabWorker(names, connection=rq_connection())
        if JOBS_QUEUE in names:
            workers.Heartbeat(app, worker.name, report).start()
        worker.work(with_scheduler=True)


if __name__ == "__main__":
    main(sys.argv[1:])
