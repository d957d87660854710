"""What the live job workers can run, so that the API offers only that.

At start-up a job worker probes its sandbox for real: it finds bubblewrap, builds the seccomp
filter, then runs a tiny program of every installed language in the sandbox. It logs what it
found (an ERROR block when no job could run) and advertises the languages that passed in Redis,
under a key of its own with a TTL that a heartbeat thread renews. The web lists the languages
of every advertisement that has not expired: a worker that died drops out within
ADVERTISEMENT_TTL_SECONDS, and one whose sandbox breaks while it runs withdraws at once and
probes again.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from dataclasses import asdict, dataclass, field

from flask import Flask

from collab.extensions import redis_client
from collab.jobs import cgroups, languages, sandbox
from collab.jobs.sandbox import Limits, Outcome, SandboxUnavailable

log = logging.getLogger(__name__)

WORKERS_KEY = "collab:jobs:workers"  # set of the names of workers that advertised
ADVERTISEMENT_KEY = "collab:jobs:worker:{}"  # JSON of one worker's report, with a TTL
ADVERTISEMENT_TTL_SECONDS = 30
HEARTBEAT_SECONDS = 10
# Small and short: compiling C++ within them is the slowest probe (~0.5 s).
PROBE_LIMITS = Limits(wall_seconds=5, memory_mb=128)
BANNER = "*" * 78


@dataclass(frozen=True)
class RunnableLanguage:
    """A language as GET /languages shows it."""

    name: str
    version: str
    compiled: bool


@dataclass(frozen=True)
class Report:
    """What a worker found at start-up: its sandbox, and the languages that ran in it."""

    sandbox: str  # which bubblewrap, filter and cgroups; or why there is no sandbox
    languages: list[RunnableLanguage] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # language -> why it did not run

    @property
    def can_run_jobs(self) -> bool:
        return bool(self.languages)


# Worker side


def probe() -> Report:
    """Check the sandbox and every installed language by running them (takes ~1 s)."""
    try:
        described = describe_sandbox()
    except SandboxUnavailable as exc:
        return Report(sandbox=f"unavailable: {exc}")
    runnable, failures = [], {}
    for language in languages.available():
        problem = probe_language(language)
        if problem is None:
            runnable.append(RunnableLanguage(language.name, language.version, language.compiled))
        else:
            failures[language.name] = problem
    return Report(sandbox=described, languages=runnable, failures=failures)


def describe_sandbox() -> str:
    """Which bubblewrap, filter and cgroups jobs get; raises SandboxUnavailable."""
    found = sandbox.find_bubblewrap()
    program = sandbox.seccomp_program()
    if cgroups.backend() is None:
        raise SandboxUnavailable("no writable cgroup hierarchy to limit jobs (run as root)")
    version = subprocess.run(
        [found.path, "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout.strip()
    return (
        f"{version or 'bubblewrap'} at {found.path} ({found.origin}), "
        f"seccomp filter of {len(program) // 8} BPF instructions, cgroups {cgroups.backend()}"
    )


def probe_language(language: languages.Language) -> str | None:
    """None if its hello program printed "ok" in the sandbox, else why not."""
    try:
        result = sandbox.run(language.name, language.hello, limits=PROBE_LIMITS)
    except (SandboxUnavailable, ValueError, OSError) as exc:
        return str(exc)
    if result.outcome == Outcome.SUCCESS and result.stdout == b"ok\n":
        return None
    details = (result.compile_output or result.stderr.decode(errors="replace")).strip()
    return f"{result.outcome.value}: {details[-300:]}" if details else result.outcome.value


def log_report(report: Report) -> None:
    """The start-up report: what `make run` shows on its console for the worker."""
    for name, problem in report.failures.items():
        log.warning("language %s does not run in the sandbox: %s", name, problem)
    if report.can_run_jobs:
        runnable = ", ".join(f"{lang.name} ({lang.version})" for lang in report.languages)
        log.info("sandbox: %s", report.sandbox)
        log.info("languages this worker runs: %s", runnable)
        return
    log.error(
        "\n%s\nNO CODE CAN RUN ON THIS WORKER: it takes no code-execution job.\n"
        "Sandbox: %s\nUntil a worker with a working sandbox runs, GET /api/v1/languages is "
        "empty and POST /api/v1/jobs answers 503. Fix the sandbox, then restart the worker.\n%s",
        BANNER,
        report.sandbox,
        BANNER,
    )


def advertise(worker_name: str, report: Report) -> None:
    """Publish (or renew) what this worker runs; nothing when it runs nothing."""
    key = ADVERTISEMENT_KEY.format(worker_name)
    if not report.can_run_jobs:
        withdraw(worker_name)
        return
    payload = json.dumps([asdict(language) for language in report.languages])
    pipe = redis_client.pipeline()
    pipe.set(key, payload, ex=ADVERTISEMENT_TTL_SECONDS).sadd(WORKERS_KEY, worker_name)
    pipe.execute()


def withdraw(worker_name: str) -> None:
    redis_client.pipeline().delete(ADVERTISEMENT_KEY.format(worker_name)).srem(
        WORKERS_KEY, worker_name
    ).execute()


class Heartbeat:
    """Renews a worker's advertisement every HEARTBEAT_SECONDS, probing again first when the
    sandbox failed a job meanwhile or when the last probe found nothing to run."""

    def __init__(self, app: Flask, worker_name: str, report: Report) -> None:
        self.app = app
        self.worker_name = worker_name
        self.report = report
        self.reprobe = threading.Event()
        self.stopped = threading.Event()

    def start(self) -> None:
        global _heartbeat
        _heartbeat = self
        with self.app.app_context():
            advertise(self.worker_name, self.report)
        threading.Thread(target=self._loop, name="job-worker-heartbeat", daemon=True).start()

    def sandbox_failed(self) -> None:
        with self.app.app_context():
            withdraw(self.worker_name)
        self.reprobe.set()

    def _loop(self) -> None:
        with self.app.app_context():
            while not self.stopped.wait(HEARTBEAT_SECONDS):
                self._beat()

    def _beat(self) -> None:
        if self.reprobe.is_set() or not self.report.can_run_jobs:
            self.reprobe.clear()
            self.report = probe()
            log_report(self.report)
        try:
            advertise(self.worker_name, self.report)
        except Exception:  # a Redis outage must not end the heartbeat
            log.warning("could not advertise worker %s", self.worker_name, exc_info=True)


_heartbeat: Heartbeat | None = None


def sandbox_failed() -> None:
    """A job found the sandbox unusable: stop advertising this worker until a probe passes."""
    if _heartbeat is not None:
        _heartbeat.sandbox_failed()


# Web side


def runnable_languages() -> list[RunnableLanguage]:
    """The languages some live worker runs, in the product's order (one entry per name)."""
    names = redis_client.smembers(WORKERS_KEY)
    if not names:
        return []
    ordered = sorted(names)
    reports = redis_client.mget([ADVERTISEMENT_KEY.format(name) for name in ordered])
    expired = [name for name, raw in zip(ordered, reports, strict=True) if raw is None]
    if expired:
        redis_client.srem(WORKERS_KEY, *expired)
    found: dict[str, RunnableLanguage] = {}
    for raw in filter(None, reports):
        for item in json.loads(raw):
            found.setdefault(item["name"], RunnableLanguage(**item))
    return [found[name] for name in languages.NAMES if name in found]
