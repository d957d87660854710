"""Code-execution jobs end to end: the HTTP API, a real RQ worker (SimpleWorker in burst mode,
with the app's context), the real sandbox and the Mongo-compatible server. No mocks, except
where a test needs Redis to fail at one precise call."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis
from rq import SimpleWorker
from rq.job import Job, JobStatus

from collab import flags
from collab.devstack import free_port, redis_server
from collab.extensions import mongo, redis_client
from collab.jobs import live, recovery, sandbox, slots, store, workers
from collab.jobs import tasks as job_tasks
from collab.jobs.store import JobDocument, Status
from collab.tasks import JOBS_QUEUE, rq_connection
from tests.helpers_projects import assert_error, assert_validation_error, make_team
from tests.test_sandbox import REPO, SANDBOX_USABLE

pytestmark = pytest.mark.skipif(
    not SANDBOX_USABLE and not os.environ.get("COLLAB_REQUIRE_SANDBOX"),
    reason="needs root, writable cgroups and bubblewrap (apt-get install -y bubblewrap)",
)

JOBS = "/api/v1/jobs"
RESULT_FIELDS = {
    "id", "status", "language", "created_at", "started_at", "finished_at", "output", "stderr",
    "exit_code", "signal", "outcome", "execution_time", "usage", "limits", "stdout_truncated",
    "stderr_truncated", "runtime", "workspace_id", "user_id",
}  # fmt: skip


@pytest.fixture(autouse=True)
def empty_jobs(app):
    yield
    with app.app_context():
        mongo.db[store.COLLECTION].delete_many({})


@pytest.fixture(autouse=True)
def advertised(live_worker):
    """Submissions need a live worker that runs the language: one has started (conftest)."""


def work(app) -> None:
    """Run every queued job with a real RQ worker, then return."""
    with app.app_context():
        worker = SimpleWorker([job_tasks.jobs_queue()], connection=rq_connection())
        worker.work(burst=True)


def submit(client, account, headers=None, **body):
    body = {"language": "python", "code": "print(1)", **body}
    return client.post(JOBS, json=body, headers={**account.headers, **(headers or {})})


def submitted(client, account, **body) -> dict:
    response = submit(client, account, **body)
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def get_job(client, account, job_id: str, wait: float = 0):
    return client.get(f"{JOBS}/{job_id}?wait={wait}", headers=account.headers)


def job_of(client, account, job_id: str) -> dict:
    response = get_job(client, account, job_id)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_submit_run_and_read_the_result(app, client, alice):
    response = submit(client, alice, code="print(input() * 2)", stdin="ab")
    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"] == f"{JOBS}/{job['id']}"
    assert job["status"] == "pending" and job["created_at"]
    work(app)
    done = job_of(client, alice, job["id"])
    assert set(done) >= RESULT_FIELDS
    assert (done["status"], done["outcome"]) == ("completed", "success")
    assert (done["output"], done["stderr"], done["exit_code"]) == ("abab\n", "", 0)
    assert done["signal"] is None and done["user_id"] == alice.id
    assert done["runtime"].startswith("Python 3")
    assert 0 <= done["execution_time"] < 5
    assert set(done["usage"]) == {"cpu_ms", "wall_ms", "memory_peak_kb"}
    assert (done["limits"]["wall_seconds"], done["limits"]["memory_mb"]) == (10, 256)
    assert done["stdout_truncated"] is False and done["stderr_truncated"] is False
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]


def test_wait_holds_the_request_until_the_job_is_finished(app, client, alice):
    job = submitted(client, alice)
    started = time.monotonic()
    assert get_job(client, alice, job["id"], wait=0.3).get_json()["status"] == "pending"
    assert time.monotonic() - started >= 0.3
    answers = []
    waiter = threading.Thread(
        target=lambda: answers.append(get_job(app.test_client(), alice, job["id"], wait=20))
    )
    waiter.start()
    work(app)  # the worker needs the main thread (signal handlers)
    waiter.join(timeout=25)
    assert answers and answers[0].get_json()["status"] == "completed"
    assert_validation_error(get_job(client, alice, job["id"], wait=31), "wait")


def test_outcomes_runtime_error_time_limit_and_compile_error(app, client, alice):
    crash = submitted(client, alice, code="1 / 0")
    loop = submitted(client, alice, code="while True: pass", timeout=1)
    broken = submitted(client, alice, language="c", code="int main( { return 0; }")
    work(app)
    crashed = job_of(client, alice, crash["id"])
    assert (crashed["status"], crashed["outcome"], crashed["exit_code"]) == (
        "completed",
        "runtime_error",
        1,
    )
    assert "ZeroDivisionError" in crashed["stderr"]
    looped = job_of(client, alice, loop["id"])
    assert (looped["outcome"], looped["limits"]["wall_seconds"]) == ("time_limit_exceeded", 1)
    compiled = job_of(client, alice, broken["id"])
    assert compiled["outcome"] == "compilation_error" and "error" in compiled["stderr"]


HOSTILE = [
    (
        "memory bomb",
        "python",
        "x = []\nwhile True: x.append(bytearray(10**7))",
        {"memory_mb": 64},
        "memory_limit_exceeded",
    ),
    ("output flood", "python", "while True: print('y' * 1000)", {}, "output_limit_exceeded"),
    # Kept in the foreground: a script that only starts the bomb in the background exits at
    # once (success), and the sandbox kills what it left behind.
    ("fork bomb", "bash", ":(){ :|:& };:\nsleep 30", {"timeout": 2}, "time_limit_exceeded"),
    (
        "sleep forever",
        "javascript",
        "setInterval(() => {}, 1000)",
        {"timeout": 1},
        "time_limit_exceeded",
    ),
    (
        "secret hunt",
        "python",
        "import os\nprint(sorted(os.environ))\nopen('/etc/shadow')",
        {},
        "runtime_error",
    ),
]


@pytest.mark.parametrize(
    ("language", "code", "limits", "outcome"),
    [case[1:] for case in HOSTILE],
    ids=[case[0] for case in HOSTILE],
)
def test_hostile_jobs_get_their_verdict_and_the_worker_carries_on(
    app, client, alice, language, code, limits, outcome
):
    hostile = submitted(client, alice, language=language, code=code, **limits)
    after = submitted(client, alice, code="print('still here')")
    work(app)
    result = job_of(client, alice, hostile["id"])
    assert (result["status"], result["outcome"]) == ("completed", outcome), result
    if outcome == "output_limit_exceeded":
        assert result["stdout_truncated"] is True
        assert len(result["output"].encode()) <= 64 * 1024
    if language == "python" and "environ" in code:
        assert "SECRET_KEY" not in result["output"] and "DATABASE_URL" not in result["output"]
        assert "No such file or directory" in result["stderr"]
    follow_up = job_of(client, alice, after["id"])
    assert (follow_up["outcome"], follow_up["output"]) == ("success", "still here\n")


def test_validation(client, alice):
    unknown = assert_validation_error(submit(client, alice, language="cobol"), "language")
    assert "python" in unknown["message"] and "cpp" in unknown["message"]
    too_big = "#" * (256 * 1024 + 1)
    assert_validation_error(submit(client, alice, code=too_big), "code")
    assert_error(submit(client, alice, stdin="x" * (1024 * 1024 + 1)), 413)
    assert_validation_error(submit(client, alice, timeout=0), "timeout")
    assert_validation_error(submit(client, alice, timeout=-1), "timeout")
    assert_validation_error(submit(client, alice, timeout="soon"), "timeout")
    assert_validation_error(submit(client, alice, memory_mb=0), "memory_mb")
    assert_validation_error(submit(client, alice, memory_mb=64.5), "memory_mb")
    assert_validation_error(submit(client, alice, extra=1), "extra")
    response = client.post(JOBS, json={"code": "print(1)"}, headers=alice.headers)
    assert_validation_error(response, "language")
    assert client.get(JOBS, headers=alice.headers).get_json() == []


def test_out_of_range_limits_are_clamped_to_what_the_sandbox_allows(client, alice):
    generous = submitted(client, alice, timeout=1e6, memory_mb=2048)
    assert (generous["limits"]["wall_seconds"], generous["limits"]["memory_mb"]) == (30, 1024)
    stingy = submitted(client, alice, timeout=0.001, memory_mb=1)
    assert (stingy["limits"]["wall_seconds"], stingy["limits"]["memory_mb"]) == (0.1, 16)


def test_languages_lists_name_version_and_compiled(client, alice):
    languages = {
        item["name"]: item
        for item in client.get("/api/v1/languages", headers=alice.headers).get_json()
    }
    assert {"python", "javascript", "bash", "c", "cpp"} <= set(languages)
    assert languages["python"]["compiled"] is False and languages["c"]["compiled"] is True
    assert languages["python"]["version"].startswith("Python 3")


def listed_languages(client, account) -> list[str]:
    response = client.get("/api/v1/languages", headers=account.headers)
    assert response.status_code == 200, response.get_json()
    return [item["name"] for item in response.get_json()]


def test_with_no_live_worker_nothing_is_offered_and_submitting_is_503(
    app, client, alice, live_worker
):
    with app.app_context():
        workers.withdraw(live_worker)
    assert listed_languages(client, alice) == []
    refused = submit(client, alice)
    assert_error(refused, 503)
    assert "No worker can run code" in refused.get_json()["message"]
    assert int(refused.headers["Retry-After"]) > 0
    assert client.get(JOBS, headers=alice.headers).get_json() == []  # nothing stored or queued


def test_only_the_languages_a_live_worker_ran_are_offered(
    app, client, alice, live_worker, worker_report
):
    only_python = workers.Report(
        sandbox=worker_report.sandbox,
        languages=[lang for lang in worker_report.languages if lang.name == "python"],
        failures={"c": "compilation_error: gcc broke"},
    )
    with app.app_context():
        workers.withdraw(live_worker)
        workers.advertise("python-only", only_python)
    assert listed_languages(client, alice) == ["python"]
    refused = submit(client, alice, language="c", code="int main(void) { return 0; }")
    assert_error(refused, 422)
    assert "available: python" in refused.get_json()["message"]
    assert submit(client, alice).status_code == 202


def test_a_dead_workers_advertisement_expires(
    app, client, alice, live_worker, worker_report, monkeypatch
):
    monkeypatch.setattr(workers, "ADVERTISEMENT_TTL_SECONDS", 1)
    with app.app_context():
        workers.advertise(live_worker, worker_report)
    assert "python" in listed_languages(client, alice)
    time.sleep(1.5)  # the worker died: no heartbeat renewed it
    assert listed_languages(client, alice) == []
    with app.app_context():
        assert live_worker not in redis_client.smembers(workers.WORKERS_KEY)


def test_a_job_the_sandbox_cannot_run_is_failed_in_the_api_and_in_rq(
    app, client, alice, monkeypatch
):
    job = submitted(client, alice)
    monkeypatch.setenv(sandbox.BWRAP_ENV, "/nonexistent/bwrap")
    work(app)
    failed = job_of(client, alice, job["id"])
    assert failed["status"] == "failed"
    assert failed["message"].startswith("Sandbox unavailable: /nonexistent/bwrap not found")
    with app.app_context():
        rq_job = Job.fetch(job["id"], connection=rq_connection())
        assert rq_job.get_status() == JobStatus.FAILED  # what rq-dashboard shows
        assert job["id"] in job_tasks.jobs_queue().failed_job_registry.get_job_ids()


def test_code_execution_flag_off_is_503(app, client, alice):
    with app.app_context():
        flags.set_flag(flags.CODE_EXECUTION.name, False)
    assert_error(submit(client, alice), 503)
    with app.app_context():
        flags.set_flag(flags.CODE_EXECUTION.name, True)
    assert submit(client, alice).status_code == 202


def test_a_language_switched_off_by_its_flag_is_refused_and_unlisted(app, client, alice):
    with app.app_context():
        flags.set_flag(flags.LANGUAGES["bash"].name, False)
    listed = [item["name"] for item in client.get("/api/v1/languages", headers=alice.headers).json]
    assert "bash" not in listed and "python" in listed
    refused = submit(client, alice, language="bash", code="echo hi")
    assert_error(refused, 422)
    assert "bash" not in refused.get_json()["message"]
    assert "python" in refused.get_json()["message"]
    with app.app_context():
        flags.set_flag(flags.LANGUAGES["bash"].name, True)
    assert submit(client, alice, language="bash", code="echo hi").status_code == 202


def test_workspace_jobs_follow_the_project_roles(app, client, make_user):
    team = make_team(client, make_user, is_public=False)
    job = submitted(client, team.collaborator, workspace_id=team.wid)
    assert job["workspace_id"] == team.wid
    assert_error(submit(client, team.viewer, workspace_id=team.wid), 403)
    assert_error(submit(client, team.outsider, workspace_id=team.wid), 404)
    assert_error(submit(client, team.owner, workspace_id=str(uuid.uuid4())), 404)
    work(app)
    for member in (team.owner, team.viewer):
        assert job_of(client, member, job["id"])["status"] == "completed"
        listed = client.get(f"{JOBS}?workspace_id={team.wid}", headers=member.headers)
        assert [item["id"] for item in listed.get_json()] == [job["id"]]
    assert_error(get_job(client, team.outsider, job["id"]), 404)
    assert_error(client.get(f"{JOBS}?workspace_id={team.wid}", headers=team.outsider.headers), 404)


def test_a_private_job_is_invisible_to_others(client, alice, bob):
    job = submitted(client, alice)
    assert_error(get_job(client, bob, job["id"]), 404)
    assert_error(client.post(f"{JOBS}/{job['id']}/cancel", headers=bob.headers), 404)
    assert client.get(JOBS, headers=bob.headers).get_json() == []
    assert_error(get_job(client, alice, str(uuid.uuid4())), 404)


def test_list_filters_and_pagination(app, client, alice):
    first, second = submitted(client, alice), submitted(client, alice)
    work(app)
    third = submitted(client, alice)
    everything = client.get(JOBS, headers=alice.headers)
    assert everything.headers["X-Total-Count"] == "3"
    assert [j["id"] for j in everything.get_json()] == [third["id"], second["id"], first["id"]]
    done = client.get(f"{JOBS}?status=completed", headers=alice.headers).get_json()
    assert {j["id"] for j in done} == {first["id"], second["id"]}
    pending = client.get(f"{JOBS}?status=pending", headers=alice.headers).get_json()
    assert [j["id"] for j in pending] == [third["id"]]
    page = client.get(f"{JOBS}?skip=1&limit=1", headers=alice.headers)
    assert [j["id"] for j in page.get_json()] == [second["id"]]
    assert page.headers["X-Total-Count"] == "3"
    assert_validation_error(client.get(f"{JOBS}?status=bogus", headers=alice.headers), "status")


def test_idempotency_key_returns_the_original_job_for_the_same_user(client, alice, bob):
    key = {"Idempotency-Key": "abc-123"}
    first = submitted(client, alice, headers=key)
    again = submit(client, alice, headers=key)
    assert again.status_code == 202 and again.get_json()["id"] == first["id"]
    theirs = submitted(client, bob, headers=key)
    assert theirs["id"] != first["id"]
    assert len(client.get(JOBS, headers=alice.headers).get_json()) == 1


def test_an_idempotency_key_reused_for_another_request_is_refused(client, alice):
    key = {"Idempotency-Key": "once"}
    first = submit(client, alice, headers=key, code="print(1)")
    assert first.status_code == 202
    again = submit(client, alice, headers=key, code="print(1)")
    assert again.get_json()["id"] == first.get_json()["id"]
    other = submit(client, alice, headers=key, code="print(2)")
    assert_error(other, 422)
    assert "Idempotency-Key" in other.get_json()["message"]
    assert len(client.get(JOBS, headers=alice.headers).get_json()) == 1


def test_cancel_a_pending_job_it_never_runs(app, client, alice):
    job = submitted(client, alice)
    response = client.post(f"{JOBS}/{job['id']}/cancel", headers=alice.headers)
    assert response.status_code == 200 and response.get_json() == {"message": "Job cancelled"}
    with app.app_context():
        assert job_tasks.queued_count() == 0
    work(app)
    cancelled = job_of(client, alice, job["id"])
    assert cancelled["status"] == "cancelled" and cancelled["started_at"] is None
    assert cancelled["output"] is None and cancelled["finished_at"]
    assert_error(client.post(f"{JOBS}/{job['id']}/cancel", headers=alice.headers), 409)


def test_cancel_a_finished_job_is_409(app, client, alice):
    job = submitted(client, alice)
    work(app)
    assert_error(client.post(f"{JOBS}/{job['id']}/cancel", headers=alice.headers), 409)
    assert job_of(client, alice, job["id"])["status"] == "completed"


def test_cancel_a_running_job_kills_it(app, client, alice):
    job = submitted(client, alice, code="import time\nprint('up', flush=True)\ntime.sleep(30)")
    timing = {}

    def cancel_when_running():
        api = app.test_client()
        deadline = time.monotonic() + 10
        while job_of(api, alice, job["id"])["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        timing["cancelled"] = time.monotonic()
        timing["status"] = api.post(f"{JOBS}/{job['id']}/cancel", headers=alice.headers).status_code

    canceller = threading.Thread(target=cancel_when_running)
    canceller.start()
    work(app)
    finished = time.monotonic()
    canceller.join()
    assert timing["status"] == 200
    assert finished - timing["cancelled"] < 2
    cancelled = job_of(client, alice, job["id"])
    assert cancelled["status"] == "cancelled" and cancelled["outcome"] is None
    assert cancelled["output"] == "up\n"  # what it printed before it was killed


def test_only_the_submitter_and_the_owner_may_cancel(client, make_user):
    team = make_team(client, make_user, is_public=False)
    job = submitted(client, team.collaborator, workspace_id=team.wid)
    assert_error(client.post(f"{JOBS}/{job['id']}/cancel", headers=team.viewer.headers), 403)
    response = client.post(f"{JOBS}/{job['id']}/cancel", headers=team.owner.headers)
    assert response.status_code == 200


def test_per_user_cap_on_unfinished_jobs(app, client, alice, bob, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_MAX_ACTIVE_PER_USER", 2)
    submitted(client, alice)
    submitted(client, alice)
    assert_error(submit(client, alice), 429)
    assert submit(client, bob).status_code == 202


def test_finished_and_cancelled_jobs_give_their_slot_back(app, client, alice, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_MAX_ACTIVE_PER_USER", 2)
    first, second = submitted(client, alice), submitted(client, alice)
    assert_error(submit(client, alice), 429)
    client.post(f"{JOBS}/{first['id']}/cancel", headers=alice.headers)
    third = submitted(client, alice)  # the cancelled job's slot
    assert_error(submit(client, alice), 429)
    work(app)  # second and third complete
    assert {job_of(client, alice, j["id"])["status"] for j in (second, third)} == {"completed"}
    submitted(client, alice)
    submitted(client, alice)
    assert_error(submit(client, alice), 429)


def test_a_drifted_slot_counter_heals_from_the_jobs_themselves(app, client, alice, monkeypatch):
    """A process that died between reserving a slot and storing its job leaves the counter
    one too high; at the cap, the counter is checked against the jobs and corrected."""
    monkeypatch.setitem(app.config, "JOBS_MAX_ACTIVE_PER_USER", 2)
    submitted(client, alice)
    with app.app_context():
        redis_client.hset(slots.KEY.format(alice.id), "used", 2)
    assert_error(submit(client, alice), 429)  # a reservation is recent: its job may be coming
    monkeypatch.setattr(slots, "SETTLE_SECONDS", 0)  # (instead of waiting 10 s)
    submitted(client, alice)  # 1 real unfinished job: the leaked slot is given back
    assert_error(submit(client, alice), 429)


def test_simultaneous_submissions_cannot_overshoot_the_cap(app, alice, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_MAX_ACTIVE_PER_USER", 3)
    start = threading.Barrier(8)

    def submit_at_once(_) -> int:
        api = app.test_client()
        start.wait()
        return submit(api, alice).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(submit_at_once, range(8)))
    assert statuses == [202] * 3 + [429] * 5
    with app.app_context():
        assert store.count_unfinished(alice.id) == 3


def test_wait_works_when_every_blocking_connection_is_taken(make_app, alice):
    """One Redis connection for blocking waits, three waiters: the others poll the store."""
    app = make_app(JOBS_MAX_BLOCKING_WAITS="1")
    job = submitted(app.test_client(), alice)
    with ThreadPoolExecutor(3) as pool:
        waiting = [pool.submit(get_job, app.test_client(), alice, job["id"], 20) for _ in range(3)]
        time.sleep(0.5)  # all three are waiting
        work(app)
        answers = [future.result(timeout=25) for future in waiting]
    assert [answer.get_json()["status"] for answer in answers] == ["completed"] * 3


def test_a_full_queue_is_503_with_retry_after(app, client, alice, bob, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_MAX_QUEUED", 1)
    submitted(client, alice)
    response = submit(client, bob)
    assert_error(response, 503)
    assert int(response.headers["Retry-After"]) > 0


def test_redis_down_at_submission_is_503_and_leaves_no_pending_job(app, make_app, alice):
    """A real outage: the app's Redis is stopped before the submission."""
    port = free_port()
    with redis_server(port):
        client = make_app(REDIS_URL=f"redis://127.0.0.1:{port}/0").test_client()
        assert client.get(JOBS, headers=alice.headers).status_code == 200
    response = submit(client, alice)
    assert_error(response, 503)
    with app.app_context():
        jobs, _ = store.list_jobs({"user_id": alice.id}, 0, 100)
    assert all(job.status == Status.FAILED for job in jobs)


def test_mongodb_down_is_503_not_500(make_app, alice):
    client = make_app(MONGODB_URL="mongodb://127.0.0.1:9").test_client()
    assert_error(client.get(JOBS, headers=alice.headers), 503)


def test_while_mongodb_is_down_get_answers_what_redis_knows(app, client, make_app, alice, bob):
    pending = submitted(client, alice)
    finishing = submitted(client, alice, code="print('parked')")
    with app.app_context():
        running = store.start(finishing["id"])
    down = make_app(MONGODB_URL="mongodb://127.0.0.1:9")
    with down.app_context():  # the worker finishes it during the outage: parked in Redis
        job_tasks.store_result(running, {"outcome": "success", "output": "parked\n"})
    outage = down.test_client()
    assert job_of(outage, alice, pending["id"])["status"] == "pending"
    finished = job_of(outage, alice, finishing["id"])
    assert (finished["status"], finished["outcome"], finished["output"]) == (
        "completed",
        "success",
        "parked\n",
    )
    assert finished["finished_at"] and finished["limits"] == finishing["limits"]
    assert_error(get_job(outage, bob, finishing["id"]), 404)  # still only its submitter's
    assert_error(get_job(outage, alice, str(uuid.uuid4())), 503)  # nothing known: 503
    assert_error(outage.get(JOBS, headers=alice.headers), 503)


def test_a_running_job_shows_its_output_so_far_with_the_last_chunk_included(app, client, alice):
    code = (
        "import sys, time\nprint('first', flush=True)\n"
        "print('oops', file=sys.stderr)\ntime.sleep(30)"
    )
    job = submitted(client, alice, code=code)
    seen = {}

    def read_mid_run_then_cancel():
        api = app.test_client()
        deadline = time.monotonic() + 10
        while (now := job_of(api, alice, job["id"]))["stderr"] != "oops\n":
            assert time.monotonic() < deadline, now
            time.sleep(0.05)
        seen.update(now)
        api.post(f"{JOBS}/{job['id']}/cancel", headers=alice.headers)

    reader = threading.Thread(target=read_mid_run_then_cancel)
    reader.start()
    work(app)
    reader.join()
    assert (seen["status"], seen["output"]) == ("running", "first\n")
    with app.app_context():  # the program printed nothing after that read: every chunk
        assert seen["output_seq"] == live.output_so_far(job["id"])["output_seq"] >= 2


def test_output_chunks_are_stored_whole_characters_and_match_the_result(app, client, alice):
    # "é" is two bytes; the program flushes between them, so they arrive in two reads.
    code = (
        "import sys, time\nout = sys.stdout.buffer\n"
        "out.write(b'caf\\xc3'); out.flush(); time.sleep(0.3)\n"
        "out.write(b'\\xa9\\n'); out.flush()"
    )
    job = submitted(client, alice, code=code)
    work(app)
    done = job_of(client, alice, job["id"])
    assert done["output"] == "café\n"
    with app.app_context():
        chunks = live.output_so_far(job["id"])
    assert chunks["output"] == done["output"]
    assert chunks["output_seq"] == done["output_seq"]  # 2 unless the reads were late


# 64 KiB, one byte per write and flush, with a pause every 64 bytes so that it runs ~1-2 s;
# "é" and "€" are cut between writes (and reads).
BYTE_AT_A_TIME = """
import sys, time
out = sys.stdout.buffer
data = (("x" * 58 + "é€\\n") * 1024).encode()
for i in range(len(data)):
    out.write(data[i:i + 1])
    out.flush()
    if i % 64 == 63:
        time.sleep(0.001)
"""


def test_output_written_a_byte_at_a_time_is_coalesced_with_nothing_lost(
    app, make_app, client, alice, redis_url
):
    """Issue 9: 64 KiB written one byte at a time made 5,088 job:output events. Coalesced:
    at most ~20 per second of its run (and a few more), which joined are the output."""
    with published_job_events(make_app, redis_url) as emitted:
        job = submitted(client, alice, code=BYTE_AT_A_TIME)
        work(app)
    done = job_of(client, alice, job["id"])
    assert done["outcome"] == "success" and done["stdout_truncated"] is False
    expected = ("x" * 58 + "é€\n") * 1024
    assert done["output"] == expected
    chunks = [e["data"][0] for e in emitted if e["event"] == "job:output"]
    assert [chunk["seq"] for chunk in chunks] == list(range(1, len(chunks) + 1))
    assert "".join(chunk["chunk"] for chunk in chunks) == expected
    assert done["output_seq"] == len(chunks)
    assert len(chunks) <= 20 * done["execution_time"] + 5, (len(chunks), done["execution_time"])
    with app.app_context():  # one stored chunk per event
        assert live.output_so_far(job["id"]) == {
            "output": expected,
            "stderr": "",
            "output_seq": len(chunks),
        }


def test_status_transitions_are_compare_and_set(app):
    with app.app_context():
        job = store.insert(
            JobDocument(user_id="u", language="python", code="", stdin="", limits={})
        )
        assert store.start(job.id).status == Status.RUNNING
        assert store.cancel(job.id).status == Status.CANCELLED
        assert store.complete(job.id, {"outcome": "success", "output": "late"}) is None
        assert store.fail(job.id, "late") is None
        assert store.start(job.id) is None
        assert store.get(job.id).status == Status.CANCELLED
        assert store.get(job.id).output is None


def test_retention_ttl_follows_the_configuration(app, monkeypatch):
    with app.app_context():
        jobs = mongo.db[store.COLLECTION]
        store.ensure_indexes(jobs)
        ttl = jobs.index_information()[store.TTL_INDEX]["expireAfterSeconds"]
        assert ttl == 30 * 24 * 3600
        monkeypatch.setitem(app.config, "JOB_RETENTION_DAYS", 7)
        store.ensure_indexes(jobs)
        assert jobs.index_information()[store.TTL_INDEX]["expireAfterSeconds"] == 7 * 24 * 3600


def running_job(user_id: str = "u") -> JobDocument:
    job = store.insert(
        JobDocument(user_id=user_id, language="python", code="", stdin="", limits={})
    )
    return store.start(job.id)


def lose(*jobs: JobDocument) -> None:
    """As if their worker had died a minute ago: started long ago, no heartbeat."""
    long_ago = store.utcnow() - timedelta(minutes=1)
    ids = [job.id for job in jobs]
    store.collection().update_many({"_id": {"$in": ids}}, {"$set": {"started_at": long_ago}})


def test_a_running_job_without_heartbeat_is_queued_again_from_its_stored_document(app):
    with app.app_context():
        lost, alive, fresh = running_job(), running_job(), running_job()
        lose(lost, alive)
        recovery.heartbeat(alive.id)
        assert recovery.reap_lost_jobs() == [lost.id]
        again = store.get(lost.id)
        assert (again.status, again.attempts, again.started_at, again.message) == (
            "pending",
            2,
            None,
            None,
        )
        assert lost.id in job_tasks.jobs_queue().job_ids
        assert store.get(alive.id).status == store.get(fresh.id).status == "running"
    work(app)
    with app.app_context():
        done = store.get(lost.id)
        assert (done.status, done.outcome, done.attempts) == ("completed", "success", 2)


def test_a_lost_interactive_job_or_one_lost_too_often_fails_as_worker_lost(app):
    with app.app_context():
        interactive = store.insert(
            JobDocument(user_id="u", language="python", code="", stdin="", limits={})
        )
        store.collection().update_one({"_id": interactive.id}, {"$set": {"interactive": True}})
        interactive = store.start(interactive.id)
        worn_out = running_job()
        store.collection().update_one(
            {"_id": worn_out.id}, {"$set": {"attempts": recovery.MAX_ATTEMPTS}}
        )
        lose(interactive, worn_out)
        assert sorted(recovery.reap_lost_jobs()) == sorted([interactive.id, worn_out.id])
        for job_id in (interactive.id, worn_out.id):
            failed = store.get(job_id)
            assert (failed.status, failed.message) == ("failed", recovery.WORKER_LOST)
        assert job_tasks.jobs_queue().job_ids == []


def test_the_run_given_up_on_cannot_finish_the_job_the_new_run_does(app):
    """A worker paused (SIGSTOP) past its heartbeat: its job runs again elsewhere; when the
    paused worker wakes up and finishes, its result is dropped, even one parked in Redis."""
    with app.app_context():
        first_run = running_job()
        lose(first_run)
        recovery.reap_lost_jobs()
        second_run = store.start(first_run.id)
        assert second_run.attempts == 2
        assert job_tasks.store_result(first_run, {"outcome": "success", "output": "1st"}) is None
        recovery.keep_unstored(first_run.id, store.completion({"output": "1st"}), 1)
        recovery.store_unstored()
        assert store.get(first_run.id).status == "running"
        job_tasks.store_result(second_run, {"outcome": "success", "output": "2nd"})
        done = store.get(first_run.id)
        assert (done.status, done.output, done.attempts) == ("completed", "2nd", 2)


def test_a_result_mongodb_refused_is_stored_once_it_is_back(app, make_app):
    with app.app_context():
        job = running_job()
    with make_app(MONGODB_URL="mongodb://127.0.0.1:9").app_context():
        parked = job_tasks.store_result(job, {"outcome": "success", "output": "kept\n"})
        assert parked.status == "completed"  # what the worker broadcasts
    with app.app_context():
        assert store.get(job.id).status == "running"
        assert recovery.reap_lost_jobs() == []  # parked, not lost
        recovery.maintain()
        stored = store.get(job.id)
        assert (stored.status, stored.output, stored.finished_at is not None) == (
            "completed",
            "kept\n",
            True,
        )
        assert recovery.unstored(job.id) is None


def start_worker(env: dict, log=subprocess.DEVNULL, *queues: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "worker.py", *(queues or [JOBS_QUEUE])],
        cwd=REPO,
        env={**os.environ, **env},
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@contextlib.contextmanager
def worker_logging_to(path: Path, env: dict, *queues: str):
    """A `python worker.py` process writing its log to `path`, terminated afterwards."""
    with open(path, "wb") as log:
        worker = start_worker(env, log, *queues)
        try:
            yield worker
        finally:
            worker.terminate()
            worker.wait(timeout=30)


def log_line_with(path: Path, text: str, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for line in path.read_text().splitlines():
            if text in line:
                return line
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in the log:\n{path.read_text()}")


def test_a_worker_reports_its_sandbox_and_languages_at_start_up_and_advertises_them(
    app, client, alice, base_env, live_worker, tmp_path
):
    with app.app_context():
        workers.withdraw(live_worker)  # only the real worker below advertises
    log = tmp_path / "worker.log"
    with worker_logging_to(log, base_env):
        runs = log_line_with(log, "languages this worker runs:")
        for language in ("python (Python 3", "javascript (Node.js", "bash", "c (GCC", "cpp (G++"):
            assert language in runs
        found = log_line_with(log, "sandbox: bubblewrap")
        assert "seccomp filter of" in found and sandbox.find_bubblewrap().origin in found
        # The report is logged before the worker advertises it: the list follows shortly.
        deadline = time.monotonic() + 15
        while not {"python", "javascript", "bash", "c", "cpp"} <= set(
            listed_languages(client, alice)
        ):
            assert time.monotonic() < deadline, listed_languages(client, alice)
            time.sleep(0.1)
        done = get_job(client, alice, submitted(client, alice)["id"], wait=20).get_json()
        assert (done["status"], done["output"]) == ("completed", "1\n")


def test_a_worker_without_a_sandbox_says_so_loudly_and_takes_no_code_job(
    app, client, alice, base_env, live_worker, tmp_path
):
    with app.app_context():
        workers.withdraw(live_worker)
    log = tmp_path / "worker.log"
    broken = {**base_env, sandbox.BWRAP_ENV: "/nonexistent/bwrap"}
    with worker_logging_to(log, broken, JOBS_QUEUE, "collab-default") as worker:
        log_line_with(log, "NO CODE CAN RUN ON THIS WORKER")
        assert "ERROR collab.jobs.workers" in log_line_with(log, "collab.jobs.workers")
        assert "Sandbox: unavailable: /nonexistent/bwrap not found" in log.read_text()
        assert listed_languages(client, alice) == []
        assert_error(submit(client, alice), 503)
        with app.app_context():
            wait_until(lambda: SimpleWorker.all(connection=rq_connection()), 20)
            (registered,) = SimpleWorker.all(connection=rq_connection())
        assert registered.queue_names() == ["collab-default"]  # it serves its other queue
        assert worker.poll() is None


def wait_until(predicate, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def kill_hard(worker: subprocess.Popen) -> None:
    """SIGKILL the worker's process group, and any child that left it (RQ's forking Worker
    puts its work horse in a session of its own), as a lost machine or container would."""
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    os.killpg(worker.pid, signal.SIGKILL)
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(child), signal.SIGKILL)
    worker.wait()


def wait_for_heartbeat_to_lapse(raw_redis, job_id: str) -> None:
    """Then a worker started now reaps the job at once (its first maintenance pass)."""
    heartbeat = recovery.HEARTBEAT_KEY.format(job_id)
    wait_until(lambda: not raw_redis.exists(heartbeat), recovery.HEARTBEAT_TTL_SECONDS + 2)


def test_sigkilled_worker_its_job_runs_again_on_the_next_worker(client, alice, base_env, raw_redis):
    code = "import time\nprint(1, flush=True)\ntime.sleep(3)\nprint('ran to the end')"
    job = submitted(client, alice, code=code)
    worker = start_worker(base_env)
    try:
        wait_until(lambda: job_of(client, alice, job["id"])["status"] == "running", 20)
    finally:
        kill_hard(worker)
    wait_for_heartbeat_to_lapse(raw_redis, job["id"])
    again = start_worker(base_env)
    try:
        done = get_job(client, alice, job["id"], wait=30).get_json()
        assert (done["status"], done["output"], done["attempts"]) == (
            "completed",
            "1\nran to the end\n",
            2,
        )
        after = submitted(client, alice, code="print('still fine')")
        done = get_job(client, alice, after["id"], wait=20).get_json()
        assert (done["status"], done["output"]) == ("completed", "still fine\n")
    finally:
        again.terminate()
        again.wait(timeout=30)


@contextlib.contextmanager
def published_job_events(make_app, redis_url):
    """The job events emitted while the block runs, as the web processes receive them: the
    list is filled when the block ends."""
    web = make_app()  # a web app on the suite's Redis: its Socket.IO manager's channel
    listening = web.extensions["socketio"].server.manager.channel
    subscriber = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe(listening)
    events: list[dict] = []
    try:
        yield events
        quiet_until = time.monotonic() + 1  # None also means "a subscribe confirmation, skipped"
        while time.monotonic() < quiet_until:
            message = subscriber.get_message(timeout=0.1)
            if message is not None:
                events.append(json.loads(message["data"]))
                quiet_until = time.monotonic() + 1
    finally:
        subscriber.close()
    events[:] = [e for e in events if e.get("method") == "emit" and e["event"].startswith("job:")]


def test_status_and_output_are_published_where_the_web_processes_listen(
    app, make_app, client, alice, redis_url
):
    with published_job_events(make_app, redis_url) as emitted:
        job = submitted(client, alice, code="print('one', flush=True)")
        work(app)
    assert all(f"user:{alice.id}" in e["room"] for e in emitted), emitted
    statuses = [e["data"][0]["status"] for e in emitted if e["event"] == "job:status"]
    assert statuses == ["running", "completed"]
    output = [e["data"][0] for e in emitted if e["event"] == "job:output"]
    assert output and output[0]["job_id"] == job["id"] and output[0]["seq"] == 1
    assert "".join(chunk["chunk"] for chunk in output) == "one\n"


def test_user_code_sees_none_of_the_workers_environment(app, client, alice):
    job = submitted(client, alice, code="import os\nprint(sorted(os.environ))")
    work(app)
    done = job_of(client, alice, job["id"])
    assert done["outcome"] == "success"
    for secret in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "MONGODB_URL"):
        assert secret not in done["output"]


def test_a_pending_job_no_longer_in_the_queue_is_queued_again(app, client, alice):
    """Redis lost the RQ entry (restarted without persistence): the job runs anyway."""
    queued, lost = submitted(client, alice), submitted(client, alice, code="print('found')")
    with app.app_context():
        job_tasks.jobs_queue().remove(lost["id"])
        job_tasks.jobs_queue().connection.delete(f"rq:job:{lost['id']}")
        long_ago = store.utcnow() - timedelta(minutes=5)
        store.collection().update_many({}, {"$set": {"created_at": long_ago}})
        assert recovery.reap_lost_submissions() == [lost["id"]]
        assert recovery.reap_lost_submissions() == []  # queued again: found now
    work(app)
    again = job_of(client, alice, lost["id"])
    assert (again["status"], again["output"], again["attempts"]) == ("completed", "found\n", 2)
    assert job_of(client, alice, queued["id"])["attempts"] == 1


def test_a_pending_job_lost_by_the_queue_too_often_is_failed(app, client, alice):
    lost = submitted(client, alice)
    with app.app_context():
        store.collection().update_one(
            {"_id": lost["id"]},
            {"$set": {"attempts": recovery.MAX_ATTEMPTS, "created_at": datetime(2020, 1, 1)}},
        )
        job_tasks.jobs_queue().connection.delete(f"rq:job:{lost['id']}")
        assert recovery.reap_lost_submissions() == [lost["id"]]
    assert job_of(client, alice, lost["id"])["message"] == recovery.LOST_IN_QUEUE


def test_sigterm_is_a_warm_shutdown_the_running_job_finishes(client, alice, base_env):
    """Heroku-style: SIGTERM lets the current job finish, then the worker exits cleanly."""
    job = submitted(client, alice, code="import time\ntime.sleep(2)\nprint('finished')")
    worker = start_worker(base_env)
    try:
        wait_until(lambda: job_of(client, alice, job["id"])["status"] == "running", 20)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    done = job_of(client, alice, job["id"])
    assert (done["status"], done["outcome"], done["output"]) == (
        "completed",
        "success",
        "finished\n",
    )
