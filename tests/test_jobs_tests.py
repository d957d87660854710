"""Jobs with test cases end to end: the API, a real RQ worker, the real sandbox (the program
built once, each test in a fresh sandbox), the Mongo-compatible server, and the live events
as a real python-socketio client receives them."""

from __future__ import annotations

import threading
import time

import pytest

from collab.jobs import programs, sandbox
from tests.helpers_projects import assert_error, assert_validation_error, make_team
from tests.test_jobs import (
    JOBS,
    advertised,  # noqa: F401 (an autouse fixture)
    empty_jobs,  # noqa: F401 (an autouse fixture)
    job_of,
    pytestmark,  # noqa: F401 (skipped without a sandbox)
    submit,
    submitted,
    work,
)

# One program, told what to do by its stdin: the tests' verdicts come from real runs.
JUDGED = r"""
import os, sys, time
command, _, argument = sys.stdin.read().strip().partition(" ")
if command == "echo":
    print(argument)
elif command == "crash":
    sys.exit(3)
elif command == "loop":
    while True:
        pass
elif command == "mem":
    hoard = []
    while True:
        hoard.append(bytearray(10**7))
elif command == "flood":
    while True:
        print("y" * 1000)
elif command == "sleep":
    print("sleeping", flush=True)
    time.sleep(30)
elif command == "litter":
    for path in ("/box/left", "/tmp/left", "/dev/shm/left"):
        open(path, "w").write("x")
    if os.fork() == 0:
        time.sleep(30)
        os._exit(0)
    print("littered")
elif command == "look":
    left = [p for p in ("/box/left", "/tmp/left", "/dev/shm/left") if os.path.exists(p)]
    others = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        others += int(pid) not in (1, os.getpid()) and b"main.py" in cmdline  # 1: bwrap
    print(left, others)
"""

C_DOUBLE = """#include <stdio.h>
int main(void) {
    long n;
    if (scanf("%ld", &n) != 1) return 2;
    printf("%ld\\n", 2 * n);
    return 0;
}
"""


def case(stdin: str, expected: str, name: str | None = None) -> dict:
    test = {"stdin": stdin, "expected_output": expected}
    return {**test, "name": name} if name else test


def echo(text: str) -> dict:
    return case(f"echo {text}", f"{text}\n")


def outcomes(job: dict) -> list[str]:
    return [test["outcome"] for test in job["tests"]]


def test_twenty_tests_with_mixed_verdicts(app, client, alice):
    tests = [echo(f"t{i}") for i in range(14)]
    tests[3] = case("echo wrong", "right\n", name="a wrong answer")
    tests[9] = case("echo 1", "2\n")
    tests += [
        case("crash", ""),
        case("loop", ""),
        case("mem", ""),
        case("flood", ""),
        echo("last"),
        echo("very last"),
    ]
    job = submitted(client, alice, code=JUDGED, tests=tests, timeout=1, memory_mb=64)
    assert job["summary"] is None and job["tests"] is None  # nothing ran yet
    work(app)
    done = job_of(client, alice, job["id"])
    expected = ["accepted"] * 20
    expected[3] = expected[9] = "wrong_answer"
    expected[14:18] = [
        "runtime_error",
        "time_limit_exceeded",
        "memory_limit_exceeded",
        "output_limit_exceeded",
    ]
    assert outcomes(done) == expected
    assert done["summary"] == {"total": 20, "passed": 14, "failed": 6}
    assert (done["status"], done["outcome"]) == ("completed", "wrong_answer")  # the first: 3
    assert [t["index"] for t in done["tests"]] == list(range(20))
    assert done["tests"][3]["name"] == "a wrong answer" and done["tests"][0]["name"] is None
    crash = done["tests"][14]
    assert (crash["exit_code"], crash["signal"], crash["stdout"]) == (3, None, "")
    assert done["tests"][17]["stdout_truncated"] is True
    assert done["tests"][19]["stdout"] == "very last\n"
    assert set(done["tests"][0]["usage"]) == {"cpu_ms", "wall_ms", "memory_peak_kb"}
    assert done["tests"][15]["usage"]["wall_ms"] >= 900  # its own 1 s clock
    assert done["tests"][16]["usage"]["memory_peak_kb"] > 32 * 1024


def test_the_job_outcome_is_the_first_failing_tests_and_accepted_when_all_pass(app, client, alice):
    crash_first = submitted(
        client, alice, code=JUDGED, tests=[echo("a"), case("crash", ""), case("echo x", "y")]
    )
    all_pass = submitted(client, alice, code=JUDGED, tests=[echo("a"), echo("b")])
    work(app)
    assert job_of(client, alice, crash_first["id"])["outcome"] == "runtime_error"
    passed = job_of(client, alice, all_pass["id"])
    assert (passed["outcome"], passed["summary"]) == (
        "accepted",
        {"total": 2, "passed": 2, "failed": 0},
    )
    assert passed["output"] == "a\nb\n"  # the tests' outputs in order


def test_trimmed_and_exact_compare(app, client, alice):
    code = "print('a  ')\nprint('b')\nprint()\nprint()"
    tests = [case("", "a\nb"), case("", "a  \nb\n\n\n"), case("", "a\n\nb")]
    trimmed = submitted(client, alice, code=code, tests=tests)
    exact = submitted(client, alice, code=code, tests=tests, compare="exact")
    work(app)
    assert outcomes(job_of(client, alice, trimmed["id"])) == [
        "accepted",
        "accepted",
        "wrong_answer",  # a blank line inside the output still counts
    ]
    exactly = job_of(client, alice, exact["id"])
    assert outcomes(exactly) == ["wrong_answer", "accepted", "wrong_answer"]
    assert exactly["compare"] == "exact"
    assert_validation_error(submit(client, alice, tests=tests, compare="fuzzy"), "compare")


def test_a_c_program_is_compiled_once_for_all_its_tests(app, client, alice, monkeypatch):
    builds = []
    real_build = programs.build
    monkeypatch.setattr(programs, "build", lambda *a: builds.append(a) or real_build(*a))
    tests = [case(str(n), f"{2 * n}\n") for n in range(20)]
    tests[7] = case("7", "15\n")
    job = submitted(client, alice, language="c", code=C_DOUBLE, tests=tests)
    work(app)
    done = job_of(client, alice, job["id"])
    assert len(builds) == 1
    assert outcomes(done).count("accepted") == 19 and done["tests"][7]["outcome"] == (
        "wrong_answer"
    )
    assert done["tests"][7]["stdout"] == "14\n"
    assert done["runtime"].startswith("GCC")


def test_a_compile_error_runs_no_test(app, client, alice, monkeypatch):
    runs = []
    real_run = programs.run
    monkeypatch.setattr(programs, "run", lambda *a, **k: runs.append(a) or real_run(*a, **k))
    job = submitted(
        client, alice, language="c", code="int main( { return 0; }", tests=[case("1", "2")] * 3
    )
    work(app)
    done = job_of(client, alice, job["id"])
    assert (done["status"], done["outcome"]) == ("completed", "compilation_error")
    assert "error" in done["stderr"]
    assert outcomes(done) == ["skipped"] * 3 and runs == []
    assert done["summary"] == {"total": 3, "passed": 0, "failed": 0}


def test_stop_on_failure_skips_the_rest(app, client, alice):
    tests = [echo("a"), case("echo b", "c\n"), echo("d"), echo("e")]
    stopping = submitted(client, alice, code=JUDGED, tests=tests, stop_on_failure=True)
    going_on = submitted(client, alice, code=JUDGED, tests=tests)
    work(app)
    stopped = job_of(client, alice, stopping["id"])
    assert outcomes(stopped) == ["accepted", "wrong_answer", "skipped", "skipped"]
    assert stopped["summary"] == {"total": 4, "passed": 1, "failed": 1}
    assert stopped["tests"][2]["usage"] is None and stopped["tests"][2]["stdout"] == ""
    assert outcomes(job_of(client, alice, going_on["id"])) == [
        "accepted",
        "wrong_answer",
        "accepted",
        "accepted",
    ]


def test_cancel_during_test_five_kills_it_and_skips_the_rest(app, client, alice):
    tests = [echo(str(i)) for i in range(10)]
    tests[4] = case("sleep", "")
    job = submitted(client, alice, code=JUDGED, tests=tests)
    seen = {}

    def cancel_during_test_five():
        api = app.test_client()
        deadline = time.monotonic() + 20
        while len(job_of(api, alice, job["id"])["tests"] or []) < 4:  # 0..3 are done
            assert time.monotonic() < deadline
            time.sleep(0.05)
        seen["running"] = job_of(api, alice, job["id"])
        time.sleep(0.5)  # test 4 is sleeping now
        seen["at"] = time.monotonic()
        seen["status"] = api.post(f"{JOBS}/{job['id']}/cancel", headers=alice.headers).status_code

    canceller = threading.Thread(target=cancel_during_test_five)
    canceller.start()
    work(app)
    finished = time.monotonic()
    canceller.join()
    assert seen["status"] == 200 and finished - seen["at"] < 3
    running = seen["running"]
    assert running["status"] == "running" and outcomes(running) == ["accepted"] * 4
    assert running["summary"] == {"total": 10, "passed": 4, "failed": 0}
    cancelled = job_of(client, alice, job["id"])
    assert (cancelled["status"], cancelled["outcome"]) == ("cancelled", None)
    assert outcomes(cancelled) == ["accepted"] * 4 + ["cancelled"] + ["skipped"] * 5
    assert cancelled["tests"][4]["stdout"] == "sleeping\n"


def test_a_hostile_test_leaves_nothing_to_the_next(app, client, alice):
    tests = [
        case("look", "[] 0\n"),
        case("litter", "littered\n"),
        case("look", "[] 0\n"),
        case("flood", ""),
        case("look", "[] 0\n"),
        case("sleep", ""),
        case("look", "[] 0\n"),
    ]
    job = submitted(client, alice, code=JUDGED, tests=tests, timeout=1)
    work(app)
    done = job_of(client, alice, job["id"])
    assert outcomes(done) == [
        "accepted",
        "accepted",
        "accepted",  # its files are gone, its forked child too
        "output_limit_exceeded",
        "accepted",
        "time_limit_exceeded",
        "accepted",
    ], done["tests"]


def test_limits_on_tests(client, alice):
    assert_validation_error(submit(client, alice, tests=[echo("x")] * 51), "tests")
    assert submit(client, alice, tests=[echo("x")] * 50).status_code == 202
    assert_validation_error(submit(client, alice, tests=[]), "tests")
    assert_validation_error(submit(client, alice, tests=[{"stdin": "1"}]), "tests")
    big = "x" * (2 * 1024 * 1024)
    assert_error(submit(client, alice, tests=[case(big, big + "y")]), 413)
    assert submit(client, alice, tests=[case(big, big[:-1])]).status_code == 202  # 4 MiB - 1
    assert_error(submit(client, alice, stdin="x" * (1024 * 1024 + 1)), 413)


def test_test_jobs_follow_the_project_roles(app, client, make_user):
    team = make_team(client, make_user, is_public=False)
    tests = [echo("a"), case("echo b", "c")]
    job = submitted(client, team.collaborator, code=JUDGED, tests=tests, workspace_id=team.wid)
    assert_error(submit(client, team.viewer, tests=tests, workspace_id=team.wid), 403)
    assert_error(submit(client, team.outsider, tests=tests, workspace_id=team.wid), 404)
    work(app)
    for member in (team.owner, team.collaborator, team.viewer):
        seen = job_of(client, member, job["id"])
        assert outcomes(seen) == ["accepted", "wrong_answer"]
    assert_error(client.get(f"{JOBS}/{job['id']}", headers=team.outsider.headers), 404)


@pytest.fixture(scope="module")
def web(app, base_env):
    from tests.realtime_support import start_instances

    (instance,) = start_instances(base_env, 1)
    yield instance
    instance.stop()


def test_job_test_and_output_events_reach_a_socketio_client(app, client, alice, web):
    from tests.realtime_support import connected

    tests = [echo("one"), case("echo two", "2\n"), echo("three")]
    with connected(web.url, alice.access_token) as socket:
        job = submitted(client, alice, code=JUDGED, tests=tests)
        work(app)
        socket.wait_for("job:status", lambda e: e["status"] == "completed")
        ended = socket.received["job:test"]
        output = socket.received["job:output"]
    assert [(e["job_id"], e["index"], e["outcome"]) for e in ended] == [
        (job["id"], 0, "accepted"),
        (job["id"], 1, "wrong_answer"),
        (job["id"], 2, "accepted"),
    ]
    assert all(set(e["usage"]) == {"cpu_ms", "wall_ms", "memory_peak_kb"} for e in ended)
    by_test = {}  # (a print may arrive in more than one chunk)
    for event in output:
        by_test[event["test"]] = by_test.get(event["test"], "") + event["chunk"]
    assert by_test == {0: "one\n", 1: "two\n", 2: "three\n"}
    assert [e["test"] for e in output] == sorted(e["test"] for e in output)  # in test order
    assert [e["seq"] for e in output] == list(range(1, len(output) + 1))
    assert job_of(client, alice, job["id"])["output_seq"] == len(output)


def test_sandbox_runs_of_one_program_share_nothing():
    """The sandbox level, without a job: a built binary, run twice, in fresh boxes."""
    code = '#include <stdio.h>\nint main(void){FILE*f=fopen("/box/mark","r");'
    code += 'if(f){puts("seen");return 1;}f=fopen("/box/mark","w");puts(f?"made":"ro");return 0;}'
    program, failed = programs.build("c", code)
    assert failed is None and program.built
    first = programs.run(program, b"", sandbox.Limits())
    again = programs.run(program, b"", sandbox.Limits())
    assert (first.stdout, again.stdout) == (b"made\n", b"made\n")
