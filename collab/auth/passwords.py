"""argon2id password hashing, off the gevent loop.

Hashing takes tens of milliseconds of CPU; argon2-cffi releases the GIL, so running it in
gevent's thread pool keeps every other connection served meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, current_app

T = TypeVar("T")


def offload(fn: Callable[..., T], *args) -> T:
    from gevent import monkey

    if monkey.is_module_patched("socket"):
        import gevent

        return gevent.get_hub().threadpool.apply(fn, args)
    return fn(*args)


class Passwords:
    def __init__(self, app: Flask) -> None:
        self.hasher = PasswordHasher(
            time_cost=app.config["PASSWORD_HASH_TIME_COST"],
            memory_cost=app.config["PASSWORD_HASH_MEMORY_COST"],
            parallelism=app.config["PASSWORD_HASH_PARALLELISM"],
        )
        # Verified against when the email is unknown, so both failures cost the same time.
        self.dummy_hash = self.hasher.hash("collab-timing-equaliser")

    def hash(self, password: str) -> str:
        return offload(self.hasher.hash, password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        return offload(self.matches, password_hash or self.dummy_hash, password)

    def matches(self, password_hash: str, password: str) -> bool:
        # A mismatch is an answer, not an error: raised inside gevent's thread pool, it would
        # be logged with a traceback on every failed login.
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)


def init_passwords(app: Flask) -> None:
    app.extensions["collab_passwords"] = Passwords(app)


def passwords() -> Passwords:
    return current_app.extensions["collab_passwords"]
