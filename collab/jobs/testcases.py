"""Test cases: a job's program built once (programs.py), then run against each test's stdin in
a fresh sandbox with the job's limits, its output compared with the expected output.

Verdicts per test: accepted, wrong_answer, runtime_error, time_limit_exceeded,
memory_limit_exceeded, output_limit_exceeded; `skipped` for tests not run (after a failure
with stop_on_failure, after a cancel, after a compile error) and `cancelled` for the test a
cancel killed. The job's outcome: `accepted` when every test is, else the outcome of the first
test (by index) that failed; `compilation_error` when the program did not build.

`run_tests` knows nothing of jobs (a program and N inputs); `run_job` is the RQ side: it
stores each test's result as it ends, then broadcasts `job:test`, and numbers the output
chunks of each test with `test` (its index).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass

from flask import current_app
from marshmallow import Schema, fields, validate
from pymongo.errors import PyMongoError

from collab.jobs import programs, store
from collab.jobs.programs import Program
from collab.jobs.sandbox import Limits, Outcome, OutputCallback, Result
from collab.jobs.store import JobDocument

log = logging.getLogger(__name__)

MAX_TESTS = 50
# The results so far are written at most this often while tests run (GET /jobs/{id} shows
# them; job:test tells each one live): every write costs MongoDB time, and the next tests'.
PROGRESS_SECONDS = 0.25
MAX_TESTS_BYTES = 4 * 1024 * 1024  # stdin and expected_output of all tests, UTF-8
TRIMMED, EXACT = "trimmed", "exact"
ACCEPTED, WRONG_ANSWER, SKIPPED, CANCELLED = "accepted", "wrong_answer", "skipped", "cancelled"
# A run that ended by itself but failed keeps the sandbox's verdict.
FAILED_RUNS = {
    Outcome.RUNTIME_ERROR: "runtime_error",
    Outcome.TIME_LIMIT_EXCEEDED: "time_limit_exceeded",
    Outcome.MEMORY_LIMIT_EXCEEDED: "memory_limit_exceeded",
    Outcome.OUTPUT_LIMIT_EXCEEDED: "output_limit_exceeded",
    Outcome.CANCELLED: CANCELLED,
}


class TestCaseSchema(Schema):
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    stdin = fields.String(required=True)
    expected_output = fields.String(required=True)


class TestResultSchema(Schema):
    index = fields.Integer()
    name = fields.String(allow_none=True)
    outcome = fields.String()
    stdout = fields.String()
    stdout_truncated = fields.Boolean()
    stderr = fields.String()
    exit_code = fields.Integer(allow_none=True)
    signal = fields.String(allow_none=True)
    usage = fields.Dict(
        allow_none=True, metadata={"description": "cpu_ms, wall_ms, memory_peak_kb"}
    )


class SummarySchema(Schema):
    total = fields.Integer()
    passed = fields.Integer(metadata={"description": "Tests accepted"})
    failed = fields.Integer(metadata={"description": "Tests run and not accepted"})


def tests_bytes(tests: list[dict]) -> int:
    return sum(len(t["stdin"].encode()) + len(t["expected_output"].encode()) for t in tests)


@dataclass(frozen=True)
class TestCase:
    stdin: str
    expected_output: str
    name: str | None = None


def matches(actual: str, expected: str, compare: str = TRIMMED) -> bool:
    if compare == EXACT:
        return actual == expected
    return _trimmed(actual) == _trimmed(expected)


def _trimmed(text: str) -> list[str]:
    # Trailing whitespace of each line and trailing blank lines do not count.
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def verdict(result: Result, expected: str, compare: str) -> str:
    if result.outcome != Outcome.SUCCESS:
        return FAILED_RUNS[result.outcome]
    stdout = result.stdout.decode("utf-8", errors="replace")
    return ACCEPTED if matches(stdout, expected, compare) else WRONG_ANSWER


def test_result(index: int, case: TestCase, outcome: str, result: Result | None = None) -> dict:
    """One test's entry in the job's `tests` (a skipped test has no run to report)."""
    ran = result is not None
    return {
        "index": index,
        "name": case.name,
        "outcome": outcome,
        "stdout": result.stdout.decode("utf-8", errors="replace") if ran else "",
        "stdout_truncated": result.stdout_truncated if ran else False,
        "stderr": result.stderr.decode("utf-8", errors="replace") if ran else "",
        "exit_code": result.exit_code if ran else None,
        "signal": result.signal if ran else None,
        "usage": asdict(result.usage) if ran else None,
    }


def run_tests(
    program: Program,
    cases: list[TestCase],
    limits: Limits,
    compare: str = TRIMMED,
    stop_on_failure: bool = False,
    cancel: threading.Event | None = None,
    output_for: Callable[[int], OutputCallback | None] = lambda index: None,
    on_test: Callable[[dict, Result], None] = lambda entry, result: None,
) -> list[dict]:
    """Run `program` once per case, each in a fresh sandbox; the tests' results, in order.

    `output_for(index)` gives the output callback of a test's run, `on_test` is told of each
    test that ran as it ends. After a failure (with `stop_on_failure`) or a cancel, the rest
    are skipped."""
    cancel = cancel or threading.Event()
    results: list[dict] = []
    for index, case in enumerate(cases):
        if _stopped(results, stop_on_failure, cancel):
            results.append(test_result(index, case, SKIPPED))
            continue
        stdin = case.stdin.encode()
        result = programs.run(program, stdin, limits, output_for(index), cancel)
        outcome = CANCELLED if cancel.is_set() else verdict(result, case.expected_output, compare)
        results.append(test_result(index, case, outcome, result))
        on_test(results[-1], result)
    return results


def _stopped(results: list[dict], stop_on_failure: bool, cancel: threading.Event) -> bool:
    if cancel.is_set():
        return True
    return stop_on_failure and any(r["outcome"] != ACCEPTED for r in results)


def summary(results: list[dict]) -> dict:
    passed = sum(r["outcome"] == ACCEPTED for r in results)
    ran = sum(r["outcome"] not in (SKIPPED, CANCELLED) for r in results)
    return {"total": len(results), "passed": passed, "failed": ran - passed}


def job_outcome(results: list[dict]) -> str:
    """`accepted` when every test is, else the first failing test's outcome."""
    failing = (r["outcome"] for r in results if r["outcome"] not in (ACCEPTED, SKIPPED))
    return next(failing, ACCEPTED)


# --- The RQ side ------------------------------------------------------------------------------


def cases_of(job: JobDocument) -> list[TestCase]:
    return [TestCase(**case) for case in job.test_cases or []]


def max_seconds(job: JobDocument) -> float:
    """The longest a test job can take: its build, then every test at its wall-clock limit."""
    per_test = Limits(**job.limits).clamped().wall_seconds + 5  # with the sandbox's start/drain
    return programs.COMPILE.wall_seconds + len(job.test_cases or []) * per_test


def run_job(job: JobDocument) -> dict:
    """Build the job's program and run its tests; the result fields to store."""
    from collab.jobs import tasks  # it dispatches jobs here

    cases = cases_of(job)
    with tasks.watching_cancel(job.id) as cancel:
        program, failed = programs.build(job.language, tasks.code_of(job), cancel)
        if program is None:  # compilation_error, or cancelled while compiling
            skipped = [test_result(i, case, SKIPPED) for i, case in enumerate(cases)]
            return {**_build_failure(job, failed), "tests": skipped, "summary": summary(skipped)}
        live = _LiveTests(job)
        results = run_tests(
            program, cases, Limits(**job.limits), job.compare, job.stop_on_failure,
            cancel, live.output_for, live.ended,
        )  # fmt: skip
        live.finish()
    return {**_combined(job, program, results), "output_seq": live.seq}


def _build_failure(job: JobDocument, failed: Result) -> dict:
    from collab.jobs import tasks

    return {**tasks.result_fields(failed), "limits": job.limits, "output_seq": 0}


def _combined(job: JobDocument, program: Program, results: list[dict]) -> dict:
    """The job's own fields: its tests' outputs joined, their usage added up."""
    usages = [r["usage"] for r in results if r["usage"]]
    wall_ms = sum(u["wall_ms"] for u in usages)
    return {
        "output": "".join(r["stdout"] for r in results),
        "stderr": "".join(r["stderr"] for r in results),
        "exit_code": None,
        "signal": None,
        "outcome": job_outcome(results),
        "execution_time": round(wall_ms / 1000, 3),
        "usage": {
            "cpu_ms": sum(u["cpu_ms"] for u in usages),
            "wall_ms": wall_ms,
            "memory_peak_kb": max((u["memory_peak_kb"] for u in usages), default=0),
        },
        "limits": job.limits,
        "stdout_truncated": any(r["stdout_truncated"] for r in results),
        "stderr_truncated": False,
        "runtime": program.runtime,
        "tests": results,
        "summary": summary(results),
    }


class _LiveTests:
    """Each test's output relayed with its index, and its result stored then broadcast."""

    def __init__(self, job: JobDocument) -> None:
        self.job = job
        self.seq = 0
        self.relay = None
        self.done: list[dict] = []
        # The results so far are written by a thread of their own, the latest only: the next
        # test never waits for MongoDB.
        self.snapshot: list[dict] | None = None
        self.changed = threading.Condition()
        self.closing = False
        self.writer = threading.Thread(
            target=self.write_progress, args=(current_app._get_current_object(),), daemon=True
        )
        self.writer.start()

    def write_progress(self, app) -> None:
        with app.app_context():
            while True:
                with self.changed:
                    while self.snapshot is None and not self.closing:
                        self.changed.wait()
                    tests, self.snapshot = self.snapshot, None
                if tests is None:
                    return
                self._record(tests)
                with self.changed:  # at most one write per interval: the tests' CPU first
                    self.changed.wait_for(lambda: self.closing, PROGRESS_SECONDS)

    def _record(self, tests: list[dict]) -> None:
        so_far = {**summary(tests), "total": len(self.job.test_cases or [])}
        try:
            store.record_tests(self.job.id, tests, so_far)
        except PyMongoError:  # progress only: the result stored at the end has it all
            log.warning("could not record the tests of job %s", self.job.id)

    def finish(self) -> None:
        """The last test's output delivered (seq final) and the progress writer gone."""
        self.close()
        with self.changed:
            self.closing = True
            self.changed.notify()
        self.writer.join()

    def output_for(self, index: int):
        from collab.jobs import tasks

        self.close()
        self.relay = tasks.OutputRelay(self.job, test=index, seq=self.seq)
        return self.relay

    def close(self) -> None:
        """Deliver the running test's last output: seq is final."""
        if self.relay is not None:
            self.relay.close()
            self.seq = self.relay.seq
            self.relay = None

    def ended(self, entry: dict, result: Result) -> None:
        from collab.jobs import tasks

        self.close()  # its output events go before its job:test
        self.done.append(entry)
        with self.changed:
            self.snapshot = list(self.done)
            self.changed.notify()
        payload = {"job_id": self.job.id, "index": entry["index"], "outcome": entry["outcome"]}
        tasks.broadcast(self.job, "job:test", {**payload, "usage": entry["usage"]})
