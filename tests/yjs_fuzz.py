"""Hostile Yjs V1 bytes for fuzzing: random bytes, mutations of real updates, and structurally
valid text updates whose ids, origins, clocks and lengths point anywhere (the kind that passes
the format checks and made Yrs panic, abort or segfault)."""

from __future__ import annotations

import random

from pycrdt import Doc, Text

from collab.documents import wire


def var_uint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        if not number:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def var_string(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return var_uint(len(data)) + data


class Fuzzer:
    """Cases drawn from one seed: `update()` and `state_vector()`."""

    def __init__(self, seed: int, clients: list[int], real_updates: list[bytes]) -> None:
        self.rng = random.Random(seed)
        self.clients = clients  # the ids real edits used: origins that hit existing items
        self.real = real_updates

    def update(self) -> bytes:
        kind = self.rng.random()
        if kind < 0.15:
            return self.rng.randbytes(self.rng.randrange(1, 64))
        if kind < 0.45:
            return self.mutated(self.rng.choice(self.real))
        return self.structured()

    def state_vector(self) -> bytes:
        kind = self.rng.random()
        if kind < 0.3:
            return self.rng.randbytes(self.rng.randrange(1, 12))
        if kind < 0.5:
            return var_uint(self.rng.choice([2**20, 2**28, 2**32, 2**53]))
        pairs = [(self.client(), self.clock()) for _ in range(self.rng.randrange(0, 4))]
        data = var_uint(len(pairs)) + b"".join(var_uint(c) + var_uint(k) for c, k in pairs)
        return self.mutated(data) if self.rng.random() < 0.3 else data

    def mutated(self, data: bytes) -> bytes:
        out = bytearray(data)
        for _ in range(self.rng.randint(1, 4)):
            roll = self.rng.random()
            position = self.rng.randrange(len(out) + 1)
            if roll < 0.4 and out:
                out[min(position, len(out) - 1)] = self.rng.randrange(256)
            elif roll < 0.6:
                out.insert(position, self.rng.randrange(256))
            elif roll < 0.8 and out:
                del out[min(position, len(out) - 1)]
            else:
                out[position:position] = b"\xff" * self.rng.randint(1, 6)
        return bytes(out)

    def client(self) -> int:
        return self.rng.choice([*self.clients, 1, 2, self.rng.randrange(1, 50), 2**53 - 1])

    def clock(self) -> int:
        return self.rng.choice([0, 1, 2, 3, 5, 8, 13, self.rng.randrange(40), 2**31 - 2])

    def structured(self) -> bytes:
        sections = self.rng.sample([*self.clients, 7, 2**53 - 1], self.rng.choice([1, 1, 2]))
        body = var_uint(len(sections))
        for client in sections:
            structs = [self.struct() for _ in range(self.rng.randrange(1, 5))]
            body += var_uint(len(structs)) + var_uint(client) + var_uint(self.clock())
            body += b"".join(structs)
        return body + self.delete_set()

    def struct(self) -> bytes:
        roll = self.rng.random()
        if roll < 0.1:
            return bytes([self.rng.choice([wire.GC, wire.SKIP])]) + var_uint(self.length())
        kind, content = self.content()
        origin = self.rng.random() < 0.6
        right = self.rng.random() < 0.4
        info = kind | (wire.HAS_ORIGIN if origin else 0) | (wire.HAS_RIGHT_ORIGIN if right else 0)
        out = bytes([info])
        for present in (origin, right):
            if present:
                out += var_uint(self.client()) + var_uint(self.clock())
        if not (origin or right):
            out += var_uint(1) + var_string(wire.ROOT)
        return out + content

    def content(self) -> tuple[int, bytes]:
        kind = self.rng.choice([wire.STRING] * 3 + [wire.DELETED, wire.FORMAT, wire.EMBED])
        if kind == wire.STRING:
            text = self.rng.choice(["", "x", "abc", "é", "😀", "\x00", "a" * 30])
            return kind, var_string(text)
        if kind == wire.DELETED:
            return kind, var_uint(self.length())
        if kind == wire.FORMAT:
            return kind, var_string("bold") + var_string(self.rng.choice(["true", "null", "{}"]))
        return kind, var_string(self.rng.choice(["{}", "1", '"s"']))

    def length(self) -> int:
        return self.rng.choice([1, 2, 5, 100, 2**20])

    def delete_set(self) -> bytes:
        if self.rng.random() < 0.6:
            return b"\x00"
        ranges = [(self.rng.randrange(30), self.length()) for _ in range(self.rng.randint(1, 2))]
        body = var_uint(self.client()) + var_uint(len(ranges))
        return var_uint(1) + body + b"".join(var_uint(c) + var_uint(n) for c, n in ranges)


def real_edits(seed: int, count: int) -> tuple[list[bytes], list[int]]:
    """Updates of two clients editing one text (with a format and an embed), and their ids."""
    rng = random.Random(seed)
    docs = [Doc(client_id=rng.randrange(1, 2**32)) for _ in range(2)]
    updates: list[bytes] = []
    for doc in docs:
        doc.observe(lambda event: updates.append(event.update))
    texts = [doc.get("content", type=Text) for doc in docs]
    for n in range(count):
        text = texts[n % 2]
        text.insert(rng.randint(0, len(text)), rng.choice(["ab", "c", "hello "]))
        if n % 7 == 6 and len(text) > 2:
            del text[0:1]
        if n % 11 == 10:
            text.format(0, 1, {"bold": True})
        other = docs[(n + 1) % 2]
        other.apply_update(docs[n % 2].get_update(other.get_state()))
    texts[0].insert_embed(0, {"image": "a.png"})
    return updates, [doc.client_id for doc in docs]
