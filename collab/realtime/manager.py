"""The Socket.IO client manager: Redis pub/sub between instances, and a feed of documents.

Every instance receives every `doc:update` broadcast through the message queue, its own
included: the stored update and its seq. Handing them to this process's document replicas
(engine.Child.feed) keeps the replicas of documents edited on several instances current
without reading the database before each edit.
"""

from __future__ import annotations

import base64
import logging
import uuid

from socketio import RedisManager
from socketio.packet import Packet

from collab.documents.engine import Engine

log = logging.getLogger(__name__)


class CollabRedisManager(RedisManager):
    def __init__(self, *args, engine: Engine, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.documents = engine

    def _handle_emit(self, message) -> None:
        super()._handle_emit(message)
        if isinstance(message, dict) and message.get("event") == "doc:update":
            try:
                self.feed(broadcast_data(message))
            except (KeyError, TypeError, ValueError):  # not ours to break the listener over
                log.warning("a doc:update broadcast could not feed the replicas", exc_info=True)

    def feed(self, data: dict) -> None:
        document_id = uuid.UUID(data["doc_id"])
        update, seq = data["update"], data["seq"]
        if isinstance(update, bytes) and isinstance(seq, int):
            self.documents.child_for(document_id).feed(str(document_id), seq, update)


def broadcast_data(message: dict) -> dict:
    """The event's payload, its binary attachments put back (as the base manager does)."""
    data = message["data"]
    if message.get("binary"):
        attachments = [base64.b64decode(part) for part in data[1:]]
        data = Packet.reconstruct_binary(data[0], attachments)
    if isinstance(data, list):
        data = data[0]
    return data
