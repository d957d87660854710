"""The Yjs V1 wire format, checked in pure Python before any byte of it reaches pycrdt.

Yrs (behind pycrdt) trusts what an update claims: a 5-byte state vector announcing 2^28 clients
makes it allocate a gigabyte, and structurally odd updates (zero-length structs, clocks past
2^32, a client sent twice, parents that are not types) make it panic or abort the process.
So every update and state vector from a client is decoded here first, strictly, with bounds on
what it may claim, and refused with `Malformed` (a ValueError) unless all of it is:

- well formed: every varint, string and struct complete, nothing left over, valid UTF-8;
- bounded: client ids below 2^53 (JavaScript's safe integers), clocks and lengths within
  MAX_CLOCK, lengths non-zero (but for text items), a client's structs sent once, counts no
  larger than the bytes left could hold (checked before anything is built from them);
- a text edit: our documents are text (`getText("content")`), so an item may hold a string,
  a deletion, a format attribute or an embed (what Y.Text writes), its parent is the root
  `content` or its neighbours', and it has no map key. Nested types, arrays, maps, binary
  and sub-documents are refused.

This does not prove an update safe to apply to a given document (its origins may point
anywhere); collab/documents/replica.py applies it in a child process where a crash costs
only that call. The format is lib0's encoding as Yjs 13 writes it (UpdateEncoderV1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MAX_CLIENT = 2**53 - 1
MAX_CLOCK = 2**31 - 1  # Yrs keeps clocks in 32 bits; no real client gets near 2^31
MAX_JSON_BYTES = 64 * 1024  # one format attribute or embed
MAX_JSON_DEPTH = 32
ROOT = "content"

# The low 5 bits of a struct's info byte say what it is.
GC, DELETED, JSON_CONTENT, BINARY, STRING, EMBED, FORMAT, TYPE, ANY, DOC, SKIP = range(11)
TEXT_CONTENT = {DELETED, STRING, EMBED, FORMAT}
HAS_ORIGIN, HAS_RIGHT_ORIGIN, HAS_PARENT_SUB = 0x80, 0x40, 0x20
CONTENT_BITS = 0x1F


class Malformed(ValueError):
    """The bytes are not an update (or state vector) this server accepts; says why."""


@dataclass(frozen=True)
class UpdateShape:
    """What a checked update holds."""

    clients: int
    structs: int
    inserted_bytes: int  # UTF-8 bytes of inserted text, formats and embeds
    deletions: int  # ranges in its delete set
    sections: tuple[tuple[int, int, int], ...] = ()  # (client, first clock, clock after)
    references: tuple[tuple[int, int], ...] = ()  # the ids its items' origins point at

    def looks_like_an_edit(self, state: dict[int, int]) -> bool:
        """Whether this is what clients' edits look like to a replica whose state vector is
        `state`: each client's structs start at or before what the replica has of it (no
        gap), and every origin is an item the replica has or the update brings."""
        if any(start > state.get(client, 0) for client, start, _ in self.sections):
            return False
        brought = {client: (start, end) for client, start, end in self.sections}
        return all(
            clock < state.get(client, 0)
            or brought.get(client, (0, 0))[0] <= clock < brought.get(client, (0, 0))[1]
            for client, clock in self.references
        )


class Reader:
    def __init__(self, data: bytes) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise Malformed("Expected binary data")
        self.data = bytes(data)
        self.pos = 0

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise Malformed("Unexpected end of data")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def var_uint(self, maximum: int = MAX_CLIENT) -> int:
        """lib0's varUint: 7 bits per byte, least significant first."""
        data, pos, value, shift = self.data, self.pos, 0, 0
        while pos < len(data):  # the one hot loop of the checks: no method calls in it
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if value > maximum:
                raise Malformed(f"A number exceeds {maximum}")
            if byte < 0x80:
                self.pos = pos
                return value
            shift += 7
            if shift > 56:  # 8 bytes hold 53 bits; longer encodings are padding
                raise Malformed("A number is too long")
        raise Malformed("Unexpected end of data")

    def count(self, min_bytes_each: int) -> int:
        """A count of things that each take at least `min_bytes_each` bytes: bounded by the
        bytes left, before anything is built from it."""
        value = self.var_uint()
        if value * min_bytes_each > self.left:
            raise Malformed("A count claims more than the data holds")
        return value

    def raw(self, length: int) -> bytes:
        if length > self.left:
            raise Malformed("A length claims more than the data holds")
        chunk = self.data[self.pos : self.pos + length]
        self.pos += length
        return chunk

    def string(self) -> str:
        try:
            return self.raw(self.var_uint()).decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed("A string is not valid UTF-8") from None

    def finish(self) -> None:
        if self.left:
            raise Malformed("Unexpected bytes after the end")


def check_state_vector(data: bytes) -> dict[int, int]:
    """Check a state vector; what it says: client -> the clock it has up to."""
    reader = Reader(data)
    state = {}
    for _ in range(reader.count(min_bytes_each=2)):
        client = reader.var_uint(MAX_CLIENT)
        state[client] = reader.var_uint(MAX_CLOCK)
    reader.finish()
    return state


def check_update(data: bytes) -> UpdateShape:
    """Check a V1 update from a client; what it holds, or Malformed."""
    reader = Reader(data)
    clients = reader.count(min_bytes_each=4)  # structs, client, clock, one info byte
    sections: list[tuple[int, int, int]] = []
    references: list[tuple[int, int]] = []
    structs = inserted = 0
    for _ in range(clients):
        n_structs = reader.count(min_bytes_each=2)
        client = reader.var_uint(MAX_CLIENT)
        if n_structs == 0:
            raise Malformed("A client section holds no structs")
        if any(client == seen for seen, _, _ in sections):
            raise Malformed("A client's structs are sent twice")
        start = clock = reader.var_uint(MAX_CLOCK)
        for _ in range(n_structs):
            length, size = read_struct(reader, references)
            clock += length
            if clock > MAX_CLOCK:
                raise Malformed(f"A clock exceeds {MAX_CLOCK}")
            inserted += size
        structs += n_structs
        sections.append((client, start, clock))
    deletions = read_delete_set(reader)
    reader.finish()
    return UpdateShape(clients, structs, inserted, deletions, tuple(sections), tuple(references))


def read_struct(reader: Reader, references: list[tuple[int, int]]) -> tuple[int, int]:
    """One struct: (its length in clock units, the bytes of content it inserts). The ids its
    origins point at are added to `references`."""
    info = reader.byte()
    kind = info & CONTENT_BITS
    if kind in (GC, SKIP):
        if info != kind:
            raise Malformed("Flags on a GC or skip struct")
        return positive(reader.var_uint(MAX_CLOCK)), 0
    if kind not in TEXT_CONTENT:
        raise Malformed("Only text content is accepted (strings, formats, embeds, deletions)")
    if info & HAS_PARENT_SUB:
        raise Malformed("Text items have no map key")
    if info & HAS_ORIGIN:
        references.append(read_id(reader))
    if info & HAS_RIGHT_ORIGIN:
        references.append(read_id(reader))
    if not info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN):
        read_root_parent(reader)
    return read_content(reader, kind)


def read_id(reader: Reader) -> tuple[int, int]:
    return reader.var_uint(MAX_CLIENT), reader.var_uint(MAX_CLOCK)


def read_root_parent(reader: Reader) -> None:
    if reader.var_uint() != 1:
        raise Malformed("Nested types are not accepted: an item's parent must be the text")
    if reader.string() != ROOT:
        raise Malformed(f"Only the shared text {ROOT!r} may be edited")


def read_content(reader: Reader, kind: int) -> tuple[int, int]:
    # Not `positive`: Yrs itself writes empty strings, and deletions of them, where it split
    # a text item (seen in its full states); clients send back what they were sent.
    if kind == DELETED:
        return reader.var_uint(MAX_CLOCK), 0
    if kind == STRING:
        text = reader.string()
        return utf16_length(text), len(text.encode("utf-8"))
    if kind == EMBED:
        return 1, read_json(reader)
    key_size = len(reader.string().encode("utf-8"))  # FORMAT: key, then its JSON value
    return 1, key_size + read_json(reader)


def read_json(reader: Reader) -> int:
    """A JSON value written as a string (embeds, format values); its size in bytes."""
    raw = reader.string()
    if len(raw) > MAX_JSON_BYTES:
        raise Malformed(f"An embed or format value exceeds {MAX_JSON_BYTES} bytes")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise Malformed("An embed or format value is not JSON") from None
    if depth(value) > MAX_JSON_DEPTH:
        raise Malformed("An embed or format value is nested too deeply")
    return len(raw.encode("utf-8"))


def depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def read_delete_set(reader: Reader) -> int:
    ranges = 0
    for _ in range(reader.count(min_bytes_each=2)):
        reader.var_uint(MAX_CLIENT)
        for _ in range(reader.count(min_bytes_each=2)):
            clock = reader.var_uint(MAX_CLOCK)
            if clock + positive(reader.var_uint(MAX_CLOCK)) > MAX_CLOCK:
                raise Malformed(f"A deleted range exceeds clock {MAX_CLOCK}")
            ranges += 1
    return ranges


def positive(length: int) -> int:
    if length < 1:
        raise Malformed("A struct or range of length zero")
    return length


def utf16_length(text: str) -> int:
    """Yjs counts text in UTF-16 code units (a character beyond the BMP is two)."""
    return len(text.encode("utf-16-le")) // 2
