"""Edits of one document that arrive together reach its replica in one call.

A document's edits are applied by one replica process per web process, one call at a time.
Under load (ten people typing in one document, on a machine whose cores are all busy) each
call waits for the one before it, and the wait grows with the queue. So an edit that finds
another edit of its document being applied waits, and whoever gets the document's turn next
takes every edit waiting by then, in one `apply_many` call: one database read and one round
trip for all of them, each still with its own verdict.

    answer = apply_together(document_id, update, call)    # as `apply`'s answer

`call(updates)` is content.py's: it brings the replica up to date and returns its answers.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Waiting:
    update: bytes
    answer: dict | None = None
    error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.answer is not None or self.error is not None


@dataclass
class Queue:
    turn: threading.Lock = field(default_factory=threading.Lock)  # held by who applies
    waiting: list[Waiting] = field(default_factory=list)
    users: int = 0  # callers inside; the queue is forgotten when none is


class Queues:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queues: dict[uuid.UUID, Queue] = {}

    def enter(self, document_id: uuid.UUID, waiting: Waiting) -> Queue:
        with self.lock:
            queue = self.queues.setdefault(document_id, Queue())
            queue.users += 1
            queue.waiting.append(waiting)
            return queue

    def take(self, queue: Queue) -> list[Waiting]:
        with self.lock:
            batch, queue.waiting = queue.waiting, []
            return batch

    def leave(self, document_id: uuid.UUID, queue: Queue) -> None:
        with self.lock:
            queue.users -= 1
            if not queue.users:
                del self.queues[document_id]


queues = Queues()


def apply_together(
    document_id: uuid.UUID, update: bytes, call: Callable[[list[bytes]], list[dict]]
) -> dict:
    mine = Waiting(update)
    queue = queues.enter(document_id, mine)
    try:
        with queue.turn:
            if not mine.done:
                run(queues.take(queue), call)
    finally:
        queues.leave(document_id, queue)
    if mine.error is not None:
        raise type(mine.error)(*mine.error.args)  # a copy: each caller raises its own
    return mine.answer


def run(batch: list[Waiting], call: Callable[[list[bytes]], list[dict]]) -> None:
    try:
        answers = call([waiting.update for waiting in batch])
    except Exception as error:  # noqa: BLE001 - not swallowed: every caller raises it
        for waiting in batch:
            waiting.error = error
        return
    for waiting, answer in zip(batch, answers, strict=True):
        waiting.answer = answer
