"""Line diffs between two texts: hunks as data, and the same hunks as a unified diff.

Lines are compared with their line ends, so that a change of the last line's newline shows
(as `diff -u` does, with its "\\ No newline at end of file"). The common first and last lines
are set aside first; what differs in between is matched with difflib when it is small enough
(SequenceMatcher is quadratic at worst, and runs in the web process), else replaced whole.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from collab.documents.textdiff import common_prefix

CONTEXT_LINES = 3
MAX_MATCHED_LINES = 20_000  # lines of changed middle, both sides together
NO_NEWLINE = "\\ No newline at end of file\n"
MARKERS = {"equal": " ", "delete": "-", "insert": "+"}


@dataclass
class Hunk:
    old_start: int  # 1-based, as in a unified diff's header
    old_lines: int
    new_start: int
    new_lines: int
    lines: list[dict] = field(default_factory=list)  # {op, text}: text keeps its line end


def opcodes(old: list[str], new: list[str]) -> list[tuple[str, int, int, int, int]]:
    """difflib's opcodes over whole lists of lines."""
    prefix = common_prefix(old, new)
    suffix = common_prefix(old[prefix:][::-1], new[prefix:][::-1])
    old_middle, new_middle = old[prefix : len(old) - suffix], new[prefix : len(new) - suffix]
    if len(old_middle) + len(new_middle) > MAX_MATCHED_LINES:
        middle = [("replace", 0, len(old_middle), 0, len(new_middle))]
    else:
        matcher = difflib.SequenceMatcher(None, old_middle, new_middle, autojunk=False)
        middle = matcher.get_opcodes()
    codes = [("equal", 0, prefix, 0, prefix)] if prefix else []
    codes += [
        (tag, i1 + prefix, i2 + prefix, j1 + prefix, j2 + prefix)
        for tag, i1, i2, j1, j2 in middle
        if i1 != i2 or j1 != j2
    ]
    if suffix:
        codes.append(("equal", len(old) - suffix, len(old), len(new) - suffix, len(new)))
    return codes


class Opcodes:
    """Gives difflib's context grouping (get_grouped_opcodes, which reads only
    get_opcodes) our opcodes, computed with the prefix and suffix set aside."""

    def __init__(self, codes: list) -> None:
        self.codes = codes

    def get_opcodes(self) -> list:
        return self.codes

    get_grouped_opcodes = difflib.SequenceMatcher.get_grouped_opcodes


def hunks(old_text: str, new_text: str, context: int = CONTEXT_LINES) -> list[Hunk]:
    """The changes that turn `old_text` into `new_text`, with `context` lines around each."""
    old, new = lines_of(old_text), lines_of(new_text)
    codes = opcodes(old, new)
    if all(tag == "equal" for tag, *_ in codes):
        return []
    return [hunk(group, old, new) for group in Opcodes(codes).get_grouped_opcodes(context)]


def lines_of(text: str) -> list[str]:
    """The lines of `text`, each with its "\n" (the last may lack one). Only "\n" ends a
    line, as for diff and patch (str.splitlines also splits at \r, \f, U+2028...)."""
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def hunk(group: list, old: list[str], new: list[str]) -> Hunk:
    first, last = group[0], group[-1]
    old_from, old_to, new_from, new_to = first[1], last[2], first[3], last[4]
    lines = []
    for tag, i1, i2, j1, j2 in group:
        if tag == "equal":
            lines += [{"op": "equal", "text": line} for line in old[i1:i2]]
            continue
        lines += [{"op": "delete", "text": line} for line in old[i1:i2]]
        lines += [{"op": "insert", "text": line} for line in new[j1:j2]]
    return Hunk(
        old_start=header_start(old_from, old_to),
        old_lines=old_to - old_from,
        new_start=header_start(new_from, new_to),
        new_lines=new_to - new_from,
        lines=lines,
    )


def header_start(start: int, stop: int) -> int:
    # A unified diff numbers lines from 1, and an empty range by the line before it.
    return start + 1 if stop > start else start


def unified(hunks_: list[Hunk], old_label: str, new_label: str) -> str:
    """The hunks as a unified diff (`patch` applies it to the old text)."""
    if not hunks_:
        return ""
    out = [f"--- {old_label}\n", f"+++ {new_label}\n"]
    for each in hunks_:
        out.append(
            f"@@ -{unified_range(each.old_start, each.old_lines)}"
            f" +{unified_range(each.new_start, each.new_lines)} @@\n"
        )
        for line in each.lines:
            out.append(MARKERS[line["op"]] + line["text"])
            if not line["text"].endswith("\n"):
                out.append("\n" + NO_NEWLINE)
    return "".join(out)


def unified_range(start: int, length: int) -> str:
    return str(start) if length == 1 else f"{start},{length}"
