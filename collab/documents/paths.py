"""Document names as file paths: what a run of the workspace (collab/jobs/workspace_files.py)
makes of each document. Other names stay valid document names; a run skips them."""

from __future__ import annotations

import re

MAX_PATH = 100
SEGMENT = re.compile(r"[A-Za-z0-9._-]+")


def is_valid_path(name: str) -> bool:
    """`[A-Za-z0-9._-]` segments separated by '/', none of them '.' or '..', no leading or
    trailing '/' (nor '//'), at most MAX_PATH characters."""
    if not 0 < len(name) <= MAX_PATH:
        return False
    return all(
        SEGMENT.fullmatch(segment) and segment not in (".", "..") for segment in name.split("/")
    )
