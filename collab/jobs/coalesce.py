"""Coalescing a job's output before it is stored and broadcast.

A program writing one byte at a time made one `job:output` event per pipe read: 5,088 events
for 64 KiB. The Coalescer collects the text of each stream and hands it on in one piece at
most once per FLUSH_SECONDS (the first piece at once), sooner when FLUSH_CHARS are waiting,
and whatever is left at `close()`: at most ~20 pieces a second, with nothing lost and each
stream's text in order. One piece is one stored chunk and one event, so `seq`s stay
consecutive.

Delivery runs in a thread of its own: the sandbox's read loop (which calls `add`) never waits
for Redis, and text that arrives just before a long silence is still delivered within
FLUSH_SECONDS, not when the program next writes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from flask import Flask

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.05
FLUSH_CHARS = 16 * 1024

Deliver = Callable[[str, str], None]  # (stream, text)


class Coalescer:
    """Collects (stream, text) pieces and delivers them coalesced, per stream, in order.

    When both streams are waiting, the one that has waited longer goes first and the other
    at the next tick: one delivery per tick whatever the program does. (The order between
    stdout and stderr within a tick is not kept; two pipes never guaranteed it.)"""

    def __init__(self, deliver: Deliver, app: Flask | None = None) -> None:
        self.deliver = deliver
        self.app = app
        self.pending: dict[str, list[str]] = {}  # insertion order: the longest-waiting first
        self.sizes: dict[str, int] = {}
        self.condition = threading.Condition()
        self.closing = False
        self.thread = threading.Thread(target=self.run, name="job-output", daemon=True)
        self.thread.start()

    def add(self, stream: str, text: str) -> None:
        with self.condition:
            # Wake the thread only when it has something new to decide: it sleeps until the
            # next tick anyway once something is pending (a wake-up per read cost CPU).
            wake = not self.pending
            self.pending.setdefault(stream, []).append(text)
            self.sizes[stream] = self.sizes.get(stream, 0) + len(text)
            if wake or self.sizes[stream] >= FLUSH_CHARS:
                self.condition.notify()

    def close(self) -> None:
        """Stop the thread, then deliver what is left (in this thread: still in order)."""
        with self.condition:
            self.closing = True
            self.condition.notify()
        self.thread.join()
        while self.pending:
            self.hand_on(*self.take())

    def run(self) -> None:
        with self.app.app_context() if self.app else contextlib.nullcontext():
            next_at = 0.0
            while (piece := self.next_piece(next_at)) is not None:
                self.hand_on(*piece)
                next_at = time.monotonic() + FLUSH_SECONDS

    def next_piece(self, next_at: float) -> tuple[str, str] | None:
        """Wait until something is due (a tick passed, or a stream is full); None once
        closing."""
        with self.condition:
            while not self.closing:
                wait = next_at - time.monotonic()
                if self.pending and (wait <= 0 or self.full()):
                    return self.take()
                self.condition.wait(timeout=wait if self.pending else None)
            return None

    def full(self) -> bool:
        return any(size >= FLUSH_CHARS for size in self.sizes.values())

    def take(self) -> tuple[str, str]:
        stream = next(iter(self.pending))
        text = "".join(self.pending.pop(stream))
        del self.sizes[stream]
        return stream, text

    def hand_on(self, stream: str, text: str) -> None:
        try:
            self.deliver(stream, text)
        except Exception:  # never lose the thread: the result stored at the end has the text
            log.exception("could not pass on a job's %s output", stream)
