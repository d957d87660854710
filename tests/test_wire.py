"""The Yjs V1 format checks (collab/documents/wire.py): everything real clients write is
accepted, and every claim past the bounds is refused before anything is built from it."""

from __future__ import annotations

import random

import pytest
from pycrdt import Doc, Text

from collab.documents import wire
from collab.documents.wire import Malformed


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


def string_item(text: str = "x", root: str = "content", info: int = wire.STRING) -> bytes:
    return bytes([info]) + var_uint(1) + var_string(root) + var_string(text)


def update(*clients: tuple[int, int, list[bytes]], deletes: bytes = b"\x00") -> bytes:
    out = var_uint(len(clients))
    for client, clock, structs in clients:
        out += var_uint(len(structs)) + var_uint(client) + var_uint(clock) + b"".join(structs)
    return out + deletes


def edited_documents(seed: int, steps: int) -> tuple[list[bytes], list[Doc]]:
    """Three pycrdt clients editing at random (text, emoji, deletions, formats, embeds) and
    syncing now and then: every update they emit, and their documents."""
    rng = random.Random(seed)
    docs = [Doc() for _ in range(3)]
    texts = [doc.get("content", type=Text) for doc in docs]
    updates: list[bytes] = []
    for doc in docs:
        doc.observe(lambda event: updates.append(event.update))
    for _ in range(steps):
        i = rng.randrange(3)
        edit_at_random(rng, texts[i])
        if rng.random() < 0.1:
            j = rng.randrange(3)
            docs[j].apply_update(docs[i].get_update(docs[j].get_state()))
    return updates, docs


def edit_at_random(rng: random.Random, text: Text) -> None:
    current = str(text)

    def offset(index: int) -> int:  # pycrdt indexes text in UTF-8 bytes
        return len(current[:index].encode())

    roll = rng.random()
    if roll < 0.6 or not current:
        chars = rng.choice(["a", "héllo", "😀", "\n", "x" * 40])
        text.insert(offset(rng.randint(0, len(current))), chars)
    elif roll < 0.9:
        start = rng.randrange(len(current))
        del text[offset(start) : offset(min(len(current), start + rng.randint(1, 5)))]
    elif roll < 0.95:
        text.format(0, offset(1), {"bold": True})
    else:
        text.insert_embed(offset(rng.randint(0, len(current))), {"image": "a.png"})


def test_every_update_real_clients_write_is_accepted():
    updates, docs = edited_documents(seed=7, steps=2000)
    full_states = [doc.get_update() for doc in docs]
    diffs = [docs[0].get_update(docs[1].get_state()), docs[2].get_update(docs[0].get_state())]
    for data in [*updates, *full_states, *diffs]:
        wire.check_update(data)
    for doc in docs:
        wire.check_state_vector(doc.get_state())
    assert len(updates) > 2000


def test_what_an_update_holds_is_counted():
    shape = wire.check_update(update((7, 3, [string_item("héllo"), string_item("!")])))
    assert (shape.clients, shape.structs, shape.inserted_bytes, shape.deletions) == (1, 2, 7, 0)
    assert shape.sections == ((7, 3, 9),)


def test_a_clients_edit_looks_like_one_and_fuzzed_claims_do_not():
    author = Doc()
    text = author.get("content", type=Text)
    text += "hello"
    known = wire.check_state_vector(author.get_state())
    before = author.get_state()
    text.insert(2, "XY")
    edit = wire.check_update(author.get_update(before))
    assert edit.looks_like_an_edit(known)
    client = author.client_id
    gap = wire.check_update(update((client, 9, [string_item()])))
    assert not gap.looks_like_an_edit(known)
    origin = bytes([wire.STRING | wire.HAS_ORIGIN]) + var_uint(client) + var_uint(50)
    unknown_origin = wire.check_update(update((client, 7, [origin + var_string("z")])))
    assert not unknown_origin.looks_like_an_edit(known)
    resend = wire.check_update(author.get_update())
    assert resend.looks_like_an_edit(wire.check_state_vector(author.get_state()))


def test_an_empty_update_and_state_vector_are_fine():
    assert wire.check_update(b"\x00\x00").structs == 0
    assert wire.check_state_vector(b"\x00") == {}


def delete_set(client: int, *ranges: tuple[int, int]) -> bytes:
    body = var_uint(client) + var_uint(len(ranges))
    body += b"".join(var_uint(clock) + var_uint(length) for clock, length in ranges)
    return var_uint(1) + body


REFUSED_UPDATES = {
    "empty bytes": b"",
    "truncated": update((1, 0, [string_item("hello")]))[:-3],
    "trailing bytes": update((1, 0, [string_item()])) + b"\x00",
    "client count past the data": var_uint(2**28) + b"\x00",
    "struct count past the data": var_uint(1) + var_uint(2**20) + var_uint(1) + var_uint(0),
    "client id at 2^53": update((2**53, 0, [string_item()])),
    "clock past 2^31": update((1, 2**31, [string_item()])),
    "clock overflowing through lengths": update((1, 2**31 - 2, [string_item("abc")])),
    "a client sent twice": update((1, 0, [string_item()]), (1, 1, [string_item()])),
    "a client without structs": var_uint(1) + var_uint(0) + var_uint(1) + var_uint(0) + b"\x00",
    "a zero-length GC": update((1, 0, [b"\x00" + var_uint(0)])),
    "a zero-length skip": update((1, 0, [b"\x0a" + var_uint(0)])),
    "flags on a GC": update((1, 0, [b"\x80" + var_uint(1)])),
    "another root": update((1, 0, [string_item(root="secret")])),
    "a nested parent": update((1, 0, [bytes([wire.STRING]) + var_uint(0) + b"\x01\x00x"])),
    "a map key on a text item": update((1, 0, [string_item(info=wire.STRING | 0x20)])),
    "JSON content": update((1, 0, [string_item(info=wire.JSON_CONTENT)])),
    "binary content": update((1, 0, [string_item(info=wire.BINARY)])),
    "a nested type": update((1, 0, [string_item(info=wire.TYPE)])),
    "any content": update((1, 0, [string_item(info=wire.ANY)])),
    "a sub-document": update((1, 0, [string_item(info=wire.DOC)])),
    "an unknown content kind": update((1, 0, [string_item(info=17)])),
    "invalid UTF-8": update((1, 0, [string_item()[:-2] + var_string(b"\xff\xfe")])),
    "an embed that is not JSON": update(
        (1, 0, [bytes([wire.EMBED]) + var_uint(1) + var_string("content") + var_string("{")])
    ),
    "an embed nested too deeply": update(
        (1, 0, [bytes([wire.EMBED]) + var_uint(1) + var_string("content") + var_string("[" * 40)])
    ),
    "a varint of 9 bytes": var_uint(1) + b"\x80" * 9 + b"\x00",
    "a zero-length deleted range": update(deletes=delete_set(1, (0, 0))),
    "a deleted range past 2^31": update(deletes=delete_set(1, (2**31 - 5, 10))),
}


@pytest.mark.parametrize("data", REFUSED_UPDATES.values(), ids=REFUSED_UPDATES.keys())
def test_updates_past_the_bounds_are_refused(data):
    with pytest.raises(Malformed):
        wire.check_update(data)


def test_the_bounds_themselves_are_accepted():
    wire.check_update(update((2**53 - 1, 2**31 - 2, [string_item()])))
    wire.check_update(update(deletes=delete_set(2**53 - 1, (2**31 - 11, 10))))


REFUSED_STATE_VECTORS = {
    "empty": b"",
    "2^28 clients in 5 bytes": b"\x80\x80\x80\x80\x01",
    "truncated": b"\x02\x01\x01\x02",
    "trailing bytes": b"\x01\x01\x01\x00",
    "client id at 2^53": b"\x01" + var_uint(2**53) + b"\x01",
    "clock past 2^31": b"\x01\x01" + var_uint(2**31),
}


@pytest.mark.parametrize("data", REFUSED_STATE_VECTORS.values(), ids=REFUSED_STATE_VECTORS.keys())
def test_state_vectors_past_the_bounds_are_refused(data):
    with pytest.raises(Malformed):
        wire.check_state_vector(data)


@pytest.mark.parametrize("value", ["a string", None, 42])
def test_only_bytes_are_checked(value):
    with pytest.raises(Malformed):
        wire.check_update(value)
