"""The smallest edits that turn one text into another, for writing a document's text whole.

Offsets are in code points of the old text; pycrdt's Text counts UTF-8 bytes (`utf8_offset`).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

# SequenceMatcher is quadratic at worst: past this many code points of changed middle (after
# the common prefix and suffix are set aside), the middle is replaced as one range.
MAX_DIFFED = 20_000

Change = tuple[int, int, str]  # (start, end) of the old text replaced by the string


def changes(old: str, new: str) -> list[Change]:
    """Non-overlapping replacements, in order, that turn `old` into `new` (none if equal)."""
    prefix = common_prefix(old, new)
    suffix = common_prefix(old[prefix:][::-1], new[prefix:][::-1])
    old_middle, new_middle = old[prefix : len(old) - suffix], new[prefix : len(new) - suffix]
    if not old_middle and not new_middle:
        return []
    if len(old_middle) + len(new_middle) > MAX_DIFFED:
        return [(prefix, prefix + len(old_middle), new_middle)]
    matcher = difflib.SequenceMatcher(None, old_middle, new_middle, autojunk=False)
    return [
        (prefix + i1, prefix + i2, new_middle[j1:j2])
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]


def common_prefix(a: Sequence, b: Sequence) -> int:
    """How many leading items (characters, lines) `a` and `b` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def utf8_offset(text: str, index: int) -> int:
    """The UTF-8 byte offset of code point `index` of `text`."""
    return len(text[:index].encode("utf-8"))
