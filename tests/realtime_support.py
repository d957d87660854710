"""Real servers and clients for the real-time tests: web instances (gunicorn, gevent) on the
suite's database and Redis, python-socketio clients over WebSocket, pycrdt replicas."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import engineio
import requests
import socketio
from pycrdt import Doc, Text

from collab.devstack import ROOT, free_port
from tests.helpers_projects import workspace_url


class WebInstance:
    """One `web` process of the Procfile, on its own port."""

    def __init__(self, env: dict[str, str], stderr=subprocess.DEVNULL) -> None:
        """`stderr`: where its log lines go (a file, to read them), by default nowhere."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1",
            "--worker-connections", "10000", "-b", f"127.0.0.1:{self.port}", "wsgi:app",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        self.wait_until_up()

    def wait_until_up(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the web instance exited"
            try:
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise AssertionError("the web instance did not come up")

    def worker_pids(self) -> set[int]:
        """The pids of gunicorn's worker processes (the master forks them)."""
        pid = self.process.pid
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return {int(child) for child in children.read().split()}

    def kill(self) -> None:
        """A crash: SIGKILL, no goodbye to anyone."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def start_instances(base_env: dict[str, str], count: int, **settings: str) -> list[WebInstance]:
    env = {**base_env, "RATELIMIT_ENABLED": "false", **settings}
    return [WebInstance(env) for _ in range(count)]


class InOrderEngineIO(engineio.Client):
    """Handles each message on the read loop, in the order it arrived. python-engineio's
    client hands each one to a new thread, and python-socketio then reassembles a binary
    event's placeholder and attachments across those threads: under a flood of binary
    broadcasts a packet is sometimes lost that way (ValueError in _handle_eio_message). A
    browser's client handles messages in order; our handlers only record and notify."""

    def _trigger_event(self, event, *args, **kwargs):
        if event == "message":
            kwargs["run_async"] = False
        return super()._trigger_event(event, *args, **kwargs)


class InOrderSocketIO(socketio.Client):
    def _engineio_client_class(self):
        return InOrderEngineIO


class Client:
    """A Socket.IO client over WebSocket that records every event it receives."""

    def __init__(self, url: str, token: str) -> None:
        self.sio = InOrderSocketIO(reconnection=False)
        self.received: dict[str, list] = defaultdict(list)
        self.changed = threading.Condition()
        self.sio.on("*", self.record)
        # Generous: a fresh instance on a loaded 2-core machine can take seconds to answer.
        self.sio.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=30)

    def record(self, event: str, data=None) -> None:
        with self.changed:
            self.received[event].append(data)
            self.changed.notify_all()

    def call(self, event: str, payload=None, timeout: float = 10) -> dict:
        return self.sio.call(event, payload, timeout=timeout)

    def ok(self, event: str, payload=None) -> dict:
        ack = self.call(event, payload)
        assert ack.get("ok") is True, ack
        return ack

    def wait_for(self, event: str, predicate: Callable = lambda data: True, timeout=10.0):
        """The first `event` received (now or within `timeout`) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for data in self.received[event]:
                    if predicate(data):
                        return data
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {event} arrived: {dict(self.received)}")
                self.changed.wait(remaining)

    def close(self) -> None:
        self.sio.disconnect()

    @property
    def connected(self) -> bool:
        return self.sio.connected


@contextmanager
def connected(url: str, token: str) -> Iterator[Client]:
    client = Client(url, token)
    try:
        yield client
    finally:
        client.close()


class Replica:
    """A pycrdt document as a client holds it; local edits come out as V1 updates."""

    def __init__(self) -> None:
        self.doc = Doc()
        self.text = self.doc.get("content", type=Text)

    def insert(self, index: int, value: str) -> bytes:
        before = self.doc.get_state()
        self.text.insert(index, value)
        return self.doc.get_update(before)

    def delete(self, index: int, length: int) -> bytes:
        before = self.doc.get_state()
        del self.text[index : index + length]
        return self.doc.get_update(before)

    def apply(self, update: bytes) -> None:
        self.doc.apply_update(update)

    def state_vector(self) -> bytes:
        return self.doc.get_state()

    def __str__(self) -> str:
        return str(self.text)


def documents_url(team) -> str:
    return f"{workspace_url(team.pid, team.wid)}/documents"


def create_document(client, team, name: str = "notes.md") -> str:
    response = client.post(documents_url(team), json={"name": name}, headers=team.owner.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def content_of(client, team, doc_id: str) -> str:
    response = client.get(f"{documents_url(team)}/{doc_id}", headers=team.owner.headers)
    assert response.status_code == 200
    return response.get_json()["content"]
