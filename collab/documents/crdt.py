"""The CRDT side of documents, with pycrdt (Yrs): Yjs-compatible updates in the V1 format.

A document's text is the shared type named `content`: `doc.get("content", type=Text)` in
pycrdt, `ydoc.getText('content')` in Yjs.

Native calls here do not yield to gevent. Loading a compacted document costs a few
milliseconds; merging a long log is left to the RQ worker (collab/documents/tasks.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pycrdt import Doc, Text

log = logging.getLogger(__name__)

ROOT = "content"


def is_update(data: bytes) -> bool:
    """Whether `data` decodes as a V1 update (it is applied to a scratch document)."""
    try:
        Doc().apply_update(data)
    except ValueError:
        return False
    return True


def build(parts: Iterable[bytes]) -> Doc:
    """A document made of these updates, applied in order.

    Every stored update decoded when it was received. Should a combination of them still fail
    to apply, that one update is skipped with an error in the log: the rest of the document
    stays readable instead of every load failing."""
    doc = Doc()
    for part in parts:
        try:
            doc.apply_update(part)
        except (ValueError, RuntimeError):
            log.error("a stored document update failed to apply; skipped", exc_info=True)
    return doc


def text(doc: Doc) -> str:
    return str(doc.get(ROOT, type=Text))


def missing_from(doc: Doc, state_vector: bytes) -> bytes:
    """What a replica with `state_vector` lacks, as one update (ValueError if it is garbage)."""
    return doc.get_update(state_vector)
