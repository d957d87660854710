"""Interactive jobs end to end: a real worker runs a python `input()` loop in the real
sandbox while its submitter drives it over Socket.IO through a real web instance (gunicorn,
gevent); refusals for anyone else and outside the job's run; the idle rule."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from collab.jobs import interactive
from tests.helpers_projects import assert_validation_error, make_team
from tests.realtime_support import connected, start_instances
from tests.test_jobs import (
    advertised,  # noqa: F401 (an autouse fixture)
    empty_jobs,  # noqa: F401 (an autouse fixture)
    job_of,
    pytestmark,  # noqa: F401 (skipped without a sandbox)
    submit,
    submitted,
    work,
)

REPL = """
while True:
    try:
        line = input("> ")
    except EOFError:
        break
    print(f"got {line}")
print("bye")
"""


@pytest.fixture(scope="module")
def web(app, base_env):
    (instance,) = start_instances(base_env, 1)
    yield instance
    instance.stop()


def printed(socket, job_id: str) -> str:
    with socket.changed:
        chunks = [e for e in socket.received["job:output"] if e["job_id"] == job_id]
    return "".join(e["chunk"] for e in sorted(chunks, key=lambda e: e["seq"]))


def wait_printed(socket, job_id: str, text: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while text not in printed(socket, job_id):
        assert time.monotonic() < deadline, printed(socket, job_id)
        time.sleep(0.02)


def stdin(socket, job_id: str, data: str = "", eof: bool = False) -> dict:
    return socket.call("job:stdin", {"job_id": job_id, "data": data, "eof": eof})


def work_while(app, client_side, seconds: float = 30) -> None:
    """Run the queued jobs with a real worker while `client_side` (the user at the socket)
    runs beside them in a thread."""
    user = threading.Thread(target=client_side)
    user.start()
    work(app)
    user.join(seconds)


def error_code(ack: dict) -> str:
    assert ack["ok"] is False, ack
    return ack["error"]["code"]


def test_a_python_input_loop_driven_over_socketio(app, client, make_user, web):
    team = make_team(client, make_user, is_public=False)
    owner, other = team.collaborator, team.viewer
    job = submitted(client, owner, code=REPL, interactive=True, workspace_id=team.wid)
    assert job["interactive"] is True
    acks: dict[str, object] = {}
    with (
        connected(web.url, owner.access_token) as mine,
        connected(web.url, other.access_token) as theirs,
    ):
        acks["pending"] = stdin(mine, job["id"], "early\n")

        def drive() -> None:
            mine.wait_for("job:status", lambda e: e["status"] == "running", timeout=20)
            wait_printed(mine, job["id"], "> ")
            acks["forbidden"] = stdin(theirs, job["id"], "intruder\n")
            acks["first"] = stdin(mine, job["id"], "hello\n")
            wait_printed(mine, job["id"], "got hello\n> ")
            acks["second"] = stdin(mine, job["id"], "world\n")
            wait_printed(mine, job["id"], "got world\n> ")
            acks["eof"] = stdin(mine, job["id"], eof=True)

        work_while(app, drive)
        mine.wait_for("job:status", lambda e: e["status"] == "completed")
        acks["ended"] = stdin(mine, job["id"], "late\n")
    assert error_code(acks["pending"]) == "not_running"
    assert error_code(acks["forbidden"]) == "forbidden"
    assert error_code(acks["ended"]) == "not_running"
    assert acks["first"] == {"ok": True, "bytes": 6} and acks["eof"]["ok"] is True
    done = job_of(client, owner, job["id"])
    assert (done["status"], done["outcome"]) == ("completed", "success")
    assert done["output"] == "> got hello\n> got world\n> bye\n"


def test_no_input_for_the_idle_time_ends_the_job_time_limit_exceeded(make_app, client, alice, web):
    short = make_app(JOBS_INTERACTIVE_IDLE_SECONDS="1")
    job = submitted(client, alice, code=REPL, interactive=True, timeout=10)
    fed = submitted(client, alice, code=REPL, interactive=True, timeout=10)
    with connected(web.url, alice.access_token) as socket:

        def keep_feeding() -> None:  # input every 0.4 s for 2 s keeps the second one alive
            socket.wait_for("job:status", lambda e: e["job_id"] == fed["id"], timeout=30)
            for n in range(5):
                assert stdin(socket, fed["id"], f"{n}\n")["ok"] is True
                time.sleep(0.4)

        work_while(short, keep_feeding)
    idle = job_of(client, alice, job["id"])
    assert idle["outcome"] == "time_limit_exceeded"
    assert 900 <= idle["usage"]["wall_ms"] < 5000  # the idle rule, not the 10 s clock
    kept = job_of(client, alice, fed["id"])
    assert kept["outcome"] == "time_limit_exceeded" and kept["usage"]["wall_ms"] >= 2000
    assert "got 4" in kept["output"]


def test_stdin_limits(app, client, alice, bob, web, monkeypatch):
    job = submitted(client, alice, code="import time\ntime.sleep(5)", interactive=True, timeout=3)
    with connected(web.url, alice.access_token) as socket:
        acks = {}

        def flood() -> None:
            socket.wait_for("job:status", lambda e: e["status"] == "running", timeout=20)
            acks["huge"] = stdin(socket, job["id"], "x" * (64 * 1024 + 1))
            acks["most"] = stdin(socket, job["id"], "x" * (60 * 1024))
            acks["more"] = stdin(socket, job["id"], "x" * (8 * 1024))
            acks["missing"] = stdin(socket, str(uuid.uuid4()), "x")
            with connected(web.url, bob.access_token) as stranger:
                acks["stranger"] = stdin(stranger, job["id"], "x")

        work_while(app, flood)
    assert error_code(acks["huge"]) == "too_large"
    assert acks["most"]["ok"] is True
    assert error_code(acks["more"]) == "rate_limited"  # 68 KiB within a second
    assert error_code(acks["missing"]) == "not_found"
    assert error_code(acks["stranger"]) == "forbidden"
    monkeypatch.setattr(interactive, "MAX_BYTES_PER_JOB", 100 * 1024)
    with app.app_context():
        assert interactive.take_bytes(job["id"], 50 * 1024) == "too_large"  # 60 KiB sent


def test_a_job_takes_one_mib_of_input_over_socketio_and_not_a_byte_more(app, client, alice, web):
    """The per-job cap for real: 16 events of 64 KiB, as fast as the rate allows (~16 s)."""
    count = "import sys\nprint(len(sys.stdin.buffer.read()))\n"
    job = submitted(client, alice, code=count, interactive=True, timeout=30)
    chunk = "x" * (64 * 1024)
    acks: dict = {"sent": 0}

    def feed() -> None:
        socket.wait_for("job:status", lambda e: e["status"] == "running", timeout=20)
        while acks["sent"] < interactive.MAX_BYTES_PER_JOB // len(chunk):
            ack = stdin(socket, job["id"], chunk)
            if ack.get("ok"):
                acks["sent"] += 1
                continue
            assert error_code(ack) == "rate_limited", ack
            time.sleep(ack["error"].get("details", {}).get("retry_after_ms", 200) / 1000)
        acks["over"] = stdin(socket, job["id"], "x")
        acks["eof"] = stdin(socket, job["id"], eof=True)

    with connected(web.url, alice.access_token) as socket:
        work_while(app, feed, seconds=60)
        assert error_code(acks["over"]) == "too_large"
        assert acks["eof"]["ok"] is True
        assert printed(socket, job["id"]).strip() == str(interactive.MAX_BYTES_PER_JOB)


def test_interactive_jobs_take_no_tests(client, alice):
    tests = [{"stdin": "", "expected_output": ""}]
    assert_validation_error(submit(client, alice, interactive=True, tests=tests), "interactive")
    assert_validation_error(submit(client, alice, interactive="sometimes"), "interactive")
