"""The coalescer alone (no sandbox): what it delivers, in which order, and how often. The
end-to-end test (a real program, worker and events) is in tests/test_jobs.py."""

from __future__ import annotations

import itertools
import threading
import time

from collab.jobs import coalesce
from collab.jobs.coalesce import Coalescer


def test_each_streams_text_arrives_whole_in_order_one_delivery_per_tick():
    delivered: list[tuple[str, str, float]] = []
    coalescer = Coalescer(lambda stream, text: delivered.append((stream, text, time.monotonic())))
    written = {"stdout": "", "stderr": ""}
    for n in range(300):
        stream = "stdout" if n % 3 else "stderr"
        written[stream] += f"{n},"
        coalescer.add(stream, f"{n},")
        time.sleep(0.001)
    coalescer.close()
    for stream, text in written.items():
        assert "".join(t for s, t, _ in delivered if s == stream) == text
    # Both streams write all along, yet the thread delivers once per tick (close() may add
    # one piece per stream at the end).
    ticks = [at for _, _, at in delivered[:-2]]
    gaps = [later - earlier for earlier, later in itertools.pairwise(ticks)]
    assert min(gaps) >= coalesce.FLUSH_SECONDS * 0.9, gaps


def test_a_full_stream_is_delivered_without_waiting_for_the_tick(monkeypatch):
    monkeypatch.setattr(coalesce, "FLUSH_SECONDS", 30)  # only size can trigger a delivery
    delivered = threading.Event()
    coalescer = Coalescer(lambda stream, text: delivered.set())
    coalescer.add("stdout", "x")  # the first piece goes at once
    assert delivered.wait(5)
    delivered.clear()
    coalescer.add("stdout", "y" * (coalesce.FLUSH_CHARS - 1))
    assert not delivered.wait(0.3)  # under the threshold: waits for the tick (30 s)
    coalescer.add("stdout", "z")
    assert delivered.wait(5)
    coalescer.close()


def test_text_added_before_a_long_silence_is_delivered_within_a_tick():
    delivered = threading.Event()
    coalescer = Coalescer(lambda stream, text: delivered.set() if "late" in text else None)
    coalescer.add("stdout", "first")
    coalescer.add("stdout", "late")  # waits for the next tick, not for more output
    assert delivered.wait(coalesce.FLUSH_SECONDS * 20)
    coalescer.close()
