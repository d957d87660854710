"""Fair scheduling of jobs across users (issue 9: a user's backlog of 10 x `sleep 5` made
another user's `print(1)` wait 24.8 s with two workers). Real worker processes, the real
sandbox, Redis and the Mongo-compatible server.

The rule under test: a user has at most W jobs (W = the live workers) in the RQ queue or
running; their other jobs wait their turn, so another user's job is behind at most one of
theirs per worker.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from rq import Worker

from collab.jobs import recovery, store
from collab.jobs import tasks as job_tasks
from collab.tasks import rq_connection
from tests.test_jobs import (  # noqa: F401  (autouse: a live worker, no job outlives its test)
    JOBS,
    advertised,
    empty_jobs,
    get_job,
    job_of,
    kill_hard,
    pytestmark,
    start_worker,
    submitted,
    wait_for_heartbeat_to_lapse,
    wait_until,
    work,
)

SLEEPER = "import time\ntime.sleep(1)"


def live_workers(app) -> int:
    with app.app_context():
        return Worker.count(connection=rq_connection(), queue=job_tasks.jobs_queue())


def in_the_rq_queue(app) -> list[str]:
    with app.app_context():
        return job_tasks.jobs_queue().job_ids


def finished(client, account, job_id: str) -> dict:
    job = get_job(client, account, job_id, wait=30).get_json()
    assert job["status"] not in ("pending", "running"), job
    return job


def started_at(job: dict) -> datetime:
    return datetime.fromisoformat(job["started_at"])


@pytest.fixture()
def two_workers(app, base_env):
    workers = [start_worker(base_env) for _ in range(2)]
    try:
        wait_until(lambda: live_workers(app) == 2, 30)
        yield
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)


def test_a_backlog_delays_another_users_job_by_at_most_one_job_per_worker(
    app, client, alice, bob, two_workers
):
    backlog = [submitted(client, alice, code=SLEEPER) for _ in range(10)]  # alice's 10 slots
    theirs = submitted(client, bob)
    done = finished(client, bob, theirs["id"])
    assert (done["status"], done["output"]) == ("completed", "1\n")
    alices = [finished(client, alice, job["id"]) for job in backlog]
    assert [job["outcome"] for job in alices] == ["success"] * 10  # the backlog completes too
    ahead = [job for job in alices if started_at(job) < started_at(done)]
    assert len(ahead) <= 2, f"{len(ahead)} of alice's jobs started before bob's"


def test_a_users_jobs_wait_their_turn_outside_the_rq_queue(app, client, alice, bob):
    """No worker is registered: W is 1. Each user has one job in the RQ queue; the others
    are deferred (rq-dashboard shows them so) and counted as queued (JOBS_MAX_QUEUED)."""
    first, second, third = (submitted(client, alice, code=f"print({n})") for n in range(3))
    theirs = submitted(client, bob)
    assert in_the_rq_queue(app) == [first["id"], theirs["id"]]
    with app.app_context():
        deferred = job_tasks.jobs_queue().deferred_job_registry.get_job_ids()
        assert sorted(deferred) == sorted([second["id"], third["id"]])
        assert job_tasks.queued_count() == 4
    work(app)  # each finished job lets its user's next one in, at the queue's tail
    runs = [job_of(client, alice, job["id"]) for job in (first, second, third)]
    assert [job["output"] for job in runs] == ["0\n", "1\n", "2\n"]
    bobs = job_of(client, bob, theirs["id"])
    order = sorted([*runs, bobs], key=started_at)
    assert [job["id"] for job in order] == [first["id"], theirs["id"], second["id"], third["id"]]
    with app.app_context():
        assert job_tasks.queued_count() == 0


def test_a_job_cancelled_while_waiting_its_turn_never_runs(app, client, alice, raw_redis):
    first, waiting, last = (submitted(client, alice, code=f"print({n})") for n in range(3))
    response = client.post(f"{JOBS}/{waiting['id']}/cancel", headers=alice.headers)
    assert response.status_code == 200
    assert in_the_rq_queue(app) == [first["id"]]
    work(app)
    cancelled = job_of(client, alice, waiting["id"])
    assert (cancelled["status"], cancelled["started_at"], cancelled["output"]) == (
        "cancelled",
        None,
        None,
    )
    assert job_of(client, alice, last["id"])["output"] == "2\n"
    assert raw_redis.keys("collab:jobs:fair:*") == []  # nothing left behind


def test_a_turn_whose_release_was_lost_is_given_back_by_maintenance(app, client, alice):
    """The worker finished the job but could not tell Redis (an error, or it died right
    after storing the result): the maintenance pass sees the job finished in MongoDB."""
    first, second = submitted(client, alice), submitted(client, alice)
    with app.app_context():
        job_tasks.jobs_queue().remove(first["id"])  # as a worker taking it
        store.start(first["id"])
        store.complete(first["id"], {"outcome": "success", "output": "1\n"})
        assert job_tasks.jobs_queue().job_ids == []
        recovery.maintain()
    assert in_the_rq_queue(app) == [second["id"]]


def test_a_sigkilled_worker_does_not_strand_the_users_waiting_jobs(
    client, alice, base_env, raw_redis
):
    lost = submitted(client, alice, code="import time\nprint(1, flush=True)\ntime.sleep(2)")
    waiting = [submitted(client, alice, code=f"print({n})") for n in range(2)]
    worker = start_worker(base_env)
    try:
        wait_until(lambda: job_of(client, alice, lost["id"])["status"] == "running", 20)
    finally:
        kill_hard(worker)
    wait_for_heartbeat_to_lapse(raw_redis, lost["id"])
    again = start_worker(base_env)
    try:
        rerun = finished(client, alice, lost["id"])
        assert (rerun["status"], rerun["attempts"]) == ("completed", 2)
        outputs = [finished(client, alice, job["id"])["output"] for job in waiting]
        assert outputs == ["0\n", "1\n"]
    finally:
        again.terminate()
        again.wait(timeout=30)


def test_rq_dashboard_shows_the_jobs_waiting_their_turn_as_deferred(client, alice, make_user):
    root = make_user("root", is_admin=True)
    first, waiting = submitted(client, alice), submitted(client, alice)
    dashboard = "/admin/rq/0/data"

    def listed(registry: str) -> list[str]:
        url = f"{dashboard}/jobs/collab-jobs/{registry}/10/asc/1.json"
        response = client.get(url, headers=root.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [job["id"] for job in response.get_json()["jobs"]]

    assert (listed("queued"), listed("deferred")) == ([first["id"]], [waiting["id"]])
    detail = client.get(f"{dashboard}/job/{waiting['id']}.json", headers=root.headers)
    assert detail.get_json()["status"] == "deferred"
    client.post(f"{JOBS}/{waiting['id']}/cancel", headers=alice.headers)
    assert listed("deferred") == []
    detail = client.get(f"{dashboard}/job/{waiting['id']}.json", headers=root.headers)
    assert detail.get_json()["status"] == "canceled"
