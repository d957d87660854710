"""Frames between the web (or worker) process and its document replicas (replica.py).

A frame is a little-endian u32 length, then: a u32 header length, the header (JSON), a u32
count of binary blobs, and each blob as a u32 length and its bytes. In the header, a bytes
value (or a list of them) stands as {"$blob": index}. No pickle, no marshal: the child handles
hostile bytes, so what it sends back is parsed as plainly as anything from the network.
"""

from __future__ import annotations

import json
import struct

MAX_FRAME_BYTES = 256 * 1024 * 1024  # a full 8 MiB document, its state and text fit many times
U32 = struct.Struct("<I")


class FrameError(Exception):
    """A frame that cannot be read (truncated, oversized, malformed)."""


def encode(header: dict) -> bytes:
    blobs: list[bytes] = []

    def pack(value):
        if isinstance(value, bytes | bytearray | memoryview):
            blobs.append(bytes(value))
            return {"$blob": len(blobs) - 1}
        if isinstance(value, list):
            return [pack(item) for item in value]
        return value

    head = json.dumps({key: pack(value) for key, value in header.items()}).encode()
    body = [U32.pack(len(head)), head, U32.pack(len(blobs))]
    for blob in blobs:
        body += [U32.pack(len(blob)), blob]
    payload = b"".join(body)
    return U32.pack(len(payload)) + payload


def decode(payload: bytes) -> dict:
    """The header of a frame's payload (everything after its length), blobs put back."""
    try:
        (head_length,) = U32.unpack_from(payload, 0)
        head = json.loads(payload[4 : 4 + head_length])
        blobs = read_blobs(payload, 4 + head_length)
    except (struct.error, ValueError, RecursionError) as error:
        raise FrameError(f"malformed frame: {error}") from None
    if not isinstance(head, dict):
        raise FrameError("the header is not an object")
    return {key: unpack(value, blobs) for key, value in head.items()}


def read_blobs(payload: bytes, offset: int) -> list[bytes]:
    (count,) = U32.unpack_from(payload, offset)
    offset += 4
    blobs = []
    for _ in range(count):
        (length,) = U32.unpack_from(payload, offset)
        offset += 4
        if offset + length > len(payload):
            raise FrameError("truncated blob")
        blobs.append(payload[offset : offset + length])
        offset += length
    return blobs


def unpack(value, blobs: list[bytes]):
    if isinstance(value, dict) and set(value) == {"$blob"}:
        index = value["$blob"]
        if not isinstance(index, int) or not 0 <= index < len(blobs):
            raise FrameError("a blob reference is out of range")
        return blobs[index]
    if isinstance(value, list):
        return [unpack(item, blobs) for item in value]
    return value


def frame_length(prefix: bytes) -> int:
    (length,) = U32.unpack(prefix)
    if length > MAX_FRAME_BYTES:
        raise FrameError(f"a frame of {length} bytes exceeds {MAX_FRAME_BYTES}")
    return length
