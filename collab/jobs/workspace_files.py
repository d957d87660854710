"""Runs of a workspace: its documents as the files of one job, read at submission.

Every document whose name is a valid path (collab/documents/paths.py) becomes a file under
the job's /box; the others are listed as `skipped`. Each file is read through the content
API in one read (its text and its seq are of the same version), and stored with the job, so
the worker runs exactly what was submitted whatever is edited meanwhile.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask_smorest import abort
from sqlalchemy import select

from collab.documents import content
from collab.documents.paths import is_valid_path
from collab.extensions import db
from collab.jobs import languages, sandbox
from collab.models import Document

MAX_FILES = sandbox.MAX_FILES
MAX_TOTAL_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Snapshot:
    files: list[dict]  # {doc_id, name, seq, bytes, content}: stored; the API shows no content
    skipped: list[str]  # names that are not paths (or clash with a folder of another file)


def snapshot(workspace_id: uuid.UUID, entry: str) -> Snapshot:
    """The workspace's files as of now; 422 past MAX_FILES or without the entry, 413 past
    MAX_TOTAL_BYTES."""
    documents = db.session.execute(
        select(Document.id, Document.name)
        .where(Document.workspace_id == workspace_id)
        .order_by(Document.name)
    ).all()
    names = [row.name for row in documents if is_valid_path(row.name)]
    usable = set(names) - clashing(names)
    if len(usable) > MAX_FILES:
        abort(
            422, message=f"A run takes at most {MAX_FILES} files; the workspace has {len(usable)}"
        )
    if entry not in usable:
        abort(422, message=f"The workspace has no file {entry!r} to run")
    files, total = [], 0
    for row in documents:
        if row.name in usable:
            files.append(read_file(row.id, row.name))
            total += files[-1]["bytes"]
            if total > MAX_TOTAL_BYTES:
                raise content.DocumentTooLarge(
                    f"A run's files may not exceed {MAX_TOTAL_BYTES} bytes"
                )
    skipped = [row.name for row in documents if row.name not in usable]
    return Snapshot(files=files, skipped=skipped)


def clashing(names: list[str]) -> set[str]:
    """Names that cannot all be files: a file named like another file's folder ("lib" and
    "lib/util.py"): the folder's files are skipped."""
    present = set(names)
    return {name for name in names if any(p in present for p in parents(name))}


def parents(path: str) -> list[str]:
    segments = path.split("/")
    return ["/".join(segments[:i]) for i in range(1, len(segments))]


def read_file(doc_id: uuid.UUID, name: str) -> dict:
    loaded = content.read(doc_id, text=True)  # text and seq of one version
    data = loaded.text
    return {
        "doc_id": str(doc_id),
        "name": name,
        "seq": loaded.seq,
        "bytes": len(data.encode("utf-8")),
        "content": data,
    }


def language_of(entry: str, language: str | None) -> str:
    """The language given, else the entry's by its extension (422 if it has none)."""
    found = language or languages.language_of(entry)
    if found is None:
        message = f"No language runs {entry!r}; name it with language"
        abort(422, message=message, messages={"json": {"language": [message]}})
    return found


def files_of(entry: str, files: list[dict]) -> sandbox.Files:
    """What the sandbox runs for a stored workspace job."""
    contents = {file["name"]: file["content"].encode("utf-8") for file in files}
    return sandbox.Files(entry=entry, contents=contents)
