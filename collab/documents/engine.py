"""The replica processes (replica.py) of a web or worker process, and how to talk to them.

Each document is served by one child, chosen by its id, so its replica lives in one place
per process and its calls are serialized. A call that the child does not answer, because it
crashed or ran past its deadline, raises ReplicaCrashed; the child is killed and a new one is
started at the next call. Waiting for an answer uses select() on non-blocking pipes: under
gevent (the web) that yields to other greenlets, in the RQ worker it simply blocks.

The parent mirrors which seq each child holds of each document (`held`), so that only the
stored updates a replica lacks are read from the database and sent. Two notes ride on the
next request instead of costing a round trip of their own: "the update you applied is now
stored as seq N" (confirm) and "forget this document" (drop).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from collab.documents import ipc

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent.parent
HELD_ENTRIES = 10_000  # documents whose seq the parent remembers per child
# What a call that crashed its child costs whoever made it: the child's restart and the
# reloading of every document it held take about this much of the machine.
CRASH_COST_MS = 1000.0
SLOW_CALL_SECONDS = 1.0  # logged: a document whose calls queue up this long is worth a look
MAX_FEED_BYTES = 8 * 1024 * 1024  # updates waiting to be fed to one child

SPENT: ContextVar[list[float] | None] = ContextVar("replica_ms_spent", default=None)


@contextlib.contextmanager
def metered() -> Iterator[list[float]]:
    """Add up the replica CPU time (ms) the calls made inside spend: `spent[0]`."""
    spent = [0.0]
    token = SPENT.set(spent)
    try:
        yield spent
    finally:
        SPENT.reset(token)


def charge(milliseconds: float) -> None:
    spent = SPENT.get()
    if spent is not None:
        spent[0] += milliseconds


class ReplicaCrashed(Exception):
    """The replica process died or hung during the call; nothing it held is left."""


@dataclass(frozen=True)
class Settings:
    processes: int = 2
    timeout_seconds: float = 10.0
    memory_mb: int = 1024
    cache_mb: int = 256


@dataclass
class Process:
    """A started replica process and our ends of its pipes."""

    popen: subprocess.Popen
    requests: int  # our end of its stdin
    answers: int  # our end of its stdout

    @classmethod
    def spawn(cls, settings: Settings) -> Process:
        child_stdin, requests = os.pipe()
        answers, child_stdout = os.pipe()
        for fd in (requests, answers):
            os.set_blocking(fd, False)
        popen = subprocess.Popen(
            [sys.executable, "-E", "-s", "-m", "collab.documents.replica"],
            stdin=child_stdin,
            stdout=child_stdout,
            cwd=ROOT,
            env=child_environment(settings),
            close_fds=True,
        )
        os.close(child_stdin)
        os.close(child_stdout)
        return cls(popen, requests, answers)

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        if self.alive:
            self.popen.kill()
        self.popen.wait()
        os.close(self.requests)
        os.close(self.answers)


class Spare:
    """Processes started ahead of need, already past their imports (~0.3 s): a child that
    crashed is replaced at once. Two, so that an input crashing a child twice in a row (it is
    tried again before it is blamed) finds a warm one both times."""

    DEPTH = 2

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = threading.Lock()
        self.ready: deque[Process] = deque()

    def take(self) -> Process:
        with self.lock:
            while len(self.ready) < self.DEPTH + 1:
                self.ready.append(Process.spawn(self.settings))
            process = self.ready.popleft()
        if process.alive:
            return process
        process.kill()
        return Process.spawn(self.settings)

    def close(self) -> None:
        with self.lock:
            while self.ready:
                self.ready.popleft().kill()


@dataclass
class Child:
    """One replica process and what the parent knows of it.

    `lock` serializes calls; `notes` guards the mirror (`held`, `loaded_at`) and the notes
    that ride on the next request (confirms, drops, feeds), so that noting something never
    waits for a call in flight."""

    settings: Settings
    name: str
    spare: Spare | None = None  # where a new process comes from (None: spawned on the spot)
    process: Process | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    notes: threading.Lock = field(default_factory=threading.Lock)
    held: dict[str, list[int]] = field(default_factory=dict)  # doc -> [seq, epoch]
    loaded_at: dict[str, float] = field(default_factory=dict)  # doc -> when it was current
    confirms: list[list] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)
    feeds: list[list] = field(default_factory=list)
    feed_bytes: int = 0
    crashes: int = 0

    def call(self, request: dict, timeout: float | None = None) -> dict:
        """Send one request, wait for its answer. The answer's `held` (the seq the child now
        holds of the request's document, or None) updates the mirror."""
        asked = time.monotonic()
        with self.lock:
            got = time.monotonic()
            self.start()
            request = {**request, **self.take_notes()}
            deadline = time.monotonic() + (timeout or self.settings.timeout_seconds)
            try:
                write_all(self.process.requests, ipc.encode(request), deadline)
                answer = ipc.decode(read_frame(self.process.answers, deadline))
            except (OSError, ipc.FrameError, TimeoutError) as error:
                self.crashed(request.get("op"), error)
                charge(CRASH_COST_MS)
                raise ReplicaCrashed(str(error)) from None
            self.remember(request.get("doc"), answer.get("held"))
            if time.monotonic() - asked > SLOW_CALL_SECONDS:
                log.warning(
                    "replica %s: %s took %.2f s (%.2f s waiting for its turn)",
                    self.name,
                    request.get("op"),
                    time.monotonic() - asked,
                    got - asked,
                )
            spent = answer.get("cpu_ms")
            charge(float(spent) if isinstance(spent, int | float) else 0.0)
            return answer

    def take_notes(self) -> dict:
        with self.notes:
            notes = {"confirm": self.confirms, "drop": self.drops, "feed": self.feeds}
            self.confirms, self.drops, self.feeds, self.feed_bytes = [], [], [], 0
        return notes

    def base(self, doc: str) -> int:
        """The seq this child holds of the document (0: none)."""
        held = self.held.get(doc)
        return held[0] if held else 0

    def remember(self, doc: str | None, held: list[int] | None) -> None:
        if doc is None:
            return
        with self.notes:
            if held is None:
                self.forget(doc)
                return
            if len(self.held) >= HELD_ENTRIES:
                self.held.clear()  # the children answer "stale" and get a fresh copy
                self.loaded_at.clear()
            self.held[doc] = held

    def forget(self, doc: str) -> None:
        self.held.pop(doc, None)
        self.loaded_at.pop(doc, None)

    def refreshed(self, doc: str) -> None:
        """The replica of `doc` was just brought up to date from the database."""
        with self.notes:
            self.loaded_at[doc] = time.monotonic()

    def refreshed_within(self, doc: str, seconds: float) -> bool:
        return doc in self.held and time.monotonic() - self.loaded_at.get(doc, -1e9) < seconds

    def confirm(self, doc: str, held: list[int], after: int) -> None:
        """The update applied by the replica `held` ([seq, epoch], as its answer said) is
        stored as seq `after`. Tells the child only when it then holds every update up to
        `after` (the update came right after `seq`, and the replica was not rebuilt since)."""
        before, epoch = held
        with self.notes:
            if after == before + 1 and self.held.get(doc) == [before, epoch]:
                self.held[doc] = [after, epoch]
                self.confirms.append([doc, epoch, before, after])

    def feed(self, doc: str, seq: int, update: bytes) -> None:
        """An update stored as `seq` (by any instance: from the Socket.IO message queue).
        If the replica holds the document up to the seq before, it takes it on the next
        request, and stays current without reading the database."""
        with self.notes:
            held = self.held.get(doc)
            if held is None or held[0] != seq - 1:
                return  # not held, or a gap: the database fills it when needed
            if self.feed_bytes + len(update) > MAX_FEED_BYTES:
                self.forget(doc)  # the next call reads the database instead
                return
            self.held[doc] = [seq, held[1]]
            self.loaded_at[doc] = time.monotonic()
            self.feeds.append([doc, held[1], seq, update])
            self.feed_bytes += len(update)

    def drop(self, doc: str) -> None:
        with self.notes:
            self.forget(doc)
            self.drops.append(doc)

    @property
    def pid(self) -> int | None:
        return self.process.popen.pid if self.process is not None else None

    def start(self) -> None:
        if self.process is not None and self.process.alive:
            return
        self.close()
        self.process = self.spare.take() if self.spare else Process.spawn(self.settings)

    def crashed(self, op: str | None, error: Exception) -> None:
        pid = self.pid
        self.close()
        self.crashes += 1
        log.error("document replica %s (pid %s) failed during %r: %s", self.name, pid, op, error)

    def close(self) -> None:
        """Kill the child (if any) and forget everything it held."""
        if self.process is not None:
            self.process.kill()
            self.process = None
        with self.notes:
            self.held.clear()
            self.loaded_at.clear()
            self.confirms, self.drops, self.feeds, self.feed_bytes = [], [], [], 0


def child_environment(settings: Settings) -> dict[str, str]:
    """Nothing of ours (no secrets, no database URL, not even PATH: it runs nothing)."""
    return {
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "random",
        "RUST_BACKTRACE": "0",  # a panic's one line is enough; a flood of them stays readable
        "DOCUMENT_REPLICA_MEMORY_MB": str(settings.memory_mb),
        "DOCUMENT_REPLICA_CACHE_MB": str(settings.cache_mb),
    }


def write_all(fd: int, data: bytes, deadline: float) -> None:
    view = memoryview(data)
    while view:
        wait(fd, deadline, writing=True)
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            continue


def read_exactly(fd: int, length: int, deadline: float) -> bytes:
    chunks, left = [], length
    while left:
        wait(fd, deadline)
        try:
            chunk = os.read(fd, min(left, 1 << 20))
        except BlockingIOError:
            continue
        if not chunk:
            raise OSError(errno.EPIPE, "the replica process closed its output")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float) -> bytes:
    return read_exactly(fd, ipc.frame_length(read_exactly(fd, 4, deadline)), deadline)


def wait(fd: int, deadline: float, writing: bool = False) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the replica process did not answer in time")
    watched = ([], [fd], []) if writing else ([fd], [], [])
    ready = select.select(*watched, remaining)
    if not any(ready):
        raise TimeoutError("the replica process did not answer in time")


class Engine:
    """The children of this process: one per document id's hash, and one for checks
    (compaction and repair), which may crash it on purpose while looking for a bad part."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.spare = Spare(settings)
        self.children = [Child(settings, f"#{i}", self.spare) for i in range(settings.processes)]
        self.checker = Child(settings, "checker", self.spare)

    def child_for(self, document_id: uuid.UUID) -> Child:
        return self.children[document_id.int % len(self.children)]

    def close(self) -> None:
        for child in [*self.children, self.checker]:
            with child.lock:
                child.close()
        self.spare.close()
